//! The embedded S3-compatible server of `silt demo`: s3s-fs over a local folder, on
//! loopback, with one fixed pair of demo credentials. Each bucket is a subfolder and each
//! object a plain file in it, so what the mount uploaded can be seen with `ls`.

use silt_s3::RemoteConfig;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// The access key the demo server accepts.
pub const ACCESS_KEY: &str = "silt-demo";
/// The secret key of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "silt-demo-secret-key";

/// Why the demo server could not start.
#[derive(Debug, Error)]
pub enum DemoError {
    /// The folder of the buckets could not be created.
    #[error("demo bucket folder {}: {source}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// No loopback port could be bound.
    #[error("binding the demo server to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The error.
        source: io::Error,
    },
    /// s3s-fs refused the folder.
    #[error("starting the demo server over {}: {reason}", path.display())]
    Server {
        /// The folder.
        path: PathBuf,
        /// What s3s-fs said.
        reason: String,
    },
}

/// A running demo server; it stops when dropped.
#[derive(Debug)]
pub struct DemoServer {
    endpoint: String,
    root: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl DemoServer {
    /// Serves the buckets under `root` (created if missing; each subfolder is a bucket) on
    /// `127.0.0.1:port` (`0`: any free port), on the current tokio runtime.
    pub async fn start(root: &Path, port: u16) -> Result<DemoServer, DemoError> {
        std::fs::create_dir_all(root).map_err(|source| DemoError::Folder {
            path: root.to_path_buf(),
            source,
        })?;
        let fs = s3s_fs::FileSystem::new(root).map_err(|e| DemoError::Server {
            path: root.to_path_buf(),
            reason: format!("{e:?}"),
        })?;
        let service = {
            let mut b = s3s::service::S3ServiceBuilder::new(fs);
            b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DemoError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| DemoError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let task = tokio::spawn(serve(listener, service));
        Ok(DemoServer {
            endpoint: format!("http://{local}"),
            root: root.to_path_buf(),
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The folder whose subfolders are the buckets.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the bucket `name` (a subfolder) if it is not there yet.
    pub fn ensure_bucket(&self, name: &str) -> Result<PathBuf, DemoError> {
        let path = self.root.join(name);
        std::fs::create_dir_all(&path).map_err(|source| DemoError::Folder {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Remote settings for `bucket` on this server, with the demo credentials.
    pub fn remote_config(&self, bucket: &str) -> RemoteConfig {
        RemoteConfig {
            endpoint: Some(self.endpoint.clone()),
            credentials: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
            region: Some("us-east-1".into()),
            ..RemoteConfig::new(bucket)
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: tokio::net::TcpListener, service: s3s::service::S3Service) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder as ConnBuilder;
    let http = ConnBuilder::new(TokioExecutor::new());
    loop {
        let socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            Err(e) => {
                // Out of descriptors or an aborted connection: pause instead of spinning.
                tracing::debug!(error = %e, "demo server accept");
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
