//! One cached object: its base version, size, dirty bytes, chunk table, job queue and the
//! bookkeeping that decides when its state is persisted.

use super::chunk_table::ChunkTable;
use super::dirty::{DirtyRanges, ExtentDelta};
use super::entry_table::Accounted;
use super::jobs::{Job, Running};
use crate::chunks::{self, ChunkState};
use crate::ids::{EntryId, JournalId};
use crate::ranges::{RangeMap, RangeSet};
use crate::records::{BaseVersion, CleanChunk, DirtyExtent, EntryRecord, IndexOp, Precondition};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

mod events;
pub(crate) use events::LandedUpload;

/// A snapshot of an entry's persistent state, taken when a `Sync` job started: everything in
/// it is covered by that sync.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    /// The entry's own fields (no chunks, no extents).
    pub head: EntryRecord,
    /// Chunk and extent records changed since the previous snapshot.
    pub ops: Vec<IndexOp>,
    /// How the dirty extents the index holds change with `ops`.
    pub extents: ExtentDelta,
    /// Journal records finished (uploaded) as of the snapshot: deleted in the same transaction.
    pub finished_journal: Vec<JournalId>,
    /// Conflicts that turned this entry into a copy: recorded in the same transaction as the
    /// entry's new key, never before it.
    pub conflicts: Vec<crate::records::ConflictRecord>,
}

/// A remote version by key and ETag: where an entry's unchanged bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SourceVersion {
    pub key: String,
    pub etag: String,
}

impl SourceVersion {
    fn of(remote_key: &Option<String>, base: &Option<BaseVersion>) -> Option<SourceVersion> {
        Some(SourceVersion {
            key: remote_key.clone()?,
            etag: base.as_ref()?.etag.clone(),
        })
    }
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub id: EntryId,
    pub key: Option<String>,
    pub remote_key: Option<String>,
    pub base: Option<BaseVersion>,
    pub target_precondition: Precondition,
    pub local_size: u64,
    pub generation: u64,
    /// Generation of the last truncate: an upload whose snapshot is older is stale.
    pub truncated_at: u64,
    /// Dirty bytes by generation; changed only by the event methods (`events`).
    dirty: DirtyRanges,
    /// Chunk states; changed only by the event methods (`events`).
    chunks: ChunkTable,
    /// Logical access time, in memory (LRU order).
    pub atime: u64,
    /// The access time the entry's record carries: `atime` as of the last snapshot. Reads
    /// move `atime` only, so they cause no index write.
    recorded_atime: u64,
    pub handles: u32,
    /// Jobs waiting for the entry, and the one running.
    pub queue: VecDeque<Job>,
    /// Jobs whose local operations are in flight (see `job_access`).
    pub running: Vec<Running>,
    /// Jobs waiting for fetches.
    pub parked: Vec<Job>,
    /// Chunks being fetched.
    pub fetching: BTreeSet<u64>,
    /// Fetched chunks that could not be written to disk (ENOSPC): served from memory once.
    pub direct: BTreeMap<u64, Bytes>,
    /// The active upload-journal record, if any.
    pub upload: Option<JournalId>,
    /// Uploads finished whose journal records go with the next snapshot.
    pub finished_journal: Vec<JournalId>,
    /// Conflict records that go with the next snapshot.
    pub new_conflicts: Vec<crate::records::ConflictRecord>,
    /// Writes since the last `Sync` was issued.
    pub unsynced: bool,
    /// Persistent state changed since the last snapshot.
    pub persist_wanted: bool,
    /// A `Sync` job is queued or running.
    pub sync_queued: bool,
    /// Latest completed snapshot, not yet handed to a transaction.
    pub snapshot: Option<Snapshot>,
    /// The remote object disappeared under a clean entry: nothing to fetch any more.
    pub orphaned: bool,
    /// Unlinked and closed: removed from the index and disk; its snapshots are ignored.
    pub dropped: bool,
    /// Dirty bytes as the index holds them (the last committed snapshot). A chunk cleaned by
    /// an upload is still dirty there until that is committed, and a crash would bring the
    /// dirty range back: it must not be evicted before.
    pub durable_dirty: RangeSet,
    /// The source version the index holds for the entry (the last committed head). Until a
    /// landed upload is committed, a crash brings the entry back to depending on the version
    /// it copied from: that version must not be deleted before (`journal::try_start_delete`).
    recorded_source: Option<SourceVersion>,
    /// The local version's modification time (ms since the Unix epoch) once set here: when
    /// a write or truncate last landed, or what `SetMtime` set. Persisted with the entry and
    /// sent with its uploads as object metadata; `None`: the base version's.
    pub mtime_ms: Option<u64>,
    /// A `Materialize` job is queued (see `journal::break_source_cycle`).
    pub materializing: bool,
    /// What it counts for in the entry table's totals and indexes (kept by the table).
    pub accounted: Accounted,
    /// Open passthrough handles: while any is open the kernel reads the cache file itself,
    /// so nothing may change its bytes but writes and truncates (`machine/passthrough.rs`).
    /// In memory only: such handles die with the process.
    pub pins: u32,
    /// Jobs that would change the file's content under a passthrough reader (an
    /// invalidation, a conversion to a conflict copy), held back while `pins` is not zero.
    /// Each with the key and base ETag the entry had when it was held back: a job whose
    /// reason no longer holds when released (the entry moved to another key, or its base
    /// changed) is dropped (`machine/passthrough.rs`).
    pub deferred: Vec<(Job, Option<String>, Option<String>)>,
}

