//! Directories: `Mkdir`, `Rmdir`, and the probe that asks the server whether a directory
//! still holds anything once the journaled deletes below it are taken into account.
//!
//! A directory is a marker object `dir/` or a prefix with keys below it (implicit). `Mkdir`
//! creates the marker as a new, empty file of the cache (a held entry at `dir/`), so it is
//! journaled, uploaded with `If-None-Match: *` and recovered like any file. `Rmdir` journals
//! the delete of the marker once nothing is below it, locally or on the server.
//!
//! The server's listing of a prefix may still name keys whose delete is journaled here: such
//! names do not count. A probe lists the prefix page by page and descends into a
//! subdirectory only when a journaled delete lies below it (any other subdirectory counts at
//! once), so it costs one small listing when no delete is pending, and O(pending deletes
//! below) more otherwise.

use super::commit::Waiter;
use super::requests::Pending;
use super::{Core, RemoteCtx};
use crate::attr::{Attr, DirEntry, RemotePage};
use crate::ids::RequestId;
use crate::io::{FileError, RemoteError, RemoteOk, RemoteOp, Reply};
use crate::records::JournalOp;
use std::collections::BTreeMap;

/// True for the key of a directory marker (`dir/`).
pub(crate) fn is_marker(key: &str) -> bool {
    key.ends_with('/')
}

/// Probes in flight, by id.
#[derive(Debug, Default)]
pub(crate) struct Probes {
    next: u64,
    live: BTreeMap<u64, Probe>,
    /// Pages of `List` requests waiting for probes of their subdirectories.
    pages: BTreeMap<u64, ParkedPage>,
}

/// A page of a listing, answered once every doubtful subdirectory in it is probed.
#[derive(Debug)]
struct ParkedPage {
    req: RequestId,
    entries: Vec<DirEntry>,
    next: Option<String>,
    waiting: usize,
    /// A probe failed: the page fails with it (a directory listed that may be gone would
    /// be a wrong answer; an error is retried by the caller).
    error: Option<String>,
}

/// A parked page, answered: its request and its names and next, or the error of a probe.
pub(crate) type PageAnswer = (RequestId, Result<(Vec<DirEntry>, Option<String>), String>);

impl Probes {
    /// Parks a page until `waiting` probes answer; returns its id.
    pub fn park_page(
        &mut self,
        req: RequestId,
        entries: Vec<DirEntry>,
        next: Option<String>,
        waiting: usize,
    ) -> u64 {
        let id = self.next;
        self.next += 1;
        let page = ParkedPage {
            req,
            entries,
            next,
            waiting,
            error: None,
        };
        self.pages.insert(id, page);
        id
    }

    /// One probe of page `id` answered (`Ok(true)`: drop `name` from the page); the page
    /// once every probe has.
    pub fn page_answered(
        &mut self,
        id: u64,
        name: &str,
        gone: Result<bool, String>,
    ) -> Option<PageAnswer> {
        let page = self.pages.get_mut(&id)?;
        match gone {
            Ok(true) => page.entries.retain(|e| e.key != name),
            Ok(false) => {}
            Err(e) => page.error = Some(e),
        }
        page.waiting = page.waiting.saturating_sub(1);
        if page.waiting > 0 {
            return None;
        }
        let page = self.pages.remove(&id)?;
        let answer = match page.error {
            Some(e) => Err(e),
            None => Ok((page.entries, page.next)),
        };
        Some((page.req, answer))
    }
}

/// One question to the server: does the directory `root` exist (a visible marker), and does
/// it hold a visible name?
#[derive(Debug)]
struct Probe {
    root: String,
    /// The prefix being listed and where its next page starts.
    current: String,
    after: Option<String>,
    /// Subdirectories still to look into (each has a journaled delete below it).
    stack: Vec<String>,
    marker: bool,
    purpose: ProbeFor,
}

/// What a probe's answer is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProbeFor {
    /// A `Stat` of `key` whose HEAD found no object (`head_error`: the HEAD failed; some
    /// servers fail the HEAD of a name that is only a prefix).
    Stat {
        key: String,
        head_error: Option<String>,
        /// The HEAD was asked a second time already (see `finish_probe`).
        retried: bool,
    },
    /// An `Rmdir` of `key`.
    Rmdir { req: RequestId, key: String },
    /// A subdirectory `name` listed in a page of a `List` whose every key below may be
    /// deleted here.
    ListPage { page: u64, name: String },
    /// The target of a directory rename must hold nothing.
    RenameTarget { walk: u64 },
}

/// What a probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProbeAnswer {
    /// The marker object `root` is on the server and not deleted here.
    pub marker: bool,
    /// A visible name lies below `root` (other than its marker).
    pub child: bool,
}

impl ProbeAnswer {
    /// The directory exists.
    pub fn exists(self) -> bool {
        self.marker || self.child
    }
}

