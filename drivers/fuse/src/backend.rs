//! What the mount serves files from: the crash-safe cache ([`CacheManager`], the default,
//! `--local-cache`) or the bucket itself through memory ([`silt_direct::Bucket`],
//! `--no-local-cache`). The filesystem calls both the same way; their errors reach it as
//! the engine's, so one errno mapping serves both.

use bytes::Bytes;
use silt_core::{Attr, DirEntry, OpenFlags};
use silt_s3::S3Remote;
use silt_tokio::{CacheManager, Error, Result};
use std::sync::Arc;

/// The bucket without a disk cache, over S3.
pub type DirectBucket = silt_direct::Bucket<S3Remote>;

/// What a mount serves.
#[derive(Debug)]
pub enum Backend {
    /// Through the local disk cache.
    Cached(Arc<CacheManager>),
    /// Straight to the bucket, through memory.
    Direct(Arc<DirectBucket>),
}

impl From<CacheManager> for Backend {
    fn from(m: CacheManager) -> Backend {
        Backend::Cached(Arc::new(m))
    }
}

impl From<Arc<DirectBucket>> for Backend {
    fn from(b: Arc<DirectBucket>) -> Backend {
        Backend::Direct(b)
    }
}

/// The direct path's error as the engine's (same errno).
fn engine_error(e: silt_direct::Error) -> Error {
    use silt_direct::Error as D;
    match e {
        D::NotFound => Error::NotFound,
        D::Exists => Error::Exists,
        D::NotEmpty => Error::NotEmpty,
        D::IsDirectory => Error::IsDirectory,
        D::NameTooLong => Error::NameTooLong,
        D::CrossDevice(why) => {
            tracing::debug!(why, "rename refused in place");
            Error::CrossDevice
        }
        D::Busy(why) => Error::Busy(why),
        // Memory full of data not yet uploaded: the direct path's "disk full".
        D::Memory => Error::NoSpace,
        other => Error::Io(other.to_string()),
    }
}

fn direct<T>(r: silt_direct::Result<T>) -> Result<T> {
    r.map_err(engine_error)
}

impl Backend {
    /// The engine, when the mount has a disk cache.
    pub fn manager(&self) -> Option<&Arc<CacheManager>> {
        match self {
            Backend::Cached(m) => Some(m),
            Backend::Direct(_) => None,
        }
    }

    /// The cache file of entry `id` (for passthrough); `None` without a disk cache.
    pub fn cache_file(&self, id: silt_core::EntryId) -> Option<std::path::PathBuf> {
        self.manager().map(|m| m.cache_file(id))
    }

    /// Attributes of `key`.
    pub async fn stat(&self, key: &str) -> Result<Attr> {
        match self {
            Backend::Cached(m) => m.stat(key).await,
            Backend::Direct(b) => direct(b.stat(key).await),
        }
    }

    /// One page of the directory `dir`.
    pub async fn list(
        &self,
        dir: &str,
        after: Option<&str>,
        max: u32,
    ) -> Result<(Vec<DirEntry>, Option<String>)> {
        match self {
            Backend::Cached(m) => m.list(dir, after, max).await,
            Backend::Direct(b) => direct(b.list(dir, after, max).await),
        }
    }

    /// Opens `key` per `flags`.
    pub async fn open(&self, key: &str, flags: OpenFlags) -> Result<Handle> {
        match self {
            Backend::Cached(m) => m.open_with(key, flags).await.map(Handle::Cached),
            Backend::Direct(b) => {
                let h = direct(b.open(key, flags).await)?;
                Ok(Handle::Direct {
                    handle: h,
                    key: key.to_string(),
                })
            }
        }
    }

    /// Removes `key`.
    pub async fn unlink(&self, key: &str) -> Result<()> {
        match self {
            Backend::Cached(m) => m.unlink(key).await,
            Backend::Direct(b) => direct(b.unlink(key).await),
        }
    }

    /// Creates the directory `key`.
    pub async fn mkdir(&self, key: &str) -> Result<()> {
        match self {
            Backend::Cached(m) => m.mkdir(key).await,
            Backend::Direct(b) => direct(b.mkdir(key).await),
        }
    }

    /// Removes the empty directory `key`.
    pub async fn rmdir(&self, key: &str) -> Result<()> {
        match self {
            Backend::Cached(m) => m.rmdir(key).await,
            Backend::Direct(b) => direct(b.rmdir(key).await),
        }
    }

    /// Renames the file `from` to `to`.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        match self {
            Backend::Cached(m) => m.rename(from, to).await,
            Backend::Direct(b) => direct(b.rename(from, to).await),
        }
    }

    /// Renames the directory `from` to `to`.
    pub async fn rename_dir(&self, from: &str, to: &str) -> Result<()> {
        match self {
            Backend::Cached(m) => m.rename_dir(from, to).await,
            Backend::Direct(b) => direct(b.rename_dir(from, to).await),
        }
    }
}

/// An open file of either backend.
#[derive(Debug)]
pub enum Handle {
    /// The engine's handle.
    Cached(silt_tokio::FileHandle),
    /// The direct path's handle, and the key it was opened at (for logs).
    Direct {
        /// The handle.
        handle: silt_direct::Handle<S3Remote>,
        /// The key at open.
        key: String,
    },
}

impl Handle {
    /// The key (for logs).
    pub fn key(&self) -> &str {
        match self {
            Handle::Cached(h) => h.key(),
            Handle::Direct { key, .. } => key,
        }
    }

    /// The entry whose cache file the kernel may read for this handle (passthrough granted).
    pub fn passthrough(&self) -> Option<silt_core::EntryId> {
        match self {
            Handle::Cached(h) => h.passthrough(),
            Handle::Direct { .. } => None,
        }
    }

    /// The size when opened.
    pub fn size_at_open(&self) -> u64 {
        match self {
            Handle::Cached(h) => h.size_at_open(),
            Handle::Direct { handle, .. } => handle.size_at_open(),
        }
    }

    /// Reads up to `len` bytes at `offset`.
    pub async fn read(&self, offset: u64, len: u64) -> Result<Bytes> {
        match self {
            Handle::Cached(h) => h.read(offset, len).await,
            Handle::Direct { handle, .. } => direct(handle.read(offset, len).await),
        }
    }

    /// Writes `data` at `offset`.
    pub async fn write(&self, offset: u64, data: Bytes) -> Result<u64> {
        match self {
            Handle::Cached(h) => h.write(offset, data).await,
            Handle::Direct { handle, .. } => direct(handle.write(offset, data).await),
        }
    }

    /// Sets the size.
    pub async fn truncate(&self, size: u64) -> Result<()> {
        match self {
            Handle::Cached(h) => h.truncate(size).await,
            Handle::Direct { handle, .. } => direct(handle.truncate(size).await),
        }
    }

    /// Sets the modification time.
    pub async fn set_mtime(&self, mtime_ms: u64) -> Result<()> {
        match self {
            Handle::Cached(h) => h.set_mtime(mtime_ms).await,
            Handle::Direct { handle, .. } => direct(handle.set_mtime(mtime_ms).await),
        }
    }

    /// Durable: in the cache (committed), or in the bucket without one.
    pub async fn fsync(&self) -> Result<()> {
        match self {
            Handle::Cached(h) => h.fsync().await,
            Handle::Direct { handle, .. } => direct(handle.fsync().await),
        }
    }

    /// Closes the handle.
    pub async fn close(self) -> Result<()> {
        match self {
            Handle::Cached(h) => h.close().await,
            Handle::Direct { handle, .. } => direct(handle.close().await),
        }
    }
}
