//! The platform calls that make cache files sparse, behind three functions:
//! [`mark_sparse`] when a container is created, [`punch_hole`] to free a range (it then reads
//! as zeros), and [`is_unsupported`] to tell "this filesystem cannot" from a real I/O error.
//!
//! - Linux: `fallocate(PUNCH_HOLE | KEEP_SIZE)`; files are sparse by default.
//! - macOS: `fcntl(F_PUNCHHOLE)`; APFS files are sparse by default.
//! - Windows: `FSCTL_SET_SPARSE` before the file is extended (NTFS allocates extended
//!   ranges of non-sparse files), `FSCTL_SET_ZERO_DATA` to punch.
//! - Elsewhere: unsupported; the container falls back to writing zeros.

use std::fs::File;
use std::io;

#[cfg(target_os = "linux")]
#[path = "sparse/linux.rs"]
mod platform;

#[cfg(target_os = "macos")]
#[path = "sparse/macos.rs"]
mod platform;

#[cfg(windows)]
#[path = "sparse/windows.rs"]
mod platform;

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
#[path = "sparse/other.rs"]
mod platform;

/// Marks a new, empty file sparse (a no-op where files are sparse by default).
pub(crate) fn mark_sparse(file: &File) -> io::Result<()> {
    platform::mark_sparse(file)
}

/// Frees `offset..offset+len`: afterwards it reads as zeros. The file's length is unchanged.
pub(crate) fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    platform::punch_hole(file, offset, len)
}

/// True if `e` means the filesystem or platform does not support the call (fall back),
/// rather than an I/O failure (report).
pub(crate) fn is_unsupported(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported || platform::is_unsupported_code(e.raw_os_error())
}
