//! One upload, step by step.
//!
//! Start: the snapshot (generation, size, precondition, token, single or multipart) is fixed
//! and committed with the entry's state before any byte is sent, so that after a crash the
//! same token identifies an upload that may already have landed.
//!
//! Single PUT: fill absent base bytes, read the whole object, PUT it conditionally.
//! Multipart: create (or, after a restart, list the parts already there), then per part:
//! unchanged parts are copied server-side from the base version (`copy-source-if-match`),
//! parts with dirty bytes are read from the cache file and uploaded; then complete
//! conditionally.
//!
//! A 412 (or an unknown upload id at completion) is not retried blindly: a HEAD tells whether
//! the object carries our token (our own earlier attempt landed: success) or not (someone
//! else's version: conflict). On success only bytes still at the snapshot generation become
//! clean; chunks become clean only if their bytes were read and checksummed in this attempt.

use super::commit::Waiter;
use super::entry::LandedUpload;
use super::jobs::Job;
use super::journal::Phase;
use super::{Core, RemoteCtx};
use crate::chunks;
use crate::config::Bug;
use crate::crc32c;
use crate::ids::{EntryId, JournalId};
use crate::io::{Event, ObjectInfo, RemoteError, RemoteOk, RemoteOp};
use crate::records::{
    BaseVersion, ConflictRecord, JournalOp, JournalStatus, MultipartProgress, PartRecord,
    Precondition,
};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::ops::Range;

/// A version of ours recognised by its token (a HEAD), not answered by the upload itself: it
/// may be any attempt's, so its size and modification time come from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Recognised {
    pub size: u64,
    pub mtime_ms: u64,
}

impl Recognised {
    fn of(info: &ObjectInfo) -> Recognised {
        Recognised {
            size: info.size,
            mtime_ms: info.mtime_ms,
        }
    }
}

/// The remote step an upload's operation belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// HEAD before an unconditional write (server without conditional writes).
    PreCheck,
    Put,
    Create,
    ListParts,
    Part(u32),
    Complete,
    /// HEAD after a 412 or a vanished upload id: ours, or a conflict?
    Verify,
}

impl Core {
    pub(crate) fn start_upload(&mut self, jid: JournalId, eid: EntryId) {
        let threshold = self.cfg.multipart_threshold;
        let Some(e) = self.entries.get(&eid) else {
            return;
        };
        let key = e.key.clone().unwrap_or_default();
        let first_start = self
            .journal
            .get(&jid)
            .is_some_and(|j| j.rec.token.is_empty());
        let claimed_token = if first_start {
            self.take_over_claims(eid, &key)
        } else {
            None
        };
        let Some(e) = self.entries.get(&eid) else {
            return;
        };
        let precondition = if e.key == e.remote_key {
            e.base.as_ref().map_or(Precondition::IfNoneMatch, |b| {
                Precondition::IfMatch(b.etag.clone())
            })
        } else {
            e.target_precondition.clone()
        };
        let (generation, len, source_key) = (e.generation, e.local_size, e.remote_key.clone());
        let mtime_ms = e.effective_mtime().unwrap_or(self.now.as_millis());
        // Every byte unchanged from a version on the server (a rename, a new mtime, a cut):
        // copied server-side, part by part, whatever the size; never sent again.
        let copy_only = len > 0
            && e.base.is_some()
            && source_key.is_some()
            && e.dirty().is_empty()
            && len <= e.base_size();
        let part_size = self.cfg.part_size_for(len);
        let base_etag = e.base.as_ref().map(|b| b.etag.clone());
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        // A record keeps its snapshot across retries and restarts, unless it went stale.
        if j.rec.token.is_empty() || j.fresh {
            j.fresh = false;
            j.rec.path = key;
            j.rec.generation = generation;
            j.rec.len = len;
            j.rec.offset = 0;
            j.rec.source_key = source_key;
            j.rec.base_etag = base_etag;
            j.rec.precondition = precondition;
            j.rec.mtime_ms = Some(mtime_ms);
            if j.rec.token.is_empty() {
                // One token per record, kept across restarts of its snapshot: any attempt of
                // it that landed unseen is recognised as ours. Taken over from the claim on
                // this key when an earlier attempt's version may be there.
                let instance = self.cfg.instance_id;
                j.rec.token = claimed_token.unwrap_or_else(|| match instance {
                    0 => format!("silt-{}", jid.0),
                    i => format!("silt-{i:016x}-{}", jid.0),
                });
            }
            j.rec.multipart = (len > threshold || copy_only).then(|| MultipartProgress {
                upload_id: String::new(),
                part_size,
                parts_done: Vec::new(),
                part_crcs: Vec::new(),
            });
        }
        j.rec.status = JournalStatus::InProgress;
        j.phase = Phase::Persisting;
        j.attempt += 1;
        j.changed = true;
        j.data_parts.clear();
        j.copied_parts.clear();
        j.absorbing.clear();
        j.single_body_out = false;
        j.snap_crcs.clear();
        let snapshot_generation = j.rec.generation;
        // Writes from now on belong to a newer generation than the snapshot (also for a
        // snapshot resumed after a restart), so the upload's success cleans only what it sent.
        if let Some(e) = self.entries.get_mut(&eid) {
            e.generation = e.generation.max(snapshot_generation) + 1;
        }
        self.enqueue_sync(eid, Some(Waiter::StartUpload(jid)));
    }

