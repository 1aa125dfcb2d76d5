//! Daemon mode: without `-f`, silt starts itself again in the background with `-f` (in a
//! process group of its own, so the terminal's Ctrl-C does not reach it, its stderr
//! appended to a log file), waits until that process has mounted, and returns; if the
//! background process ends first, its reason is shown and the exit status is non-zero.

use anyhow::{bail, Context};
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Set in the background process's environment: it prints [`READY`] on stdout once
/// mounted.
pub const READY_ENV: &str = "SILT_DAEMON_READY";
/// The line the background process prints once mounted.
pub const READY: &str = "ready";

/// Whether this process is the background half of a daemon start.
pub fn is_background() -> bool {
    std::env::var_os(READY_ENV).is_some()
}

/// Tells the starting process that the mount is ready (the only thing the background
/// process ever writes on stdout).
pub fn announce_ready() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{READY}");
    let _ = out.flush();
}

/// Starts this command again in the background with `-f`, its stderr appended to `log`
/// (in the cache directory `cache_dir`, created private if missing), and waits until it
/// has mounted on `mountpoint`.
pub fn start(cache_dir: &Path, log: &Path, mountpoint: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(cache_dir)
        .with_context(|| format!("creating the cache directory {}", cache_dir.display()))?;
    let mut log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)
        .with_context(|| format!("opening the log file {}", log.display()))?;
    let start_of_run = log_file.seek(SeekFrom::End(0)).unwrap_or(0);
    let exe = std::env::current_exe().context("finding the silt executable")?;
    let mut args: Vec<OsString> = vec!["-f".into()];
    args.extend(std::env::args_os().skip(1));
    let mut child = Command::new(exe)
        .args(args)
        .env(READY_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .process_group(0)
        .spawn()
        .context("starting silt in the background")?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        // EOF (the process ended) leaves the line empty.
        let _ = BufReader::new(out).read_line(&mut line);
    }
    if line.trim() == READY {
        eprintln!(
            "silt: mounted on {} in the background (pid {}); log: {}; stop it with `kill {}` or `umount {}`",
            mountpoint.display(),
            child.id(),
            log.display(),
            child.id(),
            mountpoint.display()
        );
        return Ok(());
    }
    let status = child.wait().context("waiting for the background silt")?;
    let mut tail = String::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        if f.seek(SeekFrom::Start(start_of_run)).is_ok() {
            let _ = f.read_to_string(&mut tail);
        }
    }
    let reason: Vec<&str> = tail.lines().filter(|l| l.starts_with("silt:")).collect();
    bail!(
        "the background silt ended ({status}) before mounting:\n{}\n(full log: {})",
        if reason.is_empty() {
            tail.trim().to_string()
        } else {
            reason.join("\n")
        },
        log.display()
    )
}
