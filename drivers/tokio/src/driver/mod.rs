//! The driver: one tokio task that owns the [`Core`] and executes everything it orders.
//!
//! Requests arrive over a bounded channel ([`DriverClient`]), each with a oneshot for its
//! answer; executors report completions over an unbounded channel (their number is bounded
//! by the orders in flight). After every input the task drains [`Core::poll_output`], then
//! sleeps until the next command, completion, [`Core::poll_timeout`] or disk-space reading.
//! No lock guards the core: the task is its only owner.

mod command;
mod events;
mod exec;

pub use command::{DriverClient, StopReport};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::lock::CacheLock;
use crate::memory::{WriteBudget, WritePermit};
use crate::status::{DriverFigures, EventCounts, Status};
use command::Command;
use silt_core::{
    ConfigError, Core, CoreConfig, Event, FileError, HandleId, Input, Output, Recovered, Reply,
    Request, RequestId,
};
use silt_index::GroupCommit;
use silt_s3::ObjectStore;
use silt_store::Store;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant as Mono;

/// Limits and timers of the driver itself (the core's are in [`CoreConfig`]).
#[derive(Clone, Debug)]
pub struct DriverOptions {
    /// Object-store operations running at once, all kinds together (the core limits
    /// uploads, parts and fetches on its own; this caps the sum).
    pub max_remote_ops: usize,
    /// How often free disk space is read and fed to the core.
    pub disk_free_interval: Duration,
    /// How long a stop waits for local work to become durable before it gives up.
    pub stop_timeout: Duration,
    /// Commands queued before callers wait (back-pressure).
    pub request_queue: usize,
    /// Bytes of write request bodies in flight (sent to the core, not answered yet): a write
    /// waits for room before it is sent. A write larger than this takes all of it. The
    /// `CacheManager` sets it to a quarter of its `memory_limit`.
    pub write_memory_limit: u64,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            max_remote_ops: 64,
            disk_free_interval: Duration::from_secs(10),
            stop_timeout: Duration::from_secs(30),
            request_queue: 1024,
            write_memory_limit: 256 << 20,
        }
    }
}

/// What the driver executes orders against.
pub struct DriverParts<S> {
    /// The cache directory (for disk-space readings).
    pub cache_dir: PathBuf,
    /// The cache files.
    pub store: Arc<Store>,
    /// The index, behind its group commit.
    pub index: Arc<GroupCommit>,
    /// The bucket.
    pub remote: Arc<S>,
    /// The cache-directory lock, released when the driver task ends.
    pub lock: Option<CacheLock>,
    /// A first free-space reading, fed to the core before anything else.
    pub initial_free: Option<u64>,
}

/// A core with what it runs against, ready to be spawned.
pub struct Driver<S> {
    core: Core,
    core_memory_limit: u64,
    clock: Clock,
    parts: DriverParts<S>,
    opts: DriverOptions,
}

impl<S: ObjectStore + 'static> Driver<S> {
    /// Builds the core from what the index held (`Recovered::default()` for an empty cache:
    /// then this is `Core::new`).
    pub fn recover(
        cfg: CoreConfig,
        recovered: Recovered,
        parts: DriverParts<S>,
        opts: DriverOptions,
    ) -> std::result::Result<Driver<S>, ConfigError> {
        let clock = Clock::start();
        let core_memory_limit = cfg.memory_limit;
        let core = Core::recover(cfg, recovered, clock.now())?;
        Ok(Driver {
            core,
            core_memory_limit,
            clock,
            parts,
            opts,
        })
    }

    /// Starts the driver task on the current runtime.
    pub fn spawn(self) -> (DriverClient, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(self.opts.request_queue.max(1));
        let writes = WriteBudget::new(self.opts.write_memory_limit);
        let task = tokio::spawn(self.run(rx, writes.clone()));
        (DriverClient::new(tx, writes), task)
    }

    async fn run(self, cmd_rx: mpsc::Receiver<Command>, writes: Arc<WriteBudget>) {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (disk_tx, disk_rx) = mpsc::unbounded_channel();
        let slots = Arc::new(Semaphore::new(self.opts.max_remote_ops.max(1)));
        let mut state = State {
            core: self.core,
            core_memory_limit: self.core_memory_limit,
            writes,
            clock: self.clock,
            parts: self.parts,
            opts: self.opts,
            done_tx,
            disk_tx,
            slots,
            remote_tasks: JoinSet::new(),
            waiting: HashMap::new(),
            next_request: 1,
            open_handles: BTreeSet::new(),
            flush_waiters: Vec::new(),
            reflush: false,
            local_in_flight: 0,
            index_in_flight: 0,
            remote_held: 0,
            events: EventCounts::default(),
            fatal: None,
            stopping: None,
        };
        let report = state.run(cmd_rx, done_rx, disk_rx).await;
        let lock = state.parts.lock.take();
        let stoppers = state.stopping.take().map(|s| s.replies).unwrap_or_default();
        // Abandon remote operations (the journal resumes them) and release everything the
        // core ran against before the lock and before the stop is answered.
        state.remote_tasks.abort_all();
        drop(state);
        drop(lock);
        for tx in stoppers {
            let _ = tx.send(report.clone());
        }
    }
}

