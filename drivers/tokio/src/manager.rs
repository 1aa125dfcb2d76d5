//! [`CacheManager`]: the engine's API. `start` opens a cache directory (lock, instance id,
//! index, cache files), recovers the core from the index and spawns the driver; `stop` makes
//! everything local durable and leaves pending uploads in the journal.

use crate::checksum::hardware_crc32c;
use crate::driver::{Driver, DriverClient, DriverOptions, DriverParts, StopReport};
use crate::error::{Error, Result};
use crate::handle::FileHandle;
use crate::lock::CacheLock;
use crate::memory::{core_share, write_share};
use crate::status::Status;
use silt_core::{Attr, CoreConfig, DirEntry, Reply, Request};
use silt_index::GroupCommit;
use silt_s3::ObjectStore;
use silt_store::{Store, StoreOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// How to start an engine.
#[derive(Clone, Debug)]
pub struct Options<S> {
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
    /// (`CoreConfig::memory_limit`), a quarter bounds write bodies in the driver
    /// (`DriverOptions::write_memory_limit`, which this replaces). Writers wait for room;
    /// they never fail for lack of it.
    pub memory_limit: u64,
    /// Index backend for `silt_index::open`: `"redb"` (default), `"fjall"` or `"memory"`.
    pub index_backend: String,
    /// `close()` fsyncs first (TigrisFS's default; `fsync_on_close` in the configuration).
    pub fsync_on_close: bool,
    /// The cache files' options.
    pub store: StoreOptions,
    /// The driver's own limits (`write_memory_limit` comes from `memory_limit`).
    pub driver: DriverOptions,
}

/// The default [`Options::memory_limit`]: 1 GiB, TigrisFS's default.
pub const DEFAULT_MEMORY_LIMIT: u64 = 1 << 30;

impl<S> Options<S> {
    /// Defaults: redb, `fsync_on_close`, a memory limit of 1 GiB, the core's and the
    /// driver's default limits.
    pub fn new(cache_dir: impl Into<PathBuf>, remote: Arc<S>) -> Options<S> {
        Options {
            cache_dir: cache_dir.into(),
            remote,
            core: CoreConfig::default(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            index_backend: "redb".to_string(),
            fsync_on_close: true,
            store: StoreOptions::default(),
            driver: DriverOptions::default(),
        }
    }

    /// Options from the user's settings (`silt-config`): the core's configuration, the index
    /// backend, `fsync_on_close` and `memory_limit`; `seed` feeds the retry jitter.
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
            memory_limit: settings.memory_limit,
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
    instance_id: u64,
    fsync_on_close: bool,
}

impl CacheManager {
    /// Locks `options.cache_dir`, reads (or, the first time, chooses) its instance id,
    /// opens its index and cache files, recovers the core from the index and starts the
    /// driver on the current tokio runtime.
    pub async fn start<S: ObjectStore + 'static>(options: Options<S>) -> Result<CacheManager> {
        let Options {
            cache_dir,
            remote,
            mut core,
            memory_limit,
            index_backend,
            fsync_on_close,
            store,
            mut driver,
        } = options;
        core.checksum = hardware_crc32c();
        split_memory_limit(memory_limit, &mut core, &mut driver)?;
        let dir = cache_dir.clone();
        let opened = tokio::task::spawn_blocking(move || open_dir(&dir, &index_backend, store))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        core.instance_id = opened.instance_id;
        tracing::info!(
            cache_dir = %cache_dir.display(),
            instance = %format!("{:016x}", opened.instance_id),
            memory_limit,
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
            instance_id: opened.instance_id,
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

    /// This cache's instance id (kept in `<cache_dir>/instance`), which every upload token
    /// carries.
    pub fn instance_id(&self) -> u64 {
        self.instance_id
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

    /// What `key` is (file or directory, size, mtime, version); `Error::NotFound` when
    /// nothing is there. Local state first; unknown keys ask the server (remembered for the
    /// core's `stat_ttl`).
    pub async fn stat(&self, key: &str) -> Result<Attr> {
        let req = Request::Stat {
            key: key.to_string(),
        };
        match self.client.request(req).await? {
            Reply::Attr(attr) => Ok(attr),
            other => Err(Error::UnexpectedReply {
                request: "stat",
                reply: format!("{other:?}"),
            }),
        }
    }

    /// One page of the directory `dir` (`""` for the root, else ending with `/`): up to
    /// about `max` names after `after`, remote ones overlaid with local changes, and the
    /// `after` for the next page (`None` at the end).
    pub async fn list(
        &self,
        dir: &str,
        after: Option<&str>,
        max: u32,
    ) -> Result<(Vec<DirEntry>, Option<String>)> {
        let req = Request::List {
            dir: dir.to_string(),
            after: after.map(str::to_string),
            max,
        };
        match self.client.request(req).await? {
            Reply::Listing { entries, next } => Ok((entries, next)),
            other => Err(Error::UnexpectedReply {
                request: "list",
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
    instance_id: u64,
    index: Arc<GroupCommit>,
    recovered: silt_core::Recovered,
    store: Arc<Store>,
    free: Option<u64>,
}

fn open_dir(dir: &Path, backend: &str, store: StoreOptions) -> Result<Opened> {
    create_private_dir(dir)?;
    let lock = CacheLock::acquire(dir)?;
    // Under the lock: nobody else creates the file meanwhile.
    let instance_id = crate::instance::load_or_create(dir)?;
    let index = silt_index::open(backend, &silt_index::OpenOptions::new(dir))?;
    let recovered = index.load()?;
    let store = Store::open(dir, store)?;
    Ok(Opened {
        lock,
        instance_id,
        index: Arc::new(GroupCommit::new(Arc::from(index))),
        recovered,
        store: Arc::new(store),
        free: crate::disk::free_bytes(dir),
    })
}

/// Splits the engine's `memory_limit`: three quarters to the core (`read_buffer_limit`
/// lowered to fit), a quarter to the driver's write-body budget. Refuses a limit that leaves
/// the core less than one chunk or the writes nothing.
fn split_memory_limit(limit: u64, core: &mut CoreConfig, driver: &mut DriverOptions) -> Result<()> {
    let min = min_memory_limit(core.chunk_size);
    if limit < min {
        return Err(Error::MemoryLimit { limit, min });
    }
    core.memory_limit = core_share(limit);
    core.read_buffer_limit = core.read_buffer_limit.min(core.memory_limit);
    driver.write_memory_limit = write_share(limit);
    Ok(())
}

/// The smallest `memory_limit` whose core share holds one chunk and whose write share is
/// not empty.
fn min_memory_limit(chunk_size: u64) -> u64 {
    // ceil(3L/4) >= c  <=>  L >= floor(4(c-1)/3) + 1.
    let c = u128::from(chunk_size.max(1));
    let l = (4 * (c - 1)) / 3 + 1;
    u64::try_from(l).unwrap_or(u64::MAX).max(4)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_limit_is_split_three_quarters_to_the_core() {
        let mut core = CoreConfig::default();
        let mut driver = DriverOptions::default();
        split_memory_limit(1 << 30, &mut core, &mut driver).expect("1 GiB");
        assert_eq!(core.memory_limit, 768 << 20);
        assert_eq!(driver.write_memory_limit, 256 << 20);
        assert_eq!(core.read_buffer_limit, 64 << 20, "already within");
        core.validate().expect("the core accepts it");

        // A small limit lowers the read buffers to the core's share.
        split_memory_limit(4 << 20, &mut core, &mut driver).expect("4 MiB");
        assert_eq!(core.memory_limit, 3 << 20);
        assert_eq!(driver.write_memory_limit, 1 << 20);
        assert_eq!(core.read_buffer_limit, 3 << 20);
        core.validate().expect("the core accepts it");
    }

    #[test]
    fn a_limit_below_one_chunk_for_the_core_is_refused_with_the_minimum() {
        for chunk in [1, 2, 3, 1000, 1 << 20, 5 << 20] {
            let min = min_memory_limit(chunk);
            let mut core = CoreConfig {
                chunk_size: chunk,
                read_buffer_limit: 1,
                ..CoreConfig::default()
            };
            let mut driver = DriverOptions::default();
            split_memory_limit(min, &mut core, &mut driver).expect("the minimum works");
            assert!(core.memory_limit >= chunk && driver.write_memory_limit >= 1);
            core.validate().expect("the core accepts the minimum");
            let err =
                split_memory_limit(min - 1, &mut core, &mut driver).expect_err("below the minimum");
            assert!(
                matches!(err, Error::MemoryLimit { limit, min: m } if limit == min - 1 && m == min),
                "{err:?}"
            );
        }
    }
}
