//! Sample records for the index tests and the schema fixtures: deterministic, covering every
//! field and variant, with hostile keys. Shared by the tests and `examples/write_fixture.rs`.

#![allow(dead_code)]

use silt_core::{
    BaseVersion, CleanChunk, ConflictRecord, DirtyExtent, EntryId, EntryRecord, IndexOp, IndexTxn,
    Instant, JournalId, JournalOp, JournalRecord, JournalStatus, Meta, MultipartProgress,
    PartRecord, Precondition, Recovered, Rng,
};

/// Object keys no file system would accept as names.
pub const HOSTILE_KEYS: [&str; 4] = ["../../etc/passwd", "a\\b:c\0d", "dir/", "ü"];

/// A key of 1 KiB of multi-byte UTF-8.
pub fn long_key() -> String {
    "ключ".repeat(128)
}

/// An entry with `chunks` clean chunks and a few dirty extents.
pub fn entry(id: u64, atime: u64, chunks: u64) -> EntryRecord {
    let key = match id % 5 {
        4 => long_key(),
        i => format!("{}-{id}", HOSTILE_KEYS[i as usize]),
    };
    EntryRecord {
        id: EntryId(id),
        key: (id % 7 != 3).then(|| key.clone()),
        remote_key: (id % 2 == 0).then_some(key),
        base: (id % 3 != 0).then(|| BaseVersion {
            etag: format!("\"etag-{id}\""),
            size: chunks << 20,
            mtime_ms: 1_700_000_000_000 + id,
        }),
        target_precondition: if id % 2 == 0 {
            Precondition::IfMatch(format!("\"etag-{id}\""))
        } else {
            Precondition::IfNoneMatch
        },
        local_size: chunks << 20,
        generation: id * 3,
        dirty: (0..id % 4)
            .map(|i| DirtyExtent {
                offset: i * 10_000,
                len: 4096,
                generation: i,
            })
            .collect(),
        clean_chunks: (0..chunks)
            .map(|i| CleanChunk {
                index: i,
                crc32c: (i as u32).wrapping_mul(2_654_435_761),
            })
            .collect(),
        atime,
        mtime_ms: None,
    }
}

/// A journal record of every op and status variety, depending on `id`.
pub fn journal(id: u64) -> JournalRecord {
    let op = if id % 2 == 0 {
        JournalOp::Upload {
            entry: EntryId(id / 2),
        }
    } else {
        JournalOp::Delete {
            etag: (id % 3 == 0).then(|| format!("\"gone-{id}\"")),
            vacated_by: (id % 5 == 0).then_some(EntryId(id)),
        }
    };
    JournalRecord {
        id: JournalId(id),
        path: format!("{}/{id}", HOSTILE_KEYS[(id % 4) as usize]),
        offset: 0,
        len: id * 1000,
        status: match id % 3 {
            0 => JournalStatus::Queued,
            1 => JournalStatus::InProgress,
            _ => JournalStatus::RetryWait,
        },
        attempts: (id % 4) as u32,
        last_error: (id % 4 != 0).then(|| format!("503 SlowDown #{id}")),
        op,
        base_etag: (id % 2 == 0).then(|| format!("\"base-{id}\"")),
        source_key: (id % 3 == 0).then(long_key),
        generation: id,
        precondition: if id % 2 == 0 {
            Precondition::IfMatch(format!("\"base-{id}\""))
        } else {
            Precondition::IfNoneMatch
        },
        token: format!("silt-{id:016x}"),
        multipart: (id % 4 == 2).then(|| MultipartProgress {
            upload_id: format!("upload-{id}"),
            part_size: 8 << 20,
            parts_done: vec![(1, "\"p1\"".into()), (2, "\"p2\"".into())],
            part_crcs: vec![(1, Some(0xdead_beef)), (2, None)],
        }),
        next_attempt: Instant::from_millis(id * 250),
        mtime_ms: None,
    }
}

/// A conflict record.
pub fn conflict(entry: u64) -> ConflictRecord {
    ConflictRecord {
        entry: EntryId(entry),
        original_key: format!("docs/{entry}.txt"),
        conflict_key: format!("docs/{entry}.txt.silt-conflict-{entry}"),
        remote_etag: (entry % 2 == 0).then(|| format!("\"remote-{entry}\"")),
        detected_at: Instant::from_millis(entry * 1000),
        missing: vec![(0, 4096), (1 << 20, 512)],
    }
}

