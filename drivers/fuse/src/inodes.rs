//! The inode table: inode number <-> object path.
//!
//! A path is an object key without a trailing `/` (`a/b.txt`, or `a` for the directory
//! `a/`); the root is the empty path, inode 1. Numbers are handed out the first time a path
//! is seen (lookup, create or readdir) and kept for the life of the mount, so one path keeps
//! its number while mounted. A node unlinked or replaced by a rename loses its path and goes
//! away when the kernel forgets its last lookup.

use std::collections::HashMap;
use std::sync::Mutex;

/// The root directory's inode number.
pub const ROOT: u64 = 1;

/// What an inode stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The object path (no trailing `/`; empty for the root).
    pub path: String,
    /// A directory (a prefix) rather than an object.
    pub is_dir: bool,
}

impl Node {
    /// The key of the directory listing of this node (`""` for the root, else `path/`).
    pub fn dir_key(&self) -> String {
        dir_key(&self.path)
    }
}

/// The listing key of directory `path`: `""` for the root, else `path/`.
pub fn dir_key(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    }
}

/// The path of `name` in the directory at `parent` (the root is `""`).
pub fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

#[derive(Debug)]
struct Entry {
    node: Node,
    lookups: u64,
    /// Still reachable by its path (not unlinked, not replaced by a rename).
    linked: bool,
}

#[derive(Debug)]
struct Table {
    by_ino: HashMap<u64, Entry>,
    by_path: HashMap<String, u64>,
    next: u64,
}

/// The inode table of one mount (thread-safe).
#[derive(Debug)]
pub struct Inodes {
    table: Mutex<Table>,
}

impl Default for Inodes {
    fn default() -> Self {
        Self::new()
    }
}

