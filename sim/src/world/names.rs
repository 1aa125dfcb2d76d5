//! Stat and List sent by the client, checked against the model.
//!
//! What a name is, and what a directory holds, depend on pending local state (files created
//! here and not yet uploaded, journaled deletes, renames), so they are the core's decisions
//! and are checked here against the model wherever it is certain: a key the model knows to
//! exist is a file of its current size; a key it knows to be gone is not a file; a page of a
//! listing never names a file the model knows to be gone, gives the files it knows their
//! current sizes, and the pages of one listing come in key order, no name twice. Keys an
//! outside writer touched, and keys whose state a crash left open, are not checked.

use super::{Op, World};
use crate::checker::Invariant;
use crate::view::Known;
use silt_core::{Attr, DirEntry, FileError, FileKind, Reply};
use std::collections::BTreeSet;

/// Names asked for per page: small, so listings take several pages.
pub(super) const PAGE: u32 = 2;

/// Directories the workload makes and removes (the files' key pool has names below some).
pub(super) const DIR_POOL: &[&str] = &["dir", "sub", "sub/dir", "m", "m/n", "..", "x", "y/z"];

/// A listing the client is paging through, interleaved with its other requests.
#[derive(Debug, Default)]
pub(super) struct Listing {
    pub dir: String,
    /// `after` for the next page; `None` when it is finished.
    pub next: Option<String>,
    /// The last name seen, and every name seen so far.
    last: Option<String>,
    seen: BTreeSet<String>,
    /// Names the model knew to exist when the listing started.
    must: BTreeSet<String>,
    /// Names whose existence a request or the outside writer may have changed since.
    touched: BTreeSet<String>,
}

/// The directory a key is in (`""` for the root, else ending with `/`).
pub(super) fn dir_of(key: &str) -> String {
    key.rfind('/')
        .map_or(String::new(), |i| key[..=i].to_string())
}

/// The name `key` falls under in the directory `dir`: itself, or its subdirectory there.
fn name_in(dir: &str, key: &str) -> Option<String> {
    let rest = key.strip_prefix(dir)?;
    if rest.is_empty() {
        return None;
    }
    Some(match rest.find('/') {
        Some(i) => format!("{dir}{}", &rest[..=i]),
        None => key.to_string(),
    })
}

impl World {
    /// A request or the outside writer may change whether `key` exists: the listing in
    /// progress no longer has to show the name it falls under.
    pub(super) fn listing_touch(&mut self, key: &str) {
        if let Some(l) = self.listing.as_mut() {
            if let Some(name) = name_in(&l.dir, key) {
                l.touched.insert(name);
            }
        }
    }

    pub(super) fn check_stat(&mut self, key: &str, r: Result<Reply, FileError>) {
        // A time set here and answered is what a file the cache holds shows (the cache holds
        // every file it was set on, until it is unlinked or another writer's version
        // replaces it, which the model follows).
        if let (Ok(Reply::Attr(a)), Some(f)) = (&r, self.model.files.get(key)) {
            let held = self.core.lookup(key).is_some();
            if let Some(m) = f.mtime.filter(|_| held && !f.disturbed && !f.lost) {
                if a.mtime_ms != m {
                    let detail = format!("stat {key:?}: mtime {} after SetMtime {m}", a.mtime_ms);
                    self.violation(Invariant::ReadsLatest, detail);
                }
            }
        }
        let problem = match (self.model.stat_known(key), r) {
            (Known::Unknown, _) => None,
            (Known::File(size), Ok(Reply::Attr(a))) => file_mismatch(&a, size),
            (Known::File(_), other) => Some(format!("a file the model holds: {other:?}")),
            (Known::Directory, Ok(Reply::Attr(a))) if a.kind == FileKind::Directory => None,
            (Known::Directory, Err(FileError::Io(_))) if self.faults => None,
            (Known::Directory, other) => Some(format!("a directory in the model: {other:?}")),
            (Known::Absent, Ok(Reply::Attr(a))) => Some(format!("nothing in the model: {a:?}")),
            (Known::Absent, _) => None,
        };
        if let Some(p) = problem {
            self.violation(Invariant::ReadsLatest, format!("stat {key:?}: {p}"));
        }
    }

    /// What the model knows of a listed name (`x/`: a directory).
    fn known(&self, name: &str) -> Known {
        match name.strip_suffix('/') {
            Some(d) => self.model.dir_known(d),
            None => self.model.stat_known(name),
        }
    }

