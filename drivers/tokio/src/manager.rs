//! [`CacheManager`]: the engine's API. `start` opens a cache directory (lock, instance id,
//! index, cache files: `silt_engine::open`), recovers the core from the index and spawns
//! the driver; `stop` makes everything local durable and leaves pending uploads in the
//! journal.

use crate::driver::{Driver, DriverClient, DriverOptions, StopReport, TaskLink};
use silt_core::{Attr, OpenFlags};
use silt_engine::{Error, Page, Result, Services, Status};
use silt_s3::ObjectStore;
use std::path::{Path, PathBuf};
use tokio::task::JoinHandle;

/// How to start an engine (see [`silt_engine::Options`]).
pub type Options<S> = silt_engine::Options<S, DriverOptions>;

/// An open file of the cache: what [`CacheManager::open`] returns.
pub type FileHandle = silt_engine::FileHandle<TaskLink>;

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
    /// The metrics endpoint and the control socket; dropped (stopped) before the loop.
    services: Option<Services>,
}

impl CacheManager {
    /// Locks `options.cache_dir`, reads (or, the first time, chooses) its instance id,
    /// opens its index and cache files, recovers the core from the index and starts the
    /// driver on the current tokio runtime.
    pub async fn start<S: ObjectStore + 'static>(options: Options<S>) -> Result<CacheManager> {
        let cache_dir = options.cache_dir.clone();
        let opened = tokio::task::spawn_blocking(move || silt_engine::open(options))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        let mut driver = opened.driver;
        driver.write_memory_limit = opened.write_limit;
        let driver = Driver::recover(opened.core, opened.recovered, opened.parts, driver)?;
        let metrics = driver.metrics();
        let (client, task) = driver.spawn();
        let mut manager = CacheManager {
            client: client.clone(),
            task: Some(task),
            cache_dir,
            instance_id: opened.instance_id,
            fsync_on_close: opened.fsync_on_close,
            services: None,
        };
        // On failure the manager is dropped, which stops the loop.
        manager.services = Some(Services::start(
            &manager.cache_dir,
            &opened.services,
            client,
            metrics,
        )?);
        Ok(manager)
    }

    /// Stops the engine: new requests are refused, every open handle is fsynced, everything
    /// the core knows is committed to the index, nothing more is sent to the bucket. Pending
    /// uploads stay in the journal and resume at the next start. The lock is released when
    /// this returns.
    pub async fn stop(mut self) -> Result<StopReport> {
        // The services' threads end first: nothing reaches the loop through them any more.
        drop(self.services.take());
        let report = self.client.stop().await;
        if let Some(task) = self.task.take() {
            task.await.map_err(|e| Error::Task(e.to_string()))?;
        }
        let report = report?;
        tracing::info!(?report, "stopped");
        Ok(report)
    }

    /// Where the metrics are served (`Options::services.metrics_addr`; with port 0, the
    /// port chosen), if they are.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.services.as_ref().and_then(Services::metrics_addr)
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The cache file of entry `id` (what a passthrough grant names: `Reply::Opened`).
    pub fn cache_file(&self, id: silt_core::EntryId) -> PathBuf {
        silt_store::container_path(&self.cache_dir, id)
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
        FileHandle::open(&self.client, key, create, self.fsync_on_close).await
    }

    /// Opens `key` with `flags` (create, exclusive create: `Error::Exists`, truncate).
    pub async fn open_with(&self, key: &str, flags: OpenFlags) -> Result<FileHandle> {
        FileHandle::open_with(&self.client, key, flags, self.fsync_on_close).await
    }

    /// Removes `key`; returns once the removal is journaled durably.
    pub async fn unlink(&self, key: &str) -> Result<()> {
        self.client.unlink(key).await
    }

    /// Creates the directory `key` (no trailing `/`): a marker object `key/`, uploaded like
    /// a new file; returns once journaled durably. `Error::Exists` when a name is there.
    pub async fn mkdir(&self, key: &str) -> Result<()> {
        self.client.mkdir(key).await
    }

    /// Removes the empty directory `key`; returns once journaled durably.
    /// `Error::NotEmpty` when a name is below it, here or on the server.
    pub async fn rmdir(&self, key: &str) -> Result<()> {
        self.client.rmdir(key).await
    }

    /// Renames the directory `from` to `to` (every key below it, all or none after a crash);
    /// returns once durable. `Error::CrossDevice` above the core's `dir_rename_limit` keys or
    /// while a file below is in use (copy instead), `Error::NotEmpty` when `to` holds names.
    pub async fn rename_dir(&self, from: &str, to: &str) -> Result<()> {
        self.client.rename_dir(from, to).await
    }

    /// Renames `from` to `to` (replacing `to`); returns once journaled durably.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.client.rename(from, to).await
    }

    /// What `key` is (file or directory, size, mtime, version); `Error::NotFound` when
    /// nothing is there. Local state first; unknown keys ask the server (remembered for the
    /// core's `stat_ttl`).
    pub async fn stat(&self, key: &str) -> Result<Attr> {
        self.client.stat(key).await
    }

    /// One page of the directory `dir` (`""` for the root, else ending with `/`): up to
    /// about `max` names after `after`, remote ones overlaid with local changes, and the
    /// `after` for the next page (`None` at the end).
    pub async fn list(&self, dir: &str, after: Option<&str>, max: u32) -> Result<Page> {
        self.client.list(dir, after, max).await
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
            drop(self.services.take());
            self.client.stop_detached();
        }
    }
}
