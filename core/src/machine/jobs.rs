//! Jobs: the only place an entry's state changes. An entry's jobs start in queue order; one
//! starts while others run only when it is compatible with all of them (reads share, writes
//! own the chunks they touch, everything else runs alone: `job_access`), so its local
//! operations never conflict and every decision sees the effects of every job before it that
//! touches the same bytes. A job that needs remote bytes parks itself and is re-run when they
//! land.

use super::commit::Waiter;
use super::job_access::Access;
use super::Core;
use crate::chunks::{self, ChunkState};
use crate::config::Bug;
use crate::ids::{EntryId, HandleId, JournalId, RequestId};
use crate::io::{Event, FileError, LocalError, LocalOk, LocalOp, Output, Reply};
use crate::records::BaseVersion;
use crate::time::Instant;
use bytes::Bytes;
use std::ops::Range;

#[derive(Clone, Debug)]
pub(crate) enum Job {
    Read {
        req: RequestId,
        offset: u64,
        len: u64,
    },
    Write {
        req: RequestId,
        offset: u64,
        data: Bytes,
        first_try: Instant,
    },
    /// Set the size; `req` is answered when done (`None`: an internal extension before a
    /// write past the end). With `opened`, the truncate of an open with `truncate`: the
    /// answer is `Opened` on that handle (closed again if the truncate fails).
    Truncate {
        req: Option<RequestId>,
        size: u64,
        opened: Option<HandleId>,
    },
    Sync {
        waiter: Option<Waiter>,
    },
    /// Set the modification time, then answer once that is durable (a sync).
    SetMtime {
        req: RequestId,
        mtime_ms: u64,
    },
    Backfill {
        chunk: u64,
        etag: String,
        data: Bytes,
    },
    UploadRead {
        jid: JournalId,
        attempt: u32,
        part: Option<u32>,
        range: Range<u64>,
    },
    UploadDone {
        jid: JournalId,
        etag: String,
        landed: Option<super::upload::Recognised>,
    },
    Invalidate {
        base: Option<BaseVersion>,
    },
    Convert {
        remote_etag: Option<String>,
    },
    Punch {
        chunk: u64,
    },
    /// Make every byte of the entry its own (fetched, verified, dirty) and drop its source,
    /// one chunk at a time from `from` (a large file is never read into memory at once).
    Materialize {
        from: u64,
    },
    Remove,
    /// Grant passthrough to the just opened `handle` if the entry is still ready: pin it, fit
    /// the cache file's length to the size, answer `req` (`machine/passthrough.rs`).
    Passthrough {
        req: RequestId,
        handle: HandleId,
    },
}

#[derive(Debug)]
pub(crate) struct Running {
    pub job: Job,
    /// Names the job among the entry's running ones; its local operations carry it.
    pub slot: u64,
    /// What it touches while it runs.
    pub access: Access,
    /// Local operations still in flight.
    pub pending: u32,
    /// First failure among them.
    pub failed: Option<LocalError>,
    /// Offset and length of the data a read job asked for.
    pub read_at: u64,
    pub read_len: u64,
    /// Data a read job got back.
    pub data: Option<Bytes>,
    /// A snapshot taken by a sync job, or zero ranges of a convert job.
    pub snapshot: Option<super::entry::Snapshot>,
    pub ranges: Vec<Range<u64>>,
}

impl Running {
    fn new(job: Job, pending: u32) -> Self {
        Running {
            job,
            slot: 0,
            access: Access::Exclusive,
            pending,
            failed: None,
            read_at: 0,
            read_len: 0,
            data: None,
            snapshot: None,
            ranges: Vec::new(),
        }
    }
}

/// What starting a job did.
enum Started {
    /// Local operations are in flight.
    Running(Box<Running>),
    /// Finished (or parked) without waiting.
    Done,
}

fn running(r: Running) -> Started {
    Started::Running(Box::new(r))
}

impl Core {
    pub(crate) fn enqueue(&mut self, eid: EntryId, job: Job) {
        if let Some(e) = self.entries.get_mut(&eid) {
            e.queue.push_back(job);
            self.mark_ready(eid);
        }
    }

