//! Group commit: many threads' small transactions become one durable commit.
//!
//! A durable commit costs an fsync (about a millisecond here), whatever its size. Callers
//! queue their transaction; whoever finds no commit running becomes the leader, takes the
//! whole queue and commits it as one transaction while the next callers queue up behind it.
//! Each caller returns when the commit holding its transaction is durable, with that
//! commit's result: a failure fails the whole group, and none of it is applied.

use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::{CacheIndex, IndexError, Result};
use silt_core::IndexTxn;
use std::collections::HashMap;
use std::sync::Arc;

/// Batches concurrent commits to one index.
pub struct GroupCommit {
    index: Arc<dyn CacheIndex>,
    queue: Mutex<Queue>,
    done: Condvar,
}

#[derive(Default)]
struct Queue {
    pending: Vec<(u64, IndexTxn)>,
    next_ticket: u64,
    leader_active: bool,
    results: HashMap<u64, std::result::Result<(), Arc<IndexError>>>,
    stats: GroupStats,
}

/// How many transactions went into how many durable commits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Transactions committed (or failed).
    pub transactions: u64,
    /// Durable commits made for them.
    pub commits: u64,
}

impl GroupCommit {
    /// Batches commits to `index`.
    pub fn new(index: Arc<dyn CacheIndex>) -> GroupCommit {
        GroupCommit {
            index,
            queue: Mutex::new(Queue::default()),
            done: Condvar::new(),
        }
    }

    /// The index behind it.
    pub fn index(&self) -> &Arc<dyn CacheIndex> {
        &self.index
    }

    /// Counters since creation.
    pub fn stats(&self) -> GroupStats {
        self.lock().stats
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue is consistent at every unlock (see `Leader`), so a panic elsewhere does
        // not make it unusable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits `txn` durably, in one commit with whatever other transactions are waiting.
    pub fn commit(&self, txn: IndexTxn) -> Result<()> {
        let mut q = self.lock();
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.pending.push((ticket, txn));
        loop {
            if let Some(result) = q.results.remove(&ticket) {
                return result.map_err(IndexError::Group);
            }
            if q.leader_active {
                q = self.done.wait(q).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            q.leader_active = true;
            let batch = std::mem::take(&mut q.pending);
            drop(q);
            let mut leader = Leader {
                group: self,
                tickets: batch.iter().map(|(t, _)| *t).collect(),
                result: None,
            };
            let txns: Vec<&IndexTxn> = batch.iter().map(|(_, t)| t).collect();
            leader.result = Some(self.index.commit(&txns).map_err(Arc::new));
            drop(leader);
            q = self.lock();
        }
    }
}

/// Publishes a leader's result when dropped, also when the commit panicked (then as an
/// error), so followers never wait for a leader that is gone.
struct Leader<'a> {
    group: &'a GroupCommit,
    tickets: Vec<u64>,
    result: Option<std::result::Result<(), Arc<IndexError>>>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let result = self.result.take().unwrap_or_else(|| {
            Err(Arc::new(IndexError::Store {
                path: Default::default(),
                detail: "the commit panicked".into(),
            }))
        });
        let mut q = self.group.lock();
        q.stats.commits += 1;
        q.stats.transactions += self.tickets.len() as u64;
        for t in &self.tickets {
            q.results.insert(*t, result.clone());
        }
        q.leader_active = false;
        self.group.done.notify_all();
    }
}
