//! [`StatusReport`]: the status as `silt status --json` gives it, a stable schema (version
//! [`SCHEMA`]; documented in `docs/operations.md`). Fields are only ever added; a change
//! of meaning or a removal raises the version.

use crate::metrics::Counters;
use crate::status::Status;
use serde::{Deserialize, Serialize};

/// The version of the schema.
pub const SCHEMA: u32 = 1;

/// The whole status of one cache directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// [`SCHEMA`].
    pub schema: u32,
    /// `"mount"`: from the running engine; `"index"`: read from the index, no engine
    /// running (counters, memory and operations in flight are then zero).
    pub source: String,
    /// The cache directory.
    pub cache_dir: String,
    /// The engine's process (`None` when read from the index).
    pub pid: Option<u32>,
    /// What the cache holds.
    pub cache: CacheReport,
    /// The upload journal.
    pub uploads: UploadsReport,
    /// Every conflict copy recorded.
    pub conflicts: Vec<ConflictReport>,
    /// Bytes in flight against `memory_limit`.
    pub memory: MemoryReport,
    /// Counters since the engine started.
    pub counters: Counters,
    /// Work in flight now.
    pub in_flight: InFlightReport,
    /// Why the store fell back from sparse files, if it did.
    pub sparse_fallback_reason: Option<String>,
    /// Why the engine is not idle (`None`: nothing pending).
    pub pending: Option<String>,
    /// Set once the cache cannot go on safely: restart the mount.
    pub fatal: Option<String>,
}

/// What the cache holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheReport {
    /// Bytes of cached chunks, clean and dirty.
    pub cached_bytes: u64,
    /// `cached_bytes - dirty_bytes`: bytes equal to the bucket's.
    pub clean_bytes: u64,
    /// Bytes written and not uploaded yet.
    pub dirty_bytes: u64,
    /// Fetched bytes held in memory to answer reads.
    pub read_buffer_bytes: u64,
    /// Free bytes on the cache disk at the last reading.
    pub disk_free_bytes: Option<u64>,
}

/// The upload journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UploadsReport {
    /// Waiting for the write-back delay.
    pub queued: u64,
    /// Being sent.
    pub in_progress: u64,
    /// Waiting to be retried after a failure, each with its attempts and last error.
    pub retrying: Vec<RetryReport>,
    /// Journaled deletes not done yet.
    pub deletes_pending: u64,
    /// Seconds the oldest unfinished upload has waited (`None`: none pending).
    pub oldest_pending_age_seconds: Option<f64>,
}

/// One upload waiting to be retried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryReport {
    /// Object key.
    pub key: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it is tried again, ms since the Unix epoch.
    pub next_attempt_ms: u64,
}

/// A conflict copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictReport {
    /// The key the local version was meant for (the remote version stays there).
    pub original_key: String,
    /// Where the local version is kept.
    pub conflict_key: String,
    /// The remote ETag found, if known.
    pub remote_etag: Option<String>,
    /// Byte ranges `[offset, length]` of the copy that hold zeros instead of base bytes.
    pub missing: Vec<[u64; 2]>,
}

/// Bytes in flight against `memory_limit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// The whole limit.
    pub limit_bytes: u64,
    /// In flight now, all kinds.
    pub in_use_bytes: u64,
    /// Fetches in flight.
    pub fetches: u64,
    /// Read buffers.
    pub read_buffers: u64,
    /// Chunks held in memory because the disk was full.
    pub full_disk_chunks: u64,
    /// Upload bodies in flight.
    pub upload_bodies: u64,
    /// Write request bodies in flight.
    pub write_bodies: u64,
    /// The most write-body bytes in flight at once since start.
    pub write_bodies_peak: u64,
}

/// Work in flight now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlightReport {
    /// Cache-file operations.
    pub local_ops: u64,
    /// Object-store operations.
    pub remote_ops: u64,
    /// Writes waiting for disk space or below `dirty_limit`.
    pub space_waiters: u64,
}

impl StatusReport {
    /// The report of `s`, taken from `source` (`"mount"` or `"index"`).
    pub fn new(s: &Status, source: &str, cache_dir: &str, pid: Option<u32>) -> StatusReport {
        let n = |v: usize| v as u64;
        StatusReport {
            schema: SCHEMA,
            source: source.to_string(),
            cache_dir: cache_dir.to_string(),
            pid,
            cache: CacheReport {
                cached_bytes: s.cached_bytes,
                clean_bytes: s.cached_bytes.saturating_sub(s.dirty_bytes),
                dirty_bytes: s.dirty_bytes,
                read_buffer_bytes: s.read_buffer_bytes,
                disk_free_bytes: s.disk_free_bytes,
            },
            uploads: UploadsReport {
                queued: n(s.uploads_queued),
                in_progress: n(s.uploads_in_progress),
                retrying: s
                    .uploads_retrying
                    .iter()
                    .map(|r| RetryReport {
                        key: r.key.clone(),
                        attempts: r.attempts,
                        last_error: r.last_error.clone(),
                        next_attempt_ms: r.next_attempt_ms,
                    })
                    .collect(),
                deletes_pending: n(s.deletes_pending),
                oldest_pending_age_seconds: s.oldest_pending_upload_age.map(|d| d.as_secs_f64()),
            },
            conflicts: s
                .conflicts
                .iter()
                .map(|c| ConflictReport {
                    original_key: c.original_key.clone(),
                    conflict_key: c.conflict_key.clone(),
                    remote_etag: c.remote_etag.clone(),
                    missing: c.missing.iter().map(|&(o, l)| [o, l]).collect(),
                })
                .collect(),
            memory: MemoryReport {
                limit_bytes: s.memory.limit(),
                in_use_bytes: s.memory.in_use(),
                fetches: s.memory.core.fetches,
                read_buffers: s.memory.core.read_buffers,
                full_disk_chunks: s.memory.core.full_disk_chunks,
                upload_bodies: s.memory.core.upload_bodies,
                write_bodies: s.memory.write_bodies,
                write_bodies_peak: s.memory.write_bodies_peak,
            },
            counters: s.counters.clone(),
            in_flight: InFlightReport {
                local_ops: n(s.local_ops_in_flight),
                remote_ops: n(s.remote_ops_in_flight),
                space_waiters: n(s.space_waiters),
            },
            sparse_fallback_reason: s.sparse_fallback_reason.clone(),
            pending: s.pending.clone(),
            fatal: s.fatal.clone(),
        }
    }
}
