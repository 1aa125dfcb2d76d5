//! Starting the engine for a bucket: connect, probe what the server enforces, open the
//! cache directory.

use anyhow::Context;
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
    let where_ = match &remote.endpoint {
        Some(e) => format!("bucket {:?} at {e}", remote.bucket),
        None => format!("bucket {:?}", remote.bucket),
    };
    let s3 = S3Remote::connect(remote).await;
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
    // The mount makes close() durable itself (fsync at the last close of a written file);
    // the engine's own close then has nothing left to sync.
    options.fsync_on_close = false;
    CacheManager::start(options)
        .await
        .with_context(|| format!("starting the cache in {}", cache_dir.display()))
}

/// A seed for the retry jitter and the probe's key: the time and the pid.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}
