//! How callers reach the driver task: a bounded tokio channel ([`TaskLink`]), and the
//! client that sends over it ([`DriverClient`]).

use silt_engine::{Client, Command, Error, Link, Result};
use tokio::sync::mpsc;

/// A handle on the driver task: sends it commands. Cheap to clone.
pub type DriverClient = Client<TaskLink>;

/// The bounded command channel of the driver task: callers wait for room (back-pressure).
#[derive(Clone, Debug)]
pub struct TaskLink {
    tx: mpsc::Sender<Command>,
}

impl TaskLink {
    pub(crate) fn new(tx: mpsc::Sender<Command>) -> TaskLink {
        TaskLink { tx }
    }
}

impl Link for TaskLink {
    async fn send(&self, cmd: Command) -> Result<()> {
        self.tx.send(cmd).await.map_err(|_| Error::Stopped)
    }

    /// At once if the queue has room, else from a task if a runtime is there to run one:
    /// a stop is not lost behind the requests. Dropped if the driver task is gone.
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
