//! The object-store trait: what silt asks of a remote, in its own words. The core never sees
//! it; drivers execute the core's `RemoteOp`s through it ([`crate::execute`]).

use crate::error::Result;
use bytes::Bytes;
use silt_core::{ObjectInfo, Precondition};
use std::future::Future;
use std::ops::Range;

/// The bytes of a ranged GET, with what the server said about the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    /// Exactly the requested range (clamped to the object's end).
    pub data: Bytes,
    /// The ETag the server returned, checked against the expected one.
    pub etag: String,
    /// The object's total size.
    pub object_size: u64,
}

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Key, relative to the remote's prefix.
    pub key: String,
    /// ETag, where the server lists it (s3s-fs does not).
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Last-modified, ms since the Unix epoch, where the server lists it.
    pub mtime_ms: Option<u64>,
}

/// A listing: objects and common prefixes ("directories") under a prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Objects, in key order.
    pub objects: Vec<Listed>,
    /// Common prefixes (ending with the delimiter), in order.
    pub prefixes: Vec<String>,
}

/// What silt stores with a new object version as user metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta<'a> {
    /// The upload token (`x-amz-meta-silt-token`): recognises our own version after a crash.
    pub token: Option<&'a str>,
    /// The modification time (`x-amz-meta-mtime`, seconds since the Unix epoch with up to
    /// three decimals, as s3fs and rclone write it), ms since the Unix epoch.
    pub mtime_ms: Option<u64>,
}

impl<'a> Meta<'a> {
    /// No metadata.
    pub const NONE: Meta<'static> = Meta {
        token: None,
        mtime_ms: None,
    };

    /// Only a token.
    pub fn token(token: &'a str) -> Meta<'a> {
        Meta {
            token: Some(token),
            mtime_ms: None,
        }
    }
}

/// An S3-compatible object store. Keys are relative to the configured prefix. Every write
/// can carry a precondition on the version it replaces.
pub trait ObjectStore: Send + Sync {
    /// HeadObject; `None` if there is no such object.
    fn head(&self, key: &str) -> impl Future<Output = Result<Option<ObjectInfo>>> + Send;

    /// A ranged GetObject. With `if_match`, the server is asked for that version and the
    /// ETag it returns is checked too (some servers ignore `If-Match` on GET): another
    /// version is `PreconditionFailed`. A short body is `Transient`, never data.
    fn get_range(
        &self,
        key: &str,
        range: Range<u64>,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<Got>> + Send;

    /// PutObject with `If-Match` / `If-None-Match: *`, storing `meta`. Returns the new ETag.
    fn put(
        &self,
        key: &str,
        data: Bytes,
        precondition: Option<&Precondition>,
        meta: Meta<'_>,
    ) -> impl Future<Output = Result<String>> + Send;

    /// CreateMultipartUpload, storing `meta` with the version it completes. Returns the
    /// upload id.
    fn create_multipart(
        &self,
        key: &str,
        meta: Meta<'_>,
    ) -> impl Future<Output = Result<String>> + Send;

    /// UploadPart. Returns the part's ETag.
    fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        data: Bytes,
    ) -> impl Future<Output = Result<String>> + Send;

    /// UploadPartCopy of `range` of `source_key`, only if it is still `source_etag`
    /// (`x-amz-copy-source-if-match`). Returns the part's ETag.
    fn upload_part_copy(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        source_key: &str,
        source_etag: &str,
        range: Range<u64>,
    ) -> impl Future<Output = Result<String>> + Send;

    /// CompleteMultipartUpload with `If-Match` / `If-None-Match: *`. Returns the new ETag.
    fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        precondition: Option<&Precondition>,
    ) -> impl Future<Output = Result<String>> + Send;

    /// AbortMultipartUpload.
    fn abort(&self, key: &str, upload_id: &str) -> impl Future<Output = Result<()>> + Send;

    /// ListParts (all pages): (part number, ETag), by part number. Parts listed without an
    /// ETag (s3s-fs) are left out: they cannot be reused, so they are uploaded again.
    fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<Vec<(u32, String)>>> + Send;

    /// ListObjectsV2 under `prefix` (all pages), grouping by `delimiter` if given.
    fn list(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> impl Future<Output = Result<Listing>> + Send;

    /// One page of ListObjectsV2 with delimiter `/`: the names under `prefix` after
    /// `start_after`, at most `max_keys` (objects and common prefixes together), and whether
    /// more follow. The default lists everything and cuts the page out of it, for stores
    /// that cannot do better (test wrappers); `silt_s3::S3Remote` asks the server for one
    /// page.
    fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: u32,
    ) -> impl Future<Output = Result<silt_core::RemotePage>> + Send {
        async move {
            let all = self.list(prefix, None).await?;
            let objects: Vec<silt_core::ListedObject> = all
                .objects
                .into_iter()
                .map(|o| silt_core::ListedObject {
                    key: o.key,
                    size: o.size,
                    etag: o.etag,
                    mtime_ms: o.mtime_ms.unwrap_or(0),
                })
                .collect();
            Ok(silt_core::RemotePage::of_sorted(
                &objects,
                prefix,
                start_after,
                max_keys,
            ))
        }
    }

    /// DeleteObject, only if it is still `if_match` when given. Deleting a missing object
    /// succeeds.
    fn delete(&self, key: &str, if_match: Option<&str>) -> impl Future<Output = Result<()>> + Send;

    /// CopyObject (rename = copy + delete), only if the source is still `source_etag` when
    /// given, with `precondition` on the destination. Returns the new ETag.
    fn copy(
        &self,
        source_key: &str,
        source_etag: Option<&str>,
        dest_key: &str,
        precondition: Option<&Precondition>,
    ) -> impl Future<Output = Result<String>> + Send;
}