/// A request the core has not answered yet.
struct Waiting {
    /// The caller (`None` for the driver's own requests).
    reply: Option<oneshot::Sender<Result<Reply>>>,
    /// The handle a `Close` closes.
    closes: Option<HandleId>,
    /// One of the fsyncs a stop sends.
    stop_fsync: bool,
    /// The write budget a `Write` holds: given back when the reply arrives.
    _permit: Option<WritePermit>,
}

/// A stop under way.
struct Stopping {
    replies: Vec<oneshot::Sender<StopReport>>,
    deadline: Mono,
    fsyncs_outstanding: usize,
}

/// The running driver task's state.
struct State<S> {
    core: Core,
    /// `CoreConfig::memory_limit`, for status.
    core_memory_limit: u64,
    /// The budget of write bodies in flight (shared with the clients).
    writes: Arc<WriteBudget>,
    clock: Clock,
    parts: DriverParts<S>,
    opts: DriverOptions,
    done_tx: mpsc::UnboundedSender<Input>,
    disk_tx: mpsc::UnboundedSender<Option<u64>>,
    slots: Arc<Semaphore>,
    remote_tasks: JoinSet<()>,
    waiting: HashMap<RequestId, Waiting>,
    next_request: u64,
    open_handles: BTreeSet<HandleId>,
    flush_waiters: Vec<oneshot::Sender<Result<()>>>,
    /// A conflict copy was queued while flushes wait: flush again, so that its upload does
    /// not wait for the write-back delay.
    reflush: bool,
    local_in_flight: usize,
    index_in_flight: usize,
    /// Remote operations not sent because a stop is under way.
    remote_held: usize,
    events: EventCounts,
    fatal: Option<String>,
    stopping: Option<Stopping>,
}

/// Far enough to mean "no timer".
const IDLE: Duration = Duration::from_secs(3600);

