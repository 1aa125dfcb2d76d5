//! The sub-record rows of schema 3, and the read access the schema needs from a store.
//!
//! An entry's clean chunks and dirty extents and a journal record's multipart parts are rows
//! of their own, so that a commit that changes one chunk writes one small row:
//!
//! | table | key (big-endian) | value (then a CRC32C trailer) |
//! |---|---|---|
//! | `chunks` | entry id (8) + chunk index (8) | CRC32C of the chunk, u32 LE (4) |
//! | `extents` | entry id (8) + offset (8) | length u64 BE (8) + generation u64 BE (8) |
//! | `parts` | journal id (8) + part number (4) | postcard [`PartRow`] |
//!
//! Big-endian keys sort by record id, then by chunk index / offset / part number: one range
//! scan per record reads its rows in the order the core keeps its lists in. Chunk and extent
//! rows have a fixed size; a part row's size depends only on its ETag.

use crate::codec::{seal, unseal};
use crate::{IndexError, Result};
use serde::{Deserialize, Serialize};
use silt_core::{CleanChunk, DirtyExtent, EntryId, JournalId};

/// A visitor of rows (key, value): `Ok(false)` stops the scan.
pub(crate) type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool> + 'a;

/// Read access to the committed rows of a store (a redb transaction, a fjall snapshot).
pub(crate) trait Rows {
    /// The value at `key` in `table`.
    fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Calls `f` on every row of `table` whose key starts with `prefix`, in key order, until
    /// it returns `Ok(false)`.
    fn scan(&self, table: &'static str, prefix: &[u8], f: &mut Visit<'_>) -> Result<()>;

    /// The error for a row that does not decode.
    fn corrupt(&self, table: &str, key: &[u8], why: String) -> IndexError;
}

/// A multipart part as stored: the two lists of [`silt_core::MultipartProgress`] it appears
/// in (`parts_done`, `part_crcs`), each optional, so that any record round-trips.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartRow {
    /// The part's entry in `parts_done`: its ETag.
    pub etag: Option<String>,
    /// The part's entry in `part_crcs`.
    pub crc32c: Option<Option<u32>>,
}

/// Key of a row owned by record `id` at position `sub` (chunk index, offset).
pub(crate) fn sub_key(id: u64, sub: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&id.to_be_bytes());
    k[8..].copy_from_slice(&sub.to_be_bytes());
    k
}

/// Key of a `parts` row.
pub(crate) fn part_key(id: JournalId, number: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&id.0.to_be_bytes());
    k[8..].copy_from_slice(&number.to_be_bytes());
    k
}

/// (record id, position) of a `chunks` or `extents` key.
pub(crate) fn parse_sub_key(k: &[u8]) -> std::result::Result<(u64, u64), String> {
    let (a, b) = split_be(k, 16)?;
    Ok((
        a,
        u64::from_be_bytes(b.try_into().map_err(|_| "key length")?),
    ))
}

/// (journal id, part number) of a `parts` key.
pub(crate) fn parse_part_key(k: &[u8]) -> std::result::Result<(JournalId, u32), String> {
    let (a, b) = split_be(k, 12)?;
    Ok((
        JournalId(a),
        u32::from_be_bytes(b.try_into().map_err(|_| "key length")?),
    ))
}

/// The leading record id of a key of `len` bytes, and the rest.
fn split_be(k: &[u8], len: usize) -> std::result::Result<(u64, &[u8]), String> {
    if k.len() != len {
        return Err(format!("key of {} bytes, expected {len}", k.len()));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&k[..8]);
    Ok((u64::from_be_bytes(id), &k[8..]))
}

/// The record a row belongs to, for error messages: "entry 5, chunk 3"; `None` for a key
/// that is not one of the record tables' or does not parse.
pub(crate) fn describe(t: &str, key: &[u8]) -> Option<String> {
    use crate::codec::table;
    let id = |k: &[u8]| split_be(k, 8).ok().map(|(id, _)| id);
    match t {
        table::ENTRIES => id(key).map(|id| format!("entry {id}")),
        table::UPLOADS => id(key).map(|id| format!("journal record {id}")),
        table::CHUNKS => parse_sub_key(key)
            .ok()
            .map(|(id, i)| format!("entry {id}, chunk {i}")),
        table::EXTENTS => parse_sub_key(key)
            .ok()
            .map(|(id, o)| format!("entry {id}, dirty extent at offset {o}")),
        table::PARTS => parse_part_key(key)
            .ok()
            .map(|(id, n)| format!("journal record {id}, part {n}")),
        _ => None,
    }
}

