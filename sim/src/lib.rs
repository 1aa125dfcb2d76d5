//! # silt-sim: the deterministic simulator of the silt cache core
//!
//! One seed reproduces one run exactly: the seed derives every option (a swarm of
//! configurations), every latency, fault and workload operation. The world (`world.rs`) has
//! a simulated clock, a disk with capacity and fsync semantics (`disk.rs`), an index whose
//! uncommitted transactions are lost at a crash, an object store with latency, errors,
//! timeouts, quirks and an outside writer (`s3.rs`), and a client running a workload; the
//! checker compares it after every step with a reference model (`model.rs`).
//!
//! Invariants checked (see `docs/simulator.md`, "Invariants"; each is a variant of
//! [`checker::Invariant`], with its own exit code of `silt-sim`):
//! 1. every byte acknowledged by fsync is, after crashes and a final drain, in the bucket or
//!    in a conflict copy;
//! 2. reads return the latest written bytes, and what the cache serves equals the bucket;
//! 3. the cache stays within its budget plus the documented allowance;
//! 4. no upload replaces an object version it was not based on;
//! 5. with faults stopped, every queued upload completes (liveness);
//! 6. the index and the core agree after every recovery and when idle;
//! 7. the core's bookkeeping equals its recomputation after every step.

#![forbid(unsafe_code)]

pub mod checker;
pub mod disk;
pub mod model;
pub mod options;
pub mod s3;
pub mod view;
pub mod world;

pub use checker::{Invariant, Violation};
pub use options::Options;
pub use world::{RunResult, World};

/// Runs one seed with `opts`.
pub fn run(opts: Options, trace: bool) -> RunResult {
    World::new(opts, trace).run()
}

/// Runs `seed` with the options it derives.
pub fn run_seed(seed: u64, trace: bool) -> RunResult {
    run(Options::from_seed(seed), trace)
}
