//! What a job touches while its local operations are in flight, and which jobs of one entry
//! may therefore run at once.
//!
//! Jobs of an entry start in queue order; the job at the head starts as soon as it is
//! compatible with every job of the entry still running. Reads of the cache file (user reads,
//! upload part reads) share; writes (user writes inside the file, backfills of fetched chunks)
//! own the chunks they touch; everything else (truncate, sync, upload completion, invalidation,
//! conversion, punch, materialization, removal, and a read that needs fetched bytes held in
//! memory) runs alone. Two jobs are compatible when neither runs alone and they share, or touch
//! disjoint chunks. So every operation the core emits may be executed at once, in any order
//! with the others in flight: none depends on another that has not completed.

use super::entry::Entry;
use super::jobs::Job;
use std::ops::Range;

/// What a running job touches: chunk indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reads the cache file over these chunks; changes nothing until it completes.
    Shared(Range<u64>),
    /// Writes the cache file over these chunks, and changes only their state.
    Owned(Range<u64>),
    /// May change anything of the entry: runs alone.
    Exclusive,
}

impl Access {
    /// What `job` of `e` touches, when started now.
    pub fn of(job: &Job, e: &Entry, chunk_size: u64) -> Access {
        let chunks = |offset: u64, len: u64| {
            offset / chunk_size..offset.saturating_add(len).div_ceil(chunk_size)
        };
        match job {
            Job::Read { offset, len, .. } => {
                let cs = chunks(*offset, *len);
                // Bytes held in memory are served once: two reads must not both count on them.
                if e.direct.range(cs.clone()).next().is_some() {
                    Access::Exclusive
                } else {
                    Access::Shared(cs)
                }
            }
            Job::UploadRead { range, .. } => {
                let cs = chunks(range.start, range.end - range.start);
                if e.direct.range(cs.clone()).next().is_some() {
                    Access::Exclusive
                } else {
                    Access::Shared(cs)
                }
            }
            // A write past the end extends the file first (a truncate, which runs alone).
            Job::Write { offset, data, .. } if *offset <= e.local_size => {
                Access::Owned(chunks(*offset, data.len() as u64))
            }
            Job::Backfill { chunk, .. } => Access::Owned(*chunk..chunk + 1),
            _ => Access::Exclusive,
        }
    }

    /// True when a job touching `self` and one touching `other` may run at once.
    pub fn compatible(&self, other: &Access) -> bool {
        match (self, other) {
            (Access::Exclusive, _) | (_, Access::Exclusive) => false,
            (Access::Shared(_), Access::Shared(_)) => true,
            (Access::Shared(a) | Access::Owned(a), Access::Shared(b) | Access::Owned(b)) => {
                a.end <= b.start || b.end <= a.start
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Access::*;

    #[test]
    fn reads_share_writes_own_the_rest_runs_alone() {
        assert!(Shared(0..4).compatible(&Shared(2..6)));
        assert!(!Shared(0..4).compatible(&Owned(3..5)));
        assert!(Shared(0..4).compatible(&Owned(4..5)));
        assert!(!Owned(0..4).compatible(&Owned(3..5)));
        assert!(Owned(0..1).compatible(&Owned(1..2)));
        assert!(!Exclusive.compatible(&Shared(0..1)));
        assert!(!Owned(0..1).compatible(&Exclusive));
    }
}
