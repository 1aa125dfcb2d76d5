//! Test support: real S3-compatible servers on loopback (s3s-fs in-process, moto as a child
//! process) and a fault-injecting proxy. Shared by the integration tests and the examples.

#![allow(dead_code)]

pub mod proxy;
pub mod servers;

/// A two-thread runtime for one test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
