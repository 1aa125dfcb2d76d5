//! The simulated world: a virtual clock, the disk, the index, the object store, one client
//! running a workload, and the core under test, all driven from one seed. Time jumps to the
//! next event; nothing sleeps. After every step the checker compares the world with the
//! reference model.

use crate::checker::{self, Finding, Invariant, Violation};
use crate::disk::Disk;
use crate::model::{MFile, Model};
use crate::options::Options;
use crate::s3::S3;
use bytes::Bytes;
use silt_core::{
    Core, EntryId, Event, FileError, HandleId, Input, Instant, IoId, LocalError, LocalOk, LocalOp,
    Output, RemoteError, RemoteId, RemoteOk, RemoteOp, Reply, Request, RequestId, Rng, TxnId,
};
use silt_index::{CacheIndex, MemoryIndex, Staged};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// Keys the workload may use: plain, nested, hostile and long.
const KEY_POOL: &[&str] = &[
    "a",
    "dir/b",
    "../c",
    "d\\e:f",
    "sub/dir/g.txt",
    "h i",
    "\u{20ac}",
];

#[derive(Debug)]
enum Ev {
    /// A local operation is executed (operations in flight run in any order).
    Exec(IoId, LocalOp),
    /// ...and its completion reaches the core.
    Local(IoId, EntryId, Result<LocalOk, LocalError>, bool),
    Index(TxnId, Staged),
    Remote(RemoteId, RemoteOp),
    Timer,
    Client,
    /// A concurrent reader's turn.
    Reader(u32),
    DiskReading,
}

mod names;
mod passthrough;
mod readers;

/// The length of a read that reads the rest of the file.
const WHOLE: u64 = u64::MAX;

#[derive(Clone, Debug)]
enum Op {
    /// An open; `exclusive` (with `create`) must fail on an existing file, `truncate` cuts
    /// the file to zero bytes.
    Open {
        key: String,
        create: bool,
        exclusive: bool,
        truncate: bool,
    },
    Mkdir {
        key: String,
    },
    Rmdir {
        key: String,
    },
    /// A rename of the directory `from` (every key below it) to `to`.
    RenameDir {
        from: String,
        to: String,
    },
    /// A read of `len` bytes at `off`; `verify` learns the file (an unknown version).
    Read {
        key: String,
        off: u64,
        len: u64,
        verify: bool,
    },
    Write {
        key: String,
        off: u64,
        data: Bytes,
    },
    Fsync {
        key: String,
    },
    Truncate {
        key: String,
        size: u64,
    },
    /// Set the modification time (answered once durable).
    SetMtime {
        key: String,
        mtime_ms: u64,
    },
    Close {
        key: String,
    },
    Unlink {
        key: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Stat {
        key: String,
    },
    List {
        dir: String,
        after: Option<String>,
    },
}

/// The outcome of one run.
#[derive(Debug, Default)]
pub struct RunResult {
    /// Invariant violations, in order.
    pub violations: Vec<Violation>,
    /// The trace (when asked for).
    pub trace: Vec<String>,
    /// Simulated time at the end, ms.
    pub sim_ms: u64,
    /// Crashes injected.
    pub crashes: u32,
    /// Conflicts reported.
    pub conflicts: u32,
    /// Reads answered from fetched bytes in memory (over every core of the run).
    pub reads_from_buffers: u64,
    /// Chunks fetched ahead of sequential readers.
    pub fetched_ahead: u64,
    /// Opens granted passthrough.
    pub passthrough_opens: u64,
    /// Reads through passthrough handles (served from the disk model).
    pub passthrough_reads: u64,
}

/// One simulated world.
pub struct World {
    opts: Options,
    rng: Rng,
    now: u64,
    core: Core,
    disk: Disk,
    index: MemoryIndex,
    s3: S3,
    model: Model,
    keys: Vec<String>,
    handles: BTreeMap<String, HandleId>,
    pending: Option<(RequestId, Op)>,
    /// Renames still to send of a swap of two files through a third name (each target key
    /// then holds the other's source: the uploads wait on each other in a circle).
    swap: std::collections::VecDeque<Op>,
    /// The listing the client is paging through.
    listing: Option<names::Listing>,
    /// Conflict copies reported so far.
    conflicts_seen: Vec<String>,
    /// The flush sent when the faults stop, until answered.
    flush_req: Option<RequestId>,
    /// The entry the rename in flight moves, if it was cached.
    renaming: Option<silt_core::EntryId>,
    /// The entry the open with truncate in flight opens, if it was cached.
    opening: Option<silt_core::EntryId>,
    /// A request sent by the final checks, and its answer once it came.
    awaited: Option<(RequestId, Option<Result<Reply, FileError>>)>,
    next_req: u64,
    ops_done: u32,
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Ev>,
    seq: u64,
    timer_at: Option<u64>,
    faults: bool,
    finished_client: bool,
    trace_on: bool,
    result: RunResult,
    restarts: u64,
    /// Concurrent readers and their reads in flight (`readers.rs`).
    readers: Vec<readers::Reader>,
    reader_reads: BTreeMap<RequestId, readers::ReaderRead>,
    /// Passthrough handles of the readers, and their requests in flight (`passthrough.rs`).
    pt: Vec<Option<passthrough::PtHandle>>,
    pt_requests: BTreeMap<RequestId, passthrough::PtRequest>,
    /// Per key, a count of model changes that make reads in flight uncheckable.
    epochs: BTreeMap<String, u64>,
    /// The running core's counters at the last step (they restart with a new core).
    last_stats: silt_core::ReadStats,
}

impl World {
    /// A world for `opts`.
    pub fn new(opts: Options, trace: bool) -> World {
        let mut rng = Rng::new(opts.seed);
        let mut s3 = S3 {
            ignore_get_if_match: opts.ignore_get_if_match,
            ignore_complete_condition: opts.ignore_complete_condition,
            ignore_write_conditions: opts.ignore_write_conditions,
            min_part_size: opts.core.min_part_size,
            ..S3::default()
        };
        let keys: Vec<String> = KEY_POOL
            .iter()
            .take(opts.keys as usize)
            .map(|s| s.to_string())
            .chain(
                // One key of about 1 KiB of UTF-8.
                (opts.keys as usize > KEY_POOL.len()).then(|| "\u{00e9}".repeat(512)),
            )
            .collect();
        let mut model = Model::default();
        for k in keys.iter().take(opts.preexisting as usize) {
            let len = rng.below(opts.file_max);
            let data: Vec<u8> = (0..len).map(|_| 1 + rng.below(255) as u8).collect();
            s3.outside_put(k, Bytes::from(data.clone()), 0);
            model.files.insert(k.clone(), MFile::existing(&data));
        }
        let core = Core::new(opts.core.clone(), Instant::from_millis(0))
            .expect("simulator options are valid");
        let mut w = World {
            disk: Disk::new(opts.disk_capacity),
            opts,
            rng,
            now: 0,
            core,
            index: MemoryIndex::new(),
            s3,
            model,
            keys,
            handles: BTreeMap::new(),
            pending: None,
            swap: std::collections::VecDeque::new(),
            listing: None,
            awaited: None,
            conflicts_seen: Vec::new(),
            renaming: None,
            opening: None,
            flush_req: None,
            next_req: 1,
            ops_done: 0,
            heap: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            timer_at: None,
            faults: true,
            finished_client: false,
            trace_on: trace,
            result: RunResult::default(),
            restarts: 0,
            readers: Vec::new(),
            reader_reads: BTreeMap::new(),
            pt: Vec::new(),
            pt_requests: BTreeMap::new(),
            epochs: BTreeMap::new(),
            last_stats: silt_core::ReadStats::default(),
        };
        w.readers = vec![readers::Reader::default(); w.opts.readers as usize];
        w.pt = vec![None; w.opts.readers as usize];
        for i in 0..w.opts.readers {
            w.schedule(1 + u64::from(i), Ev::Reader(i));
        }
        w.trace(format!("options: {}", w.opts));
        w.schedule(0, Ev::Client);
        w.schedule(0, Ev::DiskReading);
        w.drain();
        w
    }

