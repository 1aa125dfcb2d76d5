//! Executing the core's remote operations, with the faults the caller switched on.

use crate::effect::Effect;
use crate::faults::{FaultRates, OpKind, When};
use crate::ops::Observer;
use crate::store::MemStore;
use silt_core::{Precondition, RemoteError, RemoteOk, RemoteOp};
use silt_remote::Meta;

impl MemStore {
    /// Executes `op` at `now_ms` (the caller's clock, kept as the last-modified time of what
    /// it stores) and answers as a server would, after the scripted faults and `down`.
    pub fn perform(&mut self, op: &RemoteOp, now_ms: u64) -> Result<RemoteOk, RemoteError> {
        self.perform_observed(op, now_ms, &mut |_| {})
    }

    /// [`MemStore::perform`], announcing every cache write to `observe` before it takes
    /// effect.
    pub fn perform_observed(
        &mut self,
        op: &RemoteOp,
        now_ms: u64,
        observe: &mut dyn FnMut(Effect<'_>),
    ) -> Result<RemoteOk, RemoteError> {
        self.faulted(OpKind::of(op), |s| s.apply(op, now_ms, observe))
    }

    /// [`MemStore::perform_observed`] with random faults at `rates`, decided by `draw`
    /// (the caller's generator: `draw(n)` returns a number below `n`): one draw, and a
    /// second one for an operation not refused (see [`FaultRates`]), so a seeded caller
    /// replays the same run.
    pub fn perform_with_rates(
        &mut self,
        op: &RemoteOp,
        now_ms: u64,
        rates: FaultRates,
        draw: &mut dyn FnMut(u64) -> u64,
        observe: &mut dyn FnMut(Effect<'_>),
    ) -> Result<RemoteOk, RemoteError> {
        if draw(1000) < u64::from(rates.error_per_mille) {
            return Err(FaultRates::refused());
        }
        let r = self.perform_observed(op, now_ms, observe);
        if draw(1000) < u64::from(rates.timeout_per_mille) {
            return Err(FaultRates::timed_out());
        }
        r
    }

    /// CopyObject (not one of the core's operations yet): a new version of `dest_key` with
    /// the content and token of `source_key`, which must exist (else `NotFound`) and be
    /// `source_etag` when given; `precondition` is a write condition on the destination.
    /// Under the scripted faults, like [`MemStore::perform_observed`].
    pub fn copy(
        &mut self,
        source_key: &str,
        source_etag: Option<&str>,
        dest_key: &str,
        precondition: Option<&Precondition>,
        now_ms: u64,
        observe: &mut dyn FnMut(Effect<'_>),
    ) -> Result<String, RemoteError> {
        self.faulted(OpKind::Copy, |s| {
            s.op_copy(
                source_key,
                source_etag,
                dest_key,
                precondition,
                now_ms,
                observe,
            )
        })
    }

    /// Runs `f` as an operation of `kind`: a fault before it refuses it, a fault after it
    /// replaces its answer.
    pub(crate) fn faulted<T>(
        &mut self,
        kind: OpKind,
        f: impl FnOnce(&mut MemStore) -> Result<T, RemoteError>,
    ) -> Result<T, RemoteError> {
        if let Some(e) = self.strike(kind, When::Before) {
            return Err(e);
        }
        let r = f(self);
        match self.strike(kind, When::After) {
            Some(e) => Err(e),
            None => r,
        }
    }

    fn apply(
        &mut self,
        op: &RemoteOp,
        now_ms: u64,
        observe: &mut Observer<'_>,
    ) -> Result<RemoteOk, RemoteError> {
        match op {
            RemoteOp::Head { key } => Ok(RemoteOk::Head(self.op_head(key))),
            RemoteOp::Get {
                key,
                range,
                if_match,
            } => {
                self.op_get(key, range.clone(), Some(if_match))
                    .map(|(data, etag, object_size)| RemoteOk::Got {
                        data,
                        etag,
                        object_size,
                    })
            }
            RemoteOp::Put {
                key,
                data,
                precondition,
                token,
                mtime_ms,
            } => self
                .op_put(
                    key,
                    data,
                    precondition.as_ref(),
                    Meta {
                        token: Some(token),
                        mtime_ms: Some(*mtime_ms),
                    },
                    now_ms,
                    observe,
                )
                .map(|etag| RemoteOk::Stored { etag }),
            RemoteOp::CreateMultipart {
                key,
                token,
                mtime_ms,
            } => Ok(RemoteOk::Created {
                upload_id: self.op_create_multipart(
                    key,
                    Meta {
                        token: Some(token),
                        mtime_ms: Some(*mtime_ms),
                    },
                ),
            }),
            RemoteOp::UploadPart {
                upload_id,
                part,
                data,
                ..
            } => self
                .op_upload_part(upload_id, *part, data)
                .map(|etag| RemoteOk::Part { etag }),
            RemoteOp::UploadPartCopy {
                upload_id,
                part,
                source_key,
                source_etag,
                range,
                ..
            } => self
                .op_upload_part_copy(upload_id, *part, source_key, source_etag, range.clone())
                .map(|etag| RemoteOk::Part { etag }),
            RemoteOp::Complete {
                key,
                upload_id,
                parts,
                precondition,
            } => self
                .op_complete(
                    key,
                    upload_id,
                    parts,
                    precondition.as_ref(),
                    now_ms,
                    observe,
                )
                .map(|etag| RemoteOk::Stored { etag }),
            RemoteOp::Abort { upload_id, .. } => self.op_abort(upload_id).map(|()| RemoteOk::Done),
            RemoteOp::ListParts { upload_id, .. } => {
                self.op_list_parts(upload_id).map(RemoteOk::Parts)
            }
            RemoteOp::List {
                prefix,
                start_after,
                max_keys,
            } => Ok(RemoteOk::Listed(self.op_list_page(
                prefix,
                start_after.as_deref(),
                *max_keys,
            ))),
            RemoteOp::Delete { key, if_match } => self
                .op_delete(key, if_match.as_deref(), observe)
                .map(|()| RemoteOk::Done),
        }
    }
}
