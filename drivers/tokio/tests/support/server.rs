//! The in-process s3s-fs server: started once per test binary on 127.0.0.1, shared by the
//! tests, each of which uses its own bucket.

use silt_s3::RemoteConfig;
use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Credentials the server checks.
pub const ACCESS_KEY: &str = "silt-test-access";
/// Secret of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "silt-test-secret-key";

/// A running server.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    _root: tempfile::TempDir,
}

/// The shared server (a directory per bucket under a temporary root), with signature
/// checking on, running on a runtime of its own thread.
pub fn s3s_fs() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| {
        let root = tempfile::tempdir().expect("s3s-fs root");
        let listener = StdListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let path = root.path().to_path_buf();
        std::thread::Builder::new()
            .name("s3s-fs".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("server runtime");
                rt.block_on(serve(listener, path));
            })
            .expect("spawn s3s-fs");
        Server {
            endpoint,
            _root: root,
        }
    })
}

async fn serve(listener: StdListener, root: std::path::PathBuf) {
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
        "e{}-{}",
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
