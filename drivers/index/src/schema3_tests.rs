//! Unit tests of the schema-3 mapping over an in-memory table map: what each operation
//! writes, and that the bytes a delta writes do not grow with the record.

use super::*;
use crate::rows::Visit;
use crate::IndexError;
use silt_core::{
    CleanChunk, DirtyExtent, Instant, JournalOp, MultipartProgress, PartRecord, Precondition,
};

/// Tables as ordered maps.
#[derive(Default)]
struct MapRows(BTreeMap<(&'static str, Vec<u8>), Vec<u8>>);

impl Rows for MapRows {
    fn get(&self, t: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(&(t, key.to_vec())).cloned())
    }

    fn scan(&self, t: &'static str, prefix: &[u8], f: &mut Visit<'_>) -> Result<()> {
        for ((_, k), v) in self
            .0
            .range((t, prefix.to_vec())..)
            .take_while(|((tt, k), _)| *tt == t && k.starts_with(prefix))
        {
            if !f(k, v)? {
                break;
            }
        }
        Ok(())
    }

    fn corrupt(&self, t: &str, key: &[u8], why: String) -> IndexError {
        IndexError::Corrupt {
            path: "map".into(),
            detail: format!("table {t}, key {}: {why}", codec::show_key(key)),
        }
    }
}

impl MapRows {
    fn commit(&mut self, ops: Vec<IndexOp>) -> Vec<Write> {
        let txn = IndexTxn { ops };
        let w = writes(&[&txn], self).expect("writes");
        self.apply(w.clone());
        w
    }

    fn apply(&mut self, w: Vec<Write>) {
        for w in w {
            match w {
                Write::Put(t, k, v) => {
                    self.0.insert((t, k), v);
                }
                Write::Delete(t, k) => {
                    self.0.remove(&(t, k));
                }
            }
        }
    }
}

fn entry(id: u64, chunks: u64) -> EntryRecord {
    EntryRecord {
        id: EntryId(id),
        key: Some(format!("k{id}")),
        remote_key: None,
        base: None,
        target_precondition: Precondition::IfNoneMatch,
        local_size: chunks << 20,
        generation: 1,
        dirty: vec![DirtyExtent {
            offset: 10,
            len: 5,
            generation: 1,
        }],
        clean_chunks: (0..chunks)
            .map(|index| CleanChunk {
                index,
                crc32c: index as u32 * 7,
            })
            .collect(),
        atime: id,
        mtime_ms: None,
    }
}

fn upload(id: u64, parts: u32) -> JournalRecord {
    JournalRecord {
        id: JournalId(id),
        path: "p".into(),
        offset: 0,
        len: 1,
        status: JournalStatus::InProgress,
        attempts: 0,
        last_error: None,
        op: JournalOp::Upload { entry: EntryId(id) },
        base_etag: None,
        source_key: None,
        generation: 1,
        precondition: Precondition::IfNoneMatch,
        token: "t".into(),
        multipart: Some(MultipartProgress {
            upload_id: "u".into(),
            part_size: 5 << 20,
            parts_done: (1..=parts).map(|n| (n, format!("\"{n:08}\""))).collect(),
            part_crcs: (1..=parts).map(|n| (n, Some(n))).collect(),
        }),
        next_attempt: Instant::from_millis(0),
        mtime_ms: None,
    }
}

/// Sum of key and value bytes of the writes to `t`.
fn bytes_to(w: &[Write], t: &str) -> (usize, usize) {
    let mut rows = 0;
    let mut bytes = 0;
    for w in w {
        if let Write::Put(tt, k, v) = w {
            if *tt == t {
                rows += 1;
                bytes += k.len() + v.len();
            }
        }
    }
    (rows, bytes)
}

#[test]
fn a_delta_writes_the_same_bytes_however_large_the_record() {
    let mut per_chunk = Vec::new();
    let mut per_extent = Vec::new();
    let mut per_head = Vec::new();
    let mut per_part = Vec::new();
    for n in [1u64, 100, 10_000] {
        let mut m = MapRows::default();
        m.commit(vec![
            IndexOp::PutEntry(entry(1, n)),
            IndexOp::PutJournal(upload(1, n as u32)),
        ]);
        let w = m.commit(vec![IndexOp::PutChunk(
            EntryId(1),
            CleanChunk {
                index: n / 2,
                crc32c: 0xffff_ffff,
            },
        )]);
        assert_eq!(w.len(), 1, "a chunk is one row");
        per_chunk.push(bytes_to(&w, table::CHUNKS));
        let w = m.commit(vec![IndexOp::PutExtent(
            EntryId(1),
            DirtyExtent {
                offset: n << 20,
                len: u64::MAX,
                generation: 3,
            },
        )]);
        assert_eq!(w.len(), 1, "an extent is one row");
        per_extent.push(bytes_to(&w, table::EXTENTS));
        // A new head (touch): the head and the lru row move, no chunk or extent row. (The
        // head's own size depends only on its own fields, here the same each time.)
        let w = m.commit(vec![IndexOp::PutEntryHead(EntryRecord {
            atime: 1000,
            local_size: 1 << 40,
            ..entry(1, n)
        })]);
        assert_eq!(
            bytes_to(&w, table::CHUNKS).0 + bytes_to(&w, table::EXTENTS).0,
            0
        );
        assert_eq!(w.len(), 3, "head, old lru row deleted, new lru row: {w:?}");
        per_head.push(bytes_to(&w, table::ENTRIES));
        let w = m.commit(vec![IndexOp::PutPart(
            JournalId(1),
            PartRecord {
                number: n as u32 + 1,
                etag: "\"00000000\"".into(),
                crc32c: Some(u32::MAX),
            },
        )]);
        assert_eq!(w.len(), 1, "a part is one row");
        per_part.push(bytes_to(&w, table::PARTS));
    }
    assert_eq!(per_chunk, vec![(1, 16 + 8); 3]);
    assert_eq!(per_extent, vec![(1, 16 + 20); 3]);
    assert!(per_head.windows(2).all(|w| w[0] == w[1]), "{per_head:?}");
    assert!(per_part.windows(2).all(|w| w[0] == w[1]), "{per_part:?}");
}

#[test]
fn whole_records_replace_all_their_rows_and_deletes_remove_them() {
    let mut m = MapRows::default();
    m.commit(vec![
        IndexOp::PutEntry(entry(1, 5)),
        IndexOp::PutEntry(entry(2, 3)),
        IndexOp::PutJournal(upload(1, 4)),
        IndexOp::PutJournal(upload(2, 2)),
    ]);
    m.commit(vec![
        IndexOp::PutEntry(entry(1, 2)),
        IndexOp::PutJournal(upload(1, 1)),
    ]);
    assert_eq!(get_entry(&m, EntryId(1)).expect("get"), Some(entry(1, 2)));
    assert_eq!(get_entry(&m, EntryId(2)).expect("get"), Some(entry(2, 3)));
    assert_eq!(
        get_upload(&m, JournalId(1)).expect("get"),
        Some(upload(1, 1))
    );
    m.commit(vec![
        IndexOp::DeleteEntry(EntryId(1)),
        IndexOp::DeleteJournal(JournalId(1)),
    ]);
    let left: Vec<_> = m.0.keys().map(|(t, k)| (*t, k.clone())).collect();
    assert!(
        left.iter()
            .all(|(t, k)| *t == table::LRU || !k.starts_with(&1u64.to_be_bytes())),
        "rows of deleted records left: {left:?}"
    );
    let r = load(&m).expect("load");
    assert_eq!(r.entries, vec![entry(2, 3)]);
    assert_eq!(r.journal, vec![upload(2, 2)]);
}

#[test]
fn orphan_and_damaged_rows_are_corruption_naming_the_row() {
    let mut m = MapRows::default();
    m.commit(vec![
        IndexOp::PutEntry(entry(1, 3)),
        IndexOp::PutJournal(upload(1, 2)),
    ]);
    // A chunk row of an entry with no head.
    m.0.insert(
        (table::CHUNKS, rows::sub_key(9, 0).to_vec()),
        rows::chunk_value(&CleanChunk {
            index: 0,
            crc32c: 1,
        }),
    );
    let err = load(&m).expect_err("orphan");
    assert!(err.to_string().contains("table chunks"), "{err}");
    assert!(err.to_string().contains("no head row"), "{err}");
    m.0.remove(&(table::CHUNKS, rows::sub_key(9, 0).to_vec()));
    // A damaged part row.
    let key = (table::PARTS, rows::part_key(JournalId(1), 2).to_vec());
    let v = m.0.get_mut(&key).expect("part row");
    v[0] ^= 1;
    let err = get_upload(&m, JournalId(1)).expect_err("damaged part");
    let shown = err.to_string();
    assert!(shown.contains("table parts"), "{shown}");
    assert!(shown.contains("checksum"), "{shown}");
}

#[test]
fn a_whole_entry_writes_only_the_rows_that_changed() {
    let mut m = MapRows::default();
    m.commit(vec![IndexOp::PutEntry(entry(1, 1000))]);
    let mut e = entry(1, 1000);
    e.clean_chunks[500].crc32c ^= 1;
    e.clean_chunks.remove(7);
    let w = m.commit(vec![IndexOp::PutEntry(e.clone())]);
    let chunk_writes: Vec<_> = w
        .iter()
        .filter(|w| matches!(w, Write::Put(t, ..) | Write::Delete(t, _) if *t == table::CHUNKS))
        .collect();
    assert_eq!(
        chunk_writes.len(),
        2,
        "one changed, one removed: {chunk_writes:?}"
    );
    assert!(
        bytes_to(&w, table::EXTENTS).0 == 0,
        "the extents did not change"
    );
    assert_eq!(get_entry(&m, EntryId(1)).expect("get"), Some(e));
}
