//! # core_scale: the CPU and memory silt-core costs per request, at scale
//!
//! Drives [`silt_core::Core`] the way a production mount does, with an in-memory world that
//! completes every order at once:
//! - cache files are byte vectors keyed by entry id (bytes never written read as zero);
//! - index transactions are answered `Ok` and counted (transactions, operations per kind, and
//!   their size, approximated as the length of their `Debug` text: the index's real encoding is
//!   smaller, the ratios are what matter);
//! - the bucket is a map of objects (HEAD, ranged GET with `If-Match`, conditional PUT,
//!   multipart create / part / part copy / complete / abort / list, conditional DELETE).
//!
//! Only the core's own work is timed: `handle_input`, draining `poll_output`, and the one
//! `poll_timeout` a driver needs afterwards to arm its timer. The executor's work (copying
//! bytes, counting records) is not. Every reply, remote answer and event is checked: an error
//! anywhere panics, so the benchmark never silently measures an error path. A counting global
//! allocator (live bytes) measures the core's heap; it adds one atomic add per allocation to
//! the timings.
//!
//! Large caches are built the way a restart builds them: [`silt_core::Recovered`] records
//! handed to [`Core::recover`], not 100 000 requests. Clean cached bytes are zeros (the
//! records carry the CRC32C of zero-filled chunks, so reads verify), dirty entries are new
//! objects with a queued upload-journal record.
//!
//! The virtual clock stands still within a case unless the case says otherwise, so no upload
//! or periodic commit starts behind a measurement's back.
//!
//! Run it (release; the full mode takes a few minutes):
//!
//! ```text
//! cargo run --release -p silt-core --example core_scale            # full sizes
//! cargo run --release -p silt-core --example core_scale -- --quick # small sizes, seconds
//! ```
//!
//! The output is one Markdown table, `| case | value |`, after a header line with the date,
//! the machine and the mode; progress goes to stderr.

use bytes::Bytes;
use silt_core::crc32c::Checksum;
use silt_core::{
    BaseVersion, CleanChunk, Core, CoreConfig, DirtyExtent, EntryId, EntryRecord, Event, FileError,
    HandleId, IndexOp, IndexTxn, Input, Instant, JournalId, JournalOp, JournalRecord,
    JournalStatus, LocalError, LocalOk, LocalOp, Meta, ObjectInfo, Output, Precondition, Recovered,
    RemoteError, RemoteId, RemoteOk, RemoteOp, Reply, Request, RequestId, Rng,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant as Stopwatch, SystemTime, UNIX_EPOCH};

// ---- heap accounting ---------------------------------------------------------------------

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counter has no influence on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` through this wrapper with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; the caller upholds `GlobalAlloc::realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

// ---- sizes -------------------------------------------------------------------------------

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// The virtual clock's start (production drivers use Unix milliseconds).
const T0: u64 = 1_700_000_000_000;
/// A next-attempt time no case reaches: uploads that stay queued.
const FAR: u64 = T0 + 365 * 24 * 3600 * 1000;

/// How big each case is; `--quick` shrinks everything so the run takes seconds.
struct Sizes {
    quick: bool,
    /// Case 1 and 4: sequences per measurement (median).
    sequences: usize,
    /// Case 1: cache sizes.
    clean_some: usize,
    clean_many: usize,
    dirty_some: usize,
    dirty_many: usize,
    /// Case 2: files created, and the window compared at the start and the end.
    files: usize,
    files_window: usize,
    /// Case 3: uploads due.
    due: [usize; 2],
    /// Cases 4 and 6: 1 MiB chunks of the big file.
    big_chunks: u64,
    /// Case 5: requests per kind.
    ratio_requests: usize,
    /// Case 6: reads before the periodic commit.
    big_reads: usize,
    /// Case 7: parts of the multipart uploads.
    parts: [u64; 2],
    /// Case 8: the file, the writes, and the two windows compared.
    rw_file: u64,
    rw_windows: [Range<usize>; 2],
    /// Case 9 and 10: entries recovered.
    heap_entries: usize,
    huge_entries: usize,
}

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            quick: false,
            sequences: 200,
            clean_some: 10_000,
            clean_many: 100_000,
            dirty_some: 10_000,
            dirty_many: 100_000,
            files: 10_000,
            files_window: 1_000,
            due: [1_000, 10_000],
            big_chunks: 102_400,
            ratio_requests: 1_000,
            big_reads: 1_000,
            parts: [1_000, 10_000],
            rw_file: 256 * MIB,
            rw_windows: [0..2_000, 44_000..46_000],
            heap_entries: 100_000,
            huge_entries: 1_000_000,
        }
    }

    fn quick() -> Sizes {
        Sizes {
            quick: true,
            sequences: 50,
            clean_some: 1_000,
            clean_many: 5_000,
            dirty_some: 1_000,
            dirty_many: 5_000,
            files: 1_000,
            files_window: 100,
            due: [100, 1_000],
            big_chunks: 102_400,
            ratio_requests: 200,
            big_reads: 100,
            parts: [100, 1_000],
            rw_file: 256 * MIB,
            rw_windows: [0..500, 3_500..4_000],
            heap_entries: 10_000,
            huge_entries: 50_000,
        }
    }
}

/// The configuration of every case: the defaults, with a budget large enough that nothing is
/// evicted (a cache holding a 100 GiB file is configured to hold it).
fn base_config() -> CoreConfig {
    CoreConfig {
        cache_budget: 256 * GIB,
        ..CoreConfig::default()
    }
}

// ---- index statistics --------------------------------------------------------------------

