//! Runs one of the core's remote operations through an [`ObjectStore`].

use crate::store::{Meta, ObjectStore};
use silt_core::{RemoteError, RemoteOk, RemoteOp};

/// Executes `op` and answers as the core expects.
pub async fn execute<S: ObjectStore>(store: &S, op: &RemoteOp) -> Result<RemoteOk, RemoteError> {
    let r = match op {
        RemoteOp::Head { key } => store.head(key).await.map(RemoteOk::Head),
        RemoteOp::Get {
            key,
            range,
            if_match,
        } => store
            .get_range(key, range.clone(), Some(if_match))
            .await
            .map(|g| RemoteOk::Got {
                data: g.data,
                etag: g.etag,
                object_size: g.object_size,
            }),
        RemoteOp::Put {
            key,
            data,
            precondition,
            token,
            mtime_ms,
        } => store
            .put(
                key,
                data.clone(),
                precondition.as_ref(),
                meta(token, *mtime_ms),
            )
            .await
            .map(|etag| RemoteOk::Stored { etag }),
        RemoteOp::CreateMultipart {
            key,
            token,
            mtime_ms,
        } => store
            .create_multipart(key, meta(token, *mtime_ms))
            .await
            .map(|upload_id| RemoteOk::Created { upload_id }),
        RemoteOp::UploadPart {
            key,
            upload_id,
            part,
            data,
        } => store
            .upload_part(key, upload_id, *part, data.clone())
            .await
            .map(|etag| RemoteOk::Part { etag }),
        RemoteOp::UploadPartCopy {
            key,
            upload_id,
            part,
            source_key,
            source_etag,
            range,
        } => store
            .upload_part_copy(
                key,
                upload_id,
                *part,
                source_key,
                source_etag,
                range.clone(),
            )
            .await
            .map(|etag| RemoteOk::Part { etag }),
        RemoteOp::Complete {
            key,
            upload_id,
            parts,
            precondition,
        } => store
            .complete(key, upload_id, parts, precondition.as_ref())
            .await
            .map(|etag| RemoteOk::Stored { etag }),
        RemoteOp::Abort { key, upload_id } => {
            store.abort(key, upload_id).await.map(|()| RemoteOk::Done)
        }
        RemoteOp::ListParts { key, upload_id } => {
            store.list_parts(key, upload_id).await.map(RemoteOk::Parts)
        }
        RemoteOp::List {
            prefix,
            start_after,
            max_keys,
        } => store
            .list_page(prefix, start_after.as_deref(), *max_keys)
            .await
            .map(RemoteOk::Listed),
        RemoteOp::Delete { key, if_match } => store
            .delete(key, if_match.as_deref())
            .await
            .map(|()| RemoteOk::Done),
    };
    r.map_err(|e| e.to_core())
}

/// The metadata of a version the core uploads: its token and modification time.
fn meta(token: &str, mtime_ms: u64) -> Meta<'_> {
    Meta {
        token: Some(token),
        mtime_ms: Some(mtime_ms),
    }
}
