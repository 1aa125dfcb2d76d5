//! # read_path: what silt-core's read path costs, and how it schedules reads
//!
//! Drives [`silt_core::Core`] through its public API with an in-memory world on a virtual
//! clock (milliseconds, as the core's [`Instant`]):
//! - cache files are byte vectors keyed by entry id; a [`LocalOp`] is executed when the core
//!   emits it and completes at the current virtual time; index transactions complete `Ok`;
//! - the bucket holds objects of deterministic pseudo-random bytes (so the CRCs mean
//!   something); a ranged GET honours `If-Match` and completes at once or, in case 3, at issue
//!   time + 20 ms + len / (100 MB/s), rounded up to the millisecond (each GET is its own
//!   stream: GETs in flight do not share bandwidth); every other remote operation (HEAD,
//!   multipart create / part / complete) completes at once.
//!
//! Pending completions are ordered by (virtual time, emission order); the executor advances
//! the clock to the next one and feeds it back, or feeds `Input::Timeout` when
//! [`Core::poll_timeout`] falls before it. Only the core's own work is timed: `handle_input`,
//! draining `poll_output`, and the one `poll_timeout` a driver needs afterwards; the
//! executor's (copying and checking bytes) is not. Every read reply is compared with the
//! object's bytes, and an error reply, a failed remote answer or an unexpected event panics:
//! the benchmark never measures an error path. "Read from the cache file" is the sum of the
//! lengths of the `LocalOp::Read`s the core ordered.
//!
//! A cached clean file is made the way a mount makes one: opened, read once from the bucket
//! (128 KiB at a time), and persisted by the periodic commit. The cases:
//! 1. 128 KiB sequential reads of that file: a pass right after the fill, then the core is
//!    restarted ([`Core::recover`] from its own [`Core::persistent_view`], cache files kept)
//!    and two passes follow (the first after the restart, then the steady state); with the
//!    core's table CRC32C and with the hardware one a production driver supplies;
//! 2. then 4 KiB reads at random 4 KiB-aligned offsets (xorshift, fixed seed);
//! 3. a cold sequential read of an object never read before, the reader keeping 1, 8 or 32
//!    sequential 128 KiB reads outstanding (the next offset issued as each completes);
//! 4. 8 reads at 8 different offsets submitted at once, local completions held back: how many
//!    cache-file reads the core has out on the entry before any completes;
//! 5. a 4 KiB read issued once the multipart upload of the same (dirty) file has its first
//!    part read out: how many bytes of upload part reads it waits behind.
//!
//! ```text
//! cargo run --release -p silt-core --example read_path            # full sizes, < 1 minute
//! cargo run --release -p silt-core --example read_path -- --quick # small sizes, seconds
//! ```
//!
//! The output is one Markdown table, `| case | value |`, after a header line with the date,
//! the machine and the mode; progress goes to stderr.

use bytes::Bytes;
use silt_core::crc32c::Checksum;
use silt_core::{
    Core, CoreConfig, EntryId, Event, HandleId, Input, Instant, IoId, LocalError, LocalOk, LocalOp,
    ObjectInfo, Output, Precondition, RemoteError, RemoteId, RemoteOk, RemoteOp, Reply, Request,
    RequestId,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant as Stopwatch, SystemTime, UNIX_EPOCH};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
/// The virtual clock's start (production drivers use Unix milliseconds).
const T0: u64 = 1_700_000_000_000;
/// Case 3's server: first-byte latency, and bytes per millisecond (100 MB/s).
const GET_LATENCY_MS: u64 = 20;
const GET_BYTES_PER_MS: u64 = 100_000;

/// Sizes: the cached file (cases 1, 2, 4), random reads (case 2), the cold object (case 3),
/// the dirty file (case 5).
struct Sizes {
    quick: bool,
    cached: u64,
    random_reads: usize,
    cold: u64,
    dirty: u64,
}

