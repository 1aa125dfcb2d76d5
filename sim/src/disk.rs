//! The simulated cache disk: one file per entry, a capacity, and fsync semantics. Every file
//! keeps its durable content and holes (as of its last fsync) apart from the operations since;
//! a crash keeps, loses or tears each of those operations (per 512-byte sector for writes), in
//! the manner of FoundationDB's AsyncFileNonDurable. Only unsynced operations are ever damaged.
//!
//! Allocation is byte-exact: a write allocates its bytes, a zeroing or a punch makes a hole,
//! and extending a file (by a write past its end or by setting its length) leaves a hole, as
//! on a sparse file system. The checker compares it with the bytes the core accounts for
//! (`checker::cache_files`); for that each file also keeps what a crash may have damaged
//! (`suspect`) and the allocated bytes a crash left unaccounted for (`residue`).

use crate::checker::Layout;
use bytes::Bytes;
use silt_core::ranges::RangeSet;
use silt_core::{EntryId, LocalError, LocalOk, LocalOp, Rng};
use std::collections::BTreeMap;
use std::ops::Range;

const SECTOR: u64 = 512;

#[derive(Clone, Debug)]
enum Change {
    Write(u64, Bytes),
    Zero(u64, u64),
    SetLen(u64),
}

impl Change {
    /// The bytes it sets to values the core chose: what it writes or zeroes, and everything
    /// past a new length. (Bytes an extension adds read as zeros, but the core did not ask for
    /// them: after a crash the file may be shorter than the core's index says.)
    fn sets(&self) -> Range<u64> {
        match self {
            Change::Write(off, data) => *off..off + data.len() as u64,
            Change::Zero(off, n) => *off..off + n,
            Change::SetLen(n) => *n..u64::MAX,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct File {
    durable: Vec<u8>,
    /// Bytes that are holes in `durable`.
    durable_holes: RangeSet,
    current: Vec<u8>,
    /// Bytes that are holes (not allocated) in `current`.
    holes: RangeSet,
    log: Vec<Change>,
    /// Bytes that may differ from what the core's index says of them: after a crash, every
    /// byte (an operation fsynced whose index commit the crash lost is as likely as one
    /// lost), and the bytes a failed write left, until written, zeroed or cut off again.
    suspect: RangeSet,
    /// Allocated bytes that no chunk of the core's accounted for after the last crash (set by
    /// the checker), until they are punched or belong to a chunk again.
    residue: RangeSet,
    /// Bytes some chunk of the core's held at a check (noted by the checker), and bytes a
    /// failed write left: where the core may leave allocated bytes it no longer accounts for
    /// (see `checker::cache_files`).
    once_held: RangeSet,
    /// Counts the changes to the file (operations and crashes).
    version: u64,
    /// The file's version, the layout its entry had, and the allocated bytes it counted at
    /// its last check that found nothing (`checker::cache_files`).
    last_check: Option<(u64, Option<Layout>, u64)>,
}

impl File {
    fn allocated(&self) -> u64 {
        let len = self.current.len() as u64;
        len - self
            .holes
            .overlapping(0..len)
            .iter()
            .map(|(r, _)| r.end - r.start)
            .sum::<u64>()
    }

    /// Applies `c` to the current content and logs it until the next fsync.
    fn change(&mut self, c: Change) {
        self.version += 1;
        self.suspect.remove(c.sets());
        apply_with_holes(&mut self.current, &mut self.holes, &c);
        self.log.push(c);
    }
}

/// Applies `c` to `buf` and to its holes: written bytes are allocated, zeroed bytes become
/// holes, and so do the bytes a file is extended by.
fn apply_with_holes(buf: &mut Vec<u8>, holes: &mut RangeSet, c: &Change) {
    let len = buf.len() as u64;
    match c {
        Change::Write(off, data) => {
            if *off > len {
                holes.add(len..*off);
            }
            holes.remove(*off..off + data.len() as u64);
        }
        Change::Zero(off, n) => {
            if *off > len {
                holes.add(len..*off);
            }
            holes.add(*off..off + n);
        }
        Change::SetLen(n) => {
            if *n > len {
                holes.add(len..*n);
            }
            holes.truncate(*n);
        }
    }
    apply(buf, c);
}

fn apply(buf: &mut Vec<u8>, c: &Change) {
    match c {
        Change::Write(off, data) => {
            let end = *off as usize + data.len();
            if buf.len() < end {
                buf.resize(end, 0);
            }
            buf[*off as usize..end].copy_from_slice(data);
        }
        Change::Zero(off, len) => {
            let end = (*off + *len) as usize;
            if buf.len() < end {
                buf.resize(end, 0);
            }
            buf[*off as usize..end].fill(0);
        }
        Change::SetLen(n) => buf.resize(*n as usize, 0),
    }
}

/// The simulated disk.
#[derive(Debug, Default)]
pub struct Disk {
    files: BTreeMap<EntryId, File>,
    /// Capacity in bytes.
    pub capacity: u64,
    /// Fail writes with ENOSPC beyond capacity.
    pub enospc: bool,
    /// A crash happened since the checker last asked ([`Disk::take_crashed`]).
    crashed: bool,
}

impl Disk {
    /// A disk of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        Disk {
            files: BTreeMap::new(),
            capacity,
            enospc: true,
            crashed: false,
        }
    }

    /// Allocated bytes.
    pub fn used(&self) -> u64 {
        self.files.values().map(File::allocated).sum()
    }

    /// Performs `op` (a sync only when it completes: see [`Disk::sync`]).
    pub fn perform(&mut self, op: &LocalOp, rng: &mut Rng) -> Result<LocalOk, LocalError> {
        match op {
            LocalOp::Write {
                entry,
                offset,
                data,
            } => {
                let used = self.used();
                let f = self.files.entry(*entry).or_default();
                let end = offset + data.len() as u64;
                let len = f.current.len() as u64;
                let fresh = end.saturating_sub(len)
                    + f.holes
                        .overlapping(*offset..end.min(len))
                        .iter()
                        .map(|(r, _)| r.end - r.start)
                        .sum::<u64>();
                if self.enospc && used + fresh > self.capacity {
                    // A short write: some prefix may land.
                    let n = rng.below(data.len() as u64 / 2 + 1);
                    if n > 0 {
                        f.change(Change::Write(*offset, data.slice(..n as usize)));
                        f.once_held.add(*offset..offset + n);
                        // The core knows only that the write failed: what is there now is
                        // not what it last wrote (it checks such bytes by their CRC).
                        f.suspect.add(*offset..offset + n);
                    }
                    return Err(LocalError::NoSpace);
                }
                f.change(Change::Write(*offset, data.clone()));
                Ok(LocalOk::Done)
            }
            LocalOp::Read { entry, offset, len } => {
                let f = self.files.entry(*entry).or_default();
                let mut out = vec![0u8; *len as usize];
                let have = f.current.len() as u64;
                if *offset < have {
                    let end = (offset + len).min(have);
                    out[..(end - offset) as usize]
                        .copy_from_slice(&f.current[*offset as usize..end as usize]);
                }
                Ok(LocalOk::Data(Bytes::from(out)))
            }
            LocalOp::Zero { entry, offset, len } | LocalOp::Punch { entry, offset, len } => {
                let f = self.files.entry(*entry).or_default();
                f.change(Change::Zero(*offset, *len));
                Ok(LocalOk::Done)
            }
            LocalOp::SetLen { entry, size } => {
                let f = self.files.entry(*entry).or_default();
                f.change(Change::SetLen(*size));
                Ok(LocalOk::Done)
            }
            LocalOp::Sync { .. } => Ok(LocalOk::Done),
            LocalOp::Remove { entry } => {
                self.files.remove(entry);
                Ok(LocalOk::Done)
            }
        }
    }

    /// An fsync completed: everything written to the file so far is durable.
    pub fn sync(&mut self, entry: EntryId) {
        if let Some(f) = self.files.get_mut(&entry) {
            f.durable = f.current.clone();
            f.durable_holes = f.holes.clone();
            f.log.clear();
        }
    }

    /// A crash: each file keeps, loses or tears its unsynced operations (and the holes they
    /// made or filled with them); every byte becomes suspect.
    pub fn crash(&mut self, rng: &mut Rng) {
        self.crashed = true;
        for f in self.files.values_mut() {
            let mode = rng.below(3);
            let mut buf = f.durable.clone();
            let mut holes = f.durable_holes.clone();
            f.suspect.add(0..u64::MAX);
            f.version += 1;
            for c in &f.log {
                match (mode, c) {
                    (0, _) => {}
                    (1, c) => apply_with_holes(&mut buf, &mut holes, c),
                    (_, Change::Write(off, data)) => {
                        if rng.below(2) == 0 {
                            continue;
                        }
                        let mut s = 0u64;
                        while s < data.len() as u64 {
                            let e = ((off + s) / SECTOR + 1) * SECTOR - off;
                            let e = e.min(data.len() as u64);
                            if rng.below(2) == 0 {
                                apply_with_holes(
                                    &mut buf,
                                    &mut holes,
                                    &Change::Write(off + s, data.slice(s as usize..e as usize)),
                                );
                            }
                            s = e;
                        }
                    }
                    (_, c) => {
                        if rng.below(2) == 0 {
                            apply_with_holes(&mut buf, &mut holes, c);
                        }
                    }
                }
            }
            f.durable = buf.clone();
            f.current = buf;
            f.durable_holes = holes.clone();
            f.holes = holes;
            f.log.clear();
        }
    }

    /// True once after each crash: the checker then records the residue of every file.
    pub fn take_crashed(&mut self) -> bool {
        std::mem::take(&mut self.crashed)
    }

    /// The cache files, by entry.
    pub fn files(&self) -> impl Iterator<Item = (EntryId, CacheFile<'_>)> {
        self.files.iter().map(|(id, f)| (*id, CacheFile(f)))
    }

    /// The cache file of `entry`, if it exists.
    pub fn file(&self, entry: EntryId) -> Option<CacheFile<'_>> {
        self.files.get(&entry).map(CacheFile)
    }

