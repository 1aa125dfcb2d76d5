//! silt's cache files ("containers"): one sparse file per cache entry, under
//! `<cache_dir>/data/<shard>/<id>`, named by the entry id and never by the object key.
//!
//! - A key with `..`, `/`, `\`, `:`, NUL or 1 KiB of UTF-8 never reaches a file name: names
//!   are 16 hex digits of the entry id, in a folder of the id's low byte (256 shards).
//! - Sparse files where the platform has them (see [`sparse`](crate::Container::punch_hole)):
//!   evicting a chunk punches a hole and frees its space. Where the filesystem refuses, the
//!   store keeps regular files and writes zeros instead, counts each time in
//!   [`Telemetry::sparse_fallback`] and logs it once per cache dir.
//! - The cache dir and `data/` are mode 0700, files 0600 (Unix).
//! - Errors are typed: [`StoreError::NoSpace`] (the core reacts: evicts, retries, makes
//!   writers wait) apart from every other I/O error.
//! - The index, not SEEK_DATA, says which bytes are present; the store never guesses.
//!
//! The order at a commit point is the core's: data written, [`Container::fsync`], then the
//! index transaction. [`Store::execute`] runs one of the core's `LocalOp`s.

mod container;
mod error;
mod execute;
mod sparse;
mod telemetry;

pub use container::Container;
pub use error::{Result, StoreError};
pub use telemetry::Telemetry;

use silt_core::EntryId;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How a store is opened.
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// Never call the sparse-file APIs: behave as on a filesystem without them (tests).
    pub force_fallback: bool,
}

/// The cache files of one cache directory.
#[derive(Debug)]
pub struct Store {
    data: PathBuf,
    shared: Arc<Shared>,
    /// Containers kept open for [`Store::execute`], by entry (at most `OPEN_HANDLES`).
    open: std::sync::Mutex<std::collections::HashMap<EntryId, Arc<Container>>>,
}

/// Cache files [`Store::execute`] keeps open at most: a read of a cached file then costs one
/// `pread`, not an open, a read and a close.
const OPEN_HANDLES: usize = 256;

/// State shared by a store and its containers.
#[derive(Debug)]
pub(crate) struct Shared {
    cache_dir: PathBuf,
    telemetry: Telemetry,
    /// False once the filesystem refused a sparse call (or when forced): later punches go
    /// straight to writing zeros.
    sparse: AtomicBool,
}

impl Shared {
    pub(crate) fn sparse_available(&self) -> bool {
        self.sparse.load(Ordering::Relaxed)
    }

    pub(crate) fn sparse_unavailable(&self, what: &str, err: &std::io::Error) {
        self.sparse.store(false, Ordering::Relaxed);
        self.telemetry.record_fallback(&self.cache_dir, what, err);
    }

    pub(crate) fn count_fallback(&self) {
        let forced = std::io::Error::from(std::io::ErrorKind::Unsupported);
        self.telemetry
            .record_fallback(&self.cache_dir, "sparse files disabled", &forced);
    }
}

/// Where the container of `id` lives in the cache directory `cache_dir` (see
/// [`Store::path_of`]); for readers outside the engine (the mount's passthrough).
pub fn container_path(cache_dir: &Path, id: EntryId) -> PathBuf {
    container_in(&cache_dir.join("data"), id)
}

fn container_in(data: &Path, id: EntryId) -> PathBuf {
    data.join(format!("{:02x}", id.0 & 0xff))
        .join(format!("{:016x}", id.0))
}

impl Store {
    /// Opens (creating) `<cache_dir>/data`, with the cache dir and `data/` at mode 0700.
    pub fn open(cache_dir: &Path, options: StoreOptions) -> Result<Store> {
        let data = cache_dir.join("data");
        private_dir(cache_dir)?;
        private_dir(&data)?;
        Ok(Store {
            data,
            open: std::sync::Mutex::new(std::collections::HashMap::new()),
            shared: Arc::new(Shared {
                cache_dir: cache_dir.to_path_buf(),
                telemetry: Telemetry::default(),
                sparse: AtomicBool::new(!options.force_fallback),
            }),
        })
    }

    /// The store's counters.
    pub fn telemetry(&self) -> &Telemetry {
        &self.shared.telemetry
    }

