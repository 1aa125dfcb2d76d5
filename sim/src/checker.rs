//! The checker: the simulator's invariants, as a type, and the checks that are pure functions
//! of the reference model, the core's view and the bucket.
//!
//! The invariants are those of `docs/simulator.md`, section "Invariants", with its numbering:
//!
//! | invariant | name                   | guards                                                   | exit code |
//! |-----------|------------------------|----------------------------------------------------------|-----------|
//! | 1         | acknowledged durable   | fsynced bytes reach the bucket or a conflict copy        | 11        |
//! | 2         | reads latest           | reads return the latest written bytes; at the end the cache serves the bucket | 12 |
//! | 3         | within budget          | cached bytes stay within the budget plus the allowance   | 13        |
//! | 4         | conditional writes     | no cache write replaces a version it was not based on    | 14        |
//! | 5         | liveness               | with faults stopped, everything completes                | 15        |
//! | 6         | recovery exact         | recovery rebuilds the index's records; idle, the persistent view equals the index | 16 |
//! | 7         | bookkeeping            | `Core::check_consistency` holds after every step         | 17        |
//!
//! Exit codes: `silt-sim` exits 0 when every seed ran clean, and otherwise with
//! [`Invariant::exit_code`] (`10 + number`) of the lowest-numbered invariant violated in the
//! whole run. Code 2 is a usage error; codes 11 to 17 are reserved for violations.
//!
//! Checks interleaved with event handling (the client's replies, the concurrent readers, the
//! object store's conditional writes) stay where the events are handled, and report through
//! `World::violation`; the checks that only compare state are here, and return
//! [`Finding`]s the world stamps with the simulated time.

use crate::disk::Disk;
use crate::model::Model;
use crate::options::Options;
use crate::s3::S3;
use silt_core::chunks::{chunk_range, chunks_overlapping, live_extent};
use silt_core::ranges::RangeSet;
use silt_core::{Core, EntryId, EntryRecord, ReadStats, Recovered};
use silt_index::MemoryIndex;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;

/// One invariant of `docs/simulator.md`; the discriminant is its number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// Every byte acknowledged by fsync is, after crashes and the final drain, in the bucket
    /// or in a conflict copy (the model's candidates per byte); an unlinked file is gone.
    AcknowledgedDurable = 1,
    /// Reads return the latest written bytes (after a crash, bytes not written since are held
    /// to the crash candidates), and what the cache serves at the end equals the bucket. The
    /// existence and size of files the cache reports while running are reads too.
    ReadsLatest = 2,
    /// Cached bytes stay within `max(budget, unevictable bytes) + allowance`.
    WithinBudget = 3,
    /// No write by the cache replaces a version other than the one its journal record was
    /// based on (for servers without conditions: unless the replaced version appeared after
    /// the cache's last HEAD of the key).
    ConditionalWrites = 4,
    /// With faults stopped, every queued upload and delete completes and every operation is
    /// answered; no operation fails for a reason the injected faults do not explain.
    Liveness = 5,
    /// After every recovery each entry the core rebuilt equals its index record, and when
    /// idle the core's whole persistent view equals the index.
    RecoveryExact = 6,
    /// The core's bookkeeping (`Core::check_consistency`, after every step) equals its
    /// recomputation from scratch.
    Bookkeeping = 7,
}

impl Invariant {
    /// Every invariant, by number.
    pub const ALL: [Invariant; 7] = [
        Invariant::AcknowledgedDurable,
        Invariant::ReadsLatest,
        Invariant::WithinBudget,
        Invariant::ConditionalWrites,
        Invariant::Liveness,
        Invariant::RecoveryExact,
        Invariant::Bookkeeping,
    ];

