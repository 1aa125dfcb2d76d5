//! The kernel settings of the mount, measured: for each candidate (`max_write`,
//! `max_background`, the mount's readahead), the same workloads through a real mount of the
//! in-process s3s-fs server through the cache (the test mount: redb index and cache files
//! in a temporary directory): a sequential write in 1 MiB writes + fsync, a sequential read
//! of a cached file in 1 MiB reads with the page cache dropped first, and random 4 KiB reads
//! of it (page cache dropped). Candidates are interleaved across repetitions; the table
//! shows medians. The defaults in `KernelSettings::default()` come from this table
//! (`docs/benchmarks.md`, "FUSE settings").
//!
//! Needs root and /dev/fuse.
//! `cargo run --release -p silt-fuse --example fuse_settings -- [--mib N] [--reps N]`.

#[path = "../tests/support/mod.rs"]
mod support;

use silt_fuse::{FsOptions, KernelSettings, MountConfig, Ownership};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

const MIB: usize = 1 << 20;

fn drop_caches() {
    let _ = fs::write("/proc/sys/vm/drop_caches", "3");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Splitmix64 for the random offsets.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// MiB/s of writing `mib` MiB to `path` in 1 MiB writes, then fsync.
fn write_rate(path: &Path, mib: usize) -> f64 {
    let block = vec![0x5a_u8; MIB];
    let start = Instant::now();
    let mut f = fs::File::create(path).expect("create");
    for _ in 0..mib {
        f.write_all(&block).expect("write");
    }
    f.sync_all().expect("fsync");
    mib as f64 / start.elapsed().as_secs_f64()
}

/// MiB/s of reading `path` in 1 MiB reads, page cache dropped first.
fn read_rate(path: &Path) -> f64 {
    drop_caches();
    let f = fs::File::open(path).expect("open");
    let mut buf = vec![0u8; MIB];
    let start = Instant::now();
    let mut at = 0u64;
    loop {
        let n = f.read_at(&mut buf, at).expect("read");
        if n == 0 {
            break;
        }
        at += n as u64;
    }
    at as f64 / MIB as f64 / start.elapsed().as_secs_f64()
}

/// Microseconds per random 4 KiB read of `path` (`n` reads), page cache dropped first.
fn random_reads(path: &Path, size: u64, n: usize, seed: u64) -> f64 {
    drop_caches();
    let f = OpenOptions::new().read(true).open(path).expect("open");
    let mut buf = vec![0u8; 4096];
    let mut state = seed;
    let start = Instant::now();
    for _ in 0..n {
        let off = (next(&mut state) % (size / 4096)) * 4096;
        f.read_exact_at(&mut buf, off).expect("read");
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// Settings with these values (`None`: the kernel's 128 KiB readahead).
fn kernel(max_write: u32, max_background: u16, read_ahead_kb: Option<u32>) -> KernelSettings {
    KernelSettings {
        max_write,
        max_background,
        read_ahead_kb,
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn main() {
    require_fuse();
    let mib = arg("--mib", 128);
    let reps = arg("--reps", 3);
    let candidates: Vec<(&str, KernelSettings)> = vec![
        (
            "128 KiB writes, readahead 128 KiB",
            kernel(128 << 10, 16, None),
        ),
        ("1 MiB writes, readahead 128 KiB", kernel(1 << 20, 16, None)),
        (
            "1 MiB writes, readahead 128 KiB, background 64",
            kernel(1 << 20, 64, None),
        ),
        (
            "1 MiB writes, readahead 1 MiB (the default)",
            kernel(1 << 20, 16, Some(1024)),
        ),
        (
            "1 MiB writes, readahead 4 MiB",
            kernel(1 << 20, 16, Some(4096)),
        ),
        (
            "1 MiB writes, readahead 4 MiB, background 64",
            kernel(1 << 20, 64, Some(4096)),
        ),
    ];
    let rt = runtime();
    let s = Served::start(&rt);
    let remote = s.remote(&rt);
    let mut manager = Some(bounded(&rt, "engine", engine(&s.cache, &remote)));
    let size = (mib * MIB) as u64;

    let mut results: Vec<[Vec<f64>; 3]> = candidates.iter().map(|_| Default::default()).collect();
    for rep in 0..reps {
        for (i, (name, kernel)) in candidates.iter().enumerate() {
            let fs_opts = FsOptions {
                ownership: Ownership::of_current_user(),
                attr_ttl: Duration::from_secs(1),
                fsync_on_close: true,
                passthrough: false,
            };
            let mut config = MountConfig::new(&s.mnt, fs_opts, "silt-bench");
            config.kernel = *kernel;
            let running = manager.take().expect("the engine between mounts");
            let mounted = silt_fuse::mount(running, rt.handle().clone(), &config).expect("mount");
            let cached = s.mnt.join("cached.bin");
            if rep == 0 && i == 0 {
                write_rate(&cached, mib);
            }
            let w = write_rate(&s.mnt.join("written.bin"), mib);
            fs::remove_file(s.mnt.join("written.bin")).expect("remove");
            let r = read_rate(&cached);
            let rr = random_reads(&cached, size, 2000, rep as u64 * 7 + i as u64);
            eprintln!("rep {rep} {name}: write {w:.0} MiB/s, read {r:.0} MiB/s, 4 KiB {rr:.1} µs");
            results[i][0].push(w);
            results[i][1].push(r);
            results[i][2].push(rr);
            // The next mount starts an engine on the same cache (recovery reads the index):
            // the cached file stays cached and clean.
            bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
            manager = Some(bounded(&rt, "engine", engine(&s.cache, &remote)));
        }
    }
    println!("| kernel settings ({mib} MiB, median of {reps}) | write + fsync | cached read, page cache dropped | 4 KiB random reads |");
    println!("|---|---|---|---|");
    for ((name, _), r) in candidates.iter().zip(results) {
        println!(
            "| {name} | {:.0} MiB/s | {:.0} MiB/s | {:.1} µs |",
            median(r[0].clone()),
            median(r[1].clone()),
            median(r[2].clone())
        );
    }
    if let Some(m) = manager {
        bounded(&rt, "stop", m.stop()).expect("stop");
    }
}