    /// The start is durable: send.
    pub(crate) fn upload_persisted(&mut self, jid: JournalId) {
        if let Some(j) = self.journal.get_mut(&jid) {
            if j.phase == Phase::Persisting {
                j.phase = Phase::Running;
                self.upload_step(jid);
            }
        }
    }

    fn upload_entry(&self, jid: JournalId) -> Option<EntryId> {
        match self.journal.get(&jid)?.rec.op {
            JournalOp::Upload { entry } => Some(entry),
            JournalOp::Delete { .. } => None,
        }
    }

    /// True while the upload's snapshot still describes the entry (no truncate since, not
    /// unlinked); otherwise abandons or restarts it.
    fn upload_still_valid(&mut self, jid: JournalId) -> bool {
        let Some(eid) = self.upload_entry(jid) else {
            return false;
        };
        let Some(j) = self.journal.get(&jid) else {
            return false;
        };
        let (g, len) = (j.rec.generation, j.rec.len);
        let Some(e) = self.entries.get(&eid) else {
            self.remove_record(jid);
            return false;
        };
        if e.key.is_none() || e.dropped {
            self.remove_record(jid);
            if let Some(e) = self.entries.get(&eid) {
                if e.handles == 0 {
                    self.drop_entry(eid);
                }
            }
            return false;
        }
        if e.truncated_at > g || e.local_size < len {
            self.restart_upload(jid);
            return false;
        }
        true
    }

    /// Throws the snapshot away (aborting a multipart upload) and queues a fresh one.
    fn restart_upload(&mut self, jid: JournalId) {
        let now = self.now;
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        let old = j.rec.multipart.take().filter(|m| !m.upload_id.is_empty());
        j.fresh = true;
        j.rec.status = JournalStatus::Queued;
        j.rec.next_attempt = now;
        j.phase = Phase::Idle;
        j.attempt += 1;
        j.resumed = false;
        j.stale_parts = false;
        j.listed = false;
        j.parts_in_flight.clear();
        j.absorbing.clear();
        j.changed = true;
        let key = j.rec.path.clone();
        if let Some(mp) = old {
            self.emit_remote(
                RemoteCtx::Ignore,
                RemoteOp::Abort {
                    key,
                    upload_id: mp.upload_id,
                },
            );
        }
    }

    pub(crate) fn upload_step(&mut self, jid: JournalId) {
        if !self.upload_still_valid(jid) {
            return;
        }
        let Some(eid) = self.upload_entry(jid) else {
            return;
        };
        let Some(j) = self.journal.get(&jid) else {
            return;
        };
        let (attempt, key, token) = (j.attempt, j.rec.path.clone(), j.rec.token.clone());
        let mtime_ms = j.rec.mtime_or(self.now.as_millis());
        let ctx = |step| RemoteCtx::Upload { jid, attempt, step };
        match j.rec.multipart.clone() {
            None => {
                // Its body goes when it fits, or when no body is out (`memory.rs`).
                let len = j.rec.len;
                if self.journal.body_bytes() > 0 && !self.memory_room(len) {
                    self.memory_waiters.wait(jid, attempt);
                    return;
                }
                if let Some(j) = self.journal.get_mut(&jid) {
                    j.single_body_out = true;
                }
                self.enqueue_upload_read(eid, jid, attempt, None, 0..len);
            }
            Some(mp) if mp.upload_id.is_empty() => {
                self.emit_remote(
                    ctx(Step::Create),
                    RemoteOp::CreateMultipart {
                        key,
                        token,
                        mtime_ms,
                    },
                );
            }
            Some(mp) if j.must_list_parts() => {
                self.emit_remote(
                    ctx(Step::ListParts),
                    RemoteOp::ListParts {
                        key,
                        upload_id: mp.upload_id,
                    },
                );
            }
            Some(_) => self.issue_parts(jid),
        }
    }

    fn part_count(len: u64, part_size: u64) -> u32 {
        u32::try_from(len.div_ceil(part_size).max(1)).unwrap_or(u32::MAX)
    }

