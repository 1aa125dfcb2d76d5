//! The conformance suite: every case runs against every adapter (memory, redb, fjall)
//! through the `CacheIndex` trait alone. An adapter is correct when it behaves exactly as
//! `Recovered::apply`, the core's own model of a committed transaction.

mod support;

use silt_core::{
    CleanChunk, DirtyExtent, EntryId, EntryRecord, IndexOp, IndexTxn, JournalId, JournalStatus,
    Meta, PartRecord, Recovered, Rng,
};
use silt_index::{open, CacheIndex, GroupCommit, MemoryIndex, OpenOptions};
use std::sync::Arc;
use support::records::{conflict, entry, journal, random_delta_txn, random_txn};

/// An adapter under test, in a temporary cache directory.
struct Fixture {
    backend: &'static str,
    dir: tempfile::TempDir,
    index: Arc<dyn CacheIndex>,
    /// The memory adapter itself, to restart it with a simulated crash.
    memory: Option<Arc<MemoryIndex>>,
}

impl Fixture {
    fn new(backend: &'static str) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let (index, memory): (Arc<dyn CacheIndex>, _) = if backend == "memory" {
            let m = Arc::new(MemoryIndex::new());
            (m.clone(), Some(m))
        } else {
            let opts = OpenOptions::new(dir.path());
            (Arc::from(open(backend, &opts).expect("open")), None)
        };
        assert_eq!(index.backend(), backend);
        Fixture {
            backend,
            dir,
            index,
            memory,
        }
    }

    /// Restarts: closes and reopens an on-disk index; crashes and keeps the memory one
    /// (what it committed survives, as on disk).
    fn reopen(&mut self) {
        if let Some(m) = &self.memory {
            m.crash();
            return;
        }
        // Drop the only reference first: the stores hold a lock on their files.
        let placeholder: Arc<dyn CacheIndex> = Arc::new(MemoryIndex::new());
        let old = std::mem::replace(&mut self.index, placeholder);
        assert_eq!(Arc::strong_count(&old), 1, "index still shared at reopen");
        drop(old);
        let opts = OpenOptions::new(self.dir.path());
        self.index = Arc::from(open(self.backend, &opts).expect("reopen"));
    }

    fn commit(&self, ops: Vec<IndexOp>) {
        self.index.commit(&[&IndexTxn { ops }]).expect("commit");
    }
}

fn empty_index_reads_as_empty(f: &mut Fixture) {
    assert_eq!(f.index.load().expect("load"), Recovered::default());
    assert_eq!(f.index.meta().expect("meta"), Meta::default());
    assert_eq!(f.index.get_entry(EntryId(1)).expect("get"), None);
    assert_eq!(f.index.chunks(EntryId(1)).expect("chunks"), None);
    assert!(f.index.list_lru(10).expect("lru").is_empty());
    assert!(f.index.list_uploads().expect("uploads").is_empty());
    assert!(f.index.list_conflicts().expect("conflicts").is_empty());
}

fn entries_put_get_replace_delete(f: &mut Fixture) {
    let e = entry(5, 10, 3);
    f.index.put_entry(e.clone()).expect("put");
    assert_eq!(f.index.get_entry(EntryId(5)).expect("get"), Some(e.clone()));
    let mut e2 = e.clone();
    e2.local_size += 1;
    e2.key = None;
    f.index.put_entry(e2.clone()).expect("replace");
    assert_eq!(f.index.get_entry(EntryId(5)).expect("get"), Some(e2));
    f.index.delete_entry(EntryId(5)).expect("delete");
    assert_eq!(f.index.get_entry(EntryId(5)).expect("get"), None);
    // Deleting what is not there is not an error.
    f.index.delete_entry(EntryId(5)).expect("delete again");
}

fn lru_lists_least_recently_used_first(f: &mut Fixture) {
    for (id, atime) in [(1, 50), (2, 10), (3, 30), (4, 20), (5, 40)] {
        f.index.put_entry(entry(id, atime, 1)).expect("put");
    }
    let lru = f.index.list_lru(3).expect("lru");
    assert_eq!(
        lru,
        vec![(10, EntryId(2)), (20, EntryId(4)), (30, EntryId(3))]
    );
    // A touch moves an entry to the back.
    f.index.put_entry(entry(2, 60, 1)).expect("touch");
    let lru = f.index.list_lru(10).expect("lru");
    let ids: Vec<u64> = lru.iter().map(|(_, id)| id.0).collect();
    assert_eq!(ids, vec![4, 3, 5, 1, 2]);
    f.index.delete_entry(EntryId(4)).expect("delete");
    assert_eq!(f.index.list_lru(1).expect("lru"), vec![(30, EntryId(3))]);
}

