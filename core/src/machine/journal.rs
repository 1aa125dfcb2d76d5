//! The upload journal: one record per pending upload or remote delete, persisted in the index
//! with the entry state it depends on. Records move Queued -> InProgress -> (deleted on
//! success) | RetryWait -> InProgress ...; a conflict replaces the record by a new one for the
//! conflict copy. Uploads of dirty data are never given up: permanent errors are reported
//! loudly and retried at the slowest pace.
//!
//! Ordering per key: an upload to a key waits while a delete of that key is journaled, and a
//! delete waits while any entry still uses that version as the source of its unchanged bytes
//! or an upload to the key is in progress.

use super::{Core, RemoteCtx};
use crate::ids::{EntryId, JournalId};
use crate::io::{Event, RemoteError, RemoteOk, RemoteOp};
use crate::records::{IndexOp, JournalOp, JournalRecord, JournalStatus, Precondition};
use crate::time::Instant;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The longest an open file's upload is held back by `open_upload_pause` after it was first
/// queued, however often the file changes: a file kept open and written for hours (a log, a
/// database) still reaches the bucket at this pace.
pub(crate) const OPEN_UPLOAD_HOLD_MAX: Duration = Duration::from_secs(30);

/// Where an upload is, beyond its persisted status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Queued or waiting to retry.
    Idle,
    /// Its start is being committed.
    Persisting,
    /// Remote operations in flight.
    Running,
    /// Succeeded; the entry is being updated.
    Finishing,
}

#[derive(Debug)]
pub(crate) struct JournalEntry {
    pub rec: JournalRecord,
    /// Its own fields changed since last written to the index.
    pub changed: bool,
    /// Multipart parts finished since last written to the index (written as parts alone
    /// unless `changed`).
    pub new_parts: Vec<u32>,
    /// Succeeded: deleted from the index together with the entry's next snapshot.
    pub finished: bool,
    pub phase: Phase,
    /// Bumped by every attempt; completions of older attempts are ignored.
    pub attempt: u32,
    /// The attempt whose CompleteMultipartUpload (or its pre-check) is out: it is sent once
    /// per attempt, however many ways the last part's end is noticed.
    pub complete_sent: Option<u32>,
    /// When the record was first queued (bounds the write-back debounce).
    pub first_queued: Instant,
    /// Started before the last restart: bytes sent then were not read in this run.
    pub resumed: bool,
    /// Parts listed by the server after a restart or a failed attempt.
    pub listed: bool,
    /// An earlier attempt's parts may still land: list before completing, and trust no
    /// chunk read by this attempt's parts (the server may hold another attempt's bytes).
    pub stale_parts: bool,
    pub parts_in_flight: BTreeSet<u32>,
    /// A single PUT's body is being read or sent (this attempt).
    pub single_body_out: bool,
    /// Parts uploaded from bytes read in this attempt.
    pub data_parts: BTreeSet<u32>,
    /// Parts copied server-side from the base version (and the slots their copies absorb).
    pub copied_parts: BTreeSet<u32>,
    /// Copies in flight that cover more than their own slot: part number -> the last slot it
    /// covers. Unchanged slots in a row go in one UploadPartCopy (up to 5 GiB) under the
    /// first slot's number; the slots after it are recorded as done with an empty ETag
    /// ("absorbed") when it lands, and left out of the Complete, whose part numbers may have
    /// gaps.
    pub absorbing: BTreeMap<u32, u32>,
    /// After a restart, what each recorded copy covered (part -> last slot), so that a copy
    /// the server still holds is reused with its absorbed slots or not at all.
    pub server_cover: BTreeMap<u32, u32>,
    /// CRC of each chunk's bytes as uploaded in this attempt: chunk -> (extent end, crc).
    pub snap_crcs: BTreeMap<u64, (u64, u32)>,
    /// The next start takes a new snapshot (set when a snapshot went stale).
    pub fresh: bool,
    /// Body of a single PUT waiting for its HEAD pre-check.
    pub body: Option<bytes::Bytes>,
    /// Where it stands in the journal table's indexes (kept by the table).
    pub slots: super::journal_table::Slots,
    /// (attempt, part): the first part number `issue_parts` has not yet looked at in that
    /// attempt, so issuing parts costs O(parts) per upload, not per part.
    pub part_cursor: (u32, u32),
    /// Parts the server listed (number -> ETag), candidates for reuse after checking.
    pub server_parts: BTreeMap<u32, String>,
    /// CRC of each data part in flight.
    pub part_crc_pending: BTreeMap<u32, u32>,
    /// Parts (or the single body: `None`) being read in pieces (`upload_pieces.rs`).
    pub pieces: BTreeMap<Option<u32>, super::upload_pieces::Pieces>,
}

