//! Names: what a key is (`Request::Stat`) and what a directory holds (`Request::List`).
//!
//! Local state decides first, the server only for what the cache does not hold:
//! - a key the cache holds (visible in `names`: created, written, uploading, renamed here,
//!   a conflict copy) is a file with its local size and modification time;
//! - a key with a journaled delete (unlinked, renamed away) is nothing, whatever the server
//!   still holds;
//! - a key with a held key below it (`key/...`) is a directory (implicit);
//! - anything else is asked of the server: a HEAD of the key, then a listing of `key/` with
//!   one name (a marker object `key/` or any key below makes it a directory). What the server
//!   said, found or not, is remembered for `CoreConfig::stat_ttl`.
//!
//! A page of a directory is one ListObjectsV2 page (delimiter `/`) after a name, overlaid
//! with the held keys in the same span of names: those with a journaled delete leave, held
//! ones show their local attributes, held ones the server does not list yet join (a key
//! deeper down shows as its subdirectory). The next page starts after the last name of this
//! one, so a name is never listed twice and none that existed throughout is skipped, whatever
//! changes meanwhile. The overlay walks only the held keys in the page's span of names
//! (subdirectories are skipped over, not walked): O(local names in the page).

use super::dirs::ProbeFor;
use super::{Core, RemoteCtx};
use crate::attr::{Attr, DirEntry, FileKind, RemotePage};
use crate::config::Bug;
use crate::ids::{EntryId, RequestId};
use crate::io::{FileError, ObjectInfo, RemoteError, RemoteOk, RemoteOp, Reply};
use crate::time::Instant;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

/// S3's longest key, in bytes.
pub(crate) const KEY_MAX: usize = 1024;

/// What the server said about keys the cache does not hold, until it expires; and the
/// requests waiting for the server.
#[derive(Debug, Default)]
pub(crate) struct StatCache {
    /// Key -> (expiry, attributes or `None`: not found).
    known: BTreeMap<String, (Instant, Option<Attr>)>,
    by_expiry: BTreeSet<(Instant, String)>,
    /// Keys asked of the server, with the requests waiting for the answer and `changes` when
    /// it was asked.
    waiting: BTreeMap<String, (u64, Vec<StatWaiter>)>,
    /// Bumped by every local change of a name: an answer asked for before one is not
    /// remembered (it may predate the change).
    changes: u64,
    /// Listings in flight, by the `changes` at which they were sent.
    lists_out: BTreeMap<u64, u32>,
    /// Keys whose journaled delete finished while a listing was in flight, by the `changes`
    /// at which it finished (and the reverse): a page asked before the delete landed may
    /// still name the key, which the caller had already seen removed. Kept only while a
    /// listing older than the delete is out.
    deleted_at: BTreeMap<u64, String>,
    deleted_keys: BTreeMap<String, u64>,
    /// Directories (`dir/`) the server showed nothing at or below (a HEAD of `dir` found
    /// nothing and neither did a listing of `dir/`), until they expire: every name below is
    /// nothing there too, without asking (`cp -r` into a new directory asks once per
    /// directory, not twice per file). Names the cache holds are answered from local state
    /// first, so a name created here does not end the fact; what shows the server changed
    /// (a version found, a conflict, a name removed or renamed here) does.
    empty_dirs: BTreeMap<String, Instant>,
    empty_by_expiry: BTreeSet<(Instant, String)>,
}

/// Entries the cache remembers at most; the oldest go first.
const STAT_CACHE_MAX: usize = 100_000;

impl StatCache {
    fn get(&self, key: &str, now: Instant) -> Option<Option<Attr>> {
        if let Some((expires, attr)) = self.known.get(key) {
            if *expires > now {
                return Some(attr.clone());
            }
        }
        self.in_empty_dir(key, now).then_some(None)
    }

    /// True when a directory above `key` is known to hold nothing on the server. O(depth).
    fn in_empty_dir(&self, key: &str, now: Instant) -> bool {
        !self.empty_dirs.is_empty()
            && key
                .match_indices('/')
                .any(|(i, _)| self.empty_dirs.get(&key[..=i]).is_some_and(|t| *t > now))
    }

    /// The server holds nothing at `key` nor below `key/` (until `expires`).
    fn put_empty_dir(&mut self, key: &str, expires: Instant, now: Instant) {
        let dir = format!("{key}/");
        self.forget_empty_dir(&dir);
        drop_expired(&mut self.empty_by_expiry, &mut self.empty_dirs, now);
        self.empty_by_expiry.insert((expires, dir.clone()));
        self.empty_dirs.insert(dir, expires);
    }

