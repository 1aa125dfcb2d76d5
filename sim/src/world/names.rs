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
use silt_core::{Attr, DirEntry, FileError, FileKind, Reply};
use std::collections::BTreeSet;

/// Names asked for per page: small, so listings take several pages.
pub(super) const PAGE: u32 = 2;

/// A listing the client is paging through, interleaved with its other requests.
#[derive(Debug, Default)]
pub(super) struct Listing {
    pub dir: String,
    /// `after` for the next page; `None` when it is finished.
    pub next: Option<String>,
    /// The last name seen, and every name seen so far.
    last: Option<String>,
    seen: BTreeSet<String>,
}

/// The directory a key is in (`""` for the root, else ending with `/`).
pub(super) fn dir_of(key: &str) -> String {
    key.rfind('/')
        .map_or(String::new(), |i| key[..=i].to_string())
}

impl World {
    /// What the model says of `key`, when it is certain: `Some(Some(size))` a file of that
    /// size (`u64::MAX`: size unknown), `Some(None)` no file.
    fn certain(&mut self, key: &str) -> Option<Option<u64>> {
        let f = self.model.files.get(key)?;
        if f.lost || f.disturbed || f.ever_disturbed {
            return None;
        }
        match f.exists {
            Some(true) => Some(Some(f.now.as_ref().map_or(u64::MAX, |n| n.len() as u64))),
            Some(false) => Some(None),
            None => None,
        }
    }

    pub(super) fn check_stat(&mut self, key: &str, r: Result<Reply, FileError>) {
        let Some(want) = self.certain(key) else {
            return;
        };
        let problem = match (want, r) {
            (Some(size), Ok(Reply::Attr(a))) => file_mismatch(&a, size),
            (Some(_), other) => Some(format!("a file the model holds: {other:?}")),
            (None, Ok(Reply::Attr(a))) if a.kind == FileKind::File => {
                Some(format!("a file the model knows is gone: {a:?}"))
            }
            // A directory (another key below it), nothing, or a server error.
            (None, _) => None,
        };
        if let Some(p) = problem {
            self.violation(Invariant::ReadsLatest, format!("stat {key:?}: {p}"));
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
            if e.attr.kind != FileKind::File {
                continue;
            }
            match self.certain(&e.key) {
                Some(None) => problems.push(format!("{:?}, which the model knows is gone", e.key)),
                Some(Some(size)) => {
                    if let Some(p) = file_mismatch(&e.attr, size) {
                        problems.push(format!("{:?}: {p}", e.key));
                    }
                }
                None => {}
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
                self.listing = Some(Listing {
                    dir: dir.clone(),
                    ..Listing::default()
                });
                Op::List { dir, after: None }
            }
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
