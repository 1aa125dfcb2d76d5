use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

pub(super) fn mark_sparse(_file: &File) -> io::Result<()> {
    Ok(())
}

pub(super) fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(off), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(io::Error::from_raw_os_error(libc::EFBIG));
    };
    let args = libc::fpunchhole_t {
        fp_flags: 0,
        reserved: 0,
        fp_offset: off,
        fp_length: len,
    };
    // SAFETY: F_PUNCHHOLE reads one fpunchhole_t through the pointer, which points to `args`
    // on this stack frame for the whole call; the descriptor is owned by `file`.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_PUNCHHOLE, &args) };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub(super) fn is_unsupported_code(code: Option<i32>) -> bool {
    // HFS+ and other filesystems without hole support answer ENOTSUP.
    matches!(
        code,
        Some(libc::ENOTSUP) | Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
    )
}