    fn trace(&mut self, line: String) {
        if self.trace_on {
            self.result.trace.push(format!("{:>8} {line}", self.now));
        }
    }

    /// Records a violation of `invariant` now: every check reports through here.
    fn violation(&mut self, invariant: Invariant, detail: String) {
        let v = Violation {
            invariant,
            at_ms: self.now,
            detail,
        };
        self.trace(format!("VIOLATION {v}"));
        self.result.violations.push(v);
    }

    /// Records what a check of `checker.rs` found.
    fn found(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for (invariant, detail) in findings {
            self.violation(invariant, detail);
        }
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.events.insert(self.seq, ev);
        self.heap.push(Reverse((at, self.seq)));
    }

    fn input(&mut self, input: Input) {
        self.core
            .handle_input(Instant::from_millis(self.now), input);
        self.drain();
    }

    /// Executes everything the core ordered.
    fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Local(io, op) => {
                    // The core emits only operations that may run at once: they are executed
                    // at random times, so those of one entry in flight together run in any
                    // order.
                    let lat = self.rng.below(3);
                    self.schedule(self.now + lat, Ev::Exec(io, op));
                }
                Output::Index(id, txn) => {
                    let lat = 1 + self.rng.below(5);
                    let staged = self.index.stage(txn);
                    self.schedule(self.now + lat, Ev::Index(id, staged));
                }
                Output::Remote(id, op) => {
                    if std::env::var_os("SILT_SIM_DEBUG").is_some() {
                        self.trace(format!("send {id:?} {}", describe(&op)));
                    }
                    let lat = 1 + self.rng.below(self.opts.remote_latency_ms_max);
                    self.schedule(self.now + lat, Ev::Remote(id, op));
                }
                Output::Reply(req, r) => self.on_reply(req, r),
                Output::Event(e) => self.on_event(e),
            }
        }
        if let Some(t) = self.core.poll_timeout() {
            let t = t.as_millis().max(self.now);
            if self.timer_at != Some(t) {
                self.timer_at = Some(t);
                self.schedule(t, Ev::Timer);
            }
        }
        self.found(checker::budget(&self.opts, &self.core));
        let held = self.core.memory_in_use();
        self.found(checker::memory(&self.opts, held));
        self.found(checker::bookkeeping(&self.core));
        let stats = self.core.read_stats();
        self.found(checker::counters_forward(&self.last_stats, &stats));
        self.last_stats = stats;
        // The model moves with replies: a request in flight that changes files may have
        // changed the core already.
        let settled = !matches!(&self.pending, Some((_, op)) if !matches!(op, Op::Read { .. } | Op::Fsync { .. } | Op::Close { .. } | Op::Stat { .. } | Op::List { .. }));
        let (disk, model) = (&mut self.disk, &self.model);
        let figures = checker::cache_figures(&self.core, disk, model, &self.s3, settled);
        self.found(figures);
    }

    fn on_event(&mut self, e: Event) {
        self.trace(format!("event {e:?}"));
        match e {
            Event::Conflict(c) => {
                self.result.conflicts += 1;
                self.touch(&c.original_key);
                self.touch(&c.conflict_key);
                if self.opening == Some(c.entry) {
                    // An open with truncate of this entry, waiting for its truncate: the
                    // handle it answers with is on the conflict copy, and so is the truncate.
                    if let Some((_, op @ Op::Open { .. })) = self.pending.as_mut() {
                        set_op_key(op, c.conflict_key.clone());
                    }
                }
                if let Some(h) = self.handles.remove(&c.original_key) {
                    self.handles.insert(c.conflict_key.clone(), h);
                    // A request in flight on the handle now works on the conflict copy.
                    if let Some((_, op)) = self.pending.as_mut() {
                        let by_name = matches!(
                            op,
                            Op::Open { .. }
                                | Op::Unlink { .. }
                                | Op::Rename { .. }
                                | Op::Mkdir { .. }
                                | Op::Rmdir { .. }
                                | Op::RenameDir { .. }
                        );
                        if !by_name && op_key(op) == c.original_key {
                            set_op_key(op, c.conflict_key.clone());
                        }
                    }
                }
                self.conflicts_seen.push(c.conflict_key.clone());
                if !self.model.files.contains_key(&c.conflict_key) {
                    // A rename of this entry to the original key in flight has happened in the
                    // core but not yet in the model: the lineage is still at the rename's
                    // source there, which the rename leaves absent (its reply then moves
                    // nothing). A conflict of the entry the rename replaces is its own.
                    let lineage = match &self.pending {
                        Some((_, Op::Rename { from, to }))
                            if *to == c.original_key && self.renaming == Some(c.entry) =>
                        {
                            from.clone()
                        }
                        _ => c.original_key.clone(),
                    };
                    let mut f = self
                        .model
                        .files
                        .remove(&lineage)
                        .unwrap_or_else(MFile::lost);
                    if lineage != c.original_key {
                        // As the rename's reply would leave it: an outside writer's version
                        // stays with its key.
                        let disturbed = f.disturbed;
                        self.model.files.insert(
                            lineage,
                            MFile {
                                disturbed,
                                ever_disturbed: disturbed,
                                ..MFile::absent()
                            },
                        );
                    }
                    // The copy is the local lineage: checkable when the model knows it (the
                    // outside writer disturbed the key, not the lineage), unless a crash left
                    // a disturbed lineage unobserved.
                    f.disturbed = f.disturbed && f.now.is_none();
                    f.zero_ranges(&c.missing);
                    self.model.files.insert(c.conflict_key.clone(), f);
                }
                let orig = self.model.file(&c.original_key);
                // Someone else's version holds the key now.
                *orig = MFile {
                    disturbed: true,
                    ever_disturbed: true,
                    ..MFile::lost()
                };
            }
            Event::Invalidated { key, etag } => {
                self.touch(&key);
                let current = self.s3.objects.get(&key).map(|o| o.etag.clone());
                let content = etag.as_ref().and_then(|e| self.s3.versions.get(e)).cloned();
                let pending = self.pending.as_ref().map(|(_, op)| op.clone());
                let f = self.model.file(&key);
                match (content, etag == current) {
                    (Some(data), true) if !f.lost => {
                        *f = MFile {
                            ever_disturbed: true,
                            ..MFile::existing(&data)
                        }
                    }
                    _ => f.disturbed = true,
                }
                // A write or truncate in flight applies on top of the version followed now.
                match pending {
                    Some(Op::Write { key: k, off, data }) if k == key => f.write_sent(off, &data),
                    Some(Op::Truncate { key: k, size }) if k == key => f.truncate_sent(size),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Runs the whole scenario: the faulty phase, then the quiet drain and the final checks.
    pub fn run(mut self) -> RunResult {
        let mut steps: u64 = 0;
        let deadline_ms = 3_600_000;
        while let Some(Reverse((at, seq))) = self.heap.pop() {
            steps += 1;
            if steps > 5_000_000 || at > deadline_ms {
                break;
            }
            self.now = self.now.max(at);
            let Some(ev) = self.events.remove(&seq) else {
                continue;
            };
            self.step(ev);
            if self.finished_client && self.quiet() {
                break;
            }
        }
        self.finish();
        self.result.sim_ms = self.now;
        self.count_reads();
        self.result
    }

    fn quiet(&self) -> bool {
        self.pending.is_none()
            && self.reader_reads.is_empty()
            && self.pt_requests.is_empty()
            && self.core.pending().is_none()
            && self
                .events
                .values()
                .all(|e| matches!(e, Ev::Timer | Ev::DiskReading))
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Exec(io, op) => {
                let entry = local_entry(&op);
                let is_sync = matches!(op, LocalOp::Sync { .. });
                let result = self.disk.perform(&op, &mut self.rng);
                if self.trace_on {
                    self.trace(format!(
                        "local {} -> {}",
                        describe_local(&op),
                        if result.is_ok() { "ok" } else { "ENOSPC/EIO" }
                    ));
                }
                // Done, but not yet reported: a crash may fall in between.
                let lat = self.rng.below(2);
                self.schedule(self.now + lat, Ev::Local(io, entry, result, is_sync));
            }
            Ev::Local(io, entry, result, is_sync) => {
                if is_sync && result.is_ok() {
                    self.disk.sync(entry);
                }
                self.input(Input::Local(io, result));
            }
            Ev::Index(id, staged) => {
                // A crash in the middle of a directory rename (its entries syncing, their
                // transaction out): after recovery all of its keys must be under one name.
                let renaming_dir = matches!(self.pending, Some((_, Op::RenameDir { .. })));
                if renaming_dir
                    && self.faults
                    && self.rng.below(100) < u64::from(self.opts.crash_per_mille)
                {
                    return self.crash();
                }
                // Events in flight are dropped at a crash, so a staged commit is never stale.
                self.index
                    .commit_staged(&staged)
                    .expect("no staged transaction outlives a crash");
                self.trace(format!("commit txn {id} ({} ops)", staged.txn().ops.len()));
                self.input(Input::Index(id, Ok(())));
            }
            Ev::Remote(id, op) => {
                let result = self.remote(&op);
                self.trace(format!("remote {} -> {}", describe(&op), brief(&result)));
                self.input(Input::Remote(id, result));
            }
            Ev::Timer => {
                if self.timer_at.is_some_and(|t| t <= self.now) {
                    self.timer_at = None;
                    self.input(Input::Timeout);
                }
            }
            Ev::DiskReading => {
                let free = self.disk.capacity.saturating_sub(self.disk.used());
                self.input(Input::DiskFree { bytes: free });
                if !self.finished_client {
                    self.schedule(self.now + 500, Ev::DiskReading);
                }
            }
            Ev::Client => self.client_step(),
            Ev::Reader(i) => self.reader_step(i),
        }
    }

    fn remote(&mut self, op: &RemoteOp) -> Result<RemoteOk, RemoteError> {
        let (err, timeout) = if self.faults {
            (
                self.opts.remote_error_per_mille,
                self.opts.remote_timeout_per_mille,
            )
        } else {
            (0, 0)
        };
        if self.rng.below(1000) < u64::from(err) {
            return Err(RemoteError::Transient("503 SlowDown".into()));
        }
        let journal = self.core.journal_records();
        // The upload record of the token: a delete record keeps the token of the upload it
        // follows (to recognise that upload's version), but intends no write.
        let intent = move |token: &str| {
            journal
                .iter()
                .find(|r| r.token == token && matches!(r.op, silt_core::JournalOp::Upload { .. }))
                .cloned()
        };
        let r = self.s3.perform(op, self.now, &intent);
        let found = std::mem::take(&mut self.s3.violations);
        self.found(found);
        if self.rng.below(1000) < u64::from(timeout) {
            return Err(RemoteError::Transient(
                "timeout (the request may have been applied)".into(),
            ));
        }
        r
    }

    // ---- the client --------------------------------------------------------------------

    fn send(&mut self, op: Op) {
        self.pt_note_send(&op);
        let req = RequestId(self.next_req);
        self.next_req += 1;
        let request = match &op {
            Op::Open {
                key,
                create,
                exclusive,
                truncate,
            } => {
                if *create {
                    self.model.file(key).create_sent();
                    self.listing_touch(key);
                }
                if *truncate {
                    self.model.file(key).truncate_sent(0);
                }
                Request::Open {
                    key: key.clone(),
                    flags: silt_core::OpenFlags {
                        create: *create,
                        exclusive: *exclusive,
                        truncate: *truncate,
                        passthrough: false,
                    },
                }
            }
            Op::Mkdir { key } => {
                self.model.dir(key).mkdir_sent();
                self.listing_touch(&format!("{key}/"));
                Request::Mkdir { key: key.clone() }
            }
            Op::Rmdir { key } => {
                self.model.dir(key).rmdir_sent();
                self.listing_touch(&format!("{key}/"));
                Request::Rmdir { key: key.clone() }
            }
            Op::RenameDir { from, to } => {
                self.listing_touch(&format!("{from}/"));
                self.listing_touch(&format!("{to}/"));
                Request::RenameDir {
                    from: from.clone(),
                    to: to.clone(),
                }
            }
            Op::Read { key, off, len, .. } => Request::Read {
                handle: self.handles[key],
                offset: *off,
                len: if *len == WHOLE {
                    self.opts.file_max * 2
                } else {
                    *len
                },
            },
            Op::Write { key, off, data } => {
                self.model.file(key).write_sent(*off, data);
                Request::Write {
                    handle: self.handles[key],
                    offset: *off,
                    data: data.clone(),
                }
            }
            Op::Fsync { key } => Request::Fsync {
                handle: self.handles[key],
            },
            Op::Truncate { key, size } => {
                self.model.file(key).truncate_sent(*size);
                Request::Truncate {
                    handle: self.handles[key],
                    size: *size,
                }
            }
            Op::SetMtime { key, mtime_ms } => {
                self.model.file(key).mtime = None;
                Request::SetMtime {
                    handle: self.handles[key],
                    mtime_ms: *mtime_ms,
                }
            }
            Op::Close { key } => Request::Close {
                handle: self.handles[key],
            },
            Op::Unlink { key } => {
                self.model.file(key).unlink_sent();
                self.listing_touch(key);
                Request::Unlink { key: key.clone() }
            }
            Op::Rename { from, to } => {
                self.listing_touch(from);
                self.listing_touch(to);
                Request::Rename {
                    from: from.clone(),
                    to: to.clone(),
                }
            }
            Op::Stat { key } => Request::Stat { key: key.clone() },
            Op::List { dir, after } => Request::List {
                dir: dir.clone(),
                after: after.clone(),
                max: names::PAGE,
            },
        };
        self.trace(format!("request {req} {op:?}"));
        if std::env::var_os("SILT_SIM_DEBUG").is_some() {
            let j: Vec<String> = self
                .core
                .journal_records()
                .iter()
                .map(|r| {
                    format!(
                        "{}:{}:{:?}:{:?}:{}:g{}:len{}",
                        r.id, r.path, r.op, r.status, r.token, r.generation, r.len
                    )
                })
                .collect();
            self.trace(format!("journal {j:?}"));
            let m = self.model.file(op_key(&op));
            let sizes = format!("{:?} now {:?}", m.sizes, m.now.as_ref().map(Vec::len));
            self.trace(format!("model sizes {sizes}"));
            if let Some((id, _)) = self.core.lookup(op_key(&op)) {
                self.trace(format!("entry {:?}", self.core.entry_record(id)));
            }
        }
        // The entry a rename moves, as the core names it before the rename.
        self.renaming = match &op {
            Op::Rename { from, .. } => self.core.lookup(from).map(|(id, _)| id),
            _ => None,
        };
        // The entry an open with truncate opens, when the cache holds it: its answer waits
        // for the truncate, and the open follows the entry if it becomes a conflict copy.
        self.opening = match &op {
            Op::Open {
                key,
                truncate: true,
                ..
            } => self.core.lookup(key).map(|(id, _)| id),
            _ => None,
        };
        self.pending = Some((req, op));
        self.input(Input::Request(req, request));
    }

    fn client_step(&mut self) {
        if self.pending.is_some() {
            return;
        }
        if self.faults && self.ops_done >= self.opts.ops {
            self.start_quiet_phase();
        }
        if !self.faults {
            // Quiet phase: close everything, then verify every key through the cache.
            if let Some(key) = self.handles.keys().next().cloned() {
                return self.send(Op::Close { key });
            }
            self.finished_client = true;
            return;
        }
        self.ops_done += 1;
        if self.rng.below(1000) < u64::from(self.opts.crash_per_mille) {
            return self.crash();
        }
        if self.rng.below(1000) < u64::from(self.opts.outside_per_mille) {
            self.outside_write();
        }
        let live: Vec<String> = self
            .keys
            .iter()
            .filter(|k| !self.model.files.get(*k).is_some_and(|f| f.lost))
            .cloned()
            .collect();
        if live.is_empty() {
            self.ops_done = self.opts.ops;
            self.schedule(self.now, Ev::Client);
            return;
        }
        while let Some(op) = self.swap.pop_front() {
            let Op::Rename { from, to } = &op else {
                continue;
            };
            let free = !self.handles.contains_key(from) && !self.handles.contains_key(to);
            if free && self.model.file(from).exists == Some(true) {
                return self.send(op);
            }
            self.swap.clear();
        }
        let key = live[self.rng.below(live.len() as u64) as usize].clone();
        let op = self.choose(&key, &live);
        self.send(op);
    }

    fn choose(&mut self, key: &str, live: &[String]) -> Op {
        let key = key.to_string();
        let Some(_) = self.handles.get(&key) else {
            let f = self.model.file(&key);
            let create = f.exists == Some(false) || (f.exists.is_none() && self.rng.below(2) == 0);
            if !self.model.file(&key).may_exist && !create {
                return Op::Open {
                    key,
                    create: true,
                    exclusive: false,
                    truncate: false,
                };
            }
            return match self.rng.below(16) {
                0 if self.model.file(&key).exists == Some(true) => Op::Unlink { key },
                10 => Op::Stat { key },
                11 => self.list_op(&key),
                12..=14 => {
                    let pool = names::DIR_POOL;
                    let dir = pool[self.rng.below(pool.len() as u64) as usize].to_string();
                    match (self.rng.below(5), self.listing.is_some()) {
                        (0, _) => Op::Mkdir { key: dir },
                        (1, _) => Op::Rmdir { key: dir },
                        (2, _) => Op::Stat { key: dir },
                        (3, _) => {
                            let to = pool[self.rng.below(pool.len() as u64) as usize];
                            Op::RenameDir {
                                from: dir,
                                to: to.to_string(),
                            }
                        }
                        (_, true) => self.list_op(&key),
                        (_, false) => self.list_op(&format!("{dir}/")),
                    }
                }
                15 => {
                    let exclusive = self.rng.below(2) == 0;
                    Op::Open {
                        key,
                        create: exclusive || create,
                        exclusive,
                        truncate: !exclusive,
                    }
                }
                1 if self.model.file(&key).exists == Some(true) => {
                    let to = live[self.rng.below(live.len() as u64) as usize].clone();
                    let via = live[self.rng.below(live.len() as u64) as usize].clone();
                    let swap = self.rng.below(3) == 0
                        && ![&key, &to].contains(&&via)
                        && !self.handles.contains_key(&via);
                    if to != key && !self.handles.contains_key(&to) && swap {
                        // key -> via, to -> key, via -> to: key and to swap contents.
                        self.swap.push_back(Op::Rename {
                            from: to.clone(),
                            to: key.clone(),
                        });
                        self.swap.push_back(Op::Rename {
                            from: via.clone(),
                            to,
                        });
                        Op::Rename { from: key, to: via }
                    } else if to != key && !self.handles.contains_key(&to) {
                        Op::Rename { from: key, to }
                    } else {
                        Op::Open {
                            key,
                            create,
                            exclusive: false,
                            truncate: false,
                        }
                    }
                }
                _ => Op::Open {
                    key,
                    create,
                    exclusive: false,
                    truncate: false,
                },
            };
        };
        let size = self
            .model
            .file(&key)
            .now
            .as_ref()
            .map_or(0, |n| n.len() as u64);
        let fmax = self.opts.file_max;
        match self.rng.below(100) {
            0..=39 => {
                let len = 1 + self.rng.below(self.opts.write_max);
                let off = self
                    .rng
                    .below((size + 1).min(fmax).max(1))
                    .min(fmax.saturating_sub(len));
                let data: Vec<u8> = (0..len).map(|_| 1 + self.rng.below(255) as u8).collect();
                Op::Write {
                    key,
                    off,
                    data: Bytes::from(data),
                }
            }
            // A sequential scan in pieces of about a chunk (continued in `on_reply`), or one
            // read of the rest of the file.
            40..=49 => Op::Read {
                key,
                off: self.rng.below(size + 1),
                len: self.opts.core.chunk_size / 4 + self.rng.below(2 * self.opts.core.chunk_size),
                verify: false,
            },
            50..=64 => Op::Read {
                key,
                off: self.rng.below(size + 1),
                len: WHOLE,
                verify: false,
            },
            65..=79 => Op::Fsync { key },
            80..=85 => Op::Truncate {
                key,
                size: self.rng.below(fmax),
            },
            86 => Op::Stat { key },
            // A time no write of the run has (writes take the simulated clock's).
            87 => Op::SetMtime {
                key,
                mtime_ms: 1_000_000_000_000 + self.now,
            },
            _ => Op::Close { key },
        }
    }

    fn next_client(&mut self) {
        let think = self.rng.below(20);
        self.schedule(self.now + think, Ev::Client);
    }

    fn on_reply(&mut self, req: RequestId, r: Result<Reply, FileError>) {
        if self.on_reader_reply(req, &r) || self.on_pt_reply(req, &r) {
            return;
        }
        if self.flush_req == Some(req) {
            self.flush_req = None;
            self.trace(format!("reply {req} {r:?}"));
            if r != Ok(Reply::Flushed) {
                self.violation(Invariant::Liveness, format!("flush answered {r:?}"));
            }
            return;
        }
        if let Some((awaited, answer)) = self.awaited.as_mut() {
            if *awaited == req {
                *answer = Some(r);
                return;
            }
        }
        let Some((id, op)) = self.pending.take() else {
            return;
        };
        if id != req {
            self.pending = Some((id, op));
            return;
        }
        if r.is_err() {
            self.pt_note_failure(&op);
        }
        self.trace(format!(
            "reply {req} {}",
            match &r {
                Ok(Reply::Data(d)) => format!("Data({} bytes)", d.len()),
                other => format!("{other:?}"),
            }
        ));
        let mut follow = None;
        match (op, r) {
            (
                Op::Open {
                    key,
                    create,
                    exclusive,
                    truncate,
                },
                Ok(Reply::Opened { handle, size, .. }),
            ) => {
                self.handles.insert(key.clone(), handle);
                let f = self.model.file(&key);
                let unchecked = f.lost || f.disturbed;
                if exclusive && f.exists == Some(true) && !unchecked {
                    self.violation(
                        Invariant::ReadsLatest,
                        format!("exclusive create of {key:?} opened a file the model holds"),
                    );
                }
                let f = self.model.file(&key);
                if truncate && f.exists == Some(true) && f.now.is_some() {
                    f.truncate_done(0);
                } else if truncate {
                    // What the next read learns is the truncated file, not what recovery
                    // left: every size a crash may bring back stays possible.
                    f.relearning = true;
                }
                match f.exists {
                    // Someone else's version may be what the cache opened: learn it.
                    Some(true) if f.disturbed => {
                        follow = Some(Op::Read {
                            key,
                            off: 0,
                            len: WHOLE,
                            verify: true,
                        })
                    }
                    Some(true) => match &f.now {
                        Some(now) if now.len() as u64 != size && !unchecked => {
                            let n = now.len();
                            self.violation(
                                Invariant::ReadsLatest,
                                format!("open {key:?}: size {size}, model {n}"),
                            );
                        }
                        Some(_) => {}
                        None => {
                            follow = Some(Op::Read {
                                key,
                                off: 0,
                                len: WHOLE,
                                verify: true,
                            })
                        }
                    },
                    Some(false) if create && unchecked && size != 0 => {
                        // Someone else's object is there: learn it.
                        f.exists = Some(true);
                        f.now = None;
                        follow = Some(Op::Read {
                            key,
                            off: 0,
                            len: WHOLE,
                            verify: true,
                        });
                    }
                    Some(false) if create => {
                        f.created();
                        if size != 0 && !unchecked {
                            self.violation(
                                Invariant::ReadsLatest,
                                format!("created {key:?} has size {size}"),
                            );
                        }
                    }
                    Some(false) => {
                        if !unchecked {
                            self.violation(
                                Invariant::ReadsLatest,
                                format!("open {key:?} found a file the model says is gone"),
                            );
                        }
                    }
                    None => {
                        if create {
                            // Found or made: either way it is there now, durable or not.
                            f.exists = Some(true);
                            f.may_exist = true;
                        } else if let Some(v) = f.observe_exists(true) {
                            self.violation(Invariant::ReadsLatest, format!("{key:?}: {v}"));
                        }
                        follow = Some(Op::Read {
                            key,
                            off: 0,
                            len: WHOLE,
                            verify: true,
                        });
                    }
                }
            }
            (
                Op::Open {
                    key,
                    exclusive: true,
                    ..
                },
                Err(FileError::Exists),
            ) => {
                let f = self.model.file(&key);
                match f.exists {
                    Some(false) if !(f.lost || f.disturbed || f.ever_disturbed) => {
                        self.violation(
                            Invariant::ReadsLatest,
                            format!("exclusive create of {key:?}: exists, the model says not"),
                        );
                    }
                    None => {
                        let _ = f.observe_exists(true);
                    }
                    _ => {}
                }
            }
            (
                Op::Open {
                    key,
                    truncate: true,
                    ..
                },
                Err(FileError::NoSpace | FileError::Io(_)),
            ) => {
                // The truncate may have landed in part: learn the file at the next open.
                let f = self.model.file(&key);
                f.relearning = f.now.is_some();
                f.now = None;
            }
            (Op::RenameDir { from, to }, r) => self.check_rename_dir(&from, &to, r),
            (Op::Mkdir { key }, r) => self.check_mkdir(&key, r),
            (Op::Rmdir { key }, r) => self.check_rmdir(&key, r),
            (Op::Open { key, .. }, Err(FileError::NotFound)) => {
                if let Some(v) = self.model.file(&key).observe_exists(false) {
                    self.violation(Invariant::ReadsLatest, format!("{key:?}: {v}"));
                }
            }
            (
                Op::Read {
                    key,
                    off,
                    len,
                    verify,
                },
                Ok(Reply::Data(d)),
            ) => {
                // A scan goes on where this read ended, most of the time, until the end.
                if len != WHOLE && d.len() as u64 == len && self.rng.below(8) != 0 {
                    follow = Some(Op::Read {
                        key: key.clone(),
                        off: off + len,
                        len,
                        verify: false,
                    });
                }
                let f = self.model.file(&key);
                let complaint = if verify {
                    f.observe(&d)
                } else {
                    f.check_read(off, &d)
                };
                if let Some(c) = complaint {
                    if let Some((id, _)) = self.core.lookup(&key) {
                        let detail = format!(
                            "entry {:?} chunks {:?}",
                            self.core.entry_record(id),
                            self.core.chunk_states(id)
                        );
                        self.trace(detail);
                    }
                    self.violation(Invariant::ReadsLatest, format!("{key:?}: {c}"));
                }
            }
            (Op::Write { key, off, data }, Ok(Reply::Written { .. })) => {
                self.model.file(&key).write_done(off, &data)
            }
            (Op::Write { key, .. } | Op::Truncate { key, .. }, Err(_)) => {
                // A failed write or truncate may have landed in part: learn the file again.
                let f = self.model.file(&key);
                f.relearning = f.now.is_some();
                f.now = None;
                follow = Some(Op::Read {
                    key,
                    off: 0,
                    len: WHOLE,
                    verify: true,
                });
            }
            (Op::Fsync { key }, Ok(Reply::Synced)) => self.model.file(&key).fsync_done(),
            // A sync of the file too: everything written before it is durable.
            (Op::SetMtime { key, mtime_ms }, Ok(Reply::MtimeSet)) => {
                let f = self.model.file(&key);
                f.fsync_done();
                f.mtime = Some(mtime_ms);
            }
            (Op::Truncate { key, size }, Ok(Reply::Truncated)) => {
                self.model.file(&key).truncate_done(size)
            }
            (Op::Close { key }, _) => {
                self.handles.remove(&key);
            }
            (Op::Unlink { key }, Ok(Reply::Unlinked)) => {
                self.touch(&key);
                self.model.file(&key).unlink_done()
            }
            (Op::Rename { from, to }, Ok(Reply::Renamed)) => {
                self.touch(&from);
                self.touch(&to);
                // Content moves; an outside writer's version stays with its key.
                let mut f = self.model.files.remove(&from).unwrap_or_else(MFile::lost);
                let from_disturbed = f.disturbed;
                f.disturbed |= self.model.files.get(&to).is_some_and(|t| t.disturbed);
                self.model.files.insert(to, f);
                self.model.files.insert(
                    from,
                    MFile {
                        disturbed: from_disturbed,
                        ever_disturbed: from_disturbed,
                        ..MFile::absent()
                    },
                );
            }
            (Op::Unlink { key } | Op::Rename { from: key, .. }, Err(FileError::NotFound)) => {
                let f = self.model.file(&key);
                if f.exists == Some(true) && !f.disturbed && !f.lost {
                    self.violation(
                        Invariant::ReadsLatest,
                        format!("{key:?} exists in the model but the cache says not found"),
                    );
                }
            }
            (Op::Stat { key }, r @ (Ok(Reply::Attr(_)) | Err(FileError::NotFound))) => {
                self.check_stat(&key, r)
            }
            (Op::List { .. }, Ok(Reply::Listing { entries, next })) => {
                self.check_page(&entries, next)
            }
            (Op::List { .. }, Err(FileError::Io(e)))
                if self.faults && e.contains("object store") =>
            {
                self.listing = None;
            }
            (op, Err(FileError::Io(e)))
                if !self.faults || !(e.contains("fetch") || e.contains("object store")) =>
            {
                self.violation(
                    Invariant::Liveness,
                    format!("unexpected I/O error for {op:?}: {e}"),
                );
            }
            (op, r) => self.trace(format!("unchecked reply {r:?} to {op:?}")),
        }
        match follow {
            Some(op) if self.handles.contains_key(op_key(&op)) => self.send(op),
            _ => self.next_client(),
        }
    }

    fn outside_write(&mut self) {
        let candidates: Vec<String> = self
            .keys
            .iter()
            .filter(|k| {
                self.model
                    .files
                    .get(*k)
                    .is_some_and(|f| f.exists != Some(false) && !f.lost)
            })
            .cloned()
            .collect();
        if candidates.is_empty() {
            return;
        }
        let key = candidates[self.rng.below(candidates.len() as u64) as usize].clone();
        let len = self.rng.below(self.opts.file_max);
        let data: Vec<u8> = (0..len).map(|_| 1 + self.rng.below(255) as u8).collect();
        let etag = self
            .s3
            .outside_put(&key, Bytes::from(data.clone()), self.now);
        self.trace(format!("outside writer stores {key:?} as {etag}"));
        let cached = self.core.lookup(&key).is_some();
        self.touch(&key);
        let f = self.model.file(&key);
        if !cached {
            // The cache holds nothing of this key: the version it looks up next is this one,
            // so this is the lineage a later rename moves and a conflict copy starts from.
            *f = MFile::existing(&data);
        }
        f.disturbed = true;
        f.ever_disturbed = true;
    }

    /// Adds the read counters of the core that is about to go.
    fn count_reads(&mut self) {
        let s = self.core.read_stats();
        self.result.reads_from_buffers += s.from_buffers;
        self.result.fetched_ahead += s.fetched_ahead;
    }

    fn crash(&mut self) {
        self.result.crashes += 1;
        self.count_reads();
        self.last_stats = silt_core::ReadStats::default();
        self.restarts += 1;
        self.listing = None;
        self.trace("CRASH".into());
        // In-flight work is lost; a remote request in flight may or may not have landed.
        let events = std::mem::take(&mut self.events);
        self.heap.clear();
        for ev in events.into_values() {
            if let Ev::Remote(_, op) = ev {
                // Reads change nothing on the server, and nobody hears their answer: only
                // writes may land (a HEAD landing here would also move the start of the
                // HEAD-compare window of a write that was checked before it: seed 186874).
                let read_only = matches!(
                    op,
                    RemoteOp::Head { .. }
                        | RemoteOp::Get { .. }
                        | RemoteOp::List { .. }
                        | RemoteOp::ListParts { .. }
                );
                if self.rng.below(2) == 0 && !read_only {
                    let _ = self.remote(&op);
                }
            }
        }
        self.disk.crash(&mut self.rng);
        self.index.crash();
        let mut renaming_dir = None;
        match self.pending.take() {
            Some((_, Op::Rename { from, to })) => {
                // A rename in flight may or may not have happened: both keys are lost to the
                // model.
                *self.model.file(&from) = MFile::lost();
                *self.model.file(&to) = MFile::lost();
            }
            Some((_, Op::RenameDir { from, to })) => renaming_dir = Some((from, to)),
            _ => {}
        }
        // A conversion to a conflict copy that was not committed is undone by the crash: the
        // local version may then reach its original key after all. The model cannot tell
        // which, so both keys leave the check.
        for copy in std::mem::take(&mut self.conflicts_seen) {
            let committed = self
                .index
                .inspect(|r| r.conflicts.iter().any(|c| c.conflict_key == copy));
            if !committed {
                *self.model.file(&copy) = MFile::lost();
            }
        }
        self.model.crash();
        self.handles.clear();
        // Reads in flight die with the core; the readers go on after the restart.
        self.reader_reads.clear();
        self.pt_crash();
        for r in &mut self.readers {
            r.scan = None;
        }
        self.timer_at = None;
        if self.opts.gaps_refused_after_restart {
            self.opts.core.coalesce_copies = false;
            self.s3.refuse_part_gaps = true;
        }
        let mut cfg = self.opts.core.clone();
        cfg.seed = cfg.seed.wrapping_add(self.restarts);
        let recovered = self.index.load().expect("the memory index cannot fail");
        self.core = Core::recover(cfg, recovered.clone(), Instant::from_millis(self.now))
            .expect("valid options");
        // Invariant 6: what the core rebuilt is what the index held.
        let differing = checker::recovered_entries(&recovered, &self.core);
        self.found(differing);
        if let Some((from, to)) = renaming_dir {
            self.recovered_dir_rename(&from, &to);
        }
        self.input(Input::Timeout);
        self.schedule(self.now, Ev::DiskReading);
        self.drain();
        self.next_client();
    }

    fn start_quiet_phase(&mut self) {
        self.trace("faults stop; draining".into());
        self.faults = false;
        self.pt_close_all();
        self.disk.enospc = false;
        self.disk.capacity = u64::MAX / 4;
        self.input(Input::DiskFree {
            bytes: self.disk.capacity,
        });
        // What `silt flush` does: everything pending goes now.
        let req = RequestId(self.next_req);
        self.next_req += 1;
        self.flush_req = Some(req);
        self.trace(format!("request {req} Flush"));
        self.input(Input::Request(req, Request::Flush));
    }

    /// Liveness and the final comparison of bucket, model and cache.
    fn finish(&mut self) {
        if !self.finished_client || !self.quiet() {
            let why = self
                .core
                .pending()
                .unwrap_or_else(|| "the client or the world did not settle".into());
            self.violation(
                Invariant::Liveness,
                format!("not idle after the quiet phase: {why}"),
            );
            return;
        }
        // Invariant 1 and 4's outcome: the bucket holds what the model says.
        let keys: Vec<String> = self.model.files.keys().cloned().collect();
        let missing = checker::final_bucket(&self.model, &self.s3);
        self.found(missing);
        let markers = checker::final_markers(&self.model, &self.s3);
        self.found(markers);
        let times = checker::final_mtimes(&self.model, &self.s3);
        self.found(times);
        // Invariant 2: what the cache serves equals the bucket, for every key it knows.
        for key in keys {
            let f = &self.model.files[&key];
            if f.disturbed || f.lost {
                continue;
            }
            let Some(remote) = self.s3.objects.get(&key).map(|o| o.data.clone()) else {
                continue;
            };
            let served = self.read_through_core(&key);
            let differs = checker::served_equals_bucket(&key, served.as_deref(), &remote);
            self.found(differs);
        }
        // Invariant 7: the figures an idle core reports.
        let figures = checker::quiet_figures(&self.core);
        self.found(figures);
        // Invariant 6: with nothing pending, the core and the index agree.
        self.settle();
        let differs = checker::persistent_view(&self.core, &self.index);
        self.found(differs);
        if self.s3.open_uploads() > 0 {
            self.trace(format!(
                "note: {} multipart uploads left open on the server",
                self.s3.open_uploads()
            ));
        }
    }

    fn settle(&mut self) {
        for _ in 0..100_000 {
            let Some(Reverse((at, seq))) = self.heap.pop() else {
                return;
            };
            self.now = self.now.max(at);
            if let Some(ev) = self.events.remove(&seq) {
                self.step(ev);
            }
            if self.core.pending().is_none() && self.core.is_persisted() && self.pending.is_none() {
                return;
            }
        }
    }

    fn read_through_core(&mut self, key: &str) -> Option<Vec<u8>> {
        self.pending = None;
        let open = Request::Open {
            key: key.to_string(),
            flags: silt_core::OpenFlags::EXISTING,
        };
        let Some(Ok(Reply::Opened { handle, .. })) = self.ask(open) else {
            return None;
        };
        let len = self.opts.file_max * 4;
        let data = match self.ask(Request::Read {
            handle,
            offset: 0,
            len,
        }) {
            Some(Ok(Reply::Data(d))) => Some(d.to_vec()),
            _ => None,
        };
        let _ = self.ask(Request::Close { handle });
        data
    }

    /// Sends `request` outside the workload and steps the world until it is answered.
    fn ask(&mut self, request: Request) -> Option<Result<Reply, FileError>> {
        let req = RequestId(self.next_req);
        self.next_req += 1;
        self.core
            .handle_input(Instant::from_millis(self.now), Input::Request(req, request));
        self.run_until_reply(req)
    }

    /// Steps the world until `req` is answered (the client is idle in the final phase).
    fn run_until_reply(&mut self, req: RequestId) -> Option<Result<Reply, FileError>> {
        self.awaited = Some((req, None));
        self.drain();
        for _ in 0..100_000 {
            if let Some((_, Some(answer))) = &self.awaited {
                let answer = answer.clone();
                self.awaited = None;
                return Some(answer);
            }
            let Reverse((at, seq)) = self.heap.pop()?;
            self.now = self.now.max(at);
            match self.events.remove(&seq) {
                Some(Ev::Client) | None => {}
                Some(ev) => self.step(ev),
            }
        }
        None
    }
}

fn local_entry(op: &LocalOp) -> EntryId {
    match op {
        LocalOp::Write { entry, .. }
        | LocalOp::Read { entry, .. }
        | LocalOp::Zero { entry, .. }
        | LocalOp::Punch { entry, .. }
        | LocalOp::SetLen { entry, .. }
        | LocalOp::Sync { entry }
        | LocalOp::Remove { entry } => *entry,
    }
}

fn op_key(op: &Op) -> &str {
    match op {
        Op::Open { key, .. }
        | Op::Read { key, .. }
        | Op::Write { key, .. }
        | Op::Fsync { key }
        | Op::Truncate { key, .. }
        | Op::SetMtime { key, .. }
        | Op::Close { key }
        | Op::Unlink { key }
        | Op::Stat { key }
        | Op::Mkdir { key }
        | Op::Rmdir { key } => key,
        Op::Rename { from, .. } | Op::RenameDir { from, .. } => from,
        Op::List { dir, .. } => dir,
    }
}

fn describe(op: &RemoteOp) -> String {
    match op {
        RemoteOp::Put {
            key,
            data,
            precondition,
            ..
        } => format!("PUT {key:?} {} bytes {precondition:?}", data.len()),
        RemoteOp::UploadPart {
            key, part, data, ..
        } => format!("UploadPart {key:?} #{part} {} bytes", data.len()),
        other => format!("{other:?}"),
    }
}

fn brief(r: &Result<RemoteOk, RemoteError>) -> String {
    match r {
        Ok(RemoteOk::Got { data, etag, .. }) => format!("Got {} bytes {etag}", data.len()),
        other => format!("{other:?}"),
    }
}

fn describe_local(op: &LocalOp) -> String {
    match op {
        LocalOp::Write {
            entry,
            offset,
            data,
        } => format!("write e{entry} {offset}+{}", data.len()),
        LocalOp::Read { entry, offset, len } => format!("read e{entry} {offset}+{len}"),
        LocalOp::Zero { entry, offset, len } => format!("zero e{entry} {offset}+{len}"),
        LocalOp::Punch { entry, offset, len } => format!("punch e{entry} {offset}+{len}"),
        LocalOp::SetLen { entry, size } => format!("setlen e{entry} {size}"),
        LocalOp::Sync { entry } => format!("sync e{entry}"),
        LocalOp::Remove { entry } => format!("remove e{entry}"),
    }
}

fn set_op_key(op: &mut Op, new: String) {
    match op {
        Op::Open { key, .. }
        | Op::Read { key, .. }
        | Op::Write { key, .. }
        | Op::Fsync { key }
        | Op::Truncate { key, .. }
        | Op::SetMtime { key, .. }
        | Op::Close { key }
        | Op::Unlink { key }
        | Op::Stat { key }
        | Op::Mkdir { key }
        | Op::Rmdir { key } => *key = new,
        Op::Rename { from, .. } | Op::RenameDir { from, .. } => *from = new,
        Op::List { dir, .. } => *dir = new,
    }
}
