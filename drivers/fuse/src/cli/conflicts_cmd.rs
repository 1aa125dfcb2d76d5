//! `silt conflicts [--json]`: the conflict copies of a cache, from the running mount over
//! its control socket, or read from the index when no mount runs.

use super::args::ConflictsArgs;
use super::{cache_arg, status_cmd};
use anyhow::Context;
use silt_engine::StatusReport;
use std::fmt::Write as _;

/// Version of the `--json` output; fields are only ever added.
const SCHEMA: u32 = 1;

/// Prints the conflict copies.
pub fn run(args: ConflictsArgs) -> anyhow::Result<()> {
    let (dir, settings) = cache_arg::resolve(&args.cache)?;
    let report = status_cmd::fetch(&dir, &settings)?;
    if args.json {
        let mut out = serde_json::Map::new();
        out.insert("schema".into(), SCHEMA.into());
        out.insert("source".into(), report.source.clone().into());
        out.insert("cache_dir".into(), report.cache_dir.clone().into());
        out.insert("pid".into(), report.pid.into());
        let conflicts =
            serde_json::to_value(&report.conflicts).context("encoding the conflicts")?;
        out.insert("conflicts".into(), conflicts);
        let text = serde_json::to_string_pretty(&serde_json::Value::Object(out))
            .context("encoding the conflicts")?;
        println!("{text}");
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

/// The conflicts for a person: one block per copy.
fn text(r: &StatusReport) -> String {
    let mut o = String::new();
    let who = match r.pid {
        Some(pid) => format!("running mount (pid {pid})"),
        None => "no mount running; read from the index".to_string(),
    };
    let _ = writeln!(
        o,
        "silt conflicts: {} in {} ({who})",
        r.conflicts.len(),
        r.cache_dir
    );
    for c in &r.conflicts {
        let _ = writeln!(
            o,
            "{}\n  local version kept as: {}",
            c.original_key, c.conflict_key
        );
        let _ = writeln!(
            o,
            "  remote version:        {}",
            c.remote_etag
                .as_deref()
                .map_or_else(|| "ETag unknown".to_string(), |e| format!("ETag {e}"))
        );
        if c.missing.is_empty() {
            let _ = writeln!(o, "  missing ranges:        none (the copy is whole)");
        } else {
            let ranges: Vec<String> = c
                .missing
                .iter()
                .map(|[off, len]| format!("{off}..{}", off.saturating_add(*len)))
                .collect();
            let _ = writeln!(
                o,
                "  missing ranges:        {} (zeros in the copy: base bytes that could not be fetched)",
                ranges.join(", ")
            );
        }
    }
    if !r.conflicts.is_empty() {
        let _ = writeln!(
            o,
            "compare each key with its copy, keep what is right and delete the other"
        );
    }
    o
}
