//! Renaming a directory (`Request::RenameDir`): every key below it moves, and the moves reach
//! the index in one transaction, so a crash leaves all of them or none.
//!
//! Steps: the target must hold nothing (a probe of `to/`); the source is walked on the server
//! (every page, every subdirectory) for the keys the cache does not hold; then, in one step,
//! each of those becomes an entry (its base is the listed version, nothing is fetched), and
//! every entry below `from/` moves to its new key as a file rename does (its upload copies
//! the unchanged bytes server-side from the old key, then the old key is deleted). Each moved
//! entry's state reaches the index through its own fsync job; while any of them is still
//! syncing, no transaction is sent (`Batches::holding`), so they all go in the same one, and
//! the request is answered when it is durable.
//!
//! What is not renamed in place (the caller copies instead, answered `CrossDevice`): more
//! keys than `CoreConfig::dir_rename_limit`, a file below that is busy (jobs queued or
//! running: its fsync could wait on a commit the batch holds back), or a listed object
//! without an ETag.

use super::commit::Waiter;
use super::{Core, RemoteCtx};
use crate::attr::ListedObject;
use crate::ids::{EntryId, RequestId};
use crate::io::{FileError, ObjectInfo, RemoteError, RemoteOk, RemoteOp, Reply};
use std::collections::BTreeMap;
use std::ops::Bound;

/// Directory renames under way: walks of the source on the server, and batches of moved
/// entries waiting for their fsyncs and their commit.
#[derive(Debug, Default)]
pub(crate) struct Batches {
    next: u64,
    walks: BTreeMap<u64, Walk>,
    batches: BTreeMap<u64, Batch>,
}

/// The listing of a source directory, page by page.
#[derive(Debug)]
struct Walk {
    req: RequestId,
    from: String,
    to: String,
    current: String,
    after: Option<String>,
    stack: Vec<String>,
    found: Vec<ListedObject>,
}

/// The moved entries of one rename.
#[derive(Debug)]
struct Batch {
    req: RequestId,
    /// Entries whose fsync job has not finished yet.
    syncing: usize,
    /// Entries whose move is not yet durable.
    unacked: usize,
    failed: bool,
}

impl Batches {
    /// True while a batch's entries are still syncing: no transaction may be sent, so that
    /// all of them go in the same one.
    pub fn holding(&self) -> bool {
        self.batches.values().any(|b| b.syncing > 0)
    }

    /// One entry of batch `id` finished its fsync.
    pub fn synced(&mut self, id: u64) {
        if let Some(b) = self.batches.get_mut(&id) {
            b.syncing = b.syncing.saturating_sub(1);
        }
    }

    /// One entry's move is durable (`Ok`) or failed; returns the request to answer once
    /// every entry has, with its answer.
    pub fn acked(&mut self, id: u64, ok: bool) -> Option<(RequestId, bool)> {
        let b = self.batches.get_mut(&id)?;
        b.failed |= !ok;
        b.unacked = b.unacked.saturating_sub(1);
        if b.unacked > 0 {
            return None;
        }
        let b = self.batches.remove(&id)?;
        Some((b.req, !b.failed))
    }
}

impl Core {
    pub(crate) fn rename_dir(&mut self, req: RequestId, from: String, to: String) {
        if from.is_empty() || to.is_empty() {
            return self.reply(req, Err(FileError::Busy("the root cannot be moved".into())));
        }
        if from == to {
            return self.reply(req, Ok(Reply::Renamed));
        }
        let (from_dir, to_dir) = (format!("{from}/"), format!("{to}/"));
        if to_dir.starts_with(&from_dir) {
            let why = format!("{to} is inside {from}");
            return self.reply(req, Err(FileError::Invalid(why)));
        }
        if let Some(e) = self.local_rename_dir_error(&from, &to) {
            return self.reply(req, Err(e));
        }
        let id = self.dir_renames.next;
        self.dir_renames.next += 1;
        let walk = Walk {
            req,
            from: from_dir,
            to: to_dir.clone(),
            current: String::new(),
            after: None,
            stack: Vec::new(),
            found: Vec::new(),
        };
        self.dir_renames.walks.insert(id, walk);
        self.start_probe(to_dir, super::dirs::ProbeFor::RenameTarget { walk: id });
    }

    /// What local state says against renaming `from` to `to`.
    fn local_rename_dir_error(&mut self, from: &str, to: &str) -> Option<FileError> {
        if self.names.contains_key(from) || self.names.contains_key(to) {
            return Some(FileError::NotADirectory);
        }
        if self.held_below(&format!("{to}/")) {
            return Some(FileError::NotEmpty);
        }
        None
    }

    /// The probe of the target answered: walk the source if nothing is there.
    pub(crate) fn rename_target_probed(
        &mut self,
        id: u64,
        answer: Result<super::dirs::ProbeAnswer, String>,
    ) {
        let Some(w) = self.dir_renames.walks.get_mut(&id) else {
            return;
        };
        let req = w.req;
        match answer {
            Err(e) => {
                self.dir_renames.walks.remove(&id);
                self.reply(req, Err(FileError::Io(e)));
            }
            Ok(a) if a.exists() => {
                self.dir_renames.walks.remove(&id);
                self.reply(req, Err(FileError::NotEmpty));
            }
            Ok(_) => {
                w.current = w.from.clone();
                self.walk_next_page(id);
            }
        }
    }