/// What the index was asked to commit.
#[derive(Default)]
struct IndexStats {
    txns: u64,
    ops: u64,
    /// `Debug` text length of every operation.
    bytes: u64,
    /// Per operation kind: (count, bytes).
    kinds: BTreeMap<&'static str, (u64, u64)>,
    /// Chunk records written: `CleanChunk`s inside `PutEntry` operations and chunk operations.
    clean_chunks: u64,
}

impl IndexStats {
    fn record(&mut self, txn: &IndexTxn) {
        self.txns += 1;
        for op in &txn.ops {
            let (kind, chunks) = match op {
                IndexOp::PutEntry(e) => ("PutEntry", e.clean_chunks.len() as u64),
                IndexOp::DeleteEntry(_) => ("DeleteEntry", 0),
                IndexOp::PutJournal(_) => ("PutJournal", 0),
                IndexOp::DeleteJournal(_) => ("DeleteJournal", 0),
                IndexOp::PutConflict(_) => ("PutConflict", 0),
                IndexOp::PutMeta(_) => ("PutMeta", 0),
                IndexOp::PutEntryHead(_) => ("PutEntryHead", 0),
                IndexOp::PutChunk(..) => ("PutChunk", 1),
                IndexOp::DeleteChunk(..) => ("DeleteChunk", 1),
                IndexOp::PutExtent(..) => ("PutExtent", 0),
                IndexOp::DeleteExtent(..) => ("DeleteExtent", 0),
                IndexOp::PutPart(..) => ("PutPart", 0),
            };
            let bytes = debug_len(op);
            let k = self.kinds.entry(kind).or_default();
            k.0 += 1;
            k.1 += bytes;
            self.ops += 1;
            self.bytes += bytes;
            self.clean_chunks += chunks;
        }
    }

    /// "PutEntry 3 (1.2 KiB), PutMeta 1 (40 B)".
    fn by_kind(&self) -> String {
        let parts: Vec<String> = self
            .kinds
            .iter()
            .map(|(k, (n, b))| format!("{k} {n} ({})", human_bytes(*b as f64)))
            .collect();
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// Length of the `Debug` text of `x`, without building it.
fn debug_len<T: fmt::Debug>(x: &T) -> u64 {
    struct Counter(u64);
    impl fmt::Write for Counter {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0 += s.len() as u64;
            Ok(())
        }
    }
    let mut c = Counter(0);
    match write!(c, "{x:?}") {
        Ok(()) => c.0,
        Err(_) => 0,
    }
}

// ---- the bucket --------------------------------------------------------------------------

/// An object version: `data`, then zeros up to `size` (large clean objects cost nothing).
struct Object {
    etag: String,
    data: Bytes,
    size: u64,
    token: Option<String>,
}

impl Object {
    fn zeros(etag: String, size: u64) -> Object {
        Object {
            etag,
            data: Bytes::new(),
            size,
            token: None,
        }
    }

    fn read(&self, range: &Range<u64>) -> Bytes {
        let end = range.end.min(self.size);
        let start = range.start.min(end);
        if end <= self.data.len() as u64 {
            return self.data.slice(to_usize(start)..to_usize(end));
        }
        let mut out = vec![0u8; to_usize(end - start)];
        copy_overlap(&self.data, start, &mut out);
        Bytes::from(out)
    }
}

#[derive(Default)]
struct Bucket {
    objects: HashMap<String, Object>,
    /// Multipart uploads: id -> (token, parts).
    uploads: HashMap<String, (String, BTreeMap<u32, Bytes>)>,
    next_etag: u64,
}

impl Bucket {
    fn new_etag(&mut self) -> String {
        self.next_etag += 1;
        format!("\"b{}\"", self.next_etag)
    }

    fn holds(&self, key: &str, p: Option<&Precondition>) -> bool {
        match (p, self.objects.get(key)) {
            (None, _) | (Some(Precondition::IfNoneMatch), None) => true,
            (Some(Precondition::IfMatch(e)), Some(o)) => &o.etag == e,
            _ => false,
        }
    }