    pub(crate) fn issue_parts(&mut self, jid: JournalId) {
        if !self.upload_still_valid(jid) {
            return;
        }
        let Some(eid) = self.upload_entry(jid) else {
            return;
        };
        let max = self.cfg.max_parts_in_flight;
        let coalesce = self.cfg.coalesce_copies;
        // Room for the bodies of data parts (`memory.rs`): one always goes when none is out.
        let bodies_out = self.journal.body_bytes();
        let mut room = self.cfg.memory_limit.saturating_sub(self.memory_held());
        let mut waits_for_room = false;
        let Some(j) = self.journal.get(&jid) else {
            return;
        };
        let Some(mp) = j.rec.multipart.as_ref() else {
            return;
        };
        let (attempt, len, key) = (j.attempt, j.rec.len, j.rec.path.clone());
        let (part_size, upload_id) = (mp.part_size, mp.upload_id.clone());
        let n = Self::part_count(len, part_size);
        let first = if j.part_cursor.0 == attempt {
            j.part_cursor.1
        } else {
            1
        };
        let (source_key, source_etag) = (j.rec.source_key.clone(), j.rec.base_etag.clone());
        let Some(e) = self.entries.get(&eid) else {
            return;
        };
        let same_source = source_key.is_some()
            && source_key == e.remote_key
            && source_etag == e.base.as_ref().map(|b| b.etag.clone());
        let mut in_flight = j.parts_in_flight.len();
        let mut orders = Vec::new();
        let mut reuse = Vec::new();
        let mut next = first;
        let slot = |p: u32| {
            let start = u64::from(p - 1) * part_size;
            start..(start + part_size).min(len)
        };
        let copyable = |p: u32| {
            let range = slot(p);
            same_source
                && range.end <= e.base_size()
                && range.end <= e.local_size
                && !e.dirty().intersects(range)
        };
        // A slot a copy in flight covers is neither done nor in flight of its own.
        let absorbed = |p: u32| {
            j.absorbing
                .range(..p)
                .next_back()
                .is_some_and(|(_, &last)| p <= last)
        };
        let free = |p: u32| !part_done(mp, p) && !j.parts_in_flight.contains(&p) && !absorbed(p);
        while next <= n && in_flight < max {
            let p = next;
            next += 1;
            if !free(p) {
                continue;
            }
            let range = slot(p);
            let copyable_p = copyable(p);
            let listed = j.server_parts.get(&p).cloned();
            let was_copy = part_origin(mp, p) == Some(None);
            if let (Some(etag), true, true) = (listed, was_copy, copyable_p) {
                // A copy of the base version that is still the base version: reuse it, with
                // every slot it covered, if they are all still unchanged (else copy again).
                // One that covered several slots leaves gaps in the part numbers: reused only
                // while the server is known to accept them (a remount may have learnt that it
                // no longer does; then its slots are copied again, one part each).
                let last = j.server_cover.get(&p).copied().unwrap_or(p).min(n);
                if (coalesce || last == p) && (p + 1..=last).all(|s| free(s) && copyable(s)) {
                    reuse.push((p, etag));
                    for s in p + 1..=last {
                        reuse.push((s, String::new()));
                    }
                    next = last + 1;
                    continue;
                }
            }
            if copyable_p {
                // Unchanged slots in a row: one copy, up to S3's largest.
                let mut last = p;
                while coalesce
                    && last < n
                    && u64::from(last + 1 - p + 1) * part_size <= chunks::MAX_COPY_PART
                    && free(last + 1)
                    && copyable(last + 1)
                {
                    last += 1;
                }
                next = last + 1;
                in_flight += 1;
                orders.push((p, range.start..slot(last).end, true, last));
                continue;
            }
            {
                let n = range.end - range.start;
                let first_body =
                    bodies_out == 0 && orders.iter().all(|o: &(u32, Range<u64>, bool, u32)| o.2);
                if n > room && !first_body {
                    // Waits for room; looked at again from here when room returns.
                    next = p;
                    waits_for_room = true;
                    break;
                }
                room = room.saturating_sub(n);
            }
            in_flight += 1;
            orders.push((p, range, false, p));
        }
        let all_done = all_parts_done(mp, n);
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        if !reuse.is_empty() {
            // The orders above are dropped and made again with the reused parts done: look
            // again from the same first part.
            j.part_cursor = (attempt, first);
            for (p, etag) in reuse {
                j.copied_parts.insert(p);
                if let Some(mp) = j.rec.multipart.as_mut() {
                    record_part(mp, p, etag, None);
                    j.new_parts.push(p);
                }
            }
            return self.issue_parts(jid);
        }
        j.part_cursor = (attempt, next);
        if waits_for_room {
            self.memory_waiters.wait(jid, attempt);
        }
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        if orders.is_empty() && j.parts_in_flight.is_empty() && all_done {
            self.complete_multipart(jid);
            return;
        }
        for (p, range, copyable, last) in orders {
            let Some(j) = self.journal.get_mut(&jid) else {
                return;
            };
            j.parts_in_flight.insert(p);
            if copyable {
                j.copied_parts.extend(p..=last);
                if last > p {
                    j.absorbing.insert(p, last);
                }
                let op = RemoteOp::UploadPartCopy {
                    key: key.clone(),
                    upload_id: upload_id.clone(),
                    part: p,
                    source_key: source_key.clone().unwrap_or_default(),
                    source_etag: source_etag.clone().unwrap_or_default(),
                    range,
                };
                self.emit_remote(
                    RemoteCtx::Upload {
                        jid,
                        attempt,
                        step: Step::Part(p),
                    },
                    op,
                );
            } else {
                self.enqueue_upload_read(eid, jid, attempt, Some(p), range);
            }
        }
    }