/// `len` deterministic pseudo-random bytes.
fn content(seed: u64, len: u64) -> Bytes {
    let mut rng = XorShift::new(seed);
    let mut v = Vec::with_capacity(to_usize(len) + 8);
    while (v.len() as u64) < len {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(to_usize(len));
    Bytes::from(v)
}

/// xorshift64.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

// ---- the bucket --------------------------------------------------------------------------

#[derive(Default)]
struct Bucket {
    /// key -> (etag, bytes).
    objects: HashMap<String, (String, Bytes)>,
    /// upload id -> parts.
    uploads: HashMap<String, BTreeMap<u32, Bytes>>,
    next: u64,
}

impl Bucket {
    fn put(&mut self, key: &str, data: Bytes) -> String {
        self.next += 1;
        let etag = format!("\"e{}\"", self.next);
        self.objects.insert(key.to_string(), (etag.clone(), data));
        etag
    }

    fn answer(&mut self, op: &RemoteOp) -> Result<RemoteOk, RemoteError> {
        match op {
            RemoteOp::Head { key } => {
                Ok(RemoteOk::Head(self.objects.get(key).map(|o| ObjectInfo {
                    etag: o.0.clone(),
                    size: o.1.len() as u64,
                    mtime_ms: 0,
                    token: None,
                })))
            }
            RemoteOp::Get {
                key,
                range,
                if_match,
            } => {
                let (etag, data) = self.objects.get(key).ok_or(RemoteError::NotFound)?;
                if etag != if_match {
                    return Err(RemoteError::PreconditionFailed);
                }
                let end = to_usize(range.end).min(data.len());
                Ok(RemoteOk::Got {
                    data: data.slice(to_usize(range.start).min(end)..end),
                    etag: etag.clone(),
                    object_size: data.len() as u64,
                })
            }
            RemoteOp::CreateMultipart { .. } => {
                let upload_id = format!("u{}", self.uploads.len() + 1);
                self.uploads.insert(upload_id.clone(), BTreeMap::new());
                Ok(RemoteOk::Created { upload_id })
            }
            RemoteOp::UploadPart {
                upload_id,
                part,
                data,
                ..
            } => {
                let u = self.uploads.get_mut(upload_id);
                u.ok_or(RemoteError::NoSuchUpload)?
                    .insert(*part, data.clone());
                let etag = format!("\"p{part}\"");
                Ok(RemoteOk::Part { etag })
            }
            RemoteOp::Complete {
                key,
                upload_id,
                parts,
                precondition,
            } => {
                let holds = match (precondition, self.objects.get(key)) {
                    (None, _) | (Some(Precondition::IfNoneMatch), None) => true,
                    (Some(Precondition::IfMatch(e)), Some(o)) => &o.0 == e,
                    _ => false,
                };
                if !holds {
                    return Err(RemoteError::PreconditionFailed);
                }
                let stored = self.uploads.remove(upload_id);
                let stored = stored.ok_or(RemoteError::NoSuchUpload)?;
                let mut body = Vec::new();
                for (n, _) in parts {
                    let p = stored.get(n);
                    body.extend_from_slice(p.ok_or(RemoteError::NoSuchUpload)?);
                }
                let etag = self.put(key, Bytes::from(body));
                Ok(RemoteOk::Stored { etag })
            }
            other => Err(RemoteError::Permanent(format!(
                "the benchmark's bucket does not serve {other:?}"
            ))),
        }
    }
}

// ---- the world ---------------------------------------------------------------------------

/// Counters, and what is in flight.
#[derive(Default)]
struct Stats {
    local_read_bytes: u64,
    gets: u64,
    get_bytes: u64,
    /// Distinct (key, start) of the GETs.
    get_ranges: HashSet<(String, u64)>,
    max_gets_in_flight: usize,
    gets_out: HashSet<RemoteId>,
    /// `LocalOp::Read`s in flight, and per entry their number now and at most.
    reads_out: HashMap<IoId, (EntryId, u64)>,
    /// Bytes of `LocalOp::Read`s completed so far.
    read_bytes_done: u64,
    reads_now: HashMap<EntryId, usize>,
    reads_max: HashMap<EntryId, usize>,
    uploaded: u64,
}

/// A reply, the `LocalOp::Read` whose completion produced it (if one did), and how many reads
/// had been emitted when it came.
struct Answer {
    reply: Reply,
    trigger: Option<IoId>,
    reads_mark: usize,
}

struct World {
    core: Core,
    /// Virtual clock, ms.
    now: u64,
    /// Time spent inside the core so far.
    core_time: Duration,
    files: HashMap<EntryId, Vec<u8>>,
    bucket: Bucket,
    /// Case 3's server model for GETs (off: GETs complete at once).
    slow_gets: bool,
    /// Completions by (virtual ms, emission order).
    queue: BTreeMap<(u64, u64), Input>,
    seq: u64,
    /// Virtual time up to which `Timeout`s are fed when nothing else is pending.
    chase_until: u64,
    /// While set, local completions are held back instead of queued.
    hold_local: bool,
    held: Vec<Input>,
    /// Every `LocalOp::Read` emitted, in order: (io, entry, len, bytes of reads completed
    /// when it was emitted).
    reads: Vec<(IoId, EntryId, u64, u64)>,
    stats: Stats,
    expect: HashMap<RequestId, Bytes>,
    answers: HashMap<RequestId, Answer>,
    next_req: u64,
    outs: Vec<Output>,
}

impl World {
    fn new(cfg: CoreConfig, objects: &[(&str, Bytes)]) -> World {
        let mut bucket = Bucket::default();
        for (key, data) in objects {
            bucket.put(key, data.clone());
        }
        World {
            core: recover(cfg, Default::default(), T0),
            now: T0,
            core_time: Duration::ZERO,
            files: HashMap::new(),
            bucket,
            slow_gets: false,
            queue: BTreeMap::new(),
            seq: 0,
            chase_until: 0,
            hold_local: false,
            held: Vec::new(),
            reads: Vec::new(),
            stats: Stats::default(),
            expect: HashMap::new(),
            answers: HashMap::new(),
            next_req: 1,
            outs: Vec::new(),
        }
    }

    /// One input, timed: `handle_input`, draining the outputs, and `poll_timeout`; then the
    /// outputs are executed (untimed).
    fn feed(&mut self, input: Input) {
        let mut trigger = None;
        match &input {
            Input::Local(io, _) => {
                if let Some((e, len)) = self.stats.reads_out.remove(io) {
                    *self.stats.reads_now.entry(e).or_default() -= 1;
                    self.stats.read_bytes_done += len;
                    trigger = Some(*io);
                }
            }
            Input::Remote(id, _) => {
                self.stats.gets_out.remove(id);
            }
            _ => {}
        }
        let mut outs = std::mem::take(&mut self.outs);
        let start = Stopwatch::now();
        self.core
            .handle_input(Instant::from_millis(self.now), input);
        while let Some(out) = self.core.poll_output() {
            outs.push(out);
        }
        std::hint::black_box(self.core.poll_timeout());
        self.core_time += start.elapsed();
        for out in outs.drain(..) {
            self.exec(out, trigger);
        }
        self.outs = outs;
    }

    fn schedule(&mut self, at: u64, input: Input) {
        self.seq += 1;
        self.queue.insert((at, self.seq), input);
    }

    fn exec(&mut self, out: Output, trigger: Option<IoId>) {
        match out {
            Output::Local(io, op) => {
                if let LocalOp::Read { entry, len, .. } = op {
                    let s = &mut self.stats;
                    s.local_read_bytes += len;
                    self.reads.push((io, entry, len, s.read_bytes_done));
                    s.reads_out.insert(io, (entry, len));
                    let n = s.reads_now.entry(entry).or_default();
                    *n += 1;
                    let max = s.reads_max.entry(entry).or_default();
                    *max = (*max).max(*n);
                }
                let done = Input::Local(io, self.exec_local(op));
                if self.hold_local {
                    self.held.push(done);
                } else {
                    self.schedule(self.now, done);
                }
            }
            Output::Index(id, _txn) => self.schedule(self.now, Input::Index(id, Ok(()))),
            Output::Remote(id, op) => {
                let r = self.bucket.answer(&op);
                if let Err(e) = &r {
                    panic!("the bucket answered {op:?} with {e:?}: the benchmark would measure an error path");
                }
                let mut at = self.now;
                if let RemoteOp::Get { key, range, .. } = &op {
                    let (s, len) = (&mut self.stats, range.end - range.start);
                    s.gets += 1;
                    s.get_bytes += len;
                    s.get_ranges.insert((key.clone(), range.start));
                    s.gets_out.insert(id);
                    s.max_gets_in_flight = s.max_gets_in_flight.max(s.gets_out.len());
                    if self.slow_gets {
                        at += GET_LATENCY_MS + len.div_ceil(GET_BYTES_PER_MS);
                    }
                }
                self.schedule(at, Input::Remote(id, r));
            }
            Output::Reply(req, r) => {
                let reply = r.unwrap_or_else(|e| panic!("request {req:?} failed: {e}"));
                if let Some(want) = self.expect.remove(&req) {
                    if !matches!(&reply, Reply::Data(got) if *got == want) {
                        panic!(
                            "read {req:?} did not answer the object's {} bytes",
                            want.len()
                        );
                    }
                }
                let (reads_mark, reply) = (self.reads.len(), reply);
                let a = Answer {
                    reply,
                    trigger,
                    reads_mark,
                };
                self.answers.insert(req, a);
            }
            Output::Event(Event::Uploaded { .. }) => self.stats.uploaded += 1,
            Output::Event(e) => {
                panic!("unexpected event {e:?}: the benchmark would measure an error path")
            }
        }
    }

    fn exec_local(&mut self, op: LocalOp) -> Result<LocalOk, LocalError> {
        match op {
            LocalOp::Read { entry, offset, len } => {
                let mut out = vec![0u8; to_usize(len)];
                if let Some(f) = self.files.get(&entry) {
                    let start = to_usize(offset).min(f.len());
                    let n = (f.len() - start).min(out.len());
                    out[..n].copy_from_slice(&f[start..start + n]);
                }
                return Ok(LocalOk::Data(Bytes::from(out)));
            }
            LocalOp::Write {
                entry,
                offset,
                data,
            } => {
                let f = self.files.entry(entry).or_default();
                let (start, end) = (to_usize(offset), to_usize(offset) + data.len());
                f.resize(f.len().max(end), 0);
                f[start..end].copy_from_slice(&data);
            }
            LocalOp::Zero { entry, offset, len } | LocalOp::Punch { entry, offset, len } => {
                let f = self.files.entry(entry).or_default();
                let end = to_usize(offset + len);
                f.resize(f.len().max(end), 0);
                f[to_usize(offset)..end].fill(0);
            }
            LocalOp::SetLen { entry, size } => {
                let f = self.files.entry(entry).or_default();
                f.resize(to_usize(size), 0);
            }
            LocalOp::Sync { .. } => {}
            LocalOp::Remove { entry } => {
                self.files.remove(&entry);
            }
        }
        Ok(LocalOk::Done)
    }

    /// Feeds the next completion, or the `Timeout` due before it. False when nothing is
    /// pending: the core's timers are chased only up to `chase_until` when the world is idle.
    fn step(&mut self) -> bool {
        let at = match self.queue.first_key_value() {
            Some((&(at, _), _)) => at,
            None => self.chase_until,
        };
        match self.core.poll_timeout().map(Instant::as_millis) {
            Some(due) if due > self.now && due <= at => {
                self.now = due;
                self.feed(Input::Timeout);
            }
            _ => match self.queue.pop_first() {
                Some(((at, _), input)) => {
                    self.now = self.now.max(at);
                    self.feed(input);
                }
                None => return false,
            },
        }
        true
    }

    fn run_idle(&mut self) {
        while self.step() {}
    }

    /// Moves the clock `ms` on, sends `Timeout` and runs everything it started.
    fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.feed(Input::Timeout);
        self.run_idle();
    }

    /// Sends a request; a read's reply is checked against `expect`.
    fn submit(&mut self, req: Request, expect: Option<Bytes>) -> RequestId {
        let id = RequestId(self.next_req);
        self.next_req += 1;
        if let Some(want) = expect {
            self.expect.insert(id, want);
        }
        self.feed(Input::Request(id, req));
        id
    }

    /// Runs until `id` is answered.
    fn wait(&mut self, id: RequestId) -> Answer {
        loop {
            if let Some(a) = self.answers.remove(&id) {
                return a;
            }
            if !self.step() {
                let p = self.core.pending();
                panic!("request {id:?} was not answered once everything completed; pending: {p:?}");
            }
        }
    }

    fn open(&mut self, key: &str, create: bool) -> HandleId {
        let key = key.to_string();
        let id = self.submit(
            Request::Open {
                key,
                flags: silt_core::OpenFlags::create_if(create),
            },
            None,
        );
        match self.wait(id).reply {
            Reply::Opened { handle, .. } => handle,
            other => panic!("open answered {other:?}"),
        }
    }

    /// Reads `len` bytes at `offset` and checks them against `data`.
    fn read(&mut self, handle: HandleId, data: &Bytes, offset: u64, len: u64) -> RequestId {
        let want = data.slice(to_usize(offset)..to_usize((offset + len).min(data.len() as u64)));
        let req = Request::Read {
            handle,
            offset,
            len,
        };
        self.submit(req, Some(want))
    }

    fn entry(&self, key: &str) -> EntryId {
        let found = self.core.lookup(key).map(|(id, _)| id);
        found.unwrap_or_else(|| panic!("{key} is not cached"))
    }

    /// The core time `f` took.
    fn measure(&mut self, f: impl FnOnce(&mut World)) -> Duration {
        let before = self.core_time;
        f(self);
        self.core_time - before
    }
}