/// The detail of a `Corrupt` error for a row: table, key and, where known, the record.
pub(crate) fn corrupt_detail(t: &str, key: &[u8], why: &str) -> String {
    let shown = crate::codec::show_key(key);
    match describe(t, key) {
        Some(record) => format!("table {t}, key {shown} ({record}): {why}"),
        None => format!("table {t}, key {shown}: {why}"),
    }
}

/// The value of a `chunks` row.
pub(crate) fn chunk_value(c: &CleanChunk) -> Vec<u8> {
    seal(c.crc32c.to_le_bytes().to_vec())
}

/// The value of an `extents` row.
pub(crate) fn extent_value(d: &DirtyExtent) -> Vec<u8> {
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(&d.len.to_be_bytes());
    body.extend_from_slice(&d.generation.to_be_bytes());
    seal(body)
}

/// The clean chunk of a `chunks` row.
pub(crate) fn decode_chunk(
    key: &[u8],
    value: &[u8],
) -> std::result::Result<(EntryId, CleanChunk), String> {
    let (id, index) = parse_sub_key(key)?;
    let body: [u8; 4] = unseal(value)?
        .try_into()
        .map_err(|_| format!("chunk row of {} bytes, expected 8", value.len()))?;
    Ok((
        EntryId(id),
        CleanChunk {
            index,
            crc32c: u32::from_le_bytes(body),
        },
    ))
}

/// The dirty extent of an `extents` row.
pub(crate) fn decode_extent(
    key: &[u8],
    value: &[u8],
) -> std::result::Result<(EntryId, DirtyExtent), String> {
    let (id, offset) = parse_sub_key(key)?;
    let body: [u8; 16] = unseal(value)?
        .try_into()
        .map_err(|_| format!("extent row of {} bytes, expected 20", value.len()))?;
    let (len, generation) = body.split_at(8);
    let be = |b: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        u64::from_be_bytes(a)
    };
    Ok((
        EntryId(id),
        DirtyExtent {
            offset,
            len: be(len),
            generation: be(generation),
        },
    ))
}

/// The part of a `parts` row.
pub(crate) fn decode_part(
    key: &[u8],
    value: &[u8],
) -> std::result::Result<(JournalId, u32, PartRow), String> {
    let (id, number) = parse_part_key(key)?;
    let row = crate::codec::decode(value)?;
    Ok((id, number, row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_damage_is_caught() {
        let c = CleanChunk {
            index: 7,
            crc32c: 0xdead_beef,
        };
        let k = sub_key(3, 7);
        let v = chunk_value(&c);
        assert_eq!(decode_chunk(&k, &v), Ok((EntryId(3), c)));
        let d = DirtyExtent {
            offset: 1 << 40,
            len: 4096,
            generation: 9,
        };
        let k = sub_key(3, d.offset);
        let v = extent_value(&d);
        assert_eq!(decode_extent(&k, &v), Ok((EntryId(3), d)));
        for i in 0..v.len() * 8 {
            let mut bad = v.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                decode_extent(&k, &bad).is_err(),
                "flip of bit {i} not caught"
            );
        }
        assert!(decode_chunk(
            &k[..15],
            &chunk_value(&CleanChunk {
                index: 0,
                crc32c: 0
            })
        )
        .is_err());
        let p = PartRow {
            etag: Some("\"e\"".into()),
            crc32c: Some(None),
        };
        let k = part_key(JournalId(2), 5);
        assert_eq!(
            decode_part(&k, &crate::codec::encode(&p)),
            Ok((JournalId(2), 5, p))
        );
    }

    #[test]
    fn keys_sort_by_record_then_position() {
        assert!(sub_key(1, u64::MAX) < sub_key(2, 0));
        assert!(sub_key(2, 255) < sub_key(2, 256));
        assert!(part_key(JournalId(1), u32::MAX) < part_key(JournalId(2), 1));
        assert!(part_key(JournalId(2), 255) < part_key(JournalId(2), 256));
    }
}
