//! `silt flush [--wait]`: asks the running mount to upload everything pending now; with
//! `--wait`, returns once nothing is pending, showing progress on a terminal.

use super::args::FlushArgs;
use super::cache_arg;
use super::status_cmd::bytes;
use anyhow::{bail, Context};
use silt_engine::control::{self, ControlError};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

/// Sends the flush; with `--wait`, waits for it.
pub fn run(args: FlushArgs) -> anyhow::Result<()> {
    let (dir, _) = cache_arg::resolve(&args.cache)?;
    if !args.wait {
        return ask(&dir, "flush");
    }
    let waiting = {
        let dir = dir.clone();
        std::thread::spawn(move || ask(&dir, "flush --wait"))
    };
    let terminal = std::io::stderr().is_terminal();
    while !waiting.is_finished() {
        if terminal {
            progress(&dir);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if terminal {
        eprintln!();
    }
    match waiting.join() {
        Ok(r) => r?,
        Err(_) => bail!("the flush thread panicked"),
    }
    eprintln!("silt: flushed: nothing pending in {}", dir.display());
    Ok(())
}

/// One request; an error when the mount says no.
fn ask(dir: &Path, line: &str) -> anyhow::Result<()> {
    match control::request(dir, line) {
        Ok(reply) if reply.ok => Ok(()),
        Ok(reply) => bail!(
            "the mount on {} refused the flush: {}",
            dir.display(),
            reply.error.unwrap_or_default()
        ),
        Err(ControlError::NotRunning(_)) => bail!(
            "no silt mount runs on {}: pending uploads are sent by the next mount of this cache",
            dir.display()
        ),
        Err(e) => Err(e).context("asking the mount to flush"),
    }
}

/// One line of progress on stderr (rewritten in place).
fn progress(dir: &Path) {
    let Ok(reply) = control::request(dir, "status") else {
        return;
    };
    let Some(s) = reply.status else {
        return;
    };
    let u = &s.uploads;
    let pending = u.queued + u.in_progress + u.retrying.len() as u64;
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\rsilt: {pending} uploads pending ({} in progress, {} retrying), {} deletes, {} dirty, {} sent so far   ",
        u.in_progress,
        u.retrying.len(),
        u.deletes_pending,
        bytes(s.cache.dirty_bytes),
        bytes(s.counters.upload_bytes_sent),
    );
    let _ = err.flush();
}