impl Core {
    /// True when a key with an unfinished journaled delete starts with `prefix`.
    pub(crate) fn pending_delete_below(&mut self, prefix: &str) -> bool {
        self.journal.below(prefix).iter().any(|id| {
            self.journal
                .get(id)
                .is_some_and(|j| !j.finished && matches!(j.rec.op, JournalOp::Delete { .. }))
        })
    }

    /// True when a held key other than `dir` itself (its marker) starts with `dir`.
    pub(crate) fn held_child(&self, dir: &str) -> bool {
        self.names
            .range::<str, _>((std::ops::Bound::Excluded(dir), std::ops::Bound::Unbounded))
            .next()
            .is_some_and(|(k, _)| k.starts_with(dir))
    }

    /// True when a held key is a proper ancestor of `key` (`a` for `a/b`): a file where a
    /// directory is expected.
    pub(crate) fn file_above(&self, key: &str) -> bool {
        key.match_indices('/')
            .any(|(i, _)| self.names.contains_key(&key[..i]))
    }

    pub(crate) fn mkdir(&mut self, req: RequestId, key: String) {
        if key.len() + 1 > super::namespace::KEY_MAX {
            return self.reply(req, Err(FileError::NameTooLong));
        }
        if key.is_empty() || key.ends_with('/') {
            return self.reply(req, Err(FileError::Exists));
        }
        if self.file_above(&key) {
            return self.reply(req, Err(FileError::NotADirectory));
        }
        self.stat_for(req, key, super::namespace::StatWaiter::Mkdir);
    }

    /// The end of a `Mkdir`: `found` is what is at `key` now.
    pub(crate) fn mkdir_found(
        &mut self,
        req: RequestId,
        key: String,
        found: Result<Option<Attr>, FileError>,
    ) {
        match found {
            Ok(Some(_)) => self.reply(req, Err(FileError::Exists)),
            Err(e) => self.reply(req, Err(e)),
            Ok(None) => {
                if self.file_above(&key) {
                    return self.reply(req, Err(FileError::NotADirectory));
                }
                let marker = format!("{key}/");
                let eid = match self.named(&marker) {
                    Some(eid) => eid,
                    None => self.new_entry(marker, None),
                };
                self.enqueue_sync(eid, Some(Waiter::Reply(req, Reply::DirCreated)));
            }
        }
    }

    pub(crate) fn rmdir(&mut self, req: RequestId, key: String) {
        if key.len() + 1 > super::namespace::KEY_MAX {
            return self.reply(req, Err(FileError::NameTooLong));
        }
        if key.is_empty() {
            return self.reply(
                req,
                Err(FileError::Busy("the root cannot be removed".into())),
            );
        }
        if let Some(e) = self.local_rmdir_error(&key) {
            return self.reply(req, Err(e));
        }
        let root = format!("{key}/");
        self.start_probe(root, ProbeFor::Rmdir { req, key });
    }

    /// What local state says against removing the directory `key`.
    fn local_rmdir_error(&mut self, key: &str) -> Option<FileError> {
        if self.names.contains_key(key) {
            return Some(FileError::NotADirectory);
        }
        if self.cfg.planted(crate::config::Bug::RmdirIgnoresLocalFiles) {
            return None;
        }
        self.held_child(&format!("{key}/"))
            .then_some(FileError::NotEmpty)
    }

    fn rmdir_found(&mut self, req: RequestId, key: String, found: Result<ProbeAnswer, String>) {
        let found = match found {
            Ok(f) => f,
            Err(e) => return self.reply(req, Err(FileError::Io(e))),
        };
        // Local state may have changed while the server was asked: it decides first.
        if let Some(e) = self.local_rmdir_error(&key) {
            return self.reply(req, Err(e));
        }
        if found.child {
            return self.reply(req, Err(FileError::NotEmpty));
        }
        let marker = format!("{key}/");
        self.stat_cache.forget(&key);
        if let Some(eid) = self.named(&marker) {
            return self.unlink_entry(req, eid, Reply::DirRemoved);
        }
        if found.marker {
            return self.lookup_remote(
                marker,
                Pending::Unlink {
                    req,
                    reply: Reply::DirRemoved,
                },
            );
        }
        self.reply(req, Err(FileError::NotFound))
    }

    pub(crate) fn start_probe(&mut self, root: String, purpose: ProbeFor) {
        let id = self.probes.next;
        self.probes.next += 1;
        let probe = Probe {
            current: root.clone(),
            root,
            after: None,
            stack: Vec::new(),
            marker: false,
            purpose,
        };
        self.probes.live.insert(id, probe);
        self.probe_next_page(id);
    }

