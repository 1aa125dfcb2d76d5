//! The simulated object store: objects with ETags and tokens, every version ever stored (for
//! the checker), multipart uploads, quirks (ignored preconditions) and an outside writer.
//! It also checks invariant 4: no write by the cache replaces a version it did not base its
//! write on; and that multipart parts but the last are of the minimum size (a real server
//! would refuse the upload for good: invariant 5). It records what it finds in
//! [`S3::violations`] for the world to report.

use crate::checker::{Finding, Invariant};
use bytes::Bytes;
use silt_core::{JournalRecord, ObjectInfo, Precondition, RemoteError, RemoteOk, RemoteOp};
use std::collections::BTreeMap;

/// A stored object.
#[derive(Clone, Debug)]
pub struct Object {
    /// ETag.
    pub etag: String,
    /// Content.
    pub data: Bytes,
    /// The cache's upload token, if the cache stored it.
    pub token: Option<String>,
    /// Simulated time it was stored.
    pub created_ms: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct Upload {
    key: String,
    token: String,
    parts: BTreeMap<u32, (String, Bytes)>,
}

/// The server.
#[derive(Debug, Default)]
pub struct S3 {
    /// Current objects.
    pub objects: BTreeMap<String, Object>,
    /// Every version ever stored, by ETag.
    pub versions: BTreeMap<String, Bytes>,
    pub(crate) uploads: BTreeMap<String, Upload>,
    pub(crate) next: u64,
    /// Ignores `If-Match` on GET.
    pub ignore_get_if_match: bool,
    /// Ignores conditions on Complete.
    pub ignore_complete_condition: bool,
    /// Ignores conditions on PUT and DELETE too.
    pub ignore_write_conditions: bool,
    /// Smallest part but the last.
    pub min_part_size: u64,
    /// Time of the cache's last HEAD per key (the window a HEAD-compare fallback leaves).
    pub(crate) last_head_ms: BTreeMap<String, u64>,
    /// Invariant violations seen, for the world to record.
    pub violations: Vec<Finding>,
    /// Bytes the cache sent in PUT and UploadPart bodies.
    pub bytes_uploaded: u64,
}

fn holds(p: Option<&Precondition>, cur: Option<&Object>) -> bool {
    match (p, cur) {
        (None, _) => true,
        (Some(Precondition::IfNoneMatch), None) => true,
        (Some(Precondition::IfMatch(e)), Some(o)) => &o.etag == e,
        _ => false,
    }
}

impl S3 {
    fn etag(&mut self) -> String {
        self.next += 1;
        format!("\"v{}\"", self.next)
    }

    /// Stores `data` at `key` as someone other than the cache. Returns the ETag.
    pub fn outside_put(&mut self, key: &str, data: Bytes, now_ms: u64) -> String {
        self.store(key, data, None, now_ms)
    }

    /// Stores a new version of `key`, keeps it in the version history, returns its ETag.
    fn store(&mut self, key: &str, data: Bytes, token: Option<String>, now_ms: u64) -> String {
        let etag = self.etag();
        self.versions.insert(etag.clone(), data.clone());
        let object = Object {
            etag: etag.clone(),
            data,
            token,
            created_ms: now_ms,
        };
        self.objects.insert(key.to_string(), object);
        etag
    }

    /// Checks a replacement by the cache against what it meant to replace (`intent`, from
    /// its journal record) before it happens.
    fn check_replace(
        &mut self,
        key: &str,
        intent: Option<&Precondition>,
        token: &str,
        fallback: bool,
        now_ms: u64,
    ) {
        let cur = self.objects.get(key);
        if holds(intent, cur) || cur.and_then(|o| o.token.as_deref()) == Some(token) {
            return;
        }
        let created = cur.map_or(0, |o| o.created_ms);
        let head = self.last_head_ms.get(key).copied().unwrap_or(0);
        if fallback && created >= head {
            // Inside the documented HEAD-compare window of a server without conditions.
            return;
        }
        self.violations.push((
            Invariant::ConditionalWrites,
            format!(
                "cache write to {key:?} (at {now_ms} ms) replaced version {:?}, but was based on {intent:?}",
                cur.map(|o| o.etag.clone())
            ),
        ));
    }

