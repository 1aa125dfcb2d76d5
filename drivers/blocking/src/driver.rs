//! The driver thread: owns the core (inside a [`DriverState`]) and waits on one inbox.
//!
//! Callers' commands, executors' completions and disk readings all arrive on one std
//! channel, in order. After every message the thread settles the state (drains the core's
//! outputs into the executors), then waits with `recv_timeout` until the next message, the
//! core's timer, the next disk reading or the stop deadline. The core's timer is checked
//! after every message too, so a steady stream of messages never starves it. No lock guards
//! the core: the thread is its only owner.

use crate::exec::Exec;
use crate::link::{Msg, ThreadLink};
use crate::options::DriverOptions;
use silt_engine::{
    CacheLock, Client, DriverState, Error, Metrics, Opened, Result, ServiceOptions, StopReport,
};
use silt_s3::ObjectStore;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Far enough to mean "no timer".
const IDLE: Duration = Duration::from_secs(3600);

/// The running driver's parts, on its thread.
struct Driver<S> {
    state: DriverState,
    exec: Exec<S>,
    inbox: Receiver<Msg>,
    lock: Option<CacheLock>,
    disk_free_interval: Duration,
}

/// What [`spawn`] started: the client callers use, the driver thread (it ends after a
/// stop), the metrics it keeps and the services to start for it.
pub(crate) struct Spawned {
    pub client: Client<ThreadLink>,
    pub thread: JoinHandle<()>,
    pub metrics: Arc<Metrics>,
    pub services: ServiceOptions,
}

/// Builds the core from an opened cache directory, starts the executors and the driver
/// thread.
pub(crate) fn spawn<S: ObjectStore + 'static>(opened: Opened<S, DriverOptions>) -> Result<Spawned> {
    let Opened {
        core,
        recovered,
        mut parts,
        driver: opts,
        write_limit,
        services,
        ..
    } = opened;
    let lock = parts.lock.take();
    let mut state = DriverState::recover(core, recovered, write_limit, opts.stop_timeout)?;
    state.watch(&parts.store, &parts.index);
    let metrics = state.metrics();
    state.begin(parts.initial_free);
    let (tx, inbox) = channel();
    let exec = Exec::start(parts, tx.clone(), &opts)?;
    let client = Client::new(ThreadLink::new(tx), state.write_budget());
    let driver = Driver {
        state,
        exec,
        inbox,
        lock,
        disk_free_interval: opts.disk_free_interval,
    };
    let thread = std::thread::Builder::new()
        .name("silt-driver".into())
        .spawn(move || driver.run())
        .map_err(|source| Error::Spawn {
            what: "driver thread",
            source,
        })?;
    Ok(Spawned {
        client,
        thread,
        metrics,
        services,
    })
}

impl<S: ObjectStore + 'static> Driver<S> {
    fn run(mut self) {
        let report = self.run_loop();
        let Driver {
            state, exec, lock, ..
        } = self;
        // Abandon remote operations (the journal resumes them) and release everything the
        // core ran against before the lock and before the stop is answered.
        exec.shut_down(state.stop_complete());
        let stoppers = state.finish();
        drop(lock);
        for tx in stoppers {
            let _ = tx.send(report.clone());
        }
    }

    fn run_loop(&mut self) -> StopReport {
        let period = self.disk_free_interval.max(Duration::from_millis(10));
        let mut next_disk = Instant::now() + period;
        let mut disk_busy = false;
        loop {
            self.state.settle(&mut self.exec);
            if self.state.stop_complete() {
                return self.state.stop_report(true);
            }
            let now = Instant::now();
            if self.state.stop_deadline().is_some_and(|d| d <= now) {
                let report = self.state.stop_report(false);
                tracing::warn!(
                    ?report,
                    "stop timed out; unfinished work is left as a crash would leave it"
                );
                return report;
            }
            let timer = self.state.next_timeout();
            if timer.is_some_and(|t| t <= now) {
                self.state.timeout();
                continue;
            }
            if !disk_busy && next_disk <= now {
                disk_busy = true;
                next_disk = now + period;
                self.exec.read_disk_free();
            }
            let mut wake = timer.unwrap_or(now + IDLE);
            if !disk_busy {
                wake = wake.min(next_disk);
            }
            if let Some(d) = self.state.stop_deadline() {
                wake = wake.min(d);
            }
            match self.inbox.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(Msg::Done(input)) => self.state.completed(input),
                Ok(Msg::Command(cmd)) => self.state.command(cmd),
                Ok(Msg::Disk(reading)) => {
                    disk_busy = false;
                    self.state.disk_free(reading);
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The executors hold a sender for as long as this loop runs.
                Err(RecvTimeoutError::Disconnected) => {
                    tracing::error!("the driver's inbox closed; stopping");
                    return self.state.stop_report(false);
                }
            }
        }
    }
}
