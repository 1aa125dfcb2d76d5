//! An open file of the cache, blocking: what [`crate::CacheManager::open`] returns.

use crate::link::ThreadLink;
use crate::wait::wait;
use bytes::Bytes;
use silt_core::HandleId;
use silt_engine::Result;

/// An open file. Each method blocks the calling thread until the core has answered.
/// Dropping a handle without [`FileHandle::close`] closes it in the background (without the
/// fsync `close` may do).
#[derive(Debug)]
pub struct FileHandle(silt_engine::FileHandle<ThreadLink>);

impl FileHandle {
    pub(crate) fn new(inner: silt_engine::FileHandle<ThreadLink>) -> FileHandle {
        FileHandle(inner)
    }

    /// The object key it was opened as.
    pub fn key(&self) -> &str {
        self.0.key()
    }

    /// The core's handle id.
    pub fn id(&self) -> HandleId {
        self.0.id()
    }

    /// The file's size when it was opened.
    pub fn size_at_open(&self) -> u64 {
        self.0.size_at_open()
    }

    /// Reads up to `len` bytes at `offset` (short at the end of the file). Bytes not cached
    /// are fetched from the bucket.
    pub fn read(&self, offset: u64, len: u64) -> Result<Bytes> {
        wait(self.0.read(offset, len))
    }

    /// Writes `data` at `offset`; returns once the bytes are in the cache file (not yet
    /// durable: see [`FileHandle::sync_range`]). Waits for room in the write budget first;
    /// never fails for lack of it.
    pub fn write(&self, offset: u64, data: impl Into<Bytes>) -> Result<u64> {
        wait(self.0.write(offset, data))
    }

    /// fsync: returns once everything written through this file is fsynced in the cache file
    /// and its dirty ranges and upload intent are committed to the index. From then on the
    /// data survives a crash and reaches the bucket (or a conflict copy). The core syncs the
    /// whole file: there is no narrower range to ask for.
    pub fn sync_range(&self) -> Result<()> {
        wait(self.0.sync_range())
    }

    /// Same as [`FileHandle::sync_range`].
    pub fn fsync(&self) -> Result<()> {
        self.sync_range()
    }

    /// Sets the file's size.
    pub fn truncate(&self, size: u64) -> Result<()> {
        wait(self.0.truncate(size))
    }

    /// Sets the file's modification time (ms since the Unix epoch); durable when this
    /// returns (see the async engine's `FileHandle::set_mtime`).
    pub fn set_mtime(&self, mtime_ms: u64) -> Result<()> {
        wait(self.0.set_mtime(mtime_ms))
    }

    /// Closes the file, after an fsync when the engine runs with `fsync_on_close` (the
    /// default). The handle is closed even if that fsync fails; its error is returned.
    pub fn close(self) -> Result<()> {
        wait(self.0.close())
    }
}
