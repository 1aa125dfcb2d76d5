//! Mounting: checks that say what to fix, the FUSE session on a thread of its own, and an
//! unmount that closes what the kernel left open and stops the engine without losing
//! anything.

use crate::backend::Backend;
use crate::fs::{FsOptions, KernelSettings, Shared, SiltFs};
use fuser::{MountOption, SessionACL};
use silt_tokio::{CacheManager, StopReport};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use thiserror::Error;

/// How long an unmount waits for the kernel's last requests before it says it is waiting.
const SESSION_END_NOTICE: Duration = Duration::from_secs(5);

/// How to mount.
#[derive(Clone, Debug)]
pub struct MountConfig {
    /// The directory to mount on (it must exist).
    pub mountpoint: PathBuf,
    /// How files are presented.
    pub fs: FsOptions,
    /// The source name shown by `mount` and `df` (`bucket[:prefix]`).
    pub fs_name: String,
    /// `-o` options: `allow_other`, `allow_root`, `ro`, `default_permissions`, others passed
    /// to the kernel as they are.
    pub options: Vec<String>,
    /// Threads reading requests from the kernel (the requests themselves run on the
    /// engine's runtime).
    pub threads: usize,
    /// What to ask of the kernel.
    pub kernel: KernelSettings,
}

impl MountConfig {
    /// Defaults for `mountpoint`: two reader threads, no `-o` options.
    pub fn new(mountpoint: impl Into<PathBuf>, fs: FsOptions, fs_name: impl Into<String>) -> Self {
        MountConfig {
            mountpoint: mountpoint.into(),
            fs,
            fs_name: fs_name.into(),
            options: Vec::new(),
            threads: 2,
            kernel: KernelSettings::default(),
        }
    }
}

/// Why a mount could not be made or ended.
#[derive(Debug, Error)]
pub enum MountError {
    /// The mount point does not exist.
    #[error("mount point {} does not exist: create it first (mkdir -p {})", .0.display(), .0.display())]
    MissingMountPoint(PathBuf),
    /// The mount point is not a directory.
    #[error("mount point {} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// A FUSE mount whose process died is still there.
    #[error("mount point {} is a stale FUSE mount (transport endpoint is not connected): unmount it first with `umount {}`", .0.display(), .0.display())]
    StaleMount(PathBuf),
    /// The mount point cannot be inspected.
    #[error("mount point {}: {source}", path.display())]
    MountPoint {
        /// The mount point.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The kernel offers no FUSE here.
    #[error("FUSE is not available: {0}")]
    FuseUnavailable(String),
    /// An `-o` option is not understood.
    #[error("mount option {0:?} is not supported")]
    BadOption(String),
    /// The mount itself failed.
    #[error("mounting {} failed: {source}{hint}", path.display())]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// The error.
        source: io::Error,
        /// What to do about it (empty when nothing is known).
        hint: String,
    },
    /// The session thread could not be started.
    #[error("starting the FUSE session thread: {0}")]
    Thread(io::Error),
    /// The engine did not stop cleanly.
    #[error("stopping the cache: {0}")]
    Stop(#[from] silt_tokio::Error),
}

/// A live mount. Dropping it without [`Mounted::unmount`] unmounts (the engine then stops
/// on its own, in the background).
#[derive(Debug)]
pub struct Mounted {
    mountpoint: PathBuf,
    unmounter: fuser::SessionUnmounter,
    thread: Option<JoinHandle<io::Result<()>>>,
    ended: Option<tokio::sync::oneshot::Receiver<()>>,
    shared: Option<Arc<Shared>>,
}

/// Checks the mount point and FUSE, mounts `backend` (the engine, or the bucket without a
/// disk cache) there and serves it on `rt`.
pub fn mount(
    backend: impl Into<Backend>,
    rt: tokio::runtime::Handle,
    config: &MountConfig,
) -> Result<Mounted, MountError> {
    preflight(&config.mountpoint)?;
    let fuse_config = fuse_config(config)?;
    let fs = SiltFs::new(rt, backend.into(), config.fs).with_kernel(config.kernel);
    let shared = fs.shared();
    let mut session =
        fuser::Session::new(fs, &config.mountpoint, &fuse_config).map_err(|source| {
            MountError::Mount {
                path: config.mountpoint.clone(),
                hint: mount_hint(&source),
                source,
            }
        })?;
    let unmounter = session.unmount_callable();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("silt-fuse".into())
        .spawn(move || {
            let result = session.run();
            let _ = tx.send(());
            result
        })
        .map_err(MountError::Thread)?;
    tracing::info!(mountpoint = %config.mountpoint.display(), "mounted");
    if let Some(kb) = config.kernel.read_ahead_kb {
        set_read_ahead(&config.mountpoint, kb);
    }
    Ok(Mounted {
        mountpoint: config.mountpoint.clone(),
        unmounter,
        thread: Some(thread),
        ended: Some(rx),
        shared: Some(shared),
    })
}

impl Mounted {
    /// The mount point.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The engine behind the mount (for `flush`, `status`); `None` without a disk cache.
    pub fn manager(&self) -> Option<&CacheManager> {
        self.shared
            .as_ref()
            .and_then(|s| s.manager())
            .map(|m| m.as_ref())
    }

