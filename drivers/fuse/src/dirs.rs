//! An open directory: the names of one listing, fetched page by page from the engine as
//! `readdir` asks for them, and kept for the life of the handle so that the kernel's
//! offsets stay valid while the directory changes.

use silt_core::{Attr, FileKind};
use silt_tokio::{CacheManager, Result};

/// Names asked for per engine page.
const PAGE: u32 = 512;

/// One name of a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The name inside the directory (no `/`).
    pub name: String,
    /// Its attributes from the listing.
    pub attr: Attr,
}

impl Listed {
    /// A subdirectory rather than a file.
    pub fn is_dir(&self) -> bool {
        self.attr.kind == FileKind::Directory
    }
}

/// The listing of one open directory.
#[derive(Debug)]
pub struct DirStream {
    /// The directory's path (`""` for the root).
    path: String,
    /// The directory's listing key (`""` or ending with `/`).
    dir_key: String,
    names: Vec<Listed>,
    /// Where the next page starts; `None` once the listing has ended.
    after: Option<String>,
    done: bool,
}

impl DirStream {
    /// A stream over the directory at `path`; nothing is fetched yet.
    pub fn new(path: String) -> DirStream {
        DirStream {
            dir_key: crate::inodes::dir_key(&path),
            path,
            names: Vec::new(),
            after: None,
            done: false,
        }
    }

    /// The directory's path (`""` for the root).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The name at `index`, fetching pages until it is there; `None` past the end.
    pub async fn get(&mut self, manager: &CacheManager, index: usize) -> Result<Option<&Listed>> {
        while self.names.len() <= index && !self.done {
            let (entries, next) = manager
                .list(&self.dir_key, self.after.as_deref(), PAGE)
                .await?;
            for e in entries {
                if let Some(listed) = name_in(&self.dir_key, e.key, e.attr) {
                    self.names.push(listed);
                }
            }
            match next {
                Some(n) => self.after = Some(n),
                None => self.done = true,
            }
        }
        Ok(self.names.get(index))
    }
}

/// The name of `key` inside the directory `dir_key`, or `None` for keys a directory cannot
/// show (the directory's own marker, names with `/` left, `.` and `..`).
fn name_in(dir_key: &str, key: String, attr: Attr) -> Option<Listed> {
    let rest = key.strip_prefix(dir_key)?;
    let name = rest.strip_suffix('/').unwrap_or(rest);
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return None;
    }
    Some(Listed {
        name: name.to_string(),
        attr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Attr {
        Attr {
            kind: FileKind::File,
            size: 1,
            mtime_ms: 0,
            version: String::new(),
        }
    }

    #[test]
    fn names_are_keys_without_the_directory_and_the_slash() {
        let n = name_in("a/", "a/b.txt".into(), file()).expect("a file");
        assert_eq!(n.name, "b.txt");
        assert!(!n.is_dir());
        let d = name_in("a/", "a/sub/".into(), Attr::directory(0)).expect("a directory");
        assert_eq!(d.name, "sub");
        assert!(d.is_dir());
        assert_eq!(
            name_in("", "top".into(), file()).map(|n| n.name),
            Some("top".into())
        );
        for skipped in ["a/", "a/./", "a/../", "a/x/y", "b/c"] {
            assert_eq!(name_in("a/", skipped.into(), file()), None, "{skipped}");
        }
    }
}