    pub(crate) fn enqueue_front(&mut self, eid: EntryId, job: Job) {
        if let Some(e) = self.entries.get_mut(&eid) {
            e.queue.push_front(job);
            self.mark_ready(eid);
        }
    }

    /// Queues a sync of `eid` that snapshots its state for the next commit.
    pub(crate) fn enqueue_sync(&mut self, eid: EntryId, waiter: Option<Waiter>) {
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        if waiter.is_none() && e.sync_queued {
            return;
        }
        e.sync_queued = true;
        self.enqueue(eid, Job::Sync { waiter });
    }

    pub(crate) fn wake_parked(&mut self, eid: EntryId) {
        if let Some(e) = self.entries.get_mut(&eid) {
            let parked = std::mem::take(&mut e.parked);
            for job in parked.into_iter().rev() {
                e.queue.push_front(job);
            }
            self.mark_ready(eid);
        }
    }

    pub(crate) fn reply(&mut self, req: RequestId, r: Result<Reply, FileError>) {
        self.emit(Output::Reply(req, r));
    }

    /// Starts the jobs at the head of the entry's queue, in order, while each is compatible
    /// with every job still running (see `job_access`).
    pub(crate) fn start_next_job(&mut self, eid: EntryId) {
        let cs = self.cfg.chunk_size;
        loop {
            let Some(e) = self.entries.get_mut(&eid) else {
                return;
            };
            let Some(head) = e.queue.front() else {
                return;
            };
            let access = Access::of(head, e, cs);
            let reorder = self.cfg.planted(Bug::ReadBesideOverlappingWrite);
            let fits = |r: &Running| {
                r.access.compatible(&access)
                    || (reorder
                        && matches!((&r.access, &access), (Access::Owned(_), Access::Shared(_))))
            };
            if !e.running.iter().all(fits) {
                return;
            }
            let Some(job) = e.queue.pop_front() else {
                return;
            };
            let slot = self.take_slot();
            if let Started::Running(mut r) = self.start_job(eid, job) {
                r.slot = slot;
                r.access = access;
                if let Some(e) = self.entries.get_mut(&eid) {
                    e.running.push(*r);
                }
            }
        }
    }

