//! Records the index stores. These are the core's own types (serde), not a second model:
//! the index adapters store them as they are, and recovery hands them back.
//!
//! Their encoding is part of the index's schema (`silt_index::SCHEMA_VERSION`): a change to
//! a field here is a new schema version with a migration in `silt-index`, tested on a
//! database file the previous version wrote.

use crate::ids::{EntryId, JournalId};
use crate::time::Instant;
use serde::{Deserialize, Serialize};

/// The remote version an entry is based on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseVersion {
    /// ETag of the version.
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its last-modified time, in milliseconds since the Unix epoch, as the server said.
    pub mtime_ms: u64,
}

/// The condition an upload puts on the version it replaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precondition {
    /// `If-Match: <etag>`: replace exactly this version.
    IfMatch(String),
    /// `If-None-Match: *`: the key must not exist.
    IfNoneMatch,
}

/// A dirty byte range and the generation of the write that produced it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirtyExtent {
    /// First byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Generation of the entry when the bytes were written.
    pub generation: u64,
}

/// A chunk known to equal the base version, with the CRC32C of its live extent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanChunk {
    /// Chunk index.
    pub index: u64,
    /// CRC32C of the live extent.
    pub crc32c: u32,
}

/// One cached object, as the index stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRecord {
    /// The entry's id (names its cache file).
    pub id: EntryId,
    /// The object key it is visible as; `None` once unlinked (kept while handles are open).
    pub key: Option<String>,
    /// The key its base version lives at (differs from `key` after a rename, until uploaded).
    pub remote_key: Option<String>,
    /// The remote version the non-dirty bytes equal; `None` for an object that does not exist
    /// remotely yet.
    pub base: Option<BaseVersion>,
    /// Condition for the first upload to `key` when it differs from `remote_key`.
    pub target_precondition: Precondition,
    /// Local size in bytes.
    pub local_size: u64,
    /// Generation counter: bumped by every truncate and by the start of an upload, so that
    /// writes between two uploads share one generation and their dirty ranges merge.
    pub generation: u64,
    /// Dirty byte ranges.
    pub dirty: Vec<DirtyExtent>,
    /// Clean chunks.
    pub clean_chunks: Vec<CleanChunk>,
    /// Logical access time (LRU).
    pub atime: u64,
    /// The local version's modification time (ms since the Unix epoch), once set here: by a
    /// write or truncate (the time it landed) or by [`crate::Request::SetMtime`]. Uploads
    /// store it as object metadata (`x-amz-meta-mtime`); `None`: the base version's.
    pub mtime_ms: Option<u64>,
}

/// What a journal record asks of the remote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JournalOp {
    /// Upload entry `entry` to `path` (a new object version).
    Upload {
        /// The entry whose bytes are uploaded.
        entry: EntryId,
    },
    /// Delete `path` if it is still version `etag`.
    Delete {
        /// The version to delete; `None` until an upload in flight to the key tells it.
        etag: Option<String>,
        /// The entry that vacated the key (a rename), whose upload may change `etag`.
        vacated_by: Option<EntryId>,
    },
}

/// Status of a journal record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JournalStatus {
    /// Waiting for its start time.
    Queued,
    /// Started: the snapshot (generation, size, token) is fixed.
    InProgress,
    /// Failed; retried at `next_attempt`.
    RetryWait,
}

/// A multipart upload's progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartProgress {
    /// The server's upload id.
    pub upload_id: String,
    /// Size of every part but the last.
    pub part_size: u64,
    /// Parts finished: (part number, ETag).
    pub parts_done: Vec<(u32, String)>,
    /// How each finished part was made: `Some(crc32c)` of the bytes uploaded, `None` for a
    /// server-side copy of the base version. After a restart a part the server still holds is
    /// reused only if the current bytes of its range have the same CRC (or, for a copy, are
    /// still unchanged): a resumed upload never mixes in bytes the cache no longer holds.
    #[serde(default)]
    pub part_crcs: Vec<(u32, Option<u32>)>,
}

