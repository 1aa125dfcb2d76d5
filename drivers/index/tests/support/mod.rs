//! Test support shared by the index's integration tests.
pub mod records;
