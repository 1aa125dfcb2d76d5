//! The bytes in flight, bounded by the user's `memory_limit`.
//!
//! The limit is split ([`split_memory_limit`]): the core gets three quarters as
//! `CoreConfig::memory_limit` (fetches, read buffers, upload bodies: it bounds them itself),
//! and the driver bounds the bodies of write requests with the rest ([`WriteBudget`]). A write takes as many bytes of the budget
//! as it carries before it is sent to the core and gives them back when the core answers
//! it. A write larger than the whole budget takes all of it (it waits until the budget is
//! free, then runs alone). Writers wait for room; they never fail for lack of memory. The
//! budget is a fair (FIFO) semaphore, so a large write is not starved by small ones.

use crate::error::{Error, Result};
use crate::sync::{AtomicU64, Ordering};
use silt_core::CoreConfig;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Splits the engine's `memory_limit`: three quarters to the core (`read_buffer_limit`
/// lowered to fit), and returns the quarter for the driver's write-body budget. Refuses a
/// limit that leaves the core less than one chunk or the writes nothing.
pub fn split_memory_limit(limit: u64, core: &mut CoreConfig) -> Result<u64> {
    let min = min_memory_limit(core.chunk_size);
    if limit < min {
        return Err(Error::MemoryLimit { limit, min });
    }
    core.memory_limit = core_share(limit);
    core.read_buffer_limit = core.read_buffer_limit.min(core.memory_limit);
    Ok(write_share(limit))
}

/// The smallest `memory_limit` whose core share holds one chunk and whose write share is
/// not empty.
pub fn min_memory_limit(chunk_size: u64) -> u64 {
    // ceil(3L/4) >= c  <=>  L >= floor(4(c-1)/3) + 1.
    let c = u128::from(chunk_size.max(1));
    let l = (4 * (c - 1)) / 3 + 1;
    u64::try_from(l).unwrap_or(u64::MAX).max(4)
}

/// The share of the user's `memory_limit` the core gets (the rest bounds write bodies).
fn core_share(memory_limit: u64) -> u64 {
    memory_limit - write_share(memory_limit)
}

/// The share of the user's `memory_limit` that bounds write request bodies: a quarter.
fn write_share(memory_limit: u64) -> u64 {
    memory_limit / 4
}

/// The budget of write request bodies in flight. Runtime-agnostic: a blocking caller waits
/// for [`WriteBudget::acquire`] by parking its thread.
#[derive(Debug)]
pub struct WriteBudget {
    sem: Arc<Semaphore>,
    /// Bytes of the budget (the semaphore's permits, one per byte).
    limit: u64,
    /// Bytes taken now.
    in_use: AtomicU64,
    /// The most ever taken at once.
    peak: AtomicU64,
    /// Writes that had to wait for room.
    waited: AtomicU64,
}

/// Bytes of the budget held by one write; given back when dropped.
#[derive(Debug)]
pub struct WritePermit {
    _permit: OwnedSemaphorePermit,
    bytes: u64,
    budget: Arc<WriteBudget>,
}

impl Drop for WritePermit {
    fn drop(&mut self) {
        // Before the semaphore's permits go back (the field is dropped after this body): a
        // writer that takes them next counts its bytes after these left, so `in_use` and its
        // peak never pass the limit (model-checked in `tests/loom_budget.rs`).
        self.budget.in_use.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

/// The budget's figures, for status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteFigures {
    /// Bytes of the budget.
    pub limit: u64,
    /// Bytes taken now.
    pub in_use: u64,
    /// The most ever taken at once.
    pub peak: u64,
    /// Writes that had to wait for room.
    pub waited: u64,
}

impl WriteBudget {
    /// A budget of `limit` bytes (at least 1; at most `u32::MAX`, the most one acquisition
    /// of the semaphore can take).
    pub fn new(limit: u64) -> Arc<WriteBudget> {
        let limit = limit.clamp(1, u64::from(u32::MAX));
        Arc::new(WriteBudget {
            sem: Arc::new(Semaphore::new(limit as usize)),
            limit,
            in_use: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            waited: AtomicU64::new(0),
        })
    }

