//! Directory reads: `readdir` and `readdirplus` walk an open directory's listing the same
//! way; `readdirplus` also hands the kernel each name's attributes, so `ls -l` of a large
//! directory costs no lookup per name.

use crate::dirs::Listed;
use crate::fs::Shared;
use crate::handles::OpenDir;
use crate::inodes::{child_path, ROOT};
use fuser::{Errno, FileType};
use silt_core::Attr;

/// One entry handed to the kernel: its inode, the offset of the entry after it, its type,
/// its name and attributes.
pub struct DirSlot<'a> {
    /// Inode number.
    pub ino: u64,
    /// The offset the kernel asks from to continue after this entry.
    pub next: u64,
    /// File or directory.
    pub kind: FileType,
    /// The name inside the directory.
    pub name: &'a str,
    /// Its attributes (the directory's own for `.` and `..`).
    pub attr: &'a Attr,
}

/// Walks the open directory `dir` (inode `ino`) from kernel offset `offset` (0: `.`, 1: `..`,
/// n + 2: the n-th name), calling `add` until it reports the reply full or the listing ends.
/// With `lookup`, each name counts as a kernel lookup of its inode (readdirplus). An error
/// before any name was added is the reply's; after, the names so far are sent and the kernel
/// asks again from there.
pub async fn fill(
    s: &Shared,
    dir: OpenDir,
    ino: u64,
    offset: u64,
    lookup: bool,
    mut add: impl FnMut(DirSlot<'_>) -> bool,
) -> Result<(), Errno> {
    let mut stream = dir.lock().await;
    let path = stream.path().to_string();
    let parent = match path.rsplit_once('/') {
        Some((p, _)) => s.inodes().assign(p, true, false),
        None => ROOT,
    };
    let here = Attr::directory(0);
    let mut off = offset;
    let mut added = false;
    loop {
        let full = match off {
            0 | 1 => {
                let (ino, name) = if off == 0 { (ino, ".") } else { (parent, "..") };
                add(DirSlot {
                    ino,
                    next: off + 1,
                    kind: FileType::Directory,
                    name,
                    attr: &here,
                })
            }
            _ => {
                let index = usize::try_from(off - 2).unwrap_or(usize::MAX);
                match stream.get(s.backend(), index).await {
                    Ok(Some(l)) => {
                        let l: &Listed = l;
                        let child =
                            s.inodes()
                                .assign(&child_path(&path, &l.name), l.is_dir(), lookup);
                        let kind = if l.is_dir() {
                            FileType::Directory
                        } else {
                            FileType::RegularFile
                        };
                        let slot = DirSlot {
                            ino: child,
                            next: off + 1,
                            kind,
                            name: &l.name,
                            attr: &l.attr,
                        };
                        let full = add(slot);
                        if full && lookup {
                            // Not sent: the kernel did not look it up.
                            s.inodes().forget(child, 1);
                        }
                        full
                    }
                    Ok(None) => break,
                    Err(e) if !added => return Err(crate::fs::failed("readdir", &path, &e)),
                    Err(_) => break,
                }
            }
        };
        if full {
            break;
        }
        added = true;
        off += 1;
    }
    Ok(())
}
