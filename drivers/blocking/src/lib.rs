//! # silt-blocking: the engine on std threads
//!
//! The same [`silt_core`] as the production driver (`silt-tokio`), run for embedders that
//! have no async runtime: every call blocks its thread until the core has answered.
//!
//! - The loop that owns the core runs on a thread of its own (`silt-driver`) and waits on
//!   one std channel; cache-file operations run on `silt-local` threads, index commits on a
//!   `silt-index` thread (group commit). Only the S3 remote, whose SDK is async, runs on a
//!   private tokio runtime (`silt-remote` threads) inside; it never leaks into the API.
//! - [`CacheManager`]: start (lock, instance id, index, recovery), stop (nothing lost),
//!   open / read / write / fsync / truncate / close, unlink, rename, stat, list, flush,
//!   status, exactly as silt-tokio's, blocking. The same `memory_limit` split: three
//!   quarters to the core, a quarter for write bodies; writers wait for room.
//! - [`connect`]: the S3 remote, connected and probed without a runtime of the caller's.
//!
//! The cache directory, the loop's rules, errors and status are `silt-engine`'s, shared with
//! silt-tokio: a cache directory written by one driver is read by the other. See
//! `docs/engine.md`, "The blocking driver".

#![warn(missing_docs)]

mod driver;
mod exec;
mod handle;
mod link;
mod manager;
mod options;
mod pool;
mod remote;
mod sync;
mod wait;

pub use handle::FileHandle;
pub use manager::CacheManager;
pub use options::{DriverOptions, Options};
pub use remote::connect;
pub use silt_engine::{
    hardware_crc32c, CacheLock, Conflict, Counters, Error, EventCounts, MemoryStatus, MemoryUse,
    Page, Result, RetryingUpload, ServiceOptions, Status, StatusReport, StopReport,
    DEFAULT_MEMORY_LIMIT,
};
