use std::fs::File;
use std::io;

pub(super) fn mark_sparse(_file: &File) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

pub(super) fn punch_hole(_file: &File, _offset: u64, _len: u64) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

pub(super) fn is_unsupported_code(_code: Option<i32>) -> bool {
    false
}
