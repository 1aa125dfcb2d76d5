//! End-to-end tests of the engine with real components: a redb index on disk, real cache
//! files, and the aws-sdk-s3 remote talking to an in-process s3s-fs server on 127.0.0.1.
//! Every wait is bounded ([`support::WAIT`]).

mod support;

use silt_s3::ObjectStore;
use silt_tokio::{CacheManager, Error};
use std::time::Duration;
use support::{bounded, bucket, object, options, pattern, put_outside};

/// Applies a write to the model of a file.
fn apply(model: &mut Vec<u8>, offset: usize, data: &[u8]) {
    if model.len() < offset + data.len() {
        model.resize(offset + data.len(), 0);
    }
    model[offset..offset + data.len()].copy_from_slice(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_ranges_reach_the_bucket_after_flush_wait() {
    let remote = bucket("ranges").await;
    let dir = tempfile::tempdir().expect("cache dir");
    let engine = bounded("start", CacheManager::start(options(dir.path(), &remote)))
        .await
        .expect("start");

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
async fn restart_reads_from_cache_and_resumes_pending_uploads() {
    let remote = bucket("restart").await;
    let dir = tempfile::tempdir().expect("cache dir");
    let data = pattern(300_000, 5);

    // First run: the upload is due only 3 s after the write; stop before that.
    let mut opts = options(dir.path(), &remote);
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
    let engine = CacheManager::start(options(dir.path(), &remote))
        .await
        .expect("restart");
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
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("locked by pid {}", std::process::id())),
        "{msg}"
    );
    let lock = std::fs::read_to_string(dir.path().join("lock")).expect("lock file");
    assert_eq!(lock.trim(), std::process::id().to_string());

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

    // Someone else stores a new version; then the local edit lands on the old one.
    let v2 = pattern(40_000, 99);
    put_outside(&remote, key, &v2).await;
    let edit = pattern(5_000, 42);
    f.write(1_000, edit.clone()).await.expect("write");
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
    let mut local = v1.clone();
    apply(&mut local, 1_000, &edit);
    let copy = object(&remote, &copies.objects[0].key)
        .await
        .expect("conflict copy");
    assert!(copy == local, "the conflict copy holds the local version");

    let status = engine.status().await.expect("status");
    assert_eq!(status.conflicts.len(), 1, "{status:?}");
    assert_eq!(status.conflicts[0].original_key, key);
    assert_eq!(status.conflicts[0].conflict_key, copies.objects[0].key);
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
