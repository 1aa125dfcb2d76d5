//! Remote errors, classified the way the core acts on them.

use thiserror::Error;

/// How the core treats a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 5xx, throttling (SlowDown, 429), timeouts, resets, truncated bodies: retried with
    /// backoff. The operation may or may not have taken effect.
    Transient,
    /// 412 (or an ETag that differs from the expected one): another version is there.
    PreconditionFailed,
    /// 404 on the object.
    NotFound,
    /// The multipart upload is unknown (completed, aborted, expired).
    NoSuchUpload,
    /// 403, no such bucket, a request the server refuses: surfaced loudly.
    Permanent,
}

/// A failed remote operation: its kind, the operation and key, and what the server said.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{op} {key:?}: {kind:?}{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct RemoteError {
    /// How to treat it.
    pub kind: ErrorKind,
    /// The S3 operation (`PutObject`, ...).
    pub op: &'static str,
    /// The object key, as the caller named it.
    pub key: String,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// The server's code and message, or the transport error.
    pub message: String,
}

/// Result of remote operations.
pub type Result<T> = std::result::Result<T, RemoteError>;

impl RemoteError {
    /// An error of `kind` from operation `op` on `key`, without an HTTP status.
    pub fn new(kind: ErrorKind, op: &'static str, key: &str, message: impl Into<String>) -> Self {
        RemoteError {
            kind,
            op,
            key: key.to_string(),
            status: None,
            message: message.into(),
        }
    }

    /// The error as the core takes it.
    pub fn to_core(&self) -> silt_core::RemoteError {
        match self.kind {
            ErrorKind::Transient => silt_core::RemoteError::Transient(self.to_string()),
            ErrorKind::PreconditionFailed => silt_core::RemoteError::PreconditionFailed,
            ErrorKind::NotFound => silt_core::RemoteError::NotFound,
            ErrorKind::NoSuchUpload => silt_core::RemoteError::NoSuchUpload,
            ErrorKind::Permanent => silt_core::RemoteError::Permanent(self.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_sees_the_same_classes() {
        let e = RemoteError::new(ErrorKind::Transient, "GetObject", "k", "reset");
        assert!(
            matches!(e.to_core(), silt_core::RemoteError::Transient(m) if m.contains("GetObject"))
        );
        let e = RemoteError::new(ErrorKind::NoSuchUpload, "ListParts", "k", "");
        assert_eq!(e.to_core(), silt_core::RemoteError::NoSuchUpload);
    }
}
