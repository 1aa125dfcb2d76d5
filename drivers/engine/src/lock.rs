//! One process per cache directory: an exclusive lock on `<cache_dir>/lock`, which records
//! the holder's pid.
//!
//! The lock is an advisory `flock` on Unix (released by the kernel when the process dies,
//! even by kill -9) and a share-mode lock on Windows (the file is held open without write
//! sharing; the handle closes when the process dies). The pid in the file is information for
//! the error message, never the lock itself: a file left by a dead process still names it,
//! but nobody holds the lock, so the next start takes it over and records its own pid. A
//! second start on the same directory while the holder lives, in this process or another,
//! fails with [`Error::Locked`] naming the pid.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A held lock on a cache directory; released when dropped.
#[derive(Debug)]
pub struct CacheLock {
    file: File,
    path: PathBuf,
}

impl CacheLock {
    /// Takes the lock of `cache_dir` (which must exist) and records this process's pid.
    pub fn acquire(cache_dir: &Path) -> Result<CacheLock> {
        let path = cache_dir.join("lock");
        let io = |source| Error::LockFile {
            path: path.clone(),
            source,
        };
        let Some(mut file) = imp::open_locked(&path).map_err(io)? else {
            let pid = read_pid(&path);
            tracing::debug!(lock = %path.display(), ?pid, "cache dir is locked");
            return Err(Error::Locked {
                dir: cache_dir.to_path_buf(),
                pid,
            });
        };
        if let Some(previous) = read_pid(&path) {
            // Left by a holder that ended without releasing it (killed, or power lost).
            tracing::info!(lock = %path.display(), previous, "taking over a lock its holder left");
        }
        file.set_len(0).map_err(io)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(io)?;
        file.sync_data().map_err(io)?;
        tracing::debug!(lock = %path.display(), pid = std::process::id(), "cache dir locked");
        Ok(CacheLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        // Best effort: an empty file says nobody holds it. The lock itself goes with the file.
        let _ = self.file.set_len(0);
    }
}

/// The pid a lock file records, if it holds one.
fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(unix)]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    use std::path::Path;

    /// Opens the lock file and locks it; `None` if another open file holds the lock.
    pub(super) fn open_locked(path: &Path) -> std::io::Result<Option<File>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        // SAFETY: the descriptor belongs to `file`, which is open for the whole call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Some(file));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::WouldBlock {
            Ok(None)
        } else {
            Err(err)
        }
    }
}

#[cfg(windows)]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::os::windows::fs::OpenOptionsExt;
    use std::path::Path;

    const FILE_SHARE_READ: u32 = 1;
    const ERROR_SHARING_VIOLATION: i32 = 32;

    /// Opens the lock file allowing others to read it only; `None` if another handle holds it.
    pub(super) fn open_locked(path: &Path) -> std::io::Result<Option<File>> {
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .share_mode(FILE_SHARE_READ)
            .open(path)
        {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.raw_os_error() == Some(ERROR_SHARING_VIOLATION) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(not(any(unix, windows)))]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::path::Path;

    /// No locking primitive: the file is only written.
    pub(super) fn open_locked(path: &Path) -> std::io::Result<Option<File>> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_with_pid_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = CacheLock::acquire(dir.path()).expect("first lock");
        let err = CacheLock::acquire(dir.path()).expect_err("second lock must fail");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("locked by pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        let again = CacheLock::acquire(dir.path()).expect("lock after release");
        assert_eq!(read_pid(again.path()), Some(std::process::id()));
    }

    #[test]
    fn a_file_left_by_a_dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().expect("temp dir");
        // What a holder killed with SIGKILL leaves: its pid, and no lock held (the kernel
        // released it with the process). The end-to-end tests kill a real process.
        let stale = u32::MAX - 7;
        std::fs::write(dir.path().join("lock"), format!("{stale}\n")).expect("stale lock file");
        let lock = CacheLock::acquire(dir.path()).expect("a stale lock file is taken over");
        assert_eq!(read_pid(lock.path()), Some(std::process::id()));
        let err = CacheLock::acquire(dir.path()).expect_err("now held");
        assert!(
            matches!(err, Error::Locked { pid: Some(p), .. } if p == std::process::id()),
            "{err:?}"
        );
    }
}
