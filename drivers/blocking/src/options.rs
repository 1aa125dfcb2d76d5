//! The blocking driver's own limits, and [`Options`] named with them.

use std::time::Duration;

/// How to start a blocking engine (see [`silt_engine::Options`]).
pub type Options<S> = silt_engine::Options<S, DriverOptions>;

/// Limits, threads and timers of the blocking driver (the core's are in
/// `silt_core::CoreConfig`; the write-body budget is a quarter of
/// `Options::memory_limit`).
#[derive(Clone, Debug)]
pub struct DriverOptions {
    /// Threads running cache-file operations (the core may order many at once: reads of
    /// one file run together, writes beside them on other chunks).
    pub local_threads: usize,
    /// Worker threads of the private runtime that runs the object-store operations.
    pub remote_threads: usize,
    /// Object-store operations running at once, all kinds together (the core limits
    /// uploads, parts and fetches on its own; this caps the sum).
    pub max_remote_ops: usize,
    /// How often free disk space is read and fed to the core.
    pub disk_free_interval: Duration,
    /// How long a stop waits for local work to become durable before it gives up.
    pub stop_timeout: Duration,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            local_threads: 8,
            remote_threads: 2,
            max_remote_ops: 64,
            disk_free_interval: Duration::from_secs(10),
            stop_timeout: Duration::from_secs(30),
        }
    }
}
