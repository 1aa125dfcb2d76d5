//! An open directory: the names of one listing, fetched page by page from the engine as
//! `readdir` asks for them, and kept for the life of the handle so that the kernel's
//! offsets stay valid while the directory changes.

use crate::backend::Backend;
use silt_core::{Attr, FileKind};
use silt_tokio::Result;

/// Names asked for in the first page of a listing: S3's largest page (ListObjectsV2 answers
/// at most 1 000 names, however many are asked for).
const FIRST_PAGE: u32 = 1_000;

/// The most names asked for in one page.
///
/// Each page asks for twice as many names as the one before, up to this. S3 still answers
/// 1 000 at a time, so nothing changes there; a server that answers what is asked for sends
/// a directory of N names in O(log N) pages instead of N / 1 000. That matters where a page
/// costs the server time in proportion to the whole directory rather than to the page
/// (s3s-fs walks and stats every object under the prefix for every page): there a fixed
/// page size makes listing N names cost O(N^2), and `ls -l` of 10 000 names spent nearly
/// all its time in the server. The bound keeps one answer's memory in check (a page of
/// 64 000 names is about 16 MB of XML).
const MAX_PAGE: u32 = 64_000;

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
    /// Names to ask for in the next page.
    page: u32,
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
            page: FIRST_PAGE,
            done: false,
        }
    }

    /// The directory's path (`""` for the root).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The name at `index`, fetching pages until it is there; `None` past the end.
    pub async fn get(&mut self, backend: &Backend, index: usize) -> Result<Option<&Listed>> {
        while self.names.len() <= index && !self.done {
            let (entries, next) = backend
                .list(&self.dir_key, self.after.as_deref(), self.page)
                .await?;
            self.page = next_page(self.page);
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

/// The size of the page after one of `page` names.
fn next_page(page: u32) -> u32 {
    page.saturating_mul(2).min(MAX_PAGE)
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
    fn pages_double_up_to_the_bound() {
        let mut page = FIRST_PAGE;
        let mut sizes = vec![page];
        let mut listed = u64::from(page);
        while listed < 10_000 {
            page = next_page(page);
            sizes.push(page);
            listed += u64::from(page);
        }
        // 10 000 names in 4 pages, not 10 (or 20 of 512).
        assert_eq!(sizes, vec![1_000, 2_000, 4_000, 8_000]);
        assert_eq!(next_page(MAX_PAGE / 2 + 1), MAX_PAGE);
        assert_eq!(next_page(MAX_PAGE), MAX_PAGE);
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
