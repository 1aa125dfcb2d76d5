//! [`CacheManager`]: the blocking engine's API, mirroring silt-tokio's. `start` opens a
//! cache directory (lock, instance id, index, cache files: `silt_engine::open`), recovers
//! the core and starts the driver thread; `stop` makes everything local durable and leaves
//! pending uploads in the journal.

use crate::handle::FileHandle;
use crate::link::ThreadLink;
use crate::options::Options;
use crate::wait::wait;
use silt_core::{Attr, OpenFlags};
use silt_engine::{Client, Error, Page, Result, Services, Status, StopReport};
use silt_s3::ObjectStore;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// A running cache engine on one cache directory, driven by std threads. Every method
/// blocks the calling thread until it is answered; any number of threads may call at once
/// (share it by reference or in an `Arc`). Do not call it from async code: use silt-tokio
/// there.
///
/// Guarantees: one engine per cache directory (a second `start` fails with "locked by pid
/// N"); start-up reads the index and never walks the cache files; [`CacheManager::stop`]
/// loses nothing: every open handle is fsynced, everything the core knows is committed, and
/// uploads not done yet stay in the journal and resume at the next start. Dropping it
/// without `stop` stops it the same way and waits for that.
#[derive(Debug)]
pub struct CacheManager {
    client: Client<ThreadLink>,
    thread: Option<JoinHandle<()>>,
    cache_dir: PathBuf,
    instance_id: u64,
    fsync_on_close: bool,
    /// The metrics endpoint and the control socket; dropped (stopped) before the loop.
    services: Option<Services>,
}

impl CacheManager {
    /// Locks `options.cache_dir`, reads (or, the first time, chooses) its instance id,
    /// opens its index and cache files, recovers the core from the index and starts the
    /// driver thread, its worker threads and the private runtime of the remote.
    pub fn start<S: ObjectStore + 'static>(options: Options<S>) -> Result<CacheManager> {
        let cache_dir = options.cache_dir.clone();
        let opened = silt_engine::open(options)?;
        let (instance_id, fsync_on_close) = (opened.instance_id, opened.fsync_on_close);
        let spawned = crate::driver::spawn(opened)?;
        let mut manager = CacheManager {
            client: spawned.client.clone(),
            thread: Some(spawned.thread),
            cache_dir,
            instance_id,
            fsync_on_close,
            services: None,
        };
        // On failure the manager is dropped, which stops the driver.
        manager.services = Some(Services::start(
            &manager.cache_dir,
            &spawned.services,
            spawned.client,
            spawned.metrics,
        )?);
        Ok(manager)
    }

    /// Stops the engine: new requests are refused, every open handle is fsynced, everything
    /// the core knows is committed to the index, nothing more is sent to the bucket. Pending
    /// uploads stay in the journal and resume at the next start. The lock is released when
    /// this returns.
    pub fn stop(mut self) -> Result<StopReport> {
        // The services' threads end first: nothing reaches the loop through them any more.
        drop(self.services.take());
        let report = wait(self.client.stop());
        self.join()?;
        let report = report?;
        tracing::info!(?report, "stopped");
        Ok(report)
    }

    /// Waits for the driver thread to end.
    fn join(&mut self) -> Result<()> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| Error::Task("the driver thread panicked".into())),
            None => Ok(()),
        }
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

    /// This cache's instance id (kept in `<cache_dir>/instance`), which every upload token
    /// carries.
    pub fn instance_id(&self) -> u64 {
        self.instance_id
    }

    /// Opens `key`; with `create`, an object that does not exist is created empty.
    pub fn open(&self, key: &str, create: bool) -> Result<FileHandle> {
        let opening = silt_engine::FileHandle::open(&self.client, key, create, self.fsync_on_close);
        wait(opening).map(FileHandle::new)
    }

    /// Opens `key` with `flags` (create, exclusive create: `Error::Exists`, truncate).
    pub fn open_with(&self, key: &str, flags: OpenFlags) -> Result<FileHandle> {
        let opening =
            silt_engine::FileHandle::open_with(&self.client, key, flags, self.fsync_on_close);
        wait(opening).map(FileHandle::new)
    }

    /// Removes `key`; returns once the removal is journaled durably.
    pub fn unlink(&self, key: &str) -> Result<()> {
        wait(self.client.unlink(key))
    }

    /// Creates the directory `key` (no trailing `/`): a marker object `key/`, uploaded like
    /// a new file; returns once journaled durably. `Error::Exists` when a name is there.
    pub fn mkdir(&self, key: &str) -> Result<()> {
        wait(self.client.mkdir(key))
    }

    /// Removes the empty directory `key`; returns once journaled durably.
    /// `Error::NotEmpty` when a name is below it, here or on the server.
    pub fn rmdir(&self, key: &str) -> Result<()> {
        wait(self.client.rmdir(key))
    }

    /// Renames the directory `from` to `to` (every key below it, all or none after a crash);
    /// returns once durable. `Error::CrossDevice` above the core's `dir_rename_limit` keys or
    /// while a file below is in use (copy instead), `Error::NotEmpty` when `to` holds names.
    pub fn rename_dir(&self, from: &str, to: &str) -> Result<()> {
        wait(self.client.rename_dir(from, to))
    }

    /// Renames `from` to `to` (replacing `to`); returns once journaled durably.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        wait(self.client.rename(from, to))
    }

    /// What `key` is (file or directory, size, mtime, version); `Error::NotFound` when
    /// nothing is there. Local state first; unknown keys ask the server (remembered for the
    /// core's `stat_ttl`).
    pub fn stat(&self, key: &str) -> Result<Attr> {
        wait(self.client.stat(key))
    }

    /// One page of the directory `dir` (`""` for the root, else ending with `/`): up to
    /// about `max` names after `after`, remote ones overlaid with local changes, and the
    /// `after` for the next page (`None` at the end).
    pub fn list(&self, dir: &str, after: Option<&str>, max: u32) -> Result<Page> {
        wait(self.client.list(dir, after, max))
    }

    /// Uploads now: every queued or retrying upload and journaled delete becomes due at once
    /// (the write-back delay and retry backoff are skipped) and everything is committed.
    /// Without `wait` it returns once that is ordered; with `wait`, once nothing is pending:
    /// every upload and delete is done (or kept as a conflict copy) and committed. An upload
    /// that fails meanwhile is retried after its backoff, so it blocks as long as that takes;
    /// it fails if the cache hits a fatal error or is stopped.
    pub fn flush(&self, wait: bool) -> Result<()> {
        crate::wait::wait(self.client.flush(wait))
    }

    /// A status snapshot.
    pub fn status(&self) -> Result<Status> {
        wait(self.client.status())
    }
}

impl Drop for CacheManager {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // Not stopped: stop as `stop` does, and wait, so that the lock is released
            // when the drop returns.
            drop(self.services.take());
            self.client.stop_detached();
            if let Err(e) = self.join() {
                tracing::error!(error = %e, "the engine ended badly");
            }
        }
    }
}