fn recover(cfg: CoreConfig, rec: silt_core::Recovered, now: u64) -> Core {
    Core::recover(cfg, rec, Instant::from_millis(now))
        .unwrap_or_else(|e| panic!("the benchmark's configuration is invalid: {e}"))
}

// ---- the cases ---------------------------------------------------------------------------

/// The result table.
#[derive(Default)]
struct Table(Vec<(String, String)>);

impl Table {
    fn row(&mut self, case: String, value: String) {
        eprintln!("  {case}: {value}");
        self.0.push((case, value));
    }
}

fn hardware() -> Checksum {
    let hw = Checksum(::crc32c::crc32c_append);
    let check = b"123456789";
    assert_eq!(hw.of(check), Checksum::default().of(check), "not CRC32C");
    hw
}

fn config(checksum: Checksum) -> CoreConfig {
    CoreConfig {
        checksum,
        ..CoreConfig::default()
    }
}

/// A world with `data` cached clean at `key`: opened, read once from the bucket, 128 KiB at a
/// time, then persisted by the periodic commit.
fn cached_world(cfg: CoreConfig, key: &str, data: &Bytes) -> (World, HandleId) {
    let mut w = World::new(cfg, &[(key, data.clone())]);
    let h = w.open(key, false);
    for offset in (0..data.len() as u64).step_by(to_usize(128 * KIB)) {
        let id = w.read(h, data, offset, 128 * KIB);
        w.wait(id);
    }
    w.advance(millis(w.core.config().commit_interval) + 1);
    let (cached, dirty) = (w.core.cached_bytes(), w.core.dirty_bytes());
    if cached < data.len() as u64 || dirty != 0 || !w.core.is_persisted() {
        panic!("{key} is not cached clean and persisted after a full read: {cached} cached, {dirty} dirty");
    }
    w.stats = Stats::default();
    (w, h)
}

