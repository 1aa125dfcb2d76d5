//! Schema 3: the one mapping between the core's records and operations and the stores' rows,
//! shared by the on-disk adapters.
//!
//! An entry is its head row in `entries` plus one row per clean chunk (`chunks`) and per
//! dirty extent (`extents`); a journal record is its head row in `uploads` plus one row per
//! multipart part (`parts`). The delta operations write one row each; the full operations
//! replace a record's head and all its rows. [`writes`] turns transactions into rows exactly
//! as [`silt_core::Recovered::apply`] changes records, and the readers here assemble the
//! records again, with their lists sorted by key (chunk index, offset, part number).

use crate::codec::{self, table, Write};
use crate::rows::{self, PartRow, Rows};
use crate::{apply_status, Result};
use silt_core::{
    ConflictRecord, EntryId, EntryRecord, IndexOp, IndexTxn, JournalId, JournalRecord,
    JournalStatus, Meta, Recovered,
};
use std::collections::BTreeMap;

/// The rows a transaction has written so far, over the committed rows: reads see the
/// transaction's own writes, and each key is written once (the last write wins), which is
/// what every store's atomic batch can apply.
struct Overlay<'a, R: Rows> {
    rows: &'a R,
    pending: BTreeMap<(&'static str, Vec<u8>), Option<Vec<u8>>>,
}

impl<'a, R: Rows> Overlay<'a, R> {
    fn new(rows: &'a R) -> Self {
        Overlay {
            rows,
            pending: BTreeMap::new(),
        }
    }

    fn get(&self, t: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.pending.get(&(t, key.to_vec())) {
            Some(v) => Ok(v.clone()),
            None => self.rows.get(t, key),
        }
    }

    fn decoded<T: serde::de::DeserializeOwned>(
        &self,
        t: &'static str,
        key: &[u8],
    ) -> Result<Option<T>> {
        match self.get(t, key)? {
            Some(v) => codec::decode(&v)
                .map(Some)
                .map_err(|why| self.rows.corrupt(t, key, why)),
            None => Ok(None),
        }
    }

    fn put(&mut self, t: &'static str, key: Vec<u8>, value: Vec<u8>) {
        self.pending.insert((t, key), Some(value));
    }

    fn delete(&mut self, t: &'static str, key: Vec<u8>) {
        self.pending.insert((t, key), None);
    }

    /// Makes `rows` the rows of `t` under `prefix` (keys and values): writes the rows that are
    /// new or differ, deletes those not in `rows`, and leaves the equal ones alone, so that
    /// replacing a whole record writes only what changed. Sees the rows this transaction
    /// wrote as well as committed ones.
    fn replace_prefix(
        &mut self,
        t: &'static str,
        prefix: &[u8],
        rows: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<()> {
        let mut current: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        self.rows.scan(t, prefix, &mut |k, v| {
            current.insert(k.to_vec(), v.to_vec());
            Ok(true)
        })?;
        for ((_, k), v) in self
            .pending
            .range((t, prefix.to_vec())..)
            .take_while(|((tt, k), _)| *tt == t && k.starts_with(prefix))
        {
            match v {
                Some(v) => current.insert(k.clone(), v.clone()),
                None => current.remove(k),
            };
        }
        for (k, v) in rows {
            if current.remove(&k).as_ref() != Some(&v) {
                self.put(t, k, v);
            }
        }
        for k in current.into_keys() {
            self.delete(t, k);
        }
        Ok(())
    }

    /// Moves entry `id`'s `lru` row from its stored access time to `atime` (`None`: removes it).
    fn move_lru(&mut self, id: EntryId, atime: Option<u64>) -> Result<()> {
        let key = codec::entry_key(id);
        if let Some(old) = self.decoded::<EntryRecord>(table::ENTRIES, &key)? {
            self.delete(table::LRU, codec::lru_key(old.atime, id).to_vec());
        }
        if let Some(a) = atime {
            self.put(table::LRU, codec::lru_key(a, id).to_vec(), vec![]);
        }
        Ok(())
    }

    fn into_writes(self) -> Vec<Write> {
        self.pending
            .into_iter()
            .map(|((t, k), v)| match v {
                Some(v) => Write::Put(t, k, v),
                None => Write::Delete(t, k),
            })
            .collect()
    }
}

/// The `chunks` rows of a whole entry.
fn chunk_rows(e: &EntryRecord) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    e.clean_chunks.iter().map(|c| {
        (
            rows::sub_key(e.id.0, c.index).to_vec(),
            rows::chunk_value(c),
        )
    })
}

