//! The engine through outages, with real components (cache files, a redb index, the
//! aws-sdk-s3 remote, the in-process s3s-fs server) and a TCP proxy in between that can take
//! the server away and count what the engine sends.

/// The remote's test proxy: byte counts, outages, held-back uploads.
#[path = "../../s3/tests/support/proxy.rs"]
mod proxy;
mod support;

use proxy::{FaultPlan, Proxy};
use silt_tokio::CacheManager;
use std::time::Duration;
use support::{bounded, bucket, existing_bucket, object, options, pattern, WAIT};

/// The server goes away: writes and fsyncs of an open file still succeed (they are local), the upload is
/// retried with its error in the status, nothing is lost; when the server comes back the
/// upload completes on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_outage_delays_uploads_and_loses_nothing() {
    let direct = bucket("outage").await;
    let proxy = Proxy::start(&support::server::s3s_fs().endpoint, FaultPlan::default()).await;
    let remote = existing_bucket(&proxy.endpoint, direct.inner().bucket()).await;
    let dir = tempfile::tempdir().expect("cache dir");
    let engine = CacheManager::start(options(dir.path(), &remote))
        .await
        .expect("start");

    // Opening a key the cache does not hold asks the server what is there: done before the
    // outage. Everything after it is local until the upload.
    let f = engine.open("during-outage.bin", true).await.expect("open");
    proxy.set_down(true);
    let data = pattern(300_000, 3);
    bounded("write", f.write(0, data.clone()))
        .await
        .expect("write");
    bounded("fsync", f.sync_range())
        .await
        .expect("fsync is local: it succeeds while the server is down");
    bounded("close", f.close()).await.expect("close");
    engine.flush(false).await.expect("flush");

    // The upload fails and waits to be retried, with the reason.
    let deadline = tokio::time::Instant::now() + WAIT;
    let retrying = loop {
        let status = engine.status().await.expect("status");
        if let Some(r) = status.uploads_retrying.first().cloned() {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no retrying upload within {WAIT:?}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(retrying.key, "during-outage.bin");
    assert!(retrying.attempts >= 1, "{retrying:?}");
    assert!(retrying.last_error.is_some(), "{retrying:?}");
    assert!(object(&direct, "during-outage.bin").await.is_none());

    // Back: the upload completes by itself (the retry), and flush(wait) sees it done.
    proxy.set_down(false);
    bounded("flush after the outage", engine.flush(true))
        .await
        .expect("flush");
    let stored = object(&direct, "during-outage.bin")
        .await
        .expect("uploaded");
    assert!(stored == data, "the bucket holds the fsynced bytes");
    let status = engine.status().await.expect("status");
    assert_eq!(status.uploads_pending(), 0, "{status:?}");
    assert!(status.events.upload_failures >= 1, "{status:?}");
    bounded("stop", engine.stop()).await.expect("stop");
}

/// SIGKILL in the middle of a multipart upload, on moto: a child process writes a 20 MiB file,
/// fsyncs it and starts its upload in 5 MiB parts, one at a time, through the proxy, which
/// holds back the bytes of the second part. The child is killed there. A restart on the same
/// cache directory resumes the same multipart upload: the first part, already on the server,
/// is not sent again (counted at the proxy), and the object equals the fsynced bytes.
#[cfg(unix)]
mod multipart_kill {
    use super::support::child::{run_child, say};
    use super::support::{self, bounded, existing_bucket, object, options};
    use super::{pattern, CacheManager, FaultPlan, Proxy};
    use std::os::unix::process::ExitStatusExt;
    use std::path::Path;
    use std::time::{Duration, Instant};

    /// The cache directory; its presence selects the child's part.
    const ENV_DIR: &str = "SILT_OUTAGE_KILL_CACHE_DIR";
    /// The proxy's endpoint, which the child uses.
    const ENV_ENDPOINT: &str = "SILT_OUTAGE_KILL_ENDPOINT";
    /// The bucket, created by the parent.
    const ENV_BUCKET: &str = "SILT_OUTAGE_KILL_BUCKET";
    /// The child's line once its fsync returned and the upload was ordered.
    const UPLOADING: &str = "uploading";
    const KEY: &str = "big/resumed.bin";
    const MIB: u64 = 1 << 20;
    const PART: u64 = 5 * MIB;
    const SIZE: usize = 20 << 20;

    fn data() -> Vec<u8> {
        pattern(SIZE, 77)
    }

    fn engine_options(
        dir: &Path,
        remote: &std::sync::Arc<support::counting::Counting<silt_s3::S3Remote>>,
    ) -> silt_tokio::Options<support::counting::Counting<silt_s3::S3Remote>> {
        let mut o = options(dir, remote);
        o.core.min_part_size = PART;
        o.core.multipart_threshold = 8 * MIB;
        o.core.max_parts_in_flight = 1;
        o.core.max_concurrent_uploads = 1;
        o
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_multipart_upload_killed_midway_resumes_by_part() {
        const NAME: &str = "multipart_kill::a_multipart_upload_killed_midway_resumes_by_part";
        if let Some(dir) = std::env::var_os(ENV_DIR) {
            return child(Path::new(&dir)).await;
        }
        // On moto: its ListParts names each part's ETag, which resuming by part needs
        // (s3s-fs lists parts without one, so every part would be sent again).
        let moto = support::server::moto();
        let name = support::server::bucket_name("kill-multipart");
        support::server::create_bucket(&moto.endpoint, &name).await;
        let direct = existing_bucket(&moto.endpoint, &name).await;
        let proxy = Proxy::start(&moto.endpoint, FaultPlan::default()).await;
        let proxy = std::sync::Arc::new(proxy);
        let dir = tempfile::tempdir().expect("cache dir");
        let envs = vec![
            (ENV_DIR, dir.path().as_os_str().to_owned()),
            (ENV_ENDPOINT, proxy.endpoint.clone().into()),
            (ENV_BUCKET, direct.inner().bucket().to_string().into()),
        ];
        // From the child's start: its lookups, the first part and half of the second go
        // through, then the proxy holds.
        proxy.hold_after(PART + PART / 2);
        let p = proxy.clone();
        let (_, exit) = tokio::task::spawn_blocking(move || {
            run_child(NAME, envs, UPLOADING, || {
                let deadline = Instant::now() + support::WAIT;
                while !p.holding() {
                    assert!(
                        Instant::now() < deadline,
                        "the upload never reached part two"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                // Time for the first part's answer to be recorded in the child's index.
                std::thread::sleep(Duration::from_millis(1500));
            })
        })
        .await
        .expect("child runner");
        assert_eq!(exit.signal(), Some(libc::SIGKILL), "{exit:?}");
        assert!(
            object(&direct, KEY).await.is_none(),
            "not complete before the kill"
        );

        // Cut what the dead child left in the proxy's buffers, then restart through the
        // proxy, counting what goes up now.
        proxy.set_down(true);
        proxy.release();
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.set_down(false);
        proxy.reset_bytes_up();
        let remote = existing_bucket(&proxy.endpoint, direct.inner().bucket()).await;
        let engine = bounded(
            "restart",
            CacheManager::start(engine_options(dir.path(), &remote)),
        )
        .await
        .expect("restart");
        bounded("flush", engine.flush(true)).await.expect("flush");
        let sent = proxy.bytes_up();
        println!("after the restart {sent} bytes went up for a {SIZE}-byte object");
        let stored = object(&direct, KEY)
            .await
            .expect("uploaded after the restart");
        assert!(
            stored == data(),
            "the object holds exactly the fsynced bytes"
        );
        assert!(
            sent < SIZE as u64 - PART + MIB,
            "the first part was not sent again: {sent} bytes went up after the restart"
        );
        assert!(
            sent >= SIZE as u64 - 2 * PART,
            "the rest was sent: {sent} bytes"
        );
        bounded("stop", engine.stop()).await.expect("stop");
    }

    /// The child's part: write, fsync, order the upload, say so, hold on until killed.
    async fn child(dir: &Path) {
        let endpoint = std::env::var(ENV_ENDPOINT).expect("endpoint in the environment");
        let bucket = std::env::var(ENV_BUCKET).expect("bucket in the environment");
        let remote = existing_bucket(&endpoint, &bucket).await;
        let mut opts = engine_options(dir, &remote);
        opts.core.write_back_delay = Duration::from_secs(600);
        let engine = bounded("child start", CacheManager::start(opts))
            .await
            .expect("child start");
        let f = bounded("child open", engine.open(KEY, true))
            .await
            .expect("child open");
        bounded("child write", f.write(0, data()))
            .await
            .expect("child write");
        bounded("child fsync", f.sync_range())
            .await
            .expect("child fsync");
        // Only now may the proxy hold bytes back: the part the child sends next.
        engine.flush(false).await.expect("child flush");
        say(UPLOADING);
        tokio::time::sleep(support::WAIT).await;
        panic!("the child was not killed within {:?}", support::WAIT);
    }
}