impl Snapshot {
    /// This snapshot with an older one not yet committed folded in before it.
    pub fn after(mut self, older: Snapshot) -> Snapshot {
        let mut ops = older.ops;
        ops.append(&mut self.ops);
        self.ops = ops;
        let mut extents = older.extents;
        extents.extend(std::mem::take(&mut self.extents));
        self.extents = extents;
        self.finished_journal.extend(older.finished_journal);
        self.conflicts.extend(older.conflicts);
        self
    }
}

impl Entry {
    pub fn new(id: EntryId, key: String, base: Option<BaseVersion>, atime: u64) -> Self {
        let local_size = base.as_ref().map_or(0, |b| b.size);
        let remote_key = base.as_ref().map(|_| key.clone());
        Entry {
            id,
            key: Some(key),
            remote_key,
            base,
            target_precondition: Precondition::IfNoneMatch,
            local_size,
            generation: 0,
            truncated_at: 0,
            dirty: DirtyRanges::default(),
            chunks: ChunkTable::default(),
            atime,
            recorded_atime: atime,
            handles: 0,
            queue: VecDeque::new(),
            running: Vec::new(),
            parked: Vec::new(),
            fetching: BTreeSet::new(),
            direct: BTreeMap::new(),
            upload: None,
            finished_journal: Vec::new(),
            new_conflicts: Vec::new(),
            unsynced: false,
            persist_wanted: true,
            sync_queued: false,
            snapshot: None,
            orphaned: false,
            dropped: false,
            durable_dirty: RangeSet::new(),
            recorded_source: None,
            mtime_ms: None,
            materializing: false,
            accounted: Accounted::default(),
            pins: 0,
            deferred: Vec::new(),
        }
    }

    /// Rebuilds an entry from its record. Dirty chunks come back unfilled: bytes written
    /// after the last commit may sit in the file where base bytes belong.
    pub fn from_record(r: &EntryRecord, chunk_size: u64) -> Self {
        let mut e = Entry::new(r.id, String::new(), None, r.atime);
        e.key = r.key.clone();
        e.remote_key = r.remote_key.clone();
        e.base = r.base.clone();
        e.target_precondition = r.target_precondition.clone();
        e.local_size = r.local_size;
        e.generation = r.generation;
        e.mtime_ms = r.mtime_ms;
        let mut dirty = RangeMap::new();
        for d in &r.dirty {
            dirty.insert(d.offset..d.offset + d.len, d.generation);
            e.durable_dirty.add(d.offset..d.offset + d.len);
        }
        e.dirty = DirtyRanges::recorded(dirty);
        for c in &r.clean_chunks {
            e.chunks
                .load(c.index, ChunkState::Clean { crc32c: c.crc32c });
        }
        let dirty_chunks: BTreeSet<u64> = e
            .dirty
            .iter()
            .flat_map(|(r, _)| chunks::chunks_overlapping(&r, chunk_size))
            .collect();
        for c in dirty_chunks {
            e.chunks.insert(c, ChunkState::Dirty { filled: false });
        }
        for c in e.chunks.keys().copied().collect::<Vec<_>>() {
            e.refresh_chunk(c, chunk_size);
        }
        e.persist_wanted = false;
        e.source_recorded();
        e
    }

    /// The entry's own fields, without chunks and extents: what a snapshot stores as its head.
    pub fn head_record(&self) -> EntryRecord {
        EntryRecord {
            id: self.id,
            key: self.key.clone(),
            remote_key: self.remote_key.clone(),
            base: self.base.clone(),
            target_precondition: self.target_precondition.clone(),
            local_size: self.local_size,
            generation: self.generation,
            dirty: Vec::new(),
            clean_chunks: Vec::new(),
            atime: self.recorded_atime,
            mtime_ms: self.mtime_ms,
        }
    }

