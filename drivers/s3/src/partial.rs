//! A partial update of a large object: given its base version, the new size and the dirty
//! byte ranges of a local file, store the new version with the dirty parts uploaded and the
//! unchanged parts copied server-side from the base (UploadPartCopy with
//! `x-amz-copy-source-if-match`): unchanged bytes are never sent again.
//!
//! Parts are `part_size` bytes (at least 5 MiB, raised so that no object needs more than
//! 10 000 parts) except the last. A part is uploaded if it overlaps a dirty range or reaches
//! past the base's end; otherwise it is copied. An object no larger than one part is a single
//! conditional PUT.

use crate::error::{ErrorKind, RemoteError, Result};
use crate::store::{Meta, ObjectStore};
use bytes::Bytes;
use silt_core::Precondition;
use std::ops::Range;

/// Smallest part S3 accepts (except the last).
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// Most parts of one upload.
pub use silt_core::chunks::MAX_PARTS;

/// Where a part's bytes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartSource {
    /// Sent from the local file.
    Upload,
    /// Copied server-side from the base version.
    Copy,
}

/// One part of the new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedPart {
    /// 1-based part number.
    pub number: u32,
    /// Its bytes in the object.
    pub range: Range<u64>,
    /// Upload or copy.
    pub source: PartSource,
}

/// The part size actually used for an object of `size` bytes.
/// (The core's rule, `silt_core::chunks::part_size`, in whole MiB.)
pub fn effective_part_size(size: u64, part_size: u64) -> u64 {
    silt_core::chunks::part_size(size, part_size.max(MIN_PART_SIZE), 1 << 20)
}

/// Plans the parts of a new version of `size` bytes over a base of `base_size` bytes with
/// `dirty` ranges (any order, may overlap).
pub fn plan_parts(
    size: u64,
    base_size: u64,
    dirty: &[Range<u64>],
    part_size: u64,
) -> Vec<PlannedPart> {
    let part = effective_part_size(size, part_size);
    let mut out = Vec::new();
    let mut start = 0;
    let mut number = 1;
    while start < size {
        let end = (start + part).min(size);
        let touched = end > base_size || dirty.iter().any(|d| d.start < end && start < d.end);
        out.push(PlannedPart {
            number,
            range: start..end,
            source: if touched {
                PartSource::Upload
            } else {
                PartSource::Copy
            },
        });
        start = end;
        number += 1;
    }
    out
}

/// The local bytes of the new version.
pub trait LocalBytes: Sync {
    /// Exactly the bytes of `range`.
    fn read(&self, range: Range<u64>) -> std::io::Result<Bytes>;
}

impl LocalBytes for Bytes {
    fn read(&self, range: Range<u64>) -> std::io::Result<Bytes> {
        if range.end > self.len() as u64 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(self.slice(range.start as usize..range.end as usize))
    }
}

#[cfg(unix)]
impl LocalBytes for std::fs::File {
    fn read(&self, range: Range<u64>) -> std::io::Result<Bytes> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        self.read_exact_at(&mut buf, range.start)?;
        Ok(Bytes::from(buf))
    }
}

/// What a partial update did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateStats {
    /// Parts sent from the local file.
    pub parts_uploaded: u32,
    /// Parts copied server-side.
    pub parts_copied: u32,
    /// Bytes sent from the local file.
    pub bytes_uploaded: u64,
    /// Bytes copied server-side.
    pub bytes_copied: u64,
}

/// What to update.
#[derive(Clone, Debug)]
pub struct Update<'a> {
    /// Object key.
    pub key: &'a str,
    /// The base version's ETag (copy source and `If-Match`); `None` for a new object.
    pub base_etag: Option<&'a str>,
    /// The base version's size.
    pub base_size: u64,
    /// The new version's size.
    pub size: u64,
    /// Changed ranges of the local file.
    pub dirty: &'a [Range<u64>],
    /// Requested part size (raised to the limits).
    pub part_size: u64,
    /// Upload token stored as metadata.
    pub token: Option<&'a str>,
    /// Parts in flight at once (at least 1).
    pub parallel: usize,
}