    fn answer(&mut self, op: &RemoteOp) -> Result<RemoteOk, RemoteError> {
        match op {
            RemoteOp::Head { key } => {
                Ok(RemoteOk::Head(self.objects.get(key).map(|o| ObjectInfo {
                    etag: o.etag.clone(),
                    size: o.size,
                    mtime_ms: 0,
                    token: o.token.clone(),
                })))
            }
            RemoteOp::Get {
                key,
                range,
                if_match,
            } => {
                let o = self.objects.get(key).ok_or(RemoteError::NotFound)?;
                if &o.etag != if_match {
                    return Err(RemoteError::PreconditionFailed);
                }
                Ok(RemoteOk::Got {
                    data: o.read(range),
                    etag: o.etag.clone(),
                    object_size: o.size,
                })
            }
            RemoteOp::Put {
                key,
                data,
                precondition,
                token,
                ..
            } => {
                if !self.holds(key, precondition.as_ref()) {
                    return Err(RemoteError::PreconditionFailed);
                }
                let etag = self.new_etag();
                let o = Object {
                    etag: etag.clone(),
                    data: data.clone(),
                    size: data.len() as u64,
                    token: Some(token.clone()),
                };
                self.objects.insert(key.clone(), o);
                Ok(RemoteOk::Stored { etag })
            }
            RemoteOp::CreateMultipart { token, .. } => {
                let upload_id = format!("u{}", self.uploads.len() + 1);
                self.uploads
                    .insert(upload_id.clone(), (token.clone(), BTreeMap::new()));
                Ok(RemoteOk::Created { upload_id })
            }
            RemoteOp::UploadPart {
                upload_id,
                part,
                data,
                ..
            } => {
                let u = self
                    .uploads
                    .get_mut(upload_id)
                    .ok_or(RemoteError::NoSuchUpload)?;
                u.1.insert(*part, data.clone());
                Ok(RemoteOk::Part {
                    etag: format!("\"p{part}\""),
                })
            }
            RemoteOp::UploadPartCopy {
                upload_id,
                part,
                source_key,
                source_etag,
                range,
                ..
            } => {
                let src = self
                    .objects
                    .get(source_key)
                    .filter(|o| &o.etag == source_etag)
                    .ok_or(RemoteError::PreconditionFailed)?;
                let data = src.read(range);
                let u = self
                    .uploads
                    .get_mut(upload_id)
                    .ok_or(RemoteError::NoSuchUpload)?;
                u.1.insert(*part, data);
                Ok(RemoteOk::Part {
                    etag: format!("\"p{part}\""),
                })
            }
            RemoteOp::Complete {
                key,
                upload_id,
                parts,
                precondition,
            } => {
                if !self.holds(key, precondition.as_ref()) {
                    return Err(RemoteError::PreconditionFailed);
                }
                let (token, stored) = self
                    .uploads
                    .remove(upload_id)
                    .ok_or(RemoteError::NoSuchUpload)?;
                let mut body = Vec::new();
                for (n, _) in parts {
                    let p = stored
                        .get(n)
                        .ok_or_else(|| RemoteError::Permanent(format!("no part {n}")))?;
                    body.extend_from_slice(p);
                }
                let etag = self.new_etag();
                let o = Object {
                    etag: etag.clone(),
                    size: body.len() as u64,
                    data: Bytes::from(body),
                    token: Some(token),
                };
                self.objects.insert(key.clone(), o);
                Ok(RemoteOk::Stored { etag })
            }
            RemoteOp::Abort { upload_id, .. } => {
                self.uploads.remove(upload_id);
                Ok(RemoteOk::Done)
            }
            RemoteOp::List { .. } => Err(RemoteError::Permanent(
                "the benchmark's bucket lists nothing".into(),
            )),
            RemoteOp::ListParts { upload_id, .. } => {
                let u = self
                    .uploads
                    .get(upload_id)
                    .ok_or(RemoteError::NoSuchUpload)?;
                let parts = u.1.keys().map(|n| (*n, format!("\"p{n}\""))).collect();
                Ok(RemoteOk::Parts(parts))
            }
            RemoteOp::Delete { key, if_match } => {
                let o = self.objects.get(key).ok_or(RemoteError::NotFound)?;
                if if_match.as_ref().is_some_and(|e| &o.etag != e) {
                    return Err(RemoteError::PreconditionFailed);
                }
                self.objects.remove(key);
                Ok(RemoteOk::Done)
            }
        }
    }
}

// ---- the recovered index -----------------------------------------------------------------

/// An index's contents built directly, plus the bucket objects the clean entries are based on.
struct Seed {
    rec: Recovered,
    objects: Vec<(String, Object)>,
    /// Whether to build the bucket objects (not for heap measurements).
    with_bucket: bool,
    atime: u64,
    zero_crcs: HashMap<u64, u32>,
}

impl Seed {
    fn new(with_bucket: bool) -> Seed {
        Seed {
            rec: Recovered::default(),
            objects: Vec::new(),
            with_bucket,
            atime: 0,
            zero_crcs: HashMap::new(),
        }
    }

    fn next_id(&mut self) -> u64 {
        self.rec.meta.next_id += 1;
        self.rec.meta.next_id
    }

    fn next_atime(&mut self) -> u64 {
        self.atime += 1;
        self.atime
    }

    /// CRC32C of `len` zero bytes.
    fn zero_crc(&mut self, len: u64) -> u32 {
        *self
            .zero_crcs
            .entry(len)
            .or_insert_with(|| silt_core::crc32c::checksum(&vec![0u8; to_usize(len)]))
    }

    /// A clean cached object of `size` zero bytes, every chunk present.
    fn clean(&mut self, key: String, size: u64, chunk_size: u64) -> EntryId {
        let id = EntryId(self.next_id());
        let etag = format!("\"v{}\"", id.0);
        let mut clean_chunks = Vec::with_capacity(to_usize(size.div_ceil(chunk_size)));
        for index in 0..size.div_ceil(chunk_size) {
            let live = (size - index * chunk_size).min(chunk_size);
            let crc32c = self.zero_crc(live);
            clean_chunks.push(CleanChunk { index, crc32c });
        }
        let atime = self.next_atime();
        self.rec.entries.push(EntryRecord {
            id,
            key: Some(key.clone()),
            remote_key: Some(key.clone()),
            base: Some(BaseVersion {
                etag: etag.clone(),
                size,
                mtime_ms: 0,
            }),
            target_precondition: Precondition::IfNoneMatch,
            local_size: size,
            generation: 0,
            dirty: Vec::new(),
            clean_chunks,
            atime,
            mtime_ms: None,
        });
        if self.with_bucket {
            self.objects.push((key, Object::zeros(etag, size)));
        }
        id
    }

    /// A new object of `size` dirty bytes, not yet uploaded, with its queued journal record.
    fn dirty(&mut self, key: String, size: u64, next_attempt: u64) -> EntryId {
        let id = EntryId(self.next_id());
        let atime = self.next_atime();
        self.rec.entries.push(EntryRecord {
            id,
            key: Some(key.clone()),
            remote_key: None,
            base: None,
            target_precondition: Precondition::IfNoneMatch,
            local_size: size,
            generation: 1,
            dirty: vec![DirtyExtent {
                offset: 0,
                len: size,
                generation: 1,
            }],
            clean_chunks: Vec::new(),
            atime,
            mtime_ms: None,
        });
        let jid = JournalId(self.next_id());
        self.rec.journal.push(JournalRecord {
            id: jid,
            path: key,
            offset: 0,
            len: 0,
            status: JournalStatus::Queued,
            attempts: 0,
            last_error: None,
            op: JournalOp::Upload { entry: id },
            base_etag: None,
            source_key: None,
            generation: 0,
            precondition: Precondition::IfNoneMatch,
            token: String::new(),
            multipart: None,
            next_attempt: Instant::from_millis(next_attempt),
            mtime_ms: None,
        });
        id
    }

