//! File requests: handle bookkeeping and the namespace (open, close, unlink, rename). Reads,
//! writes, truncates and fsyncs become jobs of the entry.

use super::commit::Waiter;
use super::entry::Entry;
use super::fetch::base_of;
use super::jobs::Job;
use super::namespace::KEY_MAX;
use super::{Core, RemoteCtx};
use crate::ids::{EntryId, RequestId};
use crate::io::{
    FileError, ObjectInfo, OpenFlags, RemoteError, RemoteOk, RemoteOp, Reply, Request,
};
use crate::records::{IndexOp, JournalOp, Precondition};

/// Tries of a HEAD for an uncached key before the requests waiting on it fail with EIO.
const LOOKUP_ATTEMPTS: u32 = 4;

/// A request waiting for the HEAD of a key that is not cached.
#[derive(Clone, Debug)]
pub(crate) enum Pending {
    Open {
        req: RequestId,
        flags: OpenFlags,
    },
    /// An unlink, or the rmdir of a directory whose marker is not cached: answered with
    /// `reply`.
    Unlink {
        req: RequestId,
        reply: Reply,
    },
    Rename {
        req: RequestId,
        to: String,
    },
    /// The rename's source is cached; the target is being looked up.
    RenameTarget {
        req: RequestId,
        from: EntryId,
        from_key: String,
    },
}

impl Core {
    pub(crate) fn handle_request(&mut self, req: RequestId, r: Request) {
        let durable = matches!(
            r,
            Request::Fsync { .. }
                | Request::SetMtime { .. }
                | Request::Unlink { .. }
                | Request::Rename { .. }
                | Request::Mkdir { .. }
                | Request::Rmdir { .. }
                | Request::RenameDir { .. }
        );
        if durable {
            if let Some(why) = self.poisoned.clone() {
                self.reply(
                    req,
                    Err(FileError::Io(format!("cache needs a remount: {why}"))),
                );
                return;
            }
        }
        match r {
            Request::Open { key, flags } => self.open(req, key, flags),
            Request::Mkdir { key } => self.mkdir(req, key),
            Request::Rmdir { key } => self.rmdir(req, key),
            Request::RenameDir { from, to } => self.rename_dir(req, from, to),
            Request::Read {
                handle,
                offset,
                len,
            } => {
                if let Some(eid) = self.handles.get(&handle).copied() {
                    self.note_read(handle, eid, offset, len);
                }
                self.with_handle(req, handle, |_| Job::Read { req, offset, len })
            }
            Request::Write {
                handle,
                offset,
                data,
            } => {
                let first_try = self.now;
                self.with_handle(req, handle, |_| Job::Write {
                    req,
                    offset,
                    data,
                    first_try,
                })
            }
            Request::Stat { key } => self.stat(req, key),
            Request::List { dir, after, max } => self.list(req, dir, after, max),
            Request::Flush => {
                self.flush_now();
                self.periodic_commit();
                self.reply(req, Ok(Reply::Flushed));
            }
            Request::Truncate { handle, size } => {
                self.with_handle(req, handle, |_| Job::Truncate {
                    req: Some(req),
                    size,
                    opened: None,
                })
            }
            Request::SetMtime { handle, mtime_ms } => {
                self.with_handle(req, handle, |_| Job::SetMtime { req, mtime_ms })
            }
            Request::Fsync { handle } => match self.handles.get(&handle).copied() {
                Some(eid) => self.enqueue_sync(eid, Some(Waiter::Reply(req, Reply::Synced))),
                None => self.reply(req, Err(FileError::BadHandle)),
            },
            Request::Close { handle } => match self.handles.remove(&handle) {
                Some(eid) => {
                    self.unpin(handle);
                    if let Some(e) = self.entries.get_mut(&eid) {
                        e.handles = e.handles.saturating_sub(1);
                        if e.key.is_none() && e.handles == 0 && e.upload.is_none() {
                            self.drop_entry(eid);
                        } else if e.handles == 0 {
                            self.release_open_hold(eid);
                        }
                    }
                    self.forget_stream(handle);
                    self.reply(req, Ok(Reply::Closed));
                }
                None => self.reply(req, Err(FileError::BadHandle)),
            },
            Request::Unlink { key } => {
                if key.ends_with('/') || self.held_below(&format!("{key}/")) {
                    return self.reply(req, Err(FileError::IsDirectory));
                }
                match self.named(&key) {
                    Some(eid) => self.unlink_entry(req, eid, Reply::Unlinked),
                    None => self.lookup_remote(
                        key,
                        Pending::Unlink {
                            req,
                            reply: Reply::Unlinked,
                        },
                    ),
                }
            }
            Request::Rename { from, to } => {
                if from == to {
                    self.reply(req, Ok(Reply::Renamed));
                    return;
                }
                if from.ends_with('/') || to.ends_with('/') {
                    return self.reply(req, Err(FileError::IsDirectory));
                }
                if self.held_below(&format!("{from}/")) && !self.names.contains_key(&from) {
                    // Directory renames are not done in place yet: `mv` copies instead.
                    return self.reply(req, Err(FileError::CrossDevice));
                }
                match self.named(&from) {
                    Some(eid) => self.rename_to(req, eid, to),
                    None => self.lookup_remote(from, Pending::Rename { req, to }),
                }
            }
        }
    }