    /// Its number in `docs/simulator.md`.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::AcknowledgedDurable => "acknowledged durable",
            Invariant::ReadsLatest => "reads latest",
            Invariant::WithinBudget => "within budget",
            Invariant::ConditionalWrites => "conditional writes",
            Invariant::Liveness => "liveness",
            Invariant::RecoveryExact => "recovery exact",
            Invariant::Bookkeeping => "bookkeeping",
        }
    }

    /// The process exit code of a run whose lowest-numbered violated invariant is this one:
    /// `10 + number` (11 to 17).
    pub fn exit_code(self) -> u8 {
        10 + self.number()
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant {} ({})", self.number(), self.name())
    }
}

/// A violated invariant, found by a check that knows which one but not when.
pub type Finding = (Invariant, String);

/// One violation of an invariant in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant violated.
    pub invariant: Invariant,
    /// Simulated time, ms.
    pub at_ms: u64,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at {} ms: {}: {}",
            self.at_ms, self.invariant, self.detail
        )
    }
}

/// Invariant 3: the cached bytes against the budget plus the allowance (one write, and the
/// chunks of the fetches that may run at once and two more).
pub fn budget(opts: &Options, core: &Core) -> Option<Finding> {
    let c = &opts.core;
    let allowance = opts.write_max + c.chunk_size * (c.max_concurrent_fetches as u64 + 2);
    let limit = c.cache_budget.max(core.unevictable_bytes()) + allowance;
    let cached = core.cached_bytes();
    (cached > limit).then(|| {
        (
            Invariant::WithinBudget,
            format!(
                "{cached} bytes cached, over the budget {} plus allowance",
                c.cache_budget
            ),
        )
    })
}

/// Invariant 3 for memory: what the core holds in memory stays within its limit, but for one
/// fetch and one upload body let through when none is out (progress) and chunks held for
/// lack of disk space (never refused).
pub fn memory(opts: &Options, held: silt_core::MemoryUse) -> Option<Finding> {
    let c = &opts.core;
    // The body let through may be a part or a whole object sent with one PUT (a record that
    // resumes an older snapshot may be larger than the multipart threshold).
    let largest_file = opts.file_max.max(opts.write_max);
    let one_body = c.part_size_for(largest_file).max(largest_file);
    let allowance = c.chunk_size + one_body;
    let counted = held.total() - held.full_disk_chunks;
    (counted > c.memory_limit + allowance).then(|| {
        (
            Invariant::WithinBudget,
            format!(
                "{counted} bytes held in memory ({held:?}), over the limit {} plus allowance {allowance}",
                c.memory_limit
            ),
        )
    })
}

/// Invariant 7: the core's running figures against their recomputation.
pub fn bookkeeping(core: &Core) -> Option<Finding> {
    core.check_consistency()
        .err()
        .map(|why| (Invariant::Bookkeeping, why))
}

/// Invariant 7 for the figures the core reports (its metrics): counters never go backwards
/// while one core runs (`prev`: the last reading of this core).
pub fn counters_forward(prev: &ReadStats, now: &ReadStats) -> Option<Finding> {
    let back = now.from_buffers < prev.from_buffers || now.fetched_ahead < prev.fetched_ahead;
    back.then(|| {
        let detail = format!("a counter went backwards: {prev:?} then {now:?}");
        (Invariant::Bookkeeping, detail)
    })
}

/// Invariant 7 at quiescence: with everything uploaded (the model's files are in the bucket),
/// the core reports no dirty bytes. (Read buffers may stay: fetched bytes kept for the next
/// reader, within their own limit.)
pub fn quiet_figures(core: &Core) -> Option<Finding> {
    let dirty = core.dirty_bytes();
    (dirty != 0).then(|| {
        let detail = format!("idle with everything uploaded, yet {dirty} dirty bytes");
        (Invariant::Bookkeeping, detail)
    })
}

/// True when `SILT_SIM_STRICT_SPACE` is set: then [`cache_files`] also reports allocated
/// bytes the core held once and let go without punching them (see there).
fn strict_space() -> bool {
    static STRICT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("SILT_SIM_STRICT_SPACE").is_some())
}