/// One upload-journal record (seed fields first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Record id; part of the upload token.
    pub id: JournalId,
    /// Object key the operation targets.
    pub path: String,
    /// First byte covered (0: uploads replace whole objects).
    pub offset: u64,
    /// Bytes covered: the snapshot size of an upload.
    pub len: u64,
    /// Status.
    pub status: JournalStatus,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The last failure, for `silt status`.
    pub last_error: Option<String>,
    /// What to do.
    pub op: JournalOp,
    /// Base ETag the upload replaces / copies unchanged bytes from.
    pub base_etag: Option<String>,
    /// Key the base version lives at (the copy source).
    pub source_key: Option<String>,
    /// The snapshot generation: on success only bytes still at this generation or older
    /// become clean.
    pub generation: u64,
    /// The condition on the replaced version.
    pub precondition: Precondition,
    /// Token stored as object metadata, to recognise our own upload after a crash.
    pub token: String,
    /// Multipart progress, if multipart.
    pub multipart: Option<MultipartProgress>,
    /// Earliest time of the next attempt.
    pub next_attempt: Instant,
    /// The snapshot's modification time (ms since the Unix epoch), stored with the new
    /// version as `x-amz-meta-mtime`; `None` in records written before it was kept.
    pub mtime_ms: Option<u64>,
}

/// A conflict: the local version could not replace the remote one and was kept as a copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictRecord {
    /// The entry that now holds the local version.
    pub entry: EntryId,
    /// Key the local version was meant for.
    pub original_key: String,
    /// Key the local version is kept at.
    pub conflict_key: String,
    /// The remote ETag seen, if known.
    pub remote_etag: Option<String>,
    /// When it was detected.
    pub detected_at: Instant,
    /// Byte ranges of the old base version that were not cached and could not be fetched
    /// any more: zero in the conflict copy.
    pub missing: Vec<(u64, u64)>,
}

/// One finished part of a multipart upload, as [`IndexOp::PutPart`] records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// Part number (from 1).
    pub number: u32,
    /// The ETag the server returned for the part.
    pub etag: String,
    /// `Some(crc32c)` of the cache bytes the part was uploaded from, `None` for a server-side
    /// copy of the base version (see [`MultipartProgress::part_crcs`]).
    pub crc32c: Option<u32>,
}

/// Counters that must survive restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Next entry / journal id to hand out.
    pub next_id: u64,
    /// Logical clock of the LRU.
    pub atime_clock: u64,
}

/// One operation of an index transaction.
///
/// An entry is stored as its own fields (the head: everything but `dirty` and
/// `clean_chunks`) plus one sub-record per clean chunk (keyed by chunk index) and per dirty
/// extent (keyed by offset); a journal record as its own fields plus one sub-record per
/// multipart part (keyed by part number). The full operations ([`IndexOp::PutEntry`],
/// [`IndexOp::PutJournal`]) replace a record with all its sub-records; the delta operations
/// ([`IndexOp::PutEntryHead`], [`IndexOp::PutChunk`], [`IndexOp::DeleteChunk`],
/// [`IndexOp::PutExtent`], [`IndexOp::DeleteExtent`], [`IndexOp::PutPart`]) change one piece,
/// so that a commit writes only what changed. New variants are only ever appended: the
/// encoding of the existing ones does not change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexOp {
    /// Insert or replace an entry: its own fields and all its clean chunks and dirty extents
    /// (stored ones not in the record are removed).
    PutEntry(EntryRecord),
    /// Remove an entry with all its clean chunks and dirty extents.
    DeleteEntry(EntryId),
    /// Insert or replace a journal record with all its multipart parts (those of
    /// `multipart.parts_done` and `multipart.part_crcs`; stored ones not in the record are
    /// removed).
    PutJournal(JournalRecord),
    /// Remove a journal record with all its parts.
    DeleteJournal(JournalId),
    /// Record a conflict.
    PutConflict(ConflictRecord),
    /// Replace the counters.
    PutMeta(Meta),
    /// Insert or replace an entry's own fields (`id`, `key`, `remote_key`, `base`,
    /// `target_precondition`, `local_size`, `generation`, `atime`). Its stored clean chunks
    /// and dirty extents stay as they are (a new entry has none). **The record's `dirty` and
    /// `clean_chunks` are ignored**: change those with the chunk and extent operations, or
    /// replace everything with [`IndexOp::PutEntry`].
    PutEntryHead(EntryRecord),
    /// Insert or replace the clean chunk with this chunk index of an entry. Ignored if the
    /// entry does not exist.
    PutChunk(EntryId, CleanChunk),
    /// Remove the clean chunk with this chunk index from an entry (nothing if it has none).
    DeleteChunk(EntryId, u64),
    /// Insert or replace an entry's dirty extent at the extent's offset (an extent at the same
    /// offset is replaced; extents at other offsets are not touched, even if they overlap).
    /// Ignored if the entry does not exist.
    PutExtent(EntryId, DirtyExtent),
    /// Remove the dirty extent starting at this offset from an entry (nothing if it has none).
    DeleteExtent(EntryId, u64),
    /// Record a finished multipart part: it appears in the journal record's
    /// `multipart.parts_done` as `(number, etag)` and in `multipart.part_crcs` as
    /// `(number, crc32c)`, replacing what either held for that part number. Ignored if the
    /// journal record does not exist or has no multipart upload.
    PutPart(JournalId, PartRecord),
}

