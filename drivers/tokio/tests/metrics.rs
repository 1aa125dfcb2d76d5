//! The metrics, end to end: an engine on real cache files and a real index, talking to the
//! in-process s3s-fs server, serves its metrics over HTTP at a loopback port; each test
//! makes an event happen and scrapes the endpoint (a real `GET /metrics`) to see its
//! counter move. Every scrape is also checked against the one before: counters never go
//! backwards. The control socket's `status` is checked against the same figures.

#[path = "scrape/mod.rs"]
mod scrape;
mod support;

use scrape::{assert_monotonic, scrape_until, Scrape};
use silt_tokio::{CacheManager, Error};
use std::net::SocketAddr;
use std::time::Duration;
use support::{bounded, bucket, options, pattern, put_outside};

/// A real `GET /metrics`, off the runtime's workers.
async fn scrape(addr: SocketAddr) -> Scrape {
    tokio::task::spawn_blocking(move || scrape::scrape(addr))
        .await
        .expect("scrape task")
}

/// Scrapes until `cond` holds (10 s at most).
async fn until(addr: SocketAddr, what: &'static str, cond: fn(&Scrape) -> bool) -> Scrape {
    tokio::task::spawn_blocking(move || scrape_until(addr, Duration::from_secs(10), what, cond))
        .await
        .expect("scrape task")
}

/// Keeps every scrape and checks each against the one before.
#[derive(Default)]
struct History(Vec<Scrape>);

impl History {
    fn push(&mut self, s: Scrape) -> Scrape {
        if let Some(last) = self.0.last() {
            assert_monotonic(last, &s);
        }
        self.0.push(s.clone());
        s
    }
}