/// The chunks `r` holds: its clean chunks and those holding dirty bytes, each with its bytes
/// below the local size (the core's `cached_bytes` counts exactly these; chunks wholly past
/// the size hold nothing).
fn held_chunks(r: &EntryRecord, cs: u64) -> BTreeSet<u64> {
    let clean = r.clean_chunks.iter().map(|c| c.index);
    let dirty = r
        .dirty
        .iter()
        .flat_map(|d| chunks_overlapping(&(d.offset..d.offset + d.len), cs));
    clean
        .chain(dirty)
        .filter(|&c| c * cs < r.local_size)
        .collect()
}

/// The bytes of the chunks `r` holds, below its size: sorted, disjoint, merged.
fn held_ranges(r: &EntryRecord, cs: u64) -> Vec<Range<u64>> {
    let clean = r.clean_chunks.iter().map(|c| chunk_range(c.index, cs));
    let dirty = r.dirty.iter().map(|d| {
        let c = chunks_overlapping(&(d.offset..d.offset + d.len), cs);
        c.start * cs..c.end * cs
    });
    let mut v: Vec<Range<u64>> = clean
        .chain(dirty)
        .map(|x| x.start..x.end.min(r.local_size))
        .filter(|x| x.start < x.end)
        .collect();
    v.sort_unstable_by_key(|x| x.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(v.len());
    for x in v {
        match out.last_mut() {
            Some(l) if l.end >= x.start => l.end = l.end.max(x.end),
            _ => out.push(x),
        }
    }
    out
}

/// `a` without the bytes of `b` (both sorted and disjoint).
fn minus_sorted(a: &[Range<u64>], b: &[Range<u64>]) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    let mut j = 0;
    for x in a {
        let mut at = x.start;
        while j < b.len() && b[j].end <= at {
            j += 1;
        }
        let mut k = j;
        while at < x.end {
            match b.get(k) {
                Some(y) if y.start < x.end => {
                    if y.start > at {
                        out.push(at..y.start);
                    }
                    at = at.max(y.end);
                    k += 1;
                }
                _ => {
                    out.push(at..x.end);
                    at = x.end;
                }
            }
        }
    }
    out
}

fn to_set(v: &[Range<u64>]) -> RangeSet {
    let mut s = RangeSet::new();
    for x in v {
        s.add(x.clone());
    }
    s
}

/// `a` without the bytes of `b`.
fn minus(a: &RangeSet, b: &RangeSet) -> RangeSet {
    let mut out = a.clone();
    for (r, _) in b.iter() {
        out.remove(r);
    }
    out
}

/// The ranges of `a` that `b` covers too.
fn intersect(a: &RangeSet, b: &RangeSet) -> RangeSet {
    minus(a, &minus(a, b))
}

fn describe_ranges(s: &RangeSet) -> String {
    let rs: Vec<Range<u64>> = s.iter().map(|(r, _)| r).take(4).collect();
    let more = if s.len() > 4 { ", ..." } else { "" };
    format!("{} bytes at {rs:?}{more}", s.covered_len())
}

/// What of an entry's record decides how its cache file must look: the last clean check of
/// a file is kept with it, and the check is not repeated while neither changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    local_size: u64,
    base: Option<silt_core::BaseVersion>,
    dirty: Vec<silt_core::DirtyExtent>,
    clean: Vec<silt_core::CleanChunk>,
}

impl Layout {
    fn matches(&self, r: &EntryRecord) -> bool {
        self.local_size == r.local_size
            && self.base == r.base
            && self.dirty == r.dirty
            && self.clean == r.clean_chunks
    }

    fn of(r: &EntryRecord) -> Layout {
        Layout {
            local_size: r.local_size,
            base: r.base.clone(),
            dirty: r.dirty.clone(),
            clean: r.clean_chunks.clone(),
        }
    }
}

/// The core's entry records, each asked for once per check.
#[derive(Default)]
struct Records(std::collections::BTreeMap<EntryId, Option<EntryRecord>>);

