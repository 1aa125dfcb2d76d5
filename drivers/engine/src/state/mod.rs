//! [`DriverState`]: what a driver's loop keeps around the [`Core`], whichever way it waits.
//!
//! The loop owns the state; nothing else touches the core, so no lock guards it. A driver
//! feeds it what arrives (commands, completions, timer expiries, disk readings) and, after
//! every input, calls [`DriverState::settle`] with its [`Execute`]r, which runs the core's
//! orders off the loop. The tokio driver waits with `select!` on channels and timers; the
//! blocking driver with `recv_timeout` on one std channel. The rules (answers, open handles,
//! flush waiters, stop) are the same code for both.

mod requests;
mod stop;

use crate::clock::Clock;
use crate::command::{Command, StopReport};
use crate::error::Error;
use crate::memory::{WriteBudget, WritePermit};
use crate::metrics::observe::Observer;
use crate::metrics::Metrics;
use crate::status::{DriverFigures, EventCounts, Status};
use silt_core::{
    ConfigError, Core, CoreConfig, Event, HandleId, IndexTxn, Input, IoId, LocalOp, Output,
    Recovered, RemoteId, RemoteOp, Request, RequestId, TxnId,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use stop::Stopping;
use tokio::sync::oneshot;

/// Runs the core's orders off the loop; each reports its completion back to the loop as
/// an [`Input`] (see `crate::exec`).
pub trait Execute {
    /// A cache-file operation: may run at once, concurrently with every other in flight.
    fn local(&mut self, id: IoId, op: LocalOp);
    /// An index transaction (the core has at most one in flight).
    fn index(&mut self, id: TxnId, txn: IndexTxn);
    /// An object-store operation.
    fn remote(&mut self, id: RemoteId, op: RemoteOp);
}

/// A request the core has not answered yet.
struct Waiting {
    /// The caller (`None` for the driver's own requests).
    reply: Option<oneshot::Sender<crate::Result<silt_core::Reply>>>,
    /// The handle a `Close` closes.
    closes: Option<HandleId>,
    /// One of the fsyncs a stop sends.
    stop_fsync: bool,
    /// The write budget a `Write` holds: given back when the reply arrives.
    _permit: Option<WritePermit>,
}

/// The state of a running driver loop.
pub struct DriverState {
    core: Core,
    /// `CoreConfig::memory_limit`, for status.
    core_memory_limit: u64,
    /// The budget of write bodies in flight (shared with the clients).
    writes: Arc<WriteBudget>,
    clock: Clock,
    stop_timeout: Duration,
    waiting: HashMap<RequestId, Waiting>,
    next_request: u64,
    open_handles: BTreeSet<HandleId>,
    flush_waiters: Vec<oneshot::Sender<crate::Result<()>>>,
    /// A conflict copy was queued while flushes wait: flush again, so that its upload does
    /// not wait for the write-back delay.
    reflush: bool,
    local_in_flight: usize,
    index_in_flight: usize,
    remote_in_flight: usize,
    /// Remote operations not sent because a stop is under way.
    remote_held: usize,
    events: EventCounts,
    fatal: Option<String>,
    stopping: Option<Stopping>,
    /// The metrics, derived from what passes through the loop.
    obs: Observer,
    /// The last free-space reading.
    disk_free: Option<u64>,
    /// The store and the index, for their own counters in a status (weak: the executors
    /// own them, and they must close when the loop ends).
    telemetry: Option<(Weak<silt_store::Store>, Weak<silt_index::GroupCommit>)>,
}

impl DriverState {
    /// Builds the core from what the index held (`Recovered::default()` for an empty cache:
    /// then this is `Core::new`), with a write-body budget of `write_limit` bytes. A stop
    /// gives up after `stop_timeout`.
    pub fn recover(
        cfg: CoreConfig,
        recovered: Recovered,
        write_limit: u64,
        stop_timeout: Duration,
    ) -> Result<DriverState, ConfigError> {
        let clock = Clock::start();
        let core_memory_limit = cfg.memory_limit;
        let core = Core::recover(cfg, recovered, clock.now())?;
        Ok(DriverState {
            core,
            core_memory_limit,
            writes: WriteBudget::new(write_limit),
            clock,
            stop_timeout,
            waiting: HashMap::new(),
            next_request: 1,
            open_handles: BTreeSet::new(),
            flush_waiters: Vec::new(),
            reflush: false,
            local_in_flight: 0,
            index_in_flight: 0,
            remote_in_flight: 0,
            remote_held: 0,
            events: EventCounts::default(),
            fatal: None,
            stopping: None,
            obs: Observer::new(Arc::new(Metrics::new())),
            disk_free: None,
            telemetry: None,
        })
    }

    /// The metrics this loop keeps (serve them with `metrics::http`).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.obs.metrics().clone()
    }

    /// Lets a status read the store's and the index's own counters (sparse-file fallbacks,
    /// transactions per group commit). Only weak references are kept.
    pub fn watch(&mut self, store: &Arc<silt_store::Store>, index: &Arc<silt_index::GroupCommit>) {
        self.telemetry = Some((Arc::downgrade(store), Arc::downgrade(index)));
    }

    /// The write-body budget, for the loop's clients.
    pub fn write_budget(&self) -> Arc<WriteBudget> {
        self.writes.clone()
    }

    /// The first inputs: a disk reading if there is one, then a timeout, which starts the
    /// work recovery found (resumed uploads, deletes, eviction).
    pub fn begin(&mut self, initial_free: Option<u64>) {
        if let Some(bytes) = initial_free {
            self.disk_free = Some(bytes);
            self.input(Input::DiskFree { bytes });
        }
        self.timeout();
    }

    /// Hands one input to the core at the current time.
    fn input(&mut self, input: Input) {
        let now = self.clock.now();
        self.core.handle_input(now, input);
        self.obs.space_waiters(self.core.space_waiters());
    }

    /// The core's timer expired (or may have: an early call is harmless).
    pub fn timeout(&mut self) {
        self.input(Input::Timeout);
    }

    /// A free-space reading of the cache disk (`None`: no reading this time).
    pub fn disk_free(&mut self, reading: Option<u64>) {
        if let Some(bytes) = reading {
            self.disk_free = Some(bytes);
            self.input(Input::DiskFree { bytes });
        }
    }

    /// A completion from an executor.
    pub fn completed(&mut self, input: Input) {
        match &input {
            Input::Local(..) => self.local_in_flight = self.local_in_flight.saturating_sub(1),
            Input::Index(..) => self.index_in_flight = self.index_in_flight.saturating_sub(1),
            Input::Remote(..) => self.remote_in_flight = self.remote_in_flight.saturating_sub(1),
            _ => {}
        }
        self.obs.completed(&input);
        self.input(input);
    }

    /// When the core wants [`DriverState::timeout`] next, on the monotonic clock.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout().map(|t| self.clock.deadline(t))
    }

    /// Executes every output the core has, re-flushes for a conflict copy queued while
    /// flushes wait, and answers the flushes that are done. Call it after every input.
    pub fn settle(&mut self, exec: &mut impl Execute) {
        loop {
            self.drain(exec);
            if std::mem::take(&mut self.reflush)
                && !self.flush_waiters.is_empty()
                && self.stopping.is_none()
            {
                // The conflict copy's upload was queued with the write-back delay after the
                // flush made everything due: make it due too, then drain again.
                self.submit(Request::Flush, None, false);
                continue;
            }
            break;
        }
        self.answer_flush_waiters();
    }

    fn drain(&mut self, exec: &mut impl Execute) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Local(id, op) => {
                    self.local_in_flight += 1;
                    self.obs.local(id, &op);
                    exec.local(id, op);
                }
                Output::Index(id, txn) => {
                    self.index_in_flight += 1;
                    self.obs.index(id, &txn);
                    exec.index(id, txn);
                }
                Output::Remote(id, op) => self.remote(exec, id, op),
                Output::Reply(id, result) => self.reply(id, result),
                Output::Event(e) => {
                    if matches!(e, Event::Conflict(_)) && !self.flush_waiters.is_empty() {
                        self.reflush = true;
                    }
                    let upload = self.obs.event(&e);
                    if let Some(reason) =
                        crate::events::record(&mut self.events, e, upload.as_ref())
                    {
                        self.fatal.get_or_insert(reason);
                    }
                }
            }
        }
    }

    fn remote(&mut self, exec: &mut impl Execute, id: RemoteId, op: RemoteOp) {
        let name = crate::exec::op_name(&op);
        if self.stopping.is_some() {
            // Stopping: the journal resumes it at the next start.
            self.remote_held += 1;
            tracing::debug!(?id, op = name, "stopping: remote operation not sent");
            return;
        }
        let bytes = crate::exec::body_len(&op);
        tracing::trace!(?id, op = name, bytes, "remote operation");
        self.remote_in_flight += 1;
        self.obs.remote(id, &op);
        exec.remote(id, op);
    }

    /// Handles a caller's command.
    pub fn command(&mut self, cmd: Command) {
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

    fn status(&mut self) -> Status {
        let now = self.clock.now();
        let writes = self.writes.figures();
        let mut totals = crate::metrics::publish::Totals {
            writes_waited: writes.waited,
            ..Default::default()
        };
        let mut sparse_fallback_reason = None;
        if let Some((store, index)) = &self.telemetry {
            if let Some(store) = store.upgrade() {
                totals.sparse_fallback = store.telemetry().sparse_fallback();
                sparse_fallback_reason = store.telemetry().sparse_fallback_reason();
            }
            if let Some(index) = index.upgrade() {
                let stats = index.stats();
                totals.index_transactions = stats.transactions;
                totals.index_commits = stats.commits;
            }
        }
        let metrics = self.obs.metrics().clone();
        metrics.mirror_totals(totals);
        let status = Status::collect(
            &mut self.core,
            DriverFigures {
                now,
                events: &self.events,
                local_ops_in_flight: self.local_in_flight,
                remote_ops_in_flight: self.remote_in_flight,
                fatal: self.fatal.as_deref(),
                core_memory_limit: self.core_memory_limit,
                writes,
                counters: metrics.counters(),
                disk_free_bytes: self.disk_free,
                sparse_fallback_reason,
            },
        );
        metrics.publish(&status);
        status
    }

    /// Ends the state: the core and everything it holds go, and the stops that wait for the
    /// report are returned (answer them once the lock is released).
    pub fn finish(mut self) -> Vec<oneshot::Sender<StopReport>> {
        self.stopping.take().map(|s| s.replies).unwrap_or_default()
    }
}