    fn complete_multipart(&mut self, jid: JournalId) {
        let conditional = self.cfg.conditional_complete;
        let overwrite = self.cfg.planted(Bug::RetryPreconditionAsOverwrite);
        let Some(j) = self.journal.get(&jid) else {
            return;
        };
        let Some(mp) = j.rec.multipart.clone() else {
            return;
        };
        let attempt = j.attempt;
        if j.complete_sent == Some(attempt) {
            // Already sent for this attempt (found by the simulator, seed 12081: two
            // Completes, the second landing after the key's delete had run).
            return;
        }
        let parts = completed_parts(&mp, Self::part_count(j.rec.len, mp.part_size));
        let key = j.rec.path.clone();
        let had_body = j.body.is_some();
        let precondition = (conditional
            && !(overwrite && j.rec.attempts > 0 && j.rec.last_error.as_deref() == Some("412")))
        .then(|| j.rec.precondition.clone());
        if let Some(j) = self.journal.get_mut(&jid) {
            j.complete_sent = Some(attempt);
        }
        if !conditional && !had_body {
            // Marker: the pre-check passed once the HEAD answers.
            self.emit_remote(
                RemoteCtx::Upload {
                    jid,
                    attempt,
                    step: Step::PreCheck,
                },
                RemoteOp::Head { key },
            );
            return;
        }
        let op = RemoteOp::Complete {
            key,
            upload_id: mp.upload_id,
            parts,
            precondition,
        };
        self.emit_remote(
            RemoteCtx::Upload {
                jid,
                attempt,
                step: Step::Complete,
            },
            op,
        );
    }

    pub(crate) fn upload_read_valid(
        &mut self,
        _eid: EntryId,
        jid: JournalId,
        attempt: u32,
        _range: &Range<u64>,
    ) -> bool {
        let current = self
            .journal
            .get(&jid)
            .is_some_and(|j| j.attempt == attempt && j.phase == Phase::Running);
        current && self.upload_still_valid(jid)
    }