    fn start_job(&mut self, eid: EntryId, job: Job) -> Started {
        let cs = self.cfg.chunk_size;
        if self.defer_for_pin(eid, &job) {
            return Started::Done;
        }
        let Some(e) = self.entries.get_mut(&eid) else {
            return Started::Done;
        };
        match job {
            Job::Passthrough { req, handle } => {
                let size = e.local_size;
                if !self.passthrough_allowed(eid) {
                    let reply = Reply::Opened {
                        handle,
                        size,
                        passthrough: None,
                    };
                    self.reply(req, Ok(reply));
                    return Started::Done;
                }
                self.pin(eid, handle);
                self.emit_local(eid, LocalOp::SetLen { entry: eid, size });
                running(Running::new(Job::Passthrough { req, handle }, 1))
            }
            Job::Read { req, offset, len } => {
                let end = offset.saturating_add(len).min(e.local_size);
                if offset >= end {
                    self.reply(req, Ok(Reply::Data(Bytes::new())));
                    return Started::Done;
                }
                if self.answer_from_buffers(eid, req, offset, len) {
                    return Started::Done;
                }
                let range = offset..end;
                self.read_for(eid, range, Job::Read { req, offset, len })
            }
            Job::Write {
                req,
                offset,
                data,
                first_try,
            } => {
                let local_size = e.local_size;
                if self.space_blocks_writes(data.len() as u64) {
                    self.make_room_for(data.len() as u64);
                    self.park_for_space(
                        eid,
                        Job::Write {
                            req,
                            offset,
                            data,
                            first_try,
                        },
                    );
                    return Started::Done;
                }
                let Some(e) = self.entries.get_mut(&eid) else {
                    return Started::Done;
                };
                if offset > local_size {
                    e.queue.push_front(Job::Write {
                        req,
                        offset,
                        data,
                        first_try,
                    });
                    e.queue.push_front(Job::Truncate {
                        req: None,
                        size: offset,
                        opened: None,
                    });
                    return Started::Done;
                }
                self.emit_local(
                    eid,
                    LocalOp::Write {
                        entry: eid,
                        offset,
                        data: data.clone(),
                    },
                );
                running(Running::new(
                    Job::Write {
                        req,
                        offset,
                        data,
                        first_try,
                    },
                    1,
                ))
            }
            Job::Truncate { req, size, opened } => {
                let old = e.local_size;
                if size == old {
                    if let Some(req) = req {
                        self.reply(req, Ok(truncated_reply(opened)));
                    }
                    return Started::Done;
                }
                let op = if size < old {
                    LocalOp::SetLen { entry: eid, size }
                } else {
                    LocalOp::Zero {
                        entry: eid,
                        offset: old,
                        len: size - old,
                    }
                };
                self.emit_local(eid, op);
                running(Running::new(Job::Truncate { req, size, opened }, 1))
            }
            Job::SetMtime { req, mtime_ms } => {
                e.mtime_ms = Some(mtime_ms);
                e.persist_wanted = true;
                e.sync_queued = true;
                e.queue.push_front(Job::Sync {
                    waiter: Some(Waiter::Reply(req, Reply::MtimeSet)),
                });
                if !self.cfg.planted(Bug::SetMtimeQueuesNoUpload) {
                    self.ensure_upload_queued(eid);
                }
                Started::Done
            }
            Job::Sync { waiter } => {
                let snap = e.snapshot();
                if e.unsynced {
                    e.unsynced = false;
                    self.emit_local(eid, LocalOp::Sync { entry: eid });
                    let mut r = Running::new(Job::Sync { waiter }, 1);
                    r.snapshot = Some(snap);
                    running(r)
                } else {
                    self.sync_done(eid, snap, waiter);
                    Started::Done
                }
            }
            Job::Backfill { chunk, etag, data } => {
                let live = e.live(chunk, cs);
                if e.base.as_ref().map(|b| &b.etag) != Some(&etag) || live.is_empty() {
                    self.wake_parked(eid);
                    return Started::Done;
                }
                let start = chunks::chunk_range(chunk, cs).start;
                let gaps = e.dirty().gaps(live.clone());
                let slice_ok = data.len() as u64 >= live.end - start;
                if !slice_ok {
                    // A short body is never cached: refetch.
                    self.wake_parked(eid);
                    return Started::Done;
                }
                for g in &gaps {
                    let d = data.slice((g.start - start) as usize..(g.end - start) as usize);
                    self.emit_local(
                        eid,
                        LocalOp::Write {
                            entry: eid,
                            offset: g.start,
                            data: d,
                        },
                    );
                }
                let n = gaps.len() as u32;
                let mut r = Running::new(Job::Backfill { chunk, etag, data }, n);
                r.ranges = gaps;
                if n == 0 {
                    self.backfill_done(eid, r);
                    return Started::Done;
                }
                running(r)
            }
            Job::UploadRead {
                jid,
                attempt,
                part,
                range,
            } => {
                if !self.upload_read_valid(eid, jid, attempt, &range) {
                    return Started::Done;
                }
                let job = Job::UploadRead {
                    jid,
                    attempt,
                    part,
                    range: range.clone(),
                };
                self.read_for(eid, range, job)
            }
            Job::UploadDone { jid, etag, landed } => {
                self.apply_upload_success(eid, jid, etag, landed);
                self.wake_parked(eid);
                Started::Done
            }
            Job::Invalidate { base } => {
                if e.dropped {
                    // Unlinked and closed, its removal queued: what the key holds now is no
                    // longer its concern (its own unlink may have deleted it).
                    return Started::Done;
                }
                if e.needs_upload() || e.upload.is_some() {
                    let etag = base.map(|b| b.etag);
                    e.queue.push_front(Job::Convert { remote_etag: etag });
                    return Started::Done;
                }
                let key = e.key.clone().unwrap_or_default();
                let etag = base.as_ref().map(|b| b.etag.clone());
                let gone = base.is_none();
                e.invalidated(base);
                if gone && self.names.get(&key) == Some(&eid) {
                    self.stat_cache.forget(&key);
                    self.names.remove(&key);
                }
                self.event(Event::Invalidated { key, etag });
                self.emit_local(
                    eid,
                    LocalOp::SetLen {
                        entry: eid,
                        size: 0,
                    },
                );
                running(Running::new(Job::Invalidate { base: None }, 1))
            }
            Job::Convert { remote_etag } => match self.convert_to_conflict(eid, remote_etag) {
                Some(ranges) if !ranges.is_empty() => {
                    for r in &ranges {
                        self.emit_local(
                            eid,
                            LocalOp::Zero {
                                entry: eid,
                                offset: r.start,
                                len: r.end - r.start,
                            },
                        );
                    }
                    let mut run =
                        Running::new(Job::Convert { remote_etag: None }, ranges.len() as u32);
                    run.ranges = ranges;
                    running(run)
                }
                _ => {
                    self.wake_parked(eid);
                    Started::Done
                }
            },
            Job::Punch { chunk } => {
                // Jobs that ran since the eviction decision may have written or refetched
                // the chunk: then it stays.
                let dirty = e.chunk_has_dirty(chunk, cs) && !self.cfg.planted(Bug::EvictDirtyChunk);
                let r = chunks::chunk_range(chunk, cs);
                let len = r.end.min(e.local_size).saturating_sub(r.start);
                if len == 0 || dirty || e.chunks().contains_key(&chunk) {
                    return Started::Done;
                }
                self.emit_local(
                    eid,
                    LocalOp::Punch {
                        entry: eid,
                        offset: r.start,
                        len,
                    },
                );
                running(Running::new(Job::Punch { chunk }, 1))
            }
            Job::Materialize { from } => {
                let cs = self.cfg.chunk_size;
                let end = e.base_size().min(e.local_size);
                // The next base bytes not yet its own; at the end, a last look from the start
                // (a truncate or a new base version meanwhile may have left some).
                let next = e.dirty().first_gap(from..end);
                let next = next.or_else(|| {
                    let again = e.dirty().first_gap(0..end);
                    again.filter(|_| from > 0)
                });
                let Some(gap) = next.filter(|_| e.base.is_some()) else {
                    self.drop_source(eid);
                    return Started::Done;
                };
                let from = gap.start;
                let range = from..(from - from % cs + cs).min(end);
                if e.direct.remove(&(from / cs)).is_some() {
                    // The chunk was held in memory because the disk was full: it cannot become
                    // the entry's own until it is in the file. Wait for space as writers do,
                    // then fetch it again.
                    self.park_for_space(eid, Job::Materialize { from });
                    return Started::Done;
                }
                self.read_for(eid, range, Job::Materialize { from })
            }
            Job::Remove => {
                // Reads still waiting for fetches were sent before the last close: the file
                // is gone now, so they are answered as reads of a closed handle.
                for job in std::mem::take(&mut e.parked) {
                    if let Job::Read { req, .. } = job {
                        self.reply(req, Err(FileError::BadHandle));
                    }
                }
                self.emit_local(eid, LocalOp::Remove { entry: eid });
                running(Running::new(Job::Remove, 1))
            }
        }
    }