fn chunk_metadata_round_trips(f: &mut Fixture) {
    let e = entry(9, 1, 40);
    f.index.put_entry(e.clone()).expect("put");
    let chunks = f
        .index
        .chunks(EntryId(9))
        .expect("chunks")
        .expect("present");
    assert_eq!(chunks, e.clean_chunks);
    assert_eq!(chunks.len(), 40);
}

fn uploads_add_list_update(f: &mut Fixture) {
    for id in [3, 1, 2] {
        f.index.add_upload(journal(id)).expect("add");
    }
    let ids: Vec<u64> = f
        .index
        .list_uploads()
        .expect("list")
        .iter()
        .map(|j| j.id.0)
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);

    let before = f
        .index
        .get_upload(JournalId(2))
        .expect("get")
        .expect("present");
    let found = f
        .index
        .update_upload_status(
            JournalId(2),
            JournalStatus::RetryWait,
            Some("timeout".into()),
        )
        .expect("update");
    assert!(found);
    let after = f
        .index
        .get_upload(JournalId(2))
        .expect("get")
        .expect("present");
    assert_eq!(after.status, JournalStatus::RetryWait);
    assert_eq!(after.attempts, before.attempts + 1);
    assert_eq!(after.last_error.as_deref(), Some("timeout"));
    // Without an error, only the status changes.
    f.index
        .update_upload_status(JournalId(2), JournalStatus::InProgress, None)
        .expect("update");
    let again = f
        .index
        .get_upload(JournalId(2))
        .expect("get")
        .expect("present");
    assert_eq!(again.status, JournalStatus::InProgress);
    assert_eq!(again.attempts, after.attempts);
    assert!(!f
        .index
        .update_upload_status(JournalId(99), JournalStatus::Queued, None)
        .expect("update missing"));
    f.reopen();
    assert_eq!(f.index.get_upload(JournalId(2)).expect("get"), Some(again));
}

fn one_transaction_spans_every_table(f: &mut Fixture) {
    f.index.add_upload(journal(7)).expect("seed");
    // An fsync: the dirty ranges (entry), the upload intent (journal), a conflict, the
    // counters, and the end of an older upload, all in one transaction.
    let txn = IndexTxn {
        ops: vec![
            IndexOp::PutEntry(entry(1, 5, 2)),
            IndexOp::PutJournal(journal(8)),
            IndexOp::PutConflict(conflict(1)),
            IndexOp::PutMeta(Meta {
                next_id: 9,
                atime_clock: 5,
            }),
            IndexOp::DeleteJournal(JournalId(7)),
        ],
    };
    f.index.commit(&[&txn]).expect("commit");
    let mut want = Recovered::default();
    want.apply(&IndexTxn {
        ops: vec![IndexOp::PutJournal(journal(7))],
    });
    want.apply(&txn);
    assert_eq!(f.index.load().expect("load"), want);
    f.reopen();
    assert_eq!(f.index.load().expect("load"), want);
}

fn operations_apply_in_order(f: &mut Fixture) {
    f.commit(vec![
        IndexOp::PutEntry(entry(1, 1, 1)),
        IndexOp::DeleteEntry(EntryId(1)),
        IndexOp::DeleteEntry(EntryId(2)),
        IndexOp::PutEntry(entry(2, 2, 1)),
    ]);
    assert_eq!(f.index.get_entry(EntryId(1)).expect("get"), None);
    assert_eq!(
        f.index.get_entry(EntryId(2)).expect("get"),
        Some(entry(2, 2, 1))
    );
    // Several transactions in one commit also apply in order.
    let a = IndexTxn {
        ops: vec![IndexOp::PutJournal(journal(4))],
    };
    let b = IndexTxn {
        ops: vec![IndexOp::DeleteJournal(JournalId(4))],
    };
    f.index.commit(&[&a, &b]).expect("commit");
    assert_eq!(f.index.get_upload(JournalId(4)).expect("get"), None);
    f.index.commit(&[&b, &a]).expect("commit");
    assert_eq!(
        f.index.get_upload(JournalId(4)).expect("get"),
        Some(journal(4))
    );
}