/// Restarts the core from its own persistent view (the cache files stay) and reopens `key`:
/// nothing is in memory any more.
fn restart(w: &mut World, key: &str) -> HandleId {
    let cfg = w.core.config().clone();
    w.core = recover(cfg, w.core.persistent_view(), w.now);
    w.advance(0);
    w.open(key, false)
}

/// Sequential reads of all of `data`, `len` at a time: (core time, cache-file bytes read).
fn sequential_pass(w: &mut World, h: HandleId, data: &Bytes, len: u64) -> (Duration, u64) {
    let before = w.stats.local_read_bytes;
    let took = w.measure(|w| {
        for offset in (0..data.len() as u64).step_by(to_usize(len)) {
            let id = w.read(h, data, offset, len);
            w.wait(id);
        }
    });
    (took, w.stats.local_read_bytes - before)
}

/// Cases 1 and 2, with one checksum.
fn case_cached(sz: &Sizes, t: &mut Table, crc_name: &str, checksum: Checksum) {
    let size = sz.cached;
    let data = content(1, size);
    let (mut w, mut h) = cached_world(config(checksum), "cached", &data);
    let len = 128 * KIB;
    for pass in [
        "pass right after the fill",
        "first pass after a restart",
        "second pass after a restart",
    ] {
        if pass.starts_with("first") {
            h = restart(&mut w, "cached");
        }
        let (took, read) = sequential_pass(&mut w, h, &data, len);
        let requests = size.div_ceil(len) as f64;
        t.row(
            format!(
                "1. cached 128 KiB sequential reads, {} MiB clean file, {crc_name}, {pass}",
                size / MIB
            ),
            format!(
                "{:.1} µs/request, {:.0} MB/s of core time, {:.2} bytes read from the cache file per byte asked",
                us(took) / requests,
                size as f64 / took.as_secs_f64().max(1e-9) / 1e6,
                read as f64 / size as f64
            ),
        );
    }
    let mut rng = XorShift::new(2);
    let before = w.stats.local_read_bytes;
    let took = w.measure(|w| {
        for _ in 0..sz.random_reads {
            let offset = rng.next() % (size / (4 * KIB)) * 4 * KIB;
            let id = w.read(h, &data, offset, 4 * KIB);
            w.wait(id);
        }
    });
    let n = sz.random_reads as f64;
    t.row(
        format!(
            "2. cached 4 KiB random reads, {} MiB clean file, {crc_name} ({} reads, after the passes)",
            size / MIB,
            sz.random_reads
        ),
        format!(
            "{:.1} µs/request, {:.0} bytes read from the cache file per request, {:.0} requests/s of core time",
            us(took) / n,
            (w.stats.local_read_bytes - before) as f64 / n,
            n / took.as_secs_f64().max(1e-9)
        ),
    );
}

