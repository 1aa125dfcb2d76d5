//! Support for the real-mount tests: the FUSE check, an embedded server with a bucket
//! ([`Served`]), engines with short timers, bounded waits.

#![allow(dead_code)]

/// The engine tests' counting object store (GETs, writes, tokens).
#[path = "../../../tokio/tests/support/counting.rs"]
pub mod gets;

use silt_fuse::demo::DemoServer;
use silt_fuse::{Backend, DirectBucket, FsOptions, MountConfig, Mounted, Ownership};
use silt_s3::{probe, Meta, ObjectStore, S3Remote};
use silt_tokio::{CacheManager, Options};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(60);

/// The demo bucket.
pub const BUCKET: &str = "demo";

/// Fails (never skips) when this machine cannot mount FUSE filesystems.
pub fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: the mount tests mount a real FUSE filesystem; run them as root \
         on a machine with FUSE (modprobe fuse; in a container: --device /dev/fuse --cap-add SYS_ADMIN)"
    );
}

/// A multi-threaded runtime for the engine, the server and the FUSE requests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `f` on `rt` with a deadline; panics naming `what` when it passes.
pub fn bounded<T>(rt: &tokio::runtime::Runtime, what: &str, f: impl Future<Output = T>) -> T {
    rt.block_on(async {
        match tokio::time::timeout(WAIT, f).await {
            Ok(v) => v,
            Err(_) => panic!("{what} did not finish within {WAIT:?}"),
        }
    })
}

/// Waits until `cond` holds, polling; panics naming `what` after [`WAIT`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A probed remote on the demo bucket of `server`.
pub async fn remote(server: &DemoServer) -> Arc<S3Remote> {
    let remote = S3Remote::connect(&server.remote_config(BUCKET)).await;
    let caps = probe(&remote, "mount-test")
        .await
        .expect("probe the demo server");
    remote.set_capabilities(caps);
    Arc::new(remote)
}

/// The embedded s3s-fs server on loopback, serving from a temporary directory that also
/// holds a cache directory and a mount point for the test. Dropped, the server stops, then
/// the directory is removed.
pub struct Served {
    /// The server; each subfolder of `buckets` is one of its buckets.
    pub server: DemoServer,
    /// The folder the server serves (`object_file(&buckets, key)` is an object's file).
    pub buckets: PathBuf,
    /// `cache` in the temporary directory, for an engine (not made here).
    pub cache: PathBuf,
    /// `mnt` in the temporary directory: an empty folder to mount on.
    pub mnt: PathBuf,
    /// The temporary directory holding them all.
    pub root: TempDir,
}

impl Served {
    /// Starts the server on `rt` with the demo bucket ([`BUCKET`]).
    pub fn start(rt: &tokio::runtime::Runtime) -> Served {
        let served = Served::without_bucket(rt);
        served.server.ensure_bucket(BUCKET).expect("bucket");
        served
    }

    /// Starts the server on `rt` with no bucket yet (the test makes its own with
    /// `server.ensure_bucket`).
    pub fn without_bucket(rt: &tokio::runtime::Runtime) -> Served {
        let root = tempfile::tempdir().expect("tempdir");
        let buckets = root.path().join("buckets");
        let cache = root.path().join("cache");
        let mnt = root.path().join("mnt");
        std::fs::create_dir_all(&mnt).expect("mount point");
        let server = bounded(rt, "server", DemoServer::start(&buckets, 0)).expect("demo server");
        Served {
            server,
            buckets,
            cache,
            mnt,
            root,
        }
    }

    /// `name` in the temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// A probed remote on the demo bucket ([`remote`]).
    pub fn remote(&self, rt: &tokio::runtime::Runtime) -> Arc<S3Remote> {
        bounded(rt, "probe", remote(&self.server))
    }

    /// A remote on the demo bucket that counts its requests ([`gets::Counting`]), set to
    /// `caps` (probed on another remote, so that the probe's requests are not counted).
    pub fn counted(
        &self,
        rt: &tokio::runtime::Runtime,
        caps: silt_s3::Capabilities,
    ) -> Arc<gets::Counting<S3Remote>> {
        let cfg = self.server.remote_config(BUCKET);
        bounded(rt, "connect", async move {
            let s3 = S3Remote::connect(&cfg).await;
            s3.set_capabilities(caps);
            Arc::new(gets::Counting::new(s3))
        })
    }
}