const LOOPBACK_ANY_PORT: &str = "127.0.0.1:0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_counter_moves_when_its_event_happens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = bucket("metrics").await;
    let mut opts = options(dir.path(), &remote);
    opts.services.metrics_addr = Some(LOOPBACK_ANY_PORT.parse().expect("addr"));
    opts.services.control_socket = true;
    opts.core.chunk_size = 64 << 10;
    opts.core.readahead_initial = 64 << 10;
    opts.core.readahead_max = 256 << 10;
    opts.core.cache_budget = 2 << 20;
    opts.core.dirty_limit = 2 << 20;
    opts.core.min_part_size = 5 << 20;
    opts.core.multipart_threshold = 6 << 20;
    // Uploads go up when the test flushes.
    opts.core.write_back_delay = Duration::from_secs(600);
    let engine = CacheManager::start(opts).await.expect("start");
    let addr = engine.metrics_addr().expect("metrics served");
    assert!(addr.ip().is_loopback());
    let mut h = History::default();

    // At start: every series is served, at zero.
    let s = h.push(scrape(addr).await);
    for series in [
        "silt_read_requests_total{result=\"hit\"}",
        "silt_read_requests_total{result=\"miss\"}",
        "silt_fetches_total",
        "silt_evictions_total",
        "silt_uploads_succeeded_total",
        "silt_upload_failures_total{kind=\"transient\"}",
        "silt_upload_failures_total{kind=\"permanent\"}",
        "silt_upload_bytes_total{how=\"sent\"}",
        "silt_upload_bytes_total{how=\"copied\"}",
        "silt_conflicts_total",
        "silt_enospc_total",
        "silt_space_exhausted_total",
        "silt_backpressure_waits_total{reason=\"memory\"}",
        "silt_backpressure_waits_total{reason=\"space\"}",
        "silt_sparse_fallback_total",
        "silt_fetch_duration_seconds_count",
        "silt_upload_duration_seconds_count",
    ] {
        assert_eq!(s.get(series), 0.0, "{series} at start");
    }
    assert_eq!(s.get("silt_cached_bytes{state=\"dirty\"}"), 0.0);
    assert_eq!(s.get("silt_uploads{state=\"queued\"}"), 0.0);
    assert_eq!(s.get("silt_oldest_dirty_age_seconds"), 0.0);
    assert_eq!(s.get("silt_memory_limit_bytes"), (1u64 << 30) as f64);
    assert_eq!(s.get("silt_fatal"), 0.0);
    // The first free-space reading comes from the blocking pool, soon after the start (Unix
    // only: elsewhere the engine has no reading and the gauge stays 0).
    if cfg!(unix) {
        let mut free = s.get("silt_disk_free_bytes");
        for _ in 0..100 {
            if free > 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            free = scrape(addr).await.get("silt_disk_free_bytes");
        }
        assert!(free > 0.0, "no free-space reading within 10 s");
    }

    // A cold read is a miss and fetches; the same bytes again are a hit.
    let cold = pattern(256 << 10, 1);
    put_outside(&remote, "cold.bin", &cold).await;
    let f = engine.open("cold.bin", false).await.expect("open");
    let got = bounded("cold read", f.read(0, 64 << 10))
        .await
        .expect("read");
    assert!(got[..] == cold[..64 << 10]);
    let s = h.push(scrape(addr).await);
    assert_eq!(
        s.get("silt_read_requests_total{result=\"miss\"}"),
        1.0,
        "{s}"
    );
    assert_eq!(s.get("silt_read_bytes_total{result=\"miss\"}"), 65536.0);
    assert!(s.get("silt_fetches_total") >= 1.0);
    assert!(s.get("silt_fetch_bytes_total") >= 65536.0);
    assert!(s.get("silt_fetch_duration_seconds_count") >= 1.0);
    assert!(s.get("silt_remote_requests_total{op=\"get\",outcome=\"ok\"}") >= 1.0);
    let got = bounded("warm read", f.read(0, 64 << 10))
        .await
        .expect("read");
    assert!(got[..] == cold[..64 << 10]);
    let s = h.push(scrape(addr).await);
    assert_eq!(
        s.get("silt_read_requests_total{result=\"hit\"}"),
        1.0,
        "{s}"
    );
    assert_eq!(s.get("silt_read_bytes_total{result=\"hit\"}"), 65536.0);
    assert_eq!(s.get("silt_read_requests_total{result=\"miss\"}"), 1.0);
    bounded("close", f.close()).await.expect("close");

    // A write fsynced: dirty bytes, one upload queued, an age that grows, index commits.
    let data = pattern(200_000, 2);
    let f = engine.open("new.bin", true).await.expect("open");
    f.write(0, data.clone()).await.expect("write");
    bounded("fsync", f.sync_range()).await.expect("fsync");
    bounded("close", f.close()).await.expect("close");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let s = h.push(scrape(addr).await);
    assert_eq!(
        s.get("silt_cached_bytes{state=\"dirty\"}"),
        200_000.0,
        "{s}"
    );
    assert_eq!(s.get("silt_uploads{state=\"queued\"}"), 1.0);
    assert!(s.get("silt_oldest_dirty_age_seconds") >= 0.05, "{s}");
    assert!(s.get("silt_index_commits_total") >= 1.0);
    assert!(s.get("silt_index_transactions_total") >= s.get("silt_index_commits_total"));
    assert!(s.get("silt_index_commit_duration_seconds_count") >= 1.0);
    assert!(s.get("silt_index_transaction_operations_count") >= 1.0);

    // The flush uploads it: one success, its bytes sent, its latency, nothing dirty.
    bounded("flush", engine.flush(true)).await.expect("flush");
    let s = h.push(scrape(addr).await);
    assert_eq!(s.get("silt_uploads_succeeded_total"), 1.0, "{s}");
    assert!(s.get("silt_upload_bytes_total{how=\"sent\"}") >= 200_000.0);
    assert_eq!(s.get("silt_upload_duration_seconds_count"), 1.0);
    assert_eq!(s.get("silt_cached_bytes{state=\"dirty\"}"), 0.0);
    assert_eq!(s.get("silt_uploads{state=\"queued\"}"), 0.0);
    assert_eq!(s.get("silt_oldest_dirty_age_seconds"), 0.0);
    assert!(s.get("silt_cached_bytes{state=\"clean\"}") >= 200_000.0);

    // A small edit of a large object: multipart, the unchanged parts copied server-side.
    let big = pattern(12 << 20, 3);
    put_outside(&remote, "big.bin", &big).await;
    let sent_before = s.get("silt_upload_bytes_total{how=\"sent\"}");
    let f = engine.open("big.bin", false).await.expect("open");
    f.write(4096, pattern(4096, 4)).await.expect("write");
    bounded("fsync", f.sync_range()).await.expect("fsync");
    bounded("close", f.close()).await.expect("close");
    bounded("flush", engine.flush(true)).await.expect("flush");
    let s = h.push(scrape(addr).await);
    assert_eq!(s.get("silt_uploads_succeeded_total"), 2.0, "{s}");
    assert!(
        s.get("silt_upload_bytes_total{how=\"copied\"}") >= (6 << 20) as f64,
        "unchanged parts copied: {s}"
    );
    assert!(s.get("silt_upload_bytes_total{how=\"sent\"}") > sent_before);
    assert!(s.get("silt_upload_bytes_total{how=\"sent\"}") < sent_before + (12 << 20) as f64);

    // More than the 2 MiB budget read: clean chunks are evicted.
    let f = engine.open("big.bin", false).await.expect("open");
    for i in 0..8u64 {
        let off = i * (1 << 20) + (1 << 20);
        bounded("read", f.read(off, 1 << 20)).await.expect("read");
    }
    bounded("close", f.close()).await.expect("close");
    let s = h.push(
        until(addr, "evictions", |s| {
            s.get("silt_evictions_total") >= 1.0 && s.get("silt_evicted_bytes_total") >= 1.0
        })
        .await,
    );
    assert!(s.get("silt_evicted_bytes_total") >= s.get("silt_evictions_total"));

    // An outside change under local edits: a conflict.
    let v1 = pattern(70_000, 5);
    put_outside(&remote, "doc.txt", &v1).await;
    let f = engine.open("doc.txt", false).await.expect("open");
    bounded("read", f.read(0, 70_000)).await.expect("read");
    put_outside(&remote, "doc.txt", &pattern(40_000, 6)).await;
    f.write(0, pattern(80_000, 7)).await.expect("write");
    bounded("close", f.close()).await.expect("close");
    bounded("flush", engine.flush(true)).await.expect("flush");
    let s = h.push(scrape(addr).await);
    assert_eq!(s.get("silt_conflicts_total"), 1.0, "{s}");
    assert_eq!(s.get("silt_conflict_copies"), 1.0);

    // The server refuses writes for a while: transient failures, an upload retrying.
    remote.fail_writes(true);
    let f = engine.open("retry.bin", true).await.expect("open");
    f.write(0, pattern(10_000, 8)).await.expect("write");
    bounded("fsync", f.sync_range()).await.expect("fsync");
    bounded("close", f.close()).await.expect("close");
    engine.flush(false).await.expect("flush");
    let s = h.push(
        until(addr, "a transient failure", |s| {
            s.get("silt_upload_failures_total{kind=\"transient\"}") >= 1.0
                && s.get("silt_uploads{state=\"retrying\"}") == 1.0
        })
        .await,
    );
    assert_eq!(s.get("silt_upload_failures_total{kind=\"permanent\"}"), 0.0);
    remote.fail_writes(false);
    bounded("flush", engine.flush(true)).await.expect("flush");
    let s = h.push(scrape(addr).await);
    assert_eq!(s.get("silt_uploads{state=\"retrying\"}"), 0.0, "{s}");
    let uploads = s.get("silt_uploads_succeeded_total");
    // Two uploads above, the conflict copy, and this one.
    assert!(uploads >= 4.0, "{s}");

    // The control socket's status gives the same counters.
    control_status_agrees(dir.path(), &s, uploads).await;
    let s = h.push(scrape(addr).await);
    assert_eq!(s.get("silt_uploads_succeeded_total"), uploads);

    bounded("stop", engine.stop()).await.expect("stop");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the endpoint closes with the engine"
    );
    assert!(!dir.path().join("control.sock").exists());
}