    fn with_handle(
        &mut self,
        req: RequestId,
        handle: crate::ids::HandleId,
        job: impl FnOnce(EntryId) -> Job,
    ) {
        match self.handles.get(&handle).copied() {
            Some(eid) => {
                let j = job(eid);
                self.enqueue(eid, j);
            }
            None => self.reply(req, Err(FileError::BadHandle)),
        }
    }

    /// `Open` with its flags: the checks local state can answer, then the entry (looked up
    /// on the server when not cached).
    fn open(&mut self, req: RequestId, key: String, flags: OpenFlags) {
        if key.len() > KEY_MAX {
            return self.reply(req, Err(FileError::NameTooLong));
        }
        if key.is_empty() || key.ends_with('/') {
            return self.reply(req, Err(FileError::IsDirectory));
        }
        match self.named(&key) {
            Some(_) if flags.create && flags.exclusive => self.reply(req, Err(FileError::Exists)),
            Some(eid) => self.open_entry(req, eid, flags),
            None if self.held_below(&format!("{key}/")) => {
                self.reply(req, Err(FileError::IsDirectory))
            }
            None if flags.create && self.file_above(&key) => {
                self.reply(req, Err(FileError::NotADirectory))
            }
            None => self.lookup_remote(key, Pending::Open { req, flags }),
        }
    }

    /// Opens a handle on `eid`; with `truncate`, the file is cut to zero bytes first (a
    /// truncate job, answered with the handle when done); with `passthrough`, the answer
    /// says whether the kernel may read the cache file (`machine/passthrough.rs`).
    fn open_entry(&mut self, req: RequestId, eid: EntryId, flags: OpenFlags) {
        let truncate = flags.truncate;
        self.entries.wake(&eid);
        let atime = self.tick_atime();
        let h = self.alloc_handle();
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        e.handles += 1;
        // The access time lives in memory: it reaches the index with the entry's next change.
        e.atime = atime;
        let size = e.local_size;
        self.handles.insert(h, eid);
        if truncate && size > 0 {
            // Answered once the file is cut, like open(2) with O_TRUNC.
            let job = Job::Truncate {
                req: Some(req),
                size: 0,
                opened: Some(h),
            };
            return self.enqueue(eid, job);
        }
        if flags.passthrough {
            return self.open_passthrough(req, eid, h);
        }
        let reply = Reply::Opened {
            handle: h,
            size,
            passthrough: None,
        };
        self.reply(req, Ok(reply));
    }

    /// Renames a cached entry; an uncached target is looked up first, so that replacing it
    /// is conditional on the version it holds.
    fn rename_to(&mut self, req: RequestId, eid: EntryId, to: String) {
        self.entries.wake(&eid);
        if self.names.contains_key(&to) || self.pending_delete(&to) {
            self.rename_entry(req, eid, to);
        } else {
            let from_key = self
                .entries
                .get(&eid)
                .and_then(|e| e.key.clone())
                .unwrap_or_default();
            self.lookup_remote(
                to,
                Pending::RenameTarget {
                    req,
                    from: eid,
                    from_key,
                },
            );
        }
    }

    /// True when a delete of `key` is journaled: the key no longer exists, whatever the
    /// remote still says.
    pub(crate) fn pending_delete(&mut self, key: &str) -> bool {
        self.journal.at_path(key).iter().any(|id| {
            self.journal
                .get(id)
                .is_some_and(|j| !j.finished && matches!(j.rec.op, JournalOp::Delete { .. }))
        })
    }

    /// The entry at `key`, woken if it was idle: requests reach entries through here.
    pub(crate) fn named(&mut self, key: &str) -> Option<EntryId> {
        let id = self.names.get(key).copied()?;
        self.entries.wake(&id);
        Some(id)
    }

