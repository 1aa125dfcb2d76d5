//! Which cache directory a subcommand (`status`, `flush`) talks to, and the settings it
//! was made with.

use super::args::{split_target, CacheArgs};
use super::settings;
use anyhow::{anyhow, bail, Context};
use silt_config::{ConfigError, Settings, Sources, Target};
use std::path::PathBuf;

/// The cache directory of `args` (`--cache-dir`, else `cache_dir` of the configuration,
/// else the default directory of `[--endpoint] BUCKET[:PREFIX]`) and the settings. A
/// missing configuration file means the defaults (the loader writes its template, as for
/// a mount).
pub fn resolve(args: &CacheArgs) -> anyhow::Result<(PathBuf, Settings)> {
    let mut flags = Vec::new();
    if let Some(dir) = &args.cache_dir {
        flags.push(("cache-dir".to_string(), dir.clone()));
    }
    let mut sources = Sources::from_process(flags);
    if let Some(file) = &args.config {
        sources.file = file.clone();
    }
    let settings = match silt_config::load(&sources) {
        Ok(s) => s,
        Err(ConfigError::Missing { settings, .. }) => *settings,
        Err(e) => return Err(e).context("configuration"),
    };
    if let Some(dir) = settings.cache_dir.clone() {
        return Ok((dir, settings));
    }
    let Some(target) = &args.target else {
        bail!("which cache? give --cache-dir DIR, or the mount's [--endpoint URL] BUCKET[:PREFIX]");
    };
    let (bucket, prefix) = split_target(target).map_err(|e| anyhow!(e))?;
    let target = Target {
        endpoint: args.endpoint.clone().unwrap_or_default(),
        bucket,
        prefix,
    };
    let dir = settings::cache_dir(&settings, &target)?;
    Ok((dir, settings))
}
