//! The in-memory adapter: a [`Recovered`] behind a lock. Nothing survives the process; for
//! tests, throwaway mounts and the simulator.
//!
//! Crash semantics for the simulator: a transaction can be [staged](MemoryIndex::stage) when
//! the core orders it and [committed](MemoryIndex::commit_staged) when the simulated commit
//! completes. [`MemoryIndex::crash`] loses every staged transaction, as a real crash loses a
//! commit in flight; what was committed before stays.

use crate::{apply_status, CacheIndex, IndexError, Result};
use silt_core::{
    ConflictRecord, EntryId, EntryRecord, IndexTxn, JournalId, JournalRecord, JournalStatus, Meta,
    Recovered,
};
use std::sync::{Mutex, MutexGuard};

/// The in-memory index.
#[derive(Debug, Default)]
pub struct MemoryIndex {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    data: Recovered,
    /// Bumped by every crash; a staged transaction from an older epoch is lost.
    epoch: u64,
}

/// A transaction ordered but not yet committed (see [`MemoryIndex::stage`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staged {
    txn: IndexTxn,
    epoch: u64,
}

impl Staged {
    /// The staged transaction.
    pub fn txn(&self) -> &IndexTxn {
        &self.txn
    }
}

impl MemoryIndex {
    /// An empty index.
    pub fn new() -> MemoryIndex {
        MemoryIndex::default()
    }

    /// An index holding `data`, as if it had been committed.
    pub fn from_recovered(data: Recovered) -> MemoryIndex {
        MemoryIndex {
            state: Mutex::new(State { data, epoch: 0 }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` half-updated: `apply` only
        // clones records in. Keep serving after one.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stages `txn`: it takes effect at [`MemoryIndex::commit_staged`], unless a crash comes first.
    pub fn stage(&self, txn: IndexTxn) -> Staged {
        Staged {
            txn,
            epoch: self.lock().epoch,
        }
    }

    /// Commits a staged transaction; [`IndexError::LostInCrash`] if a crash came in between.
    pub fn commit_staged(&self, staged: &Staged) -> Result<()> {
        let mut state = self.lock();
        if staged.epoch != state.epoch {
            return Err(IndexError::LostInCrash);
        }
        state.data.apply(&staged.txn);
        Ok(())
    }

    /// A simulated crash: every staged transaction is lost; committed ones stay.
    pub fn crash(&self) {
        self.lock().epoch += 1;
    }

    /// Runs `f` on the committed state without copying it.
    pub fn inspect<T>(&self, f: impl FnOnce(&Recovered) -> T) -> T {
        f(&self.lock().data)
    }
}

impl CacheIndex for MemoryIndex {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn commit(&self, txns: &[&IndexTxn]) -> Result<()> {
        let mut state = self.lock();
        for txn in txns {
            state.data.apply(txn);
        }
        Ok(())
    }

    fn get_entry(&self, id: EntryId) -> Result<Option<EntryRecord>> {
        let state = self.lock();
        let entries = &state.data.entries;
        Ok(entries
            .binary_search_by_key(&id, |e| e.id)
            .ok()
            .map(|i| entries[i].clone()))
    }

    fn list_lru(&self, limit: usize) -> Result<Vec<(u64, EntryId)>> {
        let state = self.lock();
        let mut lru: Vec<(u64, EntryId)> =
            state.data.entries.iter().map(|e| (e.atime, e.id)).collect();
        lru.sort_unstable();
        lru.truncate(limit);
        Ok(lru)
    }

    fn list_uploads(&self) -> Result<Vec<JournalRecord>> {
        Ok(self.lock().data.journal.clone())
    }

    fn get_upload(&self, id: JournalId) -> Result<Option<JournalRecord>> {
        let state = self.lock();
        Ok(state.data.journal.iter().find(|j| j.id == id).cloned())
    }

    fn list_conflicts(&self) -> Result<Vec<ConflictRecord>> {
        Ok(self.lock().data.conflicts.clone())
    }

    fn meta(&self) -> Result<Meta> {
        Ok(self.lock().data.meta.clone())
    }

    fn update_upload_status(
        &self,
        id: JournalId,
        status: JournalStatus,
        last_error: Option<String>,
    ) -> Result<bool> {
        let mut state = self.lock();
        match state.data.journal.iter_mut().find(|j| j.id == id) {
            Some(record) => {
                apply_status(record, status, last_error);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn load(&self) -> Result<Recovered> {
        Ok(self.lock().data.clone())
    }
}
