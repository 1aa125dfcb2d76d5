//! How records and keys are laid out in the stores.
//!
//! Values: the record's postcard encoding followed by the CRC32C of those bytes (4 bytes,
//! little-endian). Every read checks the CRC, so a damaged record is reported as corruption
//! naming its table and key, never decoded into something plausible and wrong.
//!
//! Keys: big-endian, so that the stores' byte order is numeric order.
//! - `entries`: entry id (8 bytes)
//! - `uploads`: journal id (8 bytes)
//! - `conflicts`: entry id (8 bytes) + conflict key (UTF-8)
//! - `lru`: atime (8 bytes) + entry id (8 bytes), empty value (schema 2): the entries in
//!   least-recently-used order, kept in step with `entries` by every commit
//! - `meta`: `schema_version` (u32 little-endian, no CRC) and `counters` (a [`silt_core::Meta`])

use serde::de::DeserializeOwned;
use serde::Serialize;
use silt_core::{ConflictRecord, EntryId, EntryRecord, IndexOp, IndexTxn, JournalId};
use std::collections::HashMap;

/// Table names (redb tables, fjall keyspaces).
pub(crate) mod table {
    pub const META: &str = "meta";
    pub const ENTRIES: &str = "entries";
    pub const UPLOADS: &str = "uploads";
    pub const CONFLICTS: &str = "conflicts";
    pub const LRU: &str = "lru";
}

/// Keys of the `meta` table.
pub(crate) const SCHEMA_KEY: &[u8] = b"schema_version";
pub(crate) const COUNTERS_KEY: &[u8] = b"counters";

/// Encodes a record with its CRC trailer.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs into a Vec cannot fail: no maps with non-string keys,
    // no sequences of unknown length.
    let mut bytes = postcard::to_allocvec(value).expect("records always serialise");
    let crc = silt_core::crc32c::checksum(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// Decodes a record, checking its CRC trailer. `Err` says what is wrong, for a `Corrupt` error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let Some(split) = bytes.len().checked_sub(4) else {
        return Err(format!("record of {} bytes is too short", bytes.len()));
    };
    let (body, trailer) = bytes.split_at(split);
    let stored = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let actual = silt_core::crc32c::checksum(body);
    if stored != actual {
        return Err(format!(
            "record checksum mismatch (stored {stored:08x}, computed {actual:08x})"
        ));
    }
    let (value, rest) =
        postcard::take_from_bytes(body).map_err(|e| format!("record does not decode: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("record has {} trailing bytes", rest.len()));
    }
    Ok(value)
}

pub(crate) fn entry_key(id: EntryId) -> [u8; 8] {
    id.0.to_be_bytes()
}

pub(crate) fn upload_key(id: JournalId) -> [u8; 8] {
    id.0.to_be_bytes()
}

pub(crate) fn conflict_key(c: &ConflictRecord) -> Vec<u8> {
    let mut k = c.entry.0.to_be_bytes().to_vec();
    k.extend_from_slice(c.conflict_key.as_bytes());
    k
}

