//! The servers the remote is tested against. Each is started once per test binary and
//! shared; every test uses its own bucket.

use silt_s3::{RemoteConfig, S3Remote};
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

/// Credentials every server is started with.
pub const ACCESS_KEY: &str = "silt-test-access";
/// Secret of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "silt-test-secret-key";

/// A running server.
pub struct Server {
    /// `s3s-fs` or `moto`.
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    _child: Option<Child>,
}

/// Roots of the servers this process started. A shared server lives in a static, which is
/// never dropped, so its root (objects of up to a gibibyte) is removed at process exit
/// instead of being left in the temporary directory by every test binary.
static ROOTS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn remove_roots() {
    if let Ok(roots) = ROOTS.lock() {
        for root in roots.iter() {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

/// A temporary directory that is removed when this process exits.
fn root_removed_at_exit(what: &str) -> PathBuf {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `remove_roots` is a plain `extern "C" fn` that stays valid for the life of
        // the process; registering it has no other precondition.
        let rc = unsafe { libc::atexit(remove_roots) };
        assert_eq!(rc, 0, "atexit");
    });
    let root = tempfile::Builder::new()
        .prefix(&format!("silt-{what}-"))
        .tempdir()
        .expect("server root")
        .keep();
    ROOTS.lock().expect("roots").push(root.clone());
    root
}

/// The in-process s3s-fs server (a directory per bucket under a temporary root), with
/// signature checking on.
pub fn s3s_fs() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| {
        let path = root_removed_at_exit("s3s-fs");
        let listener = StdListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        std::thread::Builder::new()
            .name("s3s-fs".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(serve_s3s_fs(listener, path));
            })
            .expect("spawn s3s-fs");
        Server {
            name: "s3s-fs",
            endpoint,
            _child: None,
        }
    })
}

async fn serve_s3s_fs(listener: StdListener, root: std::path::PathBuf) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder as ConnBuilder;
    let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs");
    let service = {
        let mut b = s3s::service::S3ServiceBuilder::new(fs);
        b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        b.build()
    };
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let http = ConnBuilder::new(TokioExecutor::new());
    loop {
        let socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            Err(_) => {
                // Out of descriptors or an aborted connection: pause instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn = http
            .serve_connection(TokioIo::new(socket), service.clone())
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

/// moto's server, started as a child process that exits when this process does (it
/// watches its stdin, which closes with us).
pub fn moto() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| {
        let port = {
            let l = StdListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let script = format!(
            "import os, sys, threading\n\
             threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n\
             from moto.server import main\n\
             main(['-H', '127.0.0.1', '-p', '{port}'])\n"
        );
        let child = Command::new("python3")
            .args(["-c", &script])
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto: pip install 'moto[server]' (scripts/test.sh does)");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Server {
            name: "moto",
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: Some(child),
        }
    })
}

/// A fresh bucket name (lower case, unique in this process).
pub fn bucket_name(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let tag: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    format!(
        "t{}-{}",
        N.fetch_add(1, Ordering::Relaxed),
        tag.trim_matches('-')
    )
}

/// Remote settings for `bucket` at `endpoint`, with the test credentials and fast retries.
pub fn config(endpoint: &str, bucket: &str) -> RemoteConfig {
    RemoteConfig {
        endpoint: Some(endpoint.to_string()),
        credentials: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
        initial_backoff: Duration::from_millis(20),
        attempt_timeout: Duration::from_secs(30),
        ..RemoteConfig::new(bucket)
    }
}

/// Creates `bucket` on the server at `endpoint`.
pub async fn create_bucket(endpoint: &str, bucket: &str) {
    let admin = S3Remote::connect(&config(endpoint, bucket)).await;
    admin
        .client()
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
}
