//! Stopping: refuse new work, fsync every open handle, stop sending to the bucket, end once
//! everything local is committed (or the stop timeout strikes).

use super::DriverState;
use crate::command::StopReport;
use crate::error::Error;
use silt_core::{HandleId, Request};
use std::time::Instant;
use tokio::sync::oneshot;

/// A stop under way.
pub(super) struct Stopping {
    pub(super) replies: Vec<oneshot::Sender<StopReport>>,
    deadline: Instant,
    pub(super) fsyncs_outstanding: usize,
}

impl DriverState {
    /// Starts a stop (`reply` gets the report; a stop already under way only adds it).
    pub fn begin_stop(&mut self, reply: Option<oneshot::Sender<StopReport>>) {
        if let Some(s) = &mut self.stopping {
            s.replies.extend(reply);
            return;
        }
        tracing::info!(open_handles = self.open_handles.len(), "stopping");
        for tx in self.flush_waiters.drain(..) {
            let _ = tx.send(Err(Error::Stopped));
        }
        self.stopping = Some(Stopping {
            replies: reply.into_iter().collect(),
            deadline: Instant::now() + self.stop_timeout,
            fsyncs_outstanding: self.open_handles.len(),
        });
        if self.fatal.is_some() {
            // Durable requests fail anyway; nothing more can be made durable.
            if let Some(s) = &mut self.stopping {
                s.fsyncs_outstanding = 0;
            }
            return;
        }
        let handles: Vec<HandleId> = self.open_handles.iter().copied().collect();
        for handle in handles {
            self.submit(Request::Fsync { handle }, None, true);
        }
    }

    /// When a stop under way gives up.
    pub fn stop_deadline(&self) -> Option<Instant> {
        self.stopping.as_ref().map(|s| s.deadline)
    }

    /// A stop is under way and everything local is durable: the loop may end.
    pub fn stop_complete(&self) -> bool {
        let Some(s) = &self.stopping else {
            return false;
        };
        s.fsyncs_outstanding == 0
            && self.local_in_flight == 0
            && self.index_in_flight == 0
            && (self.core.is_persisted() || self.fatal.is_some())
    }

    /// The report of a stop; `clean: false` when it timed out (or the core hit a fatal
    /// error).
    pub fn stop_report(&self, clean: bool) -> StopReport {
        StopReport {
            clean: clean && self.fatal.is_none(),
            pending: self.core.pending(),
            remote_ops_abandoned: self.remote_held + self.remote_in_flight,
        }
    }
}