/// The `extents` rows of a whole entry.
fn extent_rows(e: &EntryRecord) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    e.dirty.iter().map(|d| {
        (
            rows::sub_key(e.id.0, d.offset).to_vec(),
            rows::extent_value(d),
        )
    })
}

/// The head row and the chunk and extent rows of a whole entry (not its `lru` row).
pub(crate) fn entry_rows(e: &EntryRecord) -> Vec<Write> {
    let mut out = vec![entry_head_row(e)];
    out.extend(chunk_rows(e).map(|(k, v)| Write::Put(table::CHUNKS, k, v)));
    out.extend(extent_rows(e).map(|(k, v)| Write::Put(table::EXTENTS, k, v)));
    out
}

/// The `entries` row of an entry: its head.
pub(crate) fn entry_head_row(e: &EntryRecord) -> Write {
    Write::Put(
        table::ENTRIES,
        codec::entry_key(e.id).to_vec(),
        codec::encode(&e.head()),
    )
}

/// The `uploads` row of a journal record: its head.
pub(crate) fn journal_head_row(j: &JournalRecord) -> Write {
    Write::Put(
        table::UPLOADS,
        codec::upload_key(j.id).to_vec(),
        codec::encode(&j.head()),
    )
}

/// The head row and the part rows of a whole journal record.
pub(crate) fn journal_rows(j: &JournalRecord) -> Vec<Write> {
    let mut out = vec![journal_head_row(j)];
    out.extend(part_rows(j).map(|(k, v)| Write::Put(table::PARTS, k, v)));
    out
}

/// The `parts` rows of a whole journal record.
fn part_rows(j: &JournalRecord) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> {
    let mut parts: BTreeMap<u32, PartRow> = BTreeMap::new();
    if let Some(mp) = &j.multipart {
        for (n, etag) in &mp.parts_done {
            parts.entry(*n).or_default().etag = Some(etag.clone());
        }
        for (n, crc) in &mp.part_crcs {
            parts.entry(*n).or_default().crc32c = Some(*crc);
        }
    }
    let id = j.id;
    parts
        .into_iter()
        .map(move |(n, row)| (rows::part_key(id, n).to_vec(), codec::encode(&row)))
}

/// The writes that carry out `txns` over the committed `rows`, as
/// [`silt_core::Recovered::apply`] would change the records: one write per key.
pub(crate) fn writes(txns: &[&IndexTxn], rows: &impl Rows) -> Result<Vec<Write>> {
    let mut o = Overlay::new(rows);
    for op in txns.iter().flat_map(|t| &t.ops) {
        match op {
            IndexOp::PutEntry(e) => {
                o.move_lru(e.id, Some(e.atime))?;
                let key = codec::entry_key(e.id);
                o.put(table::ENTRIES, key.to_vec(), codec::encode(&e.head()));
                o.replace_prefix(table::CHUNKS, &key, chunk_rows(e))?;
                o.replace_prefix(table::EXTENTS, &key, extent_rows(e))?;
            }
            IndexOp::DeleteEntry(id) => {
                o.move_lru(*id, None)?;
                let key = codec::entry_key(*id);
                o.delete(table::ENTRIES, key.to_vec());
                o.replace_prefix(table::CHUNKS, &key, [])?;
                o.replace_prefix(table::EXTENTS, &key, [])?;
            }
            IndexOp::PutEntryHead(h) => {
                o.move_lru(h.id, Some(h.atime))?;
                o.put(
                    table::ENTRIES,
                    codec::entry_key(h.id).to_vec(),
                    codec::encode(&h.head()),
                );
            }
            IndexOp::PutChunk(id, c) => {
                if o.get(table::ENTRIES, &codec::entry_key(*id))?.is_some() {
                    o.put(
                        table::CHUNKS,
                        rows::sub_key(id.0, c.index).to_vec(),
                        rows::chunk_value(c),
                    );
                }
            }
            IndexOp::DeleteChunk(id, index) => {
                o.delete(table::CHUNKS, rows::sub_key(id.0, *index).to_vec())
            }
            IndexOp::PutExtent(id, d) => {
                if o.get(table::ENTRIES, &codec::entry_key(*id))?.is_some() {
                    o.put(
                        table::EXTENTS,
                        rows::sub_key(id.0, d.offset).to_vec(),
                        rows::extent_value(d),
                    );
                }
            }
            IndexOp::DeleteExtent(id, offset) => {
                o.delete(table::EXTENTS, rows::sub_key(id.0, *offset).to_vec())
            }
            IndexOp::PutJournal(j) => {
                let key = codec::upload_key(j.id);
                o.put(table::UPLOADS, key.to_vec(), codec::encode(&j.head()));
                o.replace_prefix(table::PARTS, &key, part_rows(j))?;
            }
            IndexOp::DeleteJournal(id) => {
                let key = codec::upload_key(*id);
                o.delete(table::UPLOADS, key.to_vec());
                o.replace_prefix(table::PARTS, &key, [])?;
            }
            IndexOp::PutPart(id, p) => {
                let head: Option<JournalRecord> =
                    o.decoded(table::UPLOADS, &codec::upload_key(*id))?;
                if head.is_some_and(|j| j.multipart.is_some()) {
                    let row = PartRow {
                        etag: Some(p.etag.clone()),
                        crc32c: Some(p.crc32c),
                    };
                    o.put(
                        table::PARTS,
                        rows::part_key(*id, p.number).to_vec(),
                        codec::encode(&row),
                    );
                }
            }
            IndexOp::PutConflict(c) => {
                o.put(table::CONFLICTS, codec::conflict_key(c), codec::encode(c))
            }
            IndexOp::PutMeta(m) => {
                o.put(table::META, codec::COUNTERS_KEY.to_vec(), codec::encode(m))
            }
        }
    }
    Ok(o.into_writes())
}