    /// The server was seen to hold names below `dir` (which ends with `/`, or is empty for
    /// the root): neither it nor a directory above it is empty.
    pub(crate) fn not_empty(&mut self, dir: &str) {
        if self.empty_dirs.is_empty() {
            return;
        }
        for (i, _) in dir.match_indices('/') {
            self.forget_empty_dir(&dir[..=i]);
        }
    }

    fn forget_empty_dir(&mut self, dir: &str) {
        if let Some(t) = self.empty_dirs.remove(dir) {
            self.empty_by_expiry.remove(&(t, dir.to_string()));
        }
    }

    fn put(&mut self, key: String, attr: Option<Attr>, expires: Instant, now: Instant) {
        self.remove(&key);
        drop_expired(&mut self.by_expiry, &mut self.known, now);
        self.by_expiry.insert((expires, key.clone()));
        self.known.insert(key, (expires, attr));
    }

    /// True when the server said, within its TTL, that `key` is nothing.
    pub fn known_absent(&self, key: &str, now: Instant) -> bool {
        self.get(key, now) == Some(None)
    }

    /// Forgets what the server said about `key` and the directories above it: local state
    /// changed them (a directory may hold nothing once its last key is deleted here), or
    /// the server was found to hold what was thought absent. Also ends what was known of
    /// those directories, and `key/`, being empty.
    pub fn forget(&mut self, key: &str) {
        self.forget_created(key);
        if self.empty_dirs.is_empty() {
            return;
        }
        let own = format!("{key}/");
        self.forget_empty_dir(&own);
        for (i, _) in key.match_indices('/') {
            self.forget_empty_dir(&key[..=i]);
        }
    }

    /// Forgets what the server said about `key` and the directories above it, for a name
    /// created here that the server did not hold: what is known of empty directories above
    /// it stays true of the server (the new name is answered from local state).
    pub fn forget_created(&mut self, key: &str) {
        self.changes += 1;
        let ancestors = key.match_indices('/').map(|(i, _)| &key[..i]);
        for k in std::iter::once(key).chain(ancestors) {
            self.remove(k);
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some((t, _)) = self.known.remove(key) {
            self.by_expiry.remove(&(t, key.to_string()));
        }
    }

    /// The journaled delete of `key` finished (the key is gone from the server, or never
    /// was): a change of the name, and hidden from the pages of listings already out.
    pub fn deleted(&mut self, key: &str) {
        self.forget(key);
        if self.lists_out.is_empty() {
            return;
        }
        if let Some(old) = self.deleted_keys.insert(key.to_string(), self.changes) {
            self.deleted_at.remove(&old);
        }
        self.deleted_at.insert(self.changes, key.to_string());
    }

    /// True when the delete of `key` finished after a listing sent at `epoch`.
    fn deleted_since(&self, key: &str, epoch: u64) -> bool {
        self.deleted_keys.get(key).is_some_and(|&at| at > epoch)
    }

    fn list_sent(&mut self) -> u64 {
        *self.lists_out.entry(self.changes).or_insert(0) += 1;
        self.changes
    }

    /// A listing sent at `epoch` was answered: deletes no listing still out predates are
    /// forgotten. O(forgotten).
    fn list_answered(&mut self, epoch: u64) {
        if let Some(n) = self.lists_out.get_mut(&epoch) {
            *n -= 1;
            if *n == 0 {
                self.lists_out.remove(&epoch);
            }
        }
        let oldest = self.lists_out.keys().next().copied().unwrap_or(u64::MAX);
        while let Some((&at, _)) = self.deleted_at.first_key_value() {
            if at > oldest {
                break;
            }
            if let Some(key) = self.deleted_at.remove(&at) {
                self.deleted_keys.remove(&key);
            }
        }
    }
}

/// Drops from `map` the entries expired at `now` (oldest first, by `by_expiry`), and more
/// while it holds `STAT_CACHE_MAX`, so that one more fits.
fn drop_expired<V>(
    by_expiry: &mut BTreeSet<(Instant, String)>,
    map: &mut BTreeMap<String, V>,
    now: Instant,
) {
    while let Some((t, k)) = by_expiry.first().cloned() {
        if t > now && map.len() < STAT_CACHE_MAX {
            break;
        }
        by_expiry.remove(&(t, k.clone()));
        map.remove(&k);
    }
}

/// A request waiting for what the server says of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatWaiter {
    /// A `Stat`: answered with the attributes.
    Reply(RequestId),
    /// A `Mkdir`: goes on when nothing is at the key.
    Mkdir(RequestId),
}