    /// Starts a job that reads `range` of the cache file: once every byte of it is present
    /// (else it parks and fetches), the read covers whole clean chunks so their CRC can be
    /// checked when it completes.
    fn read_for(&mut self, eid: EntryId, range: Range<u64>, job: Job) -> Started {
        if self.park_for_fill(eid, &range, job.clone()) {
            return Started::Done;
        }
        let rr = self.read_range_for(eid, &range);
        let len = rr.end - rr.start;
        self.emit_local(
            eid,
            LocalOp::Read {
                entry: eid,
                offset: rr.start,
                len,
            },
        );
        let mut r = Running::new(job, 1);
        r.read_at = rr.start;
        r.read_len = len;
        r.ranges = vec![range];
        running(r)
    }

    /// Parks `job` and orders fetches when some non-dirty bytes of `range` are not present.
    fn park_for_fill(&mut self, eid: EntryId, range: &Range<u64>, job: Job) -> bool {
        let cs = self.cfg.chunk_size;
        let Some(e) = self.entries.get_mut(&eid) else {
            return false;
        };
        let need: Vec<u64> = chunks::chunks_overlapping(range, cs)
            .filter(|&c| e.needs_fill(c, range, cs))
            .collect();
        if need.is_empty() {
            return false;
        }
        if e.orphaned {
            if let Job::Read { req, .. } = job {
                self.reply(req, Err(FileError::NotFound));
            }
            return true;
        }
        e.parked.push(job);
        for c in need {
            self.request_fetch(eid, c);
        }
        true
    }

