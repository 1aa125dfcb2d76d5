//! Durable commits per second, unbatched vs group commit, for redb and fjall.
//!
//! `cargo bench -p silt-index --bench commit_rate` prints a table. Each transaction is what an
//! fsync commits: an entry (a few dirty extents, 8 clean chunks) and its upload intent.
//! Every commit is durable (fsynced) before it is acknowledged. `SILT_BENCH_DIR` picks the
//! directory (default: the system temp dir; use the disk the cache will live on);
//! `SILT_BENCH_SECS` the time per row (default 2).

#[path = "../tests/support/records.rs"]
mod records;

use silt_core::{IndexOp, IndexTxn};
use silt_index::{open, CacheIndex, GroupCommit, OpenOptions};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn txn(id: u64) -> IndexTxn {
    IndexTxn {
        ops: vec![
            IndexOp::PutEntry(records::entry(id, id, 8)),
            IndexOp::PutJournal(records::journal(id)),
        ],
    }
}

struct Row {
    backend: &'static str,
    mode: &'static str,
    threads: u64,
    commits: u64,
    durable: u64,
    secs: f64,
}

fn run(backend: &'static str, threads: u64, batched: bool, secs: Duration) -> Row {
    let base = std::env::var_os("SILT_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).expect("bench dir");
    let index: Arc<dyn CacheIndex> =
        Arc::from(open(backend, &OpenOptions::new(dir.path())).expect("open"));
    let group = Arc::new(GroupCommit::new(index.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (index, group, stop, next) =
                (index.clone(), group.clone(), stop.clone(), next.clone());
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let t = txn(next.fetch_add(1, Ordering::Relaxed) % 10_000);
                    if batched {
                        group.commit(t).expect("group commit");
                    } else {
                        index.commit(&[&t]).expect("commit");
                    }
                }
            });
        }
        std::thread::sleep(secs);
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = start.elapsed().as_secs_f64();
    let commits = next.load(Ordering::Relaxed);
    let durable = if batched {
        group.stats().commits
    } else {
        commits
    };
    Row {
        backend,
        mode: if batched { "group commit" } else { "unbatched" },
        threads,
        commits,
        durable,
        secs: elapsed,
    }
}

fn main() {
    let secs = std::env::var("SILT_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let secs = Duration::from_secs(secs);
    println!(
        "| backend | mode | threads | acknowledged txns/s | fsynced commits/s | txns per commit |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for backend in ["redb", "fjall"] {
        for (threads, batched) in [(1, false), (16, false), (16, true), (64, true)] {
            let r = run(backend, threads, batched, secs);
            println!(
                "| {} | {} | {} | {:.0} | {:.0} | {:.1} |",
                r.backend,
                r.mode,
                r.threads,
                r.commits as f64 / r.secs,
                r.durable as f64 / r.secs,
                r.commits as f64 / r.durable.max(1) as f64
            );
        }
    }
}
