//! The tokio executors of the core's orders (their bodies are `silt_engine::exec`):
//!
//! - cache-file operations on tokio's blocking pool (any number at once: the core emits only
//!   operations that may run concurrently and complete in any order);
//! - index transactions on the blocking pool through the group commit;
//! - object-store operations as tasks, at most `max_remote_ops` running at once.

use silt_core::{IndexTxn, Input, IoId, LocalOp, RemoteId, RemoteOp, TxnId};
use silt_engine::exec::{run_index, run_local, run_remote, Report};
use silt_engine::{DriverParts, Execute};
use silt_s3::ObjectStore;
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

/// What the driver task executes orders with.
pub(crate) struct Exec<S> {
    /// The cache files, the index and the bucket (the lock is kept apart).
    pub(crate) parts: DriverParts<S>,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) done_tx: mpsc::UnboundedSender<Input>,
    pub(crate) remote_tasks: JoinSet<()>,
}

impl<S: ObjectStore + 'static> Exec<S> {
    /// Collects finished remote tasks (their results went over the completion channel).
    pub(crate) fn reap(&mut self) {
        while let Some(r) = self.remote_tasks.try_join_next() {
            if let Err(e) = r {
                if e.is_panic() {
                    tracing::error!(error = %e, "object-store task panicked");
                }
            }
        }
    }
}

impl<S: ObjectStore + 'static> Execute for Exec<S> {
    fn local(&mut self, id: IoId, op: LocalOp) {
        let store = self.parts.store.clone();
        let report = Report::local(self.done_tx.clone(), id);
        tokio::task::spawn_blocking(move || run_local(store, id, op, report));
    }

    fn index(&mut self, id: TxnId, txn: IndexTxn) {
        let group = self.parts.index.clone();
        let report = Report::index(self.done_tx.clone(), id);
        tokio::task::spawn_blocking(move || run_index(group, id, txn, report));
    }

    fn remote(&mut self, id: RemoteId, op: RemoteOp) {
        let (remote, slots) = (self.parts.remote.clone(), self.slots.clone());
        let report = Report::remote(self.done_tx.clone(), id);
        self.remote_tasks
            .spawn(run_remote(remote, slots, id, op, report));
    }
}
