//! [`Options`]: how to start an engine on a cache directory, whichever driver runs it.

use crate::services::ServiceOptions;
use silt_core::CoreConfig;
use silt_store::StoreOptions;
use std::path::PathBuf;
use std::sync::Arc;

/// The default [`Options::memory_limit`]: 1 GiB, TigrisFS's default.
pub const DEFAULT_MEMORY_LIMIT: u64 = 1 << 30;

/// How to start an engine. `S` is the bucket (an `ObjectStore`), `D` the driver's own
/// options (each driver names its `Options<S>` with its `DriverOptions`).
#[derive(Clone, Debug)]
pub struct Options<S, D> {
    /// The cache directory: `lock`, `instance`, the index (`index.db` for redb) and `data/`.
    pub cache_dir: PathBuf,
    /// The bucket. Probe its capabilities first (`silt_s3::probe`) and apply them to
    /// `core` (`Capabilities::apply_to`) where the server may not enforce conditions.
    pub remote: Arc<S>,
    /// The core's configuration. Its `checksum` is replaced by the hardware CRC32C, its
    /// `instance_id` by the cache directory's, its `memory_limit` by three quarters of
    /// [`Options::memory_limit`] (and `read_buffer_limit` lowered to that if above it).
    pub core: CoreConfig,
    /// Bytes in flight at most (TigrisFS's `--memory-limit`): fetches, read buffers, upload
    /// bodies and write request bodies together. Three quarters go to the core
    /// (`CoreConfig::memory_limit`), a quarter bounds write bodies in the driver (replacing
    /// the tokio driver's `write_memory_limit`). Writers wait for room; they never fail for
    /// lack of it.
    pub memory_limit: u64,
    /// Index backend for `silt_index::open`: `"redb"` (default), `"fjall"` or `"memory"`.
    pub index_backend: String,
    /// `close()` fsyncs first (TigrisFS's default; `fsync_on_close` in the configuration).
    pub fsync_on_close: bool,
    /// The cache files' options.
    pub store: StoreOptions,
    /// The driver's own limits and threads.
    pub driver: D,
    /// The metrics endpoint (`metrics_addr`) and the control socket; both off by default.
    pub services: ServiceOptions,
}

impl<S, D: Default> Options<S, D> {
    /// Defaults: redb, `fsync_on_close`, a memory limit of 1 GiB, the core's and the
    /// driver's default limits.
    pub fn new(cache_dir: impl Into<PathBuf>, remote: Arc<S>) -> Options<S, D> {
        Options {
            cache_dir: cache_dir.into(),
            remote,
            core: CoreConfig::default(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            index_backend: "redb".to_string(),
            fsync_on_close: true,
            store: StoreOptions::default(),
            driver: D::default(),
            services: ServiceOptions::default(),
        }
    }

    /// Options from the user's settings (`silt-config`): the core's configuration, the index
    /// backend, `fsync_on_close`, `memory_limit` and `metrics_addr`; `seed` feeds the retry
    /// jitter.
    pub fn from_settings(
        settings: &silt_config::Settings,
        cache_dir: impl Into<PathBuf>,
        remote: Arc<S>,
        seed: u64,
    ) -> Options<S, D> {
        Options {
            core: settings.core_config(seed),
            index_backend: settings.index_backend.name().to_string(),
            fsync_on_close: settings.fsync_on_close,
            memory_limit: settings.memory_limit,
            services: ServiceOptions {
                metrics_addr: settings.metrics_addr,
                control_socket: false,
            },
            ..Options::new(cache_dir, remote)
        }
    }
}
