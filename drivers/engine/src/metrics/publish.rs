//! The gauges, set from a [`Status`] when one is taken (every scrape takes one first).

use super::{gauge, mirror, Metrics};
use crate::status::Status;

/// Running totals kept outside the loop (the write budget, the store, the group commit),
/// read by the loop when it takes a status.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Totals {
    /// Writes that waited for room in the write budget.
    pub writes_waited: u64,
    /// Sparse-file calls the store could not use.
    pub sparse_fallback: u64,
    /// Index transactions committed (or failed).
    pub index_transactions: u64,
    /// Durable index commits.
    pub index_commits: u64,
}

impl Metrics {
    /// Raises the counters mirrored from elsewhere to `totals`.
    pub(crate) fn mirror_totals(&self, totals: Totals) {
        mirror(
            &self
                .backpressure_waits
                .get_or_create(&[("reason", "memory")]),
            totals.writes_waited,
        );
        mirror(&self.sparse_fallback, totals.sparse_fallback);
        mirror(&self.index_transactions, totals.index_transactions);
        mirror(&self.index_commits, totals.index_commits);
    }

    /// Sets every gauge from `s`.
    pub(crate) fn publish(&self, s: &Status) {
        let clean = s.cached_bytes.saturating_sub(s.dirty_bytes);
        self.cached_bytes
            .get_or_create(&[("state", "clean")])
            .set(gauge(clean));
        self.cached_bytes
            .get_or_create(&[("state", "dirty")])
            .set(gauge(s.dirty_bytes));
        self.read_buffer_bytes.set(gauge(s.read_buffer_bytes));
        let uploads = [
            ("queued", s.uploads_queued),
            ("in_progress", s.uploads_in_progress),
            ("retrying", s.uploads_retrying.len()),
        ];
        for (state, n) in uploads {
            self.uploads
                .get_or_create(&[("state", state)])
                .set(gauge(n as u64));
        }
        self.deletes_pending.set(gauge(s.deletes_pending as u64));
        let age = s.oldest_pending_upload_age.map_or(0.0, |d| d.as_secs_f64());
        self.oldest_dirty_age.set(age);
        self.conflict_copies.set(gauge(s.conflicts.len() as u64));
        let m = &s.memory;
        let kinds = [
            ("fetches", m.core.fetches),
            ("read_buffers", m.core.read_buffers),
            ("full_disk_chunks", m.core.full_disk_chunks),
            ("upload_bodies", m.core.upload_bodies),
            ("write_bodies", m.write_bodies),
        ];
        for (kind, bytes) in kinds {
            self.memory_bytes
                .get_or_create(&[("kind", kind)])
                .set(gauge(bytes));
        }
        self.memory_limit_bytes.set(gauge(m.limit()));
        self.memory_in_use_bytes.set(gauge(m.in_use()));
        self.space_waiters.set(gauge(s.space_waiters as u64));
        if let Some(free) = s.disk_free_bytes {
            self.disk_free_bytes.set(gauge(free));
        }
        self.ops_in_flight
            .get_or_create(&[("kind", "local")])
            .set(gauge(s.local_ops_in_flight as u64));
        self.ops_in_flight
            .get_or_create(&[("kind", "remote")])
            .set(gauge(s.remote_ops_in_flight as u64));
        self.fatal.set(i64::from(s.fatal.is_some()));
    }
}