impl Records {
    fn get(&mut self, core: &Core, id: EntryId) -> Option<&EntryRecord> {
        self.0
            .entry(id)
            .or_insert_with(|| core.entry_record(id))
            .as_ref()
    }
}

/// The core's cached and dirty figures (its metrics) against the disk and the model, after
/// every step: [`cache_files`] and [`dirty_covers_model`] (whose docs say what and when).
pub fn cache_figures(
    core: &Core,
    disk: &mut Disk,
    model: &Model,
    s3: &S3,
    client_settled: bool,
) -> Vec<Finding> {
    let mut records = Records::default();
    let mut out = cache_files(core, disk, s3, &mut records);
    out.extend(dirty_covers_model(
        core,
        model,
        s3,
        disk,
        client_settled,
        &mut records,
    ));
    out
}

/// The core's figures against the cache files on the disk, counted from the disk's own
/// state (allocated bytes: written, not punched, zeroed or cut off). Checked for each file
/// whose entry is at rest ([`Core::entry_at_rest`]: no job, fetch or local operation of it
/// pending), since a record changes when a job completes, not with each of its operations:
///
/// - invariant 7: every allocated byte of the file lies in a chunk the core holds (clean or
///   with dirty bytes) below the entry's size: space the cache does not account for would
///   take it past its budget unseen. A file of an entry the core does not know holds
///   nothing. Exempt: the file's *residue* (allocated bytes no chunk accounted for at the
///   first check after the last crash: punches the crash undid, writes whose index commit it
///   lost; a byte leaves it once punched or held again) and, unless `SILT_SIM_STRICT_SPACE`
///   is set, bytes some chunk held at an earlier check or a failed write left (a known gap:
///   the core drops some chunks without punching them; docs/simulator.md);
/// - invariant 2: every clean chunk's live bytes on disk (holes read as zeros) equal the
///   entry's base version in the bucket, unless a crash or a failed write may have changed
///   them since they were last written (the core finds such a chunk by its CRC and treats it
///   as absent; seed 18789: an upload's success marks clean, with the CRC it sent, a chunk a
///   failed write has overwritten in part since);
/// - invariant 7: when every file's entry is at rest, the files' allocated bytes (but the
///   exempt ones) are at most `Core::cached_bytes`. (Not equal: the cache counts whole
///   chunks, and an extension's zeros are dirty bytes in holes.)
///
/// Always: `Core::dirty_bytes <= Core::cached_bytes`.
fn cache_files(core: &Core, disk: &mut Disk, s3: &S3, records: &mut Records) -> Vec<Finding> {
    let cs = core.config().chunk_size;
    let mut out = Vec::new();
    let (dirty, cached) = (core.dirty_bytes(), core.cached_bytes());
    if dirty > cached {
        out.push((
            Invariant::Bookkeeping,
            format!("{dirty} dirty bytes, more than the {cached} bytes cached"),
        ));
    }
    let ids: Vec<EntryId> = disk.files().map(|(id, _)| id).collect();
    let crashed = disk.take_crashed();
    let mut all_at_rest = true;
    let mut from_disk = 0u64;
    for id in ids {
        let r = records.get(core, id);
        let at_rest = core.entry_at_rest(id);
        // Unchanged since a clean check: the same again.
        let same = disk.file(id).and_then(|f| {
            let (version, last, n) = f.last_check()?;
            let layout_same = match (last, r) {
                (Some(l), Some(r)) => l.matches(r),
                (None, None) => true,
                _ => false,
            };
            (at_rest && !crashed && version == f.version() && layout_same).then_some(n)
        });
        if let Some(n) = same {
            from_disk += n;
            continue;
        }
        let found_before = out.len();
        let from_disk_before = from_disk;
        let held = r.map(|r| held_ranges(r, cs)).unwrap_or_default();
        let alloc = disk.file(id).map(|f| f.allocated()).unwrap_or_default();
        let unaccounted = minus_sorted(&alloc, &held);
        if crashed {
            disk.set_residue(id, to_set(&unaccounted));
        }
        disk.note_held(id, &held);
        if !at_rest {
            all_at_rest = false;
            continue;
        }
        let Some(file) = disk.file(id) else {
            continue;
        };
        let (residue, once_held) = (file.residue(), file.once_held());
        let allocated: u64 = alloc.iter().map(|x| x.end - x.start).sum();
        if unaccounted.is_empty() && residue.is_empty() {
            from_disk += allocated;
        } else {
            let unaccounted = to_set(&unaccounted);
            let mut exempt = intersect(&unaccounted, residue);
            let shrunk = (exempt != *residue).then(|| exempt.clone());
            if !strict_space() {
                for (r, _) in intersect(&unaccounted, once_held).iter() {
                    exempt.add(r);
                }
            }
            from_disk += allocated - exempt.covered_len();
            let leaked = minus(&unaccounted, &exempt);
            if !leaked.is_empty() {
                let whose = match r {
                    Some(r) => format!(
                        "entry {id} (size {}, holding chunks {:?})",
                        r.local_size,
                        held_chunks(r, cs)
                    ),
                    None => format!("entry {id}, which the core does not know,"),
                };
                out.push((
                    Invariant::Bookkeeping,
                    format!(
                        "the cache file of {whose} holds {} that no chunk of it accounts for",
                        describe_ranges(&leaked)
                    ),
                ));
            }
            if let Some(residue) = shrunk {
                disk.set_residue(id, residue);
            }
        }
        let Some(r) = r else {
            continue;
        };
        let Some(file) = disk.file(id) else {
            continue;
        };
        let suspect = file.suspect();
        let base = r.base.as_ref();
        let version = base.and_then(|b| s3.versions.get(&b.etag));
        for c in &r.clean_chunks {
            let live = live_extent(c.index, cs, base.map_or(0, |b| b.size), r.local_size);
            if live.is_empty() || suspect.intersects(live.clone()) {
                continue;
            }
            let Some(version) = version else {
                out.push((
                    Invariant::ReadsLatest,
                    format!(
                        "entry {id}: clean chunk {} of a base version the bucket never held ({base:?})",
                        c.index
                    ),
                ));
                continue;
            };
            // Holes read as zeros: a clean chunk may have some (an extension's zeros that an
            // upload made clean).
            let want = version.get(live.start as usize..(live.end as usize).min(version.len()));
            let at = match want {
                Some(w) if w.len() as u64 == live.end - live.start => file.differs(live.start, w),
                _ => Some(0),
            };
            if at.is_some() {
                out.push((
                    Invariant::ReadsLatest,
                    format!(
                        "entry {id}: clean chunk {} ({live:?}) on disk is not its base version {:?} (first differing byte at +{at:?})",
                        c.index,
                        base.map(|b| &b.etag),
                    ),
                ));
            }
        }
        if out.len() == found_before {
            disk.set_last_check(id, Some(Layout::of(r)), from_disk - from_disk_before);
        }
    }
    if all_at_rest && from_disk > cached {
        out.push((
            Invariant::Bookkeeping,
            format!(
                "{cached} bytes cached, but the cache files hold {from_disk} allocated bytes (besides what a crash left)"
            ),
        ));
    }
    out
}

