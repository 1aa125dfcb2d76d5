//! [`CacheManager`]: the engine's API. `start` opens a cache directory (lock, index, cache
//! files), recovers the core from the index and spawns the driver; `stop` makes everything
//! local durable and leaves pending uploads in the journal.

use crate::checksum::hardware_crc32c;
use crate::driver::{Driver, DriverClient, DriverOptions, DriverParts, StopReport};
use crate::error::{Error, Result};
use crate::handle::FileHandle;
use crate::lock::CacheLock;
use crate::status::Status;
use silt_core::{CoreConfig, Reply, Request};
use silt_index::GroupCommit;
use silt_s3::ObjectStore;
use silt_store::{Store, StoreOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// How to start an engine.
#[derive(Clone, Debug)]
pub struct Options<S> {
    /// The cache directory: `lock`, the index (`index.db` for redb) and `data/`.
    pub cache_dir: PathBuf,
    /// The bucket. Probe its capabilities first (`silt_s3::probe`) and apply them to
    /// `core` (`Capabilities::apply_to`) where the server may not enforce conditions.
    pub remote: Arc<S>,
    /// The core's configuration. Its `checksum` is replaced by the hardware CRC32C.
    pub core: CoreConfig,
    /// Index backend for `silt_index::open`: `"redb"` (default), `"fjall"` or `"memory"`.
    pub index_backend: String,
    /// `close()` fsyncs first (TigrisFS's default; `fsync_on_close` in the configuration).
    pub fsync_on_close: bool,
    /// The cache files' options.
    pub store: StoreOptions,
    /// The driver's own limits.
    pub driver: DriverOptions,
}

impl<S> Options<S> {
    /// Defaults: redb, `fsync_on_close`, the core's and the driver's default limits.
    pub fn new(cache_dir: impl Into<PathBuf>, remote: Arc<S>) -> Options<S> {
        Options {
            cache_dir: cache_dir.into(),
            remote,
            core: CoreConfig::default(),
            index_backend: "redb".to_string(),
            fsync_on_close: true,
            store: StoreOptions::default(),
            driver: DriverOptions::default(),
        }
    }

    /// Options from the user's settings (`silt-config`): the core's configuration, the index
    /// backend and `fsync_on_close`; `seed` feeds the retry jitter.
    pub fn from_settings(
        settings: &silt_config::Settings,
        cache_dir: impl Into<PathBuf>,
        remote: Arc<S>,
        seed: u64,
    ) -> Options<S> {
        Options {
            core: settings.core_config(seed),
            index_backend: settings.index_backend.name().to_string(),
            fsync_on_close: settings.fsync_on_close,
            ..Options::new(cache_dir, remote)
        }
    }
}

/// A running cache engine on one cache directory.
///
/// Guarantees: one engine per cache directory (a second `start` fails with "locked by pid
/// N"); start-up reads the index and never walks the cache files; [`CacheManager::stop`]
/// loses nothing: every open handle is fsynced, everything the core knows is committed, and
/// uploads not done yet stay in the journal and resume at the next start.
#[derive(Debug)]
pub struct CacheManager {
    client: DriverClient,
    task: Option<JoinHandle<()>>,
    cache_dir: PathBuf,
    fsync_on_close: bool,
}

impl CacheManager {
    /// Locks `options.cache_dir`, opens its index and cache files, recovers the core from
    /// the index and starts the driver on the current tokio runtime.
    pub async fn start<S: ObjectStore + 'static>(options: Options<S>) -> Result<CacheManager> {
        let Options {
            cache_dir,
            remote,
            mut core,
            index_backend,
            fsync_on_close,
            store,
            driver,
        } = options;
        core.checksum = hardware_crc32c();
        let dir = cache_dir.clone();
        let opened = tokio::task::spawn_blocking(move || open_dir(&dir, &index_backend, store))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        tracing::info!(
            cache_dir = %cache_dir.display(),
            entries = opened.recovered.entries.len(),
            journal = opened.recovered.journal.len(),
            conflicts = opened.recovered.conflicts.len(),
            "cache recovered from the index"
        );
        let parts = DriverParts {
            cache_dir: cache_dir.clone(),
            store: opened.store,
            index: opened.index,
            remote,
            lock: Some(opened.lock),
            initial_free: opened.free,
        };
        let (client, task) = Driver::recover(core, opened.recovered, parts, driver)?.spawn();
        Ok(CacheManager {
            client,
            task: Some(task),
            cache_dir,
            fsync_on_close,
        })
    }

    /// Stops the engine: new requests are refused, every open handle is fsynced, everything
    /// the core knows is committed to the index, nothing more is sent to the bucket. Pending
    /// uploads stay in the journal and resume at the next start. The lock is released when
    /// this returns.
    pub async fn stop(mut self) -> Result<StopReport> {
        let report = self.client.stop().await;
        if let Some(task) = self.task.take() {
            task.await.map_err(|e| Error::Task(e.to_string()))?;
        }
        let report = report?;
        tracing::info!(?report, "stopped");
        Ok(report)
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// A client of the driver task, for embedders that send the core's requests themselves.
    pub fn client(&self) -> &DriverClient {
        &self.client
    }

    /// Opens `key`; with `create`, an object that does not exist is created empty.
    pub async fn open(&self, key: &str, create: bool) -> Result<FileHandle> {
        let req = Request::Open {
            key: key.to_string(),
            create,
        };
        match self.client.request(req).await? {
            Reply::Opened { handle, size } => Ok(FileHandle::new(
                self.client.clone(),
                handle,
                key.to_string(),
                size,
                self.fsync_on_close,
            )),
            other => Err(Error::UnexpectedReply {
                request: "open",
                reply: format!("{other:?}"),
            }),
        }
    }

    /// Removes `key`; returns once the removal is journaled durably.
    pub async fn unlink(&self, key: &str) -> Result<()> {
        let req = Request::Unlink {
            key: key.to_string(),
        };
        match self.client.request(req).await? {
            Reply::Unlinked => Ok(()),
            other => Err(Error::UnexpectedReply {
                request: "unlink",
                reply: format!("{other:?}"),
            }),
        }
    }

    /// Renames `from` to `to` (replacing `to`); returns once journaled durably.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let req = Request::Rename {
            from: from.to_string(),
            to: to.to_string(),
        };
        match self.client.request(req).await? {
            Reply::Renamed => Ok(()),
            other => Err(Error::UnexpectedReply {
                request: "rename",
                reply: format!("{other:?}"),
            }),
        }
    }

    /// Uploads now: every queued or retrying upload and journaled delete becomes due at once
    /// (the write-back delay and retry backoff are skipped, also for times the journal kept
    /// from an earlier run) and everything is committed. Without `wait` it returns once that
    /// is ordered; with `wait`, once nothing is pending: every upload and delete is done (or
    /// kept as a conflict copy) and committed. An upload that fails meanwhile is retried
    /// after its backoff, so it waits as long as that takes (wrap it in a timeout to bound
    /// it); it fails if the cache hits a fatal error or is stopped.
    pub async fn flush(&self, wait: bool) -> Result<()> {
        self.client.flush(wait).await
    }

    /// A status snapshot.
    pub async fn status(&self) -> Result<Status> {
        self.client.status().await
    }
}