    pub(crate) fn lookup_remote(&mut self, key: String, p: Pending) {
        // A create of a name the server said, within `stat_ttl`, it does not have (the
        // kernel's lookup just before a create) asks again nothing: if another writer made
        // it meanwhile, the upload's `If-None-Match: *` finds out and keeps ours as a conflict
        // copy.
        let known_absent = matches!(p, Pending::Open { flags, .. } if flags.create)
            && self.stat_cache.known_absent(&key, self.now)
            && !self.lookups.contains_key(&key);
        if known_absent || self.pending_delete(&key) {
            self.lookups.entry(key.clone()).or_default().push(p);
            self.on_lookup_done(key, 0, Ok(RemoteOk::Head(None)));
            return;
        }
        let list = self.lookups.entry(key.clone()).or_default();
        list.push(p);
        if list.len() == 1 {
            self.send_lookup(key, 0);
        }
    }

    fn send_lookup(&mut self, key: String, attempt: u32) {
        let ctx = RemoteCtx::Lookup {
            key: key.clone(),
            attempt,
        };
        self.emit_remote(ctx, RemoteOp::Head { key });
    }

    pub(crate) fn lookup_retry_due(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.lookup_retry.drain(..).partition(|r| r.0 <= now);
        self.lookup_retry = later;
        for (_, key, attempt) in due {
            self.send_lookup(key, attempt);
        }
    }

    pub(crate) fn new_entry(&mut self, key: String, info: Option<&ObjectInfo>) -> EntryId {
        let eid = EntryId(self.alloc_id());
        let atime = self.tick_atime();
        self.entries
            .insert(Entry::new(eid, key.clone(), info.map(base_of), atime));
        if info.is_some() {
            self.stat_cache.forget(&key);
        } else {
            self.stat_cache.forget_created(&key);
        }
        self.names.insert(key, eid);
        self.ensure_upload_queued(eid);
        eid
    }

    pub(crate) fn on_lookup_done(
        &mut self,
        key: String,
        attempt: u32,
        result: Result<RemoteOk, RemoteError>,
    ) {
        if matches!(result, Err(RemoteError::Transient(_))) && attempt + 1 < LOOKUP_ATTEMPTS {
            // Retried with backoff before the waiting requests fail.
            let wait = self.backoff(attempt + 1, false);
            self.lookup_retry
                .push((self.now.plus(wait), key, attempt + 1));
            return;
        }
        let waiting = self.lookups.remove(&key).unwrap_or_default();
        let info = match result {
            Ok(RemoteOk::Head(info)) => info,
            Err(RemoteError::NotFound) => None,
            Ok(other) => {
                return self.fail_all(waiting, format!("unexpected answer {other:?}"));
            }
            Err(err) => return self.fail_all(waiting, err.to_string()),
        };
        for p in waiting {
            let cached = self.named(&key);
            match (p, cached, &info) {
                (Pending::Open { req, flags }, c, i)
                    if flags.create && flags.exclusive && (c.is_some() || i.is_some()) =>
                {
                    self.reply(req, Err(FileError::Exists))
                }
                (Pending::Open { req, flags }, Some(eid), _) => self.open_entry(req, eid, flags),
                (Pending::Open { req, flags }, None, i) if i.is_some() || flags.create => {
                    let eid = self.new_entry(key.clone(), i.as_ref());
                    self.open_entry(req, eid, flags);
                    // A file created here is open now: its first upload waits like a
                    // written one (`ensure_upload_queued`).
                    self.ensure_upload_queued(eid);
                }
                (Pending::Unlink { req, reply }, Some(eid), _) => {
                    self.unlink_entry(req, eid, reply)
                }
                (Pending::Unlink { req, reply }, None, Some(i)) => {
                    let op = JournalOp::Delete {
                        etag: Some(i.etag.clone()),
                        vacated_by: None,
                    };
                    self.new_record(key.clone(), op, self.now);
                    // What a stat learnt of the key is over (found by the simulator's stat
                    // checks: a stat after the delete ran answered from it).
                    self.stat_cache.forget(&key);
                    self.commit.ready.push(Waiter::Reply(req, reply));
                }
                (Pending::Rename { req, to }, Some(eid), _) => self.rename_to(req, eid, to),
                (Pending::Rename { req, to }, None, Some(i)) => {
                    let eid = self.new_entry(key.clone(), Some(i));
                    self.rename_to(req, eid, to);
                }
                (
                    Pending::RenameTarget {
                        req,
                        from,
                        from_key,
                    },
                    cached,
                    i,
                ) => {
                    if self.names.get(&from_key) != Some(&from) {
                        // The source changed meanwhile (unlinked, renamed, turned into a
                        // conflict copy): resolve the request again by name.
                        self.handle_request(
                            req,
                            Request::Rename {
                                from: from_key,
                                to: key.clone(),
                            },
                        );
                        continue;
                    }
                    if cached.is_none() {
                        if let Some(i) = i {
                            self.new_entry(key.clone(), Some(i));
                        }
                    }
                    self.rename_entry(req, from, key.clone());
                }
                (
                    Pending::Open { req, .. }
                    | Pending::Unlink { req, .. }
                    | Pending::Rename { req, .. },
                    None,
                    _,
                ) => self.reply(req, Err(FileError::NotFound)),
            }
        }
    }

