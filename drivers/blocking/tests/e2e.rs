//! End-to-end tests of the blocking engine with real components: an index on disk (redb,
//! and fjall for the round trip), real cache files, and the aws-sdk-s3 remote talking to
//! the in-process s3s-fs server on 127.0.0.1 that silt-tokio's tests use (its support
//! module is included by path). The engine is called from plain threads; the async
//! helpers of the support module (buckets, outside writers, reading the bucket) run on a
//! test runtime of their own. Every blocking call is bounded by a watchdog ([`bounded`]).

#[path = "../../tokio/tests/support/mod.rs"]
mod support;

use silt_blocking::{CacheManager, Error, Options};
use silt_s3::{ObjectStore, S3Remote};
use std::future::Future;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use support::counting::Counting;
use support::{pattern, WAIT};

type Remote = Arc<Counting<S3Remote>>;

/// Runs an async helper of the support module on the test runtime (never the engine's).
fn on<T>(f: impl Future<Output = T>) -> T {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime")
    })
    .block_on(f)
}

/// Runs `f`; if it has not returned within [`WAIT`], the test binary is aborted naming
/// `what` (a blocking call cannot be interrupted, and a hung test must not hang the suite).
fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let (done, watch) = mpsc::channel::<()>();
    let what = what.to_string();
    std::thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = watch.recv_timeout(WAIT) {
            eprintln!("{what} did not finish within {WAIT:?}: aborting");
            std::process::abort();
        }
    });
    let v = f();
    drop(done);
    v
}

fn bucket(tag: &str) -> Remote {
    on(support::bucket(tag))
}

fn object(remote: &Counting<S3Remote>, key: &str) -> Option<Vec<u8>> {
    on(support::object(remote, key))
}

fn put_outside(remote: &Counting<S3Remote>, key: &str, data: &[u8]) {
    on(support::put_outside(remote, key, data));
}

fn options(dir: &Path, remote: &Remote) -> Options<Counting<S3Remote>> {
    support::options(dir, remote)
}

fn start(opts: Options<Counting<S3Remote>>) -> CacheManager {
    bounded("start", || CacheManager::start(opts)).expect("start")
}

fn stop(engine: CacheManager) {
    let report = bounded("stop", || engine.stop()).expect("stop");
    assert!(report.clean, "{report:?}");
}

/// Applies a write to the model of a file.
fn apply(model: &mut Vec<u8>, offset: usize, data: &[u8]) {
    if model.len() < offset + data.len() {
        model.resize(offset + data.len(), 0);
    }
    model[offset..offset + data.len()].copy_from_slice(data);
}

#[test]
fn written_ranges_reach_the_bucket_after_fsync_and_flush_wait_on_redb() {
    written_ranges_reach_the_bucket("redb", "index.db");
}

#[test]
fn written_ranges_reach_the_bucket_after_fsync_and_flush_wait_on_fjall() {
    written_ranges_reach_the_bucket("fjall", "index.fjall");
}

fn written_ranges_reach_the_bucket(backend: &str, index_file: &str) {
    let remote = bucket(&format!("blocking-ranges-{backend}"));
    let dir = tempfile::tempdir().expect("cache dir");
    let engine = start(support::options_on(dir.path(), &remote, backend));
    assert!(dir.path().join(index_file).exists(), "the {backend} index");

    let mut model = Vec::new();
    let f = engine.open("dir/ranges.bin", true).expect("open");
    assert_eq!(f.size_at_open(), 0);
    for (offset, len, seed) in [(0, 100_000, 1), (2_500_000, 50_000, 2), (60_000, 10_000, 3)] {
        let data = pattern(len, seed);
        let n = bounded("write", || f.write(offset as u64, data.clone())).expect("write");
        assert_eq!(n, len as u64);
        apply(&mut model, offset, &data);
    }
    bounded("fsync", || f.sync_range()).expect("fsync");
    let back = bounded("read", || f.read(0, model.len() as u64)).expect("read");
    assert!(back[..] == model[..], "the local version reads back");
    bounded("close", || f.close()).expect("close");

    bounded("flush", || engine.flush(true)).expect("flush");
    let stored = object(&remote, "dir/ranges.bin").expect("object exists");
    assert_eq!(stored.len(), model.len());
    assert!(stored == model, "the bucket holds exactly what was written");

    let status = engine.status().expect("status");
    assert_eq!(status.uploads_pending(), 0, "{status:?}");
    assert_eq!(status.dirty_bytes, 0, "{status:?}");
    assert!(status.events.uploads_done >= 1, "{status:?}");
    assert!(status.pending.is_none(), "{status:?}");
    stop(engine);
}

