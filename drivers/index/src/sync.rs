//! The locks and condition variables of shared state: std's, or loom's when built with
//! `RUSTFLAGS="--cfg loom"`, so that the model checker sees every lock and wake-up
//! (`tests/loom_group.rs`).

#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
