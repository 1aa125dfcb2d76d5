//! `silt fsck [--dry-run] [--json]`: checks a cache no mount uses (clean chunks' CRCs,
//! index against cache files), repairs what is safe and reports the rest.
//!
//! Exit status, as fsck(8): 0 nothing found, 1 everything found was repaired, 4 findings
//! left for a person (with `--dry-run`: anything found); a failure to run is 8.

use super::args::FsckArgs;
use super::cache_arg;
use anyhow::{bail, Context};
use silt_engine::control;
use silt_engine::fsck::{FsckOptions, FsckReport};
use std::fmt::Write as _;

/// Exit status: everything found was repaired.
const REPAIRED: i32 = 1;
/// Exit status: findings left for a person.
const LEFT: i32 = 4;

/// Exit status: fsck could not run.
const FAILED: i32 = 8;

/// Runs the check; exits with the status of the module documentation.
pub fn run(args: FsckArgs) -> anyhow::Result<()> {
    match check(args) {
        Ok(0) => Ok(()),
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("silt: error: {e:#}");
            std::process::exit(FAILED)
        }
    }
}

/// The check; its exit status.
fn check(args: FsckArgs) -> anyhow::Result<i32> {
    let (dir, settings) = cache_arg::resolve(&args.cache)?;
    if let Ok(reply) = control::request(&dir, "status") {
        let pid = reply
            .status
            .and_then(|s| s.pid)
            .map_or_else(|| "running".to_string(), |p| format!("pid {p}"));
        bail!(
            "a silt mount ({pid}) uses the cache in {}: unmount it first; fsck checks a cache no mount uses",
            dir.display()
        );
    }
    let options = FsckOptions {
        backend: settings.index_backend.name().to_string(),
        chunk_size: settings.chunk_size,
        repair: !args.dry_run,
    };
    let report = silt_engine::fsck(&dir, &options)
        .with_context(|| format!("checking the cache in {}", dir.display()))?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).context("encoding the report")?;
        println!("{text}");
    } else {
        print!("{}", text(&report));
    }
    Ok(match (report.is_clean(), report.unrepaired) {
        (true, _) => 0,
        (false, 0) => REPAIRED,
        (false, _) => LEFT,
    })
}

/// The report for a person.
fn text(r: &FsckReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "silt fsck: {}{}\nchecked:    {} entries, {} clean chunks ({} bytes) against their CRC32C, {} dirty ranges ({} bytes) read back, {} cache files",
        r.cache_dir,
        if r.repair { "" } else { " (--dry-run: nothing changed)" },
        r.entries,
        r.clean_chunks,
        r.clean_bytes,
        r.dirty_extents,
        r.dirty_bytes,
        r.files
    );
    for f in &r.findings {
        let what = match (&f.key, f.entry) {
            (Some(k), Some(id)) => format!("{k} (entry {id:016x})"),
            (None, Some(id)) => format!("entry {id:016x}"),
            (Some(k), None) => k.clone(),
            (None, None) => String::new(),
        };
        let mark = if f.repaired { "repaired" } else { "FOUND   " };
        let _ = writeln!(o, "  {mark} {what}: {}", f.detail);
    }
    let _ = if r.is_clean() {
        writeln!(o, "result:     clean")
    } else {
        writeln!(
            o,
            "result:     {} found, {} repaired, {} left{}",
            r.findings.len(),
            r.repaired,
            r.unrepaired,
            if r.unrepaired > 0 {
                " (see docs/operations.md, \"silt fsck\")"
            } else {
                ""
            }
        )
    };
    o
}
