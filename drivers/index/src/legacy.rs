//! The records as schema versions 1 to 3 encoded them, for migrations only. postcard is not
//! self-describing: a record written before a field was added does not decode as the new
//! type, so each older layout is kept here, with its conversion to the current record.

use serde::Deserialize;
use silt_core::{
    BaseVersion, CleanChunk, DirtyExtent, EntryId, EntryRecord, Instant, JournalId, JournalOp,
    JournalRecord, JournalStatus, MultipartProgress, Precondition,
};

/// [`EntryRecord`] of schemas 1 to 3 (no `mtime_ms`).
#[derive(Deserialize)]
pub(crate) struct EntryRecordV3 {
    id: EntryId,
    key: Option<String>,
    remote_key: Option<String>,
    base: Option<BaseVersion>,
    target_precondition: Precondition,
    local_size: u64,
    generation: u64,
    dirty: Vec<DirtyExtent>,
    clean_chunks: Vec<CleanChunk>,
    atime: u64,
}

impl From<EntryRecordV3> for EntryRecord {
    fn from(r: EntryRecordV3) -> EntryRecord {
        EntryRecord {
            id: r.id,
            key: r.key,
            remote_key: r.remote_key,
            base: r.base,
            target_precondition: r.target_precondition,
            local_size: r.local_size,
            generation: r.generation,
            dirty: r.dirty,
            clean_chunks: r.clean_chunks,
            atime: r.atime,
            // Not kept before schema 4: the base version's time stands.
            mtime_ms: None,
        }
    }
}

/// [`JournalRecord`] of schemas 1 to 3 (no `mtime_ms`).
#[derive(Deserialize)]
pub(crate) struct JournalRecordV3 {
    id: JournalId,
    path: String,
    offset: u64,
    len: u64,
    status: JournalStatus,
    attempts: u32,
    last_error: Option<String>,
    op: JournalOp,
    base_etag: Option<String>,
    source_key: Option<String>,
    generation: u64,
    precondition: Precondition,
    token: String,
    multipart: Option<MultipartProgress>,
    next_attempt: Instant,
}

impl From<JournalRecordV3> for JournalRecord {
    fn from(r: JournalRecordV3) -> JournalRecord {
        JournalRecord {
            id: r.id,
            path: r.path,
            offset: r.offset,
            len: r.len,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            op: r.op,
            base_etag: r.base_etag,
            source_key: r.source_key,
            generation: r.generation,
            precondition: r.precondition,
            token: r.token,
            multipart: r.multipart,
            next_attempt: r.next_attempt,
            // Not kept before schema 4: the upload falls back to the entry's time.
            mtime_ms: None,
        }
    }
}