impl Inodes {
    /// A table holding only the root.
    pub fn new() -> Inodes {
        let mut by_ino = HashMap::new();
        by_ino.insert(
            ROOT,
            Entry {
                node: Node {
                    path: String::new(),
                    is_dir: true,
                },
                lookups: 1,
                linked: true,
            },
        );
        let mut by_path = HashMap::new();
        by_path.insert(String::new(), ROOT);
        Inodes {
            table: Mutex::new(Table {
                by_ino,
                by_path,
                next: ROOT + 1,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding the lock leaves the maps consistent (each change is one
        // insert or remove), so a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node of `ino`, if it is known.
    pub fn get(&self, ino: u64) -> Option<Node> {
        self.lock().by_ino.get(&ino).map(|e| e.node.clone())
    }

    /// The inode and node at `path`, if one is known.
    pub fn find(&self, path: &str) -> Option<(u64, Node)> {
        let t = self.lock();
        let ino = *t.by_path.get(path)?;
        t.by_ino.get(&ino).map(|e| (ino, e.node.clone()))
    }

    /// The inode of `path` (created if new), with its kind updated; counts one kernel
    /// lookup when `lookup` is set (lookup and create replies), none for readdir entries.
    pub fn assign(&self, path: &str, is_dir: bool, lookup: bool) -> u64 {
        let mut t = self.lock();
        let add = u64::from(lookup);
        if let Some(&ino) = t.by_path.get(path) {
            if let Some(e) = t.by_ino.get_mut(&ino) {
                e.node.is_dir = is_dir;
                e.lookups += add;
                return ino;
            }
        }
        let ino = t.next;
        t.next += 1;
        t.by_ino.insert(
            ino,
            Entry {
                node: Node {
                    path: path.to_string(),
                    is_dir,
                },
                lookups: add,
                linked: true,
            },
        );
        t.by_path.insert(path.to_string(), ino);
        ino
    }

    /// The kernel dropped `n` lookups of `ino`. An unlinked node goes away at zero; a
    /// linked one keeps its number.
    pub fn forget(&self, ino: u64, n: u64) {
        if ino == ROOT {
            return;
        }
        let mut t = self.lock();
        let gone = match t.by_ino.get_mut(&ino) {
            Some(e) => {
                e.lookups = e.lookups.saturating_sub(n);
                e.lookups == 0 && !e.linked
            }
            None => false,
        };
        if gone {
            t.by_ino.remove(&ino);
        }
    }

    /// `path` was removed: its node (if any) is unlinked.
    pub fn unlink(&self, path: &str) {
        let mut t = self.lock();
        if let Some(ino) = t.by_path.remove(path) {
            unlink_entry(&mut t, ino);
        }
    }

    /// `from` was renamed to `to`: the node of `from` now has path `to`; a node that was at
    /// `to` is unlinked.
    pub fn rename(&self, from: &str, to: &str) {
        let mut t = self.lock();
        if let Some(old) = t.by_path.remove(to) {
            unlink_entry(&mut t, old);
        }
        if let Some(ino) = t.by_path.remove(from) {
            if let Some(e) = t.by_ino.get_mut(&ino) {
                e.node.path = to.to_string();
            }
            t.by_path.insert(to.to_string(), ino);
        }
    }

    /// A directory moved: `from` and every path below it take the new name, keeping their
    /// numbers.
    pub fn rename_tree(&self, from: &str, to: &str) {
        self.rename(from, to);
        let mut t = self.lock();
        let below = format!("{from}/");
        let moved: Vec<String> = t
            .by_path
            .keys()
            .filter(|p| p.starts_with(&below))
            .cloned()
            .collect();
        for old in moved {
            let new = format!("{to}/{}", &old[below.len()..]);
            if let Some(ino) = t.by_path.remove(&old) {
                if let Some(e) = t.by_ino.get_mut(&ino) {
                    e.node.path = new.clone();
                }
                t.by_path.insert(new, ino);
            }
        }
    }

    /// How many inodes the table holds (the root included).
    pub fn len(&self) -> usize {
        self.lock().by_ino.len()
    }

    /// Always false: the root is always there.
    pub fn is_empty(&self) -> bool {
        false
    }
}

fn unlink_entry(t: &mut Table, ino: u64) {
    let drop_now = match t.by_ino.get_mut(&ino) {
        Some(e) => {
            e.linked = false;
            e.lookups == 0
        }
        None => false,
    };
    if drop_now {
        t.by_ino.remove(&ino);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_their_numbers_and_children_are_joined() {
        let t = Inodes::new();
        assert_eq!(t.get(ROOT).map(|n| n.dir_key()), Some(String::new()));
        let a = t.assign("a", true, true);
        let f = t.assign(&child_path("a", "f.txt"), false, false);
        assert_ne!(a, f);
        assert_eq!(t.assign("a", true, false), a);
        assert_eq!(t.get(a).map(|n| n.dir_key()), Some("a/".to_string()));
        assert_eq!(t.get(f).map(|n| n.path), Some("a/f.txt".to_string()));
        assert_eq!(child_path("", "top"), "top");
        // Forgetting a linked node keeps its number.
        t.forget(a, 1);
        assert_eq!(t.assign("a", true, true), a);
    }

    #[test]
    fn a_rename_moves_the_node_and_unlinks_the_target() {
        let t = Inodes::new();
        let src = t.assign("src", false, true);
        let dst = t.assign("dst", false, true);
        t.rename("src", "dst");
        assert_eq!(t.assign("dst", false, false), src);
        assert_eq!(t.get(src).map(|n| n.path), Some("dst".to_string()));
        // The replaced node lives until its lookups are forgotten.
        assert!(t.get(dst).is_some());
        t.forget(dst, 1);
        assert!(t.get(dst).is_none());
        // The old path is free: a new file there gets a new number.
        let again = t.assign("src", false, true);
        assert_ne!(again, src);
    }

    #[test]
    fn an_unlinked_node_goes_at_its_last_forget() {
        let t = Inodes::new();
        let f = t.assign("f", false, true);
        t.assign("f", false, true);
        t.unlink("f");
        t.forget(f, 1);
        assert!(t.get(f).is_some(), "one lookup left");
        t.forget(f, 1);
        assert!(t.get(f).is_none());
        // Never looked up (a readdir entry): gone at once.
        let g = t.assign("g", false, false);
        t.unlink("g");
        assert!(t.get(g).is_none());
        assert_eq!(t.len(), 1);
    }
}
