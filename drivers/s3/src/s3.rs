//! The aws-sdk-s3 implementation of [`ObjectStore`].

use crate::compat::RenameRoot;
use crate::config::RemoteConfig;
use crate::error::{classify, ErrorKind, RemoteError, Result};
use crate::mtime;
use crate::probe::Capabilities;
use crate::store::{Got, Listed, Listing, Meta, ObjectStore};
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use silt_core::{ObjectInfo, Precondition};
use std::collections::HashSet;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

/// Metadata key of the upload token (`x-amz-meta-silt-token`).
pub const TOKEN_METADATA: &str = "silt-token";

/// An S3 bucket (and prefix) reached through aws-sdk-s3.
#[derive(Debug)]
pub struct S3Remote {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    list_page_size: Option<i32>,
    caps: RwLock<Capabilities>,
    /// The capabilities are remembered, not yet confirmed by a probe: every condition is
    /// also checked with a HEAD.
    unconfirmed: AtomicBool,
    /// Copy sources already checked by HEAD for a multipart upload (upload id, source key,
    /// ETag), where the server ignores `x-amz-copy-source-if-match`: the later part copies of
    /// the same upload from the same version skip the HEAD. Forgotten when the upload is
    /// completed or aborted.
    copy_sources_checked: Mutex<HashSet<(String, String, String)>>,
}

