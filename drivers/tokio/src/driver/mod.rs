//! The driver: one tokio task that owns the core (inside a [`DriverState`]) and executes
//! everything it orders.
//!
//! Requests arrive over a bounded channel ([`DriverClient`]), each with a oneshot for its
//! answer; executors report completions over an unbounded channel (their number is bounded
//! by the orders in flight). After every input the task settles the state (drains the
//! core's outputs), then sleeps until the next command, completion, core timer or
//! disk-space reading. No lock guards the core: the task is its only owner.

mod exec;
mod link;

pub use link::{DriverClient, TaskLink};
pub use silt_engine::{DriverParts, StopReport};

use exec::Exec;
use silt_core::{ConfigError, CoreConfig, Input, Recovered};
use silt_engine::{Client, Command, DriverState};
use silt_s3::ObjectStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
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

/// A core with what it runs against, ready to be spawned.
pub struct Driver<S> {
    state: DriverState,
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
        let mut state =
            DriverState::recover(cfg, recovered, opts.write_memory_limit, opts.stop_timeout)?;
        state.watch(&parts.store, &parts.index);
        Ok(Driver { state, parts, opts })
    }

    /// The metrics the driver keeps (serve them with `silt_engine::Services`).
    pub fn metrics(&self) -> Arc<silt_engine::Metrics> {
        self.state.metrics()
    }

    /// Starts the driver task on the current runtime.
    pub fn spawn(self) -> (DriverClient, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(self.opts.request_queue.max(1));
        let client = Client::new(TaskLink::new(tx), self.state.write_budget());
        let task = tokio::spawn(self.run(rx));
        (client, task)
    }

    async fn run(self, cmd_rx: mpsc::Receiver<Command>) {
        let Driver {
            mut state,
            mut parts,
            opts,
        } = self;
        let lock = parts.lock.take();
        state.begin(parts.initial_free);
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let mut exec = Exec {
            parts,
            slots: Arc::new(Semaphore::new(opts.max_remote_ops.max(1))),
            done_tx,
            remote_tasks: JoinSet::new(),
        };
        let report = run_loop(&mut state, &mut exec, cmd_rx, done_rx, &opts).await;
        // Abandon remote operations (the journal resumes them) and release everything the
        // core ran against before the lock and before the stop is answered.
        exec.remote_tasks.abort_all();
        drop(exec);
        let stoppers = state.finish();
        drop(lock);
        for tx in stoppers {
            let _ = tx.send(report.clone());
        }
    }
}

/// Far enough to mean "no timer".
const IDLE: Duration = Duration::from_secs(3600);

async fn run_loop<S: ObjectStore + 'static>(
    state: &mut DriverState,
    exec: &mut Exec<S>,
    mut cmd_rx: mpsc::Receiver<Command>,
    mut done_rx: mpsc::UnboundedReceiver<Input>,
    opts: &DriverOptions,
) -> StopReport {
    let (disk_tx, mut disk_rx) = mpsc::unbounded_channel();
    let period = opts.disk_free_interval.max(Duration::from_millis(10));
    let mut disk_tick = tokio::time::interval_at(Mono::now() + period, period);
    disk_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut disk_busy = false;
    let mut commands_open = true;
    let timer = tokio::time::sleep(IDLE);
    tokio::pin!(timer);
    let stop_timer = tokio::time::sleep(IDLE);
    tokio::pin!(stop_timer);
    loop {
        state.settle(exec);
        exec.reap();
        if state.stop_complete() {
            return state.stop_report(true);
        }
        let deadline = state
            .next_timeout()
            .map_or_else(|| Mono::now() + IDLE, Mono::from_std);
        timer.as_mut().reset(deadline);
        if let Some(d) = state.stop_deadline() {
            stop_timer.as_mut().reset(Mono::from_std(d));
        }
        tokio::select! {
            biased;
            Some(input) = done_rx.recv() => state.completed(input),
            cmd = cmd_rx.recv(), if commands_open => match cmd {
                Some(cmd) => state.command(cmd),
                // Every client is gone: stop as if asked.
                None => {
                    commands_open = false;
                    state.begin_stop(None);
                }
            },
            () = &mut timer => state.timeout(),
            Some(reading) = disk_rx.recv() => {
                disk_busy = false;
                state.disk_free(reading);
            }
            _ = disk_tick.tick(), if !disk_busy => {
                disk_busy = true;
                read_disk_free(exec.parts.cache_dir.clone(), disk_tx.clone());
            }
            () = &mut stop_timer, if state.stop_deadline().is_some() => {
                let report = state.stop_report(false);
                tracing::warn!(?report, "stop timed out; unfinished work is left as a crash would leave it");
                return report;
            }
        }
    }
}

/// Reads free disk space on the blocking pool; the reading comes back on `tx`.
fn read_disk_free(dir: PathBuf, tx: mpsc::UnboundedSender<Option<u64>>) {
    tokio::task::spawn_blocking(move || {
        let _ = tx.send(silt_engine::disk::free_bytes(&dir));
    });
}
