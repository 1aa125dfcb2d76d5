//! What the delta operations buy: durable commits per second that change one chunk of an
//! entry (and its access time), as a whole-record `PutEntry` (which reads and compares every
//! row of the entry to write the one that changed) vs the delta the core sends (`PutChunk` +
//! `PutEntryHead`), for entries of 8 to 102 400 chunks (a 100 GiB object in 1 MiB chunks),
//! on redb and fjall. Unbatched, one thread, every commit fsynced.
//!
//! `cargo bench -p silt-index --bench delta_rate` prints a table. `SILT_BENCH_DIR` picks the
//! directory (default: the system temp dir); `SILT_BENCH_SECS` the time per row (default 1).

#[path = "../tests/support/records.rs"]
mod records;

use silt_core::{CleanChunk, EntryId, IndexOp, IndexTxn};
use silt_index::{open, OpenOptions};
use std::time::{Duration, Instant};

/// Commits per second of transactions from `txn(n)` for `secs`, on an index holding an
/// entry of `chunks` chunks.
fn rate(backend: &str, chunks: u64, secs: Duration, txn: impl Fn(u64) -> IndexTxn) -> f64 {
    let base = std::env::var_os("SILT_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).expect("bench dir");
    let index = open(backend, &OpenOptions::new(dir.path())).expect("open");
    index.put_entry(records::entry(1, 0, chunks)).expect("seed");
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < secs {
        n += 1;
        index.commit(&[&txn(n)]).expect("commit");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let secs = std::env::var("SILT_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let secs = Duration::from_secs(secs);
    println!("| backend | chunks in the entry | whole entry (commits/s) | delta (commits/s) |");
    println!("|---|---:|---:|---:|");
    for backend in ["redb", "fjall"] {
        for chunks in [8u64, 1024, 102_400] {
            let changed = |n: u64| CleanChunk {
                index: n % chunks,
                crc32c: n as u32,
            };
            let whole = rate(backend, chunks, secs, |n| {
                let mut e = records::entry(1, n, chunks);
                e.clean_chunks[(n % chunks) as usize] = changed(n);
                IndexTxn {
                    ops: vec![IndexOp::PutEntry(e)],
                }
            });
            let delta = rate(backend, chunks, secs, |n| IndexTxn {
                ops: vec![
                    IndexOp::PutChunk(EntryId(1), changed(n)),
                    IndexOp::PutEntryHead(records::entry(1, n, 0)),
                ],
            });
            println!("| {backend} | {chunks} | {whole:.0} | {delta:.0} |");
        }
    }
}