/// The writes of [`crate::CacheIndex::update_upload_status`]: the head row only. `None` if
/// there is no such record.
pub(crate) fn status_writes(
    rows: &impl Rows,
    id: JournalId,
    status: JournalStatus,
    last_error: Option<String>,
) -> Result<Option<Vec<Write>>> {
    let key = codec::upload_key(id);
    let Some(mut head) = decode_at::<JournalRecord>(rows, table::UPLOADS, &key)? else {
        return Ok(None);
    };
    apply_status(&mut head, status, last_error);
    Ok(Some(vec![Write::Put(
        table::UPLOADS,
        key.to_vec(),
        codec::encode(&head),
    )]))
}

/// The record at `key` of `table`, decoded.
pub(crate) fn decode_at<T: serde::de::DeserializeOwned>(
    rows: &impl Rows,
    t: &'static str,
    key: &[u8],
) -> Result<Option<T>> {
    match rows.get(t, key)? {
        Some(v) => codec::decode(&v)
            .map(Some)
            .map_err(|why| rows.corrupt(t, key, why)),
        None => Ok(None),
    }
}

/// Every record of a table of whole records, in key order.
pub(crate) fn decode_table<T: serde::de::DeserializeOwned>(
    rows: &impl Rows,
    t: &'static str,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    rows.scan(t, &[], &mut |k, v| {
        out.push(codec::decode(v).map_err(|why| rows.corrupt(t, k, why))?);
        Ok(true)
    })?;
    Ok(out)
}

/// The clean chunks of entry `id`, by chunk index (`None`: no such entry).
pub(crate) fn chunks(rows: &impl Rows, id: EntryId) -> Result<Option<Vec<silt_core::CleanChunk>>> {
    let key = codec::entry_key(id);
    if rows.get(table::ENTRIES, &key)?.is_none() {
        return Ok(None);
    }
    let mut out = Vec::new();
    rows.scan(table::CHUNKS, &key, &mut |k, v| {
        let (_, c) = rows::decode_chunk(k, v).map_err(|why| rows.corrupt(table::CHUNKS, k, why))?;
        out.push(c);
        Ok(true)
    })?;
    Ok(Some(out))
}

/// Entry `id` with its chunks and extents.
pub(crate) fn get_entry(rows: &impl Rows, id: EntryId) -> Result<Option<EntryRecord>> {
    let key = codec::entry_key(id);
    let Some(e) = decode_at::<EntryRecord>(rows, table::ENTRIES, &key)? else {
        return Ok(None);
    };
    let mut all = vec![e];
    attach_entry_rows(rows, &key, &mut all)?;
    Ok(all.pop())
}

/// Journal record `id` with its parts.
pub(crate) fn get_upload(rows: &impl Rows, id: JournalId) -> Result<Option<JournalRecord>> {
    let key = codec::upload_key(id);
    let Some(j) = decode_at::<JournalRecord>(rows, table::UPLOADS, &key)? else {
        return Ok(None);
    };
    let mut all = vec![j];
    attach_parts(rows, &key, &mut all)?;
    Ok(all.pop())
}

