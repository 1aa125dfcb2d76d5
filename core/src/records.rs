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

/// Counters that must survive restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Next entry / journal id to hand out.
    pub next_id: u64,
    /// Logical clock of the LRU.
    pub atime_clock: u64,
}

/// One operation of an index transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexOp {
    /// Insert or replace an entry.
    PutEntry(EntryRecord),
    /// Remove an entry.
    DeleteEntry(EntryId),
    /// Insert or replace a journal record.
    PutJournal(JournalRecord),
    /// Remove a journal record.
    DeleteJournal(JournalId),
    /// Record a conflict.
    PutConflict(ConflictRecord),
    /// Replace the counters.
    PutMeta(Meta),
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

impl Recovered {
    /// Applies a committed transaction, as an index would. Used by the in-memory index and
    /// the simulator; keeps entries, journal and conflicts sorted by id.
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
            }
        }
    }
}
