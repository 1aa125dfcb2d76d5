//! # silt-fuse: the mount
//!
//! A bucket mounted through the crash-safe write-back cache (`silt-tokio`'s
//! [`silt_tokio::CacheManager`]) with FUSE (`fuser`, mounting with mount(2) as root: no
//! libfuse needed). See `docs/mount.md`.
//!
//! - [`mount()`]: checks the mount point and `/dev/fuse`, mounts, serves kernel requests on
//!   the engine's tokio runtime; [`Mounted::unmount`] unmounts and stops the engine without
//!   losing anything (pending uploads stay journaled).
//! - [`SiltFs`]: the translation of FUSE requests (lookup, getattr, setattr, readdir,
//!   create, open, read, write, flush, fsync, release, unlink, rename) into engine calls,
//!   over an inode table ([`inodes`]) that keeps one number per path while mounted.
//! - [`demo`]: the embedded S3-compatible server (s3s-fs over a local folder) of
//!   `silt demo`.

#![warn(missing_docs)]

mod attrs;
pub mod backend;
pub mod demo;
mod dirs;
mod errno;
mod fs;
mod handles;
pub mod inodes;
mod mount;
mod passthrough;
mod readdir;

pub use attrs::Ownership;
pub use backend::{Backend, DirectBucket};
pub use errno::errno;
pub use fs::{FsOptions, KernelSettings, Shared, SiltFs};
pub use mount::{mount, preflight, MountConfig, MountError, Mounted};