/// Stores the new version conditionally on the base (`If-Match`, or `If-None-Match: *` for a
/// new object). Returns its ETag. On failure the multipart upload is aborted.
pub async fn partial_update<S: ObjectStore, L: LocalBytes>(
    store: &S,
    local: &L,
    u: &Update<'_>,
) -> Result<(String, UpdateStats)> {
    let io = |e: std::io::Error| {
        RemoteError::new(ErrorKind::Permanent, "local read", u.key, e.to_string())
    };
    let precondition = match u.base_etag {
        Some(e) => Precondition::IfMatch(e.to_string()),
        None => Precondition::IfNoneMatch,
    };
    let base_size = if u.base_etag.is_some() {
        u.base_size
    } else {
        0
    };
    let mut stats = UpdateStats::default();
    let meta = Meta {
        token: u.token,
        mtime_ms: None,
    };
    if u.size <= effective_part_size(u.size, u.part_size) {
        let data = local.read(0..u.size).map_err(io)?;
        stats.parts_uploaded = 1;
        stats.bytes_uploaded = u.size;
        let etag = store.put(u.key, data, Some(&precondition), meta).await?;
        return Ok((etag, stats));
    }
    let plan = plan_parts(u.size, base_size, u.dirty, u.part_size);
    let upload_id = store.create_multipart(u.key, meta).await?;
    let result = async {
        let mut parts = Vec::with_capacity(plan.len());
        for batch in plan.chunks(u.parallel.max(1)) {
            let done = futures_util::future::join_all(batch.iter().map(|p| async {
                let etag = match (p.source, u.base_etag) {
                    (PartSource::Copy, Some(base)) => {
                        store
                            .upload_part_copy(
                                u.key,
                                &upload_id,
                                p.number,
                                u.key,
                                base,
                                p.range.clone(),
                            )
                            .await?
                    }
                    _ => {
                        let data = local.read(p.range.clone()).map_err(io)?;
                        store.upload_part(u.key, &upload_id, p.number, data).await?
                    }
                };
                Ok::<_, RemoteError>((p.number, etag))
            }))
            .await;
            for (p, r) in batch.iter().zip(done) {
                parts.push(r?);
                let len = p.range.end - p.range.start;
                match (p.source, u.base_etag) {
                    (PartSource::Copy, Some(_)) => {
                        stats.parts_copied += 1;
                        stats.bytes_copied += len;
                    }
                    _ => {
                        stats.parts_uploaded += 1;
                        stats.bytes_uploaded += len;
                    }
                }
            }
        }
        store
            .complete(u.key, &upload_id, &parts, Some(&precondition))
            .await
    }
    .await;
    match result {
        Ok(etag) => Ok((etag, stats)),
        Err(e) => {
            if let Err(abort) = store.abort(u.key, &upload_id).await {
                tracing::warn!(key = u.key, %abort, "could not abort a failed multipart upload");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MIB: u64 = 1 << 20;

    #[test]
    fn one_small_dirty_range_makes_one_uploaded_part() {
        let size = 1 << 30;
        let dirty = std::ops::Range {
            start: 300 * MIB,
            end: 300 * MIB + 4096,
        };
        let plan = plan_parts(size, size, std::slice::from_ref(&dirty), 8 * MIB);
        assert_eq!(plan.len(), 128);
        let uploaded: Vec<_> = plan
            .iter()
            .filter(|p| p.source == PartSource::Upload)
            .collect();
        assert_eq!(uploaded.len(), 1);
        assert_eq!(uploaded[0].range, (296 * MIB)..(304 * MIB));
        // Parts tile the object, all full-size but the last.
        let mut at = 0;
        for (i, p) in plan.iter().enumerate() {
            assert_eq!(p.number as usize, i + 1);
            assert_eq!(p.range.start, at);
            at = p.range.end;
        }
        assert_eq!(at, size);
    }

    #[test]
    fn growth_past_the_base_is_uploaded_and_sizes_respect_limits() {
        let plan = plan_parts(23 * MIB, 12 * MIB, &[], 5 * MIB);
        let sources: Vec<_> = plan.iter().map(|p| p.source).collect();
        use PartSource::*;
        assert_eq!(sources, vec![Copy, Copy, Upload, Upload, Upload]);
        assert_eq!(effective_part_size(10 * MIB, MIB), 5 * MIB);
        // 100 GiB in at most 10 000 parts.
        let big: u64 = 100 << 30;
        assert!(big.div_ceil(effective_part_size(big, 5 * MIB)) <= MAX_PARTS);
    }
}
