//! What callers send a driver's loop ([`Command`]), how they reach it ([`Link`]: a tokio
//! channel, a std channel) and the cloneable [`Client`] that sends it. Every command carries
//! a oneshot for its answer; the core itself never leaves the loop.
//!
//! The client is written once, as futures over runtime-agnostic primitives (tokio's oneshot
//! and semaphore need no runtime): the tokio driver awaits them, the blocking driver parks
//! its caller's thread on them.

use crate::error::{Error, Result};
use crate::memory::{WriteBudget, WritePermit};
use crate::status::Status;
use silt_core::{Attr, DirEntry, HandleId, Reply, Request};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A message to a driver's loop.
pub enum Command {
    /// A file request for the core.
    Request {
        /// The request.
        req: Request,
        /// Where its answer goes.
        reply: oneshot::Sender<Result<Reply>>,
        /// The write budget a `Write` holds until its reply.
        permit: Option<WritePermit>,
    },
    /// Make everything pending due now; answer once nothing is pending (with `wait`), or at
    /// once.
    Flush {
        /// Answer only once nothing is pending.
        wait: bool,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<()>>,
    },
    /// A status snapshot.
    Status {
        /// Where the snapshot goes.
        reply: oneshot::Sender<Status>,
    },
    /// Stop: make everything local durable, stop talking to the bucket, end the loop.
    Stop {
        /// Where the report goes (`None`: nobody waits for it).
        reply: Option<oneshot::Sender<StopReport>>,
    },
}

/// One page of a directory listing: the entries, and the `after` for the next page (`None`
/// at the end).
pub type Page = (Vec<DirEntry>, Option<String>);

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

/// How a client reaches its driver's loop.
pub trait Link: Clone + Send + Sync + 'static {
    /// Sends `cmd` to the loop, waiting for room if the loop's queue is bounded;
    /// [`Error::Stopped`] once the loop has ended.
    fn send(&self, cmd: Command) -> impl Future<Output = Result<()>> + Send;

    /// Sends `cmd` without waiting (from `Drop`); dropped if the loop has ended.
    fn send_detached(&self, cmd: Command);
}

/// A handle on a driver's loop: sends it commands. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client<L> {
    link: L,
    writes: Arc<WriteBudget>,
}

impl<L: Link> Client<L> {
    /// A client sending over `link`, whose writes take room in `writes` (the loop's budget).
    pub fn new(link: L, writes: Arc<WriteBudget>) -> Client<L> {
        Client { link, writes }
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.link.send(make(tx)).await?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Sends a file request to the core and waits for its answer. A `Write` first waits for
    /// room for its body in the write budget (the driver's `write_memory_limit`) and holds
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
    /// once.
    pub async fn flush(&self, wait: bool) -> Result<()> {
        self.call(|reply| Command::Flush { wait, reply }).await?
    }

    /// A status snapshot.
    pub async fn status(&self) -> Result<Status> {
        self.call(|reply| Command::Status { reply }).await
    }

    /// Stops the loop and waits for its report.
    pub async fn stop(&self) -> Result<StopReport> {
        self.call(|reply| Command::Stop { reply: Some(reply) })
            .await
    }

    /// Asks for a stop without waiting (from `Drop`); ignored if the loop is gone.
    pub fn stop_detached(&self) {
        self.link.send_detached(Command::Stop { reply: None });
    }

    /// Closes `handle` without waiting for the answer (from `Drop`).
    pub fn close_detached(&self, handle: HandleId) {
        let (reply, _) = oneshot::channel();
        self.link.send_detached(Command::Request {
            req: Request::Close { handle },
            reply,
            permit: None,
        });
    }

    /// Removes `key`; returns once the removal is journaled durably.
    pub async fn unlink(&self, key: &str) -> Result<()> {
        let req = Request::Unlink {
            key: key.to_string(),
        };
        match self.request(req).await? {
            Reply::Unlinked => Ok(()),
            other => Err(unexpected("unlink", other)),
        }
    }

    /// Creates the directory `key` (a marker object `key/`); returns once journaled durably.
    pub async fn mkdir(&self, key: &str) -> Result<()> {
        let req = Request::Mkdir {
            key: key.to_string(),
        };
        match self.request(req).await? {
            Reply::DirCreated => Ok(()),
            other => Err(unexpected("mkdir", other)),
        }
    }

    /// Removes the empty directory `key`; returns once journaled durably.
    pub async fn rmdir(&self, key: &str) -> Result<()> {
        let req = Request::Rmdir {
            key: key.to_string(),
        };
        match self.request(req).await? {
            Reply::DirRemoved => Ok(()),
            other => Err(unexpected("rmdir", other)),
        }
    }

    /// Renames the directory `from` to `to`: every key below it, in one journaled
    /// transaction; returns once it is durable.
    pub async fn rename_dir(&self, from: &str, to: &str) -> Result<()> {
        let req = Request::RenameDir {
            from: from.to_string(),
            to: to.to_string(),
        };
        match self.request(req).await? {
            Reply::Renamed => Ok(()),
            other => Err(unexpected("rename_dir", other)),
        }
    }

    /// Renames `from` to `to` (replacing `to`); returns once journaled durably.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let req = Request::Rename {
            from: from.to_string(),
            to: to.to_string(),
        };
        match self.request(req).await? {
            Reply::Renamed => Ok(()),
            other => Err(unexpected("rename", other)),
        }
    }

    /// What `key` is (file or directory, size, mtime, version); [`Error::NotFound`] when
    /// nothing is there. Local state first; unknown keys ask the server (remembered for the
    /// core's `stat_ttl`).
    pub async fn stat(&self, key: &str) -> Result<Attr> {
        let req = Request::Stat {
            key: key.to_string(),
        };
        match self.request(req).await? {
            Reply::Attr(attr) => Ok(attr),
            other => Err(unexpected("stat", other)),
        }
    }

    /// One page of the directory `dir` (`""` for the root, else ending with `/`): up to
    /// about `max` names after `after`, remote ones overlaid with local changes, and the
    /// `after` for the next page (`None` at the end).
    pub async fn list(&self, dir: &str, after: Option<&str>, max: u32) -> Result<Page> {
        let req = Request::List {
            dir: dir.to_string(),
            after: after.map(str::to_string),
            max,
        };
        match self.request(req).await? {
            Reply::Listing { entries, next } => Ok((entries, next)),
            other => Err(unexpected("list", other)),
        }
    }
}

/// The error for a reply of another kind than the request asks for (a bug).
pub(crate) fn unexpected(request: &'static str, reply: Reply) -> Error {
    Error::UnexpectedReply {
        request,
        reply: format!("{reply:?}"),
    }
}
