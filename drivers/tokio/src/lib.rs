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
//! - [`CacheManager`]: start (lock, instance id, index, recovery), stop (nothing lost),
//!   open / read / write / fsync / truncate / close, unlink, rename, flush, status. Its
//!   `memory_limit` bounds the bytes in flight: three quarters in the core, a quarter for
//!   write request bodies in the driver; writers wait for room, they never fail for it.
//! - [`hardware_crc32c`]: the checksum function the core gets.

#![warn(missing_docs)]

mod checksum;
mod clock;
mod disk;
mod driver;
mod error;
mod handle;
mod instance;
mod lock;
mod manager;
mod memory;
mod status;

pub use checksum::hardware_crc32c;
pub use driver::{Driver, DriverClient, DriverOptions, DriverParts, StopReport};
pub use error::{Error, Result};
pub use handle::FileHandle;
pub use lock::CacheLock;
pub use manager::{CacheManager, Options, DEFAULT_MEMORY_LIMIT};
pub use silt_core::MemoryUse;
pub use status::{Conflict, EventCounts, MemoryStatus, RetryingUpload, Status};