    pub(super) fn check_page(&mut self, entries: &[DirEntry], next: Option<String>) {
        let Some(mut listing) = self.listing.take() else {
            return;
        };
        let mut problems = Vec::new();
        for e in entries {
            if !e.key.starts_with(&listing.dir) || e.key.len() == listing.dir.len() {
                problems.push(format!("{:?} is not in {:?}", e.key, listing.dir));
            }
            if listing.last.as_ref().is_some_and(|l| *l >= e.key) {
                problems.push(format!("{:?} out of order after {:?}", e.key, listing.last));
            }
            if !listing.seen.insert(e.key.clone()) {
                problems.push(format!("{:?} twice", e.key));
            }
            listing.last = Some(e.key.clone());
            let is_dir = e.attr.kind == FileKind::Directory;
            if is_dir != e.key.ends_with('/') {
                problems.push(format!("{:?} listed as {:?}", e.key, e.attr.kind));
            }
            match (self.known(&e.key), is_dir) {
                (Known::Absent, _) => {
                    problems.push(format!("{:?}, which the model knows is gone", e.key))
                }
                (Known::File(size), false) => {
                    if let Some(p) = file_mismatch(&e.attr, size) {
                        problems.push(format!("{:?}: {p}", e.key));
                    }
                }
                _ => {}
            }
        }
        if next.is_none() {
            // The last page: every name that existed throughout was listed.
            for name in &listing.must {
                let still = matches!(self.known(name), Known::File(_) | Known::Directory);
                if still && !listing.touched.contains(name) && !listing.seen.contains(name) {
                    problems.push(format!("{name:?} exists throughout and was not listed"));
                }
            }
        }
        for p in problems {
            self.violation(
                Invariant::ReadsLatest,
                format!("listing of {:?}: {p}", listing.dir),
            );
        }
        listing.next = next;
        if listing.next.is_some() {
            self.listing = Some(listing);
        }
    }

    /// The next page of the listing in progress, or a new listing of `key`'s directory.
    pub(super) fn list_op(&mut self, key: &str) -> Op {
        match &self.listing {
            Some(l) => Op::List {
                dir: l.dir.clone(),
                after: l.next.clone(),
            },
            None => {
                let dir = dir_of(key);
                let must = self
                    .model
                    .view(&dir)
                    .into_iter()
                    .filter(|(_, k)| matches!(k, Known::File(_) | Known::Directory))
                    .map(|(n, _)| n)
                    .collect();
                self.listing = Some(Listing {
                    dir: dir.clone(),
                    must,
                    ..Listing::default()
                });
                Op::List { dir, after: None }
            }
        }
    }

    /// Checks the answer to `Mkdir(key)` against the model, and records it.
    pub(super) fn check_mkdir(&mut self, key: &str, r: Result<Reply, FileError>) {
        let known = self.model.stat_known(key);
        let problem = match &r {
            Ok(Reply::DirCreated) => {
                let there = matches!(known, Known::Directory | Known::File(_));
                self.model.dir(key).mkdir_done();
                there.then(|| format!("made where the model has {known:?}"))
            }
            Err(FileError::Exists) => {
                (known == Known::Absent).then(|| "EEXIST where the model has nothing".to_string())
            }
            Err(FileError::Io(e)) if self.faults && e.contains("object store") => None,
            other => Some(format!("unexpected answer {other:?}")),
        };
        if let Some(p) = problem {
            self.violation(Invariant::ReadsLatest, format!("mkdir {key:?}: {p}"));
        }
    }

    /// Checks the answer to `Rmdir(key)` against the model, and records it.
    pub(super) fn check_rmdir(&mut self, key: &str, r: Result<Reply, FileError>) {
        let contents = self.model.contents_known(key);
        let marker = self.model.dirs.get(key).map_or(Some(false), |d| d.exists);
        let problem = match &r {
            Ok(Reply::DirRemoved) => {
                self.model.dir(key).rmdir_done();
                match (contents, marker) {
                    (Known::Directory, _) => Some("removed with names below".to_string()),
                    (_, Some(false)) => Some("removed a marker never made".to_string()),
                    _ => None,
                }
            }
            Err(FileError::NotEmpty) => {
                (contents == Known::Absent).then(|| "ENOTEMPTY with nothing below".to_string())
            }
            Err(FileError::NotFound) => {
                if let Some(d) = self.model.dirs.get_mut(key) {
                    d.observe(false);
                }
                match (contents, marker) {
                    (Known::Directory, _) => Some("ENOENT with names below".to_string()),
                    (_, Some(true)) => Some("ENOENT where the model has the marker".to_string()),
                    _ => None,
                }
            }
            Err(FileError::Io(e)) if self.faults && e.contains("object store") => None,
            other => Some(format!("unexpected answer {other:?}")),
        };
        if let Some(p) = problem {
            self.violation(Invariant::ReadsLatest, format!("rmdir {key:?}: {p}"));
        }
    }
}