    /// The whole record as the index holds it once every snapshot is committed. Costs
    /// O(chunks + extents): for checks and status, not for commits.
    pub fn record(&self) -> EntryRecord {
        EntryRecord {
            id: self.id,
            key: self.key.clone(),
            remote_key: self.remote_key.clone(),
            base: self.base.clone(),
            target_precondition: self.target_precondition.clone(),
            local_size: self.local_size,
            generation: self.generation,
            dirty: self
                .dirty
                .iter()
                .map(|(r, g)| DirtyExtent {
                    offset: r.start,
                    len: r.end - r.start,
                    generation: g,
                })
                .collect(),
            clean_chunks: self
                .chunks
                .iter()
                .filter_map(|(&index, s)| match s {
                    ChunkState::Clean { crc32c } => Some(CleanChunk {
                        index,
                        crc32c: *crc32c,
                    }),
                    ChunkState::Dirty { .. } => None,
                })
                .collect(),
            atime: self.recorded_atime,
            mtime_ms: self.mtime_ms,
        }
    }

    /// The access time the entry's record carries.
    pub fn recorded_atime(&self) -> u64 {
        self.recorded_atime
    }

    pub fn base_size(&self) -> u64 {
        self.base.as_ref().map_or(0, |b| b.size)
    }

    /// The live extent of chunk `c`: bytes that hold base data.
    pub fn live(&self, c: u64, chunk_size: u64) -> std::ops::Range<u64> {
        chunks::live_extent(c, chunk_size, self.base_size(), self.local_size)
    }

    /// True when the local version differs from what is stored at `key`: the entry must be
    /// uploaded.
    pub fn needs_upload(&self) -> bool {
        self.key.is_some()
            && !self.orphaned
            && (!self.dirty.is_empty()
                || self.base.is_none()
                || self.local_size != self.base_size()
                || self.key != self.remote_key
                || self.mtime_pending())
    }

    /// True when the modification time set here is not the base version's: the object's
    /// metadata must be replaced (a server-side copy when no byte changed).
    pub fn mtime_pending(&self) -> bool {
        match (self.mtime_ms, &self.base) {
            (Some(m), Some(b)) => m != b.mtime_ms,
            _ => false,
        }
    }

    /// The modification time of the local version: set here, else the base version's.
    pub fn effective_mtime(&self) -> Option<u64> {
        self.mtime_ms.or(self.base.as_ref().map(|b| b.mtime_ms))
    }

    /// Non-dirty live bytes of `c` inside `range` that are not present: they must be fetched
    /// before they can be read.
    pub fn needs_fill(&self, c: u64, range: &std::ops::Range<u64>, chunk_size: u64) -> bool {
        let live = self.live(c, chunk_size);
        let want = live.start.max(range.start)..live.end.min(range.end);
        if want.start >= want.end || self.dirty.covers(want.clone()) {
            return false;
        }
        match self.chunks.get(&c) {
            Some(ChunkState::Clean { .. }) | Some(ChunkState::Dirty { filled: true }) => false,
            Some(ChunkState::Dirty { filled: false }) | None => !self.direct.contains_key(&c),
        }
    }

    /// True when any byte of chunk `c` (not only of its live extent) is dirty: such a chunk
    /// is never clean, so eviction never takes it.
    pub fn chunk_has_dirty(&self, c: u64, chunk_size: u64) -> bool {
        let range = chunks::chunk_range(c, chunk_size);
        self.dirty
            .intersects(range.start..range.end.min(self.local_size))
    }

    /// True when eviction may punch chunk `c`: clean now and clean in the index.
    pub fn evictable(&self, c: u64, chunk_size: u64) -> bool {
        matches!(self.chunks.get(&c), Some(ChunkState::Clean { .. }))
            && !self
                .durable_dirty
                .intersects(chunks::chunk_range(c, chunk_size))
    }

