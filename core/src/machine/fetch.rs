//! Fetching absent chunks. A fetch is a ranged GET of one chunk of the base version with
//! `If-Match`; the ETag the server returns is checked too (some servers ignore `If-Match` on
//! GET). Another version means the object changed remotely: the entry is revalidated, then
//! invalidated (no local changes) or turned into a conflict copy (local changes).

use super::jobs::Job;
use super::{Core, RemoteCtx};
use crate::chunks;
use crate::ids::EntryId;
use crate::io::{FileError, ObjectInfo, RemoteError, RemoteOk, RemoteOp};
use crate::records::BaseVersion;
use crate::time::Instant;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Attempts of one chunk fetch before the reads waiting for it fail with EIO.
const MAX_FETCH_ATTEMPTS: u32 = 5;

#[derive(Debug, Default)]
pub(crate) struct FetchState {
    /// Chunks a job waits for: sent first.
    queue: VecDeque<(EntryId, u64)>,
    /// Chunks fetched ahead of a sequential reader: sent when no job waits.
    ahead: VecDeque<(EntryId, u64)>,
    in_flight: usize,
    retry: Vec<(Instant, EntryId, u64)>,
    attempts: BTreeMap<(EntryId, u64), u32>,
    revalidating: BTreeSet<EntryId>,
}

impl FetchState {
    /// Fetches sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn next_retry(&self) -> Option<Instant> {
        self.retry.iter().map(|r| r.0).min()
    }
}

impl Core {
    /// Orders a fetch of `chunk` for a job that waits for it; one queued ahead of a reader
    /// moves to the front.
    pub(crate) fn request_fetch(&mut self, eid: EntryId, chunk: u64) {
        if let Some(e) = self.entries.get_mut(&eid) {
            if e.fetching.insert(chunk) {
                self.fetch.queue.push_back((eid, chunk));
            } else if let Some(i) = self.fetch.ahead.iter().position(|q| *q == (eid, chunk)) {
                self.fetch.ahead.remove(i);
                self.fetch.queue.push_back((eid, chunk));
            }
        }
    }

    /// Orders a fetch of `chunk` ahead of a sequential reader: sent after the fetches jobs
    /// wait for.
    pub(crate) fn request_fetch_ahead(&mut self, eid: EntryId, chunk: u64) {
        if let Some(e) = self.entries.get_mut(&eid) {
            if e.fetching.insert(chunk) {
                self.fetch.ahead.push_back((eid, chunk));
            }
        }
    }

    pub(crate) fn pump_fetches(&mut self) {
        let cs = self.cfg.chunk_size;
        while self.fetch.in_flight < self.cfg.max_concurrent_fetches {
            // Fetches jobs wait for go first, when memory allows (`memory.rs`); fetches ahead
            // of a reader only into room.
            let next = if !self.fetch.queue.is_empty() {
                if !self.fetch_admitted() {
                    return;
                }
                self.fetch.queue.pop_front()
            } else if self.memory_room(cs) {
                self.fetch.ahead.pop_front()
            } else {
                // No room to read ahead: forget it (a reader that gets there fetches on demand).
                for (eid, c) in std::mem::take(&mut self.fetch.ahead) {
                    if let Some(e) = self.entries.get_mut(&eid) {
                        e.fetching.remove(&c);
                    }
                }
                return;
            };
            let Some((eid, c)) = next else {
                return;
            };
            let Some(e) = self.entries.get_mut(&eid) else {
                continue;
            };
            let (Some(base), Some(key)) = (e.base.clone(), e.remote_key.clone()) else {
                e.fetching.remove(&c);
                self.wake_parked(eid);
                continue;
            };
            let r = chunks::chunk_range(c, cs);
            let range = r.start..r.end.min(base.size);
            if range.is_empty() {
                e.fetching.remove(&c);
                self.wake_parked(eid);
                continue;
            }
            self.fetch.in_flight += 1;
            let ctx = RemoteCtx::Fetch {
                entry: eid,
                chunk: c,
                etag: base.etag.clone(),
            };
            self.emit_remote(
                ctx,
                RemoteOp::Get {
                    key,
                    range,
                    if_match: base.etag,
                },
            );
        }
    }

