//! The locks, condition variables and thread parking of the driver's shared state: std's,
//! or loom's when built with `RUSTFLAGS="--cfg loom"`, so that the model checker sees every
//! lock and wake-up. The models are `drivers/engine/tests/loom_blocking.rs`, which includes
//! this module with `wait.rs` and `pool.rs` by path (a build of this crate would compile the
//! S3 SDK and the test servers once more for the model).

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex};
#[cfg(loom)]
pub(crate) use loom::thread::{current, park, Builder, JoinHandle, Thread};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex};
#[cfg(not(loom))]
pub(crate) use std::thread::{current, park, Builder, JoinHandle, Thread};
