//! The typed settings, with their defaults, and how they become the core's configuration.

use silt_core::CoreConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// Which store holds the cache index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexBackend {
    /// redb, `index.db` in the cache dir (the default).
    Redb,
    /// fjall, an LSM tree in `index.fjall/` in the cache dir.
    Fjall,
    /// In memory only: nothing survives a restart (tests and throwaway mounts).
    Memory,
}

impl IndexBackend {
    /// The name used in the configuration and by the index factory.
    pub fn name(self) -> &'static str {
        match self {
            IndexBackend::Redb => "redb",
            IndexBackend::Fjall => "fjall",
            IndexBackend::Memory => "memory",
        }
    }
}

/// What happens when the remote object changed under a local modification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictPolicy {
    /// The remote version stays; the local version is uploaded beside it as
    /// `<key>.silt-conflict-<entry>` and listed by `silt conflicts`. The only policy that
    /// loses nobody's data, and the only one offered (see `docs/configuration.md`).
    KeepBoth,
}

/// Every setting, resolved. Built by [`crate::load`]; `Default` is the built-in defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Cache directory; `None` means `~/.tigrisfs/cache/<diskID>` (see [`crate::default_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Cache size budget in bytes (`cache_size_gb` in the file).
    pub cache_size: u64,
    /// Chunk size in bytes.
    pub chunk_size: u64,
    /// Uploads running at once.
    pub max_concurrent_uploads: usize,
    /// Quiet time after the last write before an object is uploaded.
    pub write_back_delay: Duration,
    /// While a file is open, quiet time before its upload starts (its last close ends it).
    pub open_upload_pause: Duration,
    /// Interval of the periodic index commit (bounds what a crash loses without fsync).
    pub commit_interval: Duration,
    /// Dirty bytes above which writers wait; `None` means min(4 GiB, half the cache size).
    pub dirty_limit: Option<u64>,
    /// Free disk space kept in reserve, in bytes.
    pub min_free_space: u64,
    /// The index store.
    pub index_backend: IndexBackend,
    /// First backoff of a failed upload.
    pub upload_retry_initial: Duration,
    /// Largest backoff of a failed upload.
    pub upload_retry_max: Duration,
    /// `close()` waits for the same durable commit as `fsync()`.
    pub fsync_on_close: bool,
    /// Fully cached files opened for reading are read by the kernel straight from their
    /// cache files (FUSE passthrough, where the kernel offers it).
    pub passthrough: bool,
    /// Serve files through the local disk cache (`--local-cache`, the default); `false`
    /// reads and writes the bucket directly through memory (`--no-local-cache`).
    pub local_cache: bool,
    /// What a conflict does.
    pub conflict_policy: ConflictPolicy,
    /// Address of the Prometheus metrics endpoint; `None`: off.
    pub metrics_addr: Option<SocketAddr>,
    /// Memory for buffers, in bytes (`--memory-limit`, MiB on the command line).
    pub memory_limit: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cache_dir: None,
            cache_size: 10 * GIB,
            chunk_size: MIB,
            max_concurrent_uploads: 4,
            write_back_delay: Duration::from_secs(5),
            open_upload_pause: Duration::from_secs(1),
            commit_interval: Duration::from_secs(5),
            dirty_limit: None,
            min_free_space: 256 * MIB,
            index_backend: IndexBackend::Redb,
            upload_retry_initial: Duration::from_secs(1),
            upload_retry_max: Duration::from_secs(300),
            fsync_on_close: true,
            passthrough: true,
            local_cache: true,
            conflict_policy: ConflictPolicy::KeepBoth,
            metrics_addr: None,
            memory_limit: 1024 * MIB,
        }
    }
}

impl Settings {
    /// The dirty limit in effect: the configured one, or min(4 GiB, half the cache size).
    pub fn effective_dirty_limit(&self) -> u64 {
        self.dirty_limit
            .unwrap_or_else(|| (4 * GIB).min(self.cache_size / 2))
    }

    /// The core's configuration for these settings (timers, sizes, limits); everything the
    /// file does not set keeps the core's default. `seed` feeds the retry jitter.
    pub fn core_config(&self, seed: u64) -> CoreConfig {
        CoreConfig {
            chunk_size: self.chunk_size,
            max_concurrent_uploads: self.max_concurrent_uploads,
            write_back_delay: self.write_back_delay,
            open_upload_pause: self.open_upload_pause,
            commit_interval: self.commit_interval,
            retry_initial: self.upload_retry_initial,
            retry_max: self.upload_retry_max,
            cache_budget: self.cache_size,
            dirty_limit: self.effective_dirty_limit(),
            min_free_space: self.min_free_space,
            seed,
            ..CoreConfig::default()
        }
    }
}
