//! What callers send the driver task, and the cloneable client that sends it. Every command
//! carries a oneshot for its answer; the core itself never leaves the driver task.

use crate::error::{Error, Result};
use crate::memory::{WriteBudget, WritePermit};
use crate::status::Status;
use silt_core::{HandleId, Reply, Request};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A message to the driver task.
pub(crate) enum Command {
    /// A file request for the core.
    Request {
        req: Request,
        reply: oneshot::Sender<Result<Reply>>,
        /// The write budget a `Write` holds until its reply.
        permit: Option<WritePermit>,
    },
    /// Make everything pending due now; answer once nothing is pending (with `wait`), or at
    /// once.
    Flush {
        wait: bool,
        reply: oneshot::Sender<Result<()>>,
    },
    /// A status snapshot.
    Status { reply: oneshot::Sender<Status> },
    /// Stop: make everything local durable, stop talking to the bucket, end the task.
    Stop {
        reply: Option<oneshot::Sender<StopReport>>,
    },
}

/// How a stop ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopReport {
    /// Everything the core knew was committed to the index and no cache-file or index
    /// operation was left running. `false` only when the stop timeout struck first (then
    /// what was not committed is what a crash at that moment would lose: nothing fsynced).
    pub clean: bool,
    /// What was still pending in the core (uploads stay journaled and resume at the next
    /// start).
    pub pending: Option<String>,
    /// Object-store operations abandoned in flight or not sent (the journal resumes them).
    pub remote_ops_abandoned: usize,
}

/// A handle on the driver task: sends it commands. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DriverClient {
    tx: mpsc::Sender<Command>,
    writes: Arc<WriteBudget>,
}

impl DriverClient {
    pub(crate) fn new(tx: mpsc::Sender<Command>, writes: Arc<WriteBudget>) -> DriverClient {
        DriverClient { tx, writes }
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Sends a file request to the core and waits for its answer. A `Write` first waits for
    /// room for its body in the write budget (`DriverOptions::write_memory_limit`) and holds
    /// it until the core answers; it never fails for lack of room.
    pub async fn request(&self, req: Request) -> Result<Reply> {
        let permit = match &req {
            Request::Write { data, .. } => Some(self.writes.acquire(data.len() as u64).await?),
            _ => None,
        };
        self.call(|reply| Command::Request { req, reply, permit })
            .await?
    }

    /// Makes every waiting upload and delete due now; with `wait`, returns once the core has
    /// nothing pending (no upload, delete, job, commit or operation in flight), without, at
    /// once (see [`crate::CacheManager::flush`]).
    pub async fn flush(&self, wait: bool) -> Result<()> {
        self.call(|reply| Command::Flush { wait, reply }).await?
    }

    /// A status snapshot.
    pub async fn status(&self) -> Result<Status> {
        self.call(|reply| Command::Status { reply }).await
    }

    /// Stops the driver task and waits for its report.
    pub async fn stop(&self) -> Result<StopReport> {
        self.call(|reply| Command::Stop { reply: Some(reply) })
            .await
    }

    /// Asks for a stop without waiting (from `Drop`); ignored if the task is gone. When the
    /// queue is full the stop is sent from a task, so it is not lost behind the requests.
    pub(crate) fn stop_detached(&self) {
        self.send_detached(Command::Stop { reply: None });
    }

    /// Closes `handle` without waiting for the answer (from `Drop`).
    pub(crate) fn close_detached(&self, handle: HandleId) {
        let (reply, _) = oneshot::channel();
        self.send_detached(Command::Request {
            req: Request::Close { handle },
            reply,
            permit: None,
        });
    }

    /// Sends `cmd` without waiting: at once if the queue has room, else from a task if a
    /// runtime is there to run one. Dropped if the driver task is gone.
    fn send_detached(&self, cmd: Command) {
        match self.tx.try_send(cmd) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(cmd)) => {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    let tx = self.tx.clone();
                    rt.spawn(async move {
                        let _ = tx.send(cmd).await;
                    });
                } else {
                    tracing::warn!(
                        "driver queue full and no runtime: a detached command was dropped"
                    );
                }
            }
        }
    }
}