impl JournalEntry {
    /// This attempt must list the server's parts before it issues any (after a restart or
    /// a failed attempt) and has not had the answer yet.
    pub fn must_list_parts(&self) -> bool {
        (self.resumed || self.stale_parts) && !self.listed
    }

    pub fn new(rec: JournalRecord, now: Instant) -> Self {
        JournalEntry {
            rec,
            changed: true,
            new_parts: Vec::new(),
            finished: false,
            phase: Phase::Idle,
            attempt: 0,
            first_queued: now,
            resumed: false,
            listed: false,
            stale_parts: false,
            parts_in_flight: BTreeSet::new(),
            single_body_out: false,
            complete_sent: None,
            data_parts: BTreeSet::new(),
            copied_parts: BTreeSet::new(),
            absorbing: BTreeMap::new(),
            server_cover: BTreeMap::new(),
            snap_crcs: BTreeMap::new(),
            fresh: false,
            body: None,
            server_parts: BTreeMap::new(),
            slots: Default::default(),
            part_cursor: (0, 1),
            part_crc_pending: BTreeMap::new(),
            pieces: BTreeMap::new(),
        }
    }

    pub fn is_upload_to(&self, path: &str) -> bool {
        matches!(self.rec.op, JournalOp::Upload { .. }) && self.rec.path == path
    }

    pub fn in_progress(&self) -> bool {
        self.rec.status == JournalStatus::InProgress
    }

    /// Bytes of its upload body in memory or in flight: the data parts out (read from the
    /// cache file or sent; copies hold none), or the whole object of a single PUT while it
    /// runs.
    pub fn body_bytes(&self) -> u64 {
        if self.phase != Phase::Running || !matches!(self.rec.op, JournalOp::Upload { .. }) {
            return 0;
        }
        let len = self.rec.len;
        match &self.rec.multipart {
            None if self.single_body_out => len,
            None => 0,
            Some(mp) => self
                .parts_in_flight
                .iter()
                .filter(|p| !self.copied_parts.contains(p))
                .map(|&p| {
                    let start = u64::from(p - 1).saturating_mul(mp.part_size).min(len);
                    (start + mp.part_size).min(len) - start
                })
                .sum(),
        }
    }
}

impl Core {
    pub(crate) fn new_record(
        &mut self,
        path: String,
        op: JournalOp,
        next_attempt: Instant,
    ) -> JournalId {
        let id = JournalId(self.alloc_id());
        let rec = JournalRecord {
            id,
            path,
            offset: 0,
            len: 0,
            status: JournalStatus::Queued,
            attempts: 0,
            last_error: None,
            op,
            base_etag: None,
            source_key: None,
            generation: 0,
            precondition: Precondition::IfNoneMatch,
            token: String::new(),
            multipart: None,
            next_attempt,
            mtime_ms: None,
        };
        self.journal.insert(JournalEntry::new(rec, self.now));
        id
    }

    /// Every record waiting (queued, or retrying after a failure) becomes due now. O(journal):
    /// for an explicit flush, never on the request path.
    pub(crate) fn flush_now(&mut self) {
        let now = self.now;
        let waiting: Vec<JournalId> = self
            .journal
            .values()
            .filter(|j| j.phase == Phase::Idle && !j.finished && j.rec.next_attempt > now)
            .map(|j| j.rec.id)
            .collect();
        for jid in waiting {
            if let Some(j) = self.journal.get_mut(&jid) {
                j.rec.next_attempt = now;
            }
        }
    }