    fn walk_next_page(&mut self, id: u64) {
        let Some(w) = self.dir_renames.walks.get(&id) else {
            return;
        };
        let op = RemoteOp::List {
            prefix: w.current.clone(),
            start_after: w.after.clone(),
            max_keys: 1000,
        };
        self.emit_remote(RemoteCtx::DirWalk { id }, op);
    }

    pub(crate) fn on_dir_walk_page(&mut self, id: u64, result: Result<RemoteOk, RemoteError>) {
        let page = match result {
            Ok(RemoteOk::Listed(page)) => page,
            Ok(other) => return self.end_walk(id, Err(format!("unexpected answer {other:?}"))),
            Err(e) => return self.end_walk(id, Err(format!("object store: {e}"))),
        };
        let limit = self.cfg.dir_rename_limit;
        let Some(w) = self.dir_renames.walks.get_mut(&id) else {
            return;
        };
        let last_obj = page.objects.last().map(|o| o.key.clone());
        let last_sub = page.prefixes.last().map(|p| format!("{p}\u{10FFFF}"));
        let current = w.current.clone();
        w.found.extend(page.objects);
        w.stack
            .extend(page.prefixes.into_iter().filter(|p| *p != current));
        if w.found.len() > limit {
            return self.end_walk(id, Ok(false));
        }
        match (page.truncated, last_obj.max(last_sub)) {
            (true, Some(last)) => w.after = Some(last),
            _ => match w.stack.pop() {
                Some(next) => {
                    w.current = next;
                    w.after = None;
                }
                None => return self.end_walk(id, Ok(true)),
            },
        }
        self.walk_next_page(id);
    }

    /// The walk ended: `Ok(true)` with every key found, `Ok(false)` over the limit.
    fn end_walk(&mut self, id: u64, result: Result<bool, String>) {
        let Some(w) = self.dir_renames.walks.remove(&id) else {
            return;
        };
        match result {
            Err(e) => self.reply(w.req, Err(FileError::Io(e))),
            Ok(false) => self.reply(w.req, Err(FileError::CrossDevice)),
            Ok(true) => {
                if let Err(e) = self.apply_dir_rename(w.req, &w.from, &w.to, w.found) {
                    self.reply(w.req, Err(e));
                }
            }
        }
    }

    /// Moves every key below `from` (ending with `/`) to `to`, in one step.
    fn apply_dir_rename(
        &mut self,
        req: RequestId,
        from: &str,
        to: &str,
        found: Vec<ListedObject>,
    ) -> Result<(), FileError> {
        let (from_key, to_key) = (&from[..from.len() - 1], &to[..to.len() - 1]);
        // Local state may have changed while the server was asked.
        if let Some(e) = self.local_rename_dir_error(from_key, to_key) {
            return Err(e);
        }
        let mut remote = Vec::new();
        for o in found {
            if self.names.contains_key(&o.key) || self.pending_delete(&o.key) {
                continue;
            }
            let Some(etag) = o.etag.clone() else {
                return Err(FileError::CrossDevice);
            };
            remote.push((o, etag));
        }
        let held = self.held_under(from);
        if held.len() + remote.len() > self.cfg.dir_rename_limit {
            return Err(FileError::CrossDevice);
        }
        if held.is_empty() && remote.is_empty() {
            return Err(FileError::NotFound);
        }
        for (_, eid) in &held {
            self.entries.wake(eid);
            if !self.entries.get(eid).is_some_and(|e| e.idle()) {
                return Err(FileError::CrossDevice);
            }
        }
        // Nothing can fail from here on: every move below is one of a batch.
        for (o, etag) in remote {
            let info = ObjectInfo {
                etag,
                size: o.size,
                mtime_ms: o.mtime_ms,
                token: None,
            };
            self.new_entry(o.key, Some(&info));
        }
        let moves = self.held_under(from);
        let id = self.dir_renames.next;
        self.dir_renames.next += 1;
        let batch = Batch {
            req,
            syncing: moves.len(),
            unacked: moves.len(),
            failed: false,
        };
        self.dir_renames.batches.insert(id, batch);
        for (key, eid) in moves {
            let new_key = format!("{to}{}", &key[from.len()..]);
            if self
                .move_entry(eid, new_key, Waiter::DirRename(id))
                .is_err()
            {
                // Not expected (the targets are free): the batch answers with an error.
                self.dir_renames.synced(id);
                if let Some((req, _)) = self.dir_renames.acked(id, false) {
                    let why = "a key of the directory could not be moved".to_string();
                    self.reply(req, Err(FileError::Io(why)));
                }
            }
        }
        Ok(())
    }

    /// Held keys starting with `dir`, in order.
    fn held_under(&self, dir: &str) -> Vec<(String, EntryId)> {
        self.names
            .range::<str, _>((Bound::Included(dir), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(dir))
            .map(|(k, id)| (k.clone(), *id))
            .collect()
    }

    /// A moved entry's move is durable (`ok`) or failed.
    pub(crate) fn dir_rename_acked(&mut self, id: u64, ok: bool) {
        if let Some((req, all_ok)) = self.dir_renames.acked(id, ok) {
            let r = if all_ok {
                Ok(Reply::Renamed)
            } else {
                let why = self
                    .poisoned
                    .clone()
                    .unwrap_or_else(|| "commit failed".into());
                Err(FileError::Io(format!("cache needs a remount: {why}")))
            };
            self.reply(req, r);
        }
    }
}