impl Core {
    pub(crate) fn stat(&mut self, req: RequestId, key: String) {
        self.stat_for(req, key, StatWaiter::Reply);
    }

    /// Finds what is at `key` for `waiter(req)`: from local state, from what the server
    /// said within `stat_ttl`, or from the server.
    pub(crate) fn stat_for(
        &mut self,
        req: RequestId,
        key: String,
        waiter: fn(RequestId) -> StatWaiter,
    ) {
        if key.len() > KEY_MAX {
            return self.reply(req, Err(FileError::NameTooLong));
        }
        if let Some(local) = self.stat_locally(&key) {
            return self.deliver_stat(waiter(req), key, Ok(local));
        }
        if let Some(known) = self.stat_cache.get(&key, self.now) {
            return self.deliver_stat(waiter(req), key, Ok(known));
        }
        let epoch = self.stat_cache.changes;
        let waiting = &mut self
            .stat_cache
            .waiting
            .entry(key.clone())
            .or_insert((epoch, Vec::new()))
            .1;
        waiting.push(waiter(req));
        if waiting.len() == 1 {
            let ctx = RemoteCtx::Stat {
                key: key.clone(),
                retried: false,
            };
            self.emit_remote(ctx, RemoteOp::Head { key });
        }
    }

    fn deliver_stat(
        &mut self,
        waiter: StatWaiter,
        key: String,
        found: Result<Option<Attr>, FileError>,
    ) {
        match waiter {
            StatWaiter::Reply(req) => {
                let r = match found {
                    Ok(Some(attr)) => Ok(Reply::Attr(attr)),
                    Ok(None) => Err(FileError::NotFound),
                    Err(e) => Err(e),
                };
                self.reply(req, r);
            }
            StatWaiter::Mkdir(req) => self.mkdir_found(req, key, found),
        }
    }

    /// What local state says of `key`: `Some(Some(attr))` it exists, `Some(None)` it does
    /// not, `None` ask the server.
    fn stat_locally(&mut self, key: &str) -> Option<Option<Attr>> {
        if key.is_empty() {
            return Some(Some(Attr::directory(0)));
        }
        if let Some(eid) = self.named(key) {
            return Some(self.held_attr(eid));
        }
        let dir = format!("{key}/");
        if self.held_below(&dir) {
            return Some(Some(Attr::directory(0)));
        }
        if self.pending_delete(key) {
            return Some(None);
        }
        None
    }

    /// The attributes of a held entry, from local state.
    fn held_attr(&self, eid: EntryId) -> Option<Attr> {
        let e = self.entries.get(&eid)?;
        let mtime_ms = e.effective_mtime().unwrap_or(0);
        let version = match (&e.base, e.needs_upload()) {
            (Some(b), false) => b.etag.clone(),
            _ => format!(
                "local-{}-{}-{}-{mtime_ms}",
                e.id, e.generation, e.local_size
            ),
        };
        Some(Attr {
            kind: FileKind::File,
            size: e.local_size,
            mtime_ms,
            version,
        })
    }

    /// True when a held key lies below `dir` (which ends with `/`).
    pub(crate) fn held_below(&self, dir: &str) -> bool {
        self.names
            .range::<str, _>((Bound::Included(dir), Bound::Unbounded))
            .next()
            .is_some_and(|(k, _)| k.starts_with(dir))
    }

    pub(crate) fn on_stat_done(
        &mut self,
        key: String,
        retried: bool,
        result: Result<RemoteOk, RemoteError>,
    ) {
        match result {
            Ok(RemoteOk::Head(Some(info))) => self.stat_found(key, Ok(Some(file_attr(&info)))),
            r @ (Ok(RemoteOk::Head(None)) | Err(_)) => {
                let head_error = match r {
                    Err(RemoteError::NotFound) | Ok(_) => None,
                    Err(e) => Some(format!("object store: {e}")),
                };
                let root = format!("{key}/");
                let purpose = ProbeFor::Stat {
                    key,
                    head_error,
                    retried,
                };
                self.start_probe(root, purpose);
            }
            Ok(other) => {
                let e = FileError::Io(format!("unexpected answer {other:?}"));
                self.stat_found(key, Err(e));
            }
        }
    }

