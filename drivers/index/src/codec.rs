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
//! - `chunks`, `extents`, `parts` (schema 3): see [`crate::rows`]
//!
//! From schema 3, `entries` holds an entry's head ([`silt_core::EntryRecord::head`]: its
//! lists empty) and `uploads` a journal record's head ([`silt_core::JournalRecord::head`]).
//! - `meta`: `schema_version` (u32 little-endian, no CRC) and `counters` (a [`silt_core::Meta`])

use serde::de::DeserializeOwned;
use serde::Serialize;
use silt_core::{ConflictRecord, EntryId, EntryRecord, JournalId};

/// Table names (redb tables, fjall keyspaces).
pub(crate) mod table {
    pub const META: &str = "meta";
    pub const ENTRIES: &str = "entries";
    pub const UPLOADS: &str = "uploads";
    pub const CONFLICTS: &str = "conflicts";
    pub const LRU: &str = "lru";
    pub const CHUNKS: &str = "chunks";
    pub const EXTENTS: &str = "extents";
    pub const PARTS: &str = "parts";
}

/// Keys of the `meta` table.
pub(crate) const SCHEMA_KEY: &[u8] = b"schema_version";
pub(crate) const COUNTERS_KEY: &[u8] = b"counters";

/// Encodes a record with its CRC trailer.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs into a Vec cannot fail: no maps with non-string keys,
    // no sequences of unknown length.
    seal(postcard::to_allocvec(value).expect("records always serialise"))
}

/// Appends the CRC32C trailer to a value's body.
pub(crate) fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let crc = silt_core::crc32c::checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// The body of a sealed value, after checking its CRC trailer.
pub(crate) fn unseal(bytes: &[u8]) -> Result<&[u8], String> {
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
    Ok(body)
}

/// Decodes a record, checking its CRC trailer. `Err` says what is wrong, for a `Corrupt` error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let body = unseal(bytes)?;
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Write {
    /// Insert or replace `key` in `table`.
    Put(&'static str, Vec<u8>, Vec<u8>),
    /// Remove `key` from `table`.
    Delete(&'static str, Vec<u8>),
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