/// Operations committed atomically: all or none survive a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexTxn {
    /// The operations, applied in order.
    pub ops: Vec<IndexOp>,
}

/// Everything the index held, handed to [`crate::Core::recover`] at startup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovered {
    /// Entries.
    pub entries: Vec<EntryRecord>,
    /// Journal records.
    pub journal: Vec<JournalRecord>,
    /// Conflicts.
    pub conflicts: Vec<ConflictRecord>,
    /// Counters.
    pub meta: Meta,
}

impl EntryRecord {
    /// The entry's own fields, without its dirty extents and clean chunks (both empty): what
    /// [`IndexOp::PutEntryHead`] stores.
    pub fn head(&self) -> EntryRecord {
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
            atime: self.atime,
            mtime_ms: self.mtime_ms,
        }
    }
}

impl JournalRecord {
    /// The modification time the upload stores with the new version (`x-amz-meta-mtime`):
    /// the snapshot's, or `now_ms` when the record holds none (written before the
    /// snapshot's was kept): the version is then stamped with the time it is sent, as a
    /// server's `Last-Modified` would be.
    pub fn mtime_or(&self, now_ms: u64) -> u64 {
        self.mtime_ms.unwrap_or(now_ms)
    }

    /// The record without its multipart parts (`parts_done` and `part_crcs` empty; the
    /// upload id and part size stay).
    pub fn head(&self) -> JournalRecord {
        JournalRecord {
            id: self.id,
            path: self.path.clone(),
            offset: self.offset,
            len: self.len,
            status: self.status.clone(),
            attempts: self.attempts,
            last_error: self.last_error.clone(),
            op: self.op.clone(),
            base_etag: self.base_etag.clone(),
            source_key: self.source_key.clone(),
            generation: self.generation,
            precondition: self.precondition.clone(),
            token: self.token.clone(),
            multipart: self.multipart.as_ref().map(|m| MultipartProgress {
                upload_id: m.upload_id.clone(),
                part_size: m.part_size,
                parts_done: Vec::new(),
                part_crcs: Vec::new(),
            }),
            next_attempt: self.next_attempt,
            mtime_ms: self.mtime_ms,
        }
    }
}

/// Puts `item` in `list` in place of every element with the same key, before the first
/// element with a greater key: a list sorted by key stays sorted, one element per key.
fn put_sorted<T, K: Ord>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> K) {
    let k = key(&item);
    list.retain(|x| key(x) != k);
    let at = list.partition_point(|x| key(x) < k);
    list.insert(at, item);
}

