//! What silt asks of an object store: the [`ObjectStore`] trait, the [`RemoteError`] classes
//! the core acts on, and [`execute`], which runs one of the core's `RemoteOp`s through a
//! store.
//!
//! This crate compiles no SDK. `silt-s3` implements the trait with aws-sdk-s3 (and
//! re-exports everything here), `silt-memstore` (feature `object-store`) in memory, so that
//! code generic over the trait (the engine, its tests) builds without aws-sdk-s3. See
//! `docs/remote.md`.

mod error;
mod execute;
mod store;

pub use error::{ErrorKind, RemoteError, Result};
pub use execute::execute;
pub use store::{Got, Listed, Listing, Meta, ObjectStore};