    /// Bytes of an upload were read from the cache file: checksum its chunks and send them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn upload_data_ready(
        &mut self,
        _eid: EntryId,
        jid: JournalId,
        attempt: u32,
        part: Option<u32>,
        range: Range<u64>,
        body: Bytes,
        from_memory: &[u64],
    ) {
        let cs = self.cfg.chunk_size;
        let conditional = self.cfg.conditional_put;
        let now_ms = self.now.as_millis();
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        if j.attempt != attempt {
            return;
        }
        // One pass over the bytes: each chunk's piece is checksummed once; the part's
        // checksum is combined from the pieces.
        let checksum = self.cfg.checksum;
        let mut body_crc = 0;
        for c in chunks::chunks_overlapping(&range, cs) {
            let r = chunks::chunk_range(c, cs);
            let (lo, hi) = (r.start.max(range.start), r.end.min(range.end));
            let crc = checksum.of(&body[(lo - range.start) as usize..(hi - range.start) as usize]);
            body_crc = crc32c::combine(body_crc, crc, hi - lo);
            if from_memory.contains(&c) {
                // Not in the cache file: it cannot become clean from this upload.
                j.snap_crcs.remove(&c);
            } else {
                j.snap_crcs.insert(c, (hi, crc));
            }
        }
        let key = j.rec.path.clone();
        let ctx = |step| RemoteCtx::Upload { jid, attempt, step };
        match part {
            None if !conditional && !super::dirs::is_marker(&key) => {
                j.body = Some(body);
                self.emit_remote(ctx(Step::PreCheck), RemoteOp::Head { key });
            }
            None => {
                // A directory marker on a server without conditional requests goes up
                // unconditionally: it holds no bytes, replacing one loses nothing.
                let precondition = conditional.then(|| j.rec.precondition.clone());
                let op = RemoteOp::Put {
                    key,
                    data: body.clone(),
                    precondition,
                    token: j.rec.token.clone(),
                    mtime_ms: j.rec.mtime_or(now_ms),
                };
                j.body = Some(body);
                self.emit_remote(ctx(Step::Put), op);
            }
            Some(p) => {
                j.data_parts.insert(p);
                let crc = body_crc;
                let recorded = j
                    .rec
                    .multipart
                    .as_ref()
                    .and_then(|m| part_origin(m, p).flatten());
                if let (Some(etag), Some(true)) =
                    (j.server_parts.get(&p).cloned(), recorded.map(|r| r == crc))
                {
                    // The server holds exactly these bytes already: reuse the part.
                    j.parts_in_flight.remove(&p);
                    if let Some(mp) = j.rec.multipart.as_mut() {
                        record_part(mp, p, etag, Some(crc));
                        j.new_parts.push(p);
                    }
                    return self.issue_parts(jid);
                }
                j.part_crc_pending.insert(p, crc);
                let upload_id = j
                    .rec
                    .multipart
                    .as_ref()
                    .map(|m| m.upload_id.clone())
                    .unwrap_or_default();
                self.emit_remote(
                    ctx(Step::Part(p)),
                    RemoteOp::UploadPart {
                        key,
                        upload_id,
                        part: p,
                        data: body,
                    },
                );
            }
        }
    }

    pub(crate) fn upload_failed_locally(&mut self, jid: JournalId, attempt: u32, why: String) {
        if self.journal.get(&jid).is_some_and(|j| j.attempt == attempt) {
            self.retry_later(jid, why, false);
        }
    }

    pub(crate) fn on_upload_done(
        &mut self,
        jid: JournalId,
        attempt: u32,
        step: Step,
        result: Result<RemoteOk, RemoteError>,
    ) {
        let overwrite_bug = self.cfg.planted(Bug::RetryPreconditionAsOverwrite);
        let now_ms = self.now.as_millis();
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        if j.attempt != attempt || j.phase != Phase::Running {
            return;
        }
        let key = j.rec.path.clone();
        match (step, result) {
            (Step::PreCheck, Ok(RemoteOk::Head(info))) => {
                if info.as_ref().and_then(|i| i.token.as_ref()) == Some(&j.rec.token) {
                    let landed = info.as_ref().map(Recognised::of);
                    let etag = info.map(|i| i.etag).unwrap_or_default();
                    self.upload_succeeded(jid, etag, landed);
                } else if precondition_holds(&j.rec.precondition, info.as_ref()) {
                    let ctx = RemoteCtx::Upload {
                        jid,
                        attempt,
                        step: if j.rec.multipart.is_some() {
                            Step::Complete
                        } else {
                            Step::Put
                        },
                    };
                    match j.rec.multipart.clone() {
                        None => {
                            let op = RemoteOp::Put {
                                key,
                                data: j.body.clone().unwrap_or_default(),
                                precondition: None,
                                token: j.rec.token.clone(),
                                mtime_ms: j.rec.mtime_or(now_ms),
                            };
                            self.emit_remote(ctx, op);
                        }
                        Some(mp) => {
                            let n = Self::part_count(j.rec.len, mp.part_size);
                            if !all_parts_done(&mp, n) || !j.parts_in_flight.is_empty() {
                                // Parts changed while the check was out: finish them first.
                                return self.issue_parts(jid);
                            }
                            let parts = completed_parts(&mp, n);
                            let op = RemoteOp::Complete {
                                key,
                                upload_id: mp.upload_id,
                                parts,
                                precondition: None,
                            };
                            self.emit_remote(ctx, op);
                        }
                    }
                } else {
                    let etag = info.map(|i| i.etag);
                    self.upload_conflict(jid, etag);
                }
            }
            (Step::Put, Ok(RemoteOk::Stored { etag }))
            | (Step::Complete, Ok(RemoteOk::Stored { etag })) => {
                self.upload_succeeded(jid, etag, None)
            }
            (Step::Put, Err(RemoteError::PreconditionFailed)) if overwrite_bug => {
                let op = RemoteOp::Put {
                    key,
                    data: j.body.clone().unwrap_or_default(),
                    precondition: None,
                    token: j.rec.token.clone(),
                    mtime_ms: j.rec.mtime_or(now_ms),
                };
                self.emit_remote(
                    RemoteCtx::Upload {
                        jid,
                        attempt,
                        step: Step::Put,
                    },
                    op,
                );
            }
            (Step::Complete, Err(RemoteError::PreconditionFailed)) if overwrite_bug => {
                j.rec.last_error = Some("412".into());
                j.rec.attempts += 1;
                j.complete_sent = None;
                self.complete_multipart(jid);
            }
            (Step::Put, Err(RemoteError::PreconditionFailed)) if super::dirs::is_marker(&key) => {
                // A marker refused by `If-None-Match: *`: the directory is there already (a
                // marker's version is never needed: deleting one is unconditional).
                let landed = Recognised {
                    size: 0,
                    mtime_ms: j.rec.mtime_or(now_ms),
                };
                self.upload_succeeded(jid, String::new(), Some(landed));
            }
            (
                Step::Put | Step::Complete,
                Err(RemoteError::PreconditionFailed | RemoteError::NoSuchUpload),
            ) => {
                self.verify_by_head(jid, attempt, key);
            }
            (Step::Verify, Ok(RemoteOk::Head(info))) => {
                if let Some(i) = info
                    .as_ref()
                    .filter(|i| i.token.as_ref() == Some(&j.rec.token))
                {
                    let etag = i.etag.clone();
                    self.upload_succeeded(jid, etag, Some(Recognised::of(i)));
                } else if precondition_holds(&j.rec.precondition, info.as_ref()) {
                    // Not a conflict (e.g. the multipart upload expired): start over.
                    self.restart_upload(jid);
                } else {
                    self.upload_conflict(jid, info.map(|i| i.etag));
                }
            }
            (Step::Create, Ok(RemoteOk::Created { upload_id })) => {
                if let Some(mp) = j.rec.multipart.as_mut() {
                    mp.upload_id = upload_id;
                    mp.parts_done.clear();
                    mp.part_crcs.clear();
                }
                j.server_parts.clear();
                j.server_cover.clear();
                j.part_cursor = (attempt, 1);
                j.listed = true;
                j.changed = true;
                self.issue_parts(jid);
            }
            (Step::ListParts, Ok(_)) if j.listed => {
                // A second listing of this attempt (asked for twice before the first answer):
                // the first answer already rebuilt the parts, and parts issued since are
                // recorded; starting over from this one would lose them.
            }
            (Step::ListParts, Ok(RemoteOk::Parts(parts))) => {
                // Parts on the server are only candidates: each is checked against the
                // current bytes before it is reused (see MultipartProgress::part_crcs).
                // Only parts the server holds with the ETag we recorded for them are ours.
                if let Some(mp) = j.rec.multipart.as_mut() {
                    let recorded = std::mem::take(&mut mp.parts_done);
                    j.server_cover = copy_cover(&recorded);
                    j.server_parts = parts
                        .into_iter()
                        .filter(|(p, etag)| {
                            recorded
                                .binary_search_by_key(p, |x| x.0)
                                .is_ok_and(|i| recorded[i].1 == *etag)
                        })
                        .collect();
                }
                j.part_cursor = (attempt, 1);
                j.listed = true;
                j.changed = true;
                self.issue_parts(jid);
            }
            (Step::ListParts | Step::Part(_), Err(RemoteError::NoSuchUpload)) => {
                // Completed by an attempt we did not hear back from, or aborted: ask.
                j.parts_in_flight.clear();
                self.verify_by_head(jid, attempt, key);
            }
            (Step::Part(p), Ok(RemoteOk::Part { etag })) => {
                j.parts_in_flight.remove(&p);
                let crc = j.part_crc_pending.remove(&p);
                let copied = j.copied_parts.contains(&p);
                let last = j.absorbing.remove(&p).unwrap_or(p);
                if let Some(mp) = j.rec.multipart.as_mut() {
                    record_part(mp, p, etag, if copied { None } else { crc });
                    j.new_parts.push(p);
                    for s in p + 1..=last {
                        // Absorbed by this copy: done, no part of its own.
                        record_part(mp, s, String::new(), None);
                        j.new_parts.push(s);
                    }
                }
                self.issue_parts(jid);
            }
            (Step::Part(p), Err(RemoteError::PreconditionFailed))
                if j.copied_parts.contains(&p) =>
            {
                // The copy source is no longer our base version.
                self.upload_conflict(jid, None);
            }
            (_, Err(err)) => {
                let permanent = matches!(err, RemoteError::Permanent(_));
                self.retry_later(jid, err.to_string(), permanent);
            }
            (_, Ok(other)) => self.retry_later(jid, format!("unexpected answer {other:?}"), false),
        }
    }

    /// The object carries the token of the entry's own upload (an attempt that landed before
    /// a crash or a timeout): that upload succeeded. Returns true when so.
    pub(crate) fn own_upload_landed(&mut self, eid: EntryId, info: &ObjectInfo) -> bool {
        let Some(jid) = self.entries.get(&eid).and_then(|e| e.upload) else {
            return self.claimed_version_landed(eid, info);
        };
        let Some(j) = self.journal.get_mut(&jid) else {
            return false;
        };
        let ours = !j.rec.token.is_empty() && info.token.as_ref() == Some(&j.rec.token);
        if ours && j.phase != Phase::Finishing {
            j.attempt += 1;
            j.phase = Phase::Running;
            self.upload_succeeded(jid, info.etag.clone(), Some(Recognised::of(info)));
        }
        ours || self.claimed_version_landed(eid, info)
    }

    /// The object carries the token of a claim the entry holds on its key: an attempt from
    /// its base landed unseen (a crash took the answer), then the entry left the key and came
    /// back. Its queued upload takes the claim over and finishes as recognised by token, as
    /// the attempt's own record would have: the entry's base becomes that version (all its
    /// dirty bytes stay dirty), never a conflict with itself. Returns true when so.
    fn claimed_version_landed(&mut self, eid: EntryId, info: &ObjectInfo) -> bool {
        let Some(token) = info.token.as_ref() else {
            return false;
        };
        let Some(key) = self.entries.get(&eid).and_then(|e| e.key.clone()) else {
            return false;
        };
        let claimed = self.journal.at_path(&key).into_iter().any(|c| {
            self.reclaimed_by(c) == Some(eid)
                && self.journal.get(&c).is_some_and(|j| &j.rec.token == token)
        });
        if !claimed {
            return false;
        }
        self.ensure_upload_queued(eid);
        let Some(jid) = self.entries.get(&eid).and_then(|e| e.upload) else {
            return false;
        };
        match self.journal.get(&jid).map(|j| j.phase) {
            None | Some(Phase::Finishing) => return false,
            Some(Phase::Idle) => {}
            // An upload still out (to the key it left, or to this one from its base, which the
            // claimed version has made stale): thrown away, its multipart upload aborted.
            Some(_) => self.restart_upload(jid),
        }
        let token = self.take_over_claims(eid, &key);
        let Some(j) = self.journal.get_mut(&jid) else {
            return false;
        };
        j.rec.token = token.unwrap_or_default();
        j.rec.path = key;
        j.rec.len = info.size;
        j.rec.status = JournalStatus::InProgress;
        j.changed = true;
        j.attempt += 1;
        j.phase = Phase::Running;
        self.upload_succeeded(jid, info.etag.clone(), Some(Recognised::of(info)));
        true
    }

    /// Asks the server what the key holds: our token (an attempt landed) or not (conflict).
    fn verify_by_head(&mut self, jid: JournalId, attempt: u32, key: String) {
        let ctx = RemoteCtx::Upload {
            jid,
            attempt,
            step: Step::Verify,
        };
        self.emit_remote(ctx, RemoteOp::Head { key });
    }

    fn upload_succeeded(&mut self, jid: JournalId, etag: String, landed: Option<Recognised>) {
        let Some(eid) = self.upload_entry(jid) else {
            return;
        };
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        j.phase = Phase::Finishing;
        self.enqueue_front(eid, Job::UploadDone { jid, etag, landed });
    }

    /// Runs as a job of the entry: the new version is in the bucket.
    /// `landed` is set when the success was recognised by token (HEAD), not answered:
    /// the version may come from any attempt.
    pub(crate) fn apply_upload_success(
        &mut self,
        eid: EntryId,
        jid: JournalId,
        etag: String,
        landed: Option<Recognised>,
    ) {
        let direct = landed.is_none();
        let cs = self.cfg.chunk_size;
        let clean_all = self.cfg.planted(Bug::CleanWritesDuringUpload);
        let now = self.now;
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        j.finished = true;
        j.phase = Phase::Idle;
        let rec = j.rec.clone();
        let part_size = rec.multipart.as_ref().map(|m| m.part_size);
        let trusted = |c: u64| -> bool {
            direct
                && match part_size {
                    None => !j.resumed,
                    Some(ps) => j
                        .data_parts
                        .contains(&(u32::try_from(c * cs / ps).unwrap_or(u32::MAX) + 1)),
                }
        };
        let copied = |c: u64| {
            part_size.is_some_and(|ps| {
                j.copied_parts
                    .contains(&(u32::try_from(c * cs / ps).unwrap_or(u32::MAX) + 1))
            })
        };
        let snap = j.snap_crcs.clone();
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        let trusted: Vec<(u64, bool, bool)> = (0..rec.len.div_ceil(cs))
            .map(|c| (c, trusted(c), copied(c)))
            .collect();
        e.upload_landed(
            LandedUpload {
                base: BaseVersion {
                    etag: etag.clone(),
                    size: landed.map_or(rec.len, |l| l.size),
                    mtime_ms: landed.map_or_else(|| rec.mtime_or(now.as_millis()), |l| l.mtime_ms),
                },
                path: rec.path.clone(),
                generation: rec.generation,
                len: rec.len,
                answered: direct,
                chunks: trusted,
                snap_crcs: &snap,
                clean_all,
            },
            cs,
        );
        if e.upload == Some(jid) {
            e.upload = None;
        }
        e.finished_journal.push(jid);
        e.persist_wanted = true;
        let unlinked = e.key.is_none();
        let handles = e.handles;
        // A delete journaled when the entry left this key now targets the version just made.
        for oid in self.journal.at_path(&rec.path) {
            let Some(o) = self.journal.get_mut(&oid) else {
                continue;
            };
            let idle = !o.in_progress();
            if let JournalOp::Delete {
                etag: ref mut de,
                vacated_by: Some(v),
            } = o.rec.op
            {
                if v == eid && o.rec.path == rec.path && idle {
                    *de = Some(etag.clone());
                    o.changed = true;
                }
            }
        }
        self.event(Event::Uploaded {
            key: rec.path.clone(),
            etag,
        });
        if unlinked && handles == 0 {
            self.drop_entry(eid);
        } else {
            self.enqueue_sync(eid, None);
            self.ensure_upload_queued(eid);
        }
        self.space_retry_now();
    }

    /// The remote holds a version we did not base ours on.
    ///
    /// If the entry has left the key this upload went to (renamed while it ran), that
    /// version is no conflict with the entry's content: another writer's object stays where
    /// it is (the journaled delete of the vacated key skips it), and a fresh upload takes the
    /// entry's bytes to its current key (where a real conflict is detected as usual).
    fn upload_conflict(&mut self, jid: JournalId, remote_etag: Option<String>) {
        let Some(eid) = self.upload_entry(jid) else {
            return;
        };
        let left = self
            .journal
            .get(&jid)
            .zip(self.entries.get(&eid))
            .is_some_and(|(j, e)| e.key.is_some() && e.key.as_deref() != Some(j.rec.path.as_str()));
        self.remove_record(jid);
        if left {
            self.ensure_upload_queued(eid);
            return;
        }
        self.enqueue_front(eid, Job::Convert { remote_etag });
    }

    /// Turns the entry into a conflict copy at a new key; returns the byte ranges that must
    /// be zeroed (base bytes that are not kept).
    pub(crate) fn convert_to_conflict(
        &mut self,
        eid: EntryId,
        remote_etag: Option<String>,
    ) -> Option<Vec<Range<u64>>> {
        if let Some(jid) = self.entries.get(&eid).and_then(|e| e.upload) {
            self.remove_record(jid);
        }
        let e = self.entries.get(&eid)?;
        let original = e.key.clone()?;
        let mut conflict_key = format!("{original}.silt-conflict-{eid}");
        let mut n = 1;
        while self.names.contains_key(&conflict_key) || self.journal.any_at_path(&conflict_key) {
            n += 1;
            conflict_key = format!("{original}.silt-conflict-{eid}-{n}");
        }
        let missing = e.dirty_gaps_all();
        let record = ConflictRecord {
            entry: eid,
            original_key: original.clone(),
            conflict_key: conflict_key.clone(),
            remote_etag,
            detected_at: self.now,
            missing: missing.iter().map(|r| (r.start, r.end - r.start)).collect(),
        };
        if self.names.get(&original) == Some(&eid) {
            self.stat_cache.forget(&original);
            self.names.remove(&original);
        }
        self.stat_cache.forget(&conflict_key);
        self.names.insert(conflict_key.clone(), eid);
        let e = self.entries.get_mut(&eid)?;
        e.became_conflict_copy(conflict_key);
        self.conflicts
            .retain(|c| c.entry != record.entry || c.conflict_key != record.conflict_key);
        self.conflicts.push(record.clone());
        if let Some(e) = self.entries.get_mut(&eid) {
            e.new_conflicts.push(record.clone());
        }
        self.event(Event::Conflict(record));
        self.ensure_upload_queued(eid);
        Some(missing)
    }
}