/// Case 3: a cold sequential read at queue depth `qd`, against the slow server.
fn case_cold(t: &mut Table, data: &Bytes, qd: usize) {
    let (size, len) = (data.len() as u64, 128 * KIB);
    let mut w = World::new(config(hardware()), &[("cold", data.clone())]);
    w.slow_gets = true;
    let h = w.open("cold", false);
    w.stats = Stats::default();
    let (t0, core0) = (w.now, w.core_time);
    let (mut next, mut end, mut requests) = (0, t0, 0u64);
    let mut out: Vec<RequestId> = Vec::new();
    loop {
        while next < size && out.len() < qd {
            out.push(w.read(h, data, next, len));
            next += len;
            requests += 1;
        }
        let before = out.len();
        out.retain(|id| w.answers.remove(id).is_none());
        if out.len() < before {
            end = w.now;
        } else if out.is_empty() {
            break;
        } else if !w.step() {
            panic!("the cold read stalled; pending: {:?}", w.core.pending());
        }
    }
    let took = w.core_time - core0;
    let secs = (end - t0) as f64 / 1000.0;
    let s = &w.stats;
    t.row(
        format!(
            "3. cold sequential 128 KiB reads of a {} MiB object, queue depth {qd} (GET: 20 ms + len / 100 MB/s; hardware CRC)",
            size / MIB
        ),
        format!(
            "{:.1} MiB/s (virtual: {secs:.3} s); {} GETs ({:.1} MiB; {} distinct ranges), max {} in flight; {:.1} MiB read back from the cache file; {:.1} µs core/request",
            size as f64 / MIB as f64 / secs.max(1e-9),
            s.gets,
            s.get_bytes as f64 / MIB as f64,
            s.get_ranges.len(),
            s.max_gets_in_flight,
            s.local_read_bytes as f64 / MIB as f64,
            us(took) / requests as f64
        ),
    );
}

