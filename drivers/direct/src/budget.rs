//! The memory budget (`--memory-limit`): bytes written and not yet uploaded, and bytes
//! fetched ahead of the reader, hold leases on it. A writer that finds it spent waits for
//! uploads to free some (back-pressure); readahead that finds it spent fetches less.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// A byte budget shared by every open file of a mount.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    used: Mutex<u64>,
    freed: Notify,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            used: Mutex::new(0),
            freed: Notify::new(),
        })
    }

    /// Bytes held by leases.
    pub fn used(&self) -> u64 {
        *self.used.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Takes `n` bytes if they fit (or if nothing is held: one request larger than the
    /// whole budget still goes through, alone).
    fn try_take(&self, n: u64) -> bool {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        if *used == 0 || *used + n <= self.limit {
            *used += n;
            true
        } else {
            false
        }
    }

    fn give_back(&self, n: u64) {
        if n == 0 {
            return;
        }
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        *used = used.saturating_sub(n);
        drop(used);
        self.freed.notify_waiters();
    }
}

/// Bytes of a [`Budget`], given back when dropped.
#[derive(Debug)]
pub struct Lease {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Lease {
    /// An empty lease on `budget`.
    pub fn empty(budget: &Arc<Budget>) -> Lease {
        Lease {
            budget: budget.clone(),
            bytes: 0,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Adds `n` bytes if they fit now.
    pub fn try_grow(&mut self, n: u64) -> bool {
        if n == 0 || self.budget.try_take(n) {
            self.bytes += n;
            true
        } else {
            false
        }
    }

    /// Adds `n` bytes, waiting up to `wait` for other leases to give some back; false when
    /// they did not in time.
    pub async fn grow(&mut self, n: u64, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        let budget = self.budget.clone();
        loop {
            let freed = budget.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.try_grow(n) {
                return true;
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return false;
            }
        }
    }

    /// Gives back all but `n` bytes.
    pub fn shrink_to(&mut self, n: u64) {
        if n < self.bytes {
            self.budget.give_back(self.bytes - n);
            self.bytes = n;
        }
    }

    /// Moves `n` bytes (at most what is held) into a lease of their own.
    pub fn split(&mut self, n: u64) -> Lease {
        let n = n.min(self.bytes);
        self.bytes -= n;
        Lease {
            budget: self.budget.clone(),
            bytes: n,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_budget_makes_a_writer_wait_until_a_lease_is_dropped() {
        let b = Budget::new(100);
        let mut first = Lease::empty(&b);
        assert!(first.try_grow(80));
        let mut second = Lease::empty(&b);
        assert!(!second.try_grow(30));
        assert!(
            !second.grow(30, Duration::from_millis(20)).await,
            "nothing freed"
        );
        let part = first.split(50);
        let waiter = tokio::spawn(async move {
            let ok = second.grow(30, Duration::from_secs(10)).await;
            (ok, second)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(part);
        let (ok, second) = waiter.await.expect("joined");
        assert!(ok);
        assert_eq!(b.used(), 60);
        drop(second);
        first.shrink_to(10);
        assert_eq!(b.used(), 10);
        drop(first);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn one_request_larger_than_the_budget_goes_through_alone() {
        let b = Budget::new(10);
        let mut big = Lease::empty(&b);
        assert!(big.try_grow(50));
        let mut other = Lease::empty(&b);
        assert!(!other.try_grow(1));
        drop(big);
        assert!(other.try_grow(1));
    }
}