    /// Makes sure an entry that differs from the remote has a queued upload, and pushes the
    /// start of a queued one back while writes keep coming (bounded).
    ///
    /// While the file is open, the upload also waits until it has been left alone for
    /// `open_upload_pause` (at most `OPEN_UPLOAD_HOLD_MAX` after it was first queued): a file
    /// being written is not uploaded half-written, only to be copied from and sent again
    /// once complete. The last close releases the hold (`release_open_hold`).
    pub(crate) fn ensure_upload_queued(&mut self, eid: EntryId) {
        let now = self.now;
        let Some(e) = self.entries.get(&eid) else {
            return;
        };
        if !e.needs_upload() {
            return;
        }
        let (delay, hold_max) = self.upload_wait(e.handles > 0);
        match e.upload {
            Some(jid) => {
                if let Some(j) = self.journal.get_mut(&jid) {
                    if j.rec.status == JournalStatus::Queued && j.phase == Phase::Idle {
                        let cap = j.first_queued.plus(hold_max);
                        let next = now.plus(delay).min(cap).max(j.rec.next_attempt);
                        if next != j.rec.next_attempt {
                            j.rec.next_attempt = next;
                        }
                    }
                }
            }
            None => {
                let path = e.key.clone().unwrap_or_default();
                let jid = self.new_record(path, JournalOp::Upload { entry: eid }, now.plus(delay));
                if let Some(e) = self.entries.get_mut(&eid) {
                    e.upload = Some(jid);
                }
            }
        }
    }

    /// How long a queued upload waits after the last change to its file, and at most after
    /// it was first queued: `write_back_delay` (bounded at four times it), longer while the
    /// file is open (see `ensure_upload_queued`).
    fn upload_wait(&self, open: bool) -> (Duration, Duration) {
        let delay = self.cfg.write_back_delay;
        let cap = delay.saturating_mul(4);
        let pause = self.cfg.open_upload_pause;
        if open && !pause.is_zero() {
            (delay.max(pause), cap.max(OPEN_UPLOAD_HOLD_MAX))
        } else {
            (delay, cap)
        }
    }

    /// The last handle of `eid` closed: a queued upload held back because the file was open
    /// waits only `write_back_delay` from now (never less than it already had to wait, and
    /// a retry's backoff is left alone).
    pub(crate) fn release_open_hold(&mut self, eid: EntryId) {
        let now = self.now;
        let Some(jid) = self.entries.get(&eid).and_then(|e| e.upload) else {
            return;
        };
        let due = now.plus(self.cfg.write_back_delay);
        if let Some(j) = self.journal.get_mut(&jid) {
            if j.rec.status == JournalStatus::Queued
                && j.phase == Phase::Idle
                && j.rec.attempts == 0
                && j.rec.next_attempt > due
            {
                j.rec.next_attempt = due;
            }
        }
    }

    /// Removes a record from memory and, in the next transaction, from the index.
    pub(crate) fn remove_record(&mut self, jid: JournalId) {
        if let Some(j) = self.journal.remove(&jid) {
            let mut orphan = None;
            if let JournalOp::Upload { entry } = j.rec.op {
                if let Some(e) = self.entries.get_mut(&entry) {
                    if e.upload == Some(jid) {
                        e.upload = None;
                    }
                    if e.key.is_none() && e.handles == 0 && !e.dropped {
                        orphan = Some(entry);
                    }
                }
            }
            if let Some(mp) = j
                .rec
                .multipart
                .filter(|m| !m.upload_id.is_empty() && !j.finished)
            {
                self.emit_remote(
                    RemoteCtx::Ignore,
                    RemoteOp::Abort {
                        key: j.rec.path.clone(),
                        upload_id: mp.upload_id,
                    },
                );
            }
            self.commit.pending_ops.push(IndexOp::DeleteJournal(jid));
            if let Some(eid) = orphan {
                // Unlinked and closed; this upload was all that kept it.
                self.drop_entry(eid);
            }
        }
    }

    /// Starts every record that is due and allowed to run. Walks the due-time queues from
    /// the oldest, up to `now`; uploads only while a slot is free, so a thousand uploads
    /// waiting for one of four slots cost nothing until a slot frees. Records that are due
    /// but must wait for another record of their key are looked at again on each pass.
    pub(crate) fn schedule_journal(&mut self) {
        let now = self.now;
        let mut after = None;
        while let Some((t, jid)) = self.journal.next_due(false, after) {
            if t > now {
                break;
            }
            after = Some((t, jid));
            self.try_start_delete(jid);
        }
        let mut after = None;
        while self.journal.uploading() < self.cfg.max_concurrent_uploads {
            let Some((t, jid)) = self.journal.next_due(true, after) else {
                break;
            };
            if t > now {
                break;
            }
            after = Some((t, jid));
            self.try_start_upload(jid);
        }
    }