    /// Takes room for a write of `len` bytes (all of the budget if `len` exceeds it),
    /// waiting until there is room.
    pub async fn acquire(self: &Arc<Self>, len: u64) -> Result<WritePermit> {
        let bytes = len.min(self.limit);
        // `bytes <= limit <= u32::MAX`.
        let n = u32::try_from(bytes).unwrap_or(u32::MAX);
        let permit = match self.sem.clone().try_acquire_many_owned(n) {
            Ok(p) => p,
            Err(_) => {
                self.waited.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(bytes, "write waits for room in the memory budget");
                // The semaphore is never closed while a client holds the budget.
                self.sem
                    .clone()
                    .acquire_many_owned(n)
                    .await
                    .map_err(|_| Error::Stopped)?
            }
        };
        let now = self.in_use.fetch_add(bytes, Ordering::SeqCst) + bytes;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Ok(WritePermit {
            _permit: permit,
            bytes,
            budget: self.clone(),
        })
    }

    /// The figures now.
    pub fn figures(&self) -> WriteFigures {
        WriteFigures {
            limit: self.limit,
            in_use: self.in_use.load(Ordering::SeqCst),
            peak: self.peak.load(Ordering::SeqCst),
            waited: self.waited.load(Ordering::Relaxed),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_split_gives_the_core_three_quarters_and_loses_nothing() {
        for limit in [4, 7, 1000, 1 << 30, u64::MAX] {
            assert_eq!(core_share(limit) + write_share(limit), limit);
            assert!(core_share(limit) >= limit / 4 * 3);
        }
        assert_eq!(write_share(1 << 30), 1 << 28);
    }

    #[test]
    fn the_memory_limit_is_split_three_quarters_to_the_core() {
        let mut core = CoreConfig::default();
        let writes = split_memory_limit(1 << 30, &mut core).expect("1 GiB");
        assert_eq!(core.memory_limit, 768 << 20);
        assert_eq!(writes, 256 << 20);
        assert_eq!(core.read_buffer_limit, 64 << 20, "already within");
        core.validate().expect("the core accepts it");

        // A small limit lowers the read buffers to the core's share.
        let writes = split_memory_limit(4 << 20, &mut core).expect("4 MiB");
        assert_eq!(core.memory_limit, 3 << 20);
        assert_eq!(writes, 1 << 20);
        assert_eq!(core.read_buffer_limit, 3 << 20);
        core.validate().expect("the core accepts it");
    }

    #[test]
    fn a_limit_below_one_chunk_for_the_core_is_refused_with_the_minimum() {
        for chunk in [1, 2, 3, 1000, 1 << 20, 5 << 20] {
            let min = min_memory_limit(chunk);
            let mut core = CoreConfig {
                chunk_size: chunk,
                read_buffer_limit: 1,
                ..CoreConfig::default()
            };
            let writes = split_memory_limit(min, &mut core).expect("the minimum works");
            assert!(core.memory_limit >= chunk && writes >= 1);
            core.validate().expect("the core accepts the minimum");
            let err = split_memory_limit(min - 1, &mut core).expect_err("below the minimum");
            assert!(
                matches!(err, Error::MemoryLimit { limit, min: m } if limit == min - 1 && m == min),
                "{err:?}"
            );
        }
    }

    #[tokio::test]
    async fn writes_wait_for_room_and_a_large_one_takes_the_whole_budget() {
        let budget = WriteBudget::new(100);
        let a = budget.acquire(60).await.expect("fits");
        let b = budget.acquire(40).await.expect("fits");
        assert_eq!(budget.figures().in_use, 100);
        // A write larger than the budget waits until it is all free.
        let big = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.acquire(1_000).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!big.is_finished(), "no room yet");
        drop(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!big.is_finished(), "still not the whole budget");
        drop(b);
        let big = tokio::time::timeout(Duration::from_secs(5), big)
            .await
            .expect("room returned")
            .expect("task")
            .expect("never fails");
        let f = budget.figures();
        assert_eq!((f.in_use, f.peak, f.limit), (100, 100, 100));
        assert!(f.waited >= 1);
        drop(big);
        assert_eq!(budget.figures().in_use, 0);
    }

    #[test]
    fn a_zero_budget_still_lets_writes_through_one_at_a_time() {
        let budget = WriteBudget::new(0);
        assert_eq!(budget.figures().limit, 1);
    }
}
