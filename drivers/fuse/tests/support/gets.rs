//! An object store that counts the ranged GETs the engine sends through it.

use bytes::Bytes;
use silt_core::{ObjectInfo, Precondition};
use silt_s3::{Listing, ObjectStore, Result};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

/// Wraps a store and counts ranged GETs.
pub struct CountGets<S> {
    inner: S,
    gets: AtomicU64,
}

impl<S> CountGets<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        CountGets {
            inner,
            gets: AtomicU64::new(0),
        }
    }

    /// Ranged GETs sent so far.
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::SeqCst)
    }
}

impl<S: ObjectStore> ObjectStore for CountGets<S> {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
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
        token: Option<&str>,
    ) -> Result<String> {
        self.inner.put(key, data, precondition, token).await
    }

    async fn create_multipart(&self, key: &str, token: Option<&str>) -> Result<String> {
        self.inner.create_multipart(key, token).await
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
        self.inner.list_page(prefix, start_after, max_keys).await
    }

    async fn list(&self, prefix: &str, delimiter: Option<&str>) -> Result<Listing> {
        self.inner.list(prefix, delimiter).await
    }

    async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<()> {
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
