//! # silt-direct: the mount's path without a disk cache (`--no-local-cache`)
//!
//! A bucket served straight from the object store, beside the core rather than a mode of
//! it (the core's fsync means a local commit; here there is nothing local to commit to):
//!
//! - reads are ranged GETs of the version opened, with readahead for sequential readers
//!   ([`reader`]);
//! - writes go to memory, bounded by `--memory-limit` ([`budget`]); every whole part
//!   written is sent at once as a part of a multipart upload, so a large sequential write
//!   streams to the bucket while it is written;
//! - `fsync` and `close` return once the object is in the bucket (a conditional PUT or
//!   CompleteMultipartUpload); an error there is the caller's, and nothing is kept after
//!   the last close: without a disk, an upload that cannot be done is lost, and the
//!   application is told by the failing `close` or `fsync`;
//! - unchanged bytes of the version opened are copied server-side, never sent again;
//! - names: HeadObject, ListObjectsV2 with delimiter `/` (files open and not yet stored
//!   are listed too), directory markers `dir/`, rename as copy + delete.
//!
//! See `docs/mount.md`, "Without a local cache".

#![warn(missing_docs)]

mod bucket;
pub mod budget;
mod error;
mod file;
mod handle;
mod options;
mod overlay;
pub mod reader;
mod retry;

pub use bucket::Bucket;
pub use error::{Error, Result};
pub use handle::Handle;
pub use options::{Options, MIN_PART};

use budget::Budget;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What every open file of a bucket shares: the store, the options, the memory budget.
#[derive(Debug)]
pub struct Shared<S> {
    store: S,
    opts: Options,
    budget: Arc<Budget>,
    /// Makes upload tokens unique within the process.
    tokens: AtomicU64,
    /// Makes them unique across processes.
    instance: u64,
}

impl<S> Shared<S> {
    /// A fresh upload token: recognises this process's own version after a retry whose
    /// first attempt took effect unanswered.
    fn token(&self) -> String {
        let n = self.tokens.fetch_add(1, Ordering::Relaxed);
        format!("direct-{:016x}-{n}", self.instance)
    }

    /// Bytes of the memory budget in use.
    pub fn memory_used(&self) -> u64 {
        self.budget.used()
    }
}