    /// Executes `op` at `now_ms`. `intent` finds the journal record of an upload token.
    pub fn perform(
        &mut self,
        op: &RemoteOp,
        now_ms: u64,
        intent: &dyn Fn(&str) -> Option<JournalRecord>,
    ) -> Result<RemoteOk, RemoteError> {
        match op {
            RemoteOp::Head { key } => {
                self.last_head_ms.insert(key.clone(), now_ms);
                Ok(RemoteOk::Head(self.objects.get(key).map(|o| ObjectInfo {
                    etag: o.etag.clone(),
                    size: o.data.len() as u64,
                    mtime_ms: o.created_ms,
                    token: o.token.clone(),
                })))
            }
            RemoteOp::Get {
                key,
                range,
                if_match,
            } => {
                let o = self.objects.get(key).ok_or(RemoteError::NotFound)?;
                if &o.etag != if_match && !self.ignore_get_if_match {
                    return Err(RemoteError::PreconditionFailed);
                }
                let end = range.end.min(o.data.len() as u64);
                let start = range.start.min(end);
                Ok(RemoteOk::Got {
                    data: o.data.slice(start as usize..end as usize),
                    etag: o.etag.clone(),
                    object_size: o.data.len() as u64,
                })
            }
            RemoteOp::Put {
                key,
                data,
                precondition,
                token,
            } => {
                if !self.ignore_write_conditions
                    && !holds(precondition.as_ref(), self.objects.get(key))
                {
                    return Err(RemoteError::PreconditionFailed);
                }
                let rec = intent(token);
                let p = rec.as_ref().map(|r| r.precondition.clone());
                self.check_replace(key, p.as_ref(), token, self.ignore_write_conditions, now_ms);
                self.bytes_uploaded += data.len() as u64;
                let etag = self.store(key, data.clone(), Some(token.clone()), now_ms);
                Ok(RemoteOk::Stored { etag })
            }
            RemoteOp::CreateMultipart { key, token } => {
                self.next += 1;
                let id = format!("mpu-{}", self.next);
                self.uploads.insert(
                    id.clone(),
                    Upload {
                        key: key.clone(),
                        token: token.clone(),
                        parts: BTreeMap::new(),
                    },
                );
                Ok(RemoteOk::Created { upload_id: id })
            }
            RemoteOp::UploadPart {
                upload_id,
                part,
                data,
                ..
            } => {
                let etag = format!("\"p{}-{}\"", part, self.next);
                self.next += 1;
                let u = self
                    .uploads
                    .get_mut(upload_id)
                    .ok_or(RemoteError::NoSuchUpload)?;
                u.parts.insert(*part, (etag.clone(), data.clone()));
                self.bytes_uploaded += data.len() as u64;
                Ok(RemoteOk::Part { etag })
            }
            RemoteOp::UploadPartCopy {
                upload_id,
                part,
                source_key,
                source_etag,
                range,
                ..
            } => {
                let src = self
                    .objects
                    .get(source_key)
                    .ok_or(RemoteError::PreconditionFailed)?;
                if &src.etag != source_etag {
                    return Err(RemoteError::PreconditionFailed);
                }
                if range.end > src.data.len() as u64 {
                    return Err(RemoteError::Permanent("copy range beyond source".into()));
                }
                let data = src.data.slice(range.start as usize..range.end as usize);
                let etag = format!("\"p{}-{}\"", part, self.next);
                self.next += 1;
                let u = self
                    .uploads
                    .get_mut(upload_id)
                    .ok_or(RemoteError::NoSuchUpload)?;
                u.parts.insert(*part, (etag.clone(), data));
                Ok(RemoteOk::Part { etag })
            }
            RemoteOp::Complete {
                key,
                upload_id,
                parts,
                precondition,
            } => {
                let u = self
                    .uploads
                    .get(upload_id)
                    .filter(|u| &u.key == key)
                    .ok_or(RemoteError::NoSuchUpload)?
                    .clone();
                let ignore = self.ignore_complete_condition || self.ignore_write_conditions;
                if !ignore && !holds(precondition.as_ref(), self.objects.get(key)) {
                    return Err(RemoteError::PreconditionFailed);
                }
                let mut body = Vec::new();
                for (i, (n, etag)) in parts.iter().enumerate() {
                    let (e, d) = u
                        .parts
                        .get(n)
                        .ok_or_else(|| RemoteError::Permanent(format!("missing part {n}")))?;
                    if e != etag {
                        return Err(RemoteError::Permanent(format!("part {n} etag mismatch")));
                    }
                    if i + 1 < parts.len() && (d.len() as u64) < self.min_part_size {
                        // A real server refuses to complete it, every time: the upload could
                        // never complete.
                        self.violations.push((
                            Invariant::Liveness,
                            format!(
                                "multipart part {n} of {key:?} is {} bytes, below the minimum",
                                d.len()
                            ),
                        ));
                        return Err(RemoteError::Permanent("EntityTooSmall".into()));
                    }
                    body.extend_from_slice(d);
                }
                let rec = intent(&u.token);
                let p = rec.as_ref().map(|r| r.precondition.clone());
                self.check_replace(key, p.as_ref(), &u.token, ignore, now_ms);
                self.uploads.remove(upload_id);
                let etag = self.store(key, Bytes::from(body), Some(u.token.clone()), now_ms);
                Ok(RemoteOk::Stored { etag })
            }
            RemoteOp::Abort { upload_id, .. } => self
                .uploads
                .remove(upload_id)
                .map(|_| RemoteOk::Done)
                .ok_or(RemoteError::NoSuchUpload),
            RemoteOp::List {
                prefix,
                start_after,
                max_keys,
            } => {
                let objects: Vec<silt_core::ListedObject> = self
                    .objects
                    .range(prefix.clone()..)
                    .map(|(k, o)| silt_core::ListedObject {
                        key: k.clone(),
                        size: o.data.len() as u64,
                        etag: Some(o.etag.clone()),
                        mtime_ms: o.created_ms,
                    })
                    .collect();
                Ok(RemoteOk::Listed(silt_core::RemotePage::of_sorted(
                    &objects,
                    prefix,
                    start_after.as_deref(),
                    *max_keys,
                )))
            }
            RemoteOp::ListParts { upload_id, .. } => {
                let u = self
                    .uploads
                    .get(upload_id)
                    .ok_or(RemoteError::NoSuchUpload)?;
                Ok(RemoteOk::Parts(
                    u.parts.iter().map(|(n, (e, _))| (*n, e.clone())).collect(),
                ))
            }
            RemoteOp::Delete { key, if_match } => {
                let cur = self.objects.get(key);
                if cur.is_none() {
                    return Err(RemoteError::NotFound);
                }
                if !self.ignore_write_conditions
                    && if_match
                        .as_ref()
                        .is_some_and(|e| cur.map(|o| &o.etag) != Some(e))
                {
                    return Err(RemoteError::PreconditionFailed);
                }
                let intent = if_match.clone().map(Precondition::IfMatch);
                self.check_replace(
                    key,
                    intent.as_ref(),
                    "",
                    self.ignore_write_conditions,
                    now_ms,
                );
                self.objects.remove(key);
                Ok(RemoteOk::Done)
            }
        }
    }

    /// True when the server holds incomplete multipart uploads.
    pub fn open_uploads(&self) -> usize {
        self.uploads.len()
    }
}