/// True when a crash may leave byte `i` of `f` as `v` (one of its crash candidates).
fn may_be(f: &crate::model::MFile, i: usize, v: u8) -> bool {
    f.cands
        .get(i)
        .is_some_and(|s| s[usize::from(v / 64)] & (1 << (v % 64)) != 0)
}

/// The model's content of every key it knows exactly, against the core's entries, the
/// bucket and the disk; only while the client has no request in flight that changes a file
/// or the namespace (`client_settled`: the model moves with the replies) and for entries at
/// rest (a conflict copy's zeros become dirty when they land):
///
/// - invariant 1: every byte in which the content differs from the entry's base version (the
///   bucket's bytes its clean bytes come from; every byte when it has none) is dirty, or
///   nothing would ever upload it; a byte observed after a crash and not written since may
///   instead hold any of its crash candidates (an upload that landed before the crash may
///   bring one back). So `Core::dirty_bytes` is at least the number of bytes that must be
///   dirty (invariant 7). A key with no entry is in the bucket as the model has it.
/// - invariant 2: the entry's size is the model's, and its cache file holds the content at
///   its dirty bytes.
fn dirty_covers_model(
    core: &Core,
    model: &Model,
    s3: &S3,
    disk: &Disk,
    client_settled: bool,
    records: &mut Records,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if !client_settled {
        return out;
    }
    let mut differing = 0u64;
    for (key, f) in &model.files {
        if f.disturbed || f.lost || f.exists != Some(true) {
            continue;
        }
        let Some(now) = &f.now else {
            continue;
        };
        let Some((id, _)) = core.lookup(key) else {
            let remote = s3.objects.get(key).map(|o| &o.data[..]);
            if remote != Some(&now[..]) {
                out.push((
                    Invariant::AcknowledgedDurable,
                    format!(
                        "{key:?}: the cache has no entry for it, and the bucket holds {:?} bytes, not the model's {}",
                        remote.map(|r| r.len()),
                        now.len()
                    ),
                ));
            }
            continue;
        };
        let Some(r) = records.get(core, id) else {
            continue;
        };
        if r.local_size != now.len() as u64 {
            out.push((
                Invariant::ReadsLatest,
                format!(
                    "{key:?}: entry {id} has size {}, the model {}",
                    r.local_size,
                    now.len()
                ),
            ));
            continue;
        }
        let base: &[u8] = match &r.base {
            Some(b) => match s3.versions.get(&b.etag) {
                Some(v) => v,
                None => continue,
            },
            None => &[],
        };
        if !core.entry_at_rest(id) {
            // A job's operations are in flight: the record changes when it completes (a
            // conflict copy's zeros become dirty when they land).
            continue;
        }
        let len = now.len();
        let base_of = |a: usize, b: usize| base.get(a.min(base.len())..b.min(base.len()));
        // Bytes of `a..b` in which the content differs from the base (past its end: all).
        let differ = |a: usize, b: usize| {
            let want = base_of(a, b).unwrap_or(&[]);
            let n = now[a..b].iter().zip(want).filter(|(x, y)| x != y).count();
            n + (b - a - want.len())
        };
        let mut lost = RangeSet::new();
        let mut at = 0usize;
        let ends = r.dirty.iter().map(|d| {
            let lo = (d.offset as usize).min(len);
            (lo, ((d.offset + d.len) as usize).min(len))
        });
        for (lo, hi) in ends.chain([(len, len)]) {
            // A gap between dirty extents: the content equals the base there.
            if at < lo && base_of(at, lo) != Some(&now[at..lo]) {
                let mut run = None;
                let bytes = now[at..lo].iter().map(Some).chain([None]);
                for (i, v) in (at..).zip(bytes) {
                    // A byte observed after a crash and not written since may be any of its
                    // crash candidates: an upload that landed before the crash may bring one
                    // back (the model's `loose` bytes).
                    let differs = v.is_some_and(|v| {
                        let b = base.get(i);
                        b != Some(v)
                            && !(f.loose.get(i).copied().unwrap_or(false)
                                && b.is_some_and(|&b| may_be(f, i, b)))
                    });
                    differing += u64::from(differs);
                    match (differs, run) {
                        (true, None) => run = Some(i),
                        (false, Some(s)) => {
                            lost.add(s as u64..i as u64);
                            run = None;
                        }
                        _ => {}
                    }
                }
            }
            differing += differ(lo, hi) as u64;
            at = at.max(hi);
        }
        if !lost.is_empty() {
            out.push((
                Invariant::AcknowledgedDurable,
                format!(
                    "{key:?}: entry {id} differs from its base version ({:?}) in {} that are not dirty",
                    r.base.as_ref().map(|b| &b.etag),
                    describe_ranges(&lost)
                ),
            ));
        }
        let Some(file) = disk.file(id) else {
            if !r.dirty.is_empty() {
                out.push((
                    Invariant::ReadsLatest,
                    format!("{key:?}: entry {id} has dirty bytes but no cache file"),
                ));
            }
            continue;
        };
        for d in &r.dirty {
            let range = d.offset.min(len as u64)..(d.offset + d.len).min(len as u64);
            let want = &now[range.start as usize..range.end as usize];
            if let Some(at) = file.differs(range.start, want) {
                out.push((
                    Invariant::ReadsLatest,
                    format!(
                        "{key:?}: the cache file of entry {id} differs from the latest write in dirty bytes {range:?} (first at +{at:?})"
                    ),
                ));
                break;
            }
        }
    }
    let dirty = core.dirty_bytes();
    if dirty < differing {
        out.push((
            Invariant::Bookkeeping,
            format!("{dirty} dirty bytes, fewer than the {differing} in which the files differ from their base versions"),
        ));
    }
    out
}