impl Recovered {
    /// Applies a committed transaction, as an index would. Used by the in-memory index and
    /// the simulator; keeps entries, journal and conflicts sorted by id.
    ///
    /// The full operations store a record's lists as given. The delta operations keep an
    /// entry's `dirty` sorted by offset and `clean_chunks` sorted by chunk index, and a
    /// journal record's `parts_done` and `part_crcs` sorted by part number, one element per
    /// key. [`IndexOp::PutChunk`], [`IndexOp::PutExtent`] and [`IndexOp::PutPart`] on a
    /// record that does not exist (or, for a part, has no multipart upload) are ignored;
    /// [`IndexOp::PutEntryHead`] creates the entry, with no chunks or extents.
    ///
    /// The on-disk indexes (schema 3) store chunks, extents and parts keyed by chunk index,
    /// offset and part number: they hand lists back sorted, one element per key. The core's
    /// entries always have them so; its `parts_done` are in completion order until a restart.
    pub fn apply(&mut self, txn: &IndexTxn) {
        for op in &txn.ops {
            match op {
                IndexOp::PutEntry(e) => match self.entries.binary_search_by_key(&e.id, |x| x.id) {
                    Ok(i) => self.entries[i] = e.clone(),
                    Err(i) => self.entries.insert(i, e.clone()),
                },
                IndexOp::DeleteEntry(id) => self.entries.retain(|x| x.id != *id),
                IndexOp::PutJournal(j) => {
                    match self.journal.binary_search_by_key(&j.id, |x| x.id) {
                        Ok(i) => self.journal[i] = j.clone(),
                        Err(i) => self.journal.insert(i, j.clone()),
                    }
                }
                IndexOp::DeleteJournal(id) => self.journal.retain(|x| x.id != *id),
                IndexOp::PutConflict(c) => {
                    self.conflicts
                        .retain(|x| x.entry != c.entry || x.conflict_key != c.conflict_key);
                    self.conflicts.push(c.clone());
                    self.conflicts.sort_by(|a, b| {
                        (a.entry, &a.conflict_key).cmp(&(b.entry, &b.conflict_key))
                    });
                }
                IndexOp::PutMeta(m) => self.meta = m.clone(),
                IndexOp::PutEntryHead(h) => {
                    match self.entries.binary_search_by_key(&h.id, |x| x.id) {
                        Ok(i) => {
                            let e = &mut self.entries[i];
                            let dirty = std::mem::take(&mut e.dirty);
                            let clean_chunks = std::mem::take(&mut e.clean_chunks);
                            *e = EntryRecord {
                                dirty,
                                clean_chunks,
                                ..h.head()
                            };
                        }
                        Err(i) => self.entries.insert(i, h.head()),
                    }
                }
                IndexOp::PutChunk(id, c) => {
                    if let Some(e) = self.entry_mut(*id) {
                        put_sorted(&mut e.clean_chunks, c.clone(), |x| x.index);
                    }
                }
                IndexOp::DeleteChunk(id, index) => {
                    if let Some(e) = self.entry_mut(*id) {
                        e.clean_chunks.retain(|x| x.index != *index);
                    }
                }
                IndexOp::PutExtent(id, d) => {
                    if let Some(e) = self.entry_mut(*id) {
                        put_sorted(&mut e.dirty, d.clone(), |x| x.offset);
                    }
                }
                IndexOp::DeleteExtent(id, offset) => {
                    if let Some(e) = self.entry_mut(*id) {
                        e.dirty.retain(|x| x.offset != *offset);
                    }
                }
                IndexOp::PutPart(id, p) => {
                    let Ok(i) = self.journal.binary_search_by_key(id, |x| x.id) else {
                        continue;
                    };
                    if let Some(mp) = self.journal[i].multipart.as_mut() {
                        put_sorted(&mut mp.parts_done, (p.number, p.etag.clone()), |x| x.0);
                        put_sorted(&mut mp.part_crcs, (p.number, p.crc32c), |x| x.0);
                    }
                }
            }
        }
    }