/// Every journal record with its parts, by id.
pub(crate) fn list_uploads(rows: &impl Rows) -> Result<Vec<JournalRecord>> {
    let mut all = decode_table(rows, table::UPLOADS)?;
    attach_parts(rows, &[], &mut all)?;
    Ok(all)
}

/// Up to `limit` (atime, entry id) from `lru`, oldest first.
pub(crate) fn list_lru(rows: &impl Rows, limit: usize) -> Result<Vec<(u64, EntryId)>> {
    let mut out = Vec::with_capacity(limit.min(1024));
    if limit == 0 {
        return Ok(out);
    }
    rows.scan(table::LRU, &[], &mut |k, _| {
        out.push(codec::parse_lru_key(k).map_err(|why| rows.corrupt(table::LRU, k, why))?);
        Ok(out.len() < limit)
    })?;
    Ok(out)
}

/// The counters (default in a new index).
pub(crate) fn meta(rows: &impl Rows) -> Result<Meta> {
    Ok(decode_at(rows, table::META, codec::COUNTERS_KEY)?.unwrap_or_default())
}

/// Every conflict record.
pub(crate) fn list_conflicts(rows: &impl Rows) -> Result<Vec<ConflictRecord>> {
    decode_table(rows, table::CONFLICTS)
}

/// Everything, assembled: what [`crate::CacheIndex::load`] returns.
pub(crate) fn load(rows: &impl Rows) -> Result<Recovered> {
    let mut entries = decode_table(rows, table::ENTRIES)?;
    attach_entry_rows(rows, &[], &mut entries)?;
    Ok(Recovered {
        entries,
        journal: list_uploads(rows)?,
        conflicts: list_conflicts(rows)?,
        meta: meta(rows)?,
    })
}

/// Finds the record with id `id` in `records` (sorted by id) at or after `*at`, moving `*at`
/// there: the rows of a scan come in id order, so one pass merges them.
fn seek<T>(records: &[T], at: &mut usize, id: u64, id_of: impl Fn(&T) -> u64) -> Option<usize> {
    while *at < records.len() && id_of(&records[*at]) < id {
        *at += 1;
    }
    (*at < records.len() && id_of(&records[*at]) == id).then_some(*at)
}

/// Adds the chunk and extent rows under `prefix` to `entries` (sorted by id). A row of an
/// entry that has no head is corruption: it was never written so.
fn attach_entry_rows(rows: &impl Rows, prefix: &[u8], entries: &mut [EntryRecord]) -> Result<()> {
    let orphan = |id: EntryId| format!("row of entry {id}, which has no head row");
    let mut at = 0;
    rows.scan(table::CHUNKS, prefix, &mut |k, v| {
        let (id, c) =
            rows::decode_chunk(k, v).map_err(|why| rows.corrupt(table::CHUNKS, k, why))?;
        let i = seek(entries, &mut at, id.0, |e| e.id.0)
            .ok_or_else(|| rows.corrupt(table::CHUNKS, k, orphan(id)))?;
        entries[i].clean_chunks.push(c);
        Ok(true)
    })?;
    let mut at = 0;
    rows.scan(table::EXTENTS, prefix, &mut |k, v| {
        let (id, d) =
            rows::decode_extent(k, v).map_err(|why| rows.corrupt(table::EXTENTS, k, why))?;
        let i = seek(entries, &mut at, id.0, |e| e.id.0)
            .ok_or_else(|| rows.corrupt(table::EXTENTS, k, orphan(id)))?;
        entries[i].dirty.push(d);
        Ok(true)
    })
}

/// Adds the part rows under `prefix` to `journal` (sorted by id). A part of a record that
/// does not exist or has no multipart upload is corruption.
fn attach_parts(rows: &impl Rows, prefix: &[u8], journal: &mut [JournalRecord]) -> Result<()> {
    let mut at = 0;
    rows.scan(table::PARTS, prefix, &mut |k, v| {
        let (id, number, row) =
            rows::decode_part(k, v).map_err(|why| rows.corrupt(table::PARTS, k, why))?;
        let mp = seek(journal, &mut at, id.0, |j| j.id.0)
            .and_then(|i| journal[i].multipart.as_mut())
            .ok_or_else(|| {
                rows.corrupt(
                    table::PARTS,
                    k,
                    format!("part of journal record {id}, which has no multipart upload"),
                )
            })?;
        if let Some(etag) = row.etag {
            mp.parts_done.push((number, etag));
        }
        if let Some(crc) = row.crc32c {
            mp.part_crcs.push((number, crc));
        }
        Ok(true)
    })
}

#[cfg(test)]
#[path = "schema3_tests.rs"]
mod tests;
