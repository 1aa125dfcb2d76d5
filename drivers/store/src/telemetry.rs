//! Counters of one store (one cache dir), read by `silt status` and the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Why and how often the store fell back from sparse files.
#[derive(Debug, Default)]
pub struct Telemetry {
    sparse_fallback: AtomicU64,
    /// The first fallback's reason; set once, which is also the "logged" flag.
    first_reason: Mutex<Option<String>>,
}

impl Telemetry {
    /// Times the store could not use a sparse-file call and wrote zeros (or kept a regular
    /// file) instead.
    pub fn sparse_fallback(&self) -> u64 {
        self.sparse_fallback.load(Ordering::Relaxed)
    }

    /// What made the store fall back first ("punch hole: <error>"), for `silt status`.
    pub fn sparse_fallback_reason(&self) -> Option<String> {
        self.first_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counts one fallback; logs the first one of this store (one line per cache dir).
    pub(crate) fn record_fallback(&self, dir: &std::path::Path, what: &str, err: &std::io::Error) {
        self.sparse_fallback.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_reason.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(format!("{what}: {err}"));
            tracing::warn!(
                cache_dir = %dir.display(),
                "sparse files unavailable ({what}: {err}); using regular files and writing \
                 zeros instead of punching holes: evicted chunks will not free disk space"
            );
        }
    }
}
