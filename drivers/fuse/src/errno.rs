//! The engine's errors as the errno a FUSE reply carries.

use fuser::Errno;
use silt_tokio::Error;

/// The errno for an engine error: `NotFound` is ENOENT, `NoSpace` ENOSPC, `NameTooLong`
/// ENAMETOOLONG, `BadHandle` EBADF, `Busy` EBUSY, `Exists` EEXIST, `IsDirectory` EISDIR,
/// `NotADirectory` ENOTDIR, `NotEmpty` ENOTEMPTY, `CrossDevice` EXDEV, `Invalid` EINVAL;
/// everything else (I/O, a stopped or failed
/// engine, a bug) is EIO.
pub fn errno(err: &Error) -> Errno {
    match err {
        Error::NotFound => Errno::ENOENT,
        Error::NoSpace => Errno::ENOSPC,
        Error::NameTooLong => Errno::ENAMETOOLONG,
        Error::BadHandle => Errno::EBADF,
        Error::Busy(_) => Errno::EBUSY,
        Error::Exists => Errno::EEXIST,
        Error::IsDirectory => Errno::EISDIR,
        Error::NotADirectory => Errno::ENOTDIR,
        Error::NotEmpty => Errno::ENOTEMPTY,
        Error::CrossDevice => Errno::EXDEV,
        Error::Invalid(_) => Errno::EINVAL,
        _ => Errno::EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_the_errno_a_user_expects() {
        assert_eq!(errno(&Error::NotFound), Errno::ENOENT);
        assert_eq!(errno(&Error::NoSpace), Errno::ENOSPC);
        assert_eq!(errno(&Error::NameTooLong), Errno::ENAMETOOLONG);
        assert_eq!(errno(&Error::BadHandle), Errno::EBADF);
        assert_eq!(errno(&Error::Busy("x".into())), Errno::EBUSY);
        assert_eq!(errno(&Error::Io("disk".into())), Errno::EIO);
        assert_eq!(errno(&Error::Stopped), Errno::EIO);
        assert_eq!(errno(&Error::Fatal("commit".into())), Errno::EIO);
    }
}
