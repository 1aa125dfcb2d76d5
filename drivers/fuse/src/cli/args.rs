//! The command line: `silt [flags] BUCKET[:PREFIX] MOUNTPOINT` (TigrisFS's shape),
//! `silt demo [DIR]`, `silt status [--json]`, `silt flush [--wait]`, `silt conflicts
//! [--json]`, `silt fsck [--dry-run] [--json]` and `silt config init [--force]`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// silt: an S3 bucket mounted through a crash-safe write-back disk cache.
#[derive(Debug, Parser)]
#[command(
    name = "silt",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// A subcommand instead of a mount.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The mount's arguments.
    #[command(flatten)]
    pub mount: MountArgs,
}

impl Cli {
    /// The `--log-file` of a mount or a demo.
    pub fn log_file(&self) -> Option<&std::path::Path> {
        match &self.command {
            Some(Command::Demo(d)) => d.common.log_file.as_deref(),
            Some(_) => None,
            None => self.mount.common.log_file.as_deref(),
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start an embedded S3-compatible server over a local folder and mount its bucket
    /// `demo` (no cloud account needed).
    Demo(DemoArgs),
    /// Show what the cache holds, the upload queue, conflicts and the counters of the
    /// running mount (from its control socket), or read from the index when no mount runs.
    Status(StatusArgs),
    /// Upload everything pending now, skipping the write-back delay; with --wait, return
    /// once every upload is done (progress shown on a terminal).
    Flush(FlushArgs),
    /// List the conflict copies: objects changed in the bucket under local edits, whose
    /// local version was kept beside them.
    Conflicts(ConflictsArgs),
    /// Check the cache (CRCs of clean chunks, index against cache files), repair what is
    /// safe and report the rest. Runs only while no mount uses the cache.
    Fsck(FsckArgs),
    /// The configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `silt config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write the commented configuration template (every key at its default).
    Init(ConfigInitArgs),
}

/// `silt config init [--force] [--config FILE]`.
#[derive(Debug, Args)]
pub struct ConfigInitArgs {
    /// Where to write it (default: ~/.tigrisfs/config.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Replace a file that is already there.
    #[arg(long)]
    pub force: bool,
}

/// `silt conflicts [--json]`.
#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// Print the conflicts as JSON (the schema of docs/operations.md).
    #[arg(long)]
    pub json: bool,
    /// Which cache.
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// `silt fsck [--dry-run] [--json]`.
#[derive(Debug, Args)]
pub struct FsckArgs {
    /// Report only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON (the schema of docs/operations.md).
    #[arg(long)]
    pub json: bool,
    /// Which cache.
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Which cache a subcommand talks to: `--cache-dir`, `cache_dir` in the configuration, or
/// the default directory of `[--endpoint URL] BUCKET[:PREFIX]`.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// The bucket (and prefix) whose default cache directory to use.
    #[arg(value_name = "BUCKET[:PREFIX]")]
    pub target: Option<String>,
    /// The endpoint of the mount (for the default cache directory).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The cache directory.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<String>,
    /// Serve files through the crash-safe local disk cache (the default; configuration
    /// key local_cache).
    #[arg(long, overrides_with = "no_local_cache")]
    pub local_cache: bool,
    /// No disk cache: reads are ranged GETs, writes are held in memory (--memory-limit) and
    /// streamed to the bucket; fsync and close return once the object is in the bucket.
    #[arg(long, overrides_with = "local_cache")]
    pub no_local_cache: bool,
    /// Configuration file (default: ~/.tigrisfs/config.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `silt status [--json]`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the status as JSON (the stable schema of docs/operations.md).
    #[arg(long)]
    pub json: bool,
    /// Which cache.
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// `silt flush [--wait]`.
#[derive(Debug, Args)]
pub struct FlushArgs {
    /// Return only once nothing is pending (every upload and delete done).
    #[arg(long)]
    pub wait: bool,
    /// Which cache.
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// `silt [flags] BUCKET[:PREFIX] MOUNTPOINT`.
#[derive(Debug, Args)]
pub struct MountArgs {
    /// The bucket, and optionally a key prefix inside it.
    #[arg(value_name = "BUCKET[:PREFIX]", required = true)]
    pub target: Option<String>,
    /// An existing empty directory to mount on.
    #[arg(value_name = "MOUNTPOINT", required = true)]
    pub mountpoint: Option<PathBuf>,
    /// S3 endpoint URL (default: AWS).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Region (default: from the profile or environment, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Shared-config profile for credentials (default: AWS_PROFILE or `default`).
    #[arg(long)]
    pub profile: Option<String>,
    /// Flags shared with `silt demo`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `silt demo [DIR]`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder of the demo: buckets/ (the server's objects as plain files), cache/ and
    /// mnt/ (the mount point). Default: ~/.tigrisfs/demo.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Mount point (default: DIR/mnt).
    #[arg(long, value_name = "PATH")]
    pub mountpoint: Option<PathBuf>,
    /// Loopback port of the embedded server (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Flags shared with the mount.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of every mount.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Cache directory (default: ~/.tigrisfs/cache/<diskID>; `silt demo`: DIR/cache).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<String>,
    /// Memory for buffers in MiB, or with a unit (512MiB, 2GiB).
    #[arg(long, value_name = "MIB")]
    pub memory_limit: Option<String>,
    /// Size budget of the cache in GiB, decimals allowed (configuration key cache_size_gb;
    /// default 10).
    #[arg(long, value_name = "GIB", visible_alias = "cache-size-gb")]
    pub cache_size: Option<String>,
    /// How long the kernel keeps file attributes before asking again (500ms, 1s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub stat_cache_ttl: Duration,
    /// Owner of every file (default: the mounting user).
    #[arg(long)]
    pub uid: Option<u32>,
    /// Group of every file (default: the mounting user's group).
    #[arg(long)]
    pub gid: Option<u32>,
    /// Permission bits of files, octal.
    #[arg(long, value_name = "OCTAL", default_value = "0644", value_parser = parse_mode)]
    pub file_mode: u16,
    /// Permission bits of directories, octal.
    #[arg(long, value_name = "OCTAL", default_value = "0755", value_parser = parse_mode)]
    pub dir_mode: u16,
    /// Stay in the foreground; without it a mount goes to the background once it is
    /// ready (`silt demo` always stays in the foreground).
    #[arg(short = 'f', long)]
    pub foreground: bool,
    /// Mount options, comma-separated (allow_other, allow_root, ro, default_permissions).
    #[arg(short = 'o', value_name = "OPTIONS")]
    pub options: Vec<String>,
    /// Serve files through the crash-safe local disk cache (the default; configuration
    /// key local_cache).
    #[arg(long, overrides_with = "no_local_cache")]
    pub local_cache: bool,
    /// No disk cache: reads are ranged GETs, writes are held in memory (--memory-limit) and
    /// streamed to the bucket; fsync and close return once the object is in the bucket.
    #[arg(long, overrides_with = "local_cache")]
    pub no_local_cache: bool,
    /// Configuration file (default: ~/.tigrisfs/config.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve Prometheus metrics at this address, such as 127.0.0.1:9100 (default: off).
    #[arg(long, value_name = "IP:PORT")]
    pub metrics_addr: Option<String>,
    /// Append logs to this file (mode 0600) instead of stderr. The level comes from
    /// SILT_LOG or RUST_LOG (such as `info` or `silt_engine=debug`; default `warn`).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

impl CommonArgs {
    /// The flags that are configuration keys, for silt-config (flag > environment > file).
    pub fn config_flags(&self) -> Vec<(String, String)> {
        let mut flags = Vec::new();
        if let Some(dir) = &self.cache_dir {
            flags.push(("cache-dir".to_string(), dir.clone()));
        }
        if let Some(limit) = &self.memory_limit {
            flags.push(("memory-limit".to_string(), limit.clone()));
        }
        if let Some(size) = &self.cache_size {
            flags.push(("cache-size-gb".to_string(), size.clone()));
        }
        if let Some(addr) = &self.metrics_addr {
            flags.push(("metrics-addr".to_string(), addr.clone()));
        }
        if self.local_cache || self.no_local_cache {
            let on = if self.local_cache { "true" } else { "false" };
            flags.push(("local-cache".to_string(), on.to_string()));
        }
        flags
    }
}

/// `BUCKET[:PREFIX]` split; the prefix without leading or trailing `/`.
pub fn split_target(target: &str) -> Result<(String, String), String> {
    let (bucket, prefix) = match target.split_once(':') {
        Some((b, p)) => (b, p.trim_matches('/')),
        None => (target, ""),
    };
    if bucket.is_empty() {
        return Err(format!(
            "{target:?}: the bucket name is empty (BUCKET[:PREFIX])"
        ));
    }
    if bucket.contains('/') {
        return Err(format!(
            "{target:?}: a bucket name has no '/'; give a prefix as BUCKET:PREFIX"
        ));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// `500ms`, `2s`, `1m`, `1h`; a bare number is seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 500ms, 1s or 1m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
    }
}

/// Octal permission bits (`644`, `0644`, `0o644`).
fn parse_mode(text: &str) -> Result<u16, String> {
    let t = text.trim();
    let digits = t.strip_prefix("0o").unwrap_or(t);
    match u16::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(format!("{text:?} is not an octal mode such as 0644")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn the_tigrisfs_command_parses_with_silt_in_its_place() {
        let cli = parse(&[
            "silt",
            "--profile",
            "datasilo",
            "--memory-limit",
            "1024",
            "--endpoint",
            "http://HOST:9000",
            "test",
            "/mnt/h",
        ]);
        assert!(cli.command.is_none());
        let m = cli.mount;
        assert_eq!(m.profile.as_deref(), Some("datasilo"));
        assert_eq!(m.endpoint.as_deref(), Some("http://HOST:9000"));
        assert_eq!(m.target.as_deref(), Some("test"));
        assert_eq!(m.mountpoint, Some(PathBuf::from("/mnt/h")));
        assert_eq!(
            m.common.config_flags(),
            vec![("memory-limit".to_string(), "1024".to_string())]
        );
        assert!(!m.common.foreground);
        assert_eq!(m.common.file_mode, 0o644);
        assert_eq!(m.common.dir_mode, 0o755);
    }

    #[test]
    fn flags_and_demo_parse() {
        let cli = parse(&[
            "silt",
            "-f",
            "-o",
            "allow_other",
            "--file-mode",
            "600",
            "--stat-cache-ttl",
            "500ms",
            "--cache-dir",
            "/c",
            "b:p/q/",
            "/m",
        ]);
        let m = cli.mount;
        assert!(m.common.foreground);
        assert_eq!(m.common.options, vec!["allow_other".to_string()]);
        assert_eq!(m.common.file_mode, 0o600);
        assert_eq!(m.common.stat_cache_ttl, Duration::from_millis(500));
        assert_eq!(
            split_target(m.target.as_deref().unwrap_or_default()),
            Ok(("b".to_string(), "p/q".to_string()))
        );

        let cli = parse(&["silt", "demo", "/tmp/d"]);
        match cli.command {
            Some(Command::Demo(d)) => assert_eq!(d.dir, Some(PathBuf::from("/tmp/d"))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["silt", "demo"]).command,
            Some(Command::Demo(_))
        ));
        assert!(Cli::try_parse_from(["silt", "bucket-only"]).is_err());
    }

    #[test]
    fn status_flush_and_observability_flags_parse() {
        match parse(&["silt", "status", "--json", "--cache-dir", "/c"]).command {
            Some(Command::Status(s)) => {
                assert!(s.json);
                assert_eq!(s.cache.cache_dir.as_deref(), Some("/c"));
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "silt",
            "flush",
            "--wait",
            "--endpoint",
            "http://h:9000",
            "b:p",
        ])
        .command
        {
            Some(Command::Flush(f)) => {
                assert!(f.wait);
                assert_eq!(f.cache.target.as_deref(), Some("b:p"));
                assert_eq!(f.cache.endpoint.as_deref(), Some("http://h:9000"));
            }
            other => panic!("{other:?}"),
        }
        let m = parse(&[
            "silt",
            "--metrics-addr",
            "127.0.0.1:9100",
            "--log-file",
            "/var/log/silt.log",
            "b",
            "/m",
        ])
        .mount;
        assert_eq!(m.common.log_file, Some(PathBuf::from("/var/log/silt.log")));
        assert_eq!(
            m.common.config_flags(),
            vec![("metrics-addr".to_string(), "127.0.0.1:9100".to_string())]
        );
    }

    #[test]
    fn conflicts_fsck_config_init_and_cache_size_parse() {
        match parse(&["silt", "conflicts", "--json", "--cache-dir", "/c"]).command {
            Some(Command::Conflicts(c)) => {
                assert!(c.json);
                assert_eq!(c.cache.cache_dir.as_deref(), Some("/c"));
            }
            other => panic!("{other:?}"),
        }
        match parse(&["silt", "fsck", "--dry-run", "b:p"]).command {
            Some(Command::Fsck(f)) => {
                assert!(f.dry_run && !f.json);
                assert_eq!(f.cache.target.as_deref(), Some("b:p"));
            }
            other => panic!("{other:?}"),
        }
        match parse(&["silt", "config", "init", "--force", "--config", "/x.yaml"]).command {
            Some(Command::Config(ConfigCommand::Init(i))) => {
                assert!(i.force);
                assert_eq!(i.config, Some(PathBuf::from("/x.yaml")));
            }
            other => panic!("{other:?}"),
        }
        for flag in ["--cache-size", "--cache-size-gb"] {
            let m = parse(&["silt", flag, "2.5", "b", "/m"]).mount;
            assert_eq!(
                m.common.config_flags(),
                vec![("cache-size-gb".to_string(), "2.5".to_string())]
            );
        }
    }

    #[test]
    fn targets_modes_and_durations_are_checked() {
        assert!(split_target(":p").is_err());
        assert!(split_target("a/b").is_err());
        assert_eq!(split_target("b"), Ok(("b".into(), String::new())));
        assert!(parse_mode("0999").is_err());
        assert!(parse_mode("17777").is_err());
        assert_eq!(parse_mode("0o750"), Ok(0o750));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("s").is_err());
    }
}