impl S3Remote {
    /// Builds the client: credentials from `config.credentials`, else the environment, the
    /// profile and credential processes; HTTPS with rustls (ring); path style for custom
    /// endpoints. Assumes the server enforces conditional writes until
    /// [`S3Remote::set_capabilities`] says otherwise (see [`crate::probe`]).
    pub async fn connect(config: &RemoteConfig) -> S3Remote {
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        let mut http = aws_smithy_http_client::Builder::new();
        if config.no_connection_reuse {
            http = http.pool_max_idle_per_host(0);
        }
        let http = http
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
        if let Some(profile) = &config.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some((ak, sk)) = &config.credentials {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                ak.clone(),
                sk.clone(),
                None,
                None,
                "silt-static",
            ));
        }
        let shared = loader.load().await;
        let mut b = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.uses_path_style())
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(if config.validate_response_checksums {
                ResponseChecksumValidation::WhenSupported
            } else {
                ResponseChecksumValidation::WhenRequired
            })
            .retry_config(
                aws_sdk_s3::config::retry::RetryConfig::standard()
                    .with_max_attempts(config.max_attempts.max(1))
                    .with_initial_backoff(config.initial_backoff),
            )
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(config.attempt_timeout)
                    .build(),
            );
        if shared.region().is_none() {
            b = b.region(Region::new("us-east-1"));
        }
        if let Some(endpoint) = &config.endpoint {
            b = b.endpoint_url(endpoint);
        }
        S3Remote::with_client(
            aws_sdk_s3::Client::from_conf(b.build()),
            config.bucket.clone(),
            config.prefix.clone(),
            config.list_page_size,
        )
    }

    /// A remote over `client` that assumes every capability until told otherwise.
    fn with_client(
        client: aws_sdk_s3::Client,
        bucket: String,
        prefix: String,
        list_page_size: Option<i32>,
    ) -> S3Remote {
        S3Remote {
            client,
            bucket,
            prefix,
            list_page_size,
            caps: RwLock::new(Capabilities::assumed()),
            unconfirmed: AtomicBool::new(false),
            copy_sources_checked: Mutex::new(HashSet::new()),
        }
    }

    /// What the server enforces; where it does not, conditional writes are checked with a
    /// HEAD just before them (racy, reported by `silt status`).
    pub fn set_capabilities(&self, caps: Capabilities) {
        *self.caps.write().unwrap_or_else(|e| e.into_inner()) = caps;
    }

    /// A second handle on the same client, bucket and prefix that assumes every capability
    /// (no HEAD fallback), so that a probe through it gets the server's own answers whatever
    /// this one has been told.
    pub fn for_probe(&self) -> S3Remote {
        S3Remote::with_client(
            self.client.clone(),
            self.bucket.clone(),
            self.prefix.clone(),
            self.list_page_size,
        )
    }

    /// Marks the capabilities as remembered from an earlier probe and not yet confirmed
    /// (`true`), or confirmed (`false`). While unconfirmed, every condition is checked with
    /// a HEAD just before the write *and* sent to the server where the capabilities say it
    /// enforces it, so that a server that stopped enforcing one is never trusted blindly.
    pub fn set_unconfirmed(&self, unconfirmed: bool) {
        self.unconfirmed.store(unconfirmed, Ordering::SeqCst);
    }

    /// Whether the capabilities await confirmation (see [`S3Remote::set_unconfirmed`]).
    pub fn unconfirmed(&self) -> bool {
        self.unconfirmed.load(Ordering::SeqCst)
    }

    /// Conditions to check with a HEAD: those not enforced, or all while unconfirmed.
    fn copy_checked(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String, String)>> {
        // Each change is one insert or retain: a poisoned set is still consistent.
        self.copy_sources_checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets the copy sources checked for `upload_id` (completed or aborted).
    fn forget_copy_checks(&self, upload_id: &str) {
        self.copy_checked().retain(|(id, _, _)| id != upload_id);
    }

    fn checked(&self) -> Capabilities {
        if self.unconfirmed() {
            Capabilities::none()
        } else {
            self.capabilities()
        }
    }

    /// The capabilities in effect.
    pub fn capabilities(&self) -> Capabilities {
        *self.caps.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The SDK client (for tests and tools).
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// `bucket/key`, percent-encoded, for `x-amz-copy-source`.
    fn copy_source(&self, key: &str) -> String {
        let mut out = String::new();
        for b in format!("{}/{}", self.bucket, self.full(key)).bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// The HEAD-compare fallback for servers that ignore a precondition: checks it against
    /// the current version just before the write.
    async fn check_precondition(
        &self,
        op: &'static str,
        key: &str,
        p: &Precondition,
    ) -> Result<()> {
        let current = self.head(key).await?;
        let holds = match (p, &current) {
            (Precondition::IfNoneMatch, None) => true,
            (Precondition::IfMatch(etag), Some(info)) => same_etag(etag, &info.etag),
            _ => false,
        };
        if holds {
            Ok(())
        } else {
            Err(RemoteError::new(
                ErrorKind::PreconditionFailed,
                op,
                key,
                "precondition checked by HEAD before the write (server does not enforce it)",
            ))
        }
    }
}

/// ETags compare without their quotes.
pub(crate) fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

fn sdk_err<E>(
    op: &'static str,
    key: &str,
    e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> RemoteError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let (kind, message) = match &e {
        SdkError::ServiceError(se) => {
            let code = se.err().code();
            let message = match code {
                Some(code) => format!("{code}: {}", se.err().message().unwrap_or("")),
                // No S3 error code: a response the SDK could not read.
                None => format!("unreadable response: {}", DisplayErrorContext(se.err())),
            };
            (classify(status, code), message)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (ErrorKind::Transient, DisplayErrorContext(&e).to_string())
        }
        _ => (ErrorKind::Permanent, DisplayErrorContext(&e).to_string()),
    };
    RemoteError {
        kind,
        op,
        key: key.to_string(),
        status,
        message,
    }
}

/// The ETag of an object with no bytes (the MD5 of nothing), as S3 gives it.
const EMPTY_OBJECT_ETAG: &str = "\"d41d8cd98f00b204e9800998ecf8427e\"";

fn etag_of(op: &'static str, key: &str, etag: Option<&str>) -> Result<String> {
    etag.map(str::to_string).ok_or_else(|| {
        RemoteError::new(ErrorKind::Permanent, op, key, "the server returned no ETag")
    })
}

fn part_number(op: &'static str, key: &str, part: u32) -> Result<i32> {
    i32::try_from(part)
        .map_err(|_| RemoteError::new(ErrorKind::Permanent, op, key, "part number out of range"))
}

impl ObjectStore for S3Remote {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let out = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = sdk_err("HeadObject", key, e);
                return match err.kind {
                    ErrorKind::NotFound => Ok(None),
                    _ => Err(err),
                };
            }
        };
        Ok(Some(ObjectInfo {
            etag: etag_of("HeadObject", key, out.e_tag())?,
            size: out.content_length().unwrap_or(0).max(0) as u64,
            mtime_ms: out
                .metadata()
                .and_then(|m| m.get(mtime::MTIME_METADATA))
                .and_then(|v| mtime::parse(v))
                .unwrap_or_else(|| {
                    out.last_modified()
                        .and_then(|t| t.to_millis().ok())
                        .unwrap_or(0)
                        .max(0) as u64
                }),
            token: out.metadata().and_then(|m| m.get(TOKEN_METADATA)).cloned(),
        }))
    }

    async fn get_range(&self, key: &str, range: Range<u64>, if_match: Option<&str>) -> Result<Got> {
        const OP: &str = "GetObject";
        if range.is_empty() {
            return Err(RemoteError::new(
                ErrorKind::Permanent,
                OP,
                key,
                "empty range",
            ));
        }
        let mut req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .range(format!("bytes={}-{}", range.start, range.end - 1));
        if let Some(etag) = if_match {
            req = req.if_match(etag);
        }
        let out = match req.send().await {
            Ok(out) => out,
            // 416: the range starts at or past the end (the object shrank).
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(416) => {
                return Err(RemoteError {
                    status: Some(416),
                    ..RemoteError::new(
                        ErrorKind::PreconditionFailed,
                        OP,
                        key,
                        "range not satisfiable: the object is shorter",
                    )
                })
            }
            Err(e) => return Err(sdk_err(OP, key, e)),
        };
        let etag = etag_of(OP, key, out.e_tag())?;
        if let Some(want) = if_match {
            if !same_etag(want, &etag) {
                return Err(RemoteError::new(
                    ErrorKind::PreconditionFailed,
                    OP,
                    key,
                    format!("asked for version {want}, the server sent {etag}"),
                ));
            }
        }
        let object_size = match out.content_range().and_then(|r| r.rsplit('/').next()) {
            Some(total) => total.parse().map_err(|_| {
                RemoteError::new(ErrorKind::Transient, OP, key, "unreadable Content-Range")
            })?,
            // A server that ignores Range sends the whole object.
            None => out.content_length().unwrap_or(0).max(0) as u64,
        };
        let want_len = range.end.min(object_size).saturating_sub(range.start);
        let whole = out.content_range().is_none();
        let body = out.body.collect().await.map_err(|e| {
            RemoteError::new(
                ErrorKind::Transient,
                OP,
                key,
                format!("body: {}", DisplayErrorContext(&e)),
            )
        })?;
        let mut data = body.into_bytes();
        if whole && data.len() as u64 == object_size {
            data = data
                .slice(range.start.min(object_size) as usize..range.end.min(object_size) as usize);
        }
        if data.len() as u64 != want_len {
            return Err(RemoteError::new(
                ErrorKind::Transient,
                OP,
                key,
                format!("short body: {} of {want_len} bytes", data.len()),
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
        const OP: &str = "PutObject";
        let directory_object = data.is_empty() && key.ends_with('/');
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .body(ByteStream::from(data));
        if let Some(t) = meta.token {
            req = req.metadata(TOKEN_METADATA, t);
        }
        if let Some(ms) = meta.mtime_ms {
            req = req.metadata(mtime::MTIME_METADATA, mtime::format(ms));
        }
        if let Some(p) = precondition {
            if !self.checked().conditional_put {
                self.check_precondition(OP, key, p).await?;
            }
            req = match p {
                Precondition::IfMatch(etag) => req.if_match(etag),
                Precondition::IfNoneMatch => req.if_none_match("*"),
            };
        }
        let out = req.send().await.map_err(|e| sdk_err(OP, key, e))?;
        match out.e_tag() {
            // A directory object stored as a folder by servers that keep objects as files,
            // answered without an ETag (s3s-fs): the ETag S3 gives every empty object.
            None if directory_object => Ok(EMPTY_OBJECT_ETAG.to_string()),
            etag => etag_of(OP, key, etag),
        }
    }

    async fn create_multipart(&self, key: &str, meta: Meta<'_>) -> Result<String> {
        const OP: &str = "CreateMultipartUpload";
        let mut req = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(self.full(key));
        if let Some(t) = meta.token {
            req = req.metadata(TOKEN_METADATA, t);
        }
        if let Some(ms) = meta.mtime_ms {
            req = req.metadata(mtime::MTIME_METADATA, mtime::format(ms));
        }
        let out = req.send().await.map_err(|e| sdk_err(OP, key, e))?;
        out.upload_id()
            .map(str::to_string)
            .ok_or_else(|| RemoteError::new(ErrorKind::Permanent, OP, key, "no upload id"))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        data: Bytes,
    ) -> Result<String> {
        const OP: &str = "UploadPart";
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(self.full(key))
            .upload_id(upload_id)
            .part_number(part_number(OP, key, part)?)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| sdk_err(OP, key, e))?;
        etag_of(OP, key, out.e_tag())
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
        const OP: &str = "UploadPartCopy";
        let seen = (
            upload_id.to_string(),
            source_key.to_string(),
            source_etag.to_string(),
        );
        if !self.checked().conditional_copy_source && !self.copy_checked().contains(&seen) {
            // The complete's If-Match on the base still guards the result; this catches a
            // changed source before a whole upload is built on it, once per upload (a HEAD
            // per part doubled the requests of a partial update and closed no window the
            // complete leaves open).
            match self.head(source_key).await? {
                Some(info) if same_etag(source_etag, &info.etag) => {
                    self.copy_checked().insert(seen);
                }
                _ => {
                    return Err(RemoteError::new(
                        ErrorKind::PreconditionFailed,
                        OP,
                        key,
                        "the copy source is not the expected version (checked by HEAD)",
                    ))
                }
            }
        }
        let out = self
            .client
            .upload_part_copy()
            .bucket(&self.bucket)
            .key(self.full(key))
            .upload_id(upload_id)
            .part_number(part_number(OP, key, part)?)
            .copy_source(self.copy_source(source_key))
            .copy_source_range(format!(
                "bytes={}-{}",
                range.start,
                range.end.saturating_sub(1)
            ))
            .copy_source_if_match(source_etag)
            .send()
            .await
            .map_err(|e| sdk_err(OP, key, e))?;
        etag_of(OP, key, out.copy_part_result().and_then(|r| r.e_tag()))
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        precondition: Option<&Precondition>,
    ) -> Result<String> {
        const OP: &str = "CompleteMultipartUpload";
        self.forget_copy_checks(upload_id);
        let mut completed = Vec::with_capacity(parts.len());
        for (n, etag) in parts {
            completed.push(
                CompletedPart::builder()
                    .part_number(part_number(OP, key, *n)?)
                    .e_tag(etag)
                    .build(),
            );
        }
        let mut req = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(self.full(key))
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            );
        if let Some(p) = precondition {
            if !self.checked().conditional_complete {
                self.check_precondition(OP, key, p).await?;
            }
            req = match p {
                Precondition::IfMatch(etag) => req.if_match(etag),
                Precondition::IfNoneMatch => req.if_none_match("*"),
            };
        }
        let out = req
            .customize()
            .interceptor(RenameRoot {
                from: "CompleteMultipartUploadResponse",
                to: "CompleteMultipartUploadResult",
            })
            .send()
            .await
            .map_err(|e| sdk_err(OP, key, e))?;
        etag_of(OP, key, out.e_tag())
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Result<()> {
        const OP: &str = "AbortMultipartUpload";
        self.forget_copy_checks(upload_id);
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(self.full(key))
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| sdk_err(OP, key, e))?;
        Ok(())
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<(u32, String)>> {
        const OP: &str = "ListParts";
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(self.full(key))
                .upload_id(upload_id)
                .set_part_number_marker(marker.clone())
                .customize()
                .interceptor(RenameRoot {
                    from: "ListPartsResponse",
                    to: "ListPartsResult",
                })
                .send()
                .await
                .map_err(|e| sdk_err(OP, key, e))?;
            for p in page.parts() {
                if let (Some(n), Some(etag)) = (p.part_number(), p.e_tag()) {
                    out.push((n.max(0) as u32, etag.to_string()));
                }
            }
            match (page.is_truncated(), page.next_part_number_marker()) {
                (Some(true), Some(next)) if Some(next) != marker.as_deref() => {
                    marker = Some(next.to_string())
                }
                _ => {
                    out.sort_unstable();
                    out.dedup_by_key(|p| p.0);
                    return Ok(out);
                }
            }
        }
    }

    async fn list(&self, prefix: &str, delimiter: Option<&str>) -> Result<Listing> {
        const OP: &str = "ListObjectsV2";
        let mut listing = Listing::default();
        let mut token: Option<String> = None;
        let strip = |k: &str| {
            k.strip_prefix(self.prefix.as_str())
                .unwrap_or(k)
                .to_string()
        };
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(self.full(prefix))
                .set_delimiter(delimiter.map(str::to_string))
                .set_max_keys(self.list_page_size)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_err(OP, prefix, e))?;
            for o in page.contents() {
                listing.objects.push(Listed {
                    key: strip(o.key().unwrap_or_default()),
                    etag: o.e_tag().map(str::to_string),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    mtime_ms: o
                        .last_modified()
                        .and_then(|t| u64::try_from(t.to_millis().ok()?).ok()),
                });
            }
            for p in page.common_prefixes() {
                if let Some(p) = p.prefix() {
                    listing.prefixes.push(strip(p));
                }
            }
            match (page.is_truncated(), page.next_continuation_token()) {
                (Some(true), Some(next)) => token = Some(next.to_string()),
                _ => return Ok(listing),
            }
        }
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: u32,
    ) -> Result<silt_core::RemotePage> {
        const OP: &str = "ListObjectsV2";
        let strip = |k: &str| {
            k.strip_prefix(self.prefix.as_str())
                .unwrap_or(k)
                .to_string()
        };
        let page = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full(prefix))
            .delimiter("/")
            .set_start_after(start_after.map(|a| self.full(a)))
            .max_keys(i32::try_from(max_keys).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_err(OP, prefix, e))?;
        let objects = page
            .contents()
            .iter()
            .map(|o| silt_core::ListedObject {
                key: strip(o.key().unwrap_or_default()),
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().map(str::to_string),
                mtime_ms: o
                    .last_modified()
                    .and_then(|t| u64::try_from(t.to_millis().ok()?).ok())
                    .unwrap_or(0),
            })
            .collect();
        let prefixes = page
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix().map(strip))
            .collect();
        Ok(silt_core::RemotePage {
            objects,
            prefixes,
            truncated: page.is_truncated().unwrap_or(false),
        })
    }

    async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<()> {
        const OP: &str = "DeleteObject";
        let mut req = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full(key));
        if let Some(etag) = if_match {
            if !self.checked().conditional_delete {
                match self.head(key).await? {
                    None => return Ok(()),
                    Some(info) if same_etag(etag, &info.etag) => {}
                    Some(_) => {
                        return Err(RemoteError::new(
                            ErrorKind::PreconditionFailed,
                            OP,
                            key,
                            "another version is there (checked by HEAD)",
                        ))
                    }
                }
            }
            // Not sent where the server does not enforce it: some answer 501 to it.
            if self.capabilities().conditional_delete {
                req = req.if_match(etag);
            }
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = sdk_err(OP, key, e);
                if err.kind == ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn copy(
        &self,
        source_key: &str,
        source_etag: Option<&str>,
        dest_key: &str,
        precondition: Option<&Precondition>,
    ) -> Result<String> {
        const OP: &str = "CopyObject";
        let mut req = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(self.full(dest_key))
            .copy_source(self.copy_source(source_key));
        if let Some(etag) = source_etag {
            // Not every server enforces x-amz-copy-source-if-match on CopyObject (moto does
            // not): check by HEAD as well.
            match self.head(source_key).await? {
                Some(info) if same_etag(etag, &info.etag) => {}
                _ => {
                    return Err(RemoteError::new(
                        ErrorKind::PreconditionFailed,
                        OP,
                        source_key,
                        "the copy source is not the expected version",
                    ))
                }
            }
            req = req.copy_source_if_match(etag);
        }
        if let Some(p) = precondition {
            // Conditional CopyObject is newer than conditional PUT: always check by HEAD too.
            self.check_precondition(OP, dest_key, p).await?;
            req = match p {
                Precondition::IfMatch(etag) => req.if_match(etag),
                Precondition::IfNoneMatch => req.if_none_match("*"),
            };
        }
        let out = req.send().await.map_err(|e| sdk_err(OP, dest_key, e))?;
        etag_of(
            OP,
            dest_key,
            out.copy_object_result().and_then(|r| r.e_tag()),
        )
    }
}