    /// `range` widened to the whole live extents of the clean chunks it touches that are not
    /// verified yet (their CRC covers whole extents). Verified chunks are read as asked.
    fn read_range_for(&self, eid: EntryId, range: &Range<u64>) -> Range<u64> {
        let cs = self.cfg.chunk_size;
        let mut rr = range.clone();
        if let Some(e) = self.entries.get(&eid) {
            for c in chunks::chunks_overlapping(range, cs) {
                if e.chunks().is_verified(c) {
                    continue;
                }
                if let Some(ChunkState::Clean { .. }) = e.chunks().get(&c) {
                    let l = e.live(c, cs);
                    rr.start = rr.start.min(l.start);
                    rr.end = rr.end.max(l.end);
                }
            }
        }
        rr
    }

    /// Checks the clean chunks of `range` in `data` (read at `at`) that are not verified yet:
    /// those that match their CRC become verified, those that do not are dropped. Returns
    /// false when any was dropped, or when a byte of `range` is no longer known to be present
    /// (a job that ran beside this read dropped its chunk): the read must run again.
    fn verify_clean(&mut self, eid: EntryId, range: &Range<u64>, at: u64, data: &Bytes) -> bool {
        let cs = self.cfg.chunk_size;
        let skip_sentinel = self.cfg.planted(Bug::CleanBeforeCrc);
        let checksum = self.cfg.checksum;
        let Some(e) = self.entries.get_mut(&eid) else {
            return true;
        };
        let mut ok = true;
        for c in chunks::chunks_overlapping(range, cs) {
            if e.needs_fill(c, range, cs) {
                ok = false;
                continue;
            }
            if e.chunks().is_verified(c) {
                continue;
            }
            if let Some(ChunkState::Clean { crc32c }) = e.chunks().get(&c).copied() {
                if skip_sentinel && crc32c == 0 {
                    continue;
                }
                let l = e.live(c, cs);
                let good = match (l.start.checked_sub(at), l.end.checked_sub(at)) {
                    (Some(lo), Some(hi)) => data
                        .get(lo as usize..hi as usize)
                        .is_some_and(|s| checksum.of(s) == crc32c),
                    _ => false,
                };
                e.clean_chunk_checked(c, good);
                ok &= good;
            }
        }
        ok
    }

    pub(crate) fn on_local_done(
        &mut self,
        eid: EntryId,
        slot: u64,
        result: Result<LocalOk, LocalError>,
    ) {
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        let Some(at) = e.running.iter().position(|r| r.slot == slot) else {
            return;
        };
        let r = &mut e.running[at];
        r.pending = r.pending.saturating_sub(1);
        match result {
            // A read answers exactly the bytes asked for; anything shorter is an I/O error.
            Ok(LocalOk::Data(d)) if (d.len() as u64) < r.read_len => {
                r.failed.get_or_insert(LocalError::Io(format!(
                    "short read: {} of {} bytes",
                    d.len(),
                    r.read_len
                )));
            }
            Ok(LocalOk::Data(d)) => r.data = Some(d),
            Ok(LocalOk::Done) if r.read_len > 0 => {
                r.failed
                    .get_or_insert(LocalError::Io("a read answered without data".into()));
            }
            Ok(LocalOk::Done) => {}
            Err(err) => {
                if r.failed.is_none() {
                    r.failed = Some(err);
                }
            }
        }
        if r.pending > 0 {
            return;
        }
        let r = e.running.remove(at);
        self.finish_job(eid, r);
        self.mark_ready(eid);
    }

