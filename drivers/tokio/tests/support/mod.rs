//! Test support: the in-process s3s-fs server on loopback (as the remote's own tests run
//! it), a fresh bucket per test, an object store that counts GETs, and engine options with
//! short timers. Shared by the end-to-end tests of silt-tokio and silt-blocking (which
//! include this module by path); async helpers run on the test's runtime.

#![allow(dead_code)]

pub mod child;
pub mod counting;
pub mod memory;
/// The servers, shared with the remote's own tests: s3s-fs in-process, moto as a child.
#[path = "../../../s3/tests/support/servers.rs"]
pub mod server;

use counting::Counting;
use silt_engine::Options;
use silt_s3::{probe, Meta, ObjectStore, RemoteConfig, S3Remote};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(60);

/// Runs `f` with a deadline; panics naming `what` when it passes.
pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {WAIT:?}"),
    }
}

/// A fresh bucket on the shared s3s-fs server, reached through a probed [`S3Remote`]
/// wrapped in a GET counter.
pub async fn bucket(tag: &str) -> Arc<Counting<S3Remote>> {
    let server = server::s3s_fs();
    let bucket = server::bucket_name(tag);
    let cfg = server::config(&server.endpoint, &bucket);
    let remote = S3Remote::connect(&cfg).await;
    remote
        .client()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    probed(remote, "engine").await
}

/// An existing `bucket` on the server at `endpoint` (a child process reaching its parent's
/// server), reached through a probed [`S3Remote`] wrapped in a GET counter.
pub async fn existing_bucket(endpoint: &str, bucket: &str) -> Arc<Counting<S3Remote>> {
    let remote = S3Remote::connect(&server::config(endpoint, bucket)).await;
    probed(remote, "engine-child").await
}

/// A second remote on the bucket of `remote` (another cache's view of the same bucket),
/// with counters of its own.
pub async fn same_bucket(remote: &Counting<S3Remote>) -> Arc<Counting<S3Remote>> {
    existing_bucket(&server::s3s_fs().endpoint, remote.inner().bucket()).await
}

async fn probed(remote: S3Remote, nonce: &str) -> Arc<Counting<S3Remote>> {
    let caps = bounded("probe", probe(&remote, nonce))
        .await
        .expect("probe the server");
    remote.set_capabilities(caps);
    Arc::new(Counting::new(remote))
}

/// The index backends the engine is tested on.
pub const BACKENDS: [&str; 2] = ["redb", "fjall"];

/// Engine options with short timers for `dir` and `remote`: uploads 100 ms after the last
/// write, a commit every 200 ms, fast retries, a small free-space reserve; the redb index.
/// `D` is the driver's options (either driver's, at their defaults).
pub fn options<D: Default>(
    dir: &Path,
    remote: &Arc<Counting<S3Remote>>,
) -> Options<Counting<S3Remote>, D> {
    options_on(dir, remote, "redb")
}

/// [`options`] with the index on `backend` (`"redb"` or `"fjall"`).
pub fn options_on<D: Default>(
    dir: &Path,
    remote: &Arc<Counting<S3Remote>>,
    backend: &str,
) -> Options<Counting<S3Remote>, D> {
    let mut o = Options::new(dir, remote.clone());
    o.index_backend = backend.to_string();
    o.core.write_back_delay = Duration::from_millis(100);
    o.core.commit_interval = Duration::from_millis(200);
    o.core.retry_initial = Duration::from_millis(100);
    o.core.retry_max = Duration::from_secs(1);
    o.core.min_free_space = 1 << 20;
    remote.inner().capabilities().apply_to(&mut o.core);
    o
}

/// The whole object at `key`, straight from the bucket.
pub async fn object(remote: &Counting<S3Remote>, key: &str) -> Option<Vec<u8>> {
    let info = remote.inner().head(key).await.expect("head")?;
    if info.size == 0 {
        return Some(Vec::new());
    }
    let got = remote
        .inner()
        .get_range(key, 0..info.size, None)
        .await
        .expect("get");
    Some(got.data.to_vec())
}

/// Writes `data` at `key` in the bucket as an outside writer would.
pub async fn put_outside(remote: &Counting<S3Remote>, key: &str, data: &[u8]) -> String {
    remote
        .inner()
        .put(key, bytes::Bytes::copy_from_slice(data), None, Meta::NONE)
        .await
        .expect("outside put")
}

/// Asserts that `err` refuses a start on `dir` because this process holds its lock: the
/// message names our pid, and so does the lock file.
pub fn assert_locked_by_us(err: &silt_engine::Error, dir: &Path) {
    assert!(matches!(err, silt_engine::Error::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("locked by pid {}", std::process::id())),
        "{msg}"
    );
    let lock = std::fs::read_to_string(dir.join("lock")).expect("lock file");
    assert_eq!(lock.trim(), std::process::id().to_string());
}

/// Deterministic test bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}

/// Remote settings for `bucket` (re-exported for tests that build their own remote).
pub fn remote_config(bucket: &str) -> RemoteConfig {
    server::config(&server::s3s_fs().endpoint, bucket)
}
