//! # silt-core: the sans-IO heart of the silt cache
//!
//! This crate makes every decision of silt's write-back cache (what is cached, what is
//! dirty, when bytes are durable, what is uploaded how, what is evicted, what a conflict
//! is) and performs **no I/O**: no files, no network, no clock, no randomness, no threads.
//! Time comes in with every input, jitter comes from a seed in [`CoreConfig`]. Drivers
//! (tokio, blocking, the simulator) execute what it orders and report completions back, so
//! the simulator exercises exactly the code production runs.
//!
//! ## The driver loop
//!
//! 1. Build the core: [`Core::new`] for an empty cache, or [`Core::recover`] with everything
//!    the index holds.
//! 2. Drain [`Core::poll_output`] until it returns `None`, executing each [`Output`]:
//!    - [`Output::Local`]: a cache-file operation. Every operation may be executed at once,
//!      concurrently with the others in flight, and completed in any order: the core emits an
//!      operation only when nothing it must follow is still in flight (reads of one entry run
//!      together; writes beside them only on other chunks).
//!    - [`Output::Index`]: commit the transaction atomically and durably.
//!    - [`Output::Remote`]: an object-store operation.
//!    - [`Output::Reply`]: answer the request. [`Output::Event`]: log / count it.
//! 3. Report each completion with [`Core::handle_input`] (`Input::Local`, `Input::Index`,
//!    `Input::Remote`), pass new requests (`Input::Request`) and disk readings
//!    (`Input::DiskFree`), and when [`Core::poll_timeout`] is reached, `Input::Timeout`.
//!    Every input carries `now`.
//! 4. Go to 2: after every input, drain the outputs.
//!
//! ```no_run
//! use silt_core::{Core, CoreConfig, Input, Instant, Output};
//! let mut core = Core::new(CoreConfig::default(), Instant::from_millis(0)).unwrap(); // 1
//! loop {
//!     while let Some(out) = core.poll_output() {                                      // 2
//!         match out {
//!             Output::Local(_id, _op) => { /* execute, later report Input::Local(id, ..) */ }
//!             Output::Index(_id, _txn) => { /* commit, later report Input::Index(id, ..) */ }
//!             Output::Remote(_id, _op) => { /* send, later report Input::Remote(id, ..) */ }
//!             Output::Reply(_req, _reply) => { /* answer the caller */ }
//!             Output::Event(_e) => { /* log */ }
//!         }
//!     }
//!     let now = Instant::from_millis(1);                                              // 3
//!     core.handle_input(now, Input::Timeout);                                         // 4
//! #   break;
//! }
//! ```
//!
//! ## Errors and bugs
//! Bad input and I/O failures are typed values ([`FileError`], [`LocalError`],
//! [`RemoteError`]); a failed fsync or index commit poisons the core (durable requests fail
//! until it is rebuilt with [`Core::recover`]). A broken internal invariant is a bug and
//! panics with its reason; no input can cause one.
//!
//! See `docs/architecture.md` for the state and `docs/durability.md` for the contract.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attr;
pub mod chunks;
mod config;
pub mod crc32c;
mod ids;
mod io;
mod machine;
mod metrics;
pub mod ranges;
mod records;
mod rng;
mod time;

pub use attr::{Attr, DirEntry, FileKind, ListedObject, RemotePage};
#[cfg(feature = "planted-bugs")]
pub use config::PlantedBug;
pub use config::{ConfigError, CoreConfig};
pub use ids::{EntryId, HandleId, IoId, JournalId, RemoteId, RequestId, TxnId};
pub use io::{
    Event, FileError, Input, LocalError, LocalOk, LocalOp, ObjectInfo, OpenFlags, Output,
    RemoteError, RemoteOk, RemoteOp, Reply, Request,
};
pub use machine::{Core, JournalSummary, MemoryUse, ReadStats};
pub use records::{
    BaseVersion, CleanChunk, ConflictRecord, DirtyExtent, EntryRecord, IndexOp, IndexTxn,
    JournalOp, JournalRecord, JournalStatus, Meta, MultipartProgress, PartRecord, Precondition,
    Recovered,
};
pub use rng::Rng;
pub use time::Instant;