fn reopen_after_close_keeps_everything(f: &mut Fixture) {
    let want = support::records::fixture_records();
    f.index
        .commit(&[&support::records::txn_storing(&want)])
        .expect("commit");
    f.reopen();
    assert_eq!(f.index.load().expect("load"), want);
    f.reopen();
    assert_eq!(f.index.meta().expect("meta"), want.meta);
}

/// A 100 GiB object cached in 1 MiB chunks: 102 400 clean chunks in one entry.
fn large_entry_of_a_100_gib_object(f: &mut Fixture) {
    let chunks = 100 * 1024;
    let mut e = entry(3, 7, chunks);
    e.local_size = 100 << 30;
    f.index.put_entry(e.clone()).expect("put");
    f.reopen();
    let got = f
        .index
        .get_entry(EntryId(3))
        .expect("get")
        .expect("present");
    assert_eq!(got.clean_chunks.len(), chunks as usize);
    assert_eq!(got, e);
    // Replacing it (one chunk became dirty) works as well.
    e.clean_chunks.remove(500);
    f.index.put_entry(e.clone()).expect("replace");
    assert_eq!(
        f.index.chunks(EntryId(3)).expect("chunks"),
        Some(e.clean_chunks)
    );
}

/// Threads commit at once, directly and through a group commit: nothing is lost or mixed.
fn concurrent_writers(f: &mut Fixture) {
    const THREADS: u64 = 8;
    const EACH: u64 = 25;
    let group = Arc::new(GroupCommit::new(f.index.clone()));
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let group = group.clone();
            let index = f.index.clone();
            s.spawn(move || {
                for i in 0..EACH {
                    let id = t * 1000 + i;
                    let txn = IndexTxn {
                        ops: vec![
                            IndexOp::PutEntry(entry(id, id, 1)),
                            IndexOp::PutJournal(journal(id)),
                        ],
                    };
                    if i % 2 == 0 {
                        group.commit(txn).expect("group commit");
                    } else {
                        index.commit(&[&txn]).expect("commit");
                    }
                }
            });
        }
    });
    let stats = group.stats();
    assert_eq!(stats.transactions, THREADS * EACH.div_ceil(2));
    assert!(stats.commits >= 1 && stats.commits <= stats.transactions);
    drop(group);
    f.reopen();
    let all = f.index.load().expect("load");
    assert_eq!(all.entries.len() as u64, THREADS * EACH);
    assert_eq!(all.journal.len() as u64, THREADS * EACH);
    for e in &all.entries {
        assert_eq!(*e, entry(e.id.0, e.id.0, 1));
    }
}

/// Random transactions against the model, compared after every commit and every restart.
fn random_transactions_match_the_model(f: &mut Fixture) {
    let mut rng = Rng::new(0x5eed);
    let mut model = Recovered::default();
    for step in 0..120 {
        let txn = random_txn(&mut rng);
        f.index.commit(&[&txn]).expect("commit");
        model.apply(&txn);
        if step % 40 == 39 {
            f.reopen();
        }
        assert_eq!(f.index.load().expect("load"), model, "after step {step}");
        let mut lru: Vec<_> = model.entries.iter().map(|e| (e.atime, e.id)).collect();
        lru.sort_unstable();
        lru.truncate(10);
        assert_eq!(f.index.list_lru(10).expect("lru"), lru, "after step {step}");
        for id in 0..24 {
            let want = model.entries.iter().find(|e| e.id == EntryId(id));
            assert_eq!(f.index.get_entry(EntryId(id)).expect("get").as_ref(), want);
        }
    }
}

/// Everything the trait can read, compared with the model: `load`, and each record, chunk
/// list and upload by id, and the LRU order.
fn assert_matches(f: &Fixture, model: &Recovered, ids: std::ops::Range<u64>, when: &str) {
    assert_eq!(f.index.load().expect("load"), *model, "{when}");
    for id in ids {
        let want = model.entries.iter().find(|e| e.id == EntryId(id));
        let got = f.index.get_entry(EntryId(id)).expect("get");
        assert_eq!(got.as_ref(), want, "{when}: entry {id}");
        let chunks = f.index.chunks(EntryId(id)).expect("chunks");
        assert_eq!(
            chunks,
            want.map(|e| e.clean_chunks.clone()),
            "{when}: chunks {id}"
        );
        let want = model.journal.iter().find(|j| j.id == JournalId(id));
        let got = f.index.get_upload(JournalId(id)).expect("get upload");
        assert_eq!(got.as_ref(), want, "{when}: upload {id}");
    }
    assert_eq!(
        f.index.list_uploads().expect("uploads"),
        model.journal,
        "{when}"
    );
    let mut lru: Vec<_> = model.entries.iter().map(|e| (e.atime, e.id)).collect();
    lru.sort_unstable();
    assert_eq!(f.index.list_lru(usize::MAX).expect("lru"), lru, "{when}");
}

