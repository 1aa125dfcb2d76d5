use std::fs::File;
use std::io;
use std::os::windows::io::AsRawHandle;
use windows_sys::Win32::Foundation::{ERROR_INVALID_FUNCTION, ERROR_NOT_SUPPORTED, HANDLE};
use windows_sys::Win32::System::Ioctl::{
    FILE_ZERO_DATA_INFORMATION, FSCTL_SET_SPARSE, FSCTL_SET_ZERO_DATA,
};
use windows_sys::Win32::System::IO::DeviceIoControl;

fn control(
    file: &File,
    code: u32,
    input: *const core::ffi::c_void,
    input_len: u32,
) -> io::Result<()> {
    let mut returned: u32 = 0;
    // SAFETY: `input` points to `input_len` readable bytes (or is null with length 0) for
    // the whole call, no output buffer is passed, `returned` is a valid u32, and the handle
    // is owned by `file`, which outlives this synchronous call (no OVERLAPPED).
    let ok = unsafe {
        DeviceIoControl(
            file.as_raw_handle() as HANDLE,
            code,
            input,
            input_len,
            core::ptr::null_mut(),
            0,
            &mut returned,
            core::ptr::null_mut(),
        )
    };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub(super) fn mark_sparse(file: &File) -> io::Result<()> {
    // No input buffer: the documented short form that sets the sparse flag.
    control(file, FSCTL_SET_SPARSE, core::ptr::null(), 0)
}

pub(super) fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let end = offset
        .checked_add(len)
        .and_then(|e| i64::try_from(e).ok())
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let info = FILE_ZERO_DATA_INFORMATION {
        FileOffset: offset as i64,
        BeyondFinalZero: end,
    };
    control(
        file,
        FSCTL_SET_ZERO_DATA,
        (&info as *const FILE_ZERO_DATA_INFORMATION).cast(),
        core::mem::size_of::<FILE_ZERO_DATA_INFORMATION>() as u32,
    )
}

pub(super) fn is_unsupported_code(code: Option<i32>) -> bool {
    // FAT and exFAT answer ERROR_INVALID_FUNCTION; wine 8 answers FSCTL_SET_ZERO_DATA with
    // ERROR_NOT_SUPPORTED.
    matches!(code, Some(c) if c as u32 == ERROR_INVALID_FUNCTION || c as u32 == ERROR_NOT_SUPPORTED)
}