    /// What the server said of `key` (a file, a directory, nothing, or an error) reaches the
    /// requests waiting for it.
    pub(crate) fn stat_found(&mut self, key: String, found: Result<Option<Attr>, FileError>) {
        let (epoch, waiting) = self.stat_cache.waiting.remove(&key).unwrap_or_default();
        // Local state may have changed while the server was asked: it decides then.
        let local = self.stat_locally(&key);
        // The answer is remembered only if nothing changed here since it was asked, and no
        // delete is journaled below the name (the server still shows what goes away).
        let settled =
            epoch == self.stat_cache.changes && !self.pending_delete_below(&format!("{key}/"));
        if matches!(found, Ok(Some(_))) {
            // Something is there: no directory above it is empty.
            self.stat_cache.not_empty(&key);
        }
        let answer = match (local, found) {
            (Some(local), _) => Ok(local),
            (None, Ok(attr)) => {
                if settled {
                    let expires = self.now.plus(self.cfg.stat_ttl);
                    let now = self.now;
                    if attr.is_none() {
                        // Nothing at the key nor below it (the listing of `key/` found
                        // nothing): the names below are nothing as well.
                        self.stat_cache.put_empty_dir(&key, expires, now);
                    }
                    self.stat_cache.put(key.clone(), attr.clone(), expires, now);
                }
                Ok(attr)
            }
            (None, Err(e)) => Err(e),
        };
        for w in waiting {
            self.deliver_stat(w, key.clone(), answer.clone());
        }
    }

    pub(crate) fn list(&mut self, req: RequestId, dir: String, after: Option<String>, max: u32) {
        if !(dir.is_empty() || dir.ends_with('/')) || dir.len() > KEY_MAX {
            return self.reply(req, Err(FileError::NotFound));
        }
        let ctx = RemoteCtx::List {
            req,
            dir: dir.clone(),
            after: after.clone(),
            epoch: self.stat_cache.list_sent(),
        };
        // After a subdirectory, ask for the names past everything below it: the server
        // would list the subdirectory again for any key below it after its name.
        let start_after = after.map(|a| match a.strip_suffix('/') {
            Some(_) => format!("{a}\u{10FFFF}"),
            None => a,
        });
        let op = RemoteOp::List {
            prefix: dir,
            start_after,
            max_keys: max.max(1),
        };
        self.emit_remote(ctx, op);
    }

    pub(crate) fn on_list_done(
        &mut self,
        req: RequestId,
        dir: String,
        after: Option<String>,
        epoch: u64,
        result: Result<RemoteOk, RemoteError>,
    ) {
        let page = match result {
            Ok(RemoteOk::Listed(page)) => page,
            Ok(other) => {
                self.stat_cache.list_answered(epoch);
                let e = FileError::Io(format!("unexpected answer {other:?}"));
                return self.reply(req, Err(e));
            }
            Err(e) => {
                self.stat_cache.list_answered(epoch);
                return self.reply(req, Err(FileError::Io(format!("object store: {e}"))));
            }
        };
        if !page.objects.is_empty() || !page.prefixes.is_empty() {
            // The server holds names here: no directory above them is empty.
            self.stat_cache.not_empty(&dir);
        }
        let (entries, next) = self.overlay(&dir, after.as_deref(), page, epoch);
        self.stat_cache.list_answered(epoch);
        // A subdirectory the server lists may hold nothing but keys deleted here: ask.
        let mut doubtful = Vec::new();
        for e in &entries {
            if e.attr.kind == FileKind::Directory
                && !self.held_below(&e.key)
                && self.pending_delete_below(&e.key)
            {
                doubtful.push(e.key.clone());
            }
        }
        if doubtful.is_empty() {
            return self.reply(req, Ok(Reply::Listing { entries, next }));
        }
        let page = self.probes.park_page(req, entries, next, doubtful.len());
        for name in doubtful {
            self.start_probe(name.clone(), ProbeFor::ListPage { page, name });
        }
    }

    /// What a listing said of the names it brought, remembered as a HEAD's answer would be
    /// (for `stat_ttl`), so that a lookup of each name after a listing (`ls -l`) asks the
    /// server nothing: files, and subdirectories under which no delete is journaled here
    /// (those are probed). A name that is both an object and a prefix is the object, as
    /// `Stat` answers. Names the cache holds are answered from local state anyway.
    fn remember_listed(&mut self, names: &BTreeMap<String, Attr>) {
        let expires = self.now.plus(self.cfg.stat_ttl);
        let now = self.now;
        for (name, attr) in names {
            let key = name.strip_suffix('/').unwrap_or(name);
            let is_dir = name.ends_with('/');
            if self.names.contains_key(key) || (is_dir && names.contains_key(key)) {
                continue;
            }
            if is_dir && self.pending_delete_below(name) {
                continue;
            }
            self.stat_cache
                .put(key.to_string(), Some(attr.clone()), expires, now);
        }
    }