/// A stop leaves the uploads in the journal: one fsynced and closed, one still open and
/// never fsynced (the stop fsyncs it). The next start on the directory resumes both.
#[test]
fn stop_and_start_resume_pending_uploads() {
    let remote = bucket("blocking-resume");
    let dir = tempfile::tempdir().expect("cache dir");
    let (a, b) = (pattern(300_000, 5), pattern(64_000, 6));

    let mut opts = options(dir.path(), &remote);
    opts.core.write_back_delay = Duration::from_secs(600);
    let engine = start(opts);
    let fa = engine.open("resume/a.bin", true).expect("open a");
    bounded("write", || fa.write(0, a.clone())).expect("write a");
    bounded("fsync", || fa.sync_range()).expect("fsync a");
    bounded("close", || fa.close()).expect("close a");
    let fb = engine.open("resume/b.bin", true).expect("open b");
    bounded("write", || fb.write(0, b.clone())).expect("write b");
    let status = engine.status().expect("status");
    assert!(status.uploads_queued >= 1, "a is journaled: {status:?}");
    stop(engine);
    assert!(matches!(fb.read(0, 1), Err(Error::Stopped)));
    drop(fb);
    assert_eq!(remote.writes(), 0, "nothing was uploaded before the stop");
    assert!(object(&remote, "resume/a.bin").is_none());

    // The write-back delay is long again: only the journal and a flush upload them.
    let mut opts = options(dir.path(), &remote);
    opts.core.write_back_delay = Duration::from_secs(600);
    let engine = start(opts);
    let status = engine.status().expect("status");
    assert_eq!(status.uploads_pending(), 2, "both journaled: {status:?}");
    let gets = remote.gets();
    let f = engine.open("resume/a.bin", false).expect("reopen");
    assert_eq!(f.size_at_open(), a.len() as u64);
    let back = bounded("read", || f.read(0, a.len() as u64)).expect("read");
    assert!(back[..] == a[..], "the cache file holds the data");
    assert_eq!(remote.gets(), gets, "read from the cache, no GET");
    bounded("close", || f.close()).expect("close");

    bounded("flush", || engine.flush(true)).expect("flush");
    for (key, data) in [("resume/a.bin", &a), ("resume/b.bin", &b)] {
        let stored = object(&remote, key).expect("uploaded");
        assert!(
            stored == *data,
            "{key}: the resumed upload stored what was written"
        );
    }
    assert_eq!(engine.status().expect("status").uploads_pending(), 0);
    stop(engine);
}

#[test]
fn a_second_start_on_a_locked_dir_fails_naming_the_pid() {
    let remote = bucket("blocking-lock");
    let dir = tempfile::tempdir().expect("cache dir");
    let engine = start(options(dir.path(), &remote));
    let err = bounded("second start", || {
        CacheManager::start(options(dir.path(), &remote))
    })
    .expect_err("a second engine on the same dir must be refused");
    support::assert_locked_by_us(&err, dir.path());

    // The first engine still works, and the lock goes with it.
    let f = engine.open("still-here", true).expect("open");
    bounded("close", || f.close()).expect("close");
    stop(engine);
    let again = start(options(dir.path(), &remote));
    stop(again);
}

/// The remote is connected and probed by `silt_blocking::connect`, from this plain thread
/// (no runtime of the caller's), and an object only in the bucket is read through the
/// engine.
#[test]
fn a_cold_read_fetches_an_object_that_is_only_in_the_bucket() {
    let made = bucket("blocking-cold");
    let data = pattern((3 << 20) + 123, 7);
    put_outside(&made, "cold.bin", &data);
    let config = support::remote_config(made.inner().bucket());
    let connected = bounded("connect", || {
        silt_blocking::connect(&config, "blocking-cold")
    })
    .expect("connect and probe without a runtime");
    let remote: Remote = Arc::new(Counting::new(connected));
    let dir = tempfile::tempdir().expect("cache dir");
    let engine = start(options(dir.path(), &remote));

    let missing = engine.open("no-such-key", false);
    assert!(matches!(missing, Err(Error::NotFound)), "{missing:?}");
    let f = engine.open("cold.bin", false).expect("open");
    assert_eq!(f.size_at_open(), data.len() as u64);
    let gets = remote.gets();
    let middle = bounded("read", || f.read(1_500_000, 1_000_000)).expect("read");
    assert!(middle[..] == data[1_500_000..2_500_000]);
    let all = bounded("read", || f.read(0, data.len() as u64 + 10)).expect("read");
    assert_eq!(all.len(), data.len(), "short at the end of the file");
    assert!(
        all[..] == data[..],
        "the cold read returns the bucket's bytes"
    );
    assert!(remote.gets() > gets, "the bytes came from the bucket");
    bounded("close", || f.close()).expect("close");
    let status = engine.status().expect("status");
    assert_eq!(status.dirty_bytes, 0, "{status:?}");
    assert!(status.cached_bytes >= data.len() as u64, "{status:?}");
    stop(engine);
}

