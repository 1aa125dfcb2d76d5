//! What the path without a disk cache answers when a request fails.

use silt_remote::{ErrorKind, RemoteError};
use thiserror::Error;

/// Result of the direct path's operations.
pub type Result<T> = std::result::Result<T, Error>;

/// Why a request failed.
#[derive(Debug, Error)]
pub enum Error {
    /// No such object or directory (ENOENT).
    #[error("no such object")]
    NotFound,
    /// The name exists already (EEXIST).
    #[error("already exists")]
    Exists,
    /// The name is a directory (EISDIR).
    #[error("is a directory")]
    IsDirectory,
    /// The directory holds names (ENOTEMPTY).
    #[error("directory not empty")]
    NotEmpty,
    /// A key longer than S3's 1024 bytes (ENAMETOOLONG).
    #[error("name too long: keys hold at most 1024 bytes")]
    NameTooLong,
    /// The operation cannot be done in place (EXDEV: `mv` copies instead).
    #[error("cannot rename in place: {0}")]
    CrossDevice(String),
    /// The name is in use in a way that forbids the operation now (EBUSY).
    #[error("busy: {0}")]
    Busy(String),
    /// Someone else stored another version of the object since it was opened: this one was
    /// not stored over it (EIO). `copy` names where the bytes were kept, if they could be.
    #[error("{key}: changed in the bucket by another writer; not overwritten{}", copy.as_ref().map(|c| format!(", this version stored as {c:?}")).unwrap_or_else(|| ", this version was not stored".into()))]
    Conflict {
        /// The object.
        key: String,
        /// The conflict copy holding this version, if it was stored.
        copy: Option<String>,
    },
    /// The version being read was replaced in the bucket while open (EIO).
    #[error("{key}: replaced in the bucket while open; reopen it")]
    Changed {
        /// The object.
        key: String,
    },
    /// An earlier upload of this open file failed for good; what it carried is gone, and
    /// the file refuses further requests (EIO).
    #[error("{key}: an earlier upload failed ({why}); reopen the file")]
    Lost {
        /// The object.
        key: String,
        /// The failure.
        why: String,
    },
    /// The memory budget stayed spent for longer than a writer waits (EIO).
    #[error("memory_limit is spent by data not yet uploaded; the write waited and gave up")]
    Memory,
    /// The object store failed (after retries for transient errors).
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

impl Error {
    /// A remote error, with 404 as [`Error::NotFound`].
    pub(crate) fn remote(e: RemoteError) -> Error {
        if e.kind == ErrorKind::NotFound {
            Error::NotFound
        } else {
            Error::Remote(e)
        }
    }
}