    /// Re-derives chunk `c`'s state after its dirty bytes changed. A chunk gaining dirty bytes
    /// stays filled only if its base bytes were present; a chunk that lost all its live bytes
    /// or whose clean extent is no longer whole is dropped.
    pub fn refresh_chunk(&mut self, c: u64, chunk_size: u64) {
        let live = self.live(c, chunk_size);
        let has_dirty = self.chunk_has_dirty(c, chunk_size);
        let prev = self.chunks.get(&c).copied();
        let nothing_to_fill = has_dirty && self.dirty.covers(live.clone());
        let next = if has_dirty {
            let present = matches!(
                prev,
                Some(ChunkState::Clean { .. }) | Some(ChunkState::Dirty { filled: true })
            );
            Some(ChunkState::Dirty {
                filled: present || nothing_to_fill,
            })
        } else {
            match prev {
                Some(ChunkState::Clean { crc32c }) if !live.is_empty() => {
                    Some(ChunkState::Clean { crc32c })
                }
                // Was dirty, now nothing is: its base bytes are present only if it was filled,
                // and then they carry no CRC; drop it (it will be refetched when needed).
                _ => None,
            }
        };
        match next {
            Some(s) => {
                self.chunks.insert(c, s);
            }
            None => {
                self.chunks.remove(&c);
            }
        }
        if nothing_to_fill {
            // Every live byte is dirty: all of them are in the file (ready, see `chunk_table`).
            self.chunks.mark_verified(c);
        }
    }

    /// Bytes of the cache this entry accounts for: every chunk it holds, clipped to its size.
    pub fn cached_bytes(&self, chunk_size: u64) -> u64 {
        self.chunks.bytes_within(self.local_size, chunk_size)
    }

    /// The key of the remote version its unchanged bytes come from, while it has one.
    pub fn source_key(&self) -> Option<&str> {
        if self.dropped || self.base.is_none() {
            return None;
        }
        self.remote_key.as_deref()
    }

    /// Dirty bytes by generation.
    pub fn dirty(&self) -> &DirtyRanges {
        &self.dirty
    }

    /// Chunk states.
    pub fn chunks(&self) -> &ChunkTable {
        &self.chunks
    }

    /// Chunk `c` holds clean bytes with `crc32c`, as a record says (loading, waking);
    /// `verified` when they were checked in this process.
    pub fn load_clean_chunk(&mut self, c: u64, crc32c: u32, verified: bool) {
        self.chunks.load(c, ChunkState::Clean { crc32c });
        if verified {
            self.chunks.mark_verified(c);
        }
    }

    /// The version its record in the index uses as its source, as of `head` committed.
    pub fn head_committed(&mut self, head: &EntryRecord) {
        self.recorded_source = SourceVersion::of(&head.remote_key, &head.base);
    }

    /// Its current source is the one the index holds (a record just loaded or compacted).
    pub fn source_recorded(&mut self) {
        self.recorded_source = SourceVersion::of(&self.remote_key, &self.base);
    }

    /// True when the index names the same source version as memory does.
    pub fn source_committed(&self) -> bool {
        self.recorded_source == SourceVersion::of(&self.remote_key, &self.base)
    }

    /// Keys whose versions it depends on, in memory or in the index: at most two.
    pub fn source_keys(&self) -> [Option<&str>; 2] {
        if self.dropped {
            return [None, None];
        }
        let recorded = self.recorded_source.as_ref().map(|s| s.key.as_str());
        let live = self.source_key();
        [live, recorded.filter(|r| Some(*r) != live)]
    }

    /// True when it depends on version `etag` at `key`, in memory or in the index: deleting
    /// that version could lose its unchanged bytes (now, or after a crash).
    pub fn uses_source(&self, key: &str, etag: &str) -> bool {
        let live =
            self.source_key() == Some(key) && self.base.as_ref().is_some_and(|b| b.etag == etag);
        let recorded = self
            .recorded_source
            .as_ref()
            .is_some_and(|s| s.key == key && s.etag == etag);
        !self.dropped && (live || recorded)
    }

    /// Takes the changes since the last snapshot, for the next commit: the head, and the
    /// chunk and extent records that changed (O(what changed)).
    pub fn snapshot(&mut self) -> Snapshot {
        self.persist_wanted = false;
        self.recorded_atime = self.atime;
        let mut ops = self.chunks.take_changes(self.id);
        let extents = self.dirty.take_delta();
        let id = self.id;
        ops.extend(extents.delete.iter().map(|&o| IndexOp::DeleteExtent(id, o)));
        ops.extend(
            extents
                .put
                .iter()
                .map(|x| IndexOp::PutExtent(id, x.clone())),
        );
        Snapshot {
            head: self.head_record(),
            ops,
            extents,
            finished_journal: std::mem::take(&mut self.finished_journal),
            conflicts: std::mem::take(&mut self.new_conflicts),
        }
    }

    /// Bytes of `0..local_size` that are not dirty.
    pub fn dirty_gaps_all(&self) -> Vec<std::ops::Range<u64>> {
        self.dirty.gaps(0..self.local_size)
    }

