//! A fixed set of std threads taking jobs from one queue, in order.
//!
//! The driver runs cache-file operations on one pool and index commits on another. A fixed
//! number of threads cannot deadlock the core: it emits only operations that may complete in
//! any order and never waits for one inside another. A job that panics is caught (its
//! `Report` guard answers the core); the thread goes on with the next job. Dropping the pool
//! lets the queued jobs finish and joins the threads.
//!
//! The queue is a mutex and a condition variable (model-checked with loom in
//! `drivers/engine/tests/loom_blocking.rs`: every job queued before the close runs exactly
//! once, and no worker sleeps through a job or the close).

use crate::sync::{Arc, Builder, Condvar, JoinHandle, Mutex};
use silt_engine::{Error, Result};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

type Job = Box<dyn FnOnce() + Send>;

/// The jobs waiting for a thread, and whether more may come.
#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// The shared queue: workers sleep on `ready` while it is empty and open.
#[derive(Default)]
struct Queue {
    state: Mutex<State>,
    ready: Condvar,
}

impl Queue {
    /// Queues `job`, or hands it back if the queue is closed.
    fn push(&self, job: Job) -> Option<Job> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.closed {
            return Some(job);
        }
        st.jobs.push_back(job);
        drop(st);
        self.ready.notify_one();
        None
    }

    /// No more jobs: the workers end once the queue is empty.
    fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.ready.notify_all();
    }

    /// The next job, waiting for one; `None` once the queue is closed and empty.
    fn next(&self) -> Option<Job> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = st.jobs.pop_front() {
                return Some(job);
            }
            if st.closed {
                return None;
            }
            st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Worker threads and their queue.
pub(crate) struct Pool {
    queue: Arc<Queue>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `threads` (at least one) threads named `name`.
    pub(crate) fn new(name: &'static str, threads: usize) -> Result<Pool> {
        let mut pool = Pool {
            queue: Arc::new(Queue::default()),
            threads: Vec::new(),
        };
        for _ in 0..threads.max(1) {
            let queue = pool.queue.clone();
            let thread = Builder::new()
                .name(name.to_string())
                .spawn(move || work(name, &queue))
                .map_err(|source| Error::Spawn { what: name, source })?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Queues `job`. After the pool was closed it is dropped (its report answers).
    pub(crate) fn run(&self, job: impl FnOnce() + Send + 'static) {
        // Dropped outside the lock: a report's drop sends a completion.
        drop(self.queue.push(Box::new(job)));
    }

    /// Closes the queue without waiting for the threads: each ends after the jobs queued
    /// (for a stop that timed out, whose stuck job must not hold the stop up).
    pub(crate) fn detach(mut self) {
        self.queue.close();
        self.threads.clear();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends each thread once the queue is empty.
        self.queue.close();
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a worker thread ended by a panic");
            }
        }
    }
}

/// One thread's loop: the next job, until the queue is closed and empty.
fn work(name: &str, queue: &Queue) {
    while let Some(job) = queue.next() {
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!(
                pool = name,
                "a job panicked; its completion was reported as failed"
            );
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc::channel;

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

    #[test]
    fn a_job_queued_after_the_close_is_dropped_not_run() {
        let pool = Pool::new("test-pool", 1).expect("threads");
        pool.queue.close();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        pool.run(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        drop(pool);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }
}
