//! The blocking executors of the core's orders (their bodies are `silt_engine::exec`):
//!
//! - cache-file operations on the `silt-local` threads (any number queued; the core emits
//!   only operations that may run concurrently and complete in any order);
//! - index transactions on the `silt-index` thread, through the group commit (the core has
//!   at most one in flight);
//! - object-store operations as tasks of the private runtime (`silt-remote` threads), at
//!   most `max_remote_ops` running at once: the S3 SDK is async, and only it runs there.
//!
//! Every completion comes back to the driver thread's inbox.

use crate::link::Msg;
use crate::options::DriverOptions;
use crate::pool::Pool;
use silt_core::{IndexTxn, IoId, LocalOp, RemoteId, RemoteOp, TxnId};
use silt_engine::exec::{run_index, run_local, run_remote, Report};
use silt_engine::{DriverParts, Error, Execute, Result};
use silt_s3::ObjectStore;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

/// How long a stop waits for the private runtime's threads to drop the remote operations
/// still in flight (the journal resumes them).
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(5);

/// What the driver thread executes orders with.
pub(crate) struct Exec<S> {
    /// The cache files, the index and the bucket (the lock is kept apart).
    parts: DriverParts<S>,
    slots: Arc<Semaphore>,
    tx: Sender<Msg>,
    local: Pool,
    commits: Pool,
    runtime: Option<Runtime>,
}

impl<S: ObjectStore + 'static> Exec<S> {
    /// Starts the threads and the private runtime.
    pub(crate) fn start(
        parts: DriverParts<S>,
        tx: Sender<Msg>,
        opts: &DriverOptions,
    ) -> Result<Exec<S>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.remote_threads.max(1))
            .thread_name("silt-remote")
            .enable_all()
            .build()
            .map_err(|source| Error::Spawn {
                what: "remote runtime",
                source,
            })?;
        Ok(Exec {
            parts,
            slots: Arc::new(Semaphore::new(opts.max_remote_ops.max(1))),
            tx,
            local: Pool::new("silt-local", opts.local_threads)?,
            commits: Pool::new("silt-index", 1)?,
            runtime: Some(runtime),
        })
    }

    /// Reads free disk space on a local thread; the reading comes back as `Msg::Disk`.
    pub(crate) fn read_disk_free(&self) {
        let (dir, tx) = (self.parts.cache_dir.clone(), self.tx.clone());
        self.local.run(move || {
            let _ = tx.send(Msg::Disk(silt_engine::disk::free_bytes(&dir)));
        });
    }

    /// Abandons the remote operations in flight (the journal resumes them) and releases the
    /// cache files and the index. When the local work is done (`local_done`: the stop
    /// completed) the threads are joined: once this returns, nothing holds the cache
    /// directory open. After a stop that timed out they are left to end on their own, so
    /// that a stuck operation does not hold the stop up (as a crash would leave it).
    pub(crate) fn shut_down(mut self, local_done: bool) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(RUNTIME_SHUTDOWN);
        }
        let Exec { local, commits, .. } = self;
        if local_done {
            // Each job releases its store or index handle before it reports; dropping the
            // pools joins their threads, and the handles held here go with `self`.
            drop((local, commits));
        } else {
            local.detach();
            commits.detach();
        }
    }
}

impl<S: ObjectStore + 'static> Execute for Exec<S> {
    fn local(&mut self, id: IoId, op: LocalOp) {
        let store = self.parts.store.clone();
        let report = Report::local(self.tx.clone(), id);
        self.local.run(move || run_local(store, id, op, report));
    }

    fn index(&mut self, id: TxnId, txn: IndexTxn) {
        let group = self.parts.index.clone();
        let report = Report::index(self.tx.clone(), id);
        self.commits.run(move || run_index(group, id, txn, report));
    }

    fn remote(&mut self, id: RemoteId, op: RemoteOp) {
        let (remote, slots) = (self.parts.remote.clone(), self.slots.clone());
        let report = Report::remote(self.tx.clone(), id);
        match &self.runtime {
            Some(rt) => {
                rt.spawn(run_remote(remote, slots, id, op, report));
            }
            // Only after the shutdown; the report answers (a transient error).
            None => drop(report),
        }
    }
}