    fn try_start_upload(&mut self, jid: JournalId) {
        let Some(j) = self.journal.get(&jid) else {
            return;
        };
        let JournalOp::Upload { entry } = j.rec.op else {
            return;
        };
        let Some(e) = self.entries.get(&entry) else {
            self.remove_record(jid);
            return;
        };
        // A snapshot taken for a key the entry has left (renamed during the upload) is not
        // resumed: the journaled delete of that key covers whatever an earlier attempt stored
        // there, and a fresh upload goes to the new key.
        let moved = !j.rec.token.is_empty() && e.key.as_deref() != Some(j.rec.path.as_str());
        // An entry back to its base's content (truncated to it) has nothing to upload, unless
        // an attempt of this record may have landed unseen (it has a token): that version is
        // at the key instead of the base, so the record goes on (its success, recognised by
        // token, makes that version the base, and the entry's content goes up over it).
        let needed = e.needs_upload() || !j.rec.token.is_empty();
        if !needed || e.upload != Some(jid) || moved {
            self.remove_record(jid);
            self.ensure_upload_queued(entry);
            return;
        }
        let path = e.key.clone().unwrap_or_default();
        if self.key_busy_for_upload(&path, jid) {
            self.break_source_cycle(entry);
            return;
        }
        self.start_upload(jid, entry);
    }

    fn try_start_delete(&mut self, jid: JournalId) {
        let Some(j) = self.journal.get(&jid) else {
            return;
        };
        let JournalOp::Delete { etag, vacated_by } = j.rec.op.clone() else {
            return;
        };
        let path = j.rec.path.clone();
        let token = j.rec.token.clone();
        if let Some(v) = vacated_by {
            // It may have gone idle meanwhile.
            self.entries.wake(&v);
        }
        if let Some(v) = self.reclaimed_by(jid) {
            // The entry that left the key is back where its base lives: what the delete would
            // remove is its own again, and its next upload there takes the record over
            // (`take_over_claims`). With no upload to come, nothing to do.
            let upload_due = self
                .entries
                .get(&v)
                .is_some_and(|e| e.upload.is_some() || e.needs_upload());
            if !upload_due {
                self.remove_record(jid);
            }
            return;
        }
        if super::dirs::is_marker(&path) && self.delete_below(&path, jid) {
            // A directory's marker goes after every delete below it (looked at again on the
            // next pass): servers that keep objects as files remove a folder only once it is
            // empty, and a folder left behind would list as a directory again.
            return;
        }
        let uploading = self.uploading_to(&path);
        match etag {
            None if !uploading && token.is_empty() => self.remove_record(jid),
            None if !uploading => self.start_delete_check(jid, path),
            None => {}
            Some(etag) => {
                let in_use = self
                    .entries
                    .sourcing_from(&path)
                    .iter()
                    .filter_map(|id| self.entries.get(id))
                    .any(|e| e.uses_source(&path, &etag));
                if !in_use && !uploading {
                    self.start_delete(jid, path, etag);
                }
            }
        }
    }

    /// Entries that still use the version at `eid`'s key as the source of their unchanged
    /// bytes: the upload to that key waits for them (through the journaled delete).
    fn source_users(&mut self, eid: EntryId) -> Vec<EntryId> {
        let Some(key) = self.entries.get(&eid).and_then(|e| e.key.clone()) else {
            return Vec::new();
        };
        let mut users = self.entries.sourcing_from(&key);
        users.retain(|&f| f != eid);
        users
    }

    /// Renames can make uploads wait on each other in a circle (swapping two files: each
    /// target key still holds the other's source). When `eid` waits in such a cycle, one
    /// entry in it stops depending on its source: it fetches the bytes it lacks and makes all
    /// its bytes its own (`Job::Materialize`), so its upload needs no copy and the cycle breaks.
    fn break_source_cycle(&mut self, eid: EntryId) {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = self.source_users(eid);
        while let Some(f) = stack.pop() {
            if f == eid {
                // Only an entry whose bytes still come from a live source can break the
                // cycle; one that depends on its source only in the index until its next
                // commit stops depending on it when that commit lands.
                let users = self.source_users(eid);
                let breaking = |t: &super::entry_table::EntryTable, id: &EntryId| {
                    t.get(id).is_some_and(|e| e.materializing)
                };
                if seen
                    .iter()
                    .chain(&users)
                    .any(|id| breaking(&self.entries, id))
                {
                    // One entry of the cycle already makes its bytes its own.
                    return;
                }
                let Some(first) = users.into_iter().find(|u| {
                    self.entries
                        .get(u)
                        .is_some_and(|e| e.base.is_some() && e.source_key().is_some())
                }) else {
                    return;
                };
                let Some(e) = self.entries.get_mut(&first) else {
                    return;
                };
                if !e.materializing {
                    e.materializing = true;
                    self.enqueue(first, super::jobs::Job::Materialize { from: 0 });
                }
                return;
            }
            if seen.insert(f) {
                stack.extend(self.source_users(f));
            }
        }
    }

