//! Free space on the cache disk, for the core's `Input::DiskFree`.

use std::path::Path;

/// Bytes available to this user on the filesystem holding `dir` (`statvfs` on Unix); `None`
/// where the platform gives no reading (the core then relies on ENOSPC from writes alone).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    imp::free_bytes(dir)
}

#[cfg(unix)]
mod imp {
    use std::ffi::CString;
    use std::mem::MaybeUninit;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    pub(super) fn free_bytes(dir: &Path) -> Option<u64> {
        let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
        let mut stat = MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `path` is a valid NUL-terminated string that outlives the call, and `stat`
        // points to writable memory of the size and alignment of `libc::statvfs`.
        let rc = unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) };
        if rc != 0 {
            tracing::debug!(
                dir = %dir.display(),
                error = %std::io::Error::last_os_error(),
                "statvfs failed"
            );
            return None;
        }
        // SAFETY: statvfs returned 0, so it filled the whole structure.
        let stat = unsafe { stat.assume_init() };
        // The field types differ between platforms (u32 or u64).
        #[allow(clippy::unnecessary_cast)]
        let (avail, frsize) = (stat.f_bavail as u64, stat.f_frsize as u64);
        Some(avail.saturating_mul(frsize))
    }
}

#[cfg(not(unix))]
mod imp {
    use std::path::Path;

    pub(super) fn free_bytes(_dir: &Path) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn reads_free_space_of_a_real_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let free = super::free_bytes(dir.path()).expect("statvfs works on a temp dir");
        assert!(free > 0);
        assert!(super::free_bytes(&dir.path().join("missing")).is_none());
    }
}
