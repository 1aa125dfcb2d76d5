//! The semantics of each operation, as S3 defines them, bent only by the [`Quirks`] the
//! store was given. Faults are applied around these by `perform` and `SharedStore`.
//!
//! [`Quirks`]: crate::Quirks

use crate::effect::Effect;
use crate::object::Object;
use crate::store::{MemStore, Upload};
use bytes::Bytes;
use silt_core::{ListedObject, ObjectInfo, Precondition, RemoteError, RemotePage};
use silt_remote::Meta;
use std::collections::BTreeMap;
use std::ops::Range;

/// Receives the [`Effect`] of a cache write before it takes effect.
pub(crate) type Observer<'o> = dyn FnMut(Effect<'_>) + 'o;

/// True when `p` holds for the current version `cur`.
pub(crate) fn holds(p: Option<&Precondition>, cur: Option<&Object>) -> bool {
    match (p, cur) {
        (None, _) => true,
        (Some(Precondition::IfNoneMatch), None) => true,
        (Some(Precondition::IfMatch(e)), Some(o)) => &o.etag == e,
        _ => false,
    }
}

/// The bytes of a GET: data, the ETag answered with, the object's size.
pub(crate) type Got = (Bytes, String, u64);

impl MemStore {
    pub(crate) fn op_head(&self, key: &str) -> Option<ObjectInfo> {
        self.objects.get(key).map(|o| ObjectInfo {
            etag: o.etag.clone(),
            size: o.data.len() as u64,
            mtime_ms: o.mtime_ms.unwrap_or(o.created_ms),
            token: o.token.clone(),
        })
    }

    /// A ranged GET, clamped to the object. `If-Match` is honoured unless the server
    /// ignores it; the ETag answered is always the current one.
    pub(crate) fn op_get(
        &self,
        key: &str,
        range: Range<u64>,
        if_match: Option<&str>,
    ) -> Result<Got, RemoteError> {
        let o = self.objects.get(key).ok_or(RemoteError::NotFound)?;
        if if_match.is_some_and(|e| e != o.etag) && !self.quirks.ignore_get_if_match {
            return Err(RemoteError::PreconditionFailed);
        }
        let end = range.end.min(o.data.len() as u64);
        let start = range.start.min(end);
        Ok((
            o.data.slice(start as usize..end as usize),
            o.etag.clone(),
            o.data.len() as u64,
        ))
    }

    pub(crate) fn op_put(
        &mut self,
        key: &str,
        data: &Bytes,
        precondition: Option<&Precondition>,
        meta: Meta<'_>,
        now_ms: u64,
        observe: &mut Observer<'_>,
    ) -> Result<String, RemoteError> {
        let enforced = self.quirks.enforces_writes();
        let cur = self.objects.get(key);
        if enforced && !holds(precondition, cur) {
            return Err(RemoteError::PreconditionFailed);
        }
        observe(Effect::Write {
            key,
            previous: cur,
            token: meta.token,
            condition_enforced: enforced,
        });
        self.bytes_received += data.len() as u64;
        let stored = (meta.token.map(str::to_string), meta.mtime_ms);
        Ok(self.store(key, data.clone(), stored, now_ms))
    }

    pub(crate) fn op_create_multipart(&mut self, key: &str, meta: Meta<'_>) -> String {
        self.next += 1;
        let id = format!("mpu-{}", self.next);
        self.uploads.insert(
            id.clone(),
            Upload {
                key: key.to_string(),
                token: meta.token.map(str::to_string),
                mtime_ms: meta.mtime_ms,
                parts: BTreeMap::new(),
            },
        );
        id
    }

    pub(crate) fn op_upload_part(
        &mut self,
        upload_id: &str,
        part: u32,
        data: &Bytes,
    ) -> Result<String, RemoteError> {
        let etag = format!("\"p{}-{}\"", part, self.next);
        self.next += 1;
        let u = self
            .uploads
            .get_mut(upload_id)
            .ok_or(RemoteError::NoSuchUpload)?;
        u.parts.insert(part, (etag.clone(), data.clone()));
        self.bytes_received += data.len() as u64;
        Ok(etag)
    }

    /// UploadPartCopy: the source must be `source_etag` (a missing source fails the same
    /// way) and hold the whole range.
    pub(crate) fn op_upload_part_copy(
        &mut self,
        upload_id: &str,
        part: u32,
        source_key: &str,
        source_etag: &str,
        range: Range<u64>,
    ) -> Result<String, RemoteError> {
        let src = self
            .objects
            .get(source_key)
            .ok_or(RemoteError::PreconditionFailed)?;
        if src.etag != source_etag {
            return Err(RemoteError::PreconditionFailed);
        }
        if range.start > range.end || range.end > src.data.len() as u64 {
            return Err(RemoteError::Permanent("copy range beyond source".into()));
        }
        let data = src.data.slice(range.start as usize..range.end as usize);
        let etag = format!("\"p{}-{}\"", part, self.next);
        self.next += 1;
        let u = self
            .uploads
            .get_mut(upload_id)
            .ok_or(RemoteError::NoSuchUpload)?;
        u.parts.insert(part, (etag.clone(), data));
        Ok(etag)
    }