    fn key_busy_for_upload(&mut self, path: &str, me: JournalId) -> bool {
        let mine = self.journal.get(&me).and_then(|j| match j.rec.op {
            JournalOp::Upload { entry } => Some(entry),
            JournalOp::Delete { .. } => None,
        });
        let ids = self.journal.at_path(path);
        ids.iter().any(|&id| {
            self.journal.get(&id).is_some_and(|o| {
                o.rec.id != me
                    && !o.finished
                    && (matches!(o.rec.op, JournalOp::Delete { .. }) || o.in_progress())
            }) && (mine.is_none() || self.reclaimed_by(id) != mine)
        })
    }

    /// The entry that journaled this delete when it left the key, if it is back at that key,
    /// its base still lives there (the version the delete names) and the delete has not
    /// started: the delete is then the entry's claim on what it left there, its base and a
    /// version an upload attempt from that same base may have stored unseen (`token`), held
    /// until the entry's next upload to the key takes it over. Once the base lives elsewhere
    /// (an upload to another key landed) the delete is an ordinary one again: what is left at
    /// the key is removed, and the entry's upload there waits for that.
    pub(crate) fn reclaimed_by(&self, jid: JournalId) -> Option<EntryId> {
        let j = self.journal.get(&jid)?;
        let JournalOp::Delete {
            etag: Some(etag),
            vacated_by: Some(v),
        } = &j.rec.op
        else {
            return None;
        };
        (!j.finished && !j.in_progress() && self.entries.is_home_at(v, &j.rec.path, etag))
            .then_some(*v)
    }

    /// An upload of `eid` to `key` starts for the first time: the claims `eid` holds on the
    /// key go, and the token of an earlier attempt from the same base, if any, is returned
    /// for the upload to keep (so a 412 caused by that attempt's version is recognised as our
    /// own, exactly as the earlier record would have).
    pub(crate) fn take_over_claims(&mut self, eid: EntryId, key: &str) -> Option<String> {
        let mut token = None;
        for jid in self.journal.at_path(key) {
            if self.reclaimed_by(jid) != Some(eid) {
                continue;
            }
            let Some(j) = self.journal.get(&jid) else {
                continue;
            };
            if token.is_none() && !j.rec.token.is_empty() {
                token = Some(j.rec.token.clone());
            }
            self.remove_record(jid);
        }
        token
    }

    /// True while an upload to `path` is in progress.
    pub(crate) fn uploading_to(&mut self, path: &str) -> bool {
        self.journal.at_path(path).iter().any(|id| {
            self.journal
                .get(id)
                .is_some_and(|o| o.is_upload_to(path) && o.in_progress())
        })
    }

    fn start_delete(&mut self, jid: JournalId, path: String, etag: String) {
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        j.phase = Phase::Running;
        j.rec.status = JournalStatus::InProgress;
        j.changed = true;
        if super::dirs::is_marker(&path) {
            return self.delete_marker(jid, path);
        }
        if self.cfg.conditional_put {
            self.emit_remote(
                RemoteCtx::Delete { jid, checked: true },
                RemoteOp::Delete {
                    key: path,
                    if_match: Some(etag),
                },
            );
        } else {
            self.emit_remote(
                RemoteCtx::Delete {
                    jid,
                    checked: false,
                },
                RemoteOp::Head { key: path },
            );
        }
    }

    /// Asks what the key holds before deleting: for servers without conditional deletes, and
    /// to recognise a version our own upload may have stored unseen.
    fn start_delete_check(&mut self, jid: JournalId, path: String) {
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        j.phase = Phase::Running;
        j.rec.status = JournalStatus::InProgress;
        j.changed = true;
        if super::dirs::is_marker(&path) {
            return self.delete_marker(jid, path);
        }
        self.emit_remote(
            RemoteCtx::Delete {
                jid,
                checked: false,
            },
            RemoteOp::Head { key: path },
        );
    }

    /// True when a delete other than `except` is journaled for a key below `prefix`.
    fn delete_below(&mut self, prefix: &str, except: JournalId) -> bool {
        self.journal.below(prefix).iter().any(|id| {
            *id != except
                && self
                    .journal
                    .get(id)
                    .is_some_and(|j| !j.finished && matches!(j.rec.op, JournalOp::Delete { .. }))
        })
    }