impl Drop for CacheManager {
    fn drop(&mut self) {
        if self.task.is_some() {
            // Not stopped: ask the driver to stop on its own; the lock goes when it ends.
            self.client.stop_detached();
        }
    }
}

/// What `start` opens, off the async runtime.
struct Opened {
    lock: CacheLock,
    index: Arc<GroupCommit>,
    recovered: silt_core::Recovered,
    store: Arc<Store>,
    free: Option<u64>,
}

fn open_dir(dir: &Path, backend: &str, store: StoreOptions) -> Result<Opened> {
    create_private_dir(dir)?;
    let lock = CacheLock::acquire(dir)?;
    let index = silt_index::open(backend, &silt_index::OpenOptions::new(dir))?;
    let recovered = index.load()?;
    let store = Store::open(dir, store)?;
    Ok(Opened {
        lock,
        index: Arc::new(GroupCommit::new(Arc::from(index))),
        recovered,
        store: Arc::new(store),
        free: crate::disk::free_bytes(dir),
    })
}

/// Creates the cache directory (and missing parents) private to the user from the start
/// (0700 on Unix), so that the lock and the index are never created in a directory others
/// can read. An existing directory is left as it is here; the store makes it private.
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| Error::CacheDir {
        path: dir.to_path_buf(),
        source,
    })
}
