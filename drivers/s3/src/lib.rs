//! silt's remote: the [`ObjectStore`] trait and its aws-sdk-s3 implementation,
//! [`S3Remote`]. The core never sees this crate; a driver runs the core's `RemoteOp`s with
//! [`execute`].
//!
//! - Every write can be conditional (`If-Match: <etag>`, `If-None-Match: *`); a 412 is a
//!   [`ErrorKind::PreconditionFailed`], never retried as an overwrite.
//! - Ranged GETs check the returned ETag (some servers ignore `If-Match` on GET) and the
//!   body's length (a truncated body is an error, never data).
//! - [`probe`] finds out at mount which conditions the server enforces; where it does not,
//!   the remote checks them with a HEAD just before the write. [`mount_capabilities`]
//!   remembers the answer in the cache directory, so that a remount uses it at once and
//!   probes again in the background ([`keep_current`]).
//! - [`partial_update`] stores a new version of a large object with only its dirty parts
//!   uploaded and the rest copied server-side.
//! - Errors are classified for the core: transient, precondition failed, not found, no such
//!   upload, permanent.
//!
//! The trait, its errors and [`execute`] live in the SDK-free `silt-remote` crate and are
//! re-exported here. Only this crate (and what links it) compiles aws-sdk-s3. See
//! `docs/remote.md`.

mod compat;
mod config;
mod error;
pub mod mtime;
mod partial;
mod probe;
pub mod remembered;
mod s3;
mod store;

pub use config::RemoteConfig;
pub use error::{ErrorKind, RemoteError, Result};
pub use partial::{
    effective_part_size, partial_update, plan_parts, LocalBytes, PartSource, PlannedPart, Update,
    UpdateStats, MAX_PARTS, MIN_PART_SIZE,
};
pub use probe::{probe, Capabilities};
pub use remembered::{
    keep_current, mount_capabilities, refresh, CapabilitiesFile, Lookup, MountCapabilities,
    Refreshed, Source,
};
pub use s3::{S3Remote, TOKEN_METADATA};
pub use silt_remote::execute;
pub use store::{Got, Listed, Listing, Meta, ObjectStore};