/// Invariant 6 after a recovery: each entry the core rebuilt from `recovered` equals its
/// record there.
pub fn recovered_entries(recovered: &Recovered, core: &Core) -> Vec<Finding> {
    recovered
        .entries
        .iter()
        .filter(|r| r.key.is_some() && core.entry_record(r.id).as_ref() != Some(r))
        .map(|want| {
            let got = core.entry_record(want.id);
            (
                Invariant::RecoveryExact,
                format!(
                    "entry {} differs from the index after recovery: index {want:?}, core {got:?}",
                    want.id
                ),
            )
        })
        .collect()
}

/// Invariant 1 for modification times: a time set and answered, not replaced by a later
/// write, is the metadata (`x-amz-meta-mtime`) of the object in the bucket at the end.
pub fn final_mtimes(model: &Model, s3: &S3) -> Vec<Finding> {
    model
        .files
        .iter()
        .filter(|(_, f)| !f.disturbed && !f.lost && f.exists == Some(true))
        .filter_map(|(key, f)| {
            let want = f.mtime?;
            let got = s3.objects.get(key).map(|o| o.mtime_ms);
            (got != Some(Some(want))).then(|| {
                (
                    Invariant::AcknowledgedDurable,
                    format!("{key:?}: mtime {want} was set and answered; the bucket has {got:?}"),
                )
            })
        })
        .collect()
}