    fn add_clean(&mut self, n: usize, prefix: &str) {
        for i in 0..n {
            self.clean(format!("{prefix}/{i:07}"), 4 * KIB, MIB);
        }
    }

    fn add_dirty(&mut self, n: usize, prefix: &str, next_attempt: u64) {
        for i in 0..n {
            self.dirty(format!("{prefix}/{i:07}"), 4 * KIB, next_attempt);
        }
    }

    fn finish(mut self) -> (Recovered, Vec<(String, Object)>) {
        self.rec.meta = Meta {
            next_id: self.rec.meta.next_id,
            atime_clock: self.atime,
        };
        (self.rec, self.objects)
    }
}

// ---- the executor ------------------------------------------------------------------------

/// What happens to remote operations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RemoteMode {
    /// The bucket answers at once.
    Answer,
    /// A slow server: operations are collected, never answered.
    Stall,
}

/// The core and its in-memory world.
struct Bench {
    core: Core,
    /// Virtual clock, ms.
    now: u64,
    /// Time spent inside the core so far.
    core_time: Duration,
    queue: VecDeque<Output>,
    files: HashMap<EntryId, Vec<u8>>,
    bucket: Bucket,
    remote_mode: RemoteMode,
    stalled: Vec<(RemoteId, RemoteOp)>,
    replies: HashMap<RequestId, Result<Reply, FileError>>,
    stats: IndexStats,
    uploaded: u64,
    next_req: u64,
}

impl Bench {
    /// Recovers a core from `seed` at `T0`, then sends the first `Timeout` and runs its work.
    fn new(cfg: CoreConfig, seed: Seed) -> Bench {
        let (rec, objects) = seed.finish();
        let core = match Core::recover(cfg, rec, Instant::from_millis(T0)) {
            Ok(core) => core,
            Err(e) => panic!("the benchmark's configuration is invalid: {e}"),
        };
        let mut b = Bench {
            core,
            now: T0,
            core_time: Duration::ZERO,
            queue: VecDeque::new(),
            files: HashMap::new(),
            bucket: Bucket::default(),
            remote_mode: RemoteMode::Answer,
            stalled: Vec::new(),
            replies: HashMap::new(),
            stats: IndexStats::default(),
            uploaded: 0,
            next_req: 1,
        };
        b.bucket.objects.extend(objects);
        b.feed(Input::Timeout);
        b.run();
        b
    }

    /// One input, timed: `handle_input`, draining the outputs, and `poll_timeout`.
    fn feed(&mut self, input: Input) {
        let start = Stopwatch::now();
        self.core
            .handle_input(Instant::from_millis(self.now), input);
        while let Some(out) = self.core.poll_output() {
            self.queue.push_back(out);
        }
        std::hint::black_box(self.core.poll_timeout());
        self.core_time += start.elapsed();
    }

    /// Executes every output, in order, feeding each completion back, until none is left.
    fn run(&mut self) {
        while let Some(out) = self.queue.pop_front() {
            match out {
                Output::Local(io, op) => {
                    let r = self.exec_local(op);
                    self.feed(Input::Local(io, r));
                }
                Output::Index(id, txn) => {
                    self.stats.record(&txn);
                    self.feed(Input::Index(id, Ok(())));
                }
                Output::Remote(id, op) => match self.remote_mode {
                    RemoteMode::Stall => self.stalled.push((id, op)),
                    RemoteMode::Answer => {
                        let r = self.bucket.answer(&op);
                        if let Err(e) = &r {
                            panic!("the bucket answered {op:?} with {e:?}: the benchmark would measure an error path");
                        }
                        self.feed(Input::Remote(id, r));
                    }
                },
                Output::Reply(req, r) => {
                    self.replies.insert(req, r);
                }
                Output::Event(e) => self.on_event(e),
            }
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Uploaded { .. } => self.uploaded += 1,
            other => {
                panic!("unexpected event {other:?}: the benchmark would measure an error path")
            }
        }
    }

    fn exec_local(&mut self, op: LocalOp) -> Result<LocalOk, LocalError> {
        match op {
            LocalOp::Write {
                entry,
                offset,
                data,
            } => {
                let f = self.files.entry(entry).or_default();
                let (start, end) = (to_usize(offset), to_usize(offset) + data.len());
                if f.len() < end {
                    f.resize(end, 0);
                }
                f[start..end].copy_from_slice(&data);
            }
            LocalOp::Read { entry, offset, len } => {
                let mut out = vec![0u8; to_usize(len)];
                if let Some(f) = self.files.get(&entry) {
                    copy_overlap(f, offset, &mut out);
                }
                return Ok(LocalOk::Data(Bytes::from(out)));
            }
            // Bytes past the end of a vector read as zero, so neither needs to extend it.
            LocalOp::Zero { entry, offset, len } | LocalOp::Punch { entry, offset, len } => {
                if let Some(f) = self.files.get_mut(&entry) {
                    let start = to_usize(offset).min(f.len());
                    let end = to_usize(offset + len).min(f.len());
                    f[start..end].fill(0);
                }
            }
            LocalOp::SetLen { entry, size } => {
                if let Some(f) = self.files.get_mut(&entry) {
                    f.truncate(to_usize(size));
                }
            }
            LocalOp::Sync { .. } => {}
            LocalOp::Remove { entry } => {
                self.files.remove(&entry);
            }
        }
        Ok(LocalOk::Done)
    }

