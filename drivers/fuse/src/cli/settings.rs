//! The user's settings (silt-config: flag > environment > file > default) and where the
//! cache lives.

use super::args::CommonArgs;
use anyhow::{bail, Context};
use silt_config::{ConfigError, Settings, Sources, Target};
use std::path::PathBuf;

/// Loads the settings with the flags of `common`. A missing file is written as a commented
/// template and the defaults are used (said on stderr); an invalid one stops with every
/// problem named (field, rule, line).
pub fn load(common: &CommonArgs) -> anyhow::Result<Settings> {
    let mut sources = Sources::from_process(common.config_flags());
    if let Some(file) = &common.config {
        sources.file = file.clone();
    }
    match silt_config::load(&sources) {
        Ok(s) => Ok(s),
        Err(ConfigError::Missing {
            path,
            template_error,
            settings,
        }) => {
            match template_error {
                None => eprintln!(
                    "silt: no configuration file; wrote a commented template to {} and going on with defaults",
                    path.display()
                ),
                Some(e) => eprintln!(
                    "silt: no configuration file at {} (and no template could be written there: {e}); going on with defaults",
                    path.display()
                ),
            }
            Ok(*settings)
        }
        Err(e) => Err(e).context("configuration"),
    }
}

/// The cache directory: `cache_dir` from the settings, else `~/.tigrisfs/cache/<diskID>`
/// for `target`.
pub fn cache_dir(settings: &Settings, target: &Target) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &settings.cache_dir {
        return Ok(dir.clone());
    }
    let Some(home) = home() else {
        bail!("no home directory (HOME is not set): give the cache directory with --cache-dir");
    };
    Ok(silt_config::default_cache_dir(&home, target))
}

/// The home directory from the environment.
pub fn home() -> Option<PathBuf> {
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    silt_config::home_dir(&env)
}
