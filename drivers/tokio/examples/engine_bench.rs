//! The engine, measured end to end: peak memory while a large file is written and uploaded
//! under a memory limit, startup time with many entries pending upload, and sequential
//! throughput against the raw disk. Real cache files and a redb index in a temporary
//! directory, the in-process s3s-fs server of the tests. Prints a table.
//!
//! `cargo run --release -p silt-tokio --example engine_bench` (full sizes) or `-- --quick`.
//! `-- --scale` runs the scales instead: a 4 GiB file under a 256 MiB memory limit,
//! and startup with 1 000, 10 000 and 100 000 entries, a tenth of each awaiting upload. It
//! needs about 10 GiB in `TMPDIR` (cache files and the s3s-fs bucket live there; a tmpfs
//! keeps the disk out of the figures) and takes about ten minutes.

#[path = "../tests/support/mod.rs"]
mod support;

use silt_tokio::CacheManager;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

struct Sizes {
    rss_file_mib: usize,
    memory_limit_mib: u64,
    /// One startup case with this many entries, all awaiting upload.
    entries: usize,
    /// Startup cases with these many entries, a tenth of each awaiting upload (instead).
    startup_series: &'static [usize],
    seq_mib: usize,
}

/// Open, write 4 KiB, close for `keys`, `parallel` at a time.
async fn create_files(engine: &Arc<CacheManager>, keys: Vec<String>, parallel: usize) {
    let data = bytes::Bytes::from(support::pattern(4096, 9));
    let mut tasks = tokio::task::JoinSet::new();
    let mut keys = keys.into_iter();
    loop {
        while tasks.len() < parallel {
            let Some(key) = keys.next() else { break };
            let (engine, data) = (engine.clone(), data.clone());
            tasks.spawn(async move {
                let f = engine.open(&key, true).await.expect("open");
                f.write(0, data).await.expect("write");
                f.close().await.expect("close");
            });
        }
        match tasks.join_next().await {
            Some(r) => r.expect("create task"),
            None => return,
        }
    }
}

