//! Requests through the core: ids, the callers waiting for answers, the handles open.

use super::{DriverState, Waiting};
use crate::error::{Error, Result};
use crate::memory::WritePermit;
use silt_core::{FileError, Input, Reply, Request, RequestId};
use tokio::sync::oneshot;

impl DriverState {
    /// Passes a request to the core.
    pub(super) fn submit(
        &mut self,
        req: Request,
        reply: Option<oneshot::Sender<Result<Reply>>>,
        stop_fsync: bool,
    ) {
        self.submit_holding(req, reply, stop_fsync, None);
    }

    /// Passes a request to the core; `permit` (a write's room in the write budget) is held
    /// until the core answers.
    pub(super) fn submit_holding(
        &mut self,
        req: Request,
        reply: Option<oneshot::Sender<Result<Reply>>>,
        stop_fsync: bool,
        permit: Option<WritePermit>,
    ) {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let closes = match &req {
            Request::Close { handle } => Some(*handle),
            _ => None,
        };
        self.obs.request(id, &req);
        self.waiting.insert(
            id,
            Waiting {
                reply,
                closes,
                stop_fsync,
                _permit: permit,
            },
        );
        self.input(Input::Request(id, req));
    }

    /// Answers a request.
    pub(super) fn reply(&mut self, id: RequestId, result: std::result::Result<Reply, FileError>) {
        self.obs.reply(id, &result);
        let Some(w) = self.waiting.remove(&id) else {
            tracing::warn!(?id, "reply to an unknown request");
            return;
        };
        if let Ok(Reply::Opened { handle, .. }) = &result {
            self.open_handles.insert(*handle);
        }
        if let Some(h) = w.closes {
            if matches!(result, Ok(Reply::Closed) | Err(FileError::BadHandle)) {
                self.open_handles.remove(&h);
                self.obs.closed(h);
            }
        }
        if w.stop_fsync {
            if let Err(e) = &result {
                tracing::warn!(error = %e, "stop: fsync of an open handle failed");
            }
            if let Some(s) = &mut self.stopping {
                s.fsyncs_outstanding = s.fsyncs_outstanding.saturating_sub(1);
            }
        }
        let Some(tx) = w.reply else {
            if let Err(e) = &result {
                tracing::debug!(?id, error = %e, "the driver's own request failed");
            }
            return;
        };
        let opened = match &result {
            Ok(Reply::Opened { handle, .. }) => Some(*handle),
            _ => None,
        };
        if tx.send(result.map_err(Error::from)).is_err() {
            // The caller gave up waiting: close what it will never use.
            if let (Some(handle), None) = (opened, &self.stopping) {
                self.submit(Request::Close { handle }, None, false);
            }
        }
    }
}