    /// Sends a request and runs until it is answered; panics on an error reply.
    fn call(&mut self, req: Request) -> Reply {
        let id = RequestId(self.next_req);
        self.next_req += 1;
        let what = format!("{req:?}");
        self.feed(Input::Request(id, req));
        self.run();
        match self.replies.remove(&id) {
            Some(Ok(reply)) => reply,
            Some(Err(e)) => panic!("{what} failed: {e}"),
            None => panic!(
                "{what} was not answered once every output was executed; pending: {:?}",
                self.core.pending()
            ),
        }
    }

    fn open(&mut self, key: &str, create: bool) -> HandleId {
        let req = Request::Open {
            key: key.to_string(),
            flags: silt_core::OpenFlags::create_if(create),
        };
        match self.call(req) {
            Reply::Opened { handle, .. } => handle,
            other => panic!("open of {key} answered {other:?}"),
        }
    }

    /// open (create) + write `data` at 0 + fsync + close.
    fn small_file(&mut self, key: &str, data: &Bytes) {
        let handle = self.open(key, true);
        self.call(Request::Write {
            handle,
            offset: 0,
            data: data.clone(),
        });
        self.call(Request::Fsync { handle });
        self.call(Request::Close { handle });
    }

    /// Advances the clock to `at` and sends `Timeout`, then runs everything it started.
    fn timeout_at(&mut self, at: u64) {
        self.now = self.now.max(at);
        self.feed(Input::Timeout);
        self.run();
    }

    /// The core time `f` took.
    fn measure(&mut self, f: impl FnOnce(&mut Bench)) -> Duration {
        let before = self.core_time;
        f(self);
        self.core_time - before
    }
}

// ---- the cases ---------------------------------------------------------------------------

/// A case: runs at the given sizes and adds its rows to the table.
type Case = fn(&Sizes, &mut Table);

/// The result table.
#[derive(Default)]
struct Table {
    rows: Vec<(String, String)>,
}

impl Table {
    fn row(&mut self, case: String, value: String) {
        eprintln!("  {case}: {value}");
        self.rows.push((case, value));
    }
}

/// Case 1: open + write 4 KiB + fsync + close of a new key, against caches of various sizes.
fn case_small_file(sz: &Sizes, t: &mut Table) {
    let variants = [
        ("empty cache".to_string(), 0, 0),
        (
            format!("{} clean entries", n(sz.clean_some)),
            sz.clean_some,
            0,
        ),
        (
            format!("{} clean entries", n(sz.clean_many)),
            sz.clean_many,
            0,
        ),
        (
            format!(
                "{} clean + {} awaiting upload",
                n(sz.clean_many),
                n(sz.dirty_some)
            ),
            sz.clean_many,
            sz.dirty_some,
        ),
        (
            format!("{} awaiting upload", n(sz.dirty_many)),
            0,
            sz.dirty_many,
        ),
    ];
    let data = Bytes::from(vec![0xA5u8; 4096]);
    for (label, clean, dirty) in variants {
        let mut seed = Seed::new(true);
        seed.add_clean(clean, "clean");
        seed.add_dirty(dirty, "dirty", FAR);
        let mut b = Bench::new(base_config(), seed);
        let samples: Vec<Duration> = (0..sz.sequences)
            .map(|i| b.measure(|b| b.small_file(&format!("new/{i:07}"), &data)))
            .collect();
        t.row(
            format!("1. open+write 4K+fsync+close, new key, {label}"),
            format!(
                "{} µs (median of {})",
                f1(us(median(samples))),
                sz.sequences
            ),
        );
    }
}

/// Case 2: creating many files one after another.
fn case_many_files(sz: &Sizes, t: &mut Table) {
    let mut b = Bench::new(base_config(), Seed::new(true));
    let data = Bytes::from(vec![0x5Au8; 4096]);
    let samples: Vec<Duration> = (0..sz.files)
        .map(|i| b.measure(|b| b.small_file(&format!("many/{i:07}"), &data)))
        .collect();
    let total: Duration = samples.iter().sum();
    let w = sz.files_window;
    let (first, last) = (&samples[..w], &samples[samples.len() - w..]);
    t.row(
        format!(
            "2. create {} files (open+write 4K+fsync+close each)",
            n(sz.files)
        ),
        format!(
            "total {} s; first {}: {} µs/file (median {}), last {}: {} µs/file (median {})",
            f3(total.as_secs_f64()),
            n(w),
            f1(us(mean(first))),
            f1(us(median(first.to_vec()))),
            n(w),
            f1(us(mean(last))),
            f1(us(median(last.to_vec())))
        ),
    );
}

/// Case 3: one `Timeout` with many uploads due, the server slow.
fn case_uploads_due(sz: &Sizes, t: &mut Table) {
    let cfg = base_config();
    let due_at = T0 + millis(cfg.write_back_delay);
    for due in sz.due {
        let mut seed = Seed::new(true);
        seed.add_dirty(due, "due", due_at);
        seed.clean("other".to_string(), 4 * KIB, MIB);
        let mut b = Bench::new(cfg.clone(), seed);
        b.remote_mode = RemoteMode::Stall;
        b.now = due_at;
        let alone = b.measure(|b| b.feed(Input::Timeout));
        let follow = b.measure(Bench::run);
        let started = b.stalled.len();
        let data = Bytes::from(vec![1u8; 4096]);
        let write = b.measure(|b| {
            let handle = b.open("other", false);
            b.call(Request::Write {
                handle,
                offset: 0,
                data,
            });
            b.call(Request::Fsync { handle });
            b.call(Request::Close { handle });
        });
        t.row(
            format!("3. one Timeout, {} uploads due, server slow", n(due)),
            format!(
                "{} µs (+{} µs for the local/index completions it causes; {} uploads started); then open+write 4K+fsync+close of a cached file: {} µs",
                f1(us(alone)),
                f1(us(follow)),
                started,
                f1(us(write))
            ),
        );
    }
}

