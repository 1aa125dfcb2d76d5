//! An open file of the direct path: what a mount's file handle calls.

use crate::bucket::{Bucket, OpenFile};
use crate::error::Result;
use crate::reader::Reader;
use bytes::Bytes;
use silt_remote::ObjectStore;
use std::sync::Arc;

/// One open descriptor of a file; its handles share the file's state, each reads ahead on
/// its own.
#[derive(Debug)]
pub struct Handle<S: ObjectStore + 'static> {
    bucket: Arc<Bucket<S>>,
    file: Arc<OpenFile>,
    reader: tokio::sync::Mutex<Reader>,
    size_at_open: u64,
}

impl<S: ObjectStore + 'static> Handle<S> {
    pub(crate) fn new(bucket: Arc<Bucket<S>>, file: Arc<OpenFile>, size_at_open: u64) -> Self {
        Handle {
            bucket,
            file,
            reader: tokio::sync::Mutex::new(Reader::default()),
            size_at_open,
        }
    }

    /// The file's size when it was opened.
    pub fn size_at_open(&self) -> u64 {
        self.size_at_open
    }

    /// The key the file has now (a rename moves it).
    pub async fn key(&self) -> String {
        self.file.state.lock().await.key.clone()
    }

    /// Reads up to `len` bytes at `offset` (fewer at the end of the file).
    pub async fn read(&self, offset: u64, len: u64) -> Result<Bytes> {
        let mut reader = self.reader.lock().await;
        let mut state = self.file.state.lock().await;
        state
            .read(
                self.bucket.shared(),
                &mut reader,
                offset..offset.saturating_add(len),
            )
            .await
    }

    /// Writes `data` at `offset`; returns the bytes written.
    pub async fn write(&self, offset: u64, data: Bytes) -> Result<u64> {
        let len = data.len() as u64;
        let mut state = self.file.state.lock().await;
        state.write(self.bucket.shared(), offset, data).await?;
        Ok(len)
    }

    /// Cuts or extends the file to `size`.
    pub async fn truncate(&self, size: u64) -> Result<()> {
        let mut state = self.file.state.lock().await;
        state.truncate(self.bucket.shared(), size).await
    }

    /// Sets the modification time stored with the object.
    pub async fn set_mtime(&self, mtime_ms: u64) -> Result<()> {
        self.file.state.lock().await.set_mtime(mtime_ms)
    }

    /// Returns once the bucket holds everything written through any handle of the file.
    pub async fn fsync(&self) -> Result<()> {
        let mut state = self.file.state.lock().await;
        state.flush(self.bucket.shared()).await
    }

    /// Stores what was written (as [`Handle::fsync`]) and closes the handle.
    pub async fn close(self) -> Result<()> {
        self.fsync().await
    }
}

impl<S: ObjectStore + 'static> Drop for Handle<S> {
    fn drop(&mut self) {
        self.bucket.release(&self.file);
    }
}