    fn finish_job(&mut self, eid: EntryId, mut r: Running) {
        let cs = self.cfg.chunk_size;
        let failed = r.failed.take();
        let job = r.job.clone();
        match job {
            Job::Read { req, offset, len } => {
                let data = r.data.take().unwrap_or_default();
                if let Some(err) = failed {
                    self.reply(req, Err(FileError::Io(err.to_string())));
                    return;
                }
                let Some(e) = self.entries.get(&eid) else {
                    return;
                };
                let end = offset.saturating_add(len).min(e.local_size);
                let range = offset..end;
                if !self.verify_clean(eid, &range, r.read_at, &data) {
                    self.enqueue_front(eid, Job::Read { req, offset, len });
                    return;
                }
                self.keep_read_tail(eid, &range, r.read_at, &data);
                let (out, _) = self.merge_direct(eid, &range, r.read_at, data);
                self.release_direct(eid);
                // A read writes nothing to the index: the access time lives in memory and
                // reaches the index with the entry's next change (a crash loses LRU order only).
                let atime = self.tick_atime();
                if let Some(e) = self.entries.get_mut(&eid) {
                    e.atime = atime;
                }
                self.reply(req, Ok(Reply::Data(out)));
            }
            Job::Write {
                req,
                offset,
                data,
                first_try,
            } => {
                let end = offset + data.len() as u64;
                match failed {
                    None => {
                        let atime = self.tick_atime();
                        let now_ms = self.now.as_millis();
                        let Some(e) = self.entries.get_mut(&eid) else {
                            return;
                        };
                        e.mtime_ms = Some(now_ms);
                        // Writes share the current generation, so adjacent dirty ranges merge;
                        // an upload's start moves the entry to a new one (`start_upload`).
                        let short = self.cfg.planted(Bug::WriteDirtiesShort)
                            && end - offset > 1
                            && end <= e.base_size();
                        e.write_landed(offset + u64::from(short)..end, atime, cs);
                        self.ensure_upload_queued(eid);
                        self.reply(
                            req,
                            Ok(Reply::Written {
                                len: data.len() as u64,
                            }),
                        );
                    }
                    Some(err) => {
                        self.forget_presence(eid, offset..end);
                        if err == LocalError::NoSpace {
                            self.on_no_space(
                                eid,
                                Job::Write {
                                    req,
                                    offset,
                                    data,
                                    first_try,
                                },
                            );
                        } else {
                            self.reply(req, Err(FileError::Io(err.to_string())));
                        }
                    }
                }
            }
            Job::Truncate { req, size, opened } => {
                if let Some(err) = failed {
                    let Some(e) = self.entries.get_mut(&eid) else {
                        return;
                    };
                    let old = e.local_size;
                    self.forget_presence(eid, old.min(size)..old.max(size));
                    let fe = if err == LocalError::NoSpace {
                        FileError::NoSpace
                    } else {
                        FileError::Io(err.to_string())
                    };
                    if let Some(h) = opened {
                        // The open fails: its handle goes.
                        if self.handles.remove(&h).is_some() {
                            if let Some(e) = self.entries.get_mut(&eid) {
                                e.handles = e.handles.saturating_sub(1);
                            }
                        }
                    }
                    match req {
                        Some(req) => self.reply(req, Err(fe)),
                        None => {
                            // An internal extension for a write past the end: the write fails too.
                            let e = self.entries.get_mut(&eid).expect("entry exists");
                            if let Some(Job::Write { req, .. }) = e.queue.front().cloned() {
                                e.queue.pop_front();
                                self.reply(req, Err(fe));
                            }
                        }
                    }
                    return;
                }
                let now_ms = self.now.as_millis();
                let Some(e) = self.entries.get_mut(&eid) else {
                    return;
                };
                e.truncated(size, cs);
                e.mtime_ms = Some(now_ms);
                self.ensure_upload_queued(eid);
                if let Some(req) = req {
                    self.reply(req, Ok(truncated_reply(opened)));
                }
            }
            Job::Sync { waiter } => {
                let snap = r.snapshot.take().expect("sync job carries its snapshot");
                if let Some(err) = failed {
                    self.poison(format!("fsync of cache file {eid} failed: {err}"));
                    if let Some(e) = self.entries.get_mut(&eid) {
                        e.unsynced = true;
                        e.persist_wanted = true;
                        e.sync_queued = false;
                        e.new_conflicts.extend(snap.conflicts);
                        e.finished_journal.extend(snap.finished_journal);
                    }
                    if let Some(w) = waiter {
                        self.fail_waiter(w);
                    }
                    return;
                }
                self.sync_done(eid, snap, waiter);
            }
            Job::Backfill { chunk, .. } => {
                if let Some(err) = failed {
                    let ranges = std::mem::take(&mut r.ranges);
                    for g in ranges {
                        self.forget_presence(eid, g);
                    }
                    if err == LocalError::NoSpace {
                        // Kept in memory for the jobs that wait for it (a chunk fetched ahead
                        // of a reader is not: nothing waits).
                        let needed = self.parked_need(eid, chunk);
                        if let (Some(e), Job::Backfill { data, .. }, true) =
                            (self.entries.get_mut(&eid), &r.job, needed)
                        {
                            e.direct.insert(chunk, data.clone());
                        }
                        self.evict_for_space(cs);
                    }
                    self.wake_parked(eid);
                    return;
                }
                self.backfill_done(eid, r);
            }
            Job::UploadRead {
                jid,
                attempt,
                part,
                range,
            } => {
                let data = r.data.take().unwrap_or_default();
                if let Some(err) = failed {
                    self.upload_failed_locally(jid, attempt, err.to_string());
                    return;
                }
                if !self.verify_clean(eid, &range, r.read_at, &data) {
                    self.enqueue_front(
                        eid,
                        Job::UploadRead {
                            jid,
                            attempt,
                            part,
                            range,
                        },
                    );
                    return;
                }
                let (body, from_memory) = self.merge_direct(eid, &range, r.read_at, data);
                self.release_direct(eid);
                self.upload_piece_ready(eid, jid, attempt, part, range, body, &from_memory);
            }
            Job::Convert { .. } => {
                let Some(e) = self.entries.get_mut(&eid) else {
                    return;
                };
                e.copy_zeros_landed(std::mem::take(&mut r.ranges), cs);
                self.enqueue_sync(eid, None);
                self.ensure_upload_queued(eid);
                self.wake_parked(eid);
            }
            Job::Materialize { from } => {
                let data = r.data.take().unwrap_or_default();
                let range = r.ranges.first().cloned().unwrap_or(0..0);
                if failed.is_some() || !self.verify_clean(eid, &range, r.read_at, &data) {
                    self.enqueue_front(eid, Job::Materialize { from });
                    return;
                }
                if let Some(e) = self.entries.get_mut(&eid) {
                    e.adopted_base_bytes(range.clone(), cs);
                }
                self.enqueue_front(eid, Job::Materialize { from: range.end });
            }
            Job::Invalidate { .. } => self.wake_parked(eid),
            Job::Punch { .. } => self.space_retry_now(),
            Job::Remove => {
                self.forget_buffers(eid);
                self.entries.remove(&eid);
            }
            Job::Passthrough { req, handle } => {
                let granted = failed.is_none() && self.passthrough_allowed(eid);
                if !granted {
                    self.unpin(handle);
                }
                let size = self.entries.get(&eid).map_or(0, |e| e.local_size);
                let reply = Reply::Opened {
                    handle,
                    size,
                    passthrough: granted.then_some(eid),
                };
                self.reply(req, Ok(reply));
            }
            Job::UploadDone { .. } | Job::SetMtime { .. } => {}
        }
    }

