//! Schema versions and the migrations between them.
//!
//! Every on-disk index stores its `schema_version` in the `meta` table. At open:
//! - no version and no records: a new index, initialised at [`SCHEMA_VERSION`];
//! - the current version: opened as is;
//! - an older version: migrated step by step, each step in one atomic transaction that also
//!   writes the new version, so a crash during a migration leaves the old, valid index;
//! - a newer version: refused with [`crate::IndexError::NewerSchema`].
//!
//! History:
//! - **1**: tables `meta` (schema_version, counters), `entries` (by entry id), `uploads`
//!   (journal records by id) and `conflicts` (by entry id + conflict key). Values are
//!   postcard-encoded core records with a CRC32C trailer.
//! - **2**: adds `lru` (atime + entry id -> nothing), so that listing the least recently
//!   used entries reads only as many rows as it returns instead of decoding every entry.
//!   Migration from 1: one row per entry.
//! - **3**: an entry's clean chunks and dirty extents and a journal record's multipart parts
//!   become rows of their own: tables `chunks` (by entry id and chunk index), `extents` (by
//!   entry id and offset) and `parts` (by journal id and part number); `entries` and
//!   `uploads` keep only the records' heads. A commit then writes only what changed (the
//!   core's delta operations). Migration from 2: every entry and journal record is split
//!   into its head and its rows.
//! - **4**: entry records gain `mtime_ms` (the modification time set locally) and journal
//!   records `mtime_ms` (the time their upload stores as `x-amz-meta-mtime`), both `None`
//!   for records of older versions. Migration from 3: every head row is decoded in the old
//!   layout ([`crate::legacy`]) and written again in the new one; chunk, extent and part
//!   rows are unchanged.

#[cfg(any(feature = "redb", feature = "fjall"))]
use crate::codec::{self, table, Write};
#[cfg(any(feature = "redb", feature = "fjall"))]
use crate::{legacy, rows::Rows, schema3};
use crate::{IndexError, Result, SCHEMA_VERSION};
#[cfg(any(feature = "redb", feature = "fjall"))]
use silt_core::{EntryRecord, JournalRecord};
use std::path::Path;

/// What opening an index with a stored version must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing stored yet: initialise at the current version.
    Initialise,
    /// Already current.
    Current,
    /// Run the steps from this version up to the current one.
    Migrate(u32),
}

/// The plan for an index at `path` that stores `found` (`None`: no version) and holds
/// records or not.
pub fn plan(path: &Path, found: Option<u32>, has_records: bool) -> Result<Plan> {
    match found {
        None if !has_records => Ok(Plan::Initialise),
        None => Err(IndexError::Corrupt {
            path: path.to_path_buf(),
            detail: "records without a schema_version".into(),
        }),
        Some(0) => Err(IndexError::Corrupt {
            path: path.to_path_buf(),
            detail: "schema_version 0 was never written by silt".into(),
        }),
        Some(v) if v > SCHEMA_VERSION => Err(IndexError::NewerSchema {
            path: path.to_path_buf(),
            found: v,
            supported: SCHEMA_VERSION,
        }),
        Some(v) if v == SCHEMA_VERSION => Ok(Plan::Current),
        Some(v) => Ok(Plan::Migrate(v)),
    }
}

/// Decodes a stored `schema_version` value.
#[cfg(any(feature = "redb", feature = "fjall"))]
pub(crate) fn decode_version(path: &Path, bytes: &[u8]) -> Result<u32> {
    let b: [u8; 4] = bytes.try_into().map_err(|_| IndexError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("schema_version of {} bytes, expected 4", bytes.len()),
    })?;
    Ok(u32::from_le_bytes(b))
}

/// The writes that take an index at version `from` to [`SCHEMA_VERSION`], reading the old
/// records from `rows`, ending with the new version number. Adapters apply them in one atomic
/// transaction; an error (a record of the old index that does not decode) leaves the index
/// as it was.
#[cfg(any(feature = "redb", feature = "fjall"))]
pub(crate) fn steps(from: u32, rows: &impl Rows) -> Result<Vec<Write>> {
    // Versions 1 to 3 share one record layout (whole records in 1 and 2, heads in 3).
    let entries: Vec<EntryRecord> =
        schema3::decode_table::<legacy::EntryRecordV3>(rows, table::ENTRIES)?
            .into_iter()
            .map(EntryRecord::from)
            .collect();
    let journal = || -> Result<Vec<JournalRecord>> {
        Ok(
            schema3::decode_table::<legacy::JournalRecordV3>(rows, table::UPLOADS)?
                .into_iter()
                .map(JournalRecord::from)
                .collect(),
        )
    };
    let mut out = Vec::new();
    for version in from..SCHEMA_VERSION {
        match version {
            1 => out.extend(codec::lru_rows(&entries)),
            // Whole records split into heads and rows, written in the current layout.
            2 => {
                out.extend(entries.iter().flat_map(schema3::entry_rows));
                out.extend(journal()?.iter().flat_map(schema3::journal_rows));
            }
            // Heads written again in the current layout (step 2 already did, from 2 or 1).
            3 if from == 3 => {
                out.extend(entries.iter().map(schema3::entry_head_row));
                out.extend(journal()?.iter().map(schema3::journal_head_row));
            }
            3 => {}
            other => unreachable!("plan() never asks to migrate from version {other}"),
        }
    }
    out.push(Write::Put(
        table::META,
        codec::SCHEMA_KEY.to_vec(),
        SCHEMA_VERSION.to_le_bytes().to_vec(),
    ));
    Ok(out)
}