/// Invariant 1 (and 4's outcome) at the end: the bucket holds what the model says, key by
/// key.
pub fn final_bucket(model: &Model, s3: &S3) -> Vec<Finding> {
    model
        .files
        .iter()
        .filter_map(|(key, f)| {
            let remote = s3.objects.get(key).map(|o| o.data.clone());
            f.check_final(remote.as_deref())
                .map(|c| (Invariant::AcknowledgedDurable, format!("{key:?}: {c}")))
        })
        .collect()
}

/// Invariant 1 for directories: a directory made (`Mkdir` answered) and not removed has its
/// marker object in the bucket at the end; one removed (`Rmdir` answered) has none.
pub fn final_markers(model: &Model, s3: &S3) -> Vec<Finding> {
    model
        .dirs
        .iter()
        .filter_map(|(dir, d)| {
            let there = s3.objects.contains_key(format!("{dir}/").as_str());
            match d.exists {
                Some(true) if !there => Some("made, but its marker is not in the bucket"),
                Some(false) if there => Some("removed, but its marker is still in the bucket"),
                _ => None,
            }
            .map(|c| {
                (
                    Invariant::AcknowledgedDurable,
                    format!("directory {dir:?}: {c}"),
                )
            })
        })
        .collect()
}

/// Invariant 2 at the end: what the cache served for `key` (`None`: it could not be read)
/// equals the bucket's `remote`.
pub fn served_equals_bucket(key: &str, served: Option<&[u8]>, remote: &[u8]) -> Option<Finding> {
    let detail = match served {
        Some(d) if d == remote => return None,
        Some(d) => {
            let first = d.iter().zip(remote).position(|(a, b)| a != b);
            let last = d.iter().zip(remote).rposition(|(a, b)| a != b);
            format!(
                "{key:?}: the cache serves {} bytes that differ from the bucket's {} (bytes {first:?}..={last:?})",
                d.len(),
                remote.len()
            )
        }
        None => format!("{key:?}: could not be read back through the cache"),
    };
    Some((Invariant::ReadsLatest, detail))
}

