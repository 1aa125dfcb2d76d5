//! The compact form of an idle clean entry.
//!
//! Most entries of a large cache are idle: closed, clean, uploaded, nothing queued. Their
//! full [`Entry`] (job queues, dirty-range images, snapshots, commit flags) would cost
//! kilobytes each; what they need is their key, their base version, their clean chunks with
//! their CRCs and their access time. [`IdleEntry`] holds exactly that. The entry table turns
//! an entry into this form at the end of an input in which it became idle
//! ([`IdleEntry::of`]) and back ([`IdleEntry::wake`]) when a request names it again; both
//! are O(its chunks), and only entries with few chunks are kept this way (a big file's
//! per-entry overhead is small beside its chunk table).

use super::entry::Entry;
use crate::chunks::{self, ChunkState};
use crate::ids::EntryId;
use crate::records::{BaseVersion, CleanChunk, EntryRecord, Precondition};

/// Entries with more chunks than this stay in full form even when idle.
pub(crate) const IDLE_MAX_CHUNKS: usize = 64;

/// An idle clean entry: closed, nothing dirty, nothing queued, uploaded, committed. Its key
/// is its remote key and its local size its base version's size (that is what "nothing to
/// upload" means), so neither is stored twice.
#[derive(Debug)]
pub(crate) struct IdleEntry {
    key: Box<str>,
    etag: Box<str>,
    size: u64,
    mtime_ms: u64,
    /// The entry's own modification time is set (and equal to the base version's, since
    /// it has nothing to upload).
    mtime_set: bool,
    generation: u64,
    atime: u64,
    recorded_atime: u64,
    /// Clean chunks, in chunk order.
    chunks: Box<[CleanChunk]>,
    /// Bit `i` set: `chunks[i]` is verified in this process (see `ChunkTable::is_verified`).
    /// At most [`IDLE_MAX_CHUNKS`] chunks, so one word holds them all.
    verified: u64,
    /// The precondition of the next upload, when it is not `If-Match` of the base version.
    other_precondition: Option<Box<Precondition>>,
}

impl IdleEntry {
    /// The compact form of `e`, if it is idle, clean and committed; `None` otherwise.
    pub fn of(e: &Entry) -> Option<IdleEntry> {
        let quiet = e.handles == 0
            && e.idle()
            && e.upload.is_none()
            && !e.needs_upload()
            && e.direct.is_empty()
            && e.finished_journal.is_empty()
            && e.new_conflicts.is_empty()
            && !e.unsynced
            && !e.persist_wanted
            && !e.sync_queued
            && e.snapshot.is_none()
            && !e.orphaned
            && !e.dropped
            && !e.materializing
            && e.source_committed()
            && e.durable_dirty.is_empty()
            && e.dirty().is_pristine()
            && !e.chunks().has_changes()
            && e.chunks().len() <= IDLE_MAX_CHUNKS
            && e.chunks().clean_count() == e.chunks().len();
        if !quiet {
            return None;
        }
        let key = e.key.as_deref()?;
        let base = e.base.as_ref()?;
        if e.remote_key.as_deref() != Some(key)
            || e.local_size != base.size
            || e.mtime_ms.is_some_and(|m| m != base.mtime_ms)
        {
            return None;
        }
        let chunks = e
            .chunks()
            .iter()
            .map(|(&index, s)| match s {
                ChunkState::Clean { crc32c } => Some(CleanChunk {
                    index,
                    crc32c: *crc32c,
                }),
                ChunkState::Dirty { .. } => None,
            })
            .collect::<Option<Box<[_]>>>()?;
        let other_precondition = match &e.target_precondition {
            Precondition::IfMatch(t) if *t == base.etag => None,
            p => Some(Box::new(p.clone())),
        };
        let verified = chunks
            .iter()
            .enumerate()
            .filter(|(_, c)| e.chunks().is_verified(c.index))
            .fold(0u64, |bits, (i, _)| bits | 1 << i);
        Some(IdleEntry {
            key: key.into(),
            etag: base.etag.as_str().into(),
            size: base.size,
            mtime_ms: base.mtime_ms,
            mtime_set: e.mtime_ms.is_some(),
            generation: e.generation,
            atime: e.atime,
            recorded_atime: e.recorded_atime(),
            chunks,
            verified,
            other_precondition,
        })
    }

