//! Eviction and back-pressure.
//!
//! The cache holds at most `cache_budget` bytes of chunks: above the high watermark the least
//! recently used clean chunks of entries not being uploaded are evicted (punched) until usage
//! is below the low watermark. Dirty bytes and bytes of an object being uploaded are never
//! evicted. When a write hits ENOSPC, clean chunks are evicted at once (soft LRU) and the
//! write is retried; when dirty data alone fills the disk (or exceeds `dirty_limit`) writers
//! wait, up to `write_wait_timeout`, and then get `NoSpace`, with everything acknowledged
//! before intact.

use super::jobs::Job;
use super::Core;
use crate::chunks;
use crate::config::Bug;
use crate::ids::EntryId;
use crate::io::{Event, FileError};
use crate::records::JournalStatus;
use crate::time::Instant;
use std::time::Duration;

const SPACE_RETRY: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct SpaceWaiter {
    eid: EntryId,
    job: Job,
}

#[derive(Debug, Default)]
pub(crate) struct SpaceState {
    pub waiters: Vec<SpaceWaiter>,
    /// The last disk reading was below `min_free_space`.
    pub low_space: bool,
    /// The last disk reading (free bytes) and the cache's bytes then: between readings the
    /// free space is estimated from what the cache grew by since.
    reading: Option<(u64, u64)>,
    retry_at: Option<Instant>,
}

impl SpaceState {
    pub fn next_retry(&self) -> Option<Instant> {
        if self.waiters.is_empty() {
            None
        } else {
            self.retry_at
        }
    }
}

impl Core {
    /// True when a write of `incoming` bytes must wait: the disk is (or would then be) below
    /// its `min_free_space` reserve, kept for index commits, or dirty data is at its limit.
    pub(crate) fn space_blocks_writes(&mut self, incoming: u64) -> bool {
        self.space.low_space
            || self
                .estimated_free()
                .is_some_and(|f| f.saturating_sub(incoming) < self.cfg.min_free_space)
            || self.entries.dirty_bytes() >= self.cfg.dirty_limit
    }

    /// Evicts clean chunks when a write of `incoming` bytes would take the disk below its
    /// reserve by the estimate (the reading will confirm the room later).
    pub(crate) fn make_room_for(&mut self, incoming: u64) {
        let want = self.cfg.min_free_space.saturating_add(incoming);
        if let Some(short) = self.estimated_free().and_then(|f| want.checked_sub(f)) {
            self.evict_for_space(short.max(1));
        }
    }

    /// Free bytes on the cache disk now, estimated from the last reading and how much the
    /// cache grew (or shrank) since; `None` before the first reading.
    fn estimated_free(&mut self) -> Option<u64> {
        let (free, cached_then) = self.space.reading?;
        let cached = self.entries.cached_bytes();
        Some((free + cached_then).saturating_sub(cached))
    }

    /// Parks a write (or a materialization) until space may be available; a write fails
    /// when it waited too long.
    pub(crate) fn park_for_space(&mut self, eid: EntryId, job: Job) {
        let expired = match &job {
            Job::Write { req, first_try, .. } => {
                Some(*req).filter(|_| self.now >= first_try.plus(self.cfg.write_wait_timeout))
            }
            Job::Materialize { .. } => None,
            _ => return,
        };
        if let Some(req) = expired {
            let dirty_bytes = self.entries.dirty_bytes();
            self.event(Event::SpaceExhausted { dirty_bytes });
            self.reply(req, Err(FileError::NoSpace));
            return;
        }
        self.space.waiters.push(SpaceWaiter { eid, job });
        let at = self.now.plus(SPACE_RETRY);
        self.space.retry_at = Some(self.space.retry_at.map_or(at, |t| t.min(at)).max(self.now));
    }

    /// A local write failed with ENOSPC: evict clean chunks at once and retry later.
    pub(crate) fn on_no_space(&mut self, eid: EntryId, job: Job) {
        let want = match &job {
            Job::Write { data, .. } => data.len() as u64,
            _ => 0,
        } + self.cfg.chunk_size;
        self.evict_for_space(want);
        self.park_for_space(eid, job);
    }

    pub(crate) fn space_retry_due(&mut self) {
        if self.space.retry_at.is_some_and(|t| t <= self.now) {
            self.space_retry_now();
        }
    }

    /// Gives every waiting writer another try.
    pub(crate) fn space_retry_now(&mut self) {
        self.space.retry_at = None;
        for w in std::mem::take(&mut self.space.waiters) {
            self.enqueue_front(w.eid, w.job);
        }
    }

    pub(crate) fn on_disk_free(&mut self, bytes: u64) {
        self.space.low_space = bytes < self.cfg.min_free_space;
        self.space.reading = Some((bytes, self.entries.cached_bytes()));
        if self.space.low_space {
            self.evict_for_space(self.cfg.min_free_space - bytes);
        } else {
            self.space_retry_now();
        }
    }

    pub(crate) fn maybe_evict(&mut self) {
        let used = self.entries.cached_bytes();
        let high = self.cfg.cache_budget / 100 * u64::from(self.cfg.high_watermark_pct);
        if used > high {
            let low = self.cfg.cache_budget / 100 * u64::from(self.cfg.low_watermark_pct);
            self.evict(used - low);
        }
    }

    /// Evicts at least `bytes` (if that much is evictable), regardless of watermarks.
    pub(crate) fn evict_for_space(&mut self, bytes: u64) {
        self.evict(bytes);
    }

    /// Punches the evictable chunks of the least recently used entries, oldest first and in
    /// chunk order within an entry, until `bytes` are freed. Walks the LRU index, not the
    /// entries: entries it skips (pinned by an upload or a read) cost one step each.
    fn evict(&mut self, bytes: u64) {
        let cs = self.cfg.chunk_size;
        let take_dirty = self.cfg.planted(Bug::EvictDirtyChunk);
        let mut freed = 0;
        let mut at = None;
        while freed < bytes {
            let Some((atime, eid)) = self.entries.lru_next(at) else {
                break;
            };
            at = Some((atime, eid));
            let Some(e) = self.entries.get(&eid) else {
                continue;
            };
            let pinned = e
                .upload
                .and_then(|j| self.journal.get(&j))
                .is_some_and(|j| j.rec.status == JournalStatus::InProgress);
            if pinned || e.reading() || self.pinned_for_passthrough(eid) {
                continue;
            }
            let mut victims = Vec::new();
            for &c in e.chunks().keys() {
                if freed >= bytes {
                    break;
                }
                if e.evictable(c, cs) || take_dirty {
                    let r = chunks::chunk_range(c, cs);
                    freed += r.end.min(e.local_size).saturating_sub(r.start);
                    victims.push(c);
                }
            }
            if victims.is_empty() {
                continue;
            }
            if let Some(e) = self.entries.get_mut(&eid) {
                e.evicted(&victims);
            }
            for c in victims {
                self.enqueue(eid, Job::Punch { chunk: c });
            }
        }
    }
}
