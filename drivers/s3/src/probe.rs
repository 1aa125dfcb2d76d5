//! The capability probe: does this server enforce conditional writes, and does it accept a
//! CompleteMultipartUpload whose part numbers have gaps? Run at mount, before
//! [`crate::S3Remote::set_capabilities`], unless a recent answer is remembered in the cache
//! directory (then in the background: [`crate::remembered`]). Where a condition is not
//! enforced, the remote checks it with a HEAD just before the write (racy: another writer
//! can slip in between), and `silt status` reports it. Where gaps are accepted, the core
//! puts a run of unchanged parts in one UploadPartCopy ([`Capabilities::apply_to`]).

use crate::error::{ErrorKind, Result};
use crate::store::{Meta, ObjectStore};
use bytes::Bytes;
use silt_core::Precondition;

/// What the server enforces, and what it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// `If-Match` and `If-None-Match: *` on PutObject.
    pub conditional_put: bool,
    /// `If-Match` on CompleteMultipartUpload.
    pub conditional_complete: bool,
    /// `If-Match` on DeleteObject.
    pub conditional_delete: bool,
    /// `x-amz-copy-source-if-match` on UploadPartCopy.
    pub conditional_copy_source: bool,
    /// CompleteMultipartUpload accepts part numbers with gaps (parts 1 and 3, say): S3 and
    /// moto do, s3s-fs refuses them ("invalid part order"). Not a condition: it decides
    /// whether the core may put unchanged parts in a row in one copy
    /// (`CoreConfig::coalesce_copies`), which leaves such gaps.
    pub part_number_gaps: bool,
}

impl Capabilities {
    /// Everything enforced: what is assumed before a probe. Gaps in part numbers are not
    /// assumed accepted (the safe side: without them the core copies part by part).
    pub fn assumed() -> Capabilities {
        Capabilities {
            conditional_put: true,
            conditional_complete: true,
            conditional_delete: true,
            conditional_copy_source: true,
            part_number_gaps: false,
        }
    }

    /// Nothing enforced, no gaps in part numbers.
    pub fn none() -> Capabilities {
        Capabilities {
            conditional_put: false,
            conditional_complete: false,
            conditional_delete: false,
            conditional_copy_source: false,
            part_number_gaps: false,
        }
    }

    /// The parts of the core's configuration that depend on them: its conditional writes,
    /// and `coalesce_copies`, on only where the server accepts gaps in part numbers.
    pub fn apply_to(&self, core: &mut silt_core::CoreConfig) {
        core.conditional_put = self.conditional_put;
        core.conditional_complete = self.conditional_complete;
        core.coalesce_copies = self.part_number_gaps;
    }
}

/// An ETag no object has.
const WRONG_ETAG: &str = "\"00000000000000000000000000000000\"";

/// Was the write refused as a failed precondition? Other refusals (501, 400) also mean "not
/// enforced"; transport errors abort the probe.
fn refused<T>(r: Result<T>) -> Result<bool> {
    match r {
        Ok(_) => Ok(false),
        Err(e) if e.kind == ErrorKind::PreconditionFailed => Ok(true),
        Err(e) if e.kind == ErrorKind::Transient => Err(e),
        Err(_) => Ok(false),
    }
}

/// The body of the part the gap question completes alone. Its length (3) differs from every
/// other length the scratch object can have (5: `probe`; 1: a part or object `x`, or the
/// one-byte copy of part 1; 4: that copy joined with this part), so that a HEAD tells
/// whether the object is this part and nothing else.
const GAP_PART: &[u8] = b"gap";

/// Does the server accept a CompleteMultipartUpload whose part numbers have gaps? Uploads a
/// part numbered 2 to `upload_id` (whatever part 1 holds) and completes the upload naming
/// that part alone: being the last part, it may be small anywhere (S3's 5 MiB minimum, which
/// moto enforces too, does not apply), where parts 1 and 3 would need 5 MiB in part 1.
/// Accepted only if the object then holds exactly that part (one HEAD). A Complete that
/// answers NoSuchUpload may be a retry of one that landed: the HEAD decides. The caller
/// aborts the upload (a completed one only fails to abort) and deletes `key`.
async fn accepts_part_number_gaps<S: ObjectStore>(
    store: &S,
    key: &str,
    upload_id: &str,
) -> Result<bool> {
    let etag = match store
        .upload_part(key, upload_id, 2, Bytes::from_static(GAP_PART))
        .await
    {
        Ok(etag) => etag,
        Err(e) if e.kind == ErrorKind::Transient => return Err(e),
        // A server that refuses a part 2 without a part 1 will not take gaps either.
        Err(_) => return Ok(false),
    };
    match store.complete(key, upload_id, &[(2, etag)], None).await {
        Ok(_) => {}
        Err(e) if e.kind == ErrorKind::NoSuchUpload => {}
        Err(e) if e.kind == ErrorKind::Transient => return Err(e),
        Err(_) => return Ok(false),
    }
    let joined = store.head(key).await?;
    Ok(joined.is_some_and(|o| o.size == GAP_PART.len() as u64))
}