    /// The compact form straight from a recovered record, when the entry it describes is
    /// idle and clean (what [`Entry::from_record`] then [`IdleEntry::of`] would give, without
    /// building the full entry); every other record is handed back. Takes the record's
    /// strings and chunk list over rather than copying them.
    // The record is handed back by value on purpose: recovery moves, never copies, records.
    #[allow(clippy::result_large_err)]
    pub fn from_record(r: EntryRecord, chunk_size: u64) -> Result<IdleEntry, EntryRecord> {
        let plain = match (&r.key, &r.base) {
            (Some(key), Some(base)) => {
                let live_chunks = base.size.div_ceil(chunk_size);
                r.dirty.is_empty()
                    && r.remote_key.as_ref() == Some(key)
                    && r.local_size == base.size
                    && r.mtime_ms.is_none_or(|m| m == base.mtime_ms)
                    && r.clean_chunks.len() <= IDLE_MAX_CHUNKS
                    && r.clean_chunks.windows(2).all(|w| w[0].index < w[1].index)
                    && r.clean_chunks.iter().all(|c| c.index < live_chunks)
            }
            _ => false,
        };
        if !plain {
            return Err(r);
        }
        let (Some(key), Some(base)) = (r.key, r.base) else {
            unreachable!("checked above")
        };
        let other_precondition = match r.target_precondition {
            Precondition::IfMatch(t) if t == base.etag => None,
            p => Some(Box::new(p)),
        };
        Ok(IdleEntry {
            key: key.into_boxed_str(),
            etag: base.etag.into_boxed_str(),
            size: base.size,
            mtime_ms: base.mtime_ms,
            mtime_set: r.mtime_ms.is_some(),
            generation: r.generation,
            atime: r.atime,
            recorded_atime: r.atime,
            chunks: r.clean_chunks.into_boxed_slice(),
            verified: 0,
            other_precondition,
        })
    }

    /// The full entry again, in the state it was compacted from. Only `truncated_at` is not
    /// kept (it comes back as 0): it orders a truncate against the snapshot of an upload in
    /// flight, and an idle entry has none; every later upload's snapshot is at least the
    /// entry's generation, which is at least its last truncate's.
    pub fn wake(&self, id: EntryId) -> Entry {
        let base = BaseVersion {
            etag: self.etag.to_string(),
            size: self.size,
            mtime_ms: self.mtime_ms,
        };
        let precondition = match &self.other_precondition {
            Some(p) => (**p).clone(),
            None => Precondition::IfMatch(base.etag.clone()),
        };
        let mut e = Entry::new(id, self.key.to_string(), Some(base), self.recorded_atime);
        e.target_precondition = precondition;
        e.generation = self.generation;
        e.mtime_ms = self.mtime_set.then_some(self.mtime_ms);
        e.atime = self.atime;
        for (i, c) in self.chunks.iter().enumerate() {
            e.load_clean_chunk(c.index, c.crc32c, self.verified & (1 << i) != 0);
        }
        e.persist_wanted = false;
        e.source_recorded();
        e
    }

