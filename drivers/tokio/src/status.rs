//! The engine's status: a typed snapshot of what the core and the driver hold, for
//! `silt status` and for tests.

use silt_core::{Core, JournalOp, JournalStatus};

/// One upload waiting to be retried after a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryingUpload {
    /// Object key.
    pub key: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it is tried again, ms since the Unix epoch.
    pub next_attempt_ms: u64,
}

/// A local version kept beside a remote one that changed under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The key the local version was meant for (the remote version stays there).
    pub original_key: String,
    /// The key the local version is kept at (`<key>.silt-conflict-<n>`).
    pub conflict_key: String,
    /// The remote ETag found, if known.
    pub remote_etag: Option<String>,
    /// Byte ranges (offset, length) of the copy that hold zeros instead of base bytes.
    pub missing: Vec<(u64, u64)>,
}

/// Counters of what happened since this engine started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Object versions stored.
    pub uploads_done: u64,
    /// Upload attempts that failed (each is retried).
    pub upload_failures: u64,
    /// Upload failures the server called permanent (need an operator).
    pub permanent_failures: u64,
    /// Conflicts detected.
    pub conflicts: u64,
    /// Cached objects that followed a new remote version.
    pub invalidations: u64,
    /// Journaled deletes skipped because the object had changed.
    pub deletes_skipped: u64,
    /// Times writers ran out of space with only dirty data left.
    pub space_exhausted: u64,
}

/// A snapshot of the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Bytes held in the cache (clean and dirty chunks).
    pub cached_bytes: u64,
    /// Dirty bytes not yet uploaded.
    pub dirty_bytes: u64,
    /// Fetched bytes held in memory to answer reads.
    pub read_buffer_bytes: u64,
    /// Uploads waiting for their start time (write-back delay).
    pub uploads_queued: usize,
    /// Uploads being sent.
    pub uploads_in_progress: usize,
    /// Uploads waiting to be retried after a failure, with their attempts and last error.
    pub uploads_retrying: Vec<RetryingUpload>,
    /// Journaled remote deletes not done yet.
    pub deletes_pending: usize,
    /// Every conflict recorded in the index (also those of earlier runs).
    pub conflicts: Vec<Conflict>,
    /// What happened since start.
    pub events: EventCounts,
    /// Cache-file operations in flight.
    pub local_ops_in_flight: usize,
    /// Object-store operations in flight (running or waiting for a slot).
    pub remote_ops_in_flight: usize,
    /// Why the core is not idle (`None`: nothing pending at all).
    pub pending: Option<String>,
    /// Set once the core cannot go on safely (a failed fsync or index commit).
    pub fatal: Option<String>,
}

/// Driver-side figures that go into a [`Status`].
pub(crate) struct DriverFigures<'a> {
    pub events: &'a EventCounts,
    pub local_ops_in_flight: usize,
    pub remote_ops_in_flight: usize,
    pub fatal: Option<&'a str>,
}

impl Status {
    /// Reads the core (O(journal + conflicts): a status query, not a hot path).
    pub(crate) fn collect(core: &Core, d: DriverFigures<'_>) -> Status {
        let mut s = Status {
            cached_bytes: core.cached_bytes(),
            dirty_bytes: core.dirty_bytes(),
            read_buffer_bytes: core.read_buffer_bytes(),
            uploads_queued: 0,
            uploads_in_progress: 0,
            uploads_retrying: Vec::new(),
            deletes_pending: 0,
            conflicts: core
                .conflicts()
                .iter()
                .map(|c| Conflict {
                    original_key: c.original_key.clone(),
                    conflict_key: c.conflict_key.clone(),
                    remote_etag: c.remote_etag.clone(),
                    missing: c.missing.clone(),
                })
                .collect(),
            events: d.events.clone(),
            local_ops_in_flight: d.local_ops_in_flight,
            remote_ops_in_flight: d.remote_ops_in_flight,
            pending: core.pending(),
            fatal: d.fatal.map(str::to_string),
        };
        for r in core.journal_records() {
            if matches!(r.op, JournalOp::Delete { .. }) {
                s.deletes_pending += 1;
                continue;
            }
            match r.status {
                JournalStatus::Queued => s.uploads_queued += 1,
                JournalStatus::InProgress => s.uploads_in_progress += 1,
                JournalStatus::RetryWait => s.uploads_retrying.push(RetryingUpload {
                    key: r.path,
                    attempts: r.attempts,
                    last_error: r.last_error,
                    next_attempt_ms: r.next_attempt.as_millis(),
                }),
            }
        }
        s
    }

    /// Uploads not finished yet (queued, in progress or retrying).
    pub fn uploads_pending(&self) -> usize {
        self.uploads_queued + self.uploads_in_progress + self.uploads_retrying.len()
    }
}