impl<S: ObjectStore + 'static> State<S> {
    async fn run(
        &mut self,
        mut cmd_rx: mpsc::Receiver<Command>,
        mut done_rx: mpsc::UnboundedReceiver<Input>,
        mut disk_rx: mpsc::UnboundedReceiver<Option<u64>>,
    ) -> StopReport {
        if let Some(bytes) = self.parts.initial_free {
            self.input(Input::DiskFree { bytes });
        }
        // Starts the work recovery found (resumed uploads, deletes, eviction).
        self.input(Input::Timeout);
        let period = self.opts.disk_free_interval.max(Duration::from_millis(10));
        let mut disk_tick = tokio::time::interval_at(Mono::now() + period, period);
        disk_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut disk_busy = false;
        let mut commands_open = true;
        let timer = tokio::time::sleep(IDLE);
        tokio::pin!(timer);
        let stop_timer = tokio::time::sleep(IDLE);
        tokio::pin!(stop_timer);
        loop {
            self.drain();
            if std::mem::take(&mut self.reflush)
                && !self.flush_waiters.is_empty()
                && self.stopping.is_none()
            {
                // The conflict copy's upload was queued with the write-back delay after the
                // flush made everything due: make it due too, then drain again.
                self.submit(Request::Flush, None, false);
                continue;
            }
            self.reap();
            self.answer_flush_waiters();
            if self.stop_complete() {
                return self.stop_report(true);
            }
            let deadline = self
                .core
                .poll_timeout()
                .map_or_else(|| Mono::now() + IDLE, |t| self.clock.deadline(t));
            timer.as_mut().reset(deadline);
            if let Some(s) = &self.stopping {
                stop_timer.as_mut().reset(s.deadline);
            }
            tokio::select! {
                biased;
                Some(input) = done_rx.recv() => self.completed(input),
                cmd = cmd_rx.recv(), if commands_open => match cmd {
                    Some(cmd) => self.command(cmd),
                    // Every client is gone: stop as if asked.
                    None => {
                        commands_open = false;
                        self.begin_stop(None);
                    }
                },
                () = &mut timer => self.input(Input::Timeout),
                Some(reading) = disk_rx.recv() => {
                    disk_busy = false;
                    if let Some(bytes) = reading {
                        self.input(Input::DiskFree { bytes });
                    }
                }
                _ = disk_tick.tick(), if !disk_busy => {
                    disk_busy = true;
                    self.read_disk_free();
                }
                () = &mut stop_timer, if self.stopping.is_some() => {
                    let report = self.stop_report(false);
                    tracing::warn!(?report, "stop timed out; unfinished work is left as a crash would leave it");
                    return report;
                }
            }
        }
    }

    /// Hands one input to the core at the current time.
    fn input(&mut self, input: Input) {
        let now = self.clock.now();
        self.core.handle_input(now, input);
    }

    /// A completion from an executor.
    fn completed(&mut self, input: Input) {
        match &input {
            Input::Local(..) => self.local_in_flight = self.local_in_flight.saturating_sub(1),
            Input::Index(..) => self.index_in_flight = self.index_in_flight.saturating_sub(1),
            _ => {}
        }
        self.input(input);
    }

    /// Executes every output the core has.
    fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Local(id, op) => {
                    self.local_in_flight += 1;
                    exec::local(&self.parts.store, &self.done_tx, id, op);
                }
                Output::Index(id, txn) => {
                    self.index_in_flight += 1;
                    exec::index(&self.parts.index, &self.done_tx, id, txn);
                }
                Output::Remote(id, op) => {
                    if self.stopping.is_some() {
                        // Stopping: the journal resumes it at the next start.
                        self.remote_held += 1;
                        tracing::debug!(
                            ?id,
                            op = exec::op_name(&op),
                            "stopping: remote operation not sent"
                        );
                        continue;
                    }
                    tracing::trace!(
                        ?id,
                        op = exec::op_name(&op),
                        bytes = exec::body_len(&op),
                        "remote operation"
                    );
                    exec::remote(
                        &mut self.remote_tasks,
                        &self.parts.remote,
                        &self.slots,
                        &self.done_tx,
                        id,
                        op,
                    );
                }
                Output::Reply(id, result) => self.reply(id, result),
                Output::Event(e) => {
                    if matches!(e, Event::Conflict(_)) && !self.flush_waiters.is_empty() {
                        self.reflush = true;
                    }
                    if let Some(reason) = events::record(&mut self.events, e) {
                        self.fatal.get_or_insert(reason);
                    }
                }
            }
        }
    }

    /// Collects finished remote tasks (their results went over the completion channel).
    fn reap(&mut self) {
        while let Some(r) = self.remote_tasks.try_join_next() {
            if let Err(e) = r {
                if e.is_panic() {
                    tracing::error!(error = %e, "object-store task panicked");
                }
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Request { req, reply, permit } => {
                if self.stopping.is_some() {
                    let _ = reply.send(Err(Error::Stopped));
                    return;
                }
                self.submit_holding(req, Some(reply), false, permit);
            }
            Command::Flush { wait, reply } => {
                if self.stopping.is_some() {
                    let _ = reply.send(Err(Error::Stopped));
                    return;
                }
                // Every waiting upload and delete becomes due now (skipping the write-back
                // delay and any retry time the journal kept from an earlier run), and the
                // core commits; it answers `Flushed` at once.
                self.submit(Request::Flush, None, false);
                if wait {
                    self.flush_waiters.push(reply);
                } else {
                    let _ = reply.send(Ok(()));
                }
            }
            Command::Status { reply } => {
                let status = self.status();
                let _ = reply.send(status);
            }
            Command::Stop { reply } => self.begin_stop(reply),
        }
    }

    /// Passes a request to the core.
    fn submit(
        &mut self,
        req: Request,
        reply: Option<oneshot::Sender<Result<Reply>>>,
        stop_fsync: bool,
    ) {
        self.submit_holding(req, reply, stop_fsync, None);
    }

    /// Passes a request to the core; `permit` (a write's room in the write budget) is held
    /// until the core answers.
    fn submit_holding(
        &mut self,
        req: Request,
        reply: Option<oneshot::Sender<Result<Reply>>>,
        stop_fsync: bool,
        permit: Option<WritePermit>,
    ) {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let closes = match &req {
            Request::Close { handle } => Some(*handle),
            _ => None,
        };
        self.waiting.insert(
            id,
            Waiting {
                reply,
                closes,
                stop_fsync,
                _permit: permit,
            },
        );
        self.input(Input::Request(id, req));
    }

    /// Answers a request.
    fn reply(&mut self, id: RequestId, result: std::result::Result<Reply, FileError>) {
        let Some(w) = self.waiting.remove(&id) else {
            tracing::warn!(?id, "reply to an unknown request");
            return;
        };
        if let Ok(Reply::Opened { handle, .. }) = &result {
            self.open_handles.insert(*handle);
        }
        if let Some(h) = w.closes {
            if matches!(result, Ok(Reply::Closed) | Err(FileError::BadHandle)) {
                self.open_handles.remove(&h);
            }
        }
        if w.stop_fsync {
            if let Err(e) = &result {
                tracing::warn!(error = %e, "stop: fsync of an open handle failed");
            }
            if let Some(s) = &mut self.stopping {
                s.fsyncs_outstanding = s.fsyncs_outstanding.saturating_sub(1);
            }
        }
        let Some(tx) = w.reply else {
            if let Err(e) = &result {
                tracing::debug!(?id, error = %e, "the driver's own request failed");
            }
            return;
        };
        let opened = match &result {
            Ok(Reply::Opened { handle, .. }) => Some(*handle),
            _ => None,
        };
        if tx.send(result.map_err(Error::from)).is_err() {
            // The caller gave up waiting: close what it will never use.
            if let (Some(handle), None) = (opened, &self.stopping) {
                self.submit(Request::Close { handle }, None, false);
            }
        }
    }

    fn answer_flush_waiters(&mut self) {
        if self.flush_waiters.is_empty() {
            return;
        }
        let fatal = self.fatal.clone();
        if fatal.is_none() && self.core.pending().is_some() {
            return;
        }
        for tx in self.flush_waiters.drain(..) {
            let _ = tx.send(fatal.clone().map_or(Ok(()), |r| Err(Error::Fatal(r))));
        }
    }

    /// Starts a stop: refuse new work, fsync every open handle, stop sending to the bucket.
    fn begin_stop(&mut self, reply: Option<oneshot::Sender<StopReport>>) {
        if let Some(s) = &mut self.stopping {
            s.replies.extend(reply);
            return;
        }
        tracing::info!(open_handles = self.open_handles.len(), "stopping");
        for tx in self.flush_waiters.drain(..) {
            let _ = tx.send(Err(Error::Stopped));
        }
        self.stopping = Some(Stopping {
            replies: reply.into_iter().collect(),
            deadline: Mono::now() + self.opts.stop_timeout,
            fsyncs_outstanding: self.open_handles.len(),
        });
        if self.fatal.is_some() {
            // Durable requests fail anyway; nothing more can be made durable.
            if let Some(s) = &mut self.stopping {
                s.fsyncs_outstanding = 0;
            }
            return;
        }
        let handles: Vec<HandleId> = self.open_handles.iter().copied().collect();
        for handle in handles {
            self.submit(Request::Fsync { handle }, None, true);
        }
    }

    fn stop_complete(&self) -> bool {
        let Some(s) = &self.stopping else {
            return false;
        };
        s.fsyncs_outstanding == 0
            && self.local_in_flight == 0
            && self.index_in_flight == 0
            && (self.core.is_persisted() || self.fatal.is_some())
    }

    fn stop_report(&self, clean: bool) -> StopReport {
        StopReport {
            clean: clean && self.fatal.is_none(),
            pending: self.core.pending(),
            remote_ops_abandoned: self.remote_held + self.remote_tasks.len(),
        }
    }

    fn status(&mut self) -> Status {
        let now = self.clock.now();
        Status::collect(
            &mut self.core,
            DriverFigures {
                now,
                events: &self.events,
                local_ops_in_flight: self.local_in_flight,
                remote_ops_in_flight: self.remote_tasks.len(),
                fatal: self.fatal.as_deref(),
                core_memory_limit: self.core_memory_limit,
                writes: self.writes.figures(),
            },
        )
    }

    /// Reads free disk space on the blocking pool; the reading comes back on `disk_tx`.
    fn read_disk_free(&self) {
        let dir = self.parts.cache_dir.clone();
        let tx = self.disk_tx.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(crate::disk::free_bytes(&dir));
        });
    }
}
