//! The crate's one error type: start-up failures (lock, index, cache files, configuration)
//! and the request errors of the core ([`silt_core::FileError`]), kept apart so that a mount
//! can map each to an errno.

use silt_core::FileError;
use std::path::PathBuf;
use thiserror::Error;

/// Result of the engine's operations.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong.
#[derive(Debug, Error)]
pub enum Error {
    /// Another process (or another engine in this one) runs on the cache directory.
    #[error("cache directory {} is locked by {}", dir.display(), holder(*pid))]
    Locked {
        /// The cache directory.
        dir: PathBuf,
        /// The pid recorded in the lock file, if it could be read.
        pid: Option<u32>,
    },
    /// The cache directory could not be created.
    #[error("cache directory {}: {source}", path.display())]
    CacheDir {
        /// The cache directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The lock file could not be created, locked or written.
    #[error("lock file {}: {source}", path.display())]
    LockFile {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The cache's instance id file (`<cache_dir>/instance`) could not be read or written,
    /// or holds no valid id. A damaged file is never replaced on its own: a new id would make
    /// the cache's own earlier uploads look foreign. Restore it, or remove it knowingly.
    #[error("instance id file {}: {reason}", path.display())]
    InstanceFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `memory_limit` is too small to run with.
    #[error("memory_limit {limit} is too small: at least {min} bytes are needed (a quarter for write bodies, the rest must hold one chunk)")]
    MemoryLimit {
        /// The limit asked for.
        limit: u64,
        /// The smallest that works with this chunk size.
        min: u64,
    },
    /// The index could not be opened or read.
    #[error("cache index: {0}")]
    Index(#[from] silt_index::IndexError),
    /// The cache-file directory could not be opened.
    #[error("cache files: {0}")]
    Store(#[from] silt_store::StoreError),
    /// The core refused its configuration.
    #[error(transparent)]
    Config(#[from] silt_core::ConfigError),
    /// No such object (ENOENT).
    #[error("no such object")]
    NotFound,
    /// A key longer than S3's 1024 bytes (ENAMETOOLONG).
    #[error("name too long: keys hold at most 1024 bytes")]
    NameTooLong,
    /// The handle is not open (EBADF).
    #[error("bad file handle")]
    BadHandle,
    /// The cache is full of data not yet uploaded (ENOSPC).
    #[error("no space left in the cache: dirty data fills it and could not be uploaded in time")]
    NoSpace,
    /// The name exists already: exclusive create, mkdir (EEXIST).
    #[error("already exists")]
    Exists,
    /// A directory where a file is expected (EISDIR).
    #[error("is a directory")]
    IsDirectory,
    /// A file where a directory is expected (ENOTDIR).
    #[error("not a directory")]
    NotADirectory,
    /// A directory that still holds names (ENOTEMPTY).
    #[error("directory not empty")]
    NotEmpty,
    /// A rename not done in place (EXDEV; `mv` then copies and deletes): a directory with
    /// too many keys below it or a file below it in use.
    #[error("cannot rename this directory in place")]
    CrossDevice,
    /// A request that makes no sense, such as moving a directory into itself (EINVAL).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The target is busy (EBUSY).
    #[error("target is busy: {0}")]
    Busy(String),
    /// A local or remote I/O error (EIO).
    #[error("I/O error: {0}")]
    Io(String),
    /// The cache cannot go on safely (a failed fsync or index commit): restart it.
    #[error("the cache stopped accepting durable work: {0}")]
    Fatal(String),
    /// The engine is stopping or stopped.
    #[error("the cache manager is stopped")]
    Stopped,
    /// The core answered a request with a reply of another kind (a bug).
    #[error("unexpected reply to {request}: {reply}")]
    UnexpectedReply {
        /// The request.
        request: &'static str,
        /// The reply received.
        reply: String,
    },
    /// A task or thread of the engine (opening the cache directory, the driver's loop)
    /// failed to run to completion: it panicked or was cancelled.
    #[error("engine task failed: {0}")]
    Task(String),
    /// A thread or runtime of the engine could not be started.
    #[error("cannot start the engine's {what}: {source}")]
    Spawn {
        /// What was being started.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The metrics endpoint could not listen at `metrics_addr`.
    #[error("cannot serve metrics at {addr} (metrics_addr): {source}")]
    Metrics {
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

fn holder(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "another process (pid not recorded yet)".to_string(),
    }
}

impl From<FileError> for Error {
    fn from(e: FileError) -> Self {
        match e {
            FileError::NotFound => Error::NotFound,
            FileError::NameTooLong => Error::NameTooLong,
            FileError::BadHandle => Error::BadHandle,
            FileError::NoSpace => Error::NoSpace,
            FileError::Exists => Error::Exists,
            FileError::IsDirectory => Error::IsDirectory,
            FileError::NotADirectory => Error::NotADirectory,
            FileError::NotEmpty => Error::NotEmpty,
            FileError::CrossDevice => Error::CrossDevice,
            FileError::Invalid(s) => Error::Invalid(s),
            FileError::Busy(s) => Error::Busy(s),
            FileError::Io(s) => Error::Io(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_names_the_pid() {
        let e = Error::Locked {
            dir: PathBuf::from("/c"),
            pid: Some(42),
        };
        assert_eq!(e.to_string(), "cache directory /c is locked by pid 42");
    }

    #[test]
    fn file_errors_map_one_to_one() {
        assert!(matches!(Error::from(FileError::NotFound), Error::NotFound));
        assert!(matches!(
            Error::from(FileError::NameTooLong),
            Error::NameTooLong
        ));
        assert!(matches!(
            Error::from(FileError::BadHandle),
            Error::BadHandle
        ));
        assert!(matches!(Error::from(FileError::NoSpace), Error::NoSpace));
        assert!(matches!(Error::from(FileError::Busy("x".into())), Error::Busy(s) if s == "x"));
        assert!(matches!(Error::from(FileError::Io("y".into())), Error::Io(s) if s == "y"));
    }
}