/// Case 4: 8 reads of the cached file at once, through one handle or eight.
fn case_burst(sz: &Sizes, t: &mut Table) {
    let (size, len) = (sz.cached, 128 * KIB);
    let data = content(1, size);
    let (mut w, _) = cached_world(config(Checksum::default()), "burst", &data);
    // The steady state of a cached file: after a restart (nothing in memory) and a full pass.
    let h = restart(&mut w, "burst");
    sequential_pass(&mut w, h, &data, len);
    let entry = w.entry("burst");
    let eight: Vec<HandleId> = (0..8)
        .map(|i| if i == 0 { h } else { w.open("burst", false) })
        .collect();
    for (label, handles) in [("one handle", &eight[..1]), ("8 handles", &eight[..])] {
        w.stats = Stats::default();
        w.hold_local = true;
        // 8 different chunks: strides of an eighth of the file, 128 KiB past each start.
        let ids: Vec<RequestId> = (0..8u64)
            .map(|i| {
                w.read(
                    handles[to_usize(i) % handles.len()],
                    &data,
                    i * (size / 8) + len,
                    len,
                )
            })
            .collect();
        let before_any = w.stats.reads_now.get(&entry).copied().unwrap_or(0);
        let held_bytes = w.stats.local_read_bytes;
        w.hold_local = false;
        for input in std::mem::take(&mut w.held) {
            w.schedule(w.now, input);
        }
        for id in ids {
            w.wait(id);
        }
        let max = w.stats.reads_max.get(&entry).copied().unwrap_or(0);
        t.row(
            format!("4. 8 reads of 128 KiB at 8 offsets of a cached file (steady state) submitted at once, {label}"),
            format!(
                "{before_any} LocalOp::Read in flight before any completes ({} KiB); at most {max} at once over the run; {} KiB read from the cache file in all",
                held_bytes / KIB,
                w.stats.local_read_bytes / KIB
            ),
        );
    }
}

