//! [`SharedStore`]: the memory store behind silt-remote's `ObjectStore` trait, for the
//! drivers' tests. Every future it returns is ready at once; no runtime is needed.

use crate::faults::OpKind;
use crate::store::MemStore;
use bytes::Bytes;
use silt_core::{ObjectInfo, Precondition, RemotePage};
use silt_remote::{ErrorKind, Got, Listed, Listing, Meta, ObjectStore, RemoteError, Result};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A [`MemStore`] shared between the code under test (through `ObjectStore`) and the test
/// (through [`SharedStore::with`]). Clones share the bucket. Times of stored versions come
/// from [`SharedStore::set_now`] (0 until set): the store reads no clock.
#[derive(Clone, Debug, Default)]
pub struct SharedStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    store: MemStore,
    now_ms: u64,
}

impl SharedStore {
    /// A shared empty bucket that enforces every condition.
    pub fn new() -> SharedStore {
        SharedStore::default()
    }

    /// Shares `store`.
    pub fn from_store(store: MemStore) -> SharedStore {
        SharedStore {
            inner: Arc::new(Mutex::new(Inner { store, now_ms: 0 })),
        }
    }

    /// Runs `f` on the store (to read it, arm faults, write as an outsider).
    pub fn with<T>(&self, f: impl FnOnce(&mut MemStore) -> T) -> T {
        f(&mut self.lock().store)
    }

    /// Sets the time the next stored versions get as their last-modified.
    pub fn set_now(&self, now_ms: u64) {
        self.lock().now_ms = now_ms;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock leaves a consistent store: every
        // operation changes it in one step.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs one operation of `kind` under the scripted faults and maps its error.
    fn run<T>(
        &self,
        kind: OpKind,
        op: &'static str,
        key: &str,
        f: impl FnOnce(&mut MemStore, u64) -> std::result::Result<T, silt_core::RemoteError>,
    ) -> Result<T> {
        let mut inner = self.lock();
        let now = inner.now_ms;
        inner
            .store
            .faulted(kind, |s| f(s, now))
            .map_err(|e| error(op, key, e))
    }
}

/// The trait's error for a core error of operation `op` on `key`.
fn error(op: &'static str, key: &str, e: silt_core::RemoteError) -> RemoteError {
    let (kind, status, message) = match e {
        silt_core::RemoteError::Transient(m) => (ErrorKind::Transient, 503, m),
        silt_core::RemoteError::PreconditionFailed => (
            ErrorKind::PreconditionFailed,
            412,
            "PreconditionFailed".into(),
        ),
        silt_core::RemoteError::NotFound => (ErrorKind::NotFound, 404, "NoSuchKey".into()),
        silt_core::RemoteError::NoSuchUpload => {
            (ErrorKind::NoSuchUpload, 404, "NoSuchUpload".into())
        }
        silt_core::RemoteError::Permanent(m) => (ErrorKind::Permanent, 400, m),
    };
    RemoteError {
        status: Some(status),
        ..RemoteError::new(kind, op, key, message)
    }
}

impl ObjectStore for SharedStore {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        self.run(OpKind::Head, "HeadObject", key, |s, _| Ok(s.op_head(key)))
    }

    async fn get_range(&self, key: &str, range: Range<u64>, if_match: Option<&str>) -> Result<Got> {
        let (data, etag, object_size) = self.run(OpKind::Get, "GetObject", key, |s, _| {
            s.op_get(key, range, if_match)
        })?;
        // As the S3 remote does: the ETag answered is checked too, for servers that ignore
        // If-Match on GET.
        if if_match.is_some_and(|e| e != etag) {
            return Err(error(
                "GetObject",
                key,
                silt_core::RemoteError::PreconditionFailed,
            ));
        }
        Ok(Got {
            data,
            etag,
            object_size,
        })
    }

    async fn put(
        &self,
        key: &str,
        data: Bytes,
        precondition: Option<&Precondition>,
        meta: Meta<'_>,
    ) -> Result<String> {
        self.run(OpKind::Put, "PutObject", key, |s, now| {
            s.op_put(key, &data, precondition, meta, now, &mut |_| {})
        })
    }

    async fn create_multipart(&self, key: &str, meta: Meta<'_>) -> Result<String> {
        self.run(
            OpKind::CreateMultipart,
            "CreateMultipartUpload",
            key,
            |s, _| Ok(s.op_create_multipart(key, meta)),
        )
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        data: Bytes,
    ) -> Result<String> {
        self.run(OpKind::UploadPart, "UploadPart", key, |s, _| {
            s.op_upload_part(upload_id, part, &data)
        })
    }

    async fn upload_part_copy(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        source_key: &str,
        source_etag: &str,
        range: Range<u64>,
    ) -> Result<String> {
        self.run(OpKind::UploadPartCopy, "UploadPartCopy", key, |s, _| {
            s.op_upload_part_copy(upload_id, part, source_key, source_etag, range)
        })
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        precondition: Option<&Precondition>,
    ) -> Result<String> {
        self.run(
            OpKind::Complete,
            "CompleteMultipartUpload",
            key,
            |s, now| s.op_complete(key, upload_id, parts, precondition, now, &mut |_| {}),
        )
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Result<()> {
        self.run(OpKind::Abort, "AbortMultipartUpload", key, |s, _| {
            s.op_abort(upload_id)
        })
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<(u32, String)>> {
        self.run(OpKind::ListParts, "ListParts", key, |s, _| {
            s.op_list_parts(upload_id)
        })
    }

    async fn list(&self, prefix: &str, delimiter: Option<&str>) -> Result<Listing> {
        self.run(OpKind::List, "ListObjectsV2", prefix, |s, _| {
            let mut listing = Listing::default();
            for o in s.listed_under(prefix) {
                let rest = &o.key[prefix.len()..];
                match delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                    rest.find(d)
                        .map(|i| format!("{prefix}{}", &rest[..i + d.len()]))
                }) {
                    Some(p) => {
                        if listing.prefixes.last() != Some(&p) {
                            listing.prefixes.push(p);
                        }
                    }
                    None => listing.objects.push(Listed {
                        key: o.key,
                        etag: o.etag,
                        size: o.size,
                        mtime_ms: Some(o.mtime_ms),
                    }),
                }
            }
            Ok(listing)
        })
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: u32,
    ) -> Result<RemotePage> {
        self.run(OpKind::List, "ListObjectsV2", prefix, |s, _| {
            Ok(s.op_list_page(prefix, start_after, max_keys))
        })
    }

    async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<()> {
        match self.run(OpKind::Delete, "DeleteObject", key, |s, _| {
            s.op_delete(key, if_match, &mut |_| {})
        }) {
            Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    async fn copy(
        &self,
        source_key: &str,
        source_etag: Option<&str>,
        dest_key: &str,
        precondition: Option<&Precondition>,
    ) -> Result<String> {
        let mut inner = self.lock();
        let now = inner.now_ms;
        inner
            .store
            .copy(
                source_key,
                source_etag,
                dest_key,
                precondition,
                now,
                &mut |_| {},
            )
            .map_err(|e| error("CopyObject", dest_key, e))
    }
}
