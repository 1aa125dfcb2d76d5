//! # silt-tokio: the production engine
//!
//! Runs [`silt_core`] for real: cache files through `silt-store`, the index through
//! `silt-index` (group commit), the bucket through `silt-s3`, all driven from one tokio task
//! that owns the core. See `docs/engine.md`.
//!
//! - [`Driver`]: the loop of the core's contract (`core/src/lib.rs`): drain outputs, execute
//!   them (cache-file operations and index commits on the blocking pool, object-store
//!   operations as tasks under a semaphore), feed completions, requests, timer expiries and
//!   disk-space readings back as inputs.
//! - [`CacheManager`]: start (lock, index, recovery), stop (nothing lost), open / read /
//!   write / fsync / truncate / close, unlink, rename, flush, status.
//! - [`hardware_crc32c`]: the checksum function the core gets.

#![warn(missing_docs)]

mod checksum;
mod clock;
mod disk;
mod driver;
mod error;
mod handle;
mod lock;
mod manager;
mod status;

pub use checksum::hardware_crc32c;
pub use driver::{Driver, DriverClient, DriverOptions, DriverParts, StopReport};
pub use error::{Error, Result};
pub use handle::FileHandle;
pub use lock::CacheLock;
pub use manager::{CacheManager, Options};
pub use status::{Conflict, EventCounts, RetryingUpload, Status};
