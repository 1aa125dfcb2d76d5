//! The conformance suite: every case runs against every adapter (memory, redb, fjall)
//! through the `CacheIndex` trait alone. An adapter is correct when it behaves exactly as
//! `Recovered::apply`, the core's own model of a committed transaction.

mod support;

use silt_core::{EntryId, IndexOp, IndexTxn, JournalId, JournalStatus, Meta, Recovered, Rng};
use silt_index::{open, CacheIndex, GroupCommit, MemoryIndex, OpenOptions};
use std::sync::Arc;
use support::records::{conflict, entry, journal, random_txn};

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
);
