//! FUSE passthrough: when the kernel may read an entry's cache file itself, and the pin that
//! keeps that file right while it does.
//!
//! An open that asks for passthrough (`OpenFlags::passthrough`) is granted it only when every
//! byte of the file is in its cache file and known right in this process: every chunk below
//! the size is *ready* (`ChunkTable::is_ready`: clean and verified, or dirty with its other
//! bytes verified or none), no fetched chunk is held in memory instead of the file, and the
//! remote object has not disappeared. The grant is a job of the entry (`Job::Passthrough`), so
//! it sees every job queued before it; it sets the cache file's length to the size (a file
//! may be longer: writes a crash kept past the size the index knows, a failed append), pins
//! the entry and answers with the entry id once that is done.
//!
//! While an entry has passthrough handles (`Entry::pins`):
//! - eviction skips it (no punch), and a punch queued before is held back;
//! - an invalidation (another writer's version) and a conversion to a conflict copy are held
//!   back (`Entry::deferred`) until the last passthrough handle closes: the kernel's readers
//!   keep reading the version they opened, as a reader of a local file replaced by rename
//!   would;
//! - writes and truncates through other handles still happen: they change the cache file the
//!   kernel reads, exactly as they change what the core's own reads return, and keep its
//!   length equal to the size (writes past the end extend the file first; a truncate sets it).
//!
//! The pin lives in memory only: passthrough handles die with the process.

use super::jobs::Job;
use super::Core;
use crate::config::Bug;
use crate::ids::{EntryId, HandleId, RequestId};
use crate::io::Reply;

impl super::entry::Entry {
    /// True when the kernel may read this entry's cache file for it: every chunk below its
    /// size ready, nothing held in memory instead of the file, and its remote object not gone.
    /// O(1): the chunk table counts its ready chunks.
    pub fn passthrough_ready(&self, chunk_size: u64, ignore_presence: bool) -> bool {
        let chunks = self.local_size.div_ceil(chunk_size);
        let present = ignore_presence || self.chunks().ready_count() as u64 == chunks;
        present && !self.orphaned && !self.dropped && self.key.is_some() && self.direct.is_empty()
    }
}

impl Core {
    /// True when entry `eid` may be read by the kernel straight from its cache file now.
    pub(crate) fn passthrough_allowed(&self, eid: EntryId) -> bool {
        let ignore = self.cfg.planted(Bug::PassthroughOfAbsentBytes);
        self.entries
            .get(&eid)
            .is_some_and(|e| e.passthrough_ready(self.cfg.chunk_size, ignore))
    }

    /// Answers an open that asked for passthrough on handle `h` of `eid`: a grant job when
    /// the entry looks ready now (it checks again when it runs), else the plain answer.
    pub(crate) fn open_passthrough(&mut self, req: RequestId, eid: EntryId, h: HandleId) {
        if self.passthrough_allowed(eid) {
            self.enqueue(eid, Job::Passthrough { req, handle: h });
        } else {
            let size = self.entries.get(&eid).map_or(0, |e| e.local_size);
            self.reply(
                req,
                Ok(Reply::Opened {
                    handle: h,
                    size,
                    passthrough: None,
                }),
            );
        }
    }

    /// Pins `eid` for passthrough handle `h`.
    pub(crate) fn pin(&mut self, eid: EntryId, h: HandleId) {
        if self.passthrough.insert(h, eid).is_none() {
            if let Some(e) = self.entries.get_mut(&eid) {
                e.pins += 1;
            }
        }
    }

    /// Releases the pin of handle `h`, if it is a passthrough handle; the last one lets the
    /// jobs held back run, in the order they came, before anything queued since.
    pub(crate) fn unpin(&mut self, h: HandleId) {
        let Some(eid) = self.passthrough.remove(&h) else {
            return;
        };
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        e.pins = e.pins.saturating_sub(1);
        if e.pins == 0 && !e.deferred.is_empty() {
            let base = e.base.as_ref().map(|b| b.etag.clone());
            let mut moved = false;
            for (job, key, etag) in std::mem::take(&mut e.deferred).into_iter().rev() {
                // A conflict found at a key the entry has left is no conflict of its
                // content (as `upload_conflict` decides when it is not held back); either
                // job found for another base than the entry's now is stale.
                if key != e.key || etag != base {
                    moved |= matches!(job, Job::Convert { .. });
                    continue;
                }
                e.queue.push_front(job);
            }
            if moved {
                self.ensure_upload_queued(eid);
            }
            self.mark_ready(eid);
        }
    }

    /// True when `job` must wait for the entry's passthrough handles to close: it would
    /// change bytes of the cache file the kernel reads (other than by a write or truncate).
    /// Such a job is kept in `Entry::deferred` (one conversion at most: a second one would
    /// make a conflict copy of the copy).
    pub(crate) fn defer_for_pin(&mut self, eid: EntryId, job: &Job) -> bool {
        // Every job start asks: most are none of these, and cost no lookup.
        let held = matches!(
            job,
            Job::Invalidate { .. } | Job::Convert { .. } | Job::Punch { .. }
        );
        if !held || self.cfg.planted(Bug::PassthroughUnpinned) {
            return false;
        }
        let Some(e) = self.entries.get_mut(&eid) else {
            return false;
        };
        if e.pins == 0 {
            return false;
        }
        let twice = matches!(job, Job::Convert { .. })
            && e.deferred
                .iter()
                .any(|j| matches!(j.0, Job::Convert { .. }));
        if !twice {
            let etag = e.base.as_ref().map(|b| b.etag.clone());
            e.deferred.push((job.clone(), e.key.clone(), etag));
        }
        true
    }

    /// True when eviction must leave `eid` alone: it has passthrough handles.
    pub(crate) fn pinned_for_passthrough(&self, eid: EntryId) -> bool {
        !self.cfg.planted(Bug::PassthroughUnpinned)
            && self.entries.get(&eid).is_some_and(|e| e.pins > 0)
    }

    /// Checks that every entry's pin count is its number of passthrough handles. O(handles).
    pub(crate) fn check_pins(&self) -> Result<(), String> {
        let mut counts = std::collections::BTreeMap::<EntryId, u32>::new();
        for (h, eid) in &self.passthrough {
            if self.handles.get(h) != Some(eid) {
                return Err(format!(
                    "passthrough handle {h:?} is not an open handle of {eid}"
                ));
            }
            *counts.entry(*eid).or_default() += 1;
        }
        for (eid, n) in counts {
            let pins = self.entries.get(&eid).map_or(0, |e| e.pins);
            if pins != n {
                return Err(format!(
                    "entry {eid}: {pins} pins for {n} passthrough handles"
                ));
            }
        }
        Ok(())
    }
}
