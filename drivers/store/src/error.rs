//! The store's errors: "no space" apart from every other I/O error, because the core reacts
//! to a full disk (evicts, retries, makes writers wait) and only reports the rest.

use std::path::PathBuf;
use thiserror::Error;

/// A cache-file operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The disk (or the user's quota) is full: ENOSPC, EDQUOT, ERROR_DISK_FULL. A failed write
    /// may have written a prefix.
    #[error("{op} {}: no space left on device", path.display())]
    NoSpace {
        /// The operation.
        op: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// Any other I/O error (EIO, permissions, a vanished directory).
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The operation.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Result of store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
    /// Classifies an I/O error of `op` on `path`.
    pub(crate) fn from_io(
        op: &'static str,
        path: &std::path::Path,
        source: std::io::Error,
    ) -> Self {
        if is_no_space(&source) {
            StoreError::NoSpace {
                op,
                path: path.to_path_buf(),
            }
        } else {
            StoreError::Io {
                op,
                path: path.to_path_buf(),
                source,
            }
        }
    }

    /// The error as the core takes it.
    pub fn to_local_error(&self) -> silt_core::LocalError {
        match self {
            StoreError::NoSpace { .. } => silt_core::LocalError::NoSpace,
            StoreError::Io { .. } => silt_core::LocalError::Io(self.to_string()),
        }
    }
}

fn is_no_space(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    if matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded) {
        return true;
    }
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::Foundation::{ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL};
        matches!(e.raw_os_error(), Some(c) if c as u32 == ERROR_DISK_FULL || c as u32 == ERROR_HANDLE_DISK_FULL)
    }
    #[cfg(not(any(unix, windows)))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_is_no_space_and_eio_is_io() {
        #[cfg(unix)]
        let (full, eio) = (libc::ENOSPC, libc::EIO);
        #[cfg(windows)]
        let (full, eio) = (
            windows_sys::Win32::Foundation::ERROR_DISK_FULL as i32,
            windows_sys::Win32::Foundation::ERROR_CRC as i32,
        );
        let p = std::path::Path::new("f");
        let e = StoreError::from_io("write", p, std::io::Error::from_raw_os_error(full));
        assert!(matches!(e, StoreError::NoSpace { .. }));
        assert_eq!(e.to_local_error(), silt_core::LocalError::NoSpace);
        let e = StoreError::from_io("write", p, std::io::Error::from_raw_os_error(eio));
        assert!(matches!(e, StoreError::Io { .. }));
        assert!(
            matches!(e.to_local_error(), silt_core::LocalError::Io(m) if m.contains("write f"))
        );
    }
}
