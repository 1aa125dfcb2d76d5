//! The engine's status: a typed snapshot of what the core and the driver hold, for
//! `silt status` and for tests.

use crate::memory::WriteFigures;
use crate::metrics::Counters;
use silt_core::{Core, Instant, JournalOp, JournalStatus, MemoryUse};
use std::time::Duration;

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

/// The bytes in flight against the memory limit: the core's share and the write bodies'.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryStatus {
    /// The core's limit (`CoreConfig::memory_limit`: three quarters of the engine's).
    pub core_limit: u64,
    /// What the core holds now, by kind (fetches, read buffers, chunks held on a full disk,
    /// upload bodies).
    pub core: MemoryUse,
    /// The limit of write request bodies in flight (a quarter of the engine's).
    pub write_limit: u64,
    /// Bytes of write request bodies in flight now (sent to the core, not answered yet).
    pub write_bodies: u64,
    /// The most write-body bytes ever in flight at once since start (never above
    /// `write_limit`).
    pub write_bodies_peak: u64,
    /// Writes that waited for room since start.
    pub writes_waited: u64,
}

impl MemoryStatus {
    /// The engine's whole limit: the core's share and the write bodies'.
    pub fn limit(&self) -> u64 {
        self.core_limit.saturating_add(self.write_limit)
    }

    /// Bytes in flight now, of both.
    pub fn in_use(&self) -> u64 {
        self.core.total().saturating_add(self.write_bodies)
    }
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
    /// Uploads waiting for their start time (write-back delay), not counting retries.
    pub uploads_queued: usize,
    /// Uploads being sent.
    pub uploads_in_progress: usize,
    /// Uploads waiting to be retried after a failure, with their attempts and last error.
    pub uploads_retrying: Vec<RetryingUpload>,
    /// Journaled remote deletes not done yet.
    pub deletes_pending: usize,
    /// Journal records (uploads and deletes) waiting to retry after a failed attempt.
    pub retrying: usize,
    /// How long the oldest unfinished upload has waited since it was queued (`None`: no
    /// upload pending). An upload recovered from the index counts from this start.
    pub oldest_pending_upload_age: Option<Duration>,
    /// Bytes in flight against the memory limit.
    pub memory: MemoryStatus,
    /// Every conflict recorded in the index (also those of earlier runs).
    pub conflicts: Vec<Conflict>,
    /// What happened since start.
    pub events: EventCounts,
    /// The metrics' counters since start (reads, fetches, evictions, upload bytes, ENOSPC,
    /// back-pressure, index commits, sparse fallback).
    pub counters: Counters,
    /// Free bytes on the cache disk at the last reading (`None`: no reading).
    pub disk_free_bytes: Option<u64>,
    /// Writes (and chunk copies) waiting for space now (back-pressure).
    pub space_waiters: usize,
    /// Why the store first fell back from sparse files, if it did.
    pub sparse_fallback_reason: Option<String>,
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
    pub now: Instant,
    pub events: &'a EventCounts,
    pub local_ops_in_flight: usize,
    pub remote_ops_in_flight: usize,
    pub fatal: Option<&'a str>,
    pub core_memory_limit: u64,
    pub writes: WriteFigures,
    pub counters: Counters,
    pub disk_free_bytes: Option<u64>,
    pub sparse_fallback_reason: Option<String>,
}

impl Status {
    /// Reads the core: counts from the journal's summary (O(records changed since the last
    /// status)); the details of retrying uploads walk the journal, only while any retries
    /// (O(journal + conflicts) then: a status query, not a hot path).
    pub(crate) fn collect(core: &mut Core, d: DriverFigures<'_>) -> Status {
        let summary = core.journal_summary();
        let mut uploads_retrying = Vec::new();
        if summary.retrying > 0 {
            for r in core.journal_records() {
                if matches!(r.op, JournalOp::Delete { .. }) || r.status != JournalStatus::RetryWait
                {
                    continue;
                }
                uploads_retrying.push(RetryingUpload {
                    key: r.path,
                    attempts: r.attempts,
                    last_error: r.last_error,
                    next_attempt_ms: r.next_attempt.as_millis(),
                });
            }
        }
        Status {
            cached_bytes: core.cached_bytes(),
            dirty_bytes: core.dirty_bytes(),
            read_buffer_bytes: core.read_buffer_bytes(),
            uploads_queued: summary
                .uploads_waiting
                .saturating_sub(uploads_retrying.len()),
            uploads_in_progress: summary.uploads_running,
            uploads_retrying,
            deletes_pending: summary.deletes_waiting,
            retrying: summary.retrying,
            oldest_pending_upload_age: summary.oldest_upload_queued.map(|t| d.now.since(t)),
            memory: MemoryStatus {
                core_limit: d.core_memory_limit,
                core: core.memory_in_use(),
                write_limit: d.writes.limit,
                write_bodies: d.writes.in_use,
                write_bodies_peak: d.writes.peak,
                writes_waited: d.writes.waited,
            },
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
            counters: d.counters,
            disk_free_bytes: d.disk_free_bytes,
            space_waiters: core.space_waiters(),
            sparse_fallback_reason: d.sparse_fallback_reason,
            local_ops_in_flight: d.local_ops_in_flight,
            remote_ops_in_flight: d.remote_ops_in_flight,
            pending: core.pending(),
            fatal: d.fatal.map(str::to_string),
        }
    }

    /// Uploads not finished yet (queued, in progress or retrying).
    pub fn uploads_pending(&self) -> usize {
        self.uploads_queued + self.uploads_in_progress + self.uploads_retrying.len()
    }
}
