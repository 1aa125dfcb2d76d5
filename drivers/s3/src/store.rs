//! The object-store trait lives in silt-remote (no SDK there); re-exported here so that
//! `silt_s3::ObjectStore` and `silt_remote::ObjectStore` are one trait.

pub use silt_remote::{Got, Listed, Listing, Meta, ObjectStore};