/// The records of the schema fixtures: every record kind, several of each.
pub fn fixture_records() -> Recovered {
    let mut r = Recovered::default();
    r.apply(&IndexTxn {
        ops: (1..=12)
            .map(|i| IndexOp::PutEntry(entry(i, 100 - i, i % 4 * 3)))
            .chain((1..=9).map(|i| IndexOp::PutJournal(journal(i))))
            .chain([2, 5, 7].map(|i| IndexOp::PutConflict(conflict(i))))
            .chain([IndexOp::PutMeta(Meta {
                next_id: 40,
                atime_clock: 1000,
            })])
            .collect(),
    });
    r
}

/// A random transaction over a small id space, so that puts, replacements and deletes meet.
pub fn random_txn(rng: &mut Rng) -> IndexTxn {
    let n = 1 + rng.below(6);
    IndexTxn {
        ops: (0..n)
            .map(|_| {
                let id = rng.below(24);
                match rng.below(7) {
                    0 | 1 => IndexOp::PutEntry(entry(id, rng.below(1000), rng.below(5))),
                    2 => IndexOp::DeleteEntry(EntryId(id)),
                    3 => IndexOp::PutJournal(journal(id)),
                    4 => IndexOp::DeleteJournal(JournalId(id)),
                    5 => IndexOp::PutConflict(conflict(id)),
                    _ => IndexOp::PutMeta(Meta {
                        next_id: rng.below(1 << 40),
                        atime_clock: rng.next_u64(),
                    }),
                }
            })
            .collect(),
    }
}

/// One transaction that stores everything in `r`.
pub fn txn_storing(r: &Recovered) -> IndexTxn {
    IndexTxn {
        ops: r
            .entries
            .iter()
            .cloned()
            .map(IndexOp::PutEntry)
            .chain(r.journal.iter().cloned().map(IndexOp::PutJournal))
            .chain(r.conflicts.iter().cloned().map(IndexOp::PutConflict))
            .chain([IndexOp::PutMeta(r.meta.clone())])
            .collect(),
    }
}

/// A random transaction of whole and delta operations over a small id space (entries and
/// journal records 0..8, chunk indexes and offsets 0..16, part numbers 1..=10), so that heads,
/// sub-records, replacements and deletes meet, also within one transaction.
pub fn random_delta_txn(rng: &mut Rng) -> IndexTxn {
    let n = 1 + rng.below(8);
    IndexTxn {
        ops: (0..n)
            .map(|_| {
                let id = rng.below(8);
                let slot = rng.below(16);
                match rng.below(16) {
                    0 => IndexOp::PutEntry(entry(id, rng.below(1000), rng.below(6))),
                    1 => IndexOp::DeleteEntry(EntryId(id)),
                    2 | 3 => IndexOp::PutEntryHead(entry(id, rng.below(1000), rng.below(3))),
                    4 | 5 => IndexOp::PutChunk(
                        EntryId(id),
                        CleanChunk {
                            index: slot,
                            crc32c: rng.next_u64() as u32,
                        },
                    ),
                    6 => IndexOp::DeleteChunk(EntryId(id), slot),
                    7 | 8 => IndexOp::PutExtent(
                        EntryId(id),
                        DirtyExtent {
                            offset: slot * 10_000,
                            len: 1 + rng.below(1 << 20),
                            generation: rng.below(50),
                        },
                    ),
                    9 => IndexOp::DeleteExtent(EntryId(id), slot * 10_000),
                    10 => IndexOp::PutJournal(journal(id)),
                    11 => IndexOp::DeleteJournal(JournalId(id)),
                    12..=14 => IndexOp::PutPart(
                        JournalId(id),
                        PartRecord {
                            number: 1 + rng.below(10) as u32,
                            etag: format!("\"part-{}\"", rng.below(1 << 20)),
                            crc32c: (rng.below(3) != 0).then(|| rng.next_u64() as u32),
                        },
                    ),
                    _ => IndexOp::PutMeta(Meta {
                        next_id: rng.below(1 << 40),
                        atime_clock: rng.next_u64(),
                    }),
                }
            })
            .collect(),
    }
}