    pub(crate) fn on_fetch_done(
        &mut self,
        eid: EntryId,
        c: u64,
        etag: String,
        result: Result<RemoteOk, RemoteError>,
    ) {
        let cs = self.cfg.chunk_size;
        self.fetch.in_flight = self.fetch.in_flight.saturating_sub(1);
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        let current = e.base.clone();
        if current.as_ref().map(|b| &b.etag) != Some(&etag) {
            // The entry moved on (uploaded, invalidated) while the fetch was in flight.
            e.fetching.remove(&c);
            self.wake_parked(eid);
            return;
        }
        let base_size = current.map_or(0, |b| b.size);
        let r = chunks::chunk_range(c, cs);
        let want = r.end.min(base_size).saturating_sub(r.start);
        match result {
            Ok(RemoteOk::Got {
                data, etag: got, ..
            }) if got != etag => {
                let _ = data;
                e.fetching.remove(&c);
                self.revalidate(eid);
            }
            Ok(RemoteOk::Got { data, etag, .. }) if data.len() as u64 == want => {
                e.fetching.remove(&c);
                self.fetch.attempts.remove(&(eid, c));
                // Reads waiting for these bytes are answered from them, not from the file.
                self.keep_fetched(eid, c, &etag, &data);
                self.enqueue_front(
                    eid,
                    Job::Backfill {
                        chunk: c,
                        etag,
                        data,
                    },
                );
            }
            Ok(RemoteOk::Got { data, .. }) => {
                self.fetch_failed(
                    eid,
                    c,
                    format!("short body: {} of {want} bytes", data.len()),
                );
            }
            Ok(other) => self.fetch_failed(eid, c, format!("unexpected answer {other:?}")),
            Err(RemoteError::PreconditionFailed) | Err(RemoteError::NotFound) => {
                e.fetching.remove(&c);
                self.revalidate(eid);
            }
            Err(err) => self.fetch_failed(eid, c, err.to_string()),
        }
    }

    fn fetch_failed(&mut self, eid: EntryId, c: u64, why: String) {
        let cs = self.cfg.chunk_size;
        let n = self.fetch.attempts.entry((eid, c)).or_insert(0);
        *n += 1;
        if *n < MAX_FETCH_ATTEMPTS {
            let backoff = self
                .cfg
                .retry_initial
                .saturating_mul(1 << (*n - 1).min(16))
                .min(self.cfg.retry_max);
            self.fetch.retry.push((self.now.plus(backoff), eid, c));
            return;
        }
        self.fetch.attempts.remove(&(eid, c));
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        e.fetching.remove(&c);
        let parked = std::mem::take(&mut e.parked);
        let chunk = chunks::chunk_range(c, cs);
        for job in parked {
            match job {
                // A read that does not need this chunk (fetched ahead, or for another read)
                // waits on for its own.
                Job::Read { offset, len, .. }
                    if offset.saturating_add(len) <= chunk.start || offset >= chunk.end =>
                {
                    if let Some(e) = self.entries.get_mut(&eid) {
                        e.parked.push(job);
                    }
                }
                Job::Read { req, .. } => self.reply(
                    req,
                    Err(FileError::Io(format!(
                        "fetch from the object store failed: {why}"
                    ))),
                ),
                Job::UploadRead { jid, attempt, .. } => {
                    self.upload_failed_locally(jid, attempt, format!("fetch failed: {why}"))
                }
                other => {
                    if let Some(e) = self.entries.get_mut(&eid) {
                        e.parked.push(other);
                    }
                }
            }
        }
    }

    pub(crate) fn fetch_retry_due(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.fetch.retry.drain(..).partition(|r| r.0 <= now);
        self.fetch.retry = later;
        for (_, eid, c) in due {
            self.fetch.queue.push_back((eid, c));
        }
    }

    /// The object seems to have changed: ask what it is now.
    pub(crate) fn revalidate(&mut self, eid: EntryId) {
        let Some(key) = self.entries.get(&eid).and_then(|e| e.remote_key.clone()) else {
            return;
        };
        if self.fetch.revalidating.insert(eid) {
            self.emit_remote(RemoteCtx::Revalidate { entry: eid }, RemoteOp::Head { key });
        }
    }

    pub(crate) fn on_revalidate_done(
        &mut self,
        eid: EntryId,
        result: Result<RemoteOk, RemoteError>,
    ) {
        self.fetch.revalidating.remove(&eid);
        // It may have gone idle while the lookup was out.
        self.entries.wake(&eid);
        let Some(e) = self.entries.get(&eid) else {
            return;
        };
        let base_etag = e.base.as_ref().map(|b| b.etag.clone());
        match result {
            Ok(RemoteOk::Head(Some(info))) if Some(&info.etag) == base_etag.as_ref() => {
                self.wake_parked(eid)
            }
            Ok(RemoteOk::Head(Some(info))) if self.own_upload_landed(eid, &info) => {}
            Ok(RemoteOk::Head(Some(info))) => self.enqueue_front(
                eid,
                Job::Invalidate {
                    base: Some(base_of(&info)),
                },
            ),
            Ok(RemoteOk::Head(None)) | Err(RemoteError::NotFound) => {
                self.enqueue_front(eid, Job::Invalidate { base: None })
            }
            _ => {
                // Could not tell: let the waiting jobs try again (their fetches back off).
                self.wake_parked(eid)
            }
        }
    }
}

pub(crate) fn base_of(info: &ObjectInfo) -> BaseVersion {
    BaseVersion {
        etag: info.etag.clone(),
        size: info.size,
        mtime_ms: info.mtime_ms,
    }
}