fn chunk(index: u64, crc32c: u32) -> CleanChunk {
    CleanChunk { index, crc32c }
}

fn extent(offset: u64, len: u64) -> DirtyExtent {
    DirtyExtent {
        offset,
        len,
        generation: 7,
    }
}

fn part(id: u64, number: u32, etag: &str) -> IndexOp {
    IndexOp::PutPart(
        JournalId(id),
        PartRecord {
            number,
            etag: etag.into(),
            crc32c: (number % 2 == 0).then_some(number * 3),
        },
    )
}

/// An entry whose lists a head must ignore.
fn head_with_lists(id: u64, atime: u64) -> EntryRecord {
    EntryRecord {
        clean_chunks: vec![chunk(99, 1)],
        dirty: vec![extent(99, 1)],
        ..entry(id, atime, 0)
    }
}

/// The delta operations, case by case: (name, transactions). Each runs against every adapter
/// and is compared with `Recovered::apply` after every transaction and after a restart.
/// (Journal records 2 and 6 of `journal()` are multipart, 1 and 3 are not.)
fn delta_cases() -> Vec<(&'static str, Vec<Vec<IndexOp>>)> {
    use IndexOp::*;
    vec![
        (
            "a head creates an entry without chunks or extents",
            vec![vec![PutEntryHead(head_with_lists(1, 5))]],
        ),
        (
            "a head keeps the stored chunks and extents and moves the lru row",
            vec![
                vec![PutEntry(entry(1, 5, 3)), PutEntry(entry(2, 6, 1))],
                vec![PutEntryHead(head_with_lists(1, 50))],
            ],
        ),
        (
            "chunks are put, replaced and deleted one by one",
            vec![
                vec![PutEntry(entry(1, 5, 3))],
                vec![
                    PutChunk(EntryId(1), chunk(7, 1)),
                    PutChunk(EntryId(1), chunk(0, 2)),
                ],
                vec![DeleteChunk(EntryId(1), 1), DeleteChunk(EntryId(1), 99)],
                vec![
                    PutChunk(EntryId(1), chunk(1, 3)),
                    DeleteChunk(EntryId(1), 1),
                ],
            ],
        ),
        (
            "extents at one offset replace each other, overlapping ones stay",
            vec![
                vec![PutEntry(entry(3, 5, 1))],
                vec![
                    PutExtent(EntryId(3), extent(5, 100)),
                    PutExtent(EntryId(3), extent(50, 100)),
                ],
                vec![
                    PutExtent(EntryId(3), extent(5, 10)),
                    DeleteExtent(EntryId(3), 10_000),
                ],
                vec![DeleteExtent(EntryId(3), 12345)],
            ],
        ),
        (
            "sub-records of a missing entry are ignored",
            vec![
                vec![
                    PutChunk(EntryId(9), chunk(0, 1)),
                    PutExtent(EntryId(9), extent(0, 1)),
                ],
                vec![PutEntryHead(entry(9, 1, 0))],
                vec![DeleteChunk(EntryId(8), 0), DeleteExtent(EntryId(8), 0)],
            ],
        ),
        (
            "a deleted entry's rows do not come back with a new head",
            vec![
                vec![PutEntry(entry(3, 5, 4))],
                vec![
                    DeleteEntry(EntryId(3)),
                    PutChunk(EntryId(3), chunk(0, 9)),
                    PutEntryHead(entry(3, 8, 0)),
                ],
                vec![PutChunk(EntryId(3), chunk(2, 9))],
            ],
        ),
        (
            "a whole entry replaces rows written earlier in the same transaction",
            vec![
                vec![
                    PutEntryHead(entry(2, 1, 0)),
                    PutChunk(EntryId(2), chunk(40, 1)),
                    PutExtent(EntryId(2), extent(1 << 30, 1)),
                    PutEntry(entry(2, 3, 2)),
                    PutChunk(EntryId(2), chunk(5, 5)),
                ],
                vec![PutEntry(entry(2, 3, 1))],
            ],
        ),
        (
            "parts are put in any order, replace their number and come back sorted",
            vec![
                vec![PutJournal(journal(2))],
                vec![part(2, 5, "\"e5\""), part(2, 1, "\"new-1\"")],
                vec![part(2, 3, "\"e3\""), part(2, 5, "\"new-5\"")],
            ],
        ),
        (
            "parts of a missing or non-multipart record are ignored",
            vec![
                vec![PutJournal(journal(1)), part(1, 1, "a"), part(77, 1, "b")],
                vec![part(3, 2, "c"), PutJournal(journal(3))],
            ],
        ),
        (
            "a whole journal record replaces its parts, a delete removes them",
            vec![
                vec![PutJournal(journal(6)), part(6, 9, "x")],
                vec![PutJournal(journal(6))],
                vec![part(6, 4, "y")],
                vec![
                    DeleteJournal(JournalId(6)),
                    part(6, 4, "z"),
                    PutJournal(journal(6)),
                ],
                vec![DeleteJournal(JournalId(6))],
            ],
        ),
        (
            "whole and delta operations on several records in one transaction",
            vec![vec![
                PutEntry(entry(1, 1, 2)),
                PutJournal(journal(2)),
                PutEntryHead(entry(4, 2, 0)),
                PutChunk(EntryId(4), chunk(3, 3)),
                part(2, 3, "p3"),
                DeleteEntry(EntryId(1)),
                PutExtent(EntryId(4), extent(0, 4096)),
                PutConflict(conflict(4)),
                PutMeta(Meta {
                    next_id: 5,
                    atime_clock: 2,
                }),
            ]],
        ),
    ]
}