impl World {
    /// Checks the answer to `RenameDir(from, to)` against the model, and records it.
    pub(super) fn check_rename_dir(&mut self, from: &str, to: &str, r: Result<Reply, FileError>) {
        if from == to {
            // Nothing moves (answered at once).
            return;
        }
        let problem = match &r {
            Ok(Reply::Renamed) => {
                let had = self.model.dir_known(from);
                self.move_dir_in_model(from, to);
                (had == Known::Absent).then(|| "renamed a directory the model has not".into())
            }
            Err(FileError::NotEmpty) => (self.model.dir_known(to) == Known::Absent)
                .then(|| "ENOTEMPTY for a target the model has nothing at".into()),
            Err(FileError::NotFound) => (self.model.dir_known(from) == Known::Directory)
                .then(|| "ENOENT for a directory the model has".into()),
            Err(FileError::Invalid(_)) => (!format!("{to}/").starts_with(&format!("{from}/")))
                .then(|| "EINVAL for a target outside the source".into()),
            // Busy files, too many keys, a file in the way: the caller copies instead.
            Err(FileError::CrossDevice | FileError::NotADirectory) => None,
            Err(FileError::Io(e)) if self.faults && e.contains("object store") => None,
            other => Some(format!("unexpected answer {other:?}")),
        };
        if let Some(p) = problem {
            self.violation(
                Invariant::ReadsLatest,
                format!("rename of directory {from:?} to {to:?}: {p}"),
            );
        }
    }

    /// Every file and marker of the model below `from/` moves below `to/` (content moves; an
    /// outside writer's version stays with its key, as for a file rename); open handles
    /// follow.
    pub(super) fn move_dir_in_model(&mut self, from: &str, to: &str) {
        let (fd, td) = (format!("{from}/"), format!("{to}/"));
        let keys: Vec<String> = self
            .model
            .files
            .keys()
            .filter(|k| k.starts_with(&fd))
            .cloned()
            .collect();
        for old in keys {
            let new = format!("{td}{}", &old[fd.len()..]);
            self.touch(&old);
            self.touch(&new);
            let Some(mut f) = self.model.files.remove(&old) else {
                continue;
            };
            let from_disturbed = f.disturbed;
            f.disturbed |= self.model.files.get(&new).is_some_and(|t| t.disturbed);
            self.model.files.insert(new.clone(), f);
            self.model.files.insert(
                old.clone(),
                crate::model::MFile {
                    disturbed: from_disturbed,
                    ever_disturbed: from_disturbed,
                    ..crate::model::MFile::absent()
                },
            );
            if let Some(h) = self.handles.remove(&old) {
                self.handles.insert(new, h);
            }
        }
        let dirs: Vec<String> = self
            .model
            .dirs
            .keys()
            .filter(|d| *d == from || d.starts_with(&fd))
            .cloned()
            .collect();
        for old in dirs {
            let new = format!("{to}{}", &old[from.len()..]);
            if let Some(d) = self.model.dirs.remove(&old) {
                self.model.dirs.insert(new, d);
                self.model.dirs.insert(old, crate::view::MDir::default());
            }
        }
    }

    /// A crash came while `RenameDir(from, to)` was in flight: after recovery the cache
    /// holds every key of the directory under the new name or under the old one, never a
    /// mix (one index transaction), and the model follows what it finds.
    pub(super) fn recovered_dir_rename(&mut self, from: &str, to: &str) {
        let (fd, td) = (format!("{from}/"), format!("{to}/"));
        let mut rel: Vec<String> = self
            .model
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&fd).map(str::to_string))
            .collect();
        rel.extend(self.model.dirs.keys().filter_map(|d| {
            if d == from {
                Some(String::new())
            } else {
                d.strip_prefix(&fd).map(|r| format!("{r}/"))
            }
        }));
        let at_new = rel
            .iter()
            .filter(|r| self.core.lookup(&format!("{td}{r}")).is_some())
            .count();
        let at_old = rel
            .iter()
            .filter(|r| self.core.lookup(&format!("{fd}{r}")).is_some())
            .count();
        if at_new > 0 && at_old > 0 {
            self.violation(
                Invariant::AcknowledgedDurable,
                format!(
                    "a crash left the rename of {from:?} to {to:?} half done: \
                     {at_new} keys under the new name, {at_old} under the old"
                ),
            );
        }
        if at_new > 0 {
            self.move_dir_in_model(from, to);
        }
    }
}

fn file_mismatch(a: &Attr, size: u64) -> Option<String> {
    if a.kind != FileKind::File {
        return Some(format!("not a file: {a:?}"));
    }
    (size != u64::MAX && a.size != size)
        .then(|| format!("size {} where the model has {size}", a.size))
}
