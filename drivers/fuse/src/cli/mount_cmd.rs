//! `silt [flags] BUCKET[:PREFIX] MOUNTPOINT`.

use super::args::{split_target, MountArgs};
use super::{daemon, direct, engine, fs_options, runtime, serve::serve, settings};
use anyhow::{anyhow, Context};
use silt_config::Target;
use silt_fuse::{Backend, MountConfig};
use silt_s3::RemoteConfig;

/// Mounts the bucket and serves until a signal.
pub fn run(args: MountArgs) -> anyhow::Result<()> {
    let target = args
        .target
        .ok_or_else(|| anyhow!("missing BUCKET[:PREFIX]"))?;
    let mountpoint = args
        .mountpoint
        .ok_or_else(|| anyhow!("missing MOUNTPOINT"))?;
    let (bucket, prefix) = split_target(&target).map_err(|e| anyhow!(e))?;
    silt_fuse::preflight(&mountpoint)?;
    super::busy::check(&mountpoint)?;
    let settings = settings::load(&args.common)?;
    let cache_dir = settings::cache_dir(
        &settings,
        &Target {
            endpoint: args.endpoint.clone().unwrap_or_default(),
            bucket: bucket.clone(),
            prefix: prefix.clone(),
        },
    )?;
    if !args.common.foreground {
        return daemon::start(&cache_dir, &cache_dir.join("silt.log"), &mountpoint);
    }
    let remote = RemoteConfig {
        prefix: if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        },
        endpoint: args.endpoint,
        region: args.region,
        profile: args.profile,
        ..RemoteConfig::new(bucket)
    };
    let rt = runtime()?;
    let (backend, cache) = if settings.local_cache {
        let manager = rt.block_on(engine::start(&remote, &settings, &cache_dir))?;
        (
            Backend::from(manager),
            format!("cache {}", cache_dir.display()),
        )
    } else {
        let bucket = rt.block_on(direct::start(&remote, &settings))?;
        (
            Backend::from(bucket),
            "no local cache: close and fsync wait for the bucket".to_string(),
        )
    };
    let mut config = MountConfig::new(&mountpoint, fs_options(&args.common, &settings), &target);
    config.options = args.common.options.clone();
    serve(&rt, backend, &config, |m| {
        eprintln!(
            "silt: {target} mounted on {} ({cache}); Ctrl-C or SIGTERM unmounts",
            m.mountpoint().display(),
        );
        if daemon::is_background() {
            daemon::announce_ready();
        }
    })
    .with_context(|| format!("silt {target} {}", mountpoint.display()))
}
