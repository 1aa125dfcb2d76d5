//! The index's errors. Every error that concerns a file names it and says what to do.

use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;

/// What to tell an operator whose index cannot be opened.
pub(crate) const CORRUPT_ADVICE: &str = "the cache files under data/ may hold data not yet \
    uploaded, so silt will not start over on its own. Restore the file from a backup, or run \
    `silt fsck` to rebuild what it can; to discard the cache, move the whole cache directory aside";

/// An index operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IndexError {
    /// An I/O error on the index's files.
    #[error("index {}: I/O error: {source}", path.display())]
    Io {
        /// The index file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The index file is damaged (truncated, overwritten, a record that fails its checksum).
    #[error("index {} is corrupt ({detail}); {CORRUPT_ADVICE}", path.display())]
    Corrupt {
        /// The index file or directory.
        path: PathBuf,
        /// What was found wrong.
        detail: String,
    },
    /// The index file is missing but cache files exist: they may hold dirty data that only the
    /// index describes, so a new empty index is not created over them.
    #[error("index {} is missing but {data_dir} holds {files} cache file(s) that may hold data not \
             yet uploaded; restore the index, or move {data_dir} aside to start with an empty cache",
             path.display(), data_dir = data_dir.display())]
    MissingWithCacheFiles {
        /// The index that was looked for.
        path: PathBuf,
        /// The cache-file directory.
        data_dir: PathBuf,
        /// How many files were found there (counting stops early).
        files: usize,
    },
    /// The index was written by a newer silt.
    #[error("index {} has schema version {found}, newer than the {supported} this silt supports; \
             upgrade silt (a downgrade cannot read it)", path.display())]
    NewerSchema {
        /// The index file or directory.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// Another process has the index open.
    #[error("index {} is in use by another process (one silt per cache directory)", path.display())]
    Locked {
        /// The index file or directory.
        path: PathBuf,
    },
    /// Any other failure of the underlying store.
    #[error("index {}: {detail}", path.display())]
    Store {
        /// The index file or directory.
        path: PathBuf,
        /// The store's message.
        detail: String,
    },
    /// `open` was asked for a backend it does not know or was built without.
    #[error("unknown index backend {0:?} (this build has: {1})")]
    UnknownBackend(String, &'static str),
    /// A transaction staged before a simulated crash (memory adapter) was committed after it.
    #[error("transaction lost: the in-memory index crashed before it was committed")]
    LostInCrash,
    /// A group commit failed; every transaction of the group shares this error.
    #[error("group commit failed: {0}")]
    Group(Arc<IndexError>),
}

/// Result of index operations.
pub type Result<T> = std::result::Result<T, IndexError>;
