//! The atomics of shared state: std's, or loom's when built with `RUSTFLAGS="--cfg loom"`, so
//! that the model checker sees every access (`tests/loom_budget.rs`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
