//! Test support: real S3-compatible servers on loopback (s3s-fs in-process, moto as a child
//! process) and a fault-injecting proxy. Shared by the integration tests and the examples.

#![allow(dead_code)]

pub mod proxy;
pub mod servers;
