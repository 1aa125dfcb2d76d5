//! # silt-tokio: the production engine
//!
//! Runs [`silt_core`] for real: cache files through `silt-store`, the index through
//! `silt-index` (group commit), the bucket through `silt-s3`, all driven from one tokio task
//! that owns the core. What does not depend on tokio (the cache directory's lock and
//! instance id, options, errors, status, the memory budget, the loop's state, the
//! executors' bodies, the client) is `silt-engine`, shared with the blocking driver
//! (`silt-blocking`). See `docs/engine.md`.
//!
//! - [`Driver`]: the loop of the core's contract (`core/src/lib.rs`): drain outputs, execute
//!   them (cache-file operations and index commits on the blocking pool, object-store
//!   operations as tasks under a semaphore), feed completions, requests, timer expiries and
//!   disk-space readings back as inputs.
//! - [`CacheManager`]: start (lock, instance id, index, recovery), stop (nothing lost),
//!   open / read / write / fsync / truncate / close, unlink, rename, stat, list, flush,
//!   status. Its `memory_limit` bounds the bytes in flight: three quarters in the core, a
//!   quarter for write request bodies in the driver; writers wait for room, they never fail
//!   for it.
//! - [`hardware_crc32c`]: the checksum function the core gets.

#![warn(missing_docs)]

mod driver;
mod manager;

pub use driver::{Driver, DriverClient, DriverOptions, DriverParts, StopReport, TaskLink};
pub use manager::{CacheManager, FileHandle, Options};
pub use silt_engine::{
    hardware_crc32c, CacheLock, Conflict, Counters, Error, EventCounts, MemoryStatus, MemoryUse,
    Page, Result, RetryingUpload, ServiceOptions, Status, StatusReport, DEFAULT_MEMORY_LIMIT,
};