    fn fail_all(&mut self, waiting: Vec<Pending>, why: String) {
        for p in waiting {
            let (Pending::Open { req, .. }
            | Pending::Unlink { req, .. }
            | Pending::Rename { req, .. }
            | Pending::RenameTarget { req, .. }) = p;
            self.reply(req, Err(FileError::Io(format!("object store: {why}"))));
        }
    }

    /// What the remote holds at the entry's key, as a condition for replacing it.
    fn remote_state_at_key(e: &Entry) -> Precondition {
        if e.key == e.remote_key {
            e.base.as_ref().map_or(Precondition::IfNoneMatch, |b| {
                Precondition::IfMatch(b.etag.clone())
            })
        } else {
            e.target_precondition.clone()
        }
    }

    /// The entry leaves `key`: journal the removal of whatever the remote holds there for it.
    fn vacate(&mut self, eid: EntryId, key: &str) {
        let Some(e) = self.entries.get(&eid) else {
            return;
        };
        let etag = match Self::remote_state_at_key(e) {
            Precondition::IfMatch(etag) => Some(etag),
            Precondition::IfNoneMatch => None,
        };
        let uploading = self.uploading_to(key);
        let Some(e) = self.entries.get(&eid) else {
            return;
        };
        // An attempt of our own upload may have landed unseen (a timeout): its token lets the
        // delete recognise that version too.
        let token = e
            .upload
            .and_then(|j| self.journal.get(&j))
            .filter(|j| j.rec.path == key)
            .map(|j| j.rec.token.clone())
            .unwrap_or_default();
        if etag.is_some() || uploading || !token.is_empty() {
            let jid = self.new_record(
                key.to_string(),
                JournalOp::Delete {
                    etag,
                    vacated_by: Some(eid),
                },
                self.now,
            );
            if let Some(j) = self.journal.get_mut(&jid) {
                j.rec.token = token;
            }
        }
    }

    pub(crate) fn unlink_entry(&mut self, req: RequestId, eid: EntryId, reply: Reply) {
        self.entries.wake(&eid);
        let Some(key) = self.entries.get(&eid).and_then(|e| e.key.clone()) else {
            return self.reply(req, Err(FileError::NotFound));
        };
        self.vacate(eid, &key);
        self.stat_cache.forget(&key);
        self.names.remove(&key);
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        e.key = None;
        e.persist_wanted = true;
        let uploading = e
            .upload
            .and_then(|j| self.journal.get(&j))
            .is_some_and(|j| j.in_progress());
        if e.handles == 0 && !uploading {
            self.drop_entry(eid);
            self.commit.ready.push(Waiter::Reply(req, reply));
        } else {
            self.enqueue_sync(eid, Some(Waiter::Reply(req, reply)));
        }
    }

    fn rename_entry(&mut self, req: RequestId, eid: EntryId, to: String) {
        if let Err(e) = self.move_entry(eid, to, Waiter::Reply(req, Reply::Renamed)) {
            self.reply(req, Err(e));
        }
    }

