//! Starting the engine for a bucket: connect, probe what the server enforces, open the
//! cache directory.

use anyhow::{bail, Context};
use aws_sdk_s3::error::DisplayErrorContext;
use silt_config::Settings;
use silt_s3::{probe, RemoteConfig, S3Remote};
use silt_tokio::{CacheManager, Options};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Connects to the bucket of `remote`, probes it and starts the engine on `cache_dir`.
pub async fn start(
    remote: &RemoteConfig,
    settings: &Settings,
    cache_dir: &Path,
) -> anyhow::Result<CacheManager> {
    let where_ = describe(remote);
    let s3 = S3Remote::connect(remote).await;
    check_bucket(&s3, &remote.bucket, &where_).await?;
    let seed = seed();
    let caps = probe(&s3, &format!("{seed:016x}")).await.with_context(|| {
        format!(
            "cannot use {where_}: check the bucket name, --endpoint, --region and the credentials (--profile, AWS_* variables)"
        )
    })?;
    s3.set_capabilities(caps);
    tracing::info!(?caps, "{where_}: server capabilities probed");
    let mut options = Options::from_settings(settings, cache_dir, Arc::new(s3), seed);
    caps.apply_to(&mut options.core);
    // `silt status` and `silt flush` reach the mount through <cache_dir>/control.sock.
    options.services.control_socket = true;
    // The mount makes close() durable itself (fsync at the last close of a written file);
    // the engine's own close then has nothing left to sync.
    options.fsync_on_close = false;
    CacheManager::start(options)
        .await
        .with_context(|| format!("starting the cache in {}", cache_dir.display()))
}

/// The bucket and endpoint, as errors name them.
pub fn describe(remote: &RemoteConfig) -> String {
    match &remote.endpoint {
        Some(e) => format!("bucket {:?} at {e}", remote.bucket),
        None => format!("bucket {:?}", remote.bucket),
    }
}

/// HeadBucket: a missing bucket or refused credentials are said as such (some servers
/// create a bucket on the first PUT, so the probe alone would not notice).
pub async fn check_bucket(s3: &S3Remote, bucket: &str, where_: &str) -> anyhow::Result<()> {
    let Err(e) = s3.client().head_bucket().bucket(bucket).send().await else {
        return Ok(());
    };
    if e.as_service_error().is_some_and(|s| s.is_not_found()) {
        bail!("{where_} does not exist: create it first, or check the name and --endpoint");
    }
    let status = e.raw_response().map(|r| r.status().as_u16());
    if matches!(status, Some(401 | 403)) {
        bail!(
            "{where_}: access denied (HTTP {}): check the credentials (--profile, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
            status.unwrap_or_default()
        );
    }
    Err(anyhow::anyhow!("{}", DisplayErrorContext(e))).with_context(|| {
        format!("cannot reach {where_}: check --endpoint, --region and the network")
    })
}

/// A seed for the retry jitter and the probe's key: the time and the pid.
pub fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}
