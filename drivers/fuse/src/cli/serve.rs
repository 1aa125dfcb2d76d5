//! Serving a mount until a signal (Ctrl-C, SIGTERM) or an outside unmount, then unmounting
//! cleanly.

use anyhow::Context;
use silt_fuse::{mount, Backend, MountConfig, Mounted};
use tokio::runtime::Runtime;
use tokio::signal::unix::{signal, SignalKind};

/// Mounts `backend` per `config`, calls `announce` once the mount is up, serves until
/// SIGINT, SIGTERM or an outside unmount, then unmounts and stops the engine.
pub fn serve(
    rt: &Runtime,
    backend: Backend,
    config: &MountConfig,
    announce: impl FnOnce(&Mounted),
) -> anyhow::Result<()> {
    let mut mounted = mount(backend, rt.handle().clone(), config)
        .with_context(|| format!("cannot mount on {}", config.mountpoint.display()))?;
    announce(&mounted);
    let why = rt.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        anyhow::Ok(tokio::select! {
            _ = int.recv() => "interrupted",
            _ = term.recv() => "terminated",
            _ = mounted.ended() => "unmounted from outside",
        })
    })?;
    let pending = rt.block_on(async {
        match mounted.manager() {
            Some(m) => m.status().await.ok(),
            None => None,
        }
    });
    eprintln!("silt: {why}; unmounting {}", config.mountpoint.display());
    let report = rt
        .block_on(mounted.unmount())
        .context("unmounting and stopping the cache")?;
    if let Some(s) = pending {
        let uploads = s.uploads_queued + s.uploads_in_progress;
        if uploads + s.deletes_pending > 0 {
            eprintln!(
                "silt: {uploads} upload(s) and {} delete(s) not done yet stay journaled in the cache; they resume at the next mount",
                s.deletes_pending
            );
        }
    }
    if report.clean {
        eprintln!("silt: unmounted cleanly");
    } else {
        eprintln!(
            "silt: stopped before everything was committed ({}); everything fsynced is safe",
            report.pending.as_deref().unwrap_or("timeout")
        );
    }
    Ok(())
}
