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
    // SAFETY: fallocate only reads its integer arguments; the descriptor is owned by `file`,
    // which outlives the call.
    let rc = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            off,
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(super) fn is_unsupported_code(code: Option<i32>) -> bool {
    matches!(code, Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS))
}