    /// A probe of a doubtful subdirectory of a parked page answered.
    pub(crate) fn list_probe_done(
        &mut self,
        page: u64,
        name: String,
        answer: Result<super::dirs::ProbeAnswer, String>,
    ) {
        let gone = answer.map(|a| !a.exists() && !self.held_below(&name));
        if let Some((req, answer)) = self.probes.page_answered(page, &name, gone) {
            let r = match answer {
                Ok((entries, next)) => Ok(Reply::Listing { entries, next }),
                Err(e) => Err(FileError::Io(e)),
            };
            self.reply(req, r);
        }
    }

    /// Merges a remote page with the held keys in its span of names (see the module doc).
    fn overlay(
        &mut self,
        dir: &str,
        after: Option<&str>,
        page: RemotePage,
        epoch: u64,
    ) -> (Vec<DirEntry>, Option<String>) {
        let remember = epoch == self.stat_cache.changes;
        let mut remote: BTreeMap<String, Attr> = BTreeMap::new();
        for o in page.objects {
            // The marker of the directory itself is not a name in it.
            if o.key == dir {
                continue;
            }
            let attr = Attr {
                kind: FileKind::File,
                size: o.size,
                mtime_ms: o.mtime_ms,
                version: o.etag.unwrap_or_default(),
            };
            remote.insert(o.key, attr);
        }
        // Some servers list the folder a marker makes as a prefix of itself: not a name in it.
        for p in page.prefixes.into_iter().filter(|p| p != dir) {
            remote.insert(p, Attr::directory(0));
        }
        // The span of names this page covers: after `after`, up to its last remote name
        // when more follow, else to the end of the directory.
        let upper = if page.truncated {
            remote.keys().next_back().cloned()
        } else {
            None
        };
        let start = after.unwrap_or(dir).to_string();
        let mut names: BTreeMap<String, Attr> = BTreeMap::new();
        let show_deleted = self.cfg.planted(Bug::ListShowsJournaledDelete);
        for (key, attr) in remote {
            if after.is_some_and(|a| key.as_str() <= a) {
                continue;
            }
            let hidden = !key.ends_with('/') && !self.names.contains_key(&key) && {
                !show_deleted
                    && (self.pending_delete(&key) || self.stat_cache.deleted_since(&key, epoch))
            };
            if !hidden {
                names.insert(key, attr);
            }
        }
        if remember {
            self.remember_listed(&names);
        }
        // Held keys in the span: files directly in `dir` with their local attributes, and
        // the subdirectory of any deeper one (skipping the rest of that subtree).
        let mut cursor = Bound::Excluded(start);
        loop {
            let next = self
                .names
                .range::<String, _>((cursor.clone(), Bound::Unbounded))
                .next()
                .map(|(k, id)| (k.clone(), *id));
            let Some((key, eid)) = next else {
                break;
            };
            if !key.starts_with(dir) || upper.as_ref().is_some_and(|u| key > *u) {
                break;
            }
            let rest = &key[dir.len()..];
            match rest.find('/') {
                Some(i) => {
                    let sub = format!("{dir}{}", &rest[..=i]);
                    let within = upper.as_ref().is_none_or(|u| sub <= *u);
                    if within && after.is_none_or(|a| sub.as_str() > a) {
                        names.insert(sub.clone(), Attr::directory(0));
                    }
                    // Past every key below `sub`: '/' + 1 is '0'.
                    let mut past = sub;
                    past.pop();
                    past.push('0');
                    cursor = Bound::Included(past);
                }
                None => {
                    self.entries.wake(&eid);
                    if let Some(attr) = self.held_attr(eid) {
                        names.insert(key.clone(), attr);
                    }
                    cursor = Bound::Excluded(key);
                }
            }
        }
        let next = if page.truncated {
            names.keys().next_back().cloned().or(upper)
        } else {
            None
        };
        let entries = names
            .into_iter()
            .map(|(key, attr)| DirEntry { key, attr })
            .collect();
        (entries, next)
    }
}

fn file_attr(info: &ObjectInfo) -> Attr {
    Attr {
        kind: FileKind::File,
        size: info.size,
        mtime_ms: info.mtime_ms,
        version: info.etag.clone(),
    }
}
