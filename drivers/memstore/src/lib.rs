//! # silt-memstore: one in-memory object store for silt's tests and simulator
//!
//! [`MemStore`] is an S3 bucket in memory that executes the core's [`silt_core::RemoteOp`]s
//! ([`MemStore::perform`]): objects with ETags and upload tokens, every version ever stored,
//! multipart uploads with UploadPartCopy, paged listings, conditional writes and deletes.
//!
//! It is deterministic: no clock (the caller passes the time of each operation), no
//! randomness (faults are switched on explicitly, [`Fault`], or decided by draws the caller
//! makes from its own generator, [`FaultRates`]). The same calls give the same answers, ETags
//! and upload ids, which is what lets one simulator seed reproduce one run.
//!
//! Quirks of real servers are options ([`Quirks`]): ignoring `If-Match` on GET, conditions on
//! CompleteMultipartUpload, or conditions on every write; the minimum part size; an outside
//! writer ([`MemStore::outside_put`]) that stores versions the cache did not make.
//!
//! Every write by the cache is announced to an observer before it takes effect
//! ([`Effect`]), so a checker can compare it with what the cache meant to replace.
//!
//! Users: the core's scenario tests (`core/tests/harness`), the simulator (`sim/src/s3.rs`,
//! which adds latency, its own fault draws and invariant checks), and the drivers' tests
//! through [`SharedStore`], an implementation of `silt_remote::ObjectStore`. No SDK is
//! compiled. See `docs/memstore.md`.

#![forbid(unsafe_code)]

mod effect;
mod faults;
mod object;
mod ops;
mod perform;
mod quirks;
mod shared;
mod store;

pub use effect::Effect;
pub use faults::{Fault, FaultRates, OpKind, When};
pub use object::{Object, Objects, Versions};
pub use quirks::Quirks;
pub use shared::SharedStore;
pub use store::MemStore;