    /// FUSE read requests the mount served so far (reads the kernel does from cache files
    /// through passthrough are not among them).
    pub fn read_requests(&self) -> u64 {
        self.shared.as_ref().map_or(0, |s| s.read_requests())
    }

    /// Opens the kernel served from cache files (passthrough) so far, and whether
    /// passthrough is in use on this mount.
    pub fn passthrough_opens(&self) -> (u64, bool) {
        self.shared
            .as_ref()
            .map_or((0, false), |s| s.passthrough_opens())
    }

    /// Returns when the mount is gone by other means (`umount` by someone else).
    pub async fn ended(&mut self) {
        match self.ended.as_mut() {
            Some(rx) => {
                let _ = rx.await;
                self.ended = None;
            }
            None => std::future::pending().await,
        }
    }

    /// Unmounts, waits for the kernel's last requests, closes files left open (with the
    /// fsync their `close` would have done) and stops the engine: everything acknowledged
    /// is committed and pending uploads stay journaled for the next mount.
    pub async fn unmount(mut self) -> Result<StopReport, MountError> {
        if let Err(e) = self.unmounter.unmount() {
            // Already unmounted by someone else: the session has ended or is ending.
            tracing::debug!(error = %e, "unmount");
        }
        if let Some(thread) = self.thread.take() {
            let mut join = tokio::task::spawn_blocking(move || thread.join());
            let joined = match tokio::time::timeout(SESSION_END_NOTICE, &mut join).await {
                Ok(j) => j,
                Err(_) => {
                    tracing::warn!(
                        mountpoint = %self.mountpoint.display(),
                        "waiting for processes that still use the mount point to let go of it"
                    );
                    join.await
                }
            };
            match joined {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => {
                    tracing::warn!(error = %e, "the FUSE session ended with an error")
                }
                Ok(Err(_)) | Err(_) => tracing::warn!("the FUSE session thread panicked"),
            }
        }
        let Some(shared) = self.shared.take() else {
            return Err(MountError::Stop(silt_tokio::Error::Stopped));
        };
        shared.close_all().await;
        let Some(manager) = take_manager(shared).await? else {
            // Without a disk cache, closing the files stored what they could.
            tracing::info!(mountpoint = %self.mountpoint.display(), "unmounted");
            return Ok(StopReport {
                clean: true,
                pending: None,
                remote_ops_abandoned: 0,
            });
        };
        tracing::info!(mountpoint = %self.mountpoint.display(), "unmounted; stopping the cache");
        Ok(manager.stop().await?)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Err(e) = self.unmounter.unmount() {
                tracing::warn!(mountpoint = %self.mountpoint.display(), error = %e, "unmount at drop");
            }
        }
    }
}

/// The engine (if any), once the last request task has let go of the shared state.
async fn take_manager(mut shared: Arc<Shared>) -> Result<Option<CacheManager>, MountError> {
    let mut waited = Duration::ZERO;
    let step = Duration::from_millis(10);
    loop {
        match Arc::try_unwrap(shared) {
            Ok(s) => {
                let Some(manager) = s.into_manager() else {
                    return Ok(None);
                };
                return Arc::try_unwrap(manager).map(Some).map_err(|_| {
                    MountError::Stop(silt_tokio::Error::Task(
                        "the cache is still referenced after unmount".into(),
                    ))
                });
            }
            Err(s) if waited < Duration::from_secs(30) => {
                shared = s;
                tokio::time::sleep(step).await;
                waited += step;
            }
            Err(_) => {
                return Err(MountError::Stop(silt_tokio::Error::Task(
                    "requests still running 30 s after unmount".into(),
                )))
            }
        }
    }
}