/// Twelve threads write at once with a `memory_limit` of 256 KiB: every write succeeds
/// (some wait for room), the write bodies in flight never pass their quarter, and the
/// bucket receives exactly what was written.
#[test]
fn threads_under_a_tiny_memory_limit_all_succeed_within_it() {
    use support::memory;
    let remote = bucket("blocking-memory");
    let dir = tempfile::tempdir().expect("cache dir");
    let mut opts = options(dir.path(), &remote);
    memory::tiny_limit(&mut opts);
    let engine = Arc::new(start(opts));

    let writers: Vec<_> = (0..memory::WRITERS)
        .map(|w| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let f = engine.open(&memory::key(w), true).expect("open");
                for (offset, data) in memory::writes(w) {
                    // The last write is larger than the whole write budget.
                    f.write(offset, data)
                        .expect("a write never fails for lack of memory");
                }
                f.close().expect("close");
            })
        })
        .collect();
    let mut peak_seen = 0;
    bounded("writers", || {
        while !writers.iter().all(|w| w.is_finished()) {
            let s = engine.status().expect("status");
            peak_seen = peak_seen.max(memory::sample(&s.memory));
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    for w in writers {
        w.join().expect("writer");
    }
    memory::after(&engine.status().expect("status").memory, peak_seen);

    bounded("flush", || engine.flush(true)).expect("flush");
    for w in 0..memory::WRITERS {
        let stored = object(&remote, &memory::key(w)).expect("uploaded");
        assert!(stored == memory::object(w), "writer {w}: what was written");
    }
    stop(Arc::into_inner(engine).expect("the writers are done"));
}

/// The namespace requests, blocking: stat and list overlay local changes on the bucket;
/// truncate, rename and unlink reach it after a flush.
#[test]
fn truncate_rename_unlink_stat_and_list_reach_the_bucket() {
    use silt_core::FileKind::{Directory, File};
    let remote = bucket("blocking-namespace");
    let dir = tempfile::tempdir().expect("cache dir");
    put_outside(&remote, "docs/a.txt", b"remote a");
    put_outside(&remote, "docs/sub/c.txt", b"remote c");
    put_outside(&remote, "docs/gone.txt", b"remote gone");
    let engine = start(options(dir.path(), &remote));

    let a = engine.stat("docs/a.txt").expect("stat of a remote file");
    assert_eq!((a.kind, a.size), (File, 8));
    assert_eq!(engine.stat("docs").expect("stat").kind, Directory);
    assert!(matches!(engine.stat("docs/none"), Err(Error::NotFound)));

    let f = engine.open("docs/new.txt", true).expect("create");
    bounded("write", || f.write(0, &b"local and longer"[..])).expect("write");
    bounded("truncate", || f.truncate(5)).expect("truncate");
    bounded("close", || f.close()).expect("close");
    bounded("rename", || engine.rename("docs/a.txt", "docs/moved.txt")).expect("rename");
    bounded("unlink", || engine.unlink("docs/gone.txt")).expect("unlink");

    let (page, next) = bounded("list", || engine.list("docs/", None, 100)).expect("list");
    assert!(next.is_none(), "one page holds them all");
    let names: Vec<_> = page
        .into_iter()
        .map(|e| (e.key, e.attr.kind, e.attr.size))
        .collect();
    assert_eq!(
        names,
        vec![
            ("docs/moved.txt".to_string(), File, 8),
            ("docs/new.txt".to_string(), File, 5),
            ("docs/sub/".to_string(), Directory, 0),
        ],
        "local changes over the remote names"
    );

    bounded("flush", || engine.flush(true)).expect("flush");
    assert_eq!(
        object(&remote, "docs/new.txt").as_deref(),
        Some(&b"local"[..])
    );
    assert_eq!(
        object(&remote, "docs/moved.txt").as_deref(),
        Some(&b"remote a"[..])
    );
    assert!(object(&remote, "docs/a.txt").is_none(), "renamed away");
    assert!(object(&remote, "docs/gone.txt").is_none(), "deleted");
    stop(engine);
}

/// Dropping the manager without `stop` stops it and waits: the lock is free at once, and
/// what was written is kept for the next start.
#[test]
fn dropping_the_manager_stops_it_and_releases_the_lock() {
    let remote = bucket("blocking-drop");
    let dir = tempfile::tempdir().expect("cache dir");
    let data = pattern(50_000, 9);
    let mut opts = options(dir.path(), &remote);
    opts.core.write_back_delay = Duration::from_secs(600);
    let engine = start(opts);
    let f = engine.open("dropped.bin", true).expect("open");
    bounded("write", || f.write(0, data.clone())).expect("write");
    drop(f);
    bounded("drop", || drop(engine));

    let engine = start(options(dir.path(), &remote));
    let status = engine.status().expect("status");
    assert_eq!(status.uploads_pending(), 1, "{status:?}");
    bounded("flush", || engine.flush(true)).expect("flush");
    assert!(object(&remote, "dropped.bin").expect("uploaded") == data);
    stop(engine);
}

/// The remote's listing of the bucket holds no probe leftovers of `connect`.
#[test]
fn connect_leaves_nothing_behind_in_the_bucket() {
    let made = bucket("blocking-connect");
    let config = support::remote_config(made.inner().bucket());
    let remote = bounded("connect", || silt_blocking::connect(&config, "left")).expect("connect");
    let caps = remote.capabilities();
    assert_eq!(
        caps,
        made.inner().capabilities(),
        "the same server, the same answers"
    );
    let listed = on(made.inner().list("", None)).expect("list");
    assert!(listed.objects.is_empty(), "{listed:?}");
}
