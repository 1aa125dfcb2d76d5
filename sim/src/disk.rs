//! The simulated cache disk: one file per entry, a capacity, and fsync semantics. Every file
//! keeps its durable content (as of its last fsync) apart from the operations since; a crash
//! keeps, loses or tears each of those operations (per 512-byte sector for writes), in the
//! manner of FoundationDB's AsyncFileNonDurable. Only unsynced operations are ever damaged.

use bytes::Bytes;
use silt_core::ranges::RangeSet;
use silt_core::{EntryId, LocalError, LocalOk, LocalOp, Rng};
use std::collections::BTreeMap;

const SECTOR: u64 = 512;

#[derive(Clone, Debug)]
enum Change {
    Write(u64, Bytes),
    Zero(u64, u64),
    SetLen(u64),
}

#[derive(Clone, Debug, Default)]
struct File {
    durable: Vec<u8>,
    current: Vec<u8>,
    /// Bytes that are holes (not allocated) in `current`.
    holes: RangeSet,
    log: Vec<Change>,
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
}

impl Disk {
    /// A disk of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        Disk {
            files: BTreeMap::new(),
            capacity,
            enospc: true,
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
                        let c = Change::Write(*offset, data.slice(..n as usize));
                        apply(&mut f.current, &c);
                        f.holes.remove(*offset..offset + n);
                        f.log.push(c);
                    }
                    return Err(LocalError::NoSpace);
                }
                let c = Change::Write(*offset, data.clone());
                apply(&mut f.current, &c);
                f.holes.remove(*offset..end);
                f.log.push(c);
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
                let c = Change::Zero(*offset, *len);
                apply(&mut f.current, &c);
                f.holes.add(*offset..offset + len);
                f.log.push(c);
                Ok(LocalOk::Done)
            }
            LocalOp::SetLen { entry, size } => {
                let f = self.files.entry(*entry).or_default();
                let old = f.current.len() as u64;
                let c = Change::SetLen(*size);
                apply(&mut f.current, &c);
                if *size > old {
                    f.holes.add(old..*size);
                }
                f.holes.truncate(*size);
                f.log.push(c);
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
            f.log.clear();
        }
    }

    /// A crash: each file keeps, loses or tears its unsynced operations.
    pub fn crash(&mut self, rng: &mut Rng) {
        for f in self.files.values_mut() {
            let mode = rng.below(3);
            let mut buf = f.durable.clone();
            for c in &f.log {
                match (mode, c) {
                    (0, _) => {}
                    (1, c) => apply(&mut buf, c),
                    (_, Change::Write(off, data)) => {
                        if rng.below(2) == 0 {
                            continue;
                        }
                        let mut s = 0u64;
                        while s < data.len() as u64 {
                            let e = ((off + s) / SECTOR + 1) * SECTOR - off;
                            let e = e.min(data.len() as u64);
                            if rng.below(2) == 0 {
                                apply(
                                    &mut buf,
                                    &Change::Write(off + s, data.slice(s as usize..e as usize)),
                                );
                            }
                            s = e;
                        }
                    }
                    (_, c) => {
                        if rng.below(2) == 0 {
                            apply(&mut buf, c);
                        }
                    }
                }
            }
            f.durable = buf.clone();
            f.current = buf;
            f.log.clear();
            f.holes = RangeSet::new();
        }
    }
}
