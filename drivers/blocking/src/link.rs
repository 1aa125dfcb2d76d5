//! The driver thread's one inbox ([`Msg`]: callers' commands, executors' completions and
//! disk readings, in arrival order) and the [`ThreadLink`] callers send over.

use silt_core::Input;
use silt_engine::{Command, Error, Link, Result};
use std::sync::mpsc::Sender;

/// What the driver thread receives.
pub(crate) enum Msg {
    /// A caller's command.
    Command(Command),
    /// An executor's completion.
    Done(Input),
    /// A free-space reading of the cache disk.
    Disk(Option<u64>),
}

impl From<Input> for Msg {
    fn from(input: Input) -> Msg {
        Msg::Done(input)
    }
}

/// The driver thread's inbox, as callers reach it. Unbounded: every blocking caller has
/// one command outstanding at most, so the queue holds no more than there are callers.
#[derive(Clone, Debug)]
pub(crate) struct ThreadLink {
    tx: Sender<Msg>,
}

impl ThreadLink {
    pub(crate) fn new(tx: Sender<Msg>) -> ThreadLink {
        ThreadLink { tx }
    }
}

impl Link for ThreadLink {
    async fn send(&self, cmd: Command) -> Result<()> {
        self.tx.send(Msg::Command(cmd)).map_err(|_| Error::Stopped)
    }

    fn send_detached(&self, cmd: Command) {
        let _ = self.tx.send(Msg::Command(cmd));
    }
}
