//! Group commit under the loom model checker: every interleaving of concurrent committers
//! and the leader hand-over. Built only with `--cfg loom`:
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release -p silt-index --no-default-features --test loom_group`
//!
//! (scripts/test.sh runs it.)
#![cfg(loom)]

use silt_core::{
    ConflictRecord, EntryId, EntryRecord, IndexOp, IndexTxn, JournalId, JournalRecord,
    JournalStatus, Meta, Recovered,
};
use silt_index::{CacheIndex, GroupCommit, IndexError, Result};
use std::sync::Arc;

/// An index that records what it commits, and fails its first commit if asked to.
#[derive(Default)]
struct Recording {
    commits: std::sync::Mutex<Vec<Vec<u64>>>,
    fail_first: bool,
}

impl CacheIndex for Recording {
    fn backend(&self) -> &'static str {
        "recording"
    }
    fn commit(&self, txns: &[&IndexTxn]) -> Result<()> {
        let mut commits = self.commits.lock().expect("lock");
        let ids: Vec<u64> = txns
            .iter()
            .flat_map(|t| &t.ops)
            .map(|op| match op {
                IndexOp::PutMeta(m) => m.next_id,
                other => panic!("{other:?}"),
            })
            .collect();
        let first = commits.is_empty();
        commits.push(ids);
        if first && self.fail_first {
            return Err(IndexError::LostInCrash);
        }
        Ok(())
    }
    fn get_entry(&self, _: EntryId) -> Result<Option<EntryRecord>> {
        Ok(None)
    }
    fn list_lru(&self, _: usize) -> Result<Vec<(u64, EntryId)>> {
        Ok(vec![])
    }
    fn list_uploads(&self) -> Result<Vec<JournalRecord>> {
        Ok(vec![])
    }
    fn get_upload(&self, _: JournalId) -> Result<Option<JournalRecord>> {
        Ok(None)
    }
    fn list_conflicts(&self) -> Result<Vec<ConflictRecord>> {
        Ok(vec![])
    }
    fn meta(&self) -> Result<Meta> {
        Ok(Meta::default())
    }
    fn update_upload_status(
        &self,
        _: JournalId,
        _: JournalStatus,
        _: Option<String>,
    ) -> Result<bool> {
        Ok(false)
    }
    fn load(&self) -> Result<Recovered> {
        Ok(Recovered::default())
    }
}

fn txn(id: u64) -> IndexTxn {
    IndexTxn {
        ops: vec![IndexOp::PutMeta(Meta {
            next_id: id,
            atime_clock: 0,
        })],
    }
}

/// Three committers: each returns only after a commit holding its transaction, every
/// transaction is committed exactly once, and nobody waits forever.
#[test]
fn every_transaction_commits_once_and_every_caller_returns() {
    loom::model(|| {
        let index = Arc::new(Recording::default());
        let group = Arc::new(GroupCommit::new(index.clone()));
        let threads: Vec<_> = (1..=2)
            .map(|id| {
                let group = group.clone();
                loom::thread::spawn(move || group.commit(txn(id)).expect("commit"))
            })
            .collect();
        group.commit(txn(3)).expect("commit");
        for t in threads {
            t.join().expect("join");
        }
        let commits = index.commits.lock().expect("lock").clone();
        let mut all: Vec<u64> = commits.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, vec![1, 2, 3]);
        let stats = group.stats();
        assert_eq!(stats.transactions, 3);
        assert_eq!(stats.commits as usize, commits.len());
    });
}

/// A failed commit fails exactly the transactions it held; later ones still commit.
#[test]
fn a_failed_commit_fails_its_group_only() {
    loom::model(|| {
        let index = Arc::new(Recording {
            fail_first: true,
            ..Recording::default()
        });
        let group = Arc::new(GroupCommit::new(index.clone()));
        let other = {
            let group = group.clone();
            loom::thread::spawn(move || group.commit(txn(1)).is_ok())
        };
        let mine = group.commit(txn(2)).is_ok();
        let theirs = other.join().expect("join");
        let commits = index.commits.lock().expect("lock").clone();
        let failed: Vec<u64> = commits[0].clone();
        for (id, ok) in [(1, theirs), (2, mine)] {
            assert_eq!(
                ok,
                !failed.contains(&id),
                "txn {id}: ok={ok}, first group {failed:?}"
            );
        }
    });
}