    pub fn etag(&self) -> &str {
        &self.etag
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn atime(&self) -> u64 {
        self.atime
    }

    /// True when it holds any chunk (it is then in the LRU).
    pub fn has_chunks(&self) -> bool {
        !self.chunks.is_empty()
    }

    /// Bytes its chunks hold (each clipped to the size).
    pub fn cached_bytes(&self, chunk_size: u64) -> u64 {
        self.chunks
            .iter()
            .map(|c| {
                let r = chunks::chunk_range(c.index, chunk_size);
                r.end.min(self.size).saturating_sub(r.start)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(chunks: &[u64], precondition: Precondition) -> EntryRecord {
        EntryRecord {
            id: EntryId(7),
            key: Some("dir/a".into()),
            remote_key: Some("dir/a".into()),
            base: Some(BaseVersion {
                etag: "\"e1\"".into(),
                size: 2500,
                mtime_ms: 9,
            }),
            target_precondition: precondition,
            local_size: 2500,
            generation: 3,
            dirty: Vec::new(),
            clean_chunks: chunks
                .iter()
                .map(|&index| CleanChunk {
                    index,
                    crc32c: 100 + index as u32,
                })
                .collect(),
            atime: 42,
            mtime_ms: None,
        }
    }

    /// The compact form built from a record, woken, is the entry the record describes, and
    /// compacting that entry again gives the same compact form.
    #[test]
    fn a_record_round_trips_through_the_compact_form() {
        for p in [
            Precondition::IfMatch("\"e1\"".into()),
            Precondition::IfMatch("\"other\"".into()),
            Precondition::IfNoneMatch,
        ] {
            for mtime_ms in [None, Some(9)] {
                let mut r = record(&[0, 2], p.clone());
                r.mtime_ms = mtime_ms;
                let full = Entry::from_record(&r, 1000);
                let Ok(idle) = IdleEntry::from_record(r.clone(), 1000) else {
                    panic!("a clean, committed record is idle");
                };
                let woken = idle.wake(r.id);
                assert_eq!(woken.record(), r);
                assert_eq!(woken.record(), full.record());
                let again = IdleEntry::of(&woken).map(|i| i.wake(r.id).record());
                assert_eq!(again, Some(r));
            }
        }
    }

    /// Which chunks are verified survives compaction: a woken entry does not checksum again
    /// what it already checked.
    #[test]
    fn verified_chunks_stay_verified_through_compaction() {
        let r = record(&[0, 1, 2], Precondition::IfNoneMatch);
        let mut full = Entry::from_record(&r, 1000);
        assert!(
            !full.chunks().is_verified(0),
            "a recovered chunk is not verified"
        );
        full.clean_chunk_checked(0, true);
        full.clean_chunk_checked(2, true);
        let Some(idle) = IdleEntry::of(&full) else {
            panic!("a clean, committed entry is idle");
        };
        let woken = idle.wake(r.id);
        let verified: Vec<bool> = (0..3).map(|c| woken.chunks().is_verified(c)).collect();
        assert_eq!(verified, [true, false, true]);
    }

    /// Records with anything but clean, committed, in-place state stay in full form.
    #[test]
    fn only_idle_clean_records_are_compacted() {
        let mut dirty = record(&[0], Precondition::IfNoneMatch);
        dirty.dirty.push(crate::records::DirtyExtent {
            offset: 0,
            len: 10,
            generation: 3,
        });
        let mut renamed = record(&[0], Precondition::IfNoneMatch);
        renamed.key = Some("dir/b".into());
        let mut grown = record(&[0], Precondition::IfNoneMatch);
        grown.local_size = 3000;
        let mut touched = record(&[0], Precondition::IfNoneMatch);
        touched.mtime_ms = Some(10);
        let beyond = record(&[0, 3], Precondition::IfNoneMatch);
        let many: Vec<u64> = (0..=IDLE_MAX_CHUNKS as u64).collect();
        let mut big = record(&many, Precondition::IfNoneMatch);
        big.base = big.base.map(|b| BaseVersion {
            size: 1000 * many.len() as u64,
            ..b
        });
        big.local_size = 1000 * many.len() as u64;
        for r in [dirty, renamed, grown, touched, beyond, big] {
            assert!(IdleEntry::from_record(r, 1000).is_err());
        }
    }
}