/// The big file of cases 4 and 6: `chunks` clean 1 MiB chunks of zeros.
fn big_file_bench(chunks: u64) -> Bench {
    let mut seed = Seed::new(true);
    seed.clean("big".to_string(), chunks * MIB, MIB);
    Bench::new(base_config(), seed)
}

/// Case 4: a small unrelated request while a 100 GiB file is cached.
fn case_small_beside_big(sz: &Sizes, t: &mut Table) {
    let mut b = big_file_bench(sz.big_chunks);
    let data = Bytes::from(vec![7u8; 4096]);
    let samples: Vec<Duration> = (0..sz.sequences)
        .map(|i| b.measure(|b| b.small_file(&format!("beside/{i:07}"), &data)))
        .collect();
    t.row(
        format!(
            "4. open+write 4K+fsync+close of another key, one {} GiB file ({} clean chunks) cached",
            sz.big_chunks * MIB / GIB,
            n(to_usize(sz.big_chunks))
        ),
        format!(
            "{} µs (median of {})",
            f1(us(median(samples))),
            sz.sequences
        ),
    );
}

/// Case 5: index transactions per request, with a periodic commit every 100 requests.
fn case_txn_ratio(sz: &Sizes, t: &mut Table) {
    let cfg = CoreConfig {
        // No upload may start in the window: the ratio counts what requests cost the index.
        write_back_delay: Duration::from_secs(3600),
        ..base_config()
    };
    let interval = millis(cfg.commit_interval) + 1;
    let size = 64 * MIB;
    for (label, len) in [("128 KiB read", 128 * KIB), ("4 KiB write", 4 * KIB)] {
        let mut seed = Seed::new(true);
        seed.clean("ratio".to_string(), size, MIB);
        let mut b = Bench::new(cfg.clone(), seed);
        let handle = b.open("ratio", false);
        b.stats = IndexStats::default();
        let mut rng = Rng::new(5);
        let data = Bytes::from(vec![3u8; to_usize(len)]);
        let mut request_time = Duration::ZERO;
        for i in 1..=sz.ratio_requests {
            let offset = rng.below(size / len) * len;
            let req = if len == 4 * KIB {
                Request::Write {
                    handle,
                    offset,
                    data: data.clone(),
                }
            } else {
                Request::Read {
                    handle,
                    offset,
                    len,
                }
            };
            request_time += b.measure(|b| {
                b.call(req);
            });
            if i % 100 == 0 {
                let at = b.now + interval;
                b.timeout_at(at);
            }
        }
        let r = sz.ratio_requests as f64;
        t.row(
            format!(
                "5. index txns per {label} of a cached clean 64 MiB file ({} requests, periodic commit every 100)",
                n(sz.ratio_requests)
            ),
            format!(
                "{} txns/request ({} txns: {}; ~{}/request); {} µs/request",
                f3(b.stats.txns as f64 / r),
                b.stats.txns,
                b.stats.by_kind(),
                human_bytes(b.stats.bytes as f64 / r),
                f1(us(request_time) / r)
            ),
        );
    }
}

/// Case 6: the periodic commit after reads of the 100 GiB file.
fn case_big_commit(sz: &Sizes, t: &mut Table) {
    let mut b = big_file_bench(sz.big_chunks);
    let handle = b.open("big", false);
    let mut rng = Rng::new(6);
    let size = sz.big_chunks * MIB;
    let reads = b.measure(|b| {
        for _ in 0..sz.big_reads {
            let offset = rng.below(size / (128 * KIB)) * 128 * KIB;
            b.call(Request::Read {
                handle,
                offset,
                len: 128 * KIB,
            });
        }
    });
    b.stats = IndexStats::default();
    let at = b.now + millis(b.core.config().commit_interval) + 1;
    let commit = b.measure(|b| b.timeout_at(at));
    let s = &b.stats;
    t.row(
        format!(
            "6. periodic commit after {} reads (128 KiB) of the {} GiB file",
            n(sz.big_reads),
            size / GIB
        ),
        format!(
            "{} chunk records in {} txn(s), ~{} ({}); core {} ms for the commit (the reads: {} µs each)",
            n(to_usize(s.clean_chunks)),
            s.txns,
            human_bytes(s.bytes as f64),
            s.by_kind(),
            f1(us(commit) / 1000.0),
            f1(us(reads) / sz.big_reads as f64)
        ),
    );
    // Then one small write to the big file: its next commit carries the entry again. The
    // write comes a second after that commit, so its upload (write-back delay after it) is
    // not due yet when the next periodic commit runs.
    let interval = millis(b.core.config().commit_interval);
    b.now = at + 1000;
    b.call(Request::Write {
        handle,
        offset: 0,
        data: Bytes::from(vec![1u8; 4096]),
    });
    b.stats = IndexStats::default();
    let commit = b.measure(|b| b.timeout_at(at + interval));
    if !b.stalled.is_empty() || b.uploaded != 0 {
        panic!("an upload of the big file started during case 6");
    }
    let s = &b.stats;
    t.row(
        format!(
            "6. periodic commit after one 4 KiB write to the {} GiB file",
            size / GIB
        ),
        format!(
            "{} chunk records in {} txn(s), ~{} ({}); core {} ms for the commit",
            n(to_usize(s.clean_chunks)),
            s.txns,
            human_bytes(s.bytes as f64),
            s.by_kind(),
            f1(us(commit) / 1000.0)
        ),
    );
}

