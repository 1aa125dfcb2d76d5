//! The blocking driver's shared-state primitives under the loom model checker: callers
//! parked on an answer or on room in the write budget (`wait.rs`), and the worker pool's
//! queue (`pool.rs`). Built only with `--cfg loom`:
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release -p silt-engine --test loom_blocking`
//!
//! (scripts/test.sh runs it.) The modules are silt-blocking's own, included by path: built
//! from silt-blocking, the model would compile the S3 SDK and the test servers as well.
#![cfg(loom)]

#[path = "../../blocking/src/sync.rs"]
mod sync;

#[allow(dead_code)]
#[path = "../../blocking/src/pool.rs"]
mod pool;

#[path = "../../blocking/src/wait.rs"]
mod wait;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use pool::Pool;
use silt_engine::WriteBudget;
use wait::wait;

/// The pool's models explore every interleaving with up to this many preemptions (tokio's
/// own loom runs use 2 to 3): a complete search with three threads and a condition variable
/// does not end in useful time; 4 takes a few seconds.
const POOL_PREEMPTIONS: usize = 4;

fn model_pool(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(POOL_PREEMPTIONS);
    builder.check(f);
}

#[test]
fn a_parked_caller_never_misses_its_answer() {
    loom::model(|| {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let driver = loom::thread::spawn(move || tx.send(7).expect("the caller waits"));
        assert_eq!(wait(rx), Ok(7));
        driver.join().expect("driver");
    });
}

#[test]
fn a_parked_writer_is_woken_when_room_comes_back() {
    loom::model(|| {
        let budget = WriteBudget::new(2);
        let held = wait(budget.acquire(2)).expect("free");
        let writer = {
            let budget = budget.clone();
            loom::thread::spawn(move || {
                let permit = wait(budget.acquire(1)).expect("never closed");
                assert!(budget.figures().in_use <= 2);
                drop(permit);
            })
        };
        drop(held);
        writer.join().expect("writer");
        assert_eq!(budget.figures().in_use, 0);
    });
}

#[test]
fn every_job_queued_runs_once_before_the_pool_is_dropped() {
    model_pool(|| {
        let pool = Pool::new("loom-pool", 2).expect("threads");
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let done = done.clone();
            pool.run(move || {
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        drop(pool);
        assert_eq!(done.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn a_job_may_wait_for_one_queued_after_it() {
    model_pool(|| {
        let pool = Pool::new("loom-pool", 2).expect("threads");
        let (go, gate) = loom::sync::mpsc::channel::<()>();
        let done = Arc::new(AtomicUsize::new(0));
        let first = done.clone();
        pool.run(move || {
            gate.recv().expect("the second job runs meanwhile");
            first.fetch_add(1, Ordering::SeqCst);
        });
        let second = done.clone();
        pool.run(move || {
            go.send(()).expect("the first job waits");
            second.fetch_add(1, Ordering::SeqCst);
        });
        drop(pool);
        assert_eq!(done.load(Ordering::SeqCst), 2);
    });
}
