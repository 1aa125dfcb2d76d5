//! The status of a cache directory no engine runs on ([`offline_status`]): read from its
//! index under its lock, for `silt status` when no mount answers on the control socket.

use crate::error::{Error, Result};
use crate::lock::CacheLock;
use crate::memory::WriteFigures;
use crate::metrics::Counters;
use crate::report::StatusReport;
use crate::status::{DriverFigures, EventCounts, Status};
use silt_core::{Core, CoreConfig, Instant};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The status of `cache_dir` from its index (`backend`), read under the directory's lock
/// (so never beside a running engine: [`Error::Locked`] names it), with `core` the
/// configuration the cache runs with. Counters, memory and operations in flight are zero;
/// ages count from now.
pub fn offline_status(
    cache_dir: &Path,
    backend: &str,
    mut core: CoreConfig,
) -> Result<StatusReport> {
    if !cache_dir.is_dir() {
        return Err(Error::CacheDir {
            path: cache_dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no cache directory here"),
        });
    }
    let _lock = CacheLock::acquire(cache_dir)?;
    let index = silt_index::open(backend, &silt_index::OpenOptions::new(cache_dir))?;
    let recovered = index.load()?;
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let now = Instant::from_millis(ms);
    core.checksum = crate::checksum::hardware_crc32c();
    let mut core = Core::recover(core, recovered, now)?;
    let figures = DriverFigures {
        now,
        events: &EventCounts::default(),
        local_ops_in_flight: 0,
        remote_ops_in_flight: 0,
        fatal: None,
        core_memory_limit: 0,
        writes: WriteFigures::default(),
        counters: Counters::default(),
        disk_free_bytes: crate::disk::free_bytes(cache_dir),
        sparse_fallback_reason: None,
    };
    let status = Status::collect(&mut core, figures);
    let dir = cache_dir.display().to_string();
    Ok(StatusReport::new(&status, "index", &dir, None))
}