/// Puts `data` at `key` as an outside writer would.
pub async fn put(remote: &S3Remote, key: &str, data: &[u8]) {
    remote
        .put(key, bytes::Bytes::copy_from_slice(data), None, Meta::NONE)
        .await
        .expect("put an object");
}

/// An engine on `cache_dir` with short timers: uploads 100 ms after the last write.
pub async fn engine(cache_dir: &Path, remote: &Arc<S3Remote>) -> CacheManager {
    engine_on(cache_dir, remote, remote.capabilities()).await
}

/// [`engine`] over any object store, with the capabilities its server was probed for.
pub async fn engine_on<S: ObjectStore + 'static>(
    cache_dir: &Path,
    remote: &Arc<S>,
    caps: silt_s3::Capabilities,
) -> CacheManager {
    let mut o = Options::new(cache_dir, remote.clone());
    o.core.write_back_delay = Duration::from_millis(100);
    o.core.commit_interval = Duration::from_millis(200);
    o.core.retry_initial = Duration::from_millis(100);
    o.core.retry_max = Duration::from_secs(1);
    o.core.min_free_space = 1 << 20;
    o.fsync_on_close = false;
    caps.apply_to(&mut o.core);
    CacheManager::start(o).await.expect("start the engine")
}

/// The demo bucket of `server` served without a disk cache (`--no-local-cache`), with a
/// memory budget of `memory_limit` bytes.
pub async fn direct(server: &DemoServer, memory_limit: u64) -> Arc<DirectBucket> {
    let remote = S3Remote::connect(&server.remote_config(BUCKET)).await;
    silt_direct::Bucket::new(remote, silt_direct::Options::with_memory(memory_limit), 1)
}

/// Mounts `backend` (an engine, or a bucket without a disk cache) on `mountpoint` with the
/// defaults of the binary.
pub fn mount(
    rt: &tokio::runtime::Runtime,
    backend: impl Into<Backend>,
    mountpoint: &Path,
) -> Mounted {
    let fs = FsOptions {
        ownership: Ownership::of_current_user(),
        attr_ttl: Duration::from_secs(1),
        fsync_on_close: true,
        passthrough: true,
    };
    let config = MountConfig::new(mountpoint, fs, "silt-test");
    silt_fuse::mount(backend, rt.handle().clone(), &config).expect("mount")
}

/// Whether `path` is a mount point now (from /proc/self/mounts).
pub fn is_mounted(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let want = path.to_string_lossy();
    mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(want.as_ref()))
}

/// The names in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

/// The object `key` as s3s-fs stores it: a plain file under the bucket's folder.
pub fn object_file(buckets: &Path, key: &str) -> PathBuf {
    buckets.join(BUCKET).join(key)
}

/// Detaches the mount at `path` (a mount left by a killed process), if there is one.
pub fn detach(path: &Path) {
    if !is_mounted(path) {
        return;
    }
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return;
    };
    // SAFETY: umount2 reads the NUL-terminated path, which lives across the call.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        eprintln!(
            "umount {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
}

/// Detaches the mount at its path when dropped (a test that fails midway leaves no dead
/// mount behind).
pub struct DetachOnDrop(pub PathBuf);

impl Drop for DetachOnDrop {
    fn drop(&mut self) {
        detach(&self.0);
    }
}

/// What a command run by [`run_bounded`] left: its exit status and its output (as text,
/// invalid UTF-8 replaced).
pub struct Ran {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to its end within [`WAIT`] (killed and a panic after that), stdin empty;
/// returns its status, stdout and stderr.
pub fn run_bounded(cmd: &mut std::process::Command) -> Ran {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    fn read_all(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = from.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    }
    let stdout = read_all(child.stdout.take().expect("stdout"));
    let stderr = read_all(child.stderr.take().expect("stderr"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not end within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}
