//! `silt config init [--force] [--config FILE]`: writes the commented configuration
//! template (every key commented out at its default) and says where.

use super::args::{ConfigCommand, ConfigInitArgs};
use super::settings;
use anyhow::{bail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Runs a `silt config` subcommand.
pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Init(args) => init(args),
    }
}

fn init(args: ConfigInitArgs) -> anyhow::Result<()> {
    let path = match args.config {
        Some(p) => p,
        None => default_path()?,
    };
    write(&path, args.force)?;
    println!(
        "silt: wrote the configuration template to {}",
        path.display()
    );
    Ok(())
}

/// `~/.tigrisfs/config.yaml` of the user running silt.
fn default_path() -> anyhow::Result<PathBuf> {
    let Some(home) = settings::home() else {
        bail!("no home directory (HOME is not set): give the file with --config FILE");
    };
    Ok(silt_config::config_path(&home))
}

/// Writes the template at `path` (parents created). An existing file is kept unless
/// `force`; with `force` it is replaced atomically (a temporary file renamed over it), so
/// a crash leaves the old file or the new one, never half of one.
fn write(path: &Path, force: bool) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let text = silt_config::template();
    if !force {
        let mut f = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
                "{} exists already: not overwritten (use --force to replace it with the template)",
                path.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        };
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        return Ok(());
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_written_once_and_replaced_only_when_forced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("config.yaml");
        write(&path, false).expect("first write");
        let written = std::fs::read_to_string(&path).expect("read");
        assert_eq!(written, silt_config::template());
        assert!(silt_config::parse_str(&written, &path).is_ok());
        std::fs::write(&path, "chunk_size: 2MiB\n").expect("edit");
        let err = write(&path, false).expect_err("exists");
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "chunk_size: 2MiB\n"
        );
        write(&path, true).expect("forced");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            silt_config::template()
        );
    }
}