thread_local! {
    /// Time spent in the checksum function of case 7, and the bytes it checksummed.
    static CRC_SPENT: std::cell::Cell<(Duration, u64)> = const { std::cell::Cell::new((Duration::ZERO, 0)) };
}

/// Counts its time and bytes, then computes the table CRC32C.
fn timed_table_crc(crc: u32, data: &[u8]) -> u32 {
    let start = std::time::Instant::now();
    let r = (Checksum::default().0)(crc, data);
    CRC_SPENT.with(|c| {
        let (t, n) = c.get();
        c.set((t + start.elapsed(), n + data.len() as u64));
    });
    r
}

/// Counts its time and bytes, then computes the hardware CRC32C.
fn timed_hardware_crc(crc: u32, data: &[u8]) -> u32 {
    let start = std::time::Instant::now();
    let r = ::crc32c::crc32c_append(crc, data);
    CRC_SPENT.with(|c| {
        let (t, n) = c.get();
        c.set((t + start.elapsed(), n + data.len() as u64));
    });
    r
}

/// Case 7: one multipart upload of many small parts, from the `Timeout` that starts it to the
/// end. The checksums of the bytes sent (a pass over every byte, which a driver may also do
/// on its I/O threads) are timed apart from the rest of the core's work.
fn case_multipart(sz: &Sizes, t: &mut Table) {
    let part = 64 * KIB;
    let hardware = Checksum(timed_hardware_crc);
    assert_eq!(
        hardware.of(b"123456789"),
        Checksum::default().of(b"123456789"),
        "the hardware CRC32C computes the core's function"
    );
    for (crc_name, checksum) in [
        ("table CRC", Checksum(timed_table_crc)),
        ("hardware CRC", hardware),
    ] {
        let cfg = CoreConfig {
            chunk_size: part,
            min_part_size: part,
            multipart_threshold: MIB,
            checksum,
            ..base_config()
        };
        let due_at = T0 + millis(cfg.write_back_delay);
        for parts in sz.parts {
            let size = parts * part;
            if cfg.part_size_for(size) != part {
                t.row(
                    format!("7. upload of {} parts", n(to_usize(parts))),
                    "n/a: the core would choose larger parts for this size".to_string(),
                );
                continue;
            }
            let mut seed = Seed::new(true);
            seed.dirty("multipart".to_string(), size, due_at);
            let mut b = Bench::new(cfg.clone(), seed);
            b.stats = IndexStats::default();
            CRC_SPENT.with(|c| c.set((Duration::ZERO, 0)));
            let took = b.measure(|b| b.timeout_at(due_at));
            let (crc_time, crc_bytes) = CRC_SPENT.with(|c| c.get());
            if b.uploaded != 1 {
                panic!(
                    "the upload of {parts} parts did not finish; pending: {:?}",
                    b.core.pending()
                );
            }
            let s = &b.stats;
            t.row(
                format!(
                    "7. upload of {} parts of 64 KiB ({} MiB dirty file), {crc_name}",
                    n(to_usize(parts)),
                    size / MIB
                ),
                format!(
                    "core {} ms: {} ms checksumming {} MiB, {} ms ({} µs/part) the rest; index ~{}/part in {} txns ({})",
                    f1(us(took) / 1000.0),
                    f1(us(crc_time) / 1000.0),
                    crc_bytes / MIB,
                    f1(us(took.saturating_sub(crc_time)) / 1000.0),
                    f1(us(took.saturating_sub(crc_time)) / parts as f64),
                    human_bytes(s.bytes as f64 / parts as f64),
                    s.txns,
                    s.by_kind()
                ),
            );
        }
    }
}

/// Case 8: 4 KiB random writes to one 256 MiB file, then an fsync.
fn case_random_writes(sz: &Sizes, t: &mut Table) {
    let mut seed = Seed::new(true);
    let size = sz.rw_file;
    seed.clean("rw".to_string(), size, MIB);
    let mut b = Bench::new(base_config(), seed);
    let handle = b.open("rw", false);
    let data = Bytes::from(vec![9u8; 4096]);
    let mut rng = Rng::new(8);
    let writes = sz.rw_windows.iter().map(|w| w.end).max().unwrap_or(0);
    let samples: Vec<Duration> = (0..writes)
        .map(|_| {
            let offset = rng.below(size / (4 * KIB)) * 4 * KIB;
            b.measure(|b| {
                b.call(Request::Write {
                    handle,
                    offset,
                    data: data.clone(),
                });
            })
        })
        .collect();
    b.stats = IndexStats::default();
    let fsync = b.measure(|b| {
        b.call(Request::Fsync { handle });
    });
    let windows: Vec<String> = sz
        .rw_windows
        .iter()
        .map(|w| {
            format!(
                "writes {}-{}: {} µs",
                n(w.start),
                n(w.end),
                f1(us(mean(&samples[w.clone()])))
            )
        })
        .collect();
    t.row(
        format!(
            "8. 4 KiB random writes to one {} MiB cached file",
            size / MIB
        ),
        format!(
            "{}; then one fsync: {} µs (commit ~{})",
            windows.join(", "),
            f1(us(fsync)),
            human_bytes(b.stats.bytes as f64)
        ),
    );
}