    /// Moves the entry to `to` (see `rename_entry`); `waiter` is told once the move is
    /// durable.
    pub(crate) fn move_entry(
        &mut self,
        eid: EntryId,
        to: String,
        waiter: Waiter,
    ) -> Result<(), FileError> {
        self.entries.wake(&eid);
        let Some(from) = self.entries.get(&eid).and_then(|e| e.key.clone()) else {
            return Err(FileError::NotFound);
        };
        // A replaced target that is cached is removed first (journaled delete of whatever it
        // has there, including a version its own upload may have stored unseen); then the
        // key is free and the upload goes up with `If-None-Match`. An uncached target that
        // exists has been looked up and cached by `rename_to`.
        let precondition = match self.named(&to) {
            Some(t) => {
                let Some(te) = self.entries.get(&t) else {
                    return Ok(());
                };
                let busy = te
                    .upload
                    .and_then(|j| self.journal.get(&j))
                    .is_some_and(|j| j.in_progress());
                if busy {
                    return Err(FileError::Busy(format!("{to} is being uploaded")));
                }
                self.vacate(t, &to);
                self.stat_cache.forget(&to);
                self.names.remove(&to);
                if let Some(te) = self.entries.get_mut(&t) {
                    te.key = None;
                    te.persist_wanted = true;
                    if te.handles == 0 {
                        self.drop_entry(t);
                    } else {
                        // Kept for its open handles: the index must stop naming it at `to`
                        // no later than the rename is durable, or a crash would bring back
                        // two entries at one key. A snapshot of it, keyless, is ready for the
                        // next transaction at once, without syncing its data first: a crash
                        // drops a keyless entry (as any unlinked one), so what its cache
                        // file holds no longer matters.
                        let snap = te.snapshot();
                        self.sync_done(t, snap, None);
                    }
                }
                Precondition::IfNoneMatch
            }
            None => Precondition::IfNoneMatch,
        };
        // Back at a key it left where its base lives: the delete journaled then stays as the
        // entry's claim on what it left there, taken over by its next upload to the key
        // (`journal::reclaimed_by`).
        self.vacate(eid, &from);
        self.stat_cache.forget(&from);
        self.names.remove(&from);
        self.stat_cache.forget(&to);
        self.names.insert(to.clone(), eid);
        let Some(e) = self.entries.get_mut(&eid) else {
            return Ok(());
        };
        e.key = Some(to);
        e.target_precondition = precondition;
        e.persist_wanted = true;
        if let Some(jid) = e.upload {
            // A queued upload still names the old key: re-queue it for the new one.
            if self.journal.get(&jid).is_some_and(|j| !j.in_progress()) {
                self.remove_record(jid);
            }
        }
        self.ensure_upload_queued(eid);
        self.enqueue_sync(eid, Some(waiter));
        Ok(())
    }

    /// Forgets an unlinked, closed entry: removed from the index and its file deleted.
    pub(crate) fn drop_entry(&mut self, eid: EntryId) {
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        if e.dropped {
            return;
        }
        e.dropped = true;
        // Conflicts it recorded stay recorded, even though the copy itself is gone.
        let conflicts: Vec<_> = e.snapshot.take().map(|s| s.conflicts).unwrap_or_default();
        let conflicts = conflicts
            .into_iter()
            .chain(std::mem::take(&mut e.new_conflicts));
        self.commit
            .pending_ops
            .extend(conflicts.map(IndexOp::PutConflict));
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        e.persist_wanted = false;
        e.finished_journal.clear();
        e.upload = None;
        // Every upload record of the entry goes, finished or not (a finished one may sit in a
        // snapshot that will now never be committed).
        for jid in self.journal.uploads_of(eid) {
            self.remove_record(jid);
        }
        self.commit.pending_ops.push(IndexOp::DeleteEntry(eid));
        self.enqueue(eid, Job::Remove);
    }

    pub(crate) fn on_remote_done(&mut self, ctx: RemoteCtx, result: Result<RemoteOk, RemoteError>) {
        match ctx {
            RemoteCtx::Lookup { key, attempt } => self.on_lookup_done(key, attempt, result),
            RemoteCtx::Fetch { entry, chunk, etag } => {
                self.on_fetch_done(entry, chunk, etag, result)
            }
            RemoteCtx::Revalidate { entry } => self.on_revalidate_done(entry, result),
            RemoteCtx::Upload { jid, attempt, step } => {
                self.on_upload_done(jid, attempt, step, result)
            }
            RemoteCtx::Delete { jid, checked } => self.on_delete_done(jid, checked, result),
            RemoteCtx::Stat { key, retried } => self.on_stat_done(key, retried, result),
            RemoteCtx::Probe { id } => self.on_probe_page(id, result),
            RemoteCtx::DirWalk { id } => self.on_dir_walk_page(id, result),
            RemoteCtx::List {
                req,
                dir,
                after,
                epoch,
            } => self.on_list_done(req, dir, after, epoch, result),
            RemoteCtx::Ignore => {}
        }
    }
}
