//! The bodies of the executors of the core's orders, for any driver: each runs off the loop
//! (on a worker thread, a blocking pool or a runtime) and reports its completion back as an
//! [`Input`] through the driver's [`Completions`] channel.
//!
//! A [`Report`] guard answers for an executor that ends without reporting (it panicked, or
//! was aborted), so the core never waits for a completion that cannot come.

use bytes::Bytes;
use silt_core::{
    IndexTxn, Input, IoId, LocalError, LocalOp, RemoteError, RemoteId, RemoteOp, TxnId,
};
use silt_index::GroupCommit;
use silt_remote::ObjectStore;
use silt_store::Store;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Where executors send completions.
pub trait Completions: Send + 'static {
    /// Delivers one completion; dropped if the loop is gone (only after a stop, when nothing
    /// waits for it any more).
    fn complete(&self, input: Input);
}

impl Completions for tokio::sync::mpsc::UnboundedSender<Input> {
    fn complete(&self, input: Input) {
        let _ = self.send(input);
    }
}

impl<M: From<Input> + Send + 'static> Completions for std::sync::mpsc::Sender<M> {
    fn complete(&self, input: Input) {
        let _ = self.send(M::from(input));
    }
}

/// Sends one completion; sends its fallback instead if dropped unsent.
pub struct Report<C: Completions> {
    tx: C,
    fallback: Option<Input>,
}

impl<C: Completions> Report<C> {
    fn new(tx: C, fallback: Input) -> Report<C> {
        Report {
            tx,
            fallback: Some(fallback),
        }
    }

    /// The report of cache-file operation `id` (an I/O error if it never answers).
    pub fn local(tx: C, id: IoId) -> Report<C> {
        let msg = "cache-file operation ended without an answer";
        Report::new(tx, Input::Local(id, Err(LocalError::Io(msg.into()))))
    }

    /// The report of index transaction `id` (a failed commit if it never answers).
    pub fn index(tx: C, id: TxnId) -> Report<C> {
        let msg = "index commit ended without an answer";
        Report::new(tx, Input::Index(id, Err(msg.into())))
    }

    /// The report of object-store operation `id` (a transient error if it never answers).
    pub fn remote(tx: C, id: RemoteId) -> Report<C> {
        let msg = "object-store operation ended without an answer";
        Report::new(
            tx,
            Input::Remote(id, Err(RemoteError::Transient(msg.into()))),
        )
    }

    fn send(mut self, input: Input) {
        self.fallback = None;
        self.tx.complete(input);
    }
}

impl<C: Completions> Drop for Report<C> {
    fn drop(&mut self) {
        if let Some(input) = self.fallback.take() {
            self.tx.complete(input);
        }
    }
}

/// Runs a cache-file operation (blocking: call it on a worker thread).
pub fn run_local<C: Completions>(store: Arc<Store>, id: IoId, op: LocalOp, report: Report<C>) {
    let result = store.execute(&op);
    // Release the store before answering: once the driver has every answer, nothing of it
    // may be left in use (a restart reopens the same directory).
    drop(store);
    if let Err(e) = &result {
        tracing::debug!(?id, entry = %op.entry(), error = %e, "cache-file operation failed");
    }
    report.send(Input::Local(id, result));
}

/// Commits an index transaction through the group commit (blocking: call it on a worker
/// thread).
pub fn run_index<C: Completions>(
    group: Arc<GroupCommit>,
    id: TxnId,
    txn: IndexTxn,
    report: Report<C>,
) {
    let result = group.commit(txn).map_err(|e| e.to_string());
    // Release the index before answering: once the driver has every answer the database
    // must be closable (a restart in this process opens it again).
    drop(group);
    if let Err(e) = &result {
        tracing::error!(?id, error = %e, "index commit failed");
    }
    report.send(Input::Index(id, result));
}

/// Runs an object-store operation once a slot of `slots` is free (a future: spawn it on a
/// runtime).
pub async fn run_remote<S: ObjectStore, C: Completions>(
    remote: Arc<S>,
    slots: Arc<Semaphore>,
    id: RemoteId,
    op: RemoteOp,
    report: Report<C>,
) {
    // The semaphore is never closed; if it were, the fallback answers.
    let Ok(_slot) = slots.acquire_owned().await else {
        return;
    };
    let result = silt_remote::execute(&*remote, &op).await;
    if let Err(e) = &result {
        tracing::debug!(?id, op = op_name(&op), error = %e, "object-store operation failed");
    }
    report.send(Input::Remote(id, result));
}

/// A short name of a remote operation, for logs.
pub fn op_name(op: &RemoteOp) -> &'static str {
    match op {
        RemoteOp::Head { .. } => "head",
        RemoteOp::Get { .. } => "get",
        RemoteOp::Put { .. } => "put",
        RemoteOp::CreateMultipart { .. } => "create-multipart",
        RemoteOp::UploadPart { .. } => "upload-part",
        RemoteOp::UploadPartCopy { .. } => "upload-part-copy",
        RemoteOp::Complete { .. } => "complete",
        RemoteOp::Abort { .. } => "abort",
        RemoteOp::ListParts { .. } => "list-parts",
        RemoteOp::List { .. } => "list",
        RemoteOp::Delete { .. } => "delete",
    }
}

/// Bytes a remote operation carries up (for logs).
pub fn body_len(op: &RemoteOp) -> usize {
    match op {
        RemoteOp::Put { data, .. } | RemoteOp::UploadPart { data, .. } => Bytes::len(data),
        _ => 0,
    }
}