/// `status` over the control socket (Unix) gives the counters of the scrape `s`.
#[cfg(unix)]
async fn control_status_agrees(dir: &std::path::Path, s: &Scrape, uploads: f64) {
    let cache_dir = dir.to_path_buf();
    let reply =
        tokio::task::spawn_blocking(move || silt_engine::control::request(&cache_dir, "status"))
            .await
            .expect("task")
            .expect("status over the control socket");
    assert!(reply.ok, "{reply:?}");
    let report = reply.status.expect("a status");
    assert_eq!(report.schema, silt_engine::STATUS_SCHEMA);
    assert_eq!(report.source, "mount");
    assert_eq!(report.pid, Some(std::process::id()));
    assert_eq!(report.counters.uploads_succeeded as f64, uploads);
    assert_eq!(report.counters.conflicts, 1);
    assert_eq!(
        report.counters.read_hits as f64,
        s.get("silt_read_requests_total{result=\"hit\"}")
    );
    assert_eq!(
        report.counters.fetch_bytes as f64,
        s.get("silt_fetch_bytes_total")
    );
    assert_eq!(report.conflicts.len(), 1);
    assert_eq!(report.cache.dirty_bytes, 0);
}

/// Control sockets are Unix only: elsewhere a request says so.
#[cfg(not(unix))]
async fn control_status_agrees(dir: &std::path::Path, _s: &Scrape, _uploads: f64) {
    let got = silt_engine::control::request(dir, "status");
    assert!(
        matches!(got, Err(silt_engine::control::ControlError::Unsupported)),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_waiting_for_memory_and_the_sparse_fallback_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = bucket("metrics-mem").await;
    let mut opts = options(dir.path(), &remote);
    opts.services.metrics_addr = Some(LOOPBACK_ANY_PORT.parse().expect("addr"));
    support::memory::tiny_limit(&mut opts);
    // Cache files as on a filesystem without sparse files: evictions write zeros.
    opts.store.force_fallback = true;
    opts.core.cache_budget = 4 << 20;
    opts.core.dirty_limit = 4 << 20;
    let engine = std::sync::Arc::new(CacheManager::start(opts).await.expect("start"));
    let addr = engine.metrics_addr().expect("metrics served");
    let before = scrape(addr).await;
    assert_eq!(before.get("silt_memory_limit_bytes"), (256u64 << 10) as f64);

    let mut writers = tokio::task::JoinSet::new();
    for w in 0..support::memory::WRITERS {
        let engine = engine.clone();
        writers.spawn(async move {
            let f = engine
                .open(&support::memory::key(w), true)
                .await
                .expect("open");
            for (off, data) in support::memory::writes(w) {
                f.write(off, data).await.expect("write");
            }
            f.sync_range().await.expect("fsync");
            f.close().await.expect("close");
        });
    }
    while let Some(r) = bounded("writers", writers.join_next()).await {
        r.expect("writer");
    }
    let s = scrape(addr).await;
    assert_monotonic(&before, &s);
    assert!(
        s.get("silt_backpressure_waits_total{reason=\"memory\"}") >= 1.0,
        "writers waited for the write budget: {s}"
    );
    bounded("flush", engine.flush(true)).await.expect("flush");
    // Uploaded data is clean; a read takes the cache over its 4 MiB budget: chunks are
    // evicted, by writing zeros.
    let other = pattern(2 << 20, 9);
    put_outside(&remote, "other.bin", &other).await;
    let f = engine.open("other.bin", false).await.expect("open");
    for i in 0..8u64 {
        let got = bounded("read", f.read(i * (256 << 10), 256 << 10))
            .await
            .expect("read");
        assert!(got.len() == 256 << 10);
    }
    bounded("close", f.close()).await.expect("close");
    let s2 = tokio::task::spawn_blocking(move || {
        scrape_until(addr, Duration::from_secs(10), "fallback", |s| {
            s.get("silt_evictions_total") >= 1.0 && s.get("silt_sparse_fallback_total") >= 1.0
        })
    })
    .await
    .expect("scrape task");
    assert_monotonic(&s, &s2);
    let engine = std::sync::Arc::try_unwrap(engine).expect("writers done");
    bounded("stop", engine.stop()).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_address_in_use_is_refused_at_start() {
    let taken = std::net::TcpListener::bind(LOOPBACK_ANY_PORT).expect("bind");
    let addr = taken.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = bucket("metrics-taken").await;
    let mut opts = options(dir.path(), &remote);
    opts.services.metrics_addr = Some(addr);
    let err = CacheManager::start(opts).await.expect_err("address in use");
    assert!(matches!(err, Error::Metrics { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    // The engine it started is stopped and the directory free again.
    let again = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let mut o = options(dir.path(), &remote);
            o.services.metrics_addr = None;
            match CacheManager::start(o).await {
                Ok(e) => return e,
                Err(Error::Locked { .. }) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the lock is released");
    bounded("stop", again.stop()).await.expect("stop");
}

/// A tmpfs mounted for the test (root), unmounted when dropped.
#[cfg(target_os = "linux")]
struct Tmpfs {
    path: std::path::PathBuf,
}

#[cfg(target_os = "linux")]
impl Tmpfs {
    fn mount(path: &std::path::Path, size_mib: u64) -> Tmpfs {
        std::fs::create_dir_all(path).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount(8)");
        assert!(
            out.status.success(),
            "mounting a {size_mib} MiB tmpfs at {} failed (this test needs root): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            path: path.to_path_buf(),
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Fills the disk of `dir` with a file until it is full, then gives back `keep` bytes.
#[cfg(target_os = "linux")]
fn fill(dir: &std::path::Path, keep: u64) -> std::path::PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let block = vec![0x5au8; 64 << 10];
    let mut written = 0u64;
    loop {
        match file.write(&block) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    file.set_len(written.saturating_sub(keep))
        .expect("give some room back");
    file.sync_all().expect("sync filler");
    path
}

/// The disk of the cache files filled behind the engine's back (they live on a 16 MiB
/// tmpfs at `<cache_dir>/data`; the index and the disk reading are on the larger disk of
/// the cache directory): the cache file's write fails with ENOSPC, the writer waits for
/// space and then gets a clear "no space". Each step has its counter.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enospc_and_writers_waiting_for_space_are_counted() {
    let root = tempfile::tempdir().expect("tempdir");
    let cache_dir = root.path().join("cache");
    let disk = Tmpfs::mount(&cache_dir.join("data"), 16);
    let remote = bucket("metrics-enospc").await;
    let mut opts: silt_tokio::Options<_> = options(&cache_dir, &remote);
    opts.services.metrics_addr = Some(LOOPBACK_ANY_PORT.parse().expect("addr"));
    opts.core.write_back_delay = Duration::from_secs(600);
    opts.core.write_wait_timeout = Duration::from_millis(500);
    opts.core.min_free_space = 1 << 20;
    // One reading at start, none after: the engine does not see the disk fill.
    opts.driver.disk_free_interval = Duration::from_secs(3600);
    let engine = CacheManager::start(opts).await.expect("start");
    let addr = engine.metrics_addr().expect("metrics served");
    let before = scrape(addr).await;

    let filler = fill(&disk.path, 512 << 10);
    let f = engine.open("big.bin", true).await.expect("open");
    let err = bounded("write on a full disk", f.write(0, pattern(2 << 20, 1)))
        .await
        .expect_err("no space");
    assert!(matches!(err, Error::NoSpace), "{err:?}");
    let s = scrape(addr).await;
    assert_monotonic(&before, &s);
    assert!(s.get("silt_enospc_total") >= 1.0, "{s}");
    assert!(
        s.get("silt_backpressure_waits_total{reason=\"space\"}") >= 1.0,
        "{s}"
    );
    assert!(s.get("silt_space_exhausted_total") >= 1.0, "{s}");
    assert_eq!(s.get("silt_fatal"), 0.0, "the index kept committing: {s}");

    std::fs::remove_file(filler).expect("free the disk");
    bounded("close", f.close()).await.expect("close");
    bounded("stop", engine.stop()).await.expect("stop");
}