    /// Sets the residue of `entry`'s file (see [`CacheFile::residue`]).
    pub fn set_residue(&mut self, entry: EntryId, residue: RangeSet) {
        if let Some(f) = self.files.get_mut(&entry) {
            f.residue = residue;
        }
    }

    /// Records a check of `entry`'s file that found nothing (see [`CacheFile::last_check`]).
    pub fn set_last_check(&mut self, entry: EntryId, layout: Option<Layout>, allocated: u64) {
        if let Some(f) = self.files.get_mut(&entry) {
            f.last_check = Some((f.version, layout, allocated));
        }
    }

    /// Notes that the core holds `held` of `entry`'s file now (see [`CacheFile::once_held`]).
    pub fn note_held(&mut self, entry: EntryId, held: &[Range<u64>]) {
        if let Some(f) = self.files.get_mut(&entry) {
            for r in held {
                if !f.once_held.covers(r.clone()) {
                    f.once_held.add(r.clone());
                }
            }
        }
    }
}

/// What the checker reads of one cache file: its current state, as a read would see it.
#[derive(Clone, Copy)]
pub struct CacheFile<'a>(&'a File);

impl<'a> CacheFile<'a> {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.0.current.len() as u64
    }

    /// True when the file has no byte.
    pub fn is_empty(&self) -> bool {
        self.0.current.is_empty()
    }

    /// The allocated bytes (every byte below the length that is not a hole), in order.
    pub fn allocated(&self) -> Vec<Range<u64>> {
        let mut a = Vec::new();
        let mut at = 0;
        for (r, _) in self.0.holes.iter() {
            if r.start >= self.len() {
                break;
            }
            if at < r.start {
                a.push(at..r.start);
            }
            at = r.end;
        }
        if at < self.len() {
            a.push(at..self.len());
        }
        a
    }

    /// The bytes of `range` (zeros past the end).
    pub fn bytes(&self, range: Range<u64>) -> Vec<u8> {
        let mut out = vec![0u8; (range.end - range.start) as usize];
        let end = range.end.min(self.len());
        if range.start < end {
            out[..(end - range.start) as usize]
                .copy_from_slice(&self.0.current[range.start as usize..end as usize]);
        }
        out
    }

    /// Counts the changes to the file.
    pub fn version(&self) -> u64 {
        self.0.version
    }

    /// The file's version, its entry's layout and the allocated bytes counted at its last
    /// check that found nothing.
    pub fn last_check(&self) -> Option<(u64, &'a Option<Layout>, u64)> {
        self.0.last_check.as_ref().map(|(v, l, n)| (*v, l, *n))
    }

    /// The first byte at which the file from `offset` on differs from `want` (zeros past the
    /// end), if any.
    pub fn differs(&self, offset: u64, want: &[u8]) -> Option<usize> {
        let cur = &self.0.current;
        let start = (offset as usize).min(cur.len());
        let end = (offset as usize + want.len()).min(cur.len());
        let have = &cur[start..end];
        if have == &want[..have.len()] && want[have.len()..].iter().all(|&b| b == 0) {
            return None;
        }
        let zeros = std::iter::repeat(&0u8);
        have.iter().chain(zeros).zip(want).position(|(a, b)| a != b)
    }

    /// Bytes that may differ from what the core's index says: every byte after a crash, and
    /// the bytes a failed write left, until written, zeroed or cut off.
    pub fn suspect(&self) -> &'a RangeSet {
        &self.0.suspect
    }

    /// Allocated bytes no chunk of the core accounted for just after the last crash, as far
    /// as they still are (the checker shrinks it).
    pub fn residue(&self) -> &'a RangeSet {
        &self.0.residue
    }

    /// Bytes a chunk of the core's held at some check since the file was made, and bytes a
    /// failed write left.
    pub fn once_held(&self) -> &'a RangeSet {
        &self.0.once_held
    }
}