    /// The cache-file directory (`<cache_dir>/data`).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// Where the container of `id` lives: `data/<low byte, 2 hex>/<id, 16 hex>`.
    pub fn path_of(&self, id: EntryId) -> PathBuf {
        container_in(&self.data, id)
    }

    /// Opens the container of `id`, creating an empty sparse one (mode 0600) if there is
    /// none. A new file's directory entry is made durable before this returns, so a later
    /// `fsync` of the file is enough to find its data after a power loss.
    pub fn create(&self, id: EntryId) -> Result<Container> {
        let path = self.path_of(id);
        if let Some(c) = self.open_existing(id)? {
            return Ok(c);
        }
        let shard = path.parent().expect("path_of has a shard folder");
        let new_shard = !shard.exists();
        if new_shard {
            private_dir(shard)?;
        }
        let file = match open_options(true).create_new(true).open(&path) {
            Ok(f) => f,
            // Created meanwhile by another thread: use it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return self.open_existing(id)?.ok_or_else(|| {
                    StoreError::from_io("open", &path, std::io::ErrorKind::NotFound.into())
                })
            }
            Err(e) => return Err(StoreError::from_io("create", &path, e)),
        };
        if self.shared.sparse_available() {
            if let Err(e) = sparse::mark_sparse(&file) {
                if sparse::is_unsupported(&e) {
                    self.shared.sparse_unavailable("mark sparse", &e);
                } else {
                    return Err(StoreError::from_io("mark sparse", &path, e));
                }
            }
        }
        sync_dir(shard)?;
        if new_shard {
            sync_dir(&self.data)?;
        }
        Ok(Container::new(file, path, self.shared.clone()))
    }

    /// Opens the existing container of `id`; `None` if there is none.
    pub fn open_existing(&self, id: EntryId) -> Result<Option<Container>> {
        let path = self.path_of(id);
        match open_options(false).open(&path) {
            Ok(f) => Ok(Some(Container::new(f, path, self.shared.clone()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::from_io("open", &path, e)),
        }
    }

    /// The container of `id`, kept open for later calls: created if `create`, else `None`
    /// when there is none.
    pub(crate) fn kept_open(&self, id: EntryId, create: bool) -> Result<Option<Arc<Container>>> {
        if let Some(c) = self.open_handles().get(&id) {
            return Ok(Some(c.clone()));
        }
        let opened = if create {
            Some(self.create(id)?)
        } else {
            self.open_existing(id)?
        };
        let Some(c) = opened else {
            return Ok(None);
        };
        let c = Arc::new(c);
        let mut open = self.open_handles();
        if open.len() >= OPEN_HANDLES {
            // Any one goes: a later call opens it again.
            if let Some(k) = open.keys().next().copied() {
                open.remove(&k);
            }
        }
        Ok(Some(open.entry(id).or_insert(c).clone()))
    }

    /// Closes the kept container of `id`, if any (before the file is removed: the core
    /// orders a removal alone, so no other call holds it).
    pub(crate) fn close_kept(&self, id: EntryId) {
        self.open_handles().remove(&id);
    }

    fn open_handles(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<EntryId, Arc<Container>>> {
        // A panic while holding the map leaves it consistent (inserts and removes only).
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deletes the container of `id`; deleting a missing one succeeds.
    pub fn remove(&self, id: EntryId) -> Result<()> {
        let path = self.path_of(id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::from_io("remove", &path, e)),
        }
    }
}

fn open_options(create: bool) -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true);
    #[cfg(unix)]
    if create {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = create;
    o
}

/// Creates `dir` if needed and makes it private (0700 on Unix).
fn private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        b.mode(0o700);
        b.create(dir)
            .map_err(|e| StoreError::from_io("create dir", dir, e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| StoreError::from_io("chmod", dir, e))
    }
    #[cfg(not(unix))]
    {
        b.create(dir)
            .map_err(|e| StoreError::from_io("create dir", dir, e))
    }
}

/// Makes a directory's entries durable (Unix; NTFS journals them itself).
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = std::fs::File::open(dir).map_err(|e| StoreError::from_io("open dir", dir, e))?;
        d.sync_all()
            .map_err(|e| StoreError::from_io("fsync dir", dir, e))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