    /// CompleteMultipartUpload: the upload must be of `key`; the condition is checked
    /// (unless ignored) before the parts, which must exist with the ETags given and, but the
    /// last, be of the minimum size.
    pub(crate) fn op_complete(
        &mut self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        precondition: Option<&Precondition>,
        now_ms: u64,
        observe: &mut Observer<'_>,
    ) -> Result<String, RemoteError> {
        let u = self
            .uploads
            .get(upload_id)
            .filter(|u| u.key == key)
            .ok_or(RemoteError::NoSuchUpload)?;
        let enforced = self.quirks.enforces_complete();
        let cur = self.objects.get(key);
        if enforced && !holds(precondition, cur) {
            return Err(RemoteError::PreconditionFailed);
        }
        let mut body = Vec::new();
        if self.quirks.refuse_part_gaps && (1u32..).zip(parts).any(|(want, (n, _))| *n != want) {
            return Err(RemoteError::Permanent("invalid part order".into()));
        }
        for (i, (n, etag)) in parts.iter().enumerate() {
            let (e, d) = u
                .parts
                .get(n)
                .ok_or_else(|| RemoteError::Permanent(format!("missing part {n}")))?;
            if e != etag {
                return Err(RemoteError::Permanent(format!("part {n} etag mismatch")));
            }
            if i + 1 < parts.len() && (d.len() as u64) < self.quirks.min_part_size {
                observe(Effect::PartTooSmall {
                    key,
                    part: *n,
                    size: d.len() as u64,
                });
                return Err(RemoteError::Permanent("EntityTooSmall".into()));
            }
            body.extend_from_slice(d);
        }
        observe(Effect::Write {
            key,
            previous: cur,
            token: u.token.as_deref(),
            condition_enforced: enforced,
        });
        let stored = (u.token.clone(), u.mtime_ms);
        self.uploads.remove(upload_id);
        Ok(self.store(key, Bytes::from(body), stored, now_ms))
    }

    pub(crate) fn op_abort(&mut self, upload_id: &str) -> Result<(), RemoteError> {
        self.uploads
            .remove(upload_id)
            .map(|_| ())
            .ok_or(RemoteError::NoSuchUpload)
    }

    pub(crate) fn op_list_parts(&self, upload_id: &str) -> Result<Vec<(u32, String)>, RemoteError> {
        let u = self
            .uploads
            .get(upload_id)
            .ok_or(RemoteError::NoSuchUpload)?;
        Ok(u.parts.iter().map(|(n, (e, _))| (*n, e.clone())).collect())
    }

    /// Every object under `prefix`, as ListObjectsV2 lists it, in key order.
    pub(crate) fn listed_under(&self, prefix: &str) -> Vec<ListedObject> {
        self.objects
            .0
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, o)| ListedObject {
                key: k.clone(),
                size: o.data.len() as u64,
                etag: Some(o.etag.clone()),
                mtime_ms: o.created_ms,
            })
            .collect()
    }

    /// One page of ListObjectsV2 with delimiter `/`.
    pub(crate) fn op_list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: u32,
    ) -> RemotePage {
        RemotePage::of_sorted(&self.listed_under(prefix), prefix, start_after, max_keys)
    }

    /// DELETE: a missing object is `NotFound` (the object-store trait's adapter treats
    /// that as done, as S3 does).
    pub(crate) fn op_delete(
        &mut self,
        key: &str,
        if_match: Option<&str>,
        observe: &mut Observer<'_>,
    ) -> Result<(), RemoteError> {
        let enforced = self.quirks.enforces_writes();
        let cur = self.objects.get(key).ok_or(RemoteError::NotFound)?;
        if enforced && if_match.is_some_and(|e| cur.etag != e) {
            return Err(RemoteError::PreconditionFailed);
        }
        observe(Effect::Delete {
            key,
            previous: cur,
            if_match,
            condition_enforced: enforced,
        });
        self.objects.0.remove(key);
        Ok(())
    }

    /// CopyObject: a new version of `dest_key` with the source's content and token. The
    /// source must exist (else `NotFound`) and be `source_etag` when given; the
    /// destination's condition is a write condition.
    pub(crate) fn op_copy(
        &mut self,
        source_key: &str,
        source_etag: Option<&str>,
        dest_key: &str,
        precondition: Option<&Precondition>,
        now_ms: u64,
        observe: &mut Observer<'_>,
    ) -> Result<String, RemoteError> {
        let src = self.objects.get(source_key).ok_or(RemoteError::NotFound)?;
        if source_etag.is_some_and(|e| e != src.etag) {
            return Err(RemoteError::PreconditionFailed);
        }
        let enforced = self.quirks.enforces_writes();
        let cur = self.objects.get(dest_key);
        if enforced && !holds(precondition, cur) {
            return Err(RemoteError::PreconditionFailed);
        }
        observe(Effect::Write {
            key: dest_key,
            previous: cur,
            token: src.token.as_deref(),
            condition_enforced: enforced,
        });
        let (data, stored) = (src.data.clone(), (src.token.clone(), src.mtime_ms));
        Ok(self.store(dest_key, data, stored, now_ms))
    }
}
