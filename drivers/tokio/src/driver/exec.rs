//! Executors of the core's orders: each runs off the driver task and reports its completion
//! back as an [`Input`] on the completion channel.
//!
//! - cache-file operations on tokio's blocking pool (any number at once: the core emits only
//!   operations that may run concurrently and complete in any order);
//! - index transactions on the blocking pool through the group commit;
//! - object-store operations as tasks, at most `max_remote_ops` running at once.
//!
//! A [`Report`] guard answers for an executor that ends without reporting (it panicked, or
//! was aborted), so the core never waits for a completion that cannot come.

use bytes::Bytes;
use silt_core::{
    IndexTxn, Input, IoId, LocalError, LocalOp, RemoteError, RemoteId, RemoteOp, TxnId,
};
use silt_index::GroupCommit;
use silt_s3::ObjectStore;
use silt_store::Store;
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

/// Sends one completion; sends `fallback` instead if dropped unsent.
pub(crate) struct Report {
    tx: mpsc::UnboundedSender<Input>,
    fallback: Option<Input>,
}

impl Report {
    pub(crate) fn new(tx: mpsc::UnboundedSender<Input>, fallback: Input) -> Report {
        Report {
            tx,
            fallback: Some(fallback),
        }
    }

    pub(crate) fn send(mut self, input: Input) {
        self.fallback = None;
        // The driver is gone only after a stop; nothing waits for this any more.
        let _ = self.tx.send(input);
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if let Some(input) = self.fallback.take() {
            let _ = self.tx.send(input);
        }
    }
}

/// Runs a cache-file operation on the blocking pool.
pub(crate) fn local(store: &Arc<Store>, tx: &mpsc::UnboundedSender<Input>, id: IoId, op: LocalOp) {
    let store = store.clone();
    let fallback = Input::Local(
        id,
        Err(LocalError::Io(
            "cache-file operation ended without an answer".into(),
        )),
    );
    let report = Report::new(tx.clone(), fallback);
    tokio::task::spawn_blocking(move || {
        let result = store.execute(&op);
        // Release the store before answering: once the driver has every answer, nothing of
        // it may be left in use (a restart reopens the same directory).
        drop(store);
        if let Err(e) = &result {
            tracing::debug!(?id, entry = %op.entry(), error = %e, "cache-file operation failed");
        }
        report.send(Input::Local(id, result));
    });
}

/// Commits an index transaction on the blocking pool.
pub(crate) fn index(
    group: &Arc<GroupCommit>,
    tx: &mpsc::UnboundedSender<Input>,
    id: TxnId,
    txn: IndexTxn,
) {
    let group = group.clone();
    let fallback = Input::Index(id, Err("index commit ended without an answer".into()));
    let report = Report::new(tx.clone(), fallback);
    tokio::task::spawn_blocking(move || {
        let result = group.commit(txn).map_err(|e| e.to_string());
        // Release the index before answering: once the driver has every answer the database
        // must be closable (a restart in this process opens it again).
        drop(group);
        if let Err(e) = &result {
            tracing::error!(?id, error = %e, "index commit failed");
        }
        report.send(Input::Index(id, result));
    });
}

/// Runs an object-store operation as a task once a slot of `slots` is free.
pub(crate) fn remote<S: ObjectStore + 'static>(
    tasks: &mut JoinSet<()>,
    remote: &Arc<S>,
    slots: &Arc<Semaphore>,
    tx: &mpsc::UnboundedSender<Input>,
    id: RemoteId,
    op: RemoteOp,
) {
    let (remote, slots) = (remote.clone(), slots.clone());
    let fallback = Input::Remote(
        id,
        Err(RemoteError::Transient(
            "object-store operation ended without an answer".into(),
        )),
    );
    let report = Report::new(tx.clone(), fallback);
    tasks.spawn(async move {
        // The semaphore is never closed; if it were, the fallback answers.
        let Ok(_slot) = slots.acquire_owned().await else {
            return;
        };
        let result = silt_s3::execute(&*remote, &op).await;
        if let Err(e) = &result {
            tracing::debug!(?id, op = op_name(&op), error = %e, "object-store operation failed");
        }
        report.send(Input::Remote(id, result));
    });
}

/// A short name of a remote operation, for logs.
pub(crate) fn op_name(op: &RemoteOp) -> &'static str {
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
pub(crate) fn body_len(op: &RemoteOp) -> usize {
    match op {
        RemoteOp::Put { data, .. } | RemoteOp::UploadPart { data, .. } => Bytes::len(data),
        _ => 0,
    }
}
