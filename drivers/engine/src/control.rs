//! The control socket: `<cache_dir>/control.sock` (a Unix socket, mode 0600 in the 0700
//! cache directory), through which `silt status` and `silt flush` talk to the running
//! engine.
//!
//! Protocol: the client sends one line, `status`, `flush` or `flush --wait`; the engine
//! answers one line of JSON, a [`ControlReply`], and closes. Each connection runs on a
//! thread of its own (a `flush --wait` may take long). The socket exists only on Unix; on
//! other platforms [`ControlServer::start`] and [`request`] say it is not supported.

use crate::report::StatusReport;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The socket's file name in the cache directory.
pub const SOCKET_NAME: &str = "control.sock";

/// The socket's path for `cache_dir`.
pub fn socket_path(cache_dir: &Path) -> PathBuf {
    cache_dir.join(SOCKET_NAME)
}

/// The engine's answer to one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlReply {
    /// The request was done.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// The status, for `status`.
    pub status: Option<StatusReport>,
}

impl ControlReply {
    /// Done, with nothing to say.
    pub fn done() -> ControlReply {
        ControlReply {
            ok: true,
            error: None,
            status: None,
        }
    }

    /// Not done, because of `error`.
    pub fn failed(error: impl Into<String>) -> ControlReply {
        ControlReply {
            ok: false,
            error: Some(error.into()),
            status: None,
        }
    }
}

/// Why a request over the control socket failed.
#[derive(Debug, Error)]
pub enum ControlError {
    /// Nobody listens on the socket: no engine runs on this cache directory (or it was
    /// killed and left the file).
    #[error("no running silt on {0} (no control socket answers there)")]
    NotRunning(PathBuf),
    /// Control sockets exist on Unix only.
    #[error("the control socket is not supported on this platform")]
    Unsupported,
    /// The conversation failed.
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The answer did not parse.
    #[error("control socket {path}: unreadable answer: {detail}")]
    BadReply {
        /// The socket.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
}

/// Handles one request line; returns the reply.
pub type Handler = std::sync::Arc<dyn Fn(&str) -> ControlReply + Send + Sync + 'static>;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::{request, ControlServer};

#[cfg(not(unix))]
mod other {
    use super::{ControlError, ControlReply, Handler};
    use std::path::Path;

    /// The control socket (Unix only: here it never starts).
    #[derive(Debug)]
    pub struct ControlServer;

    impl ControlServer {
        /// Not supported on this platform.
        pub fn start(_path: &Path, _handler: Handler) -> std::io::Result<ControlServer> {
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "control sockets are Unix only",
            ))
        }
    }

    /// Not supported on this platform.
    pub fn request(_cache_dir: &Path, _line: &str) -> Result<ControlReply, ControlError> {
        Err(ControlError::Unsupported)
    }
}
#[cfg(not(unix))]
pub use other::{request, ControlServer};