    /// Every base byte of the entry is its own now (dirty): it no longer depends on any
    /// remote version.
    fn drop_source(&mut self, eid: EntryId) {
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        e.materialized();
        self.enqueue_sync(eid, None);
        self.ensure_upload_queued(eid);
        self.wake_parked(eid);
    }

    fn backfill_done(&mut self, eid: EntryId, r: Running) {
        let cs = self.cfg.chunk_size;
        let planted = self.cfg.planted(Bug::CleanBeforeCrc);
        let Job::Backfill { chunk, data, .. } = r.job else {
            return;
        };
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        let checksum = self.cfg.checksum;
        e.backfilled(
            chunk,
            &data,
            |live| if planted { 0 } else { checksum.of(live) },
            cs,
        );
        self.wake_parked(eid);
    }

    /// A snapshot of `eid` is ready for the next transaction (its data synced, or not needed).
    pub(crate) fn sync_done(
        &mut self,
        eid: EntryId,
        mut snap: super::entry::Snapshot,
        waiter: Option<Waiter>,
    ) {
        if let Some(e) = self.entries.get_mut(&eid) {
            if let Some(old) = e.snapshot.take() {
                snap = snap.after(old);
            }
            e.snapshot = Some(snap);
            e.sync_queued = e.queue.iter().any(|j| matches!(j, Job::Sync { .. }));
        }
        if let Some(w) = waiter {
            if let (true, Waiter::Reply(req, reply)) =
                (self.cfg.planted(Bug::FsyncReplyBeforeCommit), &w)
            {
                let (req, reply) = (*req, reply.clone());
                self.reply(req, Ok(reply));
                return;
            }
            if let Waiter::DirRename(id) = w {
                self.dir_renames.synced(id);
            }
            self.commit.ready.push(w);
        }
    }

