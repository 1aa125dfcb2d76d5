//! The attributes the mount shows: the engine's [`Attr`] (kind, size, mtime) plus the
//! owner and modes the mount was given (objects carry none of their own).

use fuser::{FileAttr, FileType, INodeNo};
use silt_core::{Attr, FileKind};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Block size reported by `stat()`.
const BLOCK_SIZE: u32 = 4096;

/// Owner and permission bits of every file and directory of the mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// Owner of every file and directory.
    pub uid: u32,
    /// Group of every file and directory.
    pub gid: u32,
    /// Permission bits of files (default 0644).
    pub file_mode: u16,
    /// Permission bits of directories (default 0755).
    pub dir_mode: u16,
}

impl Ownership {
    /// Files 0644 and directories 0755, owned by the effective user and group of this
    /// process (the mounting user).
    pub fn of_current_user() -> Ownership {
        // SAFETY: geteuid and getegid take no arguments, touch no memory of ours and
        // cannot fail (POSIX).
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Ownership {
            uid,
            gid,
            file_mode: 0o644,
            dir_mode: 0o755,
        }
    }

    /// The attributes of inode `ino` whose engine attributes are `attr`.
    pub fn file_attr(&self, ino: u64, attr: &Attr) -> FileAttr {
        let mtime = UNIX_EPOCH + Duration::from_millis(attr.mtime_ms);
        let (kind, perm, nlink) = match attr.kind {
            FileKind::Directory => (FileType::Directory, self.dir_mode, 2),
            FileKind::File => (FileType::RegularFile, self.file_mode, 1),
        };
        FileAttr {
            ino: INodeNo(ino),
            size: attr.size,
            blocks: attr.size.div_ceil(512),
            atime: mtime,
            mtime,
            ctime: mtime,
            crtime: mtime,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: BLOCK_SIZE,
            flags: 0,
        }
    }
}

/// Now, in ms since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    system_ms(SystemTime::now())
}

/// `t` in ms since the Unix epoch (0 for a time before it).
pub fn system_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Engine attributes of a file just created or opened with `size` bytes, modified now.
pub fn fresh_file(size: u64) -> Attr {
    Attr {
        kind: FileKind::File,
        size,
        mtime_ms: now_ms(),
        version: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Ownership {
        Ownership {
            uid: 1000,
            gid: 100,
            file_mode: 0o600,
            dir_mode: 0o700,
        }
    }

    #[test]
    fn files_and_directories_get_the_mount_s_owner_and_modes() {
        let file = owner().file_attr(
            7,
            &Attr {
                kind: FileKind::File,
                size: 1025,
                mtime_ms: 1_500,
                version: "e1".into(),
            },
        );
        assert_eq!(file.ino, INodeNo(7));
        assert_eq!(file.kind, FileType::RegularFile);
        assert_eq!(
            (file.perm, file.uid, file.gid, file.nlink),
            (0o600, 1000, 100, 1)
        );
        assert_eq!(file.size, 1025);
        assert_eq!(file.blocks, 3);
        assert_eq!(file.mtime, UNIX_EPOCH + Duration::from_millis(1_500));

        let dir = owner().file_attr(INodeNo::ROOT.0, &Attr::directory(0));
        assert_eq!(dir.ino, INodeNo::ROOT);
        assert_eq!(dir.kind, FileType::Directory);
        assert_eq!((dir.perm, dir.nlink), (0o700, 2));
    }
}