/// Case 5: a 4 KiB read issued during the multipart upload of the same dirty file.
fn case_read_during_upload(sz: &Sizes, t: &mut Table) {
    let size = sz.dirty;
    let data = content(5, size);
    let mut w = World::new(config(Checksum::default()), &[]);
    let h = w.open("dirty", true);
    for offset in (0..size).step_by(to_usize(MIB)) {
        let chunk = data.slice(to_usize(offset)..to_usize((offset + MIB).min(size)));
        let req = Request::Write {
            handle: h,
            offset,
            data: chunk,
        };
        let id = w.submit(req, None);
        w.wait(id);
    }
    let id = w.submit(Request::Fsync { handle: h }, None);
    w.wait(id);
    w.run_idle();
    let entry = w.entry("dirty");
    let first = w.reads.len();
    // Past the write-back delay, until the upload's first read of the file is out (following
    // the core's timers for up to a virtual minute).
    w.chase_until = w.now + millis(w.core.config().write_back_delay) + 60_000;
    while !w.reads[first..].iter().any(|r| r.1 == entry) {
        if !w.step() {
            panic!("the upload never read the file: {:?}", w.core.pending());
        }
    }
    w.chase_until = 0;
    // What the read waits behind: the part reads that complete between its arrival and the
    // emission of its own cache-file read.
    let done_at_submit = w.stats.read_bytes_done;
    let in_flight = w.stats.reads_out.len();
    let id = w.read(h, &data, size / 2 + 4 * KIB, 4 * KIB);
    let a = w.wait(id);
    let own = a
        .trigger
        .and_then(|io| w.reads[first..a.reads_mark].iter().find(|r| r.0 == io))
        .copied();
    let behind_bytes = own.map_or(0, |r| r.3 - done_at_submit);
    let own_text = match own {
        Some(r) => format!("its own LocalOp::Read: {} KiB", r.2 / KIB),
        None => "no LocalOp::Read of its own".to_string(),
    };
    w.run_idle();
    if w.stats.uploaded != 1 || w.bucket.objects.get("dirty").map(|o| &o.1) != Some(&data) {
        panic!("the upload did not land intact: {:?}", w.core.pending());
    }
    t.row(
        format!(
            "5. 4 KiB read issued once the multipart upload of a {} MiB dirty file has its first part read out",
            size / MIB
        ),
        format!(
            "waited behind {:.1} MiB of upload part reads ({in_flight} in flight when it came); {own_text}",
            behind_bytes as f64 / MIB as f64,
        ),
    );
}