    /// Bytes of `range` may hold anything now (a failed write): base data in it is no
    /// longer trusted.
    pub(crate) fn forget_presence(&mut self, eid: EntryId, range: Range<u64>) {
        let cs = self.cfg.chunk_size;
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        // A failed write may have changed the file: the next fsync must not be skipped, or
        // what a read shows now could differ from what survives a crash.
        e.presence_lost(range, cs);
    }

    /// Replaces the non-dirty bytes of `range` in `data` with fetched bytes held in memory
    /// (chunks that could not be cached for lack of space). Returns the chunks it merged:
    /// their bytes are not in the cache file. The chunks stay in memory while other jobs of
    /// the entry wait (`release_direct` drops them after): a large read on a full disk needs
    /// all its chunks at once, and must not lose them to the small reads beside it.
    fn merge_direct(
        &mut self,
        eid: EntryId,
        range: &Range<u64>,
        at: u64,
        data: Bytes,
    ) -> (Bytes, Vec<u64>) {
        let cs = self.cfg.chunk_size;
        let lo = (range.start - at) as usize;
        let hi = (range.end - at) as usize;
        let Some(e) = self.entries.get_mut(&eid) else {
            return (data.slice(lo..hi.min(data.len())), Vec::new());
        };
        if e.direct.is_empty() {
            return (data.slice(lo..hi.min(data.len())), Vec::new());
        }
        let mut used = Vec::new();
        let mut buf = data[lo..hi.min(data.len())].to_vec();
        for c in chunks::chunks_overlapping(range, cs) {
            let Some(d) = e.direct.get(&c).cloned() else {
                continue;
            };
            used.push(c);
            let live = e.live(c, cs);
            let want = live.start.max(range.start)..live.end.min(range.end);
            let cstart = chunks::chunk_range(c, cs).start;
            for g in e.dirty().gaps(want) {
                for b in g {
                    if let (Some(v), Some(slot)) = (
                        d.get((b - cstart) as usize),
                        buf.get_mut((b - range.start) as usize),
                    ) {
                        *slot = *v;
                    }
                }
            }
        }
        (Bytes::from(buf), used)
    }

    /// Drops the fetched chunks held in memory for a full disk once no job of the entry waits.
    fn release_direct(&mut self, eid: EntryId) {
        if let Some(e) = self.entries.get_mut(&eid) {
            let waiting = !e.parked.is_empty()
                || e.queue
                    .iter()
                    .any(|j| matches!(j, Job::Read { .. } | Job::UploadRead { .. }));
            if !waiting {
                e.direct.clear();
            }
        }
    }

    /// True when a parked job of `e` reads chunk `c`.
    fn parked_need(&self, eid: EntryId, c: u64) -> bool {
        let cr = chunks::chunk_range(c, self.cfg.chunk_size);
        self.entries.get(&eid).is_some_and(|e| {
            e.parked.iter().any(|j| match j {
                Job::Read { offset, len, .. } => {
                    *offset < cr.end && offset.saturating_add(*len) > cr.start
                }
                Job::UploadRead { range, .. } => range.start < cr.end && range.end > cr.start,
                Job::Materialize { .. } => true,
                _ => false,
            })
        })
    }
}

/// The answer to a finished truncate: `Opened` (size 0) for the truncate of an open.
fn truncated_reply(opened: Option<HandleId>) -> Reply {
    match opened {
        Some(handle) => Reply::Opened {
            handle,
            size: 0,
            passthrough: None,
        },
        None => Reply::Truncated,
    }
}
