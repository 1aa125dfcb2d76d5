//! [`Counters`]: the metrics' counters as plain numbers, for `silt status`.

use super::Metrics;
use serde::{Deserialize, Serialize};

/// The engine's counters since start (the `_total` metrics), as plain numbers: what
/// `silt status` prints and `silt status --json` gives under `counters`. Never decrease
/// while the engine runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Reads answered without waiting for the bucket.
    pub read_hits: u64,
    /// Reads that waited for a fetch.
    pub read_misses: u64,
    /// Bytes returned by hits.
    pub read_hit_bytes: u64,
    /// Bytes returned by misses.
    pub read_miss_bytes: u64,
    /// Ranged GETs completed.
    pub fetches: u64,
    /// Bytes received by successful GETs.
    pub fetch_bytes: u64,
    /// GETs that failed.
    pub fetch_errors: u64,
    /// Clean chunks evicted.
    pub evictions: u64,
    /// Bytes evicted.
    pub evicted_bytes: u64,
    /// Object versions stored.
    pub uploads_succeeded: u64,
    /// Upload attempts that failed and are retried with backoff.
    pub upload_failures_transient: u64,
    /// Upload attempts the server refused permanently (retried slowly; need an operator).
    pub upload_failures_permanent: u64,
    /// Bytes sent by successful PUT and UploadPart requests.
    pub upload_bytes_sent: u64,
    /// Bytes copied server-side by successful UploadPartCopy requests.
    pub upload_bytes_copied: u64,
    /// Conflicts (local versions kept as conflict copies).
    pub conflicts: u64,
    /// Cached objects that followed a new remote version.
    pub invalidations: u64,
    /// Journaled deletes skipped: the object had changed.
    pub deletes_skipped: u64,
    /// Cache-file operations that failed with ENOSPC.
    pub enospc: u64,
    /// Writes refused with ENOSPC after waiting for space.
    pub space_exhausted: u64,
    /// Writes that waited for room in the write-memory budget.
    pub backpressure_waits_memory: u64,
    /// Writes that waited for disk space or below `dirty_limit`.
    pub backpressure_waits_space: u64,
    /// Index transactions committed (or failed).
    pub index_transactions: u64,
    /// Durable index commits made for them.
    pub index_commits: u64,
    /// Sparse-file calls the store could not use.
    pub sparse_fallback: u64,
}

impl Metrics {
    /// The counters now.
    pub fn counters(&self) -> Counters {
        let by = |f: &prometheus_client::metrics::family::Family<super::Label, _>, k, v| {
            let c: &prometheus_client::metrics::counter::Counter = &f.get_or_create(&[(k, v)]);
            c.get()
        };
        Counters {
            read_hits: by(&self.reads, "result", "hit"),
            read_misses: by(&self.reads, "result", "miss"),
            read_hit_bytes: by(&self.read_bytes, "result", "hit"),
            read_miss_bytes: by(&self.read_bytes, "result", "miss"),
            fetches: self.fetches.get(),
            fetch_bytes: self.fetch_bytes.get(),
            fetch_errors: self.fetch_errors.get(),
            evictions: self.evictions.get(),
            evicted_bytes: self.evicted_bytes.get(),
            uploads_succeeded: self.uploads_succeeded.get(),
            upload_failures_transient: by(&self.upload_failures, "kind", "transient"),
            upload_failures_permanent: by(&self.upload_failures, "kind", "permanent"),
            upload_bytes_sent: by(&self.upload_bytes, "how", "sent"),
            upload_bytes_copied: by(&self.upload_bytes, "how", "copied"),
            conflicts: self.conflicts.get(),
            invalidations: self.invalidations.get(),
            deletes_skipped: self.deletes_skipped.get(),
            enospc: self.enospc.get(),
            space_exhausted: self.space_exhausted.get(),
            backpressure_waits_memory: by(&self.backpressure_waits, "reason", "memory"),
            backpressure_waits_space: by(&self.backpressure_waits, "reason", "space"),
            index_transactions: self.index_transactions.get(),
            index_commits: self.index_commits.get(),
            sparse_fallback: self.sparse_fallback.get(),
        }
    }

    /// Creates every labelled series at zero, so a scrape shows them before they move.
    pub(crate) fn create_series(&self) {
        let _ = self.counters();
        for state in ["clean", "dirty"] {
            drop(self.cached_bytes.get_or_create(&[("state", state)]));
        }
        for state in ["queued", "in_progress", "retrying"] {
            drop(self.uploads.get_or_create(&[("state", state)]));
        }
        for kind in ["local", "remote"] {
            drop(self.ops_in_flight.get_or_create(&[("kind", kind)]));
        }
    }
}