fn precondition_holds(p: &Precondition, info: Option<&ObjectInfo>) -> bool {
    match (p, info) {
        (Precondition::IfNoneMatch, None) => true,
        (Precondition::IfMatch(e), Some(i)) => &i.etag == e,
        _ => false,
    }
}

/// True when part `p` is recorded as done. The part lists are kept sorted by part number.
/// Parts 1..=n are all recorded (`parts_done` is sorted by part number).
fn all_parts_done(mp: &MultipartProgress, n: u32) -> bool {
    let first = mp.parts_done.iter().take(n as usize);
    mp.parts_done.len() >= n as usize && first.zip(1..=n).all(|(d, p)| d.0 == p)
}

/// The parts a Complete names: 1..=n, in order, but the slots absorbed by a copy before
/// them (empty ETag): the part numbers then have gaps, which S3 allows.
fn completed_parts(mp: &MultipartProgress, n: u32) -> Vec<(u32, String)> {
    let mut parts: Vec<_> = mp
        .parts_done
        .iter()
        .filter(|d| d.0 <= n && !d.1.is_empty())
        .cloned()
        .collect();
    parts.sort();
    parts
}

/// What each recorded part covers when slots after it were absorbed by it: part -> last
/// slot. `recorded` is sorted by part number.
fn copy_cover(recorded: &[(u32, String)]) -> BTreeMap<u32, u32> {
    let mut cover = BTreeMap::new();
    let mut owner: Option<(u32, u32)> = None;
    for (p, etag) in recorded {
        match owner {
            Some((o, last)) if etag.is_empty() && *p == last + 1 => owner = Some((o, *p)),
            _ => {
                if let Some((o, last)) = owner.take() {
                    if last > o {
                        cover.insert(o, last);
                    }
                }
                if !etag.is_empty() {
                    owner = Some((*p, *p));
                }
            }
        }
    }
    if let Some((o, last)) = owner {
        if last > o {
            cover.insert(o, last);
        }
    }
    cover
}