    /// True while a read (or a materialization) is waiting for chunks of this entry: they
    /// must not be evicted under it, or a read larger than the budget would never finish.
    pub fn reading(&self) -> bool {
        let is_read = |j: &Job| {
            matches!(
                j,
                Job::Read { .. }
                    | Job::UploadRead { .. }
                    | Job::Backfill { .. }
                    | Job::Materialize { .. }
            )
        };
        self.materializing
            || !self.parked.is_empty()
            || !self.fetching.is_empty()
            || self.queue.iter().any(is_read)
            || self.running.iter().any(|r| is_read(&r.job))
    }

    /// The entry invariant of docs/architecture.md ("State"), as far as the entry alone can
    /// tell: dirty bytes lie below the local size; every non-dirty byte below the local size
    /// lies below the base size (extensions are dirty; not while a conversion to a conflict
    /// copy is writing its zeros); a clean chunk holds no dirty byte and
    /// some live byte, a dirty one some dirty byte; no chunk lies past the end. `Err` names
    /// the first rule broken. O(chunks + extents): for checks.
    pub fn check_invariant(&self, chunk_size: u64) -> Result<(), String> {
        let id = self.id;
        if let Some((last, _)) = self.dirty.iter().last() {
            if last.end > self.local_size {
                return Err(format!(
                    "entry {id}: dirty bytes up to {} past its size {}",
                    last.end, self.local_size
                ));
            }
        }
        let base = self.base_size();
        // A conversion to a conflict copy drops the base first and makes the bytes it lacks
        // dirty (zeros) when its writes land.
        let converting = self
            .running
            .iter()
            .any(|r| matches!(r.job, Job::Convert { .. }));
        if !converting && self.local_size > base && !self.dirty.covers(base..self.local_size) {
            return Err(format!(
                "entry {id}: bytes between its base size {base} and size {} not dirty",
                self.local_size
            ));
        }
        let chunks_in_file = self.local_size.div_ceil(chunk_size);
        for (&c, s) in self.chunks.iter() {
            if c >= chunks_in_file {
                return Err(format!(
                    "entry {id}: chunk {c} past its size {}",
                    self.local_size
                ));
            }
            let has_dirty = self.chunk_has_dirty(c, chunk_size);
            match s {
                ChunkState::Clean { .. } if has_dirty => {
                    return Err(format!("entry {id}: clean chunk {c} holds dirty bytes"));
                }
                ChunkState::Clean { .. } if self.live(c, chunk_size).is_empty() => {
                    return Err(format!("entry {id}: clean chunk {c} has no live byte"));
                }
                ChunkState::Dirty { .. } if !has_dirty => {
                    return Err(format!("entry {id}: dirty chunk {c} holds no dirty byte"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// True when no job, fetch or parked work is pending.
    pub fn idle(&self) -> bool {
        self.running.is_empty()
            && self.queue.is_empty()
            && self.parked.is_empty()
            && self.fetching.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean_entry() -> Entry {
        let base = BaseVersion {
            etag: "\"e\"".into(),
            size: 40,
            mtime_ms: 0,
        };
        let mut e = Entry::new(EntryId(1), "k".into(), Some(base), 0);
        e.chunks.insert(0, ChunkState::Clean { crc32c: 1 });
        e
    }

    /// Each rule of the entry invariant is reported when broken, and a consistent entry passes.
    #[test]
    fn the_invariant_names_what_is_broken() {
        let cs = 16;
        assert_eq!(clean_entry().check_invariant(cs), Ok(()));

        let mut e = clean_entry();
        e.dirty.insert(2..4, 0);
        assert!(e
            .check_invariant(cs)
            .is_err_and(|m| m.contains("holds dirty bytes")));
        e.refresh_chunk(0, cs);
        assert_eq!(
            e.check_invariant(cs),
            Ok(()),
            "refreshed, the chunk is dirty"
        );

        let mut e = clean_entry();
        e.local_size = 50;
        assert!(e
            .check_invariant(cs)
            .is_err_and(|m| m.contains("not dirty")));
        e.dirty.insert(40..50, 0);
        assert_eq!(e.check_invariant(cs), Ok(()), "an extension is dirty");

        let mut e = clean_entry();
        e.dirty.insert(30..60, 0);
        assert!(e
            .check_invariant(cs)
            .is_err_and(|m| m.contains("past its size")));

        let mut e = clean_entry();
        e.chunks.insert(5, ChunkState::Clean { crc32c: 1 });
        assert!(e
            .check_invariant(cs)
            .is_err_and(|m| m.contains("chunk 5 past its size")));
    }
}
