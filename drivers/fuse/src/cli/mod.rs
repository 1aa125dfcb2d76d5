//! The `silt` binary's commands: argument parsing, logging, settings, starting the engine,
//! serving the mount until a signal, and the subcommands that talk to a running mount.

pub mod args;
mod busy;
mod cache_arg;
mod config_cmd;
mod conflicts_cmd;
mod daemon;
mod demo_cmd;
mod direct;
mod engine;
mod flush_cmd;
mod fsck_cmd;
pub mod logging;
mod mount_cmd;
mod serve;
mod settings;
mod status_cmd;

use args::{Cli, Command, CommonArgs};
use silt_fuse::{FsOptions, Ownership};

/// Runs the command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Demo(args)) => demo_cmd::run(args),
        Some(Command::Status(args)) => status_cmd::run(args),
        Some(Command::Flush(args)) => flush_cmd::run(args),
        Some(Command::Conflicts(args)) => conflicts_cmd::run(args),
        Some(Command::Fsck(args)) => fsck_cmd::run(args),
        Some(Command::Config(command)) => config_cmd::run(command),
        None => mount_cmd::run(cli.mount),
    }
}

/// The engine's runtime (the FUSE requests run on it too).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name("silt")
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// How files look: owner and modes from the flags, the kernel's attribute TTL,
/// `fsync_on_close` from the settings.
fn fs_options(common: &CommonArgs, settings: &silt_config::Settings) -> FsOptions {
    let me = Ownership::of_current_user();
    FsOptions {
        ownership: Ownership {
            uid: common.uid.unwrap_or(me.uid),
            gid: common.gid.unwrap_or(me.gid),
            file_mode: common.file_mode,
            dir_mode: common.dir_mode,
        },
        attr_ttl: common.stat_cache_ttl,
        fsync_on_close: settings.fsync_on_close,
        passthrough: settings.passthrough,
    }
}