fn part_done(mp: &MultipartProgress, p: u32) -> bool {
    mp.parts_done.binary_search_by_key(&p, |x| x.0).is_ok()
}

/// How part `p` was made, if recorded: `Some(Some(crc))` uploaded, `Some(None)` copied.
fn part_origin(mp: &MultipartProgress, p: u32) -> Option<Option<u32>> {
    let i = mp.part_crcs.binary_search_by_key(&p, |x| x.0).ok()?;
    Some(mp.part_crcs[i].1)
}

/// Records part `p` as done and how it was made (`crc`: `None` for a server-side copy).
/// Both lists stay sorted by part number (parts mostly finish in order: an append).
fn record_part(mp: &mut MultipartProgress, p: u32, etag: String, crc: Option<u32>) {
    match mp.parts_done.binary_search_by_key(&p, |x| x.0) {
        Ok(i) => mp.parts_done[i].1 = etag,
        Err(i) => mp.parts_done.insert(i, (p, etag)),
    }
    match mp.part_crcs.binary_search_by_key(&p, |x| x.0) {
        Ok(i) => mp.part_crcs[i].1 = crc,
        Err(i) => mp.part_crcs.insert(i, (p, crc)),
    }
}

/// Part `p` as a record of its own, when it is done.
pub(crate) fn part_record(mp: &MultipartProgress, p: u32) -> Option<PartRecord> {
    let i = mp.parts_done.binary_search_by_key(&p, |x| x.0).ok()?;
    Some(PartRecord {
        number: p,
        etag: mp.parts_done[i].1.clone(),
        crc32c: part_origin(mp, p).flatten(),
    })
}
