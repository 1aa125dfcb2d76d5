//! # silt-engine: what silt's drivers share
//!
//! The tokio driver (`silt-tokio`, production) and the blocking driver (`silt-blocking`,
//! std threads) run the same [`silt_core`] against the same cache directory; this crate is
//! everything of that which does not depend on how a driver waits. See `docs/engine.md`.
//!
//! - [`open()`]: start-up of a cache directory: the memory split, the lock ([`CacheLock`],
//!   "locked by pid N"), the instance id (`<cache_dir>/instance`), the index (loaded, never
//!   a walk of the cache files) and the cache files.
//! - [`DriverState`]: the loop's state around the core: requests and their answers, open
//!   handles, flush waiters, stop; a driver feeds it inputs and gives it an [`Execute`]r.
//! - [`exec`]: the executors' bodies (cache files, index commits, object-store operations)
//!   and the [`exec::Report`] guard that answers for an executor that never does.
//! - [`Client`] and [`FileHandle`]: the callers' side, written once as futures over a
//!   driver's [`Link`]; the blocking driver parks its callers on them.
//! - [`Options`], [`Error`], [`Status`], [`WriteBudget`] (the write-body share of
//!   `memory_limit`), [`hardware_crc32c`], [`Clock`], [`disk::free_bytes`].
//! - [`metrics`]: the OpenMetrics registry the loop keeps and its HTTP endpoint;
//!   [`control`]: the control socket of `silt status` and `silt flush`; [`Services`]
//!   starts both for a running engine; [`StatusReport`] is `silt status --json`.
//! - [`fsck()`]: checks a cache directory no engine runs on (clean chunks' CRCs, index
//!   against cache files), repairs what is safe and reports the rest.

#![warn(missing_docs)]

mod checksum;
mod clock;
mod command;
pub mod control;
pub mod disk;
mod error;
mod events;
pub mod exec;
pub mod fsck;
mod handle;
mod instance;
mod lock;
mod memory;
pub mod metrics;
mod offline;
mod open;
mod options;
mod report;
mod services;
mod state;
mod status;
mod sync;

pub use checksum::hardware_crc32c;
pub use clock::Clock;
pub use command::{Client, Command, Link, Page, StopReport};
pub use error::{Error, Result};
pub use fsck::{fsck, FsckError, FsckOptions, FsckReport};
pub use handle::FileHandle;
pub use lock::CacheLock;
pub use memory::{min_memory_limit, split_memory_limit, WriteBudget, WriteFigures, WritePermit};
pub use metrics::{Counters, Metrics};
pub use offline::offline_status;
pub use open::{open, DriverParts, Opened};
pub use options::{Options, DEFAULT_MEMORY_LIMIT};
pub use report::{
    CacheReport, ConflictReport, InFlightReport, MemoryReport, RetryReport, StatusReport,
    UploadsReport, SCHEMA as STATUS_SCHEMA,
};
pub use services::{ServiceOptions, Services};
pub use silt_core::MemoryUse;
pub use state::{DriverState, Execute};
pub use status::{Conflict, EventCounts, MemoryStatus, RetryingUpload, Status};
