//! Starting the path without a disk cache (`--no-local-cache`): connect and check the
//! bucket; there is no cache directory to open and nothing to recover.

use silt_config::Settings;
use silt_direct::{Bucket, Options};
use silt_fuse::DirectBucket;
use silt_s3::{RemoteConfig, S3Remote};
use std::sync::Arc;

/// Connects to the bucket of `remote` and serves it through memory bounded by the
/// settings' `memory_limit`.
pub async fn start(
    remote: &RemoteConfig,
    settings: &Settings,
) -> anyhow::Result<Arc<DirectBucket>> {
    let s3 = S3Remote::connect(remote).await;
    super::engine::check_bucket(&s3, &remote.bucket, &super::engine::describe(remote)).await?;
    let opts = Options::with_memory(settings.memory_limit);
    tracing::info!(
        bucket = remote.bucket,
        memory_limit = settings.memory_limit,
        "serving without a local cache"
    );
    Ok(Bucket::new(s3, opts, super::engine::seed()))
}