/// Probes with two scratch objects `.silt-probe-<nonce>` and `.silt-probe-<nonce>-mp`, which
/// it deletes, and two multipart uploads, which it aborts: 16 requests, 17 where gaps in
/// part numbers are accepted. The second upload, after the copy-source question, asks
/// whether gaps in part numbers are accepted (`accepts_part_number_gaps`). The store must
/// still assume every capability (no HEAD fallback), so that the answers are the server's
/// own.
pub async fn probe<S: ObjectStore>(store: &S, nonce: &str) -> Result<Capabilities> {
    let key = format!(".silt-probe-{nonce}");
    let mp_key = format!("{key}-mp");
    let result = async {
        store
            .put(&key, Bytes::from_static(b"probe"), None, Meta::NONE)
            .await?;
        let none_match = refused(
            store
                .put(
                    &key,
                    Bytes::from_static(b"x"),
                    Some(&Precondition::IfNoneMatch),
                    Meta::NONE,
                )
                .await,
        )?;
        let if_match = refused(
            store
                .put(
                    &key,
                    Bytes::from_static(b"x"),
                    Some(&Precondition::IfMatch(WRONG_ETAG.into())),
                    Meta::NONE,
                )
                .await,
        )?;
        store
            .put(&mp_key, Bytes::from_static(b"probe"), None, Meta::NONE)
            .await?;
        let upload_id = store.create_multipart(&mp_key, Meta::NONE).await?;
        let complete = async {
            let etag = store
                .upload_part(&mp_key, &upload_id, 1, Bytes::from_static(b"x"))
                .await?;
            let wrong = Precondition::IfMatch(WRONG_ETAG.into());
            refused(
                store
                    .complete(&mp_key, &upload_id, &[(1, etag)], Some(&wrong))
                    .await,
            )
        }
        .await;
        // Whatever happened, leave no open upload (aborting a completed one only fails).
        let _ = store.abort(&mp_key, &upload_id).await;
        let complete = complete?;
        let copy_id = store.create_multipart(&mp_key, Meta::NONE).await?;
        let second = async {
            let copy_source = refused(
                store
                    .upload_part_copy(&mp_key, &copy_id, 1, &key, WRONG_ETAG, 0..1)
                    .await,
            )?;
            let gaps = accepts_part_number_gaps(store, &mp_key, &copy_id).await?;
            Ok((copy_source, gaps))
        }
        .await;
        // Open unless the gap question completed it.
        let _ = store.abort(&mp_key, &copy_id).await;
        let (copy_source, part_number_gaps) = second?;
        let delete = refused(store.delete(&key, Some(WRONG_ETAG)).await)?;
        Ok(Capabilities {
            conditional_put: none_match && if_match,
            conditional_complete: complete,
            conditional_delete: delete,
            conditional_copy_source: copy_source,
            part_number_gaps,
        })
    }
    .await;
    // Clean up whatever the probe left, whatever happened.
    let _ = store.delete(&key, None).await;
    let _ = store.delete(&mp_key, None).await;
    let caps = result?;
    tracing::info!(?caps, "server capabilities probed");
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesced_copies_follow_the_answer_on_gaps() {
        let mut core = silt_core::CoreConfig::default();
        let mut caps = Capabilities::assumed();
        caps.apply_to(&mut core);
        assert!(!core.coalesce_copies, "gaps are not assumed accepted");
        caps.part_number_gaps = true;
        caps.apply_to(&mut core);
        assert!(core.coalesce_copies);
        Capabilities::none().apply_to(&mut core);
        assert!(!core.coalesce_copies);
        assert!(!core.conditional_put && !core.conditional_complete);
    }
}