/// Sets the readahead of the mount at `mountpoint` to `kb` KiB, once the kernel has
/// initialised the session (the init reply caps it again): `read_ahead_kb` of its backing
/// device info, `/sys/class/bdi/<major>:<minor>/`. Needs root; a failure is logged and
/// the kernel's readahead stays.
fn set_read_ahead(mountpoint: &Path, kb: u32) {
    use std::os::unix::fs::MetadataExt;
    // The first stat of the root waits for the session's init.
    let dev = match std::fs::metadata(mountpoint) {
        Ok(m) => m.dev(),
        Err(e) => {
            tracing::warn!(error = %e, "stat of the new mount failed; readahead left as it is");
            return;
        }
    };
    let path = format!(
        "/sys/class/bdi/{}:{}/read_ahead_kb",
        libc::major(dev),
        libc::minor(dev)
    );
    match std::fs::write(&path, format!("{kb}\n")) {
        Ok(()) => tracing::debug!(path, kb, "readahead set"),
        Err(e) => {
            tracing::info!(path, kb, error = %e, "readahead not set (needs root); the kernel's stays")
        }
    }
}

/// Checks, before anything is started, that `mountpoint` is a directory one can mount on
/// and that the kernel offers FUSE; the errors say what to do.
pub fn preflight(mountpoint: &Path) -> Result<(), MountError> {
    check_mountpoint(mountpoint)?;
    check_fuse()
}

fn check_mountpoint(path: &Path) -> Result<(), MountError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(MountError::NotADirectory(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(MountError::MissingMountPoint(path.to_path_buf()))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            Err(MountError::StaleMount(path.to_path_buf()))
        }
        Err(source) => Err(MountError::MountPoint {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn check_fuse() -> Result<(), MountError> {
    match std::fs::metadata("/dev/fuse") {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(MountError::FuseUnavailable(
            "/dev/fuse is missing: load the module (modprobe fuse), or give the container the \
             device (docker run --device /dev/fuse --cap-add SYS_ADMIN)"
                .into(),
        )),
        Err(e) => Err(MountError::FuseUnavailable(format!("/dev/fuse: {e}"))),
    }
}

fn mount_hint(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            "; mounting needs root, or the fusermount3 helper for other users (Debian: apt-get \
             install fuse3)"
                .into()
        }
        Some(libc::EBUSY) => "; something is mounted there already".into(),
        _ if e.kind() == io::ErrorKind::NotFound => {
            "; as a user other than root the fusermount3 helper is needed (Debian: apt-get \
             install fuse3)"
                .into()
        }
        _ => String::new(),
    }
}

fn fuse_config(config: &MountConfig) -> Result<fuser::Config, MountError> {
    let mut c = fuser::Config::default();
    c.mount_options
        .push(MountOption::FSName(config.fs_name.clone()));
    c.mount_options.push(MountOption::Subtype("silt".into()));
    for opt in config.options.iter().flat_map(|o| o.split(',')) {
        match opt.trim() {
            "" => {}
            "allow_other" => c.acl = SessionACL::All,
            "allow_root" => c.acl = SessionACL::RootAndOwner,
            "ro" => c.mount_options.push(MountOption::RO),
            "rw" => c.mount_options.push(MountOption::RW),
            "default_permissions" => c.mount_options.push(MountOption::DefaultPermissions),
            "auto_unmount" => return Err(MountError::BadOption(opt.into())),
            other => c.mount_options.push(MountOption::CUSTOM(other.into())),
        }
    }
    c.n_threads = Some(config.threads.max(1));
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_mount_point_says_how_to_make_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope");
        let err = check_mountpoint(&missing).expect_err("missing");
        assert!(err.to_string().contains("mkdir -p"), "{err}");
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").expect("write");
        assert!(matches!(
            check_mountpoint(&file),
            Err(MountError::NotADirectory(_))
        ));
        check_mountpoint(dir.path()).expect("a directory");
    }

    #[test]
    fn mount_options_map_to_fuser() {
        let fs = FsOptions {
            ownership: crate::Ownership::of_current_user(),
            attr_ttl: Duration::from_secs(1),
            fsync_on_close: true,
            passthrough: true,
        };
        let mut config = MountConfig::new("/mnt", fs, "b:p");
        config.options = vec!["allow_other,ro".into(), "noatime".into()];
        let c = fuse_config(&config).expect("options");
        assert_eq!(c.acl, SessionACL::All);
        assert!(c.mount_options.contains(&MountOption::RO));
        assert!(c
            .mount_options
            .contains(&MountOption::CUSTOM("noatime".into())));
        assert!(c.mount_options.contains(&MountOption::FSName("b:p".into())));
        config.options = vec!["auto_unmount".into()];
        assert!(matches!(
            fuse_config(&config),
            Err(MountError::BadOption(_))
        ));
    }
}
