//! An object store that counts the operations the engine sends through it.

use bytes::Bytes;
use silt_core::{ObjectInfo, Precondition};
use silt_s3::{ErrorKind, Listing, Meta, ObjectStore, RemoteError, Result};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Wraps a store; counts ranged GETs, HEADs, listing pages and writes (PUT and multipart
/// completions), records the upload tokens sent, and can fail writes on demand.
pub struct Counting<S> {
    inner: S,
    gets: AtomicU64,
    heads: AtomicU64,
    lists: AtomicU64,
    list_nanos: AtomicU64,
    writes: AtomicU64,
    tokens: Mutex<Vec<String>>,
    fail_writes: AtomicBool,
    write_gate: OnceLock<Arc<tokio::sync::Mutex<()>>>,
}

impl<S> Counting<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Counting {
            inner,
            gets: AtomicU64::new(0),
            heads: AtomicU64::new(0),
            lists: AtomicU64::new(0),
            list_nanos: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            tokens: Mutex::new(Vec::new()),
            fail_writes: AtomicBool::new(false),
            write_gate: OnceLock::new(),
        }
    }

    /// Sends conditional writes (PUTs and multipart completions) one at a time among every
    /// store sharing `gate` (deletes too). s3s-fs checks `If-Match` / `If-None-Match` and then writes, not
    /// atomically: two writes racing for one key can both pass the check. S3 decides them
    /// atomically; the gate gives the test server that atomicity for several caches.
    pub fn set_write_gate(&self, gate: Arc<tokio::sync::Mutex<()>>) {
        let _ = self.write_gate.set(gate);
    }

    async fn gate(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.write_gate.get() {
            Some(g) => Some(g.lock().await),
            None => None,
        }
    }

    /// Upload tokens sent so far (PUTs and multipart creations), in order.
    pub fn tokens(&self) -> Vec<String> {
        self.tokens.lock().expect("tokens lock").clone()
    }

    /// While set, PUTs and multipart creations fail with a transient error (HTTP 503)
    /// without reaching the server.
    pub fn fail_writes(&self, fail: bool) {
        self.fail_writes.store(fail, Ordering::SeqCst);
    }

    fn write_attempt(&self, op: &'static str, key: &str, token: Option<&str>) -> Result<()> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(RemoteError {
                kind: ErrorKind::Transient,
                op,
                key: key.to_string(),
                status: Some(503),
                message: "ServiceUnavailable: failing on purpose".into(),
            });
        }
        if let Some(t) = token {
            self.tokens.lock().expect("tokens lock").push(t.to_string());
        }
        Ok(())
    }

    /// The wrapped store (calls through it are not counted).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Ranged GETs sent so far.
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::SeqCst)
    }

    /// HEADs sent so far.
    pub fn heads(&self) -> u64 {
        self.heads.load(Ordering::SeqCst)
    }

    /// ListObjectsV2 pages asked for so far (`list_page`).
    pub fn lists(&self) -> u64 {
        self.lists.load(Ordering::SeqCst)
    }

    /// Time spent waiting for those listing pages, added up.
    pub fn list_time(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.list_nanos.load(Ordering::SeqCst))
    }

    /// PUTs and multipart completions sent so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }
}

impl<S: ObjectStore> ObjectStore for Counting<S> {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        self.heads.fetch_add(1, Ordering::SeqCst);
        self.inner.head(key).await
    }

    async fn get_range(
        &self,
        key: &str,
        range: Range<u64>,
        if_match: Option<&str>,
    ) -> Result<silt_s3::Got> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get_range(key, range, if_match).await
    }

    async fn put(
        &self,
        key: &str,
        data: Bytes,
        precondition: Option<&Precondition>,
        meta: Meta<'_>,
    ) -> Result<String> {
        self.write_attempt("PutObject", key, meta.token)?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        let _gate = self.gate().await;
        self.inner.put(key, data, precondition, meta).await
    }

    async fn create_multipart(&self, key: &str, meta: Meta<'_>) -> Result<String> {
        self.write_attempt("CreateMultipartUpload", key, meta.token)?;
        self.inner.create_multipart(key, meta).await
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        data: Bytes,
    ) -> Result<String> {
        self.inner.upload_part(key, upload_id, part, data).await
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
        self.inner
            .upload_part_copy(key, upload_id, part, source_key, source_etag, range)
            .await
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        precondition: Option<&Precondition>,
    ) -> Result<String> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let _gate = self.gate().await;
        self.inner
            .complete(key, upload_id, parts, precondition)
            .await
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Result<()> {
        self.inner.abort(key, upload_id).await
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<(u32, String)>> {
        self.inner.list_parts(key, upload_id).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: u32,
    ) -> Result<silt_core::RemotePage> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        let start = std::time::Instant::now();
        let page = self.inner.list_page(prefix, start_after, max_keys).await;
        let took = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.list_nanos.fetch_add(took, Ordering::SeqCst);
        page
    }

    async fn list(&self, prefix: &str, delimiter: Option<&str>) -> Result<Listing> {
        self.inner.list(prefix, delimiter).await
    }

    async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<()> {
        let _gate = self.gate().await;
        self.inner.delete(key, if_match).await
    }

    async fn copy(
        &self,
        source_key: &str,
        source_etag: Option<&str>,
        dest_key: &str,
        precondition: Option<&Precondition>,
    ) -> Result<String> {
        self.inner
            .copy(source_key, source_etag, dest_key, precondition)
            .await
    }
}
