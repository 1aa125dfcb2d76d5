//! The cache index of silt: where the core's decisions become durable.
//!
//! The index stores the core's own records ([`silt_core::EntryRecord`],
//! [`silt_core::JournalRecord`], [`silt_core::ConflictRecord`], [`silt_core::Meta`]) and
//! commits the core's [`IndexTxn`]s atomically and durably: an fsync's dirty ranges and its
//! upload intent are one transaction, and the uploads journal lives in the same database so
//! that it always can be.
//!
//! - [`CacheIndex`] is the one interface; the rest of silt sees nothing else.
//! - Adapters: [`MemoryIndex`] (tests and the simulator, with crash semantics),
//!   `RedbIndex` (the default, `index.db`) and `FjallIndex` (`index.fjall/`). Switching is
//!   an adapter swap: all three pass the same conformance suite (`tests/conformance.rs`).
//! - [`open`] is the factory: `open("redb" | "fjall" | "memory", &options)`.
//! - [`GroupCommit`] turns many concurrent small commits into one durable transaction.
//! - [`SCHEMA_VERSION`] is stored in every on-disk index; older layouts are migrated when
//!   opened (see [`migrate`]), newer ones refused.
//! - Schema 3 stores an entry as a head row plus one row per clean chunk and per dirty
//!   extent, and a journal record as a head row plus one row per multipart part, so that
//!   the core's delta operations ([`IndexOp::PutEntryHead`], [`IndexOp::PutChunk`],
//!   [`IndexOp::PutPart`], ...) write one small row each; reads assemble the whole records,
//!   lists sorted by chunk index, offset and part number. The on-disk adapters apply every
//!   operation exactly as [`Recovered::apply`] does (the conformance suite checks it).
//!
//! An index that cannot be read is never replaced by an empty one while cache files exist:
//! see [`IndexError::Corrupt`] and [`IndexError::MissingWithCacheFiles`].

#[cfg(any(feature = "redb", feature = "fjall"))]
mod codec;
mod error;
mod factory;
#[cfg(feature = "fjall")]
mod fjall_index;
mod group;
#[cfg(any(feature = "redb", feature = "fjall"))]
mod legacy;
mod memory;
pub mod migrate;
#[cfg(feature = "redb")]
mod redb_index;
#[cfg(any(feature = "redb", feature = "fjall"))]
mod rows;
#[cfg(any(feature = "redb", feature = "fjall"))]
mod schema3;
mod sync;

pub use error::{IndexError, Result};
pub use factory::{open, OpenOptions, BACKENDS};
#[cfg(feature = "fjall")]
pub use fjall_index::FjallIndex;
pub use group::{GroupCommit, GroupStats};
pub use memory::{MemoryIndex, Staged};
#[cfg(feature = "redb")]
pub use redb_index::RedbIndex;

use silt_core::{
    CleanChunk, ConflictRecord, EntryId, EntryRecord, IndexOp, IndexTxn, JournalId, JournalRecord,
    JournalStatus, Meta, Recovered,
};

/// Version of the on-disk layout: the tables, their keys, and the encoding of the core's
/// records in them. Any change is a new version with a step in [`migrate`]. Version 4:
/// entry and journal records carry the modification time stored with uploads.
pub const SCHEMA_VERSION: u32 = 4;

/// The cache index. Reads see the last committed state; [`CacheIndex::commit`] is atomic (all
/// of its operations or none survive a crash) and durable when it returns `Ok`.
///
/// Methods take `&self`: an index is shared between threads, and concurrent commits are
/// serialised by the adapter (wrap it in [`GroupCommit`] to batch them).
pub trait CacheIndex: Send + Sync {
    /// The adapter's name, as given to [`open`].
    fn backend(&self) -> &'static str;

    /// Commits `txns` as one atomic, durable transaction, applying their operations in order.
    fn commit(&self, txns: &[&IndexTxn]) -> Result<()>;

    /// The entry with id `id`.
    fn get_entry(&self, id: EntryId) -> Result<Option<EntryRecord>>;

    /// Up to `limit` entries, least recently used first: (logical access time, id).
    fn list_lru(&self, limit: usize) -> Result<Vec<(u64, EntryId)>>;

    /// Every upload-journal record, by id.
    fn list_uploads(&self) -> Result<Vec<JournalRecord>>;

    /// The upload-journal record with id `id`.
    fn get_upload(&self, id: JournalId) -> Result<Option<JournalRecord>>;

    /// Every conflict record, by entry and conflict key.
    fn list_conflicts(&self) -> Result<Vec<ConflictRecord>>;

    /// The persistent counters (zero in a new index).
    fn meta(&self) -> Result<Meta>;

    /// Sets a journal record's status in one atomic read-modify-write; a `last_error` also
    /// counts a failed attempt. `Ok(false)` if there is no such record.
    fn update_upload_status(
        &self,
        id: JournalId,
        status: JournalStatus,
        last_error: Option<String>,
    ) -> Result<bool>;

    /// Everything, from one consistent snapshot, for [`silt_core::Core::recover`].
    fn load(&self) -> Result<Recovered>;

    /// Chunk metadata of an entry: its clean chunks with their CRC32C, by chunk index. The
    /// on-disk adapters read only the entry's `chunks` rows.
    fn chunks(&self, id: EntryId) -> Result<Option<Vec<CleanChunk>>> {
        Ok(self.get_entry(id)?.map(|e| e.clean_chunks))
    }

    /// Inserts or replaces an entry (a one-operation transaction).
    fn put_entry(&self, entry: EntryRecord) -> Result<()> {
        self.commit(&[&one(IndexOp::PutEntry(entry))])
    }

    /// Removes an entry (a one-operation transaction).
    fn delete_entry(&self, id: EntryId) -> Result<()> {
        self.commit(&[&one(IndexOp::DeleteEntry(id))])
    }

    /// Adds (or replaces) an upload-journal record (a one-operation transaction).
    fn add_upload(&self, record: JournalRecord) -> Result<()> {
        self.commit(&[&one(IndexOp::PutJournal(record))])
    }
}

/// Decodes one stored record (postcard + CRC32C trailer), as every on-disk adapter does on
/// every read: `Err` says what is wrong. Public for fuzzing and for tools that inspect an
/// index file. (The fixed-width `chunks` and `extents` rows of schema 3 are not postcard;
/// see `docs/index.md`.)
#[cfg(any(feature = "redb", feature = "fjall"))]
pub fn decode_record<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> std::result::Result<T, String> {
    codec::decode(bytes)
}

fn one(op: IndexOp) -> IndexTxn {
    IndexTxn { ops: vec![op] }
}

/// The status update of [`CacheIndex::update_upload_status`], shared by the adapters.
pub(crate) fn apply_status(
    record: &mut JournalRecord,
    status: JournalStatus,
    last_error: Option<String>,
) {
    record.status = status;
    if last_error.is_some() {
        record.attempts = record.attempts.saturating_add(1);
        record.last_error = last_error;
    }
}