// ---- helpers -----------------------------------------------------------------------------

fn to_usize(x: u64) -> usize {
    usize::try_from(x).unwrap_or_else(|_| panic!("{x} does not fit in memory on this machine"))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
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

/// "nproc 2, model name".
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("model name"))?;
            Some(line.split(':').nth(1)?.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    format!("nproc {cpus}, {model}")
}

const USAGE: &str = "usage: read_path [--quick]\n\
    Measures silt-core's read path: cached, random, cold, concurrent, during an upload.\n\
    --quick   small sizes (seconds; for the test script)";

fn main() {
    let mut quick = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            "-h" | "--help" => return println!("{USAGE}"),
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; the numbers mean something only with --release");
    }
    let sz = Sizes {
        quick,
        cached: if quick { 16 * MIB } else { 64 * MIB },
        random_reads: if quick { 1_000 } else { 10_000 },
        cold: if quick { 32 * MIB } else { 256 * MIB },
        dirty: 64 * MIB,
    };
    let started = Stopwatch::now();
    let mut t = Table::default();
    let step = |name: &str| eprintln!("{name} ({:.1} s)", started.elapsed().as_secs_f64());
    step("cases 1 and 2: cached reads, table CRC");
    case_cached(&sz, &mut t, "table CRC", Checksum::default());
    step("cases 1 and 2: cached reads, hardware CRC");
    case_cached(&sz, &mut t, "hardware CRC", hardware());
    step("case 3: cold sequential reads");
    let cold = content(3, sz.cold);
    for qd in [1, 8, 32] {
        case_cold(&mut t, &cold, qd);
    }
    step("case 4: 8 reads at once");
    case_burst(&sz, &mut t);
    step("case 5: a read during a multipart upload");
    case_read_during_upload(&sz, &mut t);
    let mode = if sz.quick { "quick" } else { "full" };
    println!(
        "silt-core read-path benchmark, {}, {}, mode {mode} (run took {:.0} s; core time only, release build)\n",
        utc_now(),
        machine(),
        started.elapsed().as_secs_f64()
    );
    // By case number; rows of one case keep their order.
    t.0.sort_by_key(|(case, _)| case.split('.').next().and_then(|n| n.parse::<u32>().ok()));
    println!("| case | value |");
    println!("|---|---|");
    for (case, value) in &t.0 {
        println!("| {case} | {value} |");
    }
}
