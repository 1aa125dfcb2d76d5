//! `silt status [--json]`: the running mount's status over its control socket, or, when no
//! mount runs on the cache, the status read from the index.

use super::args::StatusArgs;
use super::cache_arg;
use anyhow::{bail, Context};
use silt_engine::control::{self, ControlError};
use silt_engine::StatusReport;
use std::fmt::Write as _;
use std::path::Path;

/// Prints the status.
pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let (dir, settings) = cache_arg::resolve(&args.cache)?;
    let report = fetch(&dir, &settings)?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).context("encoding the status")?;
        println!("{text}");
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

/// The status of the cache in `dir`: from the mount running on it (control socket), else
/// read from its index under its lock.
pub fn fetch(dir: &Path, settings: &silt_config::Settings) -> anyhow::Result<StatusReport> {
    let report = match control::request(dir, "status") {
        Ok(reply) => match (reply.ok, reply.status) {
            (true, Some(s)) => s,
            _ => bail!(
                "the mount on {} did not give its status: {}",
                dir.display(),
                reply.error.unwrap_or_default()
            ),
        },
        Err(ControlError::NotRunning(_) | ControlError::Unsupported) => {
            silt_engine::offline_status(dir, settings.index_backend.name(), settings.core_config(0))
                .with_context(|| format!("reading the cache in {}", dir.display()))?
        }
        Err(e) => return Err(e).context("asking the mount"),
    };
    Ok(report)
}

/// Bytes for a person: `512 B`, `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A duration in seconds for a person.
fn secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// The status for a person: the same figures as the JSON.
pub fn text(r: &StatusReport) -> String {
    let mut o = String::new();
    let who = match r.pid {
        Some(pid) => format!("running mount (pid {pid})"),
        None => "no mount running; read from the index".to_string(),
    };
    let _ = writeln!(o, "silt status: {who}\ncache dir:  {}", r.cache_dir);
    if let Some(f) = &r.fatal {
        let _ = writeln!(o, "FATAL:      {f}: unmount and mount again");
    }
    let c = &r.cache;
    let free = c
        .disk_free_bytes
        .map_or_else(|| "unknown".to_string(), bytes);
    let _ = writeln!(
        o,
        "cache:      {} cached ({} clean, {} dirty), {} in read buffers; disk free {free}",
        bytes(c.cached_bytes),
        bytes(c.clean_bytes),
        bytes(c.dirty_bytes),
        bytes(c.read_buffer_bytes),
    );
    let u = &r.uploads;
    let oldest = u
        .oldest_pending_age_seconds
        .map_or_else(String::new, |s| format!("; oldest waiting {}", secs(s)));
    let _ = writeln!(
        o,
        "uploads:    {} queued, {} in progress, {} retrying; {} deletes pending{oldest}",
        u.queued,
        u.in_progress,
        u.retrying.len(),
        u.deletes_pending
    );
    for t in &u.retrying {
        let _ = writeln!(
            o,
            "  retrying  {} ({} attempts): {}",
            t.key,
            t.attempts,
            t.last_error.as_deref().unwrap_or("no error recorded")
        );
    }
    let _ = writeln!(o, "conflicts:  {}", r.conflicts.len());
    for k in &r.conflicts {
        let zeros = if k.missing.is_empty() {
            String::new()
        } else {
            format!(" ({} ranges of zeros)", k.missing.len())
        };
        let _ = writeln!(o, "  {} kept as {}{zeros}", k.original_key, k.conflict_key);
    }
    let m = &r.memory;
    let _ = writeln!(
        o,
        "memory:     {} of {} in flight (fetches {}, read buffers {}, full-disk chunks {}, upload bodies {}, write bodies {}, write peak {})",
        bytes(m.in_use_bytes),
        bytes(m.limit_bytes),
        bytes(m.fetches),
        bytes(m.read_buffers),
        bytes(m.full_disk_chunks),
        bytes(m.upload_bodies),
        bytes(m.write_bodies),
        bytes(m.write_bodies_peak),
    );
    let n = &r.counters;
    let _ = writeln!(
        o,
        "reads:      {} hits ({}), {} misses ({}); {} fetches ({}, {} failed)",
        n.read_hits,
        bytes(n.read_hit_bytes),
        n.read_misses,
        bytes(n.read_miss_bytes),
        n.fetches,
        bytes(n.fetch_bytes),
        n.fetch_errors
    );
    let _ = writeln!(
        o,
        "uploaded:   {} versions ({} sent, {} copied server-side); failed attempts {} transient, {} permanent",
        n.uploads_succeeded,
        bytes(n.upload_bytes_sent),
        bytes(n.upload_bytes_copied),
        n.upload_failures_transient,
        n.upload_failures_permanent
    );
    let _ = writeln!(
        o,
        "evicted:    {} chunks ({})",
        n.evictions,
        bytes(n.evicted_bytes)
    );
    let _ = writeln!(
        o,
        "space:      {} ENOSPC, {} writes refused; waits {} for memory, {} for space; {} waiting now",
        n.enospc,
        n.space_exhausted,
        n.backpressure_waits_memory,
        n.backpressure_waits_space,
        r.in_flight.space_waiters
    );
    let _ = writeln!(
        o,
        "index:      {} transactions in {} commits",
        n.index_transactions, n.index_commits
    );
    let _ = writeln!(
        o,
        "in flight:  {} cache-file, {} object-store operations",
        r.in_flight.local_ops, r.in_flight.remote_ops
    );
    if n.sparse_fallback > 0 || r.sparse_fallback_reason.is_some() {
        let _ = writeln!(
            o,
            "sparse:     {} fallbacks ({}): evicted chunks do not free disk space",
            n.sparse_fallback,
            r.sparse_fallback_reason.as_deref().unwrap_or("")
        );
    }
    if let Some(p) = &r.pending {
        let _ = writeln!(o, "pending:    {p}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_a_person_would() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(secs(5.0), "5.0 s");
        assert_eq!(secs(600.0), "10.0 min");
    }
}
