//! `silt demo [DIR]`: an embedded S3-compatible server over a local folder, its bucket
//! `demo` mounted.

use super::args::DemoArgs;
use super::{direct, engine, fs_options, runtime, serve::serve, settings};
use anyhow::{bail, Context};
use silt_fuse::demo::{DemoServer, ACCESS_KEY, SECRET_KEY};
use silt_fuse::{Backend, MountConfig, MountError};
use std::path::PathBuf;

/// The demo's bucket.
const BUCKET: &str = "demo";

/// Starts the server, mounts its bucket and serves until a signal.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = match args.dir {
        Some(d) => d,
        None => match settings::home() {
            Some(h) => h.join(".tigrisfs").join("demo"),
            None => {
                bail!("no home directory (HOME is not set): give the demo folder, silt demo DIR")
            }
        },
    };
    let dir = absolute(dir)?;
    let mountpoint = match args.mountpoint {
        Some(m) => m,
        None => dir.join("mnt"),
    };
    match silt_fuse::preflight(&mountpoint) {
        Err(MountError::MissingMountPoint(_)) => {
            std::fs::create_dir_all(&mountpoint)
                .with_context(|| format!("creating the mount point {}", mountpoint.display()))?;
            silt_fuse::preflight(&mountpoint)?;
        }
        other => other?,
    }
    super::busy::check(&mountpoint)?;
    let mut common = args.common;
    if common.cache_dir.is_none() {
        common.cache_dir = Some(dir.join("cache").to_string_lossy().into_owned());
    }
    let settings = settings::load(&common)?;
    let cache_dir = settings::cache_dir(
        &settings,
        &silt_config::Target {
            endpoint: String::new(),
            bucket: BUCKET.into(),
            prefix: String::new(),
        },
    )?;

    let rt = runtime()?;
    let buckets = dir.join("buckets");
    let server = rt
        .block_on(DemoServer::start(&buckets, args.port))
        .context("starting the embedded S3-compatible server")?;
    let bucket_dir = server.ensure_bucket(BUCKET)?;
    let remote = server.remote_config(BUCKET);
    let cached = settings.local_cache;
    let (backend, cache) = if settings.local_cache {
        let manager = rt.block_on(engine::start(&remote, &settings, &cache_dir))?;
        (Backend::from(manager), cache_dir.display().to_string())
    } else {
        let bucket = rt.block_on(direct::start(&remote, &settings))?;
        (
            Backend::from(bucket),
            "none (--no-local-cache: close and fsync wait for the bucket)".to_string(),
        )
    };
    let mut config = MountConfig::new(&mountpoint, fs_options(&common, &settings), "silt-demo");
    config.options = common.options.clone();
    let endpoint = server.endpoint().to_string();
    serve(&rt, backend, &config, |m| {
        let mnt = m.mountpoint().display();
        println!("silt demo: bucket {BUCKET:?} mounted on {mnt}");
        println!(
            "  server:  {endpoint} (embedded s3s-fs; access key {ACCESS_KEY}, secret {SECRET_KEY})"
        );
        println!(
            "  bucket:  {} (each object is a plain file here)",
            bucket_dir.display()
        );
        println!("  cache:   {cache}");
        println!(
            "  try:     cp SOMEFILE {mnt}/ && ls -l {mnt} {}",
            bucket_dir.display()
        );
        if cached {
            println!(
                "  stop:    Ctrl-C or kill -TERM {} unmounts cleanly; uploads not done yet stay journaled \
                 in the cache and finish at the next `silt demo {}`",
                std::process::id(),
                dir.display()
            );
        } else {
            println!(
                "  stop:    Ctrl-C or kill -TERM {} unmounts cleanly (every closed file is in the bucket already)",
                std::process::id(),
            );
        }
    })?;
    drop(server);
    Ok(())
}

fn absolute(dir: PathBuf) -> anyhow::Result<PathBuf> {
    if dir.is_absolute() {
        return Ok(dir);
    }
    let cwd = std::env::current_dir().context("the current directory")?;
    Ok(cwd.join(dir))
}
