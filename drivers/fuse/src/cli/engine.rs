//! Starting the engine for a bucket: connect, find out what the server enforces (remembered
//! in the cache directory, else probed), open the cache directory.

use anyhow::{bail, Context};
use aws_sdk_s3::error::DisplayErrorContext;
use silt_config::Settings;
use silt_s3::{keep_current, mount_capabilities, CapabilitiesFile, RemoteConfig, S3Remote, Source};
use silt_tokio::{CacheManager, Options};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Connects to the bucket of `remote`, finds out what it enforces and starts the engine on
/// `cache_dir`.
///
/// What the server enforces comes from `<cache_dir>/capabilities` when a probe from this
/// cache directory, for this endpoint, bucket and prefix, is less than a day old: the mount
/// does not wait for the probe (16 or 17 requests), which then runs in the background, and
/// until it answers the remote checks every condition with a HEAD as well. Otherwise the probe runs
/// here, as before. Either way the answer is probed again every day while mounted. See
/// `docs/architecture.md` ("Server capabilities are remembered").
pub async fn start(
    remote: &RemoteConfig,
    settings: &Settings,
    cache_dir: &Path,
) -> anyhow::Result<CacheManager> {
    let where_ = describe(remote);
    let s3 = Arc::new(S3Remote::connect(remote).await);
    check_bucket(&s3, &remote.bucket, &where_).await?;
    let seed = seed();
    let file = CapabilitiesFile::new(cache_dir, remote);
    let found = mount_capabilities(&s3, &file, &format!("{seed:016x}"))
        .await
        .with_context(|| {
            format!(
                "cannot use {where_}: check the bucket name, --endpoint, --region and the credentials (--profile, AWS_* variables)"
            )
        })?;
    let caps = found.caps;
    match found.source {
        Source::Probed { .. } => tracing::info!(?caps, "{where_}: server capabilities probed"),
        Source::Remembered { age } => tracing::info!(
            ?caps,
            age_s = age.as_secs(),
            "{where_}: server capabilities remembered from an earlier probe"
        ),
    }
    let mut options = Options::from_settings(settings, cache_dir, s3.clone(), seed);
    caps.apply_to(&mut options.core);
    // `silt status` and `silt flush` reach the mount through <cache_dir>/control.sock.
    options.services.control_socket = true;
    // The mount makes close() durable itself (fsync at the last close of a written file);
    // the engine's own close then has nothing left to sync.
    options.fsync_on_close = false;
    let manager = CacheManager::start(options)
        .await
        .with_context(|| format!("starting the cache in {}", cache_dir.display()))?;
    // The cache directory exists and is ours (locked) from here on.
    let first = match found.source {
        Source::Probed { at } => {
            if let Err(e) = file.save(caps, at) {
                tracing::warn!(
                    "cannot remember the server capabilities in {}: {e}; the next mount probes again",
                    file.path().display()
                );
            }
            file.max_age()
        }
        // Confirm (or correct) the remembered answer at once.
        Source::Remembered { .. } => Duration::ZERO,
    };
    // Ends with the runtime: a process stopped during a probe waits for it (10 s at most), so
    // that the probe deletes its scratch objects.
    keep_current(remote, s3, file, caps, first, seed);
    Ok(manager)
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