    fn probe_next_page(&mut self, id: u64) {
        let Some(p) = self.probes.live.get(&id) else {
            return;
        };
        let prefix = p.current.clone();
        let start_after = p.after.clone();
        // The marker may come first; with no delete pending below, the next name answers.
        let max_keys = if self.pending_delete_below(&prefix) {
            1000
        } else {
            2
        };
        let op = RemoteOp::List {
            prefix,
            start_after,
            max_keys,
        };
        self.emit_remote(RemoteCtx::Probe { id }, op);
    }

    pub(crate) fn on_probe_page(&mut self, id: u64, result: Result<RemoteOk, RemoteError>) {
        let page = match result {
            Ok(RemoteOk::Listed(page)) => page,
            Ok(other) => return self.finish_probe(id, Err(format!("unexpected answer {other:?}"))),
            Err(e) => return self.finish_probe(id, Err(format!("object store: {e}"))),
        };
        let Some(p) = self.probes.live.get(&id) else {
            return;
        };
        let (current, root) = (p.current.clone(), p.root.clone());
        let seen = self.probe_page(&current, &root, &page);
        let last = last_name(&page);
        let Some(p) = self.probes.live.get_mut(&id) else {
            return;
        };
        p.marker |= seen.marker;
        p.stack.extend(seen.descend);
        let stat = !matches!(p.purpose, ProbeFor::Rmdir { .. });
        if seen.child || (stat && p.marker) {
            let answer = ProbeAnswer {
                marker: p.marker,
                child: seen.child,
            };
            return self.finish_probe(id, Ok(answer));
        }
        match (page.truncated, last) {
            (true, Some(last)) => p.after = Some(last),
            _ => match p.stack.pop() {
                Some(next) => {
                    p.current = next;
                    p.after = None;
                }
                None => {
                    let answer = ProbeAnswer {
                        marker: p.marker,
                        child: false,
                    };
                    return self.finish_probe(id, Ok(answer));
                }
            },
        }
        self.probe_next_page(id);
    }

    /// What one page of `current` (the probe's `root` or a subdirectory of it) shows.
    fn probe_page(&mut self, current: &str, root: &str, page: &RemotePage) -> PageSeen {
        let mut seen = PageSeen::default();
        for o in &page.objects {
            let visible = !self.pending_delete(&o.key);
            if o.key == current && current == root {
                seen.marker |= visible;
            } else if visible {
                // A file below, or the marker of a subdirectory: the root holds a name.
                seen.child = true;
                return seen;
            }
        }
        // Some servers list the folder a marker makes as a prefix of itself: not a child.
        for q in page.prefixes.iter().filter(|q| q.as_str() != current) {
            if self.pending_delete_below(q) {
                seen.descend.push(q.clone());
            } else {
                seen.child = true;
                return seen;
            }
        }
        seen
    }

    fn finish_probe(&mut self, id: u64, answer: Result<ProbeAnswer, String>) {
        let Some(p) = self.probes.live.remove(&id) else {
            return;
        };
        if answer.as_ref().is_ok_and(|a| a.exists()) {
            self.stat_cache.not_empty(&p.root);
        }
        match p.purpose {
            ProbeFor::Stat {
                key,
                head_error,
                retried,
            } => {
                // A HEAD that failed on a name whose every key below is deleted here failed
                // on the folder those keys make on servers that store objects as files.
                let explained = self.pending_delete_below(&p.root);
                let found = match (answer, head_error) {
                    (Ok(a), _) if a.exists() => Ok(Some(Attr::directory(0))),
                    (Ok(_), Some(_)) if !explained && !retried => {
                        // Nothing below after all: the failed HEAD may have met a folder
                        // that was going away. Asked once more, its answer decides.
                        let ctx = RemoteCtx::Stat {
                            key: key.clone(),
                            retried: true,
                        };
                        return self.emit_remote(ctx, RemoteOp::Head { key });
                    }
                    (Ok(_), Some(e)) if !explained => Err(FileError::Io(e)),
                    (Ok(_), _) => Ok(None),
                    (Err(e), _) => Err(FileError::Io(e)),
                };
                self.stat_found(key, found);
            }
            ProbeFor::Rmdir { req, key } => self.rmdir_found(req, key, answer),
            ProbeFor::ListPage { page, name } => self.list_probe_done(page, name, answer),
            ProbeFor::RenameTarget { walk } => self.rename_target_probed(walk, answer),
        }
    }
}

/// What a page of a probe showed.
#[derive(Debug, Default)]
struct PageSeen {
    marker: bool,
    child: bool,
    descend: Vec<String>,
}

/// The name to start the next page after: the greater of the page's last object and last
/// subdirectory (after a subdirectory, past every key below it).
fn last_name(page: &RemotePage) -> Option<String> {
    let obj = page.objects.last().map(|o| o.key.clone());
    let sub = page.prefixes.last().map(|p| format!("{p}\u{10FFFF}"));
    obj.max(sub)
}