/// Builds `n` entries (clean with one chunk, or dirty with a journal record) and recovers a
/// core from them: (core heap bytes, `Core::recover` time, first `Timeout` time).
fn recovered_heap(n: usize, dirty: bool) -> (usize, Duration, Duration) {
    let before = live_bytes();
    let mut seed = Seed::new(false);
    if dirty {
        seed.add_dirty(n, "dirty", FAR);
    } else {
        seed.add_clean(n, "clean");
    }
    let (rec, _) = seed.finish();
    let start = Stopwatch::now();
    // `recover` consumes the records: what is left allocated afterwards is the core's.
    let mut core = match Core::recover(base_config(), rec, Instant::from_millis(T0)) {
        Ok(core) => core,
        Err(e) => panic!("the benchmark's configuration is invalid: {e}"),
    };
    let recover = start.elapsed();
    let heap = live_bytes().saturating_sub(before);
    let start = Stopwatch::now();
    core.handle_input(Instant::from_millis(T0), Input::Timeout);
    let mut outputs = 0;
    while core.poll_output().is_some() {
        outputs += 1;
    }
    let first_timeout = start.elapsed();
    if outputs != 0 {
        eprintln!("  (the first Timeout after recovery emitted {outputs} outputs)");
    }
    (heap, recover, first_timeout)
}

/// Case 9: core heap per clean entry and per dirty entry with its journal record.
fn case_heap_per_entry(sz: &Sizes, t: &mut Table) {
    for (label, dirty) in [
        ("clean entry (1 chunk)", false),
        ("dirty entry + journal record", true),
    ] {
        let (heap, _, _) = recovered_heap(sz.heap_entries, dirty);
        t.row(
            format!(
                "9. core heap per {label} ({} entries, 13-byte keys)",
                n(sz.heap_entries)
            ),
            format!("{} B", f1(heap as f64 / sz.heap_entries as f64)),
        );
    }
}

/// Case 10: a very large cache: heap and recovery time.
fn case_huge_cache(sz: &Sizes, t: &mut Table) {
    let (heap, recover, first) = recovered_heap(sz.huge_entries, false);
    t.row(
        format!("10. {} cached clean entries", n(sz.huge_entries)),
        format!(
            "core heap {} MiB; Core::recover {} s (first Timeout after it: {} ms)",
            f1(heap as f64 / MIB as f64),
            f3(recover.as_secs_f64()),
            f1(us(first) / 1000.0)
        ),
    );
}

// ---- formatting helpers ------------------------------------------------------------------

fn to_usize(x: u64) -> usize {
    match usize::try_from(x) {
        Ok(v) => v,
        Err(_) => panic!("{x} does not fit in memory on this machine"),
    }
}

/// Copies the bytes of `src` (which starts at offset 0) that overlap `out` (which starts at
/// `offset`) into `out`.
fn copy_overlap(src: &[u8], offset: u64, out: &mut [u8]) {
    let start = to_usize(offset);
    if start < src.len() {
        let n = (src.len() - start).min(out.len());
        out[..n].copy_from_slice(&src[start..start + n]);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn mean(v: &[Duration]) -> Duration {
    let total: Duration = v.iter().sum();
    total / u32::try_from(v.len().max(1)).unwrap_or(u32::MAX)
}

fn f1(x: f64) -> String {
    format!("{x:.1}")
}

fn f3(x: f64) -> String {
    format!("{x:.3}")
}

/// `12345` as "12 345".
fn n(x: usize) -> String {
    let s = x.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn human_bytes(b: f64) -> String {
    let units = [("GiB", GIB), ("MiB", MIB), ("KiB", KIB)];
    for (unit, size) in units {
        if b >= size as f64 {
            return format!("{:.1} {unit}", b / size as f64);
        }
    }
    format!("{b:.0} B")
}

/// "2025-01-31 14:05 UTC", from the system clock (civil-from-days, proleptic Gregorian).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (hh, mm) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

/// "2 CPUs (model name)".
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    format!("nproc {cpus}, {model}")
}

const USAGE: &str = "usage: core_scale [--quick] [--case N]...\n\
    Measures silt-core's CPU time per request and heap per entry at scale.\n\
    --quick   small sizes (seconds; for the test script)\n\
    --case N  run only case N (repeatable; default: all)";

fn main() {
    let mut quick = false;
    let mut only: Vec<usize> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--case" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => only.push(n),
                None => {
                    eprintln!("--case needs a case number\n{USAGE}");
                    std::process::exit(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; the numbers mean something only with --release");
    }
    let sz = if quick { Sizes::quick() } else { Sizes::full() };
    let mode = if sz.quick { "quick" } else { "full" };
    let started = Stopwatch::now();
    let mut t = Table::default();
    let cases: [(&str, Case); 10] = [
        ("small file, growing cache", case_small_file),
        ("many files", case_many_files),
        ("uploads due", case_uploads_due),
        ("small request beside a big file", case_small_beside_big),
        ("index transactions per request", case_txn_ratio),
        ("periodic commit of a big file", case_big_commit),
        ("multipart upload", case_multipart),
        ("random writes", case_random_writes),
        ("heap per entry", case_heap_per_entry),
        ("huge cache", case_huge_cache),
    ];
    for (i, (name, case)) in cases.iter().enumerate() {
        if !only.is_empty() && !only.contains(&(i + 1)) {
            continue;
        }
        let t0 = Stopwatch::now();
        eprintln!("case {}: {name}", i + 1);
        case(&sz, &mut t);
        eprintln!("  ({:.1} s)", t0.elapsed().as_secs_f64());
    }
    println!(
        "silt-core scale benchmark, {}, {}, mode {mode} (run took {:.0} s; core time only, release build)\n",
        utc_now(),
        machine(),
        started.elapsed().as_secs_f64()
    );
    println!("| case | value |");
    println!("|---|---|");
    for (case, value) in &t.rows {
        println!("| {case} | {value} |");
    }
}