/// Startup with `total` entries, a tenth awaiting upload, for each `total` in `series`: one
/// cache directory grown from case to case (earlier entries uploaded, so clean), each start
/// timed three times (the median is reported).
async fn startup_series(series: &[usize], rows: &mut Vec<(String, String)>) {
    if series.is_empty() {
        return;
    }
    let remote = support::bucket("bench-scale").await;
    let dir = tempfile::tempdir().expect("cache dir");
    let make = || {
        let mut o = support::options(dir.path(), &remote);
        o.core.write_back_delay = Duration::from_secs(3600);
        o
    };
    let mut entries = 0usize;
    for &total in series {
        let pending = total / 10;
        let engine = Arc::new(CacheManager::start(make()).await.expect("start"));
        let t = Instant::now();
        let clean: Vec<String> = (entries..total - pending)
            .map(|i| format!("scale/{i:07}.bin"))
            .collect();
        entries += clean.len();
        create_files(&engine, clean, 32).await;
        // Everything so far goes up and stays cached, clean.
        engine.flush(true).await.expect("flush");
        let waiting: Vec<String> = (0..pending)
            .map(|i| format!("pending-{total}/{i:06}.bin"))
            .collect();
        entries += waiting.len();
        create_files(&engine, waiting, 32).await;
        let populate = t.elapsed();
        let Ok(engine) = Arc::try_unwrap(engine) else {
            panic!("the create tasks are done");
        };
        engine.stop().await.expect("stop");
        let mut starts = Vec::new();
        let mut after = (0, 0);
        for _ in 0..3 {
            let t = Instant::now();
            let engine = CacheManager::start(make()).await.expect("restart");
            starts.push(t.elapsed());
            let st = engine.status().await.expect("status");
            after = (st.uploads_pending(), st.cached_bytes);
            engine.stop().await.expect("stop");
        }
        starts.sort();
        rows.push((
            format!("startup with {total} entries, {pending} of them awaiting upload"),
            format!(
                "start {} (median of 3; {} and {}); {} uploads pending and {} MiB cached after it; building the cache took {:.0} s",
                ms(starts[1]),
                ms(starts[0]),
                ms(starts[2]),
                after.0,
                after.1 >> 20,
                populate.as_secs_f64()
            ),
        ));
        assert_eq!(entries, total);
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Drops the page cache when allowed (root), so reads come from the disk.
fn drop_caches() -> bool {
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mib_s(bytes: usize, d: Duration) -> String {
    format!("{:.0} MiB/s", bytes as f64 / MIB as f64 / d.as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = std::env::args().any(|a| a == "--scale");
    let sizes = if quick {
        Sizes {
            rss_file_mib: 64,
            memory_limit_mib: 32,
            entries: 500,
            startup_series: &[],
            seq_mib: 16,
        }
    } else if scale {
        Sizes {
            rss_file_mib: 4096,
            memory_limit_mib: 256,
            entries: 0,
            startup_series: &[1_000, 10_000, 100_000],
            seq_mib: 256,
        }
    } else {
        Sizes {
            rss_file_mib: 1024,
            memory_limit_mib: 256,
            entries: 10_000,
            startup_series: &[],
            seq_mib: 256,
        }
    };
    let mut rows: Vec<(String, String)> = Vec::new();
    let started = Instant::now();

    // 1. Peak RSS (first, so the process's high-water mark is this case's).
    {
        let remote = support::bucket("bench-rss").await;
        let dir = tempfile::tempdir().expect("cache dir");
        let mut o = support::options(dir.path(), &remote);
        o.memory_limit = sizes.memory_limit_mib << 20;
        o.core.write_back_delay = Duration::from_millis(200);
        let before = peak_rss_mib();
        let engine = CacheManager::start(o).await.expect("start");
        let f = engine.open("rss/big.bin", true).await.expect("open");
        let piece = bytes::Bytes::from(support::pattern(MIB, 5));
        let t = Instant::now();
        for i in 0..sizes.rss_file_mib {
            f.write((i * MIB) as u64, piece.clone())
                .await
                .expect("write");
        }
        f.sync_range().await.expect("fsync");
        f.close().await.expect("close");
        engine.flush(true).await.expect("flush");
        let took = t.elapsed();
        engine.stop().await.expect("stop");
        rows.push((
            format!(
                "peak RSS, {} MiB written in 1 MiB writes + fsync and uploaded, memory limit {} MiB",
                sizes.rss_file_mib, sizes.memory_limit_mib
            ),
            format!(
                "{:.0} MiB (process, s3s-fs server included; {:.0} MiB before start); {} to the bucket, {}",
                peak_rss_mib(),
                before,
                ms(took),
                mib_s(sizes.rss_file_mib * MIB, took)
            ),
        ));
    }

    // 2. Startup with entries pending upload.
    startup_series(sizes.startup_series, &mut rows).await;
    if sizes.entries > 0 {
        let remote = support::bucket("bench-start").await;
        let dir = tempfile::tempdir().expect("cache dir");
        let make = || {
            let mut o = support::options(dir.path(), &remote);
            o.core.write_back_delay = Duration::from_secs(3600);
            o
        };
        let engine = CacheManager::start(make()).await.expect("start");
        let data = bytes::Bytes::from(support::pattern(4096, 9));
        let t = Instant::now();
        for i in 0..sizes.entries {
            let f = engine
                .open(&format!("start/{i:06}.bin"), true)
                .await
                .expect("open");
            f.write(0, data.clone()).await.expect("write");
            f.close().await.expect("close");
        }
        let populate = t.elapsed();
        let t = Instant::now();
        engine.stop().await.expect("stop");
        let stop = t.elapsed();
        let t = Instant::now();
        let engine = CacheManager::start(make()).await.expect("restart");
        let start = t.elapsed();
        let pending = engine.status().await.expect("status").uploads_pending();
        engine.stop().await.expect("stop");
        rows.push((
            format!("startup with {} entries, each awaiting upload", sizes.entries),
            format!(
                "start {} ({} uploads pending after it); stop {}; creating them took {} ({:.0} µs per open+write 4 KiB+close)",
                ms(start),
                pending,
                ms(stop),
                ms(populate),
                populate.as_secs_f64() * 1e6 / sizes.entries as f64
            ),
        ));
    }

    // 3. Sequential throughput, engine vs the raw disk.
    {
        let remote = support::bucket("bench-seq").await;
        let dir = tempfile::tempdir().expect("cache dir");
        let raw_dir = tempfile::tempdir_in(dir.path()).expect("raw dir");
        let mut o = support::options(dir.path(), &remote);
        o.core.write_back_delay = Duration::from_secs(3600);
        let engine = CacheManager::start(o).await.expect("start");
        let piece = support::pattern(MIB, 7);
        let n = sizes.seq_mib;

        let t = Instant::now();
        let path = raw_dir.path().join("raw.bin");
        {
            let mut raw = std::fs::File::create(&path).expect("raw file");
            for _ in 0..n {
                raw.write_all(&piece).expect("raw write");
            }
            raw.sync_all().expect("raw fsync");
        }
        let raw_write = t.elapsed();

        let piece_b = bytes::Bytes::from(piece.clone());
        let f = engine.open("seq/file.bin", true).await.expect("open");
        let t = Instant::now();
        for i in 0..n {
            f.write((i * MIB) as u64, piece_b.clone())
                .await
                .expect("write");
        }
        f.sync_range().await.expect("fsync");
        let silt_write = t.elapsed();
        f.close().await.expect("close");

        let dropped = drop_caches();
        let t = Instant::now();
        {
            let mut raw = std::fs::File::open(&path).expect("raw open");
            let mut buf = vec![0u8; MIB];
            for _ in 0..n {
                raw.read_exact(&mut buf).expect("raw read");
            }
        }
        let raw_read = t.elapsed();
        drop_caches();
        let f = engine.open("seq/file.bin", false).await.expect("reopen");
        let t = Instant::now();
        for i in 0..n {
            let got = f.read((i * MIB) as u64, MIB as u64).await.expect("read");
            assert_eq!(got.len(), MIB);
        }
        let silt_read = t.elapsed();
        f.close().await.expect("close");
        engine.stop().await.expect("stop");
        let bytes = n * MIB;
        rows.push((
            format!("sequential write, {n} MiB in 1 MiB writes + fsync"),
            format!(
                "silt {} , raw disk {} ({:.2}x)",
                mib_s(bytes, silt_write),
                mib_s(bytes, raw_write),
                silt_write.as_secs_f64() / raw_write.as_secs_f64()
            ),
        ));
        rows.push((
            format!(
                "sequential read of the cached file, 1 MiB reads{}",
                if dropped {
                    ", page cache dropped"
                } else {
                    " (page cache not dropped: not root)"
                }
            ),
            format!(
                "silt {} , raw disk {} ({:.2}x)",
                mib_s(bytes, silt_read),
                mib_s(bytes, raw_read),
                silt_read.as_secs_f64() / raw_read.as_secs_f64()
            ),
        ));
    }

    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "silt engine benchmark, nproc {nproc}, mode {} (run took {:.1} s; release build; redb index and cache files in a temporary directory, in-process s3s-fs)\n",
        if quick {
            "quick"
        } else if scale {
            "scale"
        } else {
            "full"
        },
        started.elapsed().as_secs_f64()
    );
    println!("| case | value |\n|---|---|");
    for (case, value) in rows {
        println!("| {case} | {value} |");
    }
}