/// One write to a store, as the adapters apply it.
pub(crate) enum Write {
    /// Insert or replace `key` in `table`.
    Put(&'static str, Vec<u8>, Vec<u8>),
    /// Remove `key` from `table`.
    Delete(&'static str, Vec<u8>),
}

/// The writes that carry out `txns`, in order: the one mapping from the core's operations
/// to table rows, shared by the on-disk adapters. `stored_atime` reads the access time of an
/// entry as committed before these transactions (to move its `lru` row); changes made by
/// earlier operations of `txns` are tracked here.
///
/// Schema 2 stores whole records: the delta operations (`PutEntryHead`, `PutChunk`, ...) are
/// refused with `unsupported(op)`.
pub(crate) fn writes<E>(
    txns: &[&IndexTxn],
    mut stored_atime: impl FnMut(EntryId) -> Result<Option<u64>, E>,
    unsupported: impl Fn(&IndexOp) -> E,
) -> Result<Vec<Write>, E> {
    let mut atimes: HashMap<EntryId, Option<u64>> = HashMap::new();
    let mut out = Vec::new();
    for op in txns.iter().flat_map(|t| &t.ops) {
        match op {
            IndexOp::PutEntry(e) => {
                let old = match atimes.get(&e.id) {
                    Some(a) => *a,
                    None => stored_atime(e.id)?,
                };
                if let Some(old) = old {
                    out.push(Write::Delete(table::LRU, lru_key(old, e.id).to_vec()));
                }
                out.push(Write::Put(
                    table::LRU,
                    lru_key(e.atime, e.id).to_vec(),
                    vec![],
                ));
                out.push(Write::Put(
                    table::ENTRIES,
                    entry_key(e.id).to_vec(),
                    encode(e),
                ));
                atimes.insert(e.id, Some(e.atime));
            }
            IndexOp::DeleteEntry(id) => {
                let old = match atimes.get(id) {
                    Some(a) => *a,
                    None => stored_atime(*id)?,
                };
                if let Some(old) = old {
                    out.push(Write::Delete(table::LRU, lru_key(old, *id).to_vec()));
                }
                out.push(Write::Delete(table::ENTRIES, entry_key(*id).to_vec()));
                atimes.insert(*id, None);
            }
            IndexOp::PutJournal(j) => out.push(Write::Put(
                table::UPLOADS,
                upload_key(j.id).to_vec(),
                encode(j),
            )),
            IndexOp::DeleteJournal(id) => {
                out.push(Write::Delete(table::UPLOADS, upload_key(*id).to_vec()))
            }
            IndexOp::PutConflict(c) => {
                out.push(Write::Put(table::CONFLICTS, conflict_key(c), encode(c)))
            }
            IndexOp::PutMeta(m) => {
                out.push(Write::Put(table::META, COUNTERS_KEY.to_vec(), encode(m)))
            }
            IndexOp::PutEntryHead(_)
            | IndexOp::PutChunk(..)
            | IndexOp::DeleteChunk(..)
            | IndexOp::PutExtent(..)
            | IndexOp::DeleteExtent(..)
            | IndexOp::PutPart(..) => return Err(unsupported(op)),
        }
    }
    Ok(out)
}

/// The `lru` rows of `entries`, for the migration that introduced the table.
pub(crate) fn lru_rows(entries: &[EntryRecord]) -> Vec<Write> {
    entries
        .iter()
        .map(|e| Write::Put(table::LRU, lru_key(e.atime, e.id).to_vec(), vec![]))
        .collect()
}

pub(crate) fn lru_key(atime: u64, id: EntryId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&atime.to_be_bytes());
    k[8..].copy_from_slice(&id.0.to_be_bytes());
    k
}

/// (atime, entry id) of an `lru` key.
pub(crate) fn parse_lru_key(k: &[u8]) -> Result<(u64, EntryId), String> {
    if k.len() != 16 {
        return Err(format!("lru key of {} bytes, expected 16", k.len()));
    }
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&k[..8]);
    b.copy_from_slice(&k[8..]);
    Ok((u64::from_be_bytes(a), EntryId(u64::from_be_bytes(b))))
}

/// Renders a key for an error message.
pub(crate) fn show_key(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) if k.len() > 8 && s.chars().all(|c| !c.is_control()) => format!("{s:?}"),
        _ => k.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use silt_core::Meta;

    #[test]
    fn round_trip_and_every_single_bit_flip_is_caught() {
        let meta = Meta {
            next_id: 77,
            atime_clock: 1 << 40,
        };
        let bytes = encode(&meta);
        assert_eq!(decode::<Meta>(&bytes), Ok(meta));
        for i in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(decode::<Meta>(&bad).is_err(), "flip of bit {i} not caught");
        }
        assert!(decode::<Meta>(&bytes[..3]).is_err());
    }

    #[test]
    fn lru_keys_sort_by_atime_then_id() {
        assert!(lru_key(1, EntryId(9)) < lru_key(2, EntryId(1)));
        assert!(lru_key(2, EntryId(1)) < lru_key(2, EntryId(2)));
        assert_eq!(parse_lru_key(&lru_key(2, EntryId(1))), Ok((2, EntryId(1))));
        assert!(parse_lru_key(b"short").is_err());
    }
}