/// Invariant 6 when idle: nothing left to persist, and the core's persistent view equals the
/// index.
pub fn persistent_view(core: &Core, index: &MemoryIndex) -> Option<Finding> {
    if !core.is_persisted() {
        return Some((
            Invariant::RecoveryExact,
            "the core still has state to persist when idle".into(),
        ));
    }
    index
        .inspect(|index| {
            let view = core.persistent_view();
            (view != *index).then(|| first_difference(&view, index))
        })
        .map(|diff| {
            (
                Invariant::RecoveryExact,
                format!("the index differs from the core's state when idle: {diff}"),
            )
        })
}

/// The first part in which `core` and `index` differ.
fn first_difference(core: &Recovered, index: &Recovered) -> String {
    if core.meta != index.meta {
        return format!("meta: core {:?}, index {:?}", core.meta, index.meta);
    }
    for (a, b) in core.entries.iter().zip(&index.entries) {
        if a != b {
            return format!("entry: core {a:?}, index {b:?}");
        }
    }
    if core.entries.len() != index.entries.len() {
        let ids = |r: &Recovered| r.entries.iter().map(|e| e.id).collect::<Vec<_>>();
        return format!("entries: core {:?}, index {:?}", ids(core), ids(index));
    }
    if core.journal != index.journal {
        return format!(
            "journal: core {:?}, index {:?}",
            core.journal, index.journal
        );
    }
    format!(
        "conflicts: core {:?}, index {:?}",
        core.conflicts, index.conflicts
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minus_sorted_removes_every_covered_byte() {
        let a = [0..10, 20..30, 40..50];
        let b = [2..3, 5..22, 25..26, 29..45, 60..70];
        assert_eq!(
            minus_sorted(&a, &b),
            vec![0..2, 3..5, 22..25, 26..29, 45..50]
        );
        assert_eq!(minus_sorted(&a, &[]), a.to_vec());
        assert!(minus_sorted(&a, &[0..60, 60..100]).is_empty());
    }

    #[test]
    fn numbers_follow_the_docs() {
        for (i, inv) in Invariant::ALL.iter().enumerate() {
            assert_eq!(usize::from(inv.number()), i + 1);
        }
    }

    #[test]
    fn exit_codes_are_distinct_and_documented() {
        let codes: Vec<u8> = Invariant::ALL.iter().map(|i| i.exit_code()).collect();
        assert_eq!(codes, [11, 12, 13, 14, 15, 16, 17]);
        for (i, a) in codes.iter().enumerate() {
            // Distinct, non-zero, and apart from the usage error (2) and FAILURE (1).
            assert!(*a > 2);
            assert!(!codes[i + 1..].contains(a));
        }
        for inv in Invariant::ALL {
            assert_eq!(inv.exit_code(), 10 + inv.number());
        }
    }

    #[test]
    fn display_names_the_number() {
        assert_eq!(Invariant::Liveness.to_string(), "invariant 5 (liveness)");
        let v = Violation {
            invariant: Invariant::WithinBudget,
            at_ms: 42,
            detail: "too much".into(),
        };
        assert_eq!(
            v.to_string(),
            "at 42 ms: invariant 3 (within budget): too much"
        );
    }
}
