//! An open file of the cache, over any driver's [`Link`].

use crate::command::{unexpected, Client, Link};
use crate::error::Result;
use bytes::Bytes;
use silt_core::{HandleId, OpenFlags, Reply, Request};

/// An open file. Requests go to the driver's loop; each method returns when the core has
/// answered. Dropping a handle without [`FileHandle::close`] closes it in the background
/// (without the fsync `close` may do).
#[derive(Debug)]
pub struct FileHandle<L: Link> {
    client: Client<L>,
    handle: HandleId,
    key: String,
    size_at_open: u64,
    /// The entry whose cache file the kernel may read for this handle (FUSE passthrough).
    passthrough: Option<silt_core::EntryId>,
    fsync_on_close: bool,
    closed: bool,
}

impl<L: Link> FileHandle<L> {
    /// Opens `key` through `client`; with `create`, an object that does not exist is
    /// created empty. With `fsync_on_close`, [`FileHandle::close`] fsyncs first.
    pub async fn open(
        client: &Client<L>,
        key: &str,
        create: bool,
        fsync_on_close: bool,
    ) -> Result<FileHandle<L>> {
        Self::open_with(client, key, OpenFlags::create_if(create), fsync_on_close).await
    }

    /// Opens `key` with `flags` (create, exclusive create, truncate).
    pub async fn open_with(
        client: &Client<L>,
        key: &str,
        flags: OpenFlags,
        fsync_on_close: bool,
    ) -> Result<FileHandle<L>> {
        let req = Request::Open {
            key: key.to_string(),
            flags,
        };
        match client.request(req).await? {
            Reply::Opened {
                handle,
                size,
                passthrough,
            } => Ok(FileHandle {
                client: client.clone(),
                handle,
                key: key.to_string(),
                size_at_open: size,
                passthrough,
                fsync_on_close,
                closed: false,
            }),
            other => Err(unexpected("open", other)),
        }
    }

    /// The object key it was opened as.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The core's handle id.
    pub fn id(&self) -> HandleId {
        self.handle
    }

    /// Passthrough granted (asked for with `OpenFlags::passthrough`): the entry whose cache
    /// file the kernel may read for this handle until it is closed.
    pub fn passthrough(&self) -> Option<silt_core::EntryId> {
        self.passthrough
    }

    /// The file's size when it was opened.
    pub fn size_at_open(&self) -> u64 {
        self.size_at_open
    }

    /// Reads up to `len` bytes at `offset` (short at the end of the file). Bytes not cached
    /// are fetched from the bucket.
    pub async fn read(&self, offset: u64, len: u64) -> Result<Bytes> {
        let req = Request::Read {
            handle: self.handle,
            offset,
            len,
        };
        match self.client.request(req).await? {
            Reply::Data(b) => Ok(b),
            other => Err(unexpected("read", other)),
        }
    }

    /// Writes `data` at `offset`; returns once the bytes are in the cache file (not yet
    /// durable: see [`FileHandle::sync_range`]).
    pub async fn write(&self, offset: u64, data: impl Into<Bytes>) -> Result<u64> {
        let req = Request::Write {
            handle: self.handle,
            offset,
            data: data.into(),
        };
        match self.client.request(req).await? {
            Reply::Written { len } => Ok(len),
            other => Err(unexpected("write", other)),
        }
    }

    /// fsync: returns once everything written through this file is fsynced in the cache file
    /// and its dirty ranges and upload intent are committed to the index. From then on the
    /// data survives a crash and reaches the bucket (or a conflict copy). The core syncs the
    /// whole file: there is no narrower range to ask for.
    pub async fn sync_range(&self) -> Result<()> {
        match self
            .client
            .request(Request::Fsync {
                handle: self.handle,
            })
            .await?
        {
            Reply::Synced => Ok(()),
            other => Err(unexpected("fsync", other)),
        }
    }

    /// Same as [`FileHandle::sync_range`].
    pub async fn fsync(&self) -> Result<()> {
        self.sync_range().await
    }

    /// Sets the file's size.
    pub async fn truncate(&self, size: u64) -> Result<()> {
        let req = Request::Truncate {
            handle: self.handle,
            size,
        };
        match self.client.request(req).await? {
            Reply::Truncated => Ok(()),
            other => Err(unexpected("truncate", other)),
        }
    }

    /// Sets the file's modification time (ms since the Unix epoch), after the writes asked
    /// before it; durable when this returns. It goes to the bucket as `x-amz-meta-mtime`
    /// (a server-side copy when no byte changed); a later write sets the time again.
    pub async fn set_mtime(&self, mtime_ms: u64) -> Result<()> {
        let req = Request::SetMtime {
            handle: self.handle,
            mtime_ms,
        };
        match self.client.request(req).await? {
            Reply::MtimeSet => Ok(()),
            other => Err(unexpected("set_mtime", other)),
        }
    }

    /// Closes the file, after an fsync when the engine runs with `fsync_on_close` (the
    /// default). The handle is closed even if that fsync fails; its error is returned.
    pub async fn close(mut self) -> Result<()> {
        self.closed = true;
        let synced = if self.fsync_on_close {
            self.sync_range().await
        } else {
            Ok(())
        };
        let closed = match self
            .client
            .request(Request::Close {
                handle: self.handle,
            })
            .await?
        {
            Reply::Closed => Ok(()),
            other => Err(unexpected("close", other)),
        };
        synced.and(closed)
    }
}

impl<L: Link> Drop for FileHandle<L> {
    fn drop(&mut self) {
        if !self.closed {
            self.client.close_detached(self.handle);
        }
    }
}
