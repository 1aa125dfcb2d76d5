//! A fixed set of std threads taking jobs from one queue, in order.
//!
//! The driver runs cache-file operations on one pool and index commits on another. A fixed
//! number of threads cannot deadlock the core: it emits only operations that may complete in
//! any order and never waits for one inside another. A job that panics is caught (its
//! `Report` guard answers the core); the thread goes on with the next job. Dropping the pool
//! lets the queued jobs finish and joins the threads.

use silt_engine::{Error, Result};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send>;

/// Worker threads and their queue.
pub(crate) struct Pool {
    tx: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `threads` (at least one) threads named `name`.
    pub(crate) fn new(name: &'static str, threads: usize) -> Result<Pool> {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut pool = Pool {
            tx: Some(tx),
            threads: Vec::new(),
        };
        for _ in 0..threads.max(1) {
            let rx = rx.clone();
            let thread = std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || work(name, &rx))
                .map_err(|source| Error::Spawn { what: name, source })?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Queues `job`. If no thread is left to run it, it is dropped (its report answers).
    pub(crate) fn run(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Box::new(job));
        }
    }
}

impl Pool {
    /// Closes the queue without waiting for the threads: each ends after the jobs queued
    /// (for a stop that timed out, whose stuck job must not hold the stop up).
    pub(crate) fn detach(mut self) {
        drop(self.tx.take());
        self.threads.clear();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends each thread once the queue is empty.
        drop(self.tx.take());
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a worker thread ended by a panic");
            }
        }
    }
}

/// One thread's loop: the next job, until the queue is closed and empty.
fn work(name: &str, rx: &Mutex<Receiver<Job>>) {
    loop {
        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(job) = next else {
            return;
        };
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!(
                pool = name,
                "a job panicked; its completion was reported as failed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_every_job_and_survives_a_panic() {
        let done = Arc::new(AtomicUsize::new(0));
        let pool = Pool::new("test-pool", 3).expect("threads");
        pool.run(|| panic!("a job that fails"));
        for _ in 0..100 {
            let done = done.clone();
            pool.run(move || {
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        drop(pool);
        assert_eq!(
            done.load(Ordering::SeqCst),
            100,
            "queued jobs finish before the drop"
        );
    }

    #[test]
    fn jobs_run_side_by_side() {
        let pool = Pool::new("test-pool", 2).expect("threads");
        let (tx, rx) = channel();
        let (a, b) = (tx.clone(), tx);
        let (go_tx, go_rx) = channel::<()>();
        // The first job waits for the second: with one thread this would never end.
        pool.run(move || {
            go_rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("the second job ran meanwhile");
            a.send(1).expect("send");
        });
        pool.run(move || {
            go_tx.send(()).expect("go");
            b.send(2).expect("send");
        });
        let mut got: Vec<i32> = rx.iter().take(2).collect();
        got.sort();
        assert_eq!(got, vec![1, 2]);
    }
}
