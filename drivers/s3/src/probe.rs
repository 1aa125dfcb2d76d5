//! The capability probe: does this server enforce conditional writes? Run at mount, before
//! [`crate::S3Remote::set_capabilities`], unless a recent answer is remembered in the cache
//! directory (then in the background: [`crate::remembered`]). Where a condition is not
//! enforced, the remote checks it with a HEAD just before the write (racy: another writer
//! can slip in between), and `silt status` reports it.

use crate::error::{ErrorKind, Result};
use crate::store::{Meta, ObjectStore};
use bytes::Bytes;
use silt_core::Precondition;

/// What the server enforces.
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
}

impl Capabilities {
    /// Everything enforced: what is assumed before a probe.
    pub fn assumed() -> Capabilities {
        Capabilities {
            conditional_put: true,
            conditional_complete: true,
            conditional_delete: true,
            conditional_copy_source: true,
        }
    }

    /// Nothing enforced.
    pub fn none() -> Capabilities {
        Capabilities {
            conditional_put: false,
            conditional_complete: false,
            conditional_delete: false,
            conditional_copy_source: false,
        }
    }

    /// The parts of the core's configuration that depend on them.
    pub fn apply_to(&self, core: &mut silt_core::CoreConfig) {
        core.conditional_put = self.conditional_put;
        core.conditional_complete = self.conditional_complete;
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

/// Probes with two scratch objects `.silt-probe-<nonce>` and `.silt-probe-<nonce>-mp`, which
/// it deletes. The store must still assume every capability (no HEAD fallback), so that the
/// answers are the server's own.
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
        let copy_source = refused(
            store
                .upload_part_copy(&mp_key, &copy_id, 1, &key, WRONG_ETAG, 0..1)
                .await,
        );
        let _ = store.abort(&mp_key, &copy_id).await;
        let copy_source = copy_source?;
        let delete = refused(store.delete(&key, Some(WRONG_ETAG)).await)?;
        Ok(Capabilities {
            conditional_put: none_match && if_match,
            conditional_complete: complete,
            conditional_delete: delete,
            conditional_copy_source: copy_source,
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