    fn entry_mut(&mut self, id: EntryId) -> Option<&mut EntryRecord> {
        match self.entries.binary_search_by_key(&id, |x| x.id) {
            Ok(i) => Some(&mut self.entries[i]),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;
    use std::collections::BTreeMap;

    fn entry(id: u64, n: u32) -> EntryRecord {
        EntryRecord {
            id: EntryId(id),
            key: (n % 5 != 0).then(|| format!("k{id}-{n}")),
            remote_key: (n % 3 == 0).then(|| format!("r{id}")),
            base: (n % 2 == 0).then(|| BaseVersion {
                etag: format!("\"{n}\""),
                size: u64::from(n) << 12,
                mtime_ms: u64::from(n),
            }),
            target_precondition: Precondition::IfNoneMatch,
            local_size: u64::from(n) * 7,
            generation: u64::from(n % 11),
            dirty: Vec::new(),
            clean_chunks: Vec::new(),
            atime: u64::from(n),
            mtime_ms: (n % 4 == 1).then(|| u64::from(n) * 1000),
        }
    }

    /// A journal record; with `multipart`, part `p` (1..=8) is done if bit `p - 1` of `parts`
    /// is set and has a CRC entry if bit `p + 7` is.
    fn journal(id: u64, multipart: bool, parts: u32) -> JournalRecord {
        JournalRecord {
            id: JournalId(id),
            path: format!("p{id}"),
            offset: 0,
            len: u64::from(parts),
            status: JournalStatus::InProgress,
            attempts: parts % 3,
            last_error: None,
            op: JournalOp::Upload { entry: EntryId(id) },
            base_etag: None,
            source_key: None,
            generation: u64::from(parts),
            precondition: Precondition::IfNoneMatch,
            token: format!("t{id}"),
            multipart: multipart.then(|| MultipartProgress {
                upload_id: format!("u{parts}"),
                part_size: 5 << 20,
                parts_done: (1..=8u32)
                    .filter(|p| parts & (1 << (p - 1)) != 0)
                    .map(|p| (p, format!("e{p}-{parts}")))
                    .collect(),
                part_crcs: (1..=8u32)
                    .filter(|p| parts & (1 << (p + 7)) != 0)
                    .map(|p| (p, (p % 2 == 0).then_some(parts)))
                    .collect(),
            }),
            next_attempt: Instant::from_millis(u64::from(parts)),
            mtime_ms: (parts % 2 == 1).then_some(u64::from(parts) * 1000),
        }
    }

    /// An entry in the reference: head, chunk index -> CRC, offset -> (len, generation).
    type ModelEntry = (EntryRecord, BTreeMap<u64, u32>, BTreeMap<u64, (u64, u64)>);
    /// A journal record in the reference: head, part -> ETag, part -> CRC entry.
    type ModelJournal = (
        JournalRecord,
        BTreeMap<u32, String>,
        BTreeMap<u32, Option<u32>>,
    );

    /// The reference: entries and journal records as maps of their sub-records.
    #[derive(Default)]
    struct Model {
        entries: BTreeMap<u64, ModelEntry>,
        journal: BTreeMap<u64, ModelJournal>,
    }

    impl Model {
        fn apply(&mut self, op: &IndexOp) {
            match op {
                IndexOp::PutEntryHead(h) => match self.entries.get_mut(&h.id.0) {
                    Some(slot) => slot.0 = h.head(),
                    None => {
                        self.entries
                            .insert(h.id.0, (h.head(), BTreeMap::new(), BTreeMap::new()));
                    }
                },
                IndexOp::PutChunk(id, c) => {
                    if let Some(e) = self.entries.get_mut(&id.0) {
                        e.1.insert(c.index, c.crc32c);
                    }
                }
                IndexOp::DeleteChunk(id, index) => {
                    if let Some(e) = self.entries.get_mut(&id.0) {
                        e.1.remove(index);
                    }
                }
                IndexOp::PutExtent(id, d) => {
                    if let Some(e) = self.entries.get_mut(&id.0) {
                        e.2.insert(d.offset, (d.len, d.generation));
                    }
                }
                IndexOp::DeleteExtent(id, offset) => {
                    if let Some(e) = self.entries.get_mut(&id.0) {
                        e.2.remove(offset);
                    }
                }
                IndexOp::DeleteEntry(id) => {
                    self.entries.remove(&id.0);
                }
                IndexOp::PutJournal(j) => {
                    let mp = j.multipart.as_ref();
                    let done = mp.map(|m| m.parts_done.iter().cloned().collect());
                    let crcs = mp.map(|m| m.part_crcs.iter().copied().collect());
                    self.journal.insert(
                        j.id.0,
                        (j.head(), done.unwrap_or_default(), crcs.unwrap_or_default()),
                    );
                }
                IndexOp::PutPart(id, p) => {
                    if let Some(j) = self.journal.get_mut(&id.0) {
                        if j.0.multipart.is_some() {
                            j.1.insert(p.number, p.etag.clone());
                            j.2.insert(p.number, p.crc32c);
                        }
                    }
                }
                IndexOp::DeleteJournal(id) => {
                    self.journal.remove(&id.0);
                }
                other => unreachable!("the test makes no {other:?}"),
            }
        }

        /// The full operation equivalent to what the model holds for the record `op` touched.
        fn full_op(&self, op: &IndexOp) -> IndexOp {
            let entry = |id: EntryId| match self.entries.get(&id.0) {
                Some((head, chunks, extents)) => IndexOp::PutEntry(EntryRecord {
                    clean_chunks: chunks
                        .iter()
                        .map(|(&index, &crc32c)| CleanChunk { index, crc32c })
                        .collect(),
                    dirty: extents
                        .iter()
                        .map(|(&offset, &(len, generation))| DirtyExtent {
                            offset,
                            len,
                            generation,
                        })
                        .collect(),
                    ..head.clone()
                }),
                None => IndexOp::DeleteEntry(id),
            };
            let journal = |id: JournalId| match self.journal.get(&id.0) {
                Some((head, done, crcs)) => {
                    let mut j = head.clone();
                    if let Some(mp) = j.multipart.as_mut() {
                        mp.parts_done = done.iter().map(|(&n, e)| (n, e.clone())).collect();
                        mp.part_crcs = crcs.iter().map(|(&n, &c)| (n, c)).collect();
                    }
                    IndexOp::PutJournal(j)
                }
                None => IndexOp::DeleteJournal(id),
            };
            match op {
                IndexOp::PutEntryHead(e) => entry(e.id),
                IndexOp::PutChunk(id, _)
                | IndexOp::DeleteChunk(id, _)
                | IndexOp::PutExtent(id, _)
                | IndexOp::DeleteExtent(id, _)
                | IndexOp::DeleteEntry(id) => entry(*id),
                IndexOp::PutJournal(j) => journal(j.id),
                IndexOp::PutPart(id, _) | IndexOp::DeleteJournal(id) => journal(*id),
                other => unreachable!("the test makes no {other:?}"),
            }
        }
    }

    /// A delta (or delete, or journal) operation over three entries and three journal
    /// records, small chunk and offset spaces, so that operations meet.
    fn op_of((kind, id, a, b): (u8, u8, u8, u32)) -> IndexOp {
        let id = u64::from(id % 3);
        let eid = EntryId(id);
        let slot = u64::from(a % 12);
        match kind % 10 {
            0 => IndexOp::PutEntryHead(EntryRecord {
                // Lists in a head are ignored.
                clean_chunks: vec![CleanChunk {
                    index: 99,
                    crc32c: b,
                }],
                dirty: vec![DirtyExtent {
                    offset: 99,
                    len: 1,
                    generation: 1,
                }],
                ..entry(id, b)
            }),
            1 | 2 => IndexOp::PutChunk(
                eid,
                CleanChunk {
                    index: slot,
                    crc32c: b,
                },
            ),
            3 => IndexOp::DeleteChunk(eid, slot),
            4 => IndexOp::PutExtent(
                eid,
                DirtyExtent {
                    offset: slot << 12,
                    len: u64::from(b % 8192) + 1,
                    generation: u64::from(a),
                },
            ),
            5 => IndexOp::DeleteExtent(eid, slot << 12),
            6 => IndexOp::DeleteEntry(eid),
            7 => IndexOp::PutJournal(journal(id, b % 4 != 0, b >> 2)),
            8 => IndexOp::PutPart(
                JournalId(id),
                PartRecord {
                    number: u32::from(a % 10) + 1,
                    etag: format!("\"{b:x}\""),
                    crc32c: (b % 3 != 0).then_some(b),
                },
            ),
            _ => IndexOp::DeleteJournal(JournalId(id)),
        }
    }

    quickcheck! {
        /// After every delta operation, the records equal those built by the equivalent full
        /// operation (PutEntry / PutJournal of the whole record, or its delete).
        fn delta_ops_equal_their_full_equivalents(ops: Vec<(u8, u8, u8, u32)>) -> bool {
            let mut model = Model::default();
            let mut by_delta = Recovered::default();
            let mut by_full = Recovered::default();
            for op in ops.into_iter().map(op_of) {
                model.apply(&op);
                by_delta.apply(&IndexTxn { ops: vec![op.clone()] });
                by_full.apply(&IndexTxn { ops: vec![model.full_op(&op)] });
                if by_delta != by_full {
                    return false;
                }
            }
            true
        }

        /// A whole sequence in one transaction ends where one operation per transaction does.
        fn one_transaction_equals_many(ops: Vec<(u8, u8, u8, u32)>) -> bool {
            let ops: Vec<IndexOp> = ops.into_iter().map(op_of).collect();
            let mut one = Recovered::default();
            one.apply(&IndexTxn { ops: ops.clone() });
            let mut many = Recovered::default();
            for op in ops {
                many.apply(&IndexTxn { ops: vec![op] });
            }
            one == many
        }
    }

    fn applied(ops: Vec<IndexOp>) -> Recovered {
        let mut r = Recovered::default();
        r.apply(&IndexTxn { ops });
        r
    }

    #[test]
    fn sub_records_of_a_missing_record_are_ignored() {
        let chunk = CleanChunk {
            index: 1,
            crc32c: 2,
        };
        let extent = DirtyExtent {
            offset: 0,
            len: 1,
            generation: 1,
        };
        let part = PartRecord {
            number: 1,
            etag: "e".into(),
            crc32c: None,
        };
        let r = applied(vec![
            IndexOp::PutChunk(EntryId(1), chunk.clone()),
            IndexOp::PutExtent(EntryId(1), extent),
            IndexOp::PutPart(JournalId(1), part.clone()),
            // No multipart upload: nowhere to put a part.
            IndexOp::PutJournal(journal(2, false, 0)),
            IndexOp::PutPart(JournalId(2), part),
        ]);
        assert!(r.entries.is_empty());
        assert_eq!(r.journal, vec![journal(2, false, 0)]);
        // A deleted entry is not brought back by a later chunk, nor its old chunks by a new
        // head with the same id.
        let r = applied(vec![
            IndexOp::PutEntry(EntryRecord {
                clean_chunks: vec![chunk.clone()],
                ..entry(1, 1)
            }),
            IndexOp::DeleteEntry(EntryId(1)),
            IndexOp::PutChunk(EntryId(1), chunk),
            IndexOp::PutEntryHead(entry(1, 2)),
        ]);
        assert_eq!(r.entries, vec![entry(1, 2)]);
    }

    #[test]
    fn a_head_keeps_the_stored_lists_and_ignores_its_own() {
        let full = EntryRecord {
            clean_chunks: vec![CleanChunk {
                index: 3,
                crc32c: 4,
            }],
            dirty: vec![DirtyExtent {
                offset: 5,
                len: 6,
                generation: 7,
            }],
            ..entry(1, 1)
        };
        let new_head = EntryRecord {
            clean_chunks: vec![CleanChunk {
                index: 100,
                crc32c: 0,
            }],
            dirty: vec![DirtyExtent {
                offset: 100,
                len: 1,
                generation: 9,
            }],
            ..entry(1, 8)
        };
        let r = applied(vec![
            IndexOp::PutEntry(full.clone()),
            IndexOp::PutEntryHead(new_head),
        ]);
        assert_eq!(
            r.entries,
            vec![EntryRecord {
                clean_chunks: full.clean_chunks,
                dirty: full.dirty,
                ..entry(1, 8)
            }]
        );
    }

    #[test]
    fn parts_are_kept_sorted_and_replace_their_number() {
        let part = |number, etag: &str, crc32c| {
            IndexOp::PutPart(
                JournalId(1),
                PartRecord {
                    number,
                    etag: etag.into(),
                    crc32c,
                },
            )
        };
        let r = applied(vec![
            IndexOp::PutJournal(journal(1, true, 0)),
            part(3, "a", Some(1)),
            part(1, "b", None),
            part(2, "c", Some(2)),
            part(3, "d", Some(3)),
        ]);
        let mp = r.journal[0].multipart.clone().expect("multipart");
        assert_eq!(
            mp.parts_done,
            vec![(1, "b".into()), (2, "c".into()), (3, "d".into())]
        );
        assert_eq!(mp.part_crcs, vec![(1, None), (2, Some(2)), (3, Some(3))]);
    }
}