    /// Deletes a directory marker unconditionally, without asking what the key holds: a
    /// marker holds no bytes, so no version of one can be lost, and some servers that store
    /// objects as files cannot answer a HEAD of one (s3s-fs answers 500).
    fn delete_marker(&mut self, jid: JournalId, path: String) {
        self.emit_remote(
            RemoteCtx::Delete { jid, checked: true },
            RemoteOp::Delete {
                key: path,
                if_match: None,
            },
        );
    }

    pub(crate) fn on_delete_done(
        &mut self,
        jid: JournalId,
        checked: bool,
        result: Result<RemoteOk, RemoteError>,
    ) {
        let Some(j) = self.journal.get(&jid) else {
            return;
        };
        let path = j.rec.path.clone();
        let etag = match &j.rec.op {
            JournalOp::Delete { etag, .. } => etag.clone(),
            JournalOp::Upload { .. } => None,
        };
        let token = j.rec.token.clone();
        match (checked, result) {
            (false, Ok(RemoteOk::Head(info))) => match info {
                None => {
                    self.stat_cache.deleted(&path);
                    self.remove_record(jid)
                }
                Some(i)
                    if Some(&i.etag) == etag.as_ref()
                        || (!token.is_empty() && i.token.as_ref() == Some(&token)) =>
                {
                    let if_match = Some(i.etag);
                    self.emit_remote(
                        RemoteCtx::Delete { jid, checked: true },
                        RemoteOp::Delete {
                            key: path,
                            if_match,
                        },
                    );
                }
                Some(_) => {
                    self.event(Event::DeleteSkipped { key: path });
                    self.remove_record(jid);
                }
            },
            (true, Ok(_)) | (_, Err(RemoteError::NotFound)) => {
                self.stat_cache.deleted(&path);
                self.remove_record(jid)
            }
            (true, Err(RemoteError::PreconditionFailed)) if !token.is_empty() => {
                self.start_delete_check(jid, path)
            }
            (_, Err(RemoteError::PreconditionFailed)) => {
                self.event(Event::DeleteSkipped { key: path });
                self.remove_record(jid);
            }
            (_, Err(err)) => {
                let permanent = matches!(err, RemoteError::Permanent(_));
                self.retry_later(jid, err.to_string(), permanent);
            }
            (false, Ok(_)) => self.retry_later(jid, "unexpected answer to HEAD".into(), false),
        }
    }

    /// Exponential backoff with jitter: uniformly in [b/2, b], b = initial * 2^(attempts-1),
    /// capped at `retry_max`; permanent errors wait `retry_max`.
    pub(crate) fn backoff(&mut self, attempts: u32, permanent: bool) -> Duration {
        let cap = self.cfg.retry_max;
        let b = if permanent {
            cap
        } else {
            self.cfg
                .retry_initial
                .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
                .min(cap)
        };
        let ms = u64::try_from(b.as_millis()).unwrap_or(u64::MAX);
        let half = ms / 2;
        Duration::from_millis(half + self.rng.below(ms - half + 1))
    }

    /// Puts a record back to wait after a failure; its snapshot (and multipart progress) is
    /// kept for the next attempt.
    pub(crate) fn retry_later(&mut self, jid: JournalId, error: String, permanent: bool) {
        let Some(j) = self.journal.get(&jid) else {
            return;
        };
        let attempts = j.rec.attempts + 1;
        let wait = self.backoff(attempts, permanent);
        let now = self.now;
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        j.rec.attempts = attempts;
        j.rec.last_error = Some(error.clone());
        j.rec.status = JournalStatus::RetryWait;
        j.rec.next_attempt = now.plus(wait);
        j.phase = Phase::Idle;
        j.attempt += 1;
        j.parts_in_flight.clear();
        j.absorbing.clear();
        j.body = None;
        j.changed = true;
        if j.rec
            .multipart
            .as_ref()
            .is_some_and(|m| !m.upload_id.is_empty())
        {
            // Parts of this attempt may still land: list what the server has before going on,
            // and trust no chunk of this attempt's reads.
            j.stale_parts = true;
            j.listed = false;
        }
        let key = j.rec.path.clone();
        self.event(Event::UploadFailed {
            key,
            attempts,
            error,
            permanent,
        });
    }
}