fn delta_operations_match_the_model(f: &mut Fixture) {
    for (name, txns) in delta_cases() {
        // Each case from an empty index.
        *f = Fixture::new(f.backend);
        let mut model = Recovered::default();
        for (i, ops) in txns.into_iter().enumerate() {
            let txn = IndexTxn { ops };
            f.index.commit(&[&txn]).expect("commit");
            model.apply(&txn);
            assert_matches(f, &model, 0..10, &format!("{name}: after transaction {i}"));
        }
        f.reopen();
        assert_matches(f, &model, 0..10, &format!("{name}: after a restart"));
    }
}

fn status_update_keeps_the_parts(f: &mut Fixture) {
    f.commit(vec![IndexOp::PutJournal(journal(2)), part(2, 7, "e7")]);
    assert!(f
        .index
        .update_upload_status(JournalId(2), JournalStatus::RetryWait, Some("503".into()))
        .expect("update"));
    let mut model = Recovered::default();
    model.apply(&IndexTxn {
        ops: vec![IndexOp::PutJournal(journal(2)), part(2, 7, "e7")],
    });
    let j = &mut model.journal[0];
    j.status = JournalStatus::RetryWait;
    j.attempts += 1;
    j.last_error = Some("503".into());
    f.reopen();
    assert_matches(f, &model, 0..4, "after a status update");
}

/// Random whole and delta transactions against the model, compared after every commit and
/// every restart; some commits carry several transactions.
fn random_delta_transactions_match_the_model(f: &mut Fixture) {
    let mut rng = Rng::new(0xde17a);
    let mut model = Recovered::default();
    for step in 0..150 {
        let a = random_delta_txn(&mut rng);
        let b = random_delta_txn(&mut rng);
        if step % 3 == 0 {
            f.index.commit(&[&a, &b]).expect("commit");
            model.apply(&a);
            model.apply(&b);
        } else {
            f.index.commit(&[&a]).expect("commit");
            model.apply(&a);
        }
        if step % 50 == 49 {
            f.reopen();
        }
        assert_matches(f, &model, 0..8, &format!("after step {step}"));
    }
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[test] fn $case() { super::$case(&mut super::Fixture::new("memory")) })*
        }
        mod redb {
            $(#[test] fn $case() { super::$case(&mut super::Fixture::new("redb")) })*
        }
        mod fjall {
            $(#[test] fn $case() { super::$case(&mut super::Fixture::new("fjall")) })*
        }
    };
}

suite!(
    empty_index_reads_as_empty,
    entries_put_get_replace_delete,
    lru_lists_least_recently_used_first,
    chunk_metadata_round_trips,
    uploads_add_list_update,
    one_transaction_spans_every_table,
    operations_apply_in_order,
    reopen_after_close_keeps_everything,
    large_entry_of_a_100_gib_object,
    concurrent_writers,
    random_transactions_match_the_model,
    delta_operations_match_the_model,
    status_update_keeps_the_parts,
    random_delta_transactions_match_the_model,
);
