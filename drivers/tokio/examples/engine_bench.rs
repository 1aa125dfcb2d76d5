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
//!
//! `-- --throughput [--size MIB] [--reps N] [--random-reads N]` runs only the throughput
//! table: sequential 1 MiB writes + fsync, cached sequential reads, cold sequential reads
//! and 4 KiB random reads through the engine, the same I/O on a plain file in the same
//! directory, and `aws s3 cp` upload and download of the same file against the same
//! in-process server; medians of the repetitions (defaults: 256 MiB, 5 repetitions, 4096
//! random reads). It needs the AWS CLI (`aws`) on `PATH` and, to drop the page cache
//! before the cold cases, root.

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

const USAGE: &str = "usage: engine_bench [--quick | --scale | --throughput [--size MIB] [--reps N] [--random-reads N]]";

/// The value after `flag` in `args`, parsed; exits with the usage on a bad one.
fn flag_value(args: &[String], flag: &str, default: usize) -> usize {
    match args.iter().position(|a| a == flag) {
        None => default,
        Some(i) => match args.get(i + 1).and_then(|v| v.parse::<usize>().ok()) {
            Some(v) if v > 0 => v,
            _ => {
                eprintln!("{flag} needs a positive number\n{USAGE}");
                std::process::exit(2);
            }
        },
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--quick" | "--scale" | "--throughput" => i += 1,
            "--size" | "--reps" | "--random-reads" => i += 2,
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    if args.iter().any(|a| a == "--throughput") {
        throughput::run(throughput::Config {
            size_mib: flag_value(&args, "--size", 256),
            reps: flag_value(&args, "--reps", 5),
            random_reads: flag_value(&args, "--random-reads", 4096),
        })
        .await;
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let scale = args.iter().any(|a| a == "--scale");
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

/// `--throughput`: the engine's sequential and random I/O next to the same I/O on a plain
/// file in the cache directory and `aws s3 cp` against the same in-process server.
mod throughput {
    use super::{support, MIB};
    use silt_s3::{ObjectStore, S3Remote};
    use silt_tokio::{CacheManager, FileHandle};
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::path::Path;
    use std::process::Command;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use support::counting::Counting;

    type Remote = Arc<Counting<S3Remote>>;

    pub struct Config {
        pub size_mib: usize,
        pub reps: usize,
        pub random_reads: usize,
    }

    /// Distinct 1 MiB pieces the file is made of (piece `i % PIECES` at MiB `i`).
    const PIECES: usize = 16;
    const BLOCK: usize = 4096;

    const WRITE: usize = 0;
    const TO_BUCKET: usize = 1;
    const SEQ_DROPPED: usize = 2;
    const SEQ_WARM: usize = 3;
    const SEQ_RESTART: usize = 4;
    const RAND_WARM: usize = 5;
    const RAND_DROPPED: usize = 6;
    const COLD: usize = 7;

    /// One workload: its durations per run in each column (empty: not measured).
    struct Row {
        name: String,
        bytes: usize,
        /// Requests per run, for a time per request (random reads); 0 for none.
        ops: usize,
        silt: Vec<Duration>,
        disk: Vec<Duration>,
        aws: Vec<Duration>,
    }

    impl Row {
        fn new(name: String, bytes: usize, ops: usize) -> Row {
            Row {
                name,
                bytes,
                ops,
                silt: Vec::new(),
                disk: Vec::new(),
                aws: Vec::new(),
            }
        }
    }

    fn median(v: &[Duration]) -> Option<Duration> {
        let mut v = v.to_vec();
        v.sort();
        match v.len() {
            0 => None,
            n if n % 2 == 1 => Some(v[n / 2]),
            n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
        }
    }

    fn cell(row: &Row, v: &[Duration]) -> String {
        let Some(m) = median(v) else {
            return "-".into();
        };
        let min = v.iter().min().copied().unwrap_or(m);
        let max = v.iter().max().copied().unwrap_or(m);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let rate = row.bytes as f64 / MIB as f64 / m.as_secs_f64();
        let per_op = if row.ops > 0 {
            format!(", {:.1} µs/read", m.as_secs_f64() * 1e6 / row.ops as f64)
        } else {
            String::new()
        };
        format!(
            "{rate:.0} MiB/s, {:.0} ms{per_op} ({:.0}-{:.0})",
            ms(m),
            ms(min),
            ms(max)
        )
    }

    fn ratio(a: &[Duration], b: &[Duration]) -> String {
        match (median(a), median(b)) {
            (Some(a), Some(b)) => format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64()),
            _ => "-".into(),
        }
    }

    fn load_average() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into())
    }

    /// Writes dirty pages back (so the next timed step does not pay for the previous one),
    /// then drops the page cache when `drop` and allowed (root). Returns whether it dropped.
    fn settle(drop: bool) -> bool {
        let _ = Command::new("sync").status();
        drop && super::drop_caches()
    }

    /// The AWS CLI with a private configuration: the test server's credentials, us-east-1,
    /// path-style addressing.
    struct Aws {
        endpoint: String,
        home: tempfile::TempDir,
        version: String,
    }

    impl Aws {
        fn new(endpoint: &str) -> Aws {
            let home = tempfile::tempdir().expect("aws config dir");
            let mut aws = Aws {
                endpoint: endpoint.to_string(),
                home,
                version: String::new(),
            };
            let out = match aws.command().arg("--version").output() {
                Ok(out) if out.status.success() => out,
                Ok(out) => {
                    eprintln!(
                        "`aws --version` failed ({}): {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    );
                    Self::how_to_install();
                }
                Err(e) => {
                    eprintln!("cannot run `aws` (the AWS CLI): {e}");
                    Self::how_to_install();
                }
            };
            // AWS CLI v1 prints its version on stderr, v2 on stdout.
            let text = [out.stdout, out.stderr].concat();
            aws.version = String::from_utf8_lossy(&text).trim().to_string();
            aws.run(&["configure", "set", "default.s3.addressing_style", "path"]);
            aws
        }

        fn how_to_install() -> ! {
            eprintln!(
                "--throughput compares the engine with `aws s3 cp` and needs the AWS CLI on PATH.\n\
                 Install it with `apt-get install awscli` (what bench/compare/run.sh does) or\n\
                 `python3 -m pip install awscli`, then run this again."
            );
            std::process::exit(2);
        }

        fn command(&self) -> Command {
            let mut c = Command::new("aws");
            for var in [
                "AWS_PROFILE",
                "AWS_ENDPOINT_URL",
                "AWS_CA_BUNDLE",
                "AWS_REGION",
            ] {
                c.env_remove(var);
            }
            c.env("AWS_CONFIG_FILE", self.home.path().join("config"))
                .env(
                    "AWS_SHARED_CREDENTIALS_FILE",
                    self.home.path().join("credentials"),
                )
                .env("AWS_ACCESS_KEY_ID", support::server::ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", support::server::SECRET_KEY)
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env("AWS_EC2_METADATA_DISABLED", "true");
            c
        }

        /// Runs `aws ARGS` and returns how long it took; exits on a failure.
        fn run(&self, args: &[&str]) -> Duration {
            let t = Instant::now();
            let out = self.command().args(args).output().expect("run the AWS CLI");
            let took = t.elapsed();
            if !out.status.success() {
                eprintln!(
                    "`aws {}` failed ({}):\n{}{}",
                    args.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                std::process::exit(1);
            }
            took
        }

        /// `aws s3 cp FROM TO` against the server.
        fn cp(&self, from: &str, to: &str) -> Duration {
            self.run(&[
                "--endpoint-url",
                &self.endpoint,
                "s3",
                "cp",
                "--only-show-errors",
                from,
                to,
            ])
        }
    }

    async fn start(dir: &Path, remote: &Remote) -> CacheManager {
        let mut o = support::options(dir, remote);
        // Uploads only when flushed (the write rows measure the cache alone); the production
        // commit interval instead of the tests' short one.
        o.core.write_back_delay = Duration::from_secs(3600);
        o.core.commit_interval = silt_core::CoreConfig::default().commit_interval;
        CacheManager::start(o).await.expect("start the engine")
    }

    fn disk_seq_read(path: &Path, n: usize) -> Duration {
        let t = Instant::now();
        let mut f = std::fs::File::open(path).expect("open the plain file");
        let mut buf = vec![0u8; MIB];
        for _ in 0..n {
            f.read_exact(&mut buf).expect("read the plain file");
        }
        t.elapsed()
    }

    async fn silt_seq_read(f: &FileHandle, n: usize) -> Duration {
        let t = Instant::now();
        for i in 0..n {
            let got = f.read((i * MIB) as u64, MIB as u64).await.expect("read");
            assert_eq!(got.len(), MIB);
        }
        t.elapsed()
    }

    fn disk_random_read(path: &Path, offsets: &[u64]) -> Duration {
        let t = Instant::now();
        let mut f = std::fs::File::open(path).expect("open the plain file");
        let mut buf = vec![0u8; BLOCK];
        for &off in offsets {
            f.seek(SeekFrom::Start(off)).expect("seek the plain file");
            f.read_exact(&mut buf).expect("read the plain file");
        }
        t.elapsed()
    }

    async fn silt_random_read(f: &FileHandle, offsets: &[u64]) -> Duration {
        let t = Instant::now();
        for &off in offsets {
            let got = f.read(off, BLOCK as u64).await.expect("read");
            assert_eq!(got.len(), BLOCK);
        }
        t.elapsed()
    }

    /// Every MiB of `f` against the pieces the file was written from (untimed).
    async fn verify(f: &FileHandle, pieces: &[bytes::Bytes], n: usize, what: &str) {
        for i in 0..n {
            let got = f.read((i * MIB) as u64, MIB as u64).await.expect("read");
            assert!(got == pieces[i % PIECES], "{what}: MiB {i} differs");
        }
    }

    pub async fn run(cfg: Config) {
        let n = cfg.size_mib;
        let bytes = n * MIB;
        let load_start = load_average();
        let started = Instant::now();

        let remote = support::bucket("bench-throughput").await;
        // A second cache's view of the bucket, for the cold reads.
        let remote_b = support::same_bucket(&remote).await;
        let bucket = remote.inner().bucket().to_string();
        let aws = Aws::new(&support::server::s3s_fs().endpoint);
        let mut aws_start: Vec<Duration> = (0..3).map(|_| aws.run(&["--version"])).collect();
        aws_start.sort();

        let pieces: Vec<bytes::Bytes> = (0..PIECES)
            .map(|i| bytes::Bytes::from(support::pattern(MIB, i as u8 * 17 + 3)))
            .collect();
        // 4 KiB-aligned offsets, the same every run (xorshift).
        let blocks = (bytes / BLOCK) as u64;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let offsets: Vec<u64> = (0..cfg.random_reads)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % blocks) * BLOCK as u64
            })
            .collect();
        let random_bytes = cfg.random_reads * BLOCK;

        let mut rows = vec![
            Row::new(
                format!("sequential write, {n} MiB in 1 MiB writes + fsync (aws: upload of the file)"),
                bytes,
                0,
            ),
            Row::new(
                "the same write + fsync, then until the bucket has it (engine: + `flush(true)`; aws: upload)".into(),
                bytes,
                0,
            ),
            Row::new("cached sequential read, 1 MiB reads, page cache dropped".into(), bytes, 0),
            Row::new("cached sequential read, 1 MiB reads, page cache warm".into(), bytes, 0),
            Row::new(
                "cached sequential read after an engine restart (chunks CRC-checked at first read), page cache dropped".into(),
                bytes,
                0,
            ),
            Row::new(
                format!("{} random 4 KiB reads of the cached file, page cache warm", cfg.random_reads),
                random_bytes,
                cfg.random_reads,
            ),
            Row::new(
                format!("{} random 4 KiB reads of the cached file, page cache dropped", cfg.random_reads),
                random_bytes,
                cfg.random_reads,
            ),
            Row::new(
                "cold sequential read, 1 MiB reads (engine: empty cache, fetched from the bucket; plain file: page cache dropped; aws: download)".into(),
                bytes,
                0,
            ),
        ];
        let mut dropped_all = true;
        let mut cold_gets = Vec::new();

        for rep in 0..cfg.reps {
            let key = format!("tp/r{rep}.bin");
            let aws_key = format!("aws/r{rep}.bin");
            let cache_a = tempfile::tempdir().expect("cache dir");
            let cache_b = tempfile::tempdir().expect("second cache dir");
            let plain_dir = cache_a.path().join("plain");
            std::fs::create_dir(&plain_dir).expect("plain dir");
            let plain = plain_dir.join("file.bin");
            let download = plain_dir.join("download.bin");
            let plain_s = plain.to_str().expect("utf-8 temporary path").to_string();
            let download_s = download.to_str().expect("utf-8 temporary path").to_string();

            // 1. Sequential write + fsync; the engine's upload; aws upload.
            settle(false);
            let t = Instant::now();
            {
                let mut f = std::fs::File::create(&plain).expect("create the plain file");
                for i in 0..n {
                    f.write_all(&pieces[i % PIECES])
                        .expect("write the plain file");
                }
                f.sync_all().expect("fsync the plain file");
            }
            rows[WRITE].disk.push(t.elapsed());
            settle(false);
            let engine = start(cache_a.path(), &remote).await;
            let f = engine.open(&key, true).await.expect("open");
            let t = Instant::now();
            for i in 0..n {
                f.write((i * MIB) as u64, pieces[i % PIECES].clone())
                    .await
                    .expect("write");
            }
            f.sync_range().await.expect("fsync");
            let wrote = t.elapsed();
            f.close().await.expect("close");
            let t = Instant::now();
            engine.flush(true).await.expect("flush");
            let uploaded = t.elapsed();
            rows[WRITE].silt.push(wrote);
            rows[TO_BUCKET].silt.push(wrote + uploaded);
            settle(false);
            let up = aws.cp(&plain_s, &format!("s3://{bucket}/{aws_key}"));
            rows[WRITE].aws.push(up);
            rows[TO_BUCKET].aws.push(up);

            // 2. Cached sequential reads: page cache dropped, then warm.
            let f = engine.open(&key, false).await.expect("reopen");
            dropped_all &= settle(true);
            rows[SEQ_DROPPED].disk.push(disk_seq_read(&plain, n));
            settle(true);
            rows[SEQ_DROPPED].silt.push(silt_seq_read(&f, n).await);
            // The drop before the engine's read evicted the plain file: read both once
            // (untimed) so that both are in the page cache.
            disk_seq_read(&plain, n);
            silt_seq_read(&f, n).await;
            rows[SEQ_WARM].disk.push(disk_seq_read(&plain, n));
            rows[SEQ_WARM].silt.push(silt_seq_read(&f, n).await);
            if rep == 0 {
                verify(&f, &pieces, n, "cached read").await;
            }

            // 3. Random 4 KiB reads: warm (the whole file is in the page cache), then dropped.
            rows[RAND_WARM]
                .disk
                .push(disk_random_read(&plain, &offsets));
            rows[RAND_WARM]
                .silt
                .push(silt_random_read(&f, &offsets).await);
            settle(true);
            rows[RAND_DROPPED]
                .disk
                .push(disk_random_read(&plain, &offsets));
            settle(true);
            rows[RAND_DROPPED]
                .silt
                .push(silt_random_read(&f, &offsets).await);
            f.close().await.expect("close");
            engine.stop().await.expect("stop");

            // 4. Cached sequential read after a restart.
            let engine = start(cache_a.path(), &remote).await;
            let f = engine.open(&key, false).await.expect("open after restart");
            settle(true);
            rows[SEQ_RESTART].disk.push(disk_seq_read(&plain, n));
            settle(true);
            rows[SEQ_RESTART].silt.push(silt_seq_read(&f, n).await);
            f.close().await.expect("close");
            engine.stop().await.expect("stop");

            // 5. Cold sequential read: a second, empty cache on the same bucket; aws download.
            let engine_b = start(cache_b.path(), &remote_b).await;
            let f = engine_b.open(&key, false).await.expect("open, cold");
            settle(true);
            rows[COLD].disk.push(disk_seq_read(&plain, n));
            settle(true);
            let gets = remote_b.gets();
            rows[COLD].silt.push(silt_seq_read(&f, n).await);
            cold_gets.push(remote_b.gets() - gets);
            if rep == 0 {
                verify(&f, &pieces, n, "cold read").await;
            }
            f.close().await.expect("close");
            engine_b.stop().await.expect("stop");
            settle(true);
            let down = aws.cp(&format!("s3://{bucket}/{key}"), &download_s);
            rows[COLD].aws.push(down);
            if rep == 0 {
                let a = std::fs::read(&plain).expect("read the plain file");
                let b = std::fs::read(&download).expect("read the download");
                assert!(a == b, "aws download differs from the file");
            }

            remote.inner().delete(&key, None).await.expect("delete");
            remote.inner().delete(&aws_key, None).await.expect("delete");
            eprintln!(
                "run {}/{} done ({:.0} s so far)",
                rep + 1,
                cfg.reps,
                started.elapsed().as_secs_f64()
            );
        }

        cold_gets.sort_unstable();
        let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!(
            "silt engine throughput: {n} MiB file, medians of {} runs (min-max ms in brackets); \
             nproc {nproc}; load average {load_start} at the start, {} at the end; run took {:.0} s; \
             page cache {}; cache directories and the plain file under {}; in-process s3s-fs \
             (its bucket in the same temporary directory); {}, which takes {:.0} ms to start \
             (`aws --version`, median of 3), included in its times\n",
            cfg.reps,
            load_average(),
            started.elapsed().as_secs_f64(),
            if dropped_all {
                "dropped before the cold and \"dropped\" cases (sync; echo 3 > /proc/sys/vm/drop_caches)"
            } else {
                "NOT dropped (not root): the \"dropped\" rows read from memory"
            },
            std::env::temp_dir().display(),
            aws.version,
            aws_start[1].as_secs_f64() * 1000.0,
        );
        println!("| workload | silt engine | plain file, same directory | aws s3 cp | silt / plain | silt / aws |");
        println!("|---|---|---|---|---|---|");
        for row in &rows {
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                row.name,
                cell(row, &row.silt),
                cell(row, &row.disk),
                cell(row, &row.aws),
                ratio(&row.silt, &row.disk),
                ratio(&row.silt, &row.aws)
            );
        }
        println!(
            "\ncold read: the engine sent {} GETs per run (median; {}-{})",
            cold_gets[cold_gets.len() / 2],
            cold_gets[0],
            cold_gets[cold_gets.len() - 1]
        );
    }
}
