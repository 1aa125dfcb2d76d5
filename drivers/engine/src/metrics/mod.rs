//! The engine's metrics: an OpenMetrics registry (`prometheus-client`) that the loop keeps
//! up to date, served over HTTP at `metrics_addr` ([`http`]).
//!
//! Everything is derived in the loop from what it sees: the core's orders and their
//! completions, its replies and events ([`observe::Observer`]), and, when a status is taken,
//! the core's accounting getters (cached and dirty bytes, the journal's summary, memory) and
//! the store's and the index's own counters ([`Metrics::publish`]). A scrape asks the loop
//! for a status first, so every figure it serves is as of the scrape. Every metric is
//! written by the loop only; the HTTP thread only encodes. See `docs/operations.md` for
//! what each metric means.

mod counters;
pub mod http;
pub(crate) mod observe;
pub(crate) mod publish;

pub use counters::Counters;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// One label.
pub(crate) type Label = [(&'static str, &'static str); 1];
/// Two labels.
pub(crate) type Labels2 = [(&'static str, &'static str); 2];

/// The engine's metrics. Shared (in an `Arc`) between the loop, which writes them, and
/// whoever encodes them.
pub struct Metrics {
    registry: Registry,
    pub(crate) reads: Family<Label, Counter>,
    pub(crate) read_bytes: Family<Label, Counter>,
    pub(crate) fetches: Counter,
    pub(crate) fetch_bytes: Counter,
    pub(crate) fetch_errors: Counter,
    pub(crate) fetch_seconds: Histogram,
    pub(crate) evictions: Counter,
    pub(crate) evicted_bytes: Counter,
    pub(crate) uploads_succeeded: Counter,
    pub(crate) upload_failures: Family<Label, Counter>,
    pub(crate) upload_bytes: Family<Label, Counter>,
    pub(crate) upload_seconds: Histogram,
    pub(crate) conflicts: Counter,
    pub(crate) invalidations: Counter,
    pub(crate) deletes_skipped: Counter,
    pub(crate) enospc: Counter,
    pub(crate) space_exhausted: Counter,
    pub(crate) backpressure_waits: Family<Label, Counter>,
    pub(crate) index_commit_seconds: Histogram,
    pub(crate) index_txn_ops: Histogram,
    pub(crate) index_transactions: Counter,
    pub(crate) index_commits: Counter,
    pub(crate) sparse_fallback: Counter,
    pub(crate) remote_requests: Family<Labels2, Counter>,
    pub(crate) cached_bytes: Family<Label, Gauge>,
    pub(crate) read_buffer_bytes: Gauge,
    pub(crate) uploads: Family<Label, Gauge>,
    pub(crate) deletes_pending: Gauge,
    pub(crate) oldest_dirty_age: Gauge<f64, AtomicU64>,
    pub(crate) conflict_copies: Gauge,
    pub(crate) memory_bytes: Family<Label, Gauge>,
    pub(crate) memory_limit_bytes: Gauge,
    pub(crate) memory_in_use_bytes: Gauge,
    pub(crate) space_waiters: Gauge,
    pub(crate) disk_free_bytes: Gauge,
    pub(crate) ops_in_flight: Family<Label, Gauge>,
    pub(crate) fatal: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric of the engine at zero, names prefixed `silt_`.
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("silt"),
            reads: Family::default(),
            read_bytes: Family::default(),
            fetches: Counter::default(),
            fetch_bytes: Counter::default(),
            fetch_errors: Counter::default(),
            // 5 ms to 41 s.
            fetch_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            evictions: Counter::default(),
            evicted_bytes: Counter::default(),
            uploads_succeeded: Counter::default(),
            upload_failures: Family::default(),
            upload_bytes: Family::default(),
            // 10 ms to 5.5 min.
            upload_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
            conflicts: Counter::default(),
            invalidations: Counter::default(),
            deletes_skipped: Counter::default(),
            enospc: Counter::default(),
            space_exhausted: Counter::default(),
            backpressure_waits: Family::default(),
            // 0.25 ms to 4 s.
            index_commit_seconds: Histogram::new(exponential_buckets(0.00025, 2.0, 15)),
            // 1 to 4096 operations.
            index_txn_ops: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            index_transactions: Counter::default(),
            index_commits: Counter::default(),
            sparse_fallback: Counter::default(),
            remote_requests: Family::default(),
            cached_bytes: Family::default(),
            read_buffer_bytes: Gauge::default(),
            uploads: Family::default(),
            deletes_pending: Gauge::default(),
            oldest_dirty_age: Gauge::default(),
            conflict_copies: Gauge::default(),
            memory_bytes: Family::default(),
            memory_limit_bytes: Gauge::default(),
            memory_in_use_bytes: Gauge::default(),
            space_waiters: Gauge::default(),
            disk_free_bytes: Gauge::default(),
            ops_in_flight: Family::default(),
            fatal: Gauge::default(),
        };
        m.register();
        m.create_series();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "read_requests",
            "Reads answered, by result: hit (no wait for the bucket) or miss (waited for a fetch)",
            self.reads.clone(),
        );
        r.register(
            "read_bytes",
            "Bytes returned by reads, by result (hit or miss)",
            self.read_bytes.clone(),
        );
        r.register(
            "fetches",
            "Ranged GETs completed (successful or not)",
            self.fetches.clone(),
        );
        r.register(
            "fetch_bytes",
            "Bytes received by successful ranged GETs",
            self.fetch_bytes.clone(),
        );
        r.register(
            "fetch_errors",
            "Ranged GETs that failed",
            self.fetch_errors.clone(),
        );
        r.register(
            "fetch_duration_seconds",
            "Time from a GET's order to its answer (including the wait for a request slot)",
            self.fetch_seconds.clone(),
        );
        r.register(
            "evictions",
            "Clean chunks evicted (punched out of the cache files)",
            self.evictions.clone(),
        );
        r.register(
            "evicted_bytes",
            "Bytes of clean chunks evicted",
            self.evicted_bytes.clone(),
        );
        r.register(
            "uploads_succeeded",
            "Object versions stored in the bucket",
            self.uploads_succeeded.clone(),
        );
        r.register(
            "upload_failures",
            "Failed upload attempts, by kind: transient (retried with backoff) or permanent (retried slowly; needs an operator)",
            self.upload_failures.clone(),
        );
        r.register(
            "upload_bytes",
            "Bytes of successful upload requests, by how: sent (PUT, UploadPart) or copied server-side (UploadPartCopy)",
            self.upload_bytes.clone(),
        );
        r.register(
            "upload_duration_seconds",
            "Time from an upload attempt's first request to the stored version",
            self.upload_seconds.clone(),
        );
        r.register(
            "conflicts",
            "Conflicts: local versions kept as conflict copies",
            self.conflicts.clone(),
        );
        r.register(
            "invalidations",
            "Cached objects that followed a new remote version",
            self.invalidations.clone(),
        );
        r.register(
            "deletes_skipped",
            "Journaled deletes skipped because the object had changed remotely",
            self.deletes_skipped.clone(),
        );
        r.register(
            "enospc",
            "Cache-file operations that failed with ENOSPC",
            self.enospc.clone(),
        );
        r.register(
            "space_exhausted",
            "Writes refused with ENOSPC: dirty data filled the cache for longer than the write wait",
            self.space_exhausted.clone(),
        );
        r.register(
            "backpressure_waits",
            "Writes that had to wait, by reason: memory (write budget full) or space (disk reserve or dirty_limit reached)",
            self.backpressure_waits.clone(),
        );
        r.register(
            "index_commit_duration_seconds",
            "Time from an index transaction's order to its durable commit",
            self.index_commit_seconds.clone(),
        );
        r.register(
            "index_transaction_operations",
            "Operations (record puts and deletes) per index transaction",
            self.index_txn_ops.clone(),
        );
        r.register(
            "index_transactions",
            "Index transactions committed (or failed)",
            self.index_transactions.clone(),
        );
        r.register(
            "index_commits",
            "Durable index commits made for them (group commit: transactions per commit = transactions / commits)",
            self.index_commits.clone(),
        );
        r.register(
            "sparse_fallback",
            "Times the store could not use a sparse-file call and wrote zeros or kept a regular file",
            self.sparse_fallback.clone(),
        );
        r.register(
            "remote_requests",
            "Object-store requests answered, by operation and outcome (ok or error)",
            self.remote_requests.clone(),
        );
        r.register(
            "cached_bytes",
            "Bytes held in the cache, by state: clean (equal to the bucket) or dirty (not uploaded yet)",
            self.cached_bytes.clone(),
        );
        r.register(
            "read_buffer_bytes",
            "Fetched bytes held in memory to answer reads",
            self.read_buffer_bytes.clone(),
        );
        r.register(
            "uploads",
            "Uploads not finished, by state: queued, in_progress or retrying",
            self.uploads.clone(),
        );
        r.register(
            "deletes_pending",
            "Journaled remote deletes not done yet",
            self.deletes_pending.clone(),
        );
        r.register(
            "oldest_dirty_age_seconds",
            "How long the oldest unfinished upload has waited since it was queued (0: none)",
            self.oldest_dirty_age.clone(),
        );
        r.register(
            "conflict_copies",
            "Conflict copies recorded in the index (also those of earlier runs)",
            self.conflict_copies.clone(),
        );
        r.register(
            "memory_bytes",
            "Bytes in flight against memory_limit, by kind",
            self.memory_bytes.clone(),
        );
        r.register(
            "memory_limit_bytes",
            "The memory_limit",
            self.memory_limit_bytes.clone(),
        );
        r.register(
            "memory_in_use_bytes",
            "Bytes in flight now, all kinds",
            self.memory_in_use_bytes.clone(),
        );
        r.register(
            "space_waiters",
            "Writes (and chunk copies) waiting for space now",
            self.space_waiters.clone(),
        );
        r.register(
            "disk_free_bytes",
            "Free bytes on the cache disk at the last reading",
            self.disk_free_bytes.clone(),
        );
        r.register(
            "ops_in_flight",
            "Operations in flight, by kind: local (cache files) or remote (object store)",
            self.ops_in_flight.clone(),
        );
        r.register(
            "fatal",
            "1 once the cache cannot go on safely (a failed fsync or index commit): restart it",
            self.fatal.clone(),
        );
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Raises `counter` to `total` (a running total kept elsewhere, read by the loop).
pub(crate) fn mirror(counter: &Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

/// A gauge's value from a count.
pub(crate) fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
