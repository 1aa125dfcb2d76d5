//! End-to-end tests of the engine with real components: an index on disk (redb, and fjall
//! for the round trips and the kill test), real cache files, and the aws-sdk-s3 remote
//! talking to an in-process s3s-fs server on 127.0.0.1. On Unix a child process running the
//! engine is killed with SIGKILL after an fsync, and a restart uploads what it fsynced.
//! Every wait is bounded ([`support::WAIT`]).

mod support;

use silt_s3::ObjectStore;
use silt_tokio::{CacheManager, Error};
use std::path::Path;
use std::time::Duration;
use support::{bounded, bucket, object, options, options_on, pattern, put_outside};

/// Applies a write to the model of a file.
fn apply(model: &mut Vec<u8>, offset: usize, data: &[u8]) {
    if model.len() < offset + data.len() {
        model.resize(offset + data.len(), 0);
    }
    model[offset..offset + data.len()].copy_from_slice(data);
}

/// Asserts that the index of `backend` is the one on disk in `dir`.
fn assert_index_on(dir: &Path, backend: &str) {
    match backend {
        "redb" => assert!(dir.join("index.db").is_file(), "redb index.db in {dir:?}"),
        "fjall" => assert!(
            dir.join("index.fjall").is_dir(),
            "fjall index.fjall/ in {dir:?}"
        ),
        other => panic!("no on-disk index named {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_ranges_reach_the_bucket_after_flush_wait_on_redb() {
    written_ranges_reach_the_bucket_after_flush_wait("redb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_ranges_reach_the_bucket_after_flush_wait_on_fjall() {
    written_ranges_reach_the_bucket_after_flush_wait("fjall").await;
}

async fn written_ranges_reach_the_bucket_after_flush_wait(backend: &str) {
    let remote = bucket(&format!("ranges-{backend}")).await;
    let dir = tempfile::tempdir().expect("cache dir");
    let engine = bounded(
        "start",
        CacheManager::start(options_on(dir.path(), &remote, backend)),
    )
    .await
    .expect("start");
    assert_index_on(dir.path(), backend);

    let mut model = Vec::new();
    let f = engine.open("dir/ranges.bin", true).await.expect("open");
    assert_eq!(f.size_at_open(), 0);
    for (offset, len, seed) in [(0, 100_000, 1), (2_500_000, 50_000, 2), (60_000, 10_000, 3)] {
        let data = pattern(len, seed);
        let n = bounded("write", f.write(offset as u64, data.clone()))
            .await
            .expect("write");
        assert_eq!(n, len as u64);
        apply(&mut model, offset, &data);
    }
    bounded("fsync", f.sync_range()).await.expect("fsync");
    // Read back through the engine before the upload: the local version.
    let back = f.read(0, model.len() as u64).await.expect("read");
    assert_eq!(&back[..], &model[..]);
    bounded("close", f.close()).await.expect("close");

    bounded("flush", engine.flush(true)).await.expect("flush");
    let stored = object(&remote, "dir/ranges.bin")
        .await
        .expect("object exists");
    assert_eq!(stored.len(), model.len());
    assert!(stored == model, "the bucket holds exactly what was written");

    let status = engine.status().await.expect("status");
    assert_eq!(status.uploads_pending(), 0, "{status:?}");
    assert_eq!(status.dirty_bytes, 0, "{status:?}");
    assert!(status.events.uploads_done >= 1, "{status:?}");
    assert!(status.pending.is_none(), "{status:?}");
    let report = bounded("stop", engine.stop()).await.expect("stop");
    assert!(report.clean, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_wait_uploads_at_once_without_waiting_for_the_write_back_delay() {
    let remote = bucket("flush-now").await;
    let dir = tempfile::tempdir().expect("cache dir");
    let mut opts = options(dir.path(), &remote);
    // Far longer than the bounded wait below: only an explicit flush can upload in time.
    opts.core.write_back_delay = Duration::from_secs(3600);
    let engine = CacheManager::start(opts).await.expect("start");
    let data = pattern(90_000, 17);
    let f = engine.open("now.bin", true).await.expect("open");
    f.write(0, data.clone()).await.expect("write");
    bounded("close", f.close()).await.expect("close");
    let status = engine.status().await.expect("status");
    assert_eq!(status.uploads_queued, 1, "{status:?}");

    bounded("flush", engine.flush(true)).await.expect("flush");
    let stored = object(&remote, "now.bin")
        .await
        .expect("uploaded by the flush");
    assert!(stored == data);
    let status = engine.status().await.expect("status");
    assert_eq!(status.uploads_pending(), 0, "{status:?}");

    // Without wait: the upload is ordered at once and lands soon after.
    let f = engine.open("later.bin", true).await.expect("open");
    f.write(0, data.clone()).await.expect("write");
    bounded("close", f.close()).await.expect("close");
    bounded("flush", engine.flush(false)).await.expect("flush");
    bounded("upload", async {
        while object(&remote, "later.bin").await.is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    bounded("stop", engine.stop()).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_object_goes_up_as_multipart() {
    let remote = bucket("multipart").await;
    let dir = tempfile::tempdir().expect("cache dir");
    let mut opts = options(dir.path(), &remote);
    opts.core.multipart_threshold = 6 << 20;
    let engine = CacheManager::start(opts).await.expect("start");

    let data = pattern(13 << 20, 9);
    let f = engine.open("big.bin", true).await.expect("open");
    for (i, piece) in data.chunks(1 << 20).enumerate() {
        bounded("write", f.write((i << 20) as u64, piece.to_vec()))
            .await
            .expect("write");
    }
    bounded("close", f.close()).await.expect("close");
    bounded("flush", engine.flush(true)).await.expect("flush");
    let stored = object(&remote, "big.bin").await.expect("object exists");
    assert!(stored == data, "multipart object equals what was written");
    assert_eq!(remote.writes(), 1, "one completed multipart upload, no PUT");
    bounded("stop", engine.stop()).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reads_from_cache_and_resumes_pending_uploads_on_redb() {
    restart_reads_from_cache_and_resumes_pending_uploads("redb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reads_from_cache_and_resumes_pending_uploads_on_fjall() {
    restart_reads_from_cache_and_resumes_pending_uploads("fjall").await;
}

async fn restart_reads_from_cache_and_resumes_pending_uploads(backend: &str) {
    let remote = bucket(&format!("restart-{backend}")).await;
    let dir = tempfile::tempdir().expect("cache dir");
    let data = pattern(300_000, 5);

    // First run: the upload is due only 3 s after the write; stop before that.
    let mut opts = options_on(dir.path(), &remote, backend);
    opts.core.write_back_delay = Duration::from_secs(3);
    let engine = CacheManager::start(opts).await.expect("start");
    let f = engine.open("restart.txt", true).await.expect("open");
    f.write(0, data.clone()).await.expect("write");
    bounded("fsync", f.sync_range()).await.expect("fsync");
    bounded("close", f.close()).await.expect("close");
    let status = engine.status().await.expect("status");
    assert_eq!(status.uploads_queued, 1, "{status:?}");
    let report = bounded("stop", engine.stop()).await.expect("stop");
    assert!(report.clean, "{report:?}");
    assert!(
        remote
            .inner()
            .head("restart.txt")
            .await
            .expect("head")
            .is_none(),
        "nothing was uploaded before the stop"
    );
    assert_eq!(remote.writes(), 0);

    // Second run on the same directory: the journal brings the upload back.
    let engine = CacheManager::start(options_on(dir.path(), &remote, backend))
        .await
        .expect("restart");
    assert_index_on(dir.path(), backend);
    let status = engine.status().await.expect("status");
    assert_eq!(
        status.uploads_pending(),
        1,
        "the upload is journaled: {status:?}"
    );
    let gets = remote.gets();
    let f = engine.open("restart.txt", false).await.expect("reopen");
    assert_eq!(f.size_at_open(), data.len() as u64);
    let back = bounded("read", f.read(0, data.len() as u64))
        .await
        .expect("read");
    assert!(back[..] == data[..], "the cache file holds the data");
    assert_eq!(remote.gets(), gets, "read from the cache, no GET");
    bounded("close", f.close()).await.expect("close");

    bounded("flush", engine.flush(true)).await.expect("flush");
    let stored = object(&remote, "restart.txt").await.expect("uploaded");
    assert!(stored == data, "the resumed upload stored what was fsynced");
    bounded("stop", engine.stop()).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_on_a_locked_dir_fails_naming_the_pid() {
    let remote = bucket("lock").await;
    let dir = tempfile::tempdir().expect("cache dir");
    let engine = CacheManager::start(options(dir.path(), &remote))
        .await
        .expect("start");
    let err = CacheManager::start(options(dir.path(), &remote))
        .await
        .expect_err("a second engine on the same dir must be refused");
    support::assert_locked_by_us(&err, dir.path());

    // The first engine still works, and the lock goes with it.
    let f = engine.open("still-here", true).await.expect("open");
    f.close().await.expect("close");
    bounded("stop", engine.stop()).await.expect("stop");
    let again = CacheManager::start(options(dir.path(), &remote))
        .await
        .expect("start after the lock was released");
    bounded("stop", again.stop()).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_change_under_a_local_edit_keeps_both_versions() {
    let remote = bucket("conflict").await;
    let dir = tempfile::tempdir().expect("cache dir");
    let key = "shared/doc.txt";
    let v1 = pattern(70_000, 11);
    put_outside(&remote, key, &v1).await;

    let engine = CacheManager::start(options(dir.path(), &remote))
        .await
        .expect("start");
    let f = engine.open(key, false).await.expect("open");
    let cached = bounded("read", f.read(0, v1.len() as u64))
        .await
        .expect("read");
    assert!(cached[..] == v1[..]);

    // Someone else stores a new version; then the local version, based on the old one,
    // is written (the whole file, so every byte of the local version is the user's).
    let v2 = pattern(40_000, 99);
    put_outside(&remote, key, &v2).await;
    let local = pattern(80_000, 42);
    f.write(0, local.clone()).await.expect("write");
    bounded("close", f.close()).await.expect("close");
    bounded("flush", engine.flush(true)).await.expect("flush");

    let at_key = object(&remote, key).await.expect("object at key");
    assert!(at_key == v2, "the outside version stays at the key");
    let copies = remote
        .inner()
        .list(&format!("{key}.silt-conflict-"), None)
        .await
        .expect("list");
    assert_eq!(copies.objects.len(), 1, "{copies:?}");
    let copy_key = &copies.objects[0].key;
    let copy = object(&remote, copy_key).await.expect("conflict copy");
    assert!(copy == local, "the conflict copy holds the local version");

    let status = engine.status().await.expect("status");
    assert_eq!(status.conflicts.len(), 1, "{status:?}");
    assert_eq!(status.conflicts[0].original_key, key);
    assert_eq!(&status.conflicts[0].conflict_key, copy_key);
    assert!(status.conflicts[0].missing.is_empty(), "{status:?}");
    assert!(status.events.conflicts >= 1, "{status:?}");
    bounded("stop", engine.stop()).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_read_fetches_an_object_that_is_only_in_the_bucket() {
    let remote = bucket("cold").await;
    let dir = tempfile::tempdir().expect("cache dir");
    let data = pattern((3 << 20) + 123, 7);
    put_outside(&remote, "cold.bin", &data).await;

    let engine = CacheManager::start(options(dir.path(), &remote))
        .await
        .expect("start");
    let missing = engine.open("no-such-key", false).await;
    assert!(matches!(missing, Err(Error::NotFound)), "{missing:?}");

    let f = engine.open("cold.bin", false).await.expect("open");
    assert_eq!(f.size_at_open(), data.len() as u64);
    let gets = remote.gets();
    let middle = bounded("read", f.read(1_500_000, 1_000_000))
        .await
        .expect("read");
    assert!(middle[..] == data[1_500_000..2_500_000]);
    let all = bounded("read", f.read(0, data.len() as u64 + 10))
        .await
        .expect("read");
    assert_eq!(all.len(), data.len(), "short at the end of the file");
    assert!(
        all[..] == data[..],
        "the cold read returns the bucket's bytes"
    );
    assert!(remote.gets() > gets, "the bytes came from the bucket");
    bounded("close", f.close()).await.expect("close");
    let status = engine.status().await.expect("status");
    assert_eq!(status.dirty_bytes, 0, "{status:?}");
    assert!(status.cached_bytes >= data.len() as u64, "{status:?}");
    bounded("stop", engine.stop()).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_keeps_writes_that_were_never_fsynced() {
    let remote = bucket("stop-durable").await;
    let dir = tempfile::tempdir().expect("cache dir");
    let (a, b) = (pattern(120_000, 21), pattern(64_000, 22));

    let mut opts = options(dir.path(), &remote);
    opts.core.write_back_delay = Duration::from_secs(600);
    opts.fsync_on_close = false;
    let engine = CacheManager::start(opts).await.expect("start");
    // Closed without fsync.
    let fa = engine.open("a.bin", true).await.expect("open a");
    fa.write(0, a.clone()).await.expect("write a");
    bounded("close", fa.close()).await.expect("close a");
    // Still open at the stop, never fsynced.
    let fb = engine.open("b.bin", true).await.expect("open b");
    fb.write(0, b.clone()).await.expect("write b");
    let report = bounded("stop", engine.stop()).await.expect("stop");
    assert!(report.clean, "{report:?}");
    assert!(matches!(fb.read(0, 1).await, Err(Error::Stopped)));
    drop(fb);

    let mut opts = options(dir.path(), &remote);
    opts.core.write_back_delay = Duration::from_secs(600);
    let engine = CacheManager::start(opts).await.expect("restart");
    let status = engine.status().await.expect("status");
    assert_eq!(
        status.uploads_pending(),
        2,
        "both uploads journaled: {status:?}"
    );
    for (key, data) in [("a.bin", &a), ("b.bin", &b)] {
        let f = engine.open(key, false).await.expect("reopen");
        let back = bounded("read", f.read(0, data.len() as u64 + 1))
            .await
            .expect("read");
        assert!(back[..] == data[..], "{key} survived the stop");
        f.close().await.expect("close");
    }
    assert_eq!(remote.gets(), 0, "everything came from the cache");
    assert_eq!(remote.writes(), 0, "nothing was uploaded yet");
    bounded("stop", engine.stop()).await.expect("stop");
}

/// The SIGKILL tests: a child process (this test binary, re-executed with the environment
/// below selecting the child's part of the same test) runs an engine, writes, fsyncs, says
/// so on stdout and sleeps until it is killed; the test then restarts an engine on the same
/// cache directory and checks that the bucket receives exactly what was fsynced.
#[cfg(unix)]
mod sigkill {
    use super::support::child::{run_child, say};
    use super::{apply, assert_index_on, bounded, bucket, object, options_on, pattern};
    use super::{put_outside, support, CacheManager};
    use std::os::unix::process::ExitStatusExt;
    use std::path::Path;
    use std::time::Duration;

    /// The cache directory; its presence selects the child's part.
    const ENV_DIR: &str = "SILT_E2E_KILL_CACHE_DIR";
    /// The parent's s3s-fs endpoint.
    const ENV_ENDPOINT: &str = "SILT_E2E_KILL_ENDPOINT";
    /// The bucket, created by the parent.
    const ENV_BUCKET: &str = "SILT_E2E_KILL_BUCKET";
    /// The line the child prints once every fsync has returned.
    const SYNCED: &str = "synced";

    /// A new object written in ranges, with a hole and an overlap.
    const NEW_KEY: &str = "kill/new.bin";
    /// An object in the bucket before the child starts, edited in place and extended.
    const BASE_KEY: &str = "kill/base.bin";

    fn base() -> Vec<u8> {
        pattern(2_300_000, 40)
    }

    /// One file the child writes: its key, whether it is created, and (offset, bytes) writes.
    type FilePlan = (&'static str, bool, Vec<(u64, Vec<u8>)>);

    /// What the child writes.
    fn plan() -> Vec<FilePlan> {
        vec![
            (
                NEW_KEY,
                true,
                vec![
                    (0, pattern(200_000, 31)),
                    (1_500_000, pattern(70_000, 32)),
                    (150_000, pattern(100_000, 33)),
                ],
            ),
            (
                BASE_KEY,
                false,
                vec![
                    (1_000_000, pattern(4_096, 34)),
                    (2_299_000, pattern(5_000, 35)),
                ],
            ),
        ]
    }

    /// The objects the bucket must hold once the fsynced writes are uploaded.
    fn expected() -> Vec<(&'static str, Vec<u8>)> {
        plan()
            .into_iter()
            .map(|(key, create, writes)| {
                let mut model = if create { Vec::new() } else { base() };
                for (offset, data) in &writes {
                    apply(&mut model, *offset as usize, data);
                }
                (key, model)
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fsynced_writes_survive_sigkill_of_the_engine_process_on_redb() {
        sigkill_then_restart(
            "redb",
            "sigkill::fsynced_writes_survive_sigkill_of_the_engine_process_on_redb",
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fsynced_writes_survive_sigkill_of_the_engine_process_on_fjall() {
        sigkill_then_restart(
            "fjall",
            "sigkill::fsynced_writes_survive_sigkill_of_the_engine_process_on_fjall",
        )
        .await;
    }

    async fn sigkill_then_restart(backend: &str, test_name: &str) {
        if let Some(dir) = std::env::var_os(ENV_DIR) {
            return child(Path::new(&dir), backend).await;
        }
        let remote = bucket(&format!("kill-{backend}")).await;
        let dir = tempfile::tempdir().expect("cache dir");
        let base = base();
        put_outside(&remote, BASE_KEY, &base).await;

        let envs = vec![
            (ENV_DIR, dir.path().as_os_str().to_owned()),
            (
                ENV_ENDPOINT,
                support::server::s3s_fs().endpoint.clone().into(),
            ),
            (ENV_BUCKET, remote.inner().bucket().to_string().into()),
        ];
        let name = test_name.to_string();
        let (pid, exit) =
            tokio::task::spawn_blocking(move || run_child(&name, envs, SYNCED, || {}))
                .await
                .expect("child runner");
        assert_eq!(
            exit.signal(),
            Some(libc::SIGKILL),
            "the child died of SIGKILL: {exit:?}"
        );

        // What the killed process left: its pid in the lock file, nothing uploaded.
        let lock = dir.path().join("lock");
        let left = std::fs::read_to_string(&lock).expect("lock file");
        assert_eq!(left.trim(), pid.to_string(), "the dead child's pid");
        assert!(
            object(&remote, NEW_KEY).await.is_none(),
            "nothing went up before the kill"
        );
        assert!(object(&remote, BASE_KEY).await == Some(base));

        // Restart on the same directory: the lock of the dead pid is taken over, the
        // journal brings both uploads back, and they store exactly the fsynced bytes.
        let engine = bounded(
            "restart",
            CacheManager::start(options_on(dir.path(), &remote, backend)),
        )
        .await
        .expect("restart after SIGKILL takes over the dead process's lock");
        assert_index_on(dir.path(), backend);
        let now = std::fs::read_to_string(&lock).expect("lock file");
        assert_eq!(now.trim(), std::process::id().to_string());
        let status = engine.status().await.expect("status");
        assert_eq!(status.uploads_pending(), 2, "both journaled: {status:?}");

        bounded("flush", engine.flush(true)).await.expect("flush");
        for (key, want) in expected() {
            let stored = object(&remote, key).await.expect("uploaded");
            assert_eq!(stored.len(), want.len(), "{key}: size");
            assert!(stored == want, "{key} holds exactly the fsynced bytes");
        }
        let status = engine.status().await.expect("status");
        assert_eq!(status.uploads_pending(), 0, "{status:?}");
        assert!(status.conflicts.is_empty(), "{status:?}");
        let report = bounded("stop", engine.stop()).await.expect("stop");
        assert!(report.clean, "{report:?}");
    }

    /// The child's part: write, fsync, report, sleep until killed (bounded: it fails the
    /// child if no kill comes).
    async fn child(dir: &Path, backend: &str) {
        let endpoint = std::env::var(ENV_ENDPOINT).expect("endpoint in the environment");
        let bucket = std::env::var(ENV_BUCKET).expect("bucket in the environment");
        let remote = support::existing_bucket(&endpoint, &bucket).await;
        let mut opts = options_on(dir, &remote, backend);
        // Nothing goes up before the kill: the restart has to do it.
        opts.core.write_back_delay = Duration::from_secs(600);
        let engine = bounded("child start", CacheManager::start(opts))
            .await
            .expect("child start");
        let mut handles = Vec::new();
        for (key, create, writes) in plan() {
            let f = bounded("child open", engine.open(key, create))
                .await
                .expect("child open");
            for (offset, data) in writes {
                bounded("child write", f.write(offset, data))
                    .await
                    .expect("child write");
            }
            handles.push(f);
        }
        for f in &handles {
            bounded("child fsync", f.sync_range())
                .await
                .expect("child fsync");
        }
        say(SYNCED);
        tokio::time::sleep(support::WAIT).await;
        panic!("the child was not killed within {:?}", support::WAIT);
    }
}

/// Two caches on two cache directories write the same keys of one bucket at once: new keys
/// both create, and a key already in the bucket both rewrite, each file several times with
/// an fsync each time; the write-back delay keeps the uploads back until both `flush(true)`
/// run together. Neither cache ever saw the other's versions, so for every key exactly one
/// cache's last fsynced version ends up at the key and the other's in a conflict copy of
/// it: nothing fsynced is lost, nothing is taken for our own. Each cache has its own
/// instance id, kept across a restart, and every upload token names it. The uploads of the
/// two caches run at once; only the server's decision on each conditional write is made one
/// at a time, as S3 makes it (s3s-fs checks a condition and then writes, so without the
/// gate two racing writes to one key can both pass: a quirk of the test server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_caches_writing_one_bucket_lose_nothing_and_never_share_tokens() {
    const KEYS: [&str; 4] = [
        "both/a.bin",
        "both/b.bin",
        "both/c.txt",
        "both/existing.bin",
    ];
    const ROUNDS: usize = 3;
    let remote_a = bucket("two-caches").await;
    let remote_b = support::same_bucket(&remote_a).await;
    // Conditional writes decided one at a time, as S3 does (s3s-fs alone does not).
    let gate = std::sync::Arc::new(tokio::sync::Mutex::new(()));
    remote_a.set_write_gate(gate.clone());
    remote_b.set_write_gate(gate);
    let base = pattern(150_000, 60);
    put_outside(&remote_a, "both/existing.bin", &base).await;

    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("cache dir a"),
        tempfile::tempdir().expect("cache dir b"),
    );
    let start =
        |dir: &Path, remote: &std::sync::Arc<support::counting::Counting<silt_s3::S3Remote>>| {
            let mut opts = options(dir, remote);
            opts.core.write_back_delay = Duration::from_secs(600);
            CacheManager::start(opts)
        };
    let a = bounded("start a", start(dir_a.path(), &remote_a))
        .await
        .expect("start a");
    let b = bounded("start b", start(dir_b.path(), &remote_b))
        .await
        .expect("start b");
    assert_ne!(a.instance_id(), 0);
    assert_ne!(b.instance_id(), 0);
    assert_ne!(a.instance_id(), b.instance_id(), "two caches, two ids");

    /// The bytes cache `c` writes to key `k` in round `r`: distinct for every triple, of
    /// lengths that differ between caches and rounds.
    fn version(c: usize, k: usize, r: usize) -> Vec<u8> {
        let len = 40_000 + 7_919 * (c * 31 + k * 7 + r);
        pattern(len, (c * 100 + k * 10 + r) as u8)
    }

    /// Every round: open, empty the file, write it whole, fsync, close.
    async fn writer(engine: &CacheManager, c: usize) {
        for r in 0..ROUNDS {
            for (k, key) in KEYS.iter().enumerate() {
                let f = bounded("open", engine.open(key, true)).await.expect("open");
                bounded("truncate", f.truncate(0)).await.expect("truncate");
                let data = version(c, k, r);
                // In two pieces, the second first: a hole, then filled.
                let half = data.len() / 2;
                bounded("write", f.write(half as u64, data[half..].to_vec()))
                    .await
                    .expect("write");
                bounded("write", f.write(0, data[..half].to_vec()))
                    .await
                    .expect("write");
                bounded("fsync", f.sync_range()).await.expect("fsync");
                bounded("close", f.close()).await.expect("close");
            }
        }
    }
    tokio::join!(writer(&a, 0), writer(&b, 1));
    assert_eq!(
        remote_a.writes() + remote_b.writes(),
        0,
        "nothing went up yet"
    );
    let flushed = tokio::time::timeout(support::WAIT, async {
        tokio::join!(a.flush(true), b.flush(true))
    })
    .await;
    let Ok((fa, fb)) = flushed else {
        panic!(
            "the flushes did not finish within {:?}:\n{:#?}\n{:#?}",
            support::WAIT,
            a.status().await,
            b.status().await
        );
    };
    fa.expect("flush a");
    fb.expect("flush b");

    // Every key: one cache's last version at the key, the other's in a conflict copy.
    let listing = remote_a.inner().list("both/", None).await.expect("list");
    let mut copies_seen = 0;
    for (k, key) in KEYS.iter().enumerate() {
        let last = [version(0, k, ROUNDS - 1), version(1, k, ROUNDS - 1)];
        let at_key = object(&remote_a, key).await.expect("an object at the key");
        let winner = last.iter().position(|v| *v == at_key).unwrap_or_else(|| {
            let round = (0..2)
                .flat_map(|c| (0..ROUNDS).map(move |r| (c, r)))
                .find(|&(c, r)| version(c, k, r) == at_key);
            panic!(
                "{key} holds neither cache's last version ({} bytes; (cache, round) {round:?})",
                at_key.len()
            )
        });
        let copies: Vec<&str> = listing
            .objects
            .iter()
            .map(|o| o.key.as_str())
            .filter(|o| o.starts_with(&format!("{key}.silt-conflict-")))
            .collect();
        let mut found = false;
        for copy in &copies {
            let bytes = object(&remote_a, copy).await.expect("conflict copy");
            found |= bytes == last[1 - winner];
        }
        assert!(
            found,
            "{key}: the last version of cache {} is in a conflict copy ({copies:?})\n\
             capabilities {:?}\nbucket {:?}\n{:#?}\n{:#?}",
            1 - winner,
            remote_a.inner().capabilities(),
            listing.objects.iter().map(|o| &o.key).collect::<Vec<_>>(),
            a.status().await.map(|s| (s.conflicts, s.events)),
            b.status().await.map(|s| (s.conflicts, s.events)),
        );
        copies_seen += copies.len();
        // The version at the key carries its own cache's token.
        let info = remote_a
            .inner()
            .head(key)
            .await
            .expect("head")
            .expect("object");
        let winner_id = [a.instance_id(), b.instance_id()][winner];
        let token = info.token.expect("uploaded with a token");
        assert!(
            token.contains(&format!("{winner_id:016x}")),
            "{key}: token {token} names cache {winner}"
        );
    }
    assert_eq!(
        copies_seen,
        KEYS.len(),
        "one conflict copy per key, no more"
    );

    // Status: the conflicts each cache recorded add up to the copies; nothing pending.
    let (sa, sb) = (
        a.status().await.expect("status a"),
        b.status().await.expect("status b"),
    );
    assert_eq!(
        sa.conflicts.len() + sb.conflicts.len(),
        KEYS.len(),
        "{sa:?}\n{sb:?}"
    );
    for s in [&sa, &sb] {
        assert_eq!(s.uploads_pending(), 0, "{s:?}");
        assert_eq!(s.oldest_pending_upload_age, None, "{s:?}");
    }

    // Tokens: each cache's name its own instance id, and the two sets are disjoint.
    let (ta, tb) = (remote_a.tokens(), remote_b.tokens());
    assert!(!ta.is_empty() && !tb.is_empty(), "both uploaded");
    for (tokens, id) in [(&ta, a.instance_id()), (&tb, b.instance_id())] {
        for t in tokens {
            assert!(
                t.contains(&format!("{id:016x}")),
                "token {t} names {id:016x}"
            );
        }
    }
    assert!(ta.iter().all(|t| !tb.contains(t)), "{ta:?} / {tb:?}");

    // The id is the directory's for its life: a restart reads the same one back.
    let id_a = a.instance_id();
    bounded("stop a", a.stop()).await.expect("stop a");
    bounded("stop b", b.stop()).await.expect("stop b");
    let again = bounded("restart a", start(dir_a.path(), &remote_a))
        .await
        .expect("restart a");
    assert_eq!(again.instance_id(), id_a, "kept in {:?}", dir_a.path());
    bounded("stop", again.stop()).await.expect("stop");
}

/// A damaged instance id file stops the start with a clear error and is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_instance_file_is_an_error_never_replaced() {
    let remote = bucket("instance-damaged").await;
    let dir = tempfile::tempdir().expect("cache dir");
    let engine = CacheManager::start(options(dir.path(), &remote))
        .await
        .expect("start");
    bounded("stop", engine.stop()).await.expect("stop");
    let path = dir.path().join("instance");
    let damaged = b"silt-instance v1 00000000deadbeef 00000000\n";
    std::fs::write(&path, damaged).expect("damage the file");
    let err = CacheManager::start(options(dir.path(), &remote))
        .await
        .expect_err("a damaged id must stop the start");
    assert!(matches!(err, Error::InstanceFile { .. }), "{err:?}");
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    assert_eq!(
        std::fs::read(&path).expect("file"),
        damaged,
        "left as it was"
    );
}

/// Status from the core's journal summary and memory figures: a fsynced write waiting for
/// its write-back delay is one upload waiting with an age that grows; a failing server makes
/// it a retrying upload with its attempts and error; after `flush(true)` nothing is pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_waiting_and_retrying_uploads_with_their_age() {
    let remote = bucket("status").await;
    let dir = tempfile::tempdir().expect("cache dir");
    let mut opts = options(dir.path(), &remote);
    opts.core.write_back_delay = Duration::from_secs(3600);
    opts.memory_limit = 64 << 20;
    let engine = CacheManager::start(opts).await.expect("start");

    let idle = engine.status().await.expect("status");
    assert_eq!(idle.uploads_pending(), 0, "{idle:?}");
    assert_eq!(idle.oldest_pending_upload_age, None, "{idle:?}");
    assert_eq!(idle.memory.core_limit, 48 << 20, "{idle:?}");
    assert_eq!(idle.memory.write_limit, 16 << 20, "{idle:?}");
    assert_eq!(idle.memory.limit(), 64 << 20);

    let data = pattern(100_000, 3);
    let f = engine.open("status.bin", true).await.expect("open");
    f.write(0, data.clone()).await.expect("write");
    bounded("fsync", f.sync_range()).await.expect("fsync");
    bounded("close", f.close()).await.expect("close");
    tokio::time::sleep(Duration::from_millis(60)).await;
    let waiting = engine.status().await.expect("status");
    assert_eq!(waiting.uploads_queued, 1, "{waiting:?}");
    assert_eq!(waiting.uploads_in_progress, 0, "{waiting:?}");
    assert!(waiting.uploads_retrying.is_empty(), "{waiting:?}");
    assert_eq!(waiting.retrying, 0, "{waiting:?}");
    assert_eq!(waiting.deletes_pending, 0, "{waiting:?}");
    let age = waiting.oldest_pending_upload_age.expect("an upload waits");
    assert!(age >= Duration::from_millis(50), "{age:?}");
    assert_eq!(waiting.dirty_bytes, data.len() as u64, "{waiting:?}");
    assert_eq!(waiting.memory.write_bodies, 0, "every write answered");
    assert!(
        waiting.memory.write_bodies_peak >= data.len() as u64,
        "{waiting:?}"
    );
    tokio::time::sleep(Duration::from_millis(30)).await;
    let later = engine.status().await.expect("status");
    assert!(
        later.oldest_pending_upload_age.expect("still waiting") > age,
        "the age grows: {later:?}"
    );

    // The server fails every upload: the upload retries, with its attempts and error.
    remote.fail_writes(true);
    bounded("flush", engine.flush(false)).await.expect("flush");
    let retrying = bounded("a failed attempt", async {
        loop {
            let s = engine.status().await.expect("status");
            if s.retrying > 0 {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(retrying.retrying, 1, "{retrying:?}");
    assert_eq!(retrying.uploads_retrying.len(), 1, "{retrying:?}");
    assert_eq!(
        retrying.uploads_queued, 0,
        "retrying is not queued: {retrying:?}"
    );
    let r = &retrying.uploads_retrying[0];
    assert_eq!(r.key, "status.bin");
    assert!(r.attempts >= 1, "{r:?}");
    assert!(
        r.last_error
            .as_deref()
            .is_some_and(|e| e.contains("failing on purpose")),
        "{r:?}"
    );
    assert!(retrying.oldest_pending_upload_age.is_some(), "{retrying:?}");
    assert!(retrying.events.upload_failures >= 1, "{retrying:?}");

    remote.fail_writes(false);
    bounded("flush", engine.flush(true)).await.expect("flush");
    let done = engine.status().await.expect("status");
    assert_eq!(done.uploads_pending(), 0, "{done:?}");
    assert_eq!(done.retrying, 0, "{done:?}");
    assert_eq!(done.oldest_pending_upload_age, None, "{done:?}");
    assert_eq!(done.dirty_bytes, 0, "{done:?}");
    assert_eq!(done.memory.core.upload_bodies, 0, "{done:?}");
    assert!(object(&remote, "status.bin").await == Some(data));
    bounded("stop", engine.stop()).await.expect("stop");
}

/// Many writers at once with a memory limit of a few chunks: every write succeeds (writers
/// wait for room, none fails), and the write bodies in flight never exceed their quarter of
/// the limit, by the driver's own accounting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_under_a_tiny_memory_limit_all_succeed_within_it() {
    use support::memory;
    let remote = bucket("memory-limit").await;
    let dir = tempfile::tempdir().expect("cache dir");
    let mut opts = options(dir.path(), &remote);
    memory::tiny_limit(&mut opts);
    let engine = CacheManager::start(opts).await.expect("start");

    let mut writers = tokio::task::JoinSet::new();
    let engine = std::sync::Arc::new(engine);
    for w in 0..memory::WRITERS {
        let engine = engine.clone();
        writers.spawn(async move {
            let f = engine.open(&memory::key(w), true).await.expect("open");
            for (offset, data) in memory::writes(w) {
                // The last write is larger than the whole write budget: it takes all of it.
                f.write(offset, data)
                    .await
                    .expect("a write never fails for lack of memory");
            }
            f.close().await.expect("close");
        });
    }
    // Watch the accounting while the writers run.
    let mut peak_seen = 0;
    bounded("writers", async {
        loop {
            let s = engine.status().await.expect("status");
            peak_seen = peak_seen.max(memory::sample(&s.memory));
            match writers.try_join_next() {
                Some(r) => r.expect("writer"),
                None if writers.is_empty() => break,
                None => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
    })
    .await;
    memory::after(&engine.status().await.expect("status").memory, peak_seen);

    // Everything arrives, exactly.
    bounded("flush", engine.flush(true)).await.expect("flush");
    for w in 0..memory::WRITERS {
        let stored = object(&remote, &memory::key(w)).await.expect("uploaded");
        assert!(stored == memory::object(w), "writer {w}: what was written");
    }
    let engine = std::sync::Arc::into_inner(engine).expect("the writers are done");
    bounded("stop", engine.stop()).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_and_list_show_the_bucket_overlaid_with_local_changes() {
    let remote = bucket("namespace").await;
    let dir = tempfile::tempdir().expect("cache dir");
    put_outside(&remote, "docs/a.txt", b"remote a").await;
    put_outside(&remote, "docs/b.txt", b"remote b").await;
    put_outside(&remote, "docs/sub/c.txt", b"remote c").await;
    let engine = CacheManager::start(options(dir.path(), &remote))
        .await
        .expect("start");

    let a = engine
        .stat("docs/a.txt")
        .await
        .expect("stat of a remote file");
    assert_eq!((a.kind, a.size), (silt_core::FileKind::File, 8));
    let d = engine
        .stat("docs")
        .await
        .expect("stat of an implicit directory");
    assert_eq!(d.kind, silt_core::FileKind::Directory);
    let none = engine.stat("docs/none").await;
    assert!(matches!(none, Err(Error::NotFound)), "{none:?}");

    // Local changes not yet uploaded: a new file, a deleted one.
    let f = engine.open("docs/new.txt", true).await.expect("create");
    bounded("write", f.write(0, &b"local"[..]))
        .await
        .expect("write");
    bounded("close", f.close()).await.expect("close");
    // The delete stays journaled while the listing runs (the gate holds the server's side
    // of it): the page must hide the key from local state alone.
    let gate = std::sync::Arc::new(tokio::sync::Mutex::new(()));
    remote.set_write_gate(gate.clone());
    let held = gate.lock().await;
    engine.unlink("docs/b.txt").await.expect("unlink");

    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, next) = engine
            .list("docs/", after.as_deref(), 2)
            .await
            .expect("list");
        names.extend(page.into_iter().map(|e| (e.key, e.attr.kind, e.attr.size)));
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    use silt_core::FileKind::{Directory, File};
    assert_eq!(
        names,
        vec![
            ("docs/a.txt".to_string(), File, 8),
            ("docs/new.txt".to_string(), File, 5),
            ("docs/sub/".to_string(), Directory, 0),
        ],
        "the remote names, the new file, not the deleted one, in pages of two"
    );
    drop(held);
    let new = engine
        .stat("docs/new.txt")
        .await
        .expect("stat of a local file");
    assert_eq!(new.size, 5);
    bounded("stop", engine.stop()).await.expect("stop");
}
