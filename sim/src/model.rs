//! The reference model: one definition of correctness, outside the system under test.
//!
//! Per key it keeps what a read must return now (`now`, exact, unknown after a crash until
//! observed) and, per byte, every value a crash may leave (`cands`): the value at the last
//! acknowledged fsync plus every value written since (and zero where the file was extended or
//! shrunk). An fsync acknowledgement collapses the candidates to the current content: that is
//! the durability promise. Keys touched by an outside writer are *disturbed* (their reads and
//! final remote content are not checked until the cache follows the new version); keys the
//! model cannot follow (a crash during a rename) are *lost* and left alone.

use std::collections::{BTreeMap, BTreeSet};

type ByteSet = [u64; 4];

fn single(v: u8) -> ByteSet {
    let mut s = [0; 4];
    s[(v / 64) as usize] |= 1 << (v % 64);
    s
}

fn has(s: &ByteSet, v: u8) -> bool {
    s[(v / 64) as usize] & (1 << (v % 64)) != 0
}

fn add(s: &mut ByteSet, v: u8) {
    s[(v / 64) as usize] |= 1 << (v % 64);
}

/// The model of one file.
#[derive(Clone, Debug)]
pub struct MFile {
    /// Exact content, when known.
    pub now: Option<Vec<u8>>,
    /// Bytes of `now` known only to lie within their crash candidates: observed after a
    /// crash and not written since. The contract promises them no more than that (a version
    /// uploaded before the crash may bring back a value written then).
    pub(crate) loose: Vec<bool>,
    pub(crate) cands: Vec<ByteSet>,
    pub(crate) sizes: BTreeSet<u64>,
    /// Exists now, if known.
    pub exists: Option<bool>,
    /// After a crash it may exist / may be absent.
    pub may_exist: bool,
    /// See `may_exist`.
    pub may_be_absent: bool,
    /// An outside writer changed the remote object.
    pub disturbed: bool,
    /// The model cannot follow this key any more.
    pub lost: bool,
    /// An outside writer touched the key at some point: a crash may bring back the cache's
    /// older view of it (an invalidation that was not yet committed).
    pub ever_disturbed: bool,
    /// `now` was forgotten because a write or truncate failed (it may have landed in part),
    /// not because of a crash: the next observation learns the content but keeps every size
    /// a crash may still bring back.
    pub relearning: bool,
    /// The modification time the file must show, when the last change sent to it was a
    /// `SetMtime` that was answered (durable: a crash keeps it); `None` when unknown (a
    /// write or truncate sent since sets the time to its own, which the model does not
    /// follow).
    pub mtime: Option<u64>,
}

impl MFile {
    /// A file with known, durable content.
    pub fn existing(data: &[u8]) -> Self {
        MFile {
            now: Some(data.to_vec()),
            loose: vec![false; data.len()],
            cands: data.iter().map(|&v| single(v)).collect(),
            sizes: [data.len() as u64].into(),
            exists: Some(true),
            may_exist: true,
            may_be_absent: false,
            disturbed: false,
            lost: false,
            ever_disturbed: false,
            relearning: false,
            mtime: None,
        }
    }

    /// A file that does not exist (durably).
    pub fn absent() -> Self {
        MFile {
            now: None,
            loose: Vec::new(),
            cands: Vec::new(),
            sizes: BTreeSet::new(),
            exists: Some(false),
            may_exist: false,
            may_be_absent: true,
            disturbed: false,
            lost: false,
            ever_disturbed: false,
            relearning: false,
            mtime: None,
        }
    }

    /// A lost file.
    pub fn lost() -> Self {
        MFile {
            lost: true,
            ..MFile::absent()
        }
    }

    fn grow(&mut self, n: u64) {
        if (self.cands.len() as u64) < n {
            self.cands.resize(n as usize, [0; 4]);
        }
    }

    fn add_zero(&mut self, from: u64, to: u64) {
        self.grow(to);
        for i in from..to {
            add(&mut self.cands[i as usize], 0);
        }
    }

    fn min_size(&self) -> u64 {
        let now = self.now.as_ref().map(|n| n.len() as u64);
        self.sizes.iter().copied().chain(now).min().unwrap_or(0)
    }

    fn max_size(&self) -> u64 {
        let now = self.now.as_ref().map(|n| n.len() as u64);
        self.sizes.iter().copied().chain(now).max().unwrap_or(0)
    }

    /// `create` answered: a new empty file, not yet durable.
    pub fn created(&mut self) {
        if self.exists != Some(true) {
            self.now = Some(Vec::new());
            self.exists = Some(true);
            self.may_exist = true;
            self.sizes.insert(0);
        }
    }

    /// An unlink was sent.
    pub fn unlink_sent(&mut self) {
        self.may_be_absent = true;
    }

    /// An unlink was answered: durably gone.
    pub fn unlink_done(&mut self) {
        *self = MFile {
            disturbed: self.disturbed,
            ..MFile::absent()
        };
    }

    /// An open with create was sent.
    pub fn create_sent(&mut self) {
        self.may_exist = true;
        self.sizes.insert(0);
    }

    /// An open after a crash found the file (`true`) or not.
    pub fn observe_exists(&mut self, found: bool) -> Option<String> {
        if self.lost || self.disturbed {
            self.exists = Some(found);
            return None;
        }
        let ok = if found {
            self.may_exist
        } else {
            self.may_be_absent
        };
        self.exists = Some(found);
        self.may_exist = found;
        self.may_be_absent = !found;
        if !found {
            self.now = None;
            self.cands.clear();
            self.sizes.clear();
        }
        (!ok).then(|| {
            format!(
                "file {} after a crash, which no acknowledged history allows",
                if found { "exists" } else { "is missing" }
            )
        })
    }

    /// A write was sent (it may land even if never answered).
    pub fn write_sent(&mut self, off: u64, data: &[u8]) {
        self.mtime = None;
        let end = off + data.len() as u64;
        let lo = self.min_size().min(off);
        self.add_zero(lo, end);
        for (i, &v) in data.iter().enumerate() {
            add(&mut self.cands[off as usize + i], v);
        }
        let sizes: Vec<u64> = self
            .sizes
            .iter()
            .copied()
            .chain(self.now.as_ref().map(|n| n.len() as u64))
            .collect();
        for s in sizes {
            self.sizes.insert(s.max(end));
            // A write past the end first extends the file; if the write then fails, the
            // extension stays.
            self.sizes.insert(s.max(off));
        }
    }

    /// A write was answered.
    pub fn write_done(&mut self, off: u64, data: &[u8]) {
        if let Some(now) = self.now.as_mut() {
            let end = off as usize + data.len();
            if now.len() < end {
                now.resize(end, 0);
            }
            now[off as usize..end].copy_from_slice(data);
            self.loose.resize(now.len(), false);
            self.loose[off as usize..end].fill(false);
        }
    }

    /// A truncate was sent.
    pub fn truncate_sent(&mut self, n: u64) {
        self.mtime = None;
        let (lo, hi) = (self.min_size().min(n), self.max_size().max(n));
        self.add_zero(lo, hi);
        self.sizes.insert(n);
    }

    /// A truncate was answered.
    pub fn truncate_done(&mut self, n: u64) {
        if let Some(now) = self.now.as_mut() {
            now.resize(n as usize, 0);
            self.loose.resize(n as usize, false);
        }
    }

    /// An fsync was acknowledged: the current content is what survives.
    pub fn fsync_done(&mut self) {
        if let Some(now) = &self.now {
            self.cands.resize(now.len(), [0; 4]);
            self.cands.truncate(now.len());
            for (i, &v) in now.iter().enumerate() {
                if self.loose.get(i).copied().unwrap_or(false) {
                    add(&mut self.cands[i], v);
                } else {
                    self.cands[i] = single(v);
                }
            }
            self.sizes = [now.len() as u64].into();
            self.may_be_absent = false;
            self.may_exist = true;
        }
    }

    /// A crash: the current content becomes unknown.
    pub fn crash(&mut self) {
        self.now = None;
        self.relearning = false;
        self.loose.clear();
        self.disturbed |= self.ever_disturbed;
        self.exists = match (self.may_exist, self.may_be_absent) {
            (true, true) => None,
            (e, _) => Some(e),
        };
    }

    /// Checks `data` read at `off` against the model; returns a complaint.
    pub fn check_read(&mut self, off: u64, data: &[u8]) -> Option<String> {
        if self.disturbed || self.lost {
            return None;
        }
        if let Some(now) = self.now.as_mut() {
            // Loose bytes: any crash candidate will do; remember what was seen.
            let mut seen = now.clone();
            for (i, &v) in data.iter().enumerate() {
                let b = off as usize + i;
                if self.loose.get(b).copied().unwrap_or(false) {
                    if !self.cands.get(b).is_some_and(|s| has(s, v)) {
                        return Some(format!("byte {b} is {v}, which was never written there since the last acknowledged fsync"));
                    }
                    seen[b] = v;
                }
            }
            *now = seen;
        }
        match &self.now {
            Some(now) => {
                let end = (off as usize + data.len()).min(now.len());
                let want = now.get(off as usize..end).unwrap_or(&[]);
                let short_ok = off as usize + data.len() <= now.len() || data.len() == want.len();
                if want != data || !short_ok {
                    let at = want.iter().zip(data).position(|(a, b)| a != b);
                    let (w, g) = at.map_or((None, None), |i| {
                        (want.get(i).copied(), data.get(i).copied())
                    });
                    Some(format!(
                        "read at {off} of {} bytes differs from the model (first difference at +{at:?}: model {w:?}, read {g:?}; model size {})",
                        data.len(),
                        now.len()
                    ))
                } else {
                    None
                }
            }
            None => self.check_candidates(off, data),
        }
    }

    fn check_candidates(&self, off: u64, data: &[u8]) -> Option<String> {
        for (i, &v) in data.iter().enumerate() {
            let b = off as usize + i;
            if !self.cands.get(b).is_some_and(|s| has(s, v)) {
                return Some(format!("byte {b} is {v}, which was never written there since the last acknowledged fsync"));
            }
        }
        None
    }

    /// Checks a whole observed content (after a crash) and adopts it.
    pub fn observe(&mut self, data: &[u8]) -> Option<String> {
        if self.disturbed || self.lost {
            self.now = Some(data.to_vec());
            return None;
        }
        let size = data.len() as u64;
        if !self.sizes.contains(&size) {
            return Some(format!(
                "size {size} after a crash is none of the possible sizes {:?}",
                self.sizes
            ));
        }
        let bad = self.check_candidates(0, data);
        self.now = Some(data.to_vec());
        self.loose = vec![true; data.len()];
        if !std::mem::take(&mut self.relearning) {
            // After a crash, what recovery produced is durable.
            self.sizes = [size].into();
        }
        bad
    }

    /// Checks the final remote content.
    pub fn check_final(&self, remote: Option<&[u8]>) -> Option<String> {
        if self.disturbed || self.lost {
            return None;
        }
        match remote {
            None if self.exists == Some(true) && !self.may_be_absent => {
                Some("acknowledged file is missing from the bucket".into())
            }
            None => None,
            Some(_) if self.exists == Some(false) && !self.may_exist => {
                Some("unlinked file is still in the bucket".into())
            }
            Some(data) => match &self.now {
                Some(now) if self.exists == Some(true) && self.loose.iter().any(|&l| l) => {
                    if now.len() != data.len() {
                        return Some(format!(
                            "bucket holds {} bytes, model {}",
                            data.len(),
                            now.len()
                        ));
                    }
                    (0..data.len())
                        .find(|&i| {
                            if self.loose[i] {
                                !has(&self.cands[i], data[i])
                            } else {
                                now[i] != data[i]
                            }
                        })
                        .map(|i| {
                            format!(
                                "bucket byte {i} is {}, model allows {}",
                                data[i],
                                if self.loose[i] {
                                    "its crash candidates"
                                } else {
                                    "exactly the last write"
                                }
                            )
                        })
                }
                Some(now) if self.exists == Some(true) => (now.as_slice() != data).then(|| {
                    let at = now.iter().zip(data).position(|(a, b)| a != b);
                    format!(
                        "bucket holds {} bytes, model {} (first difference at {at:?})",
                        data.len(),
                        now.len()
                    )
                }),
                _ => {
                    if !self.sizes.contains(&(data.len() as u64)) {
                        Some(format!(
                            "bucket size {} is none of {:?}",
                            data.len(),
                            self.sizes
                        ))
                    } else {
                        self.check_candidates(0, data)
                    }
                }
            },
        }
    }

    /// Zeroes `ranges` (base bytes a conflict copy could not keep).
    pub fn zero_ranges(&mut self, ranges: &[(u64, u64)]) {
        for &(off, len) in ranges {
            self.add_zero(off, off + len);
            if let Some(now) = self.now.as_mut() {
                for i in off..(off + len).min(now.len() as u64) {
                    now[i as usize] = 0;
                    if let Some(l) = self.loose.get_mut(i as usize) {
                        *l = false;
                    }
                }
            }
        }
    }
}

/// The namespace of the model.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// Files by key.
    pub files: BTreeMap<String, MFile>,
    /// Directory markers made by `Mkdir`, by the directory's key (no trailing `/`).
    pub dirs: BTreeMap<String, crate::view::MDir>,
}

impl Model {
    /// The file at `key` (absent when never seen).
    pub fn file(&mut self, key: &str) -> &mut MFile {
        self.files
            .entry(key.to_string())
            .or_insert_with(MFile::absent)
    }

    /// The marker of directory `key` (absent when never made).
    pub fn dir(&mut self, key: &str) -> &mut crate::view::MDir {
        self.dirs.entry(key.to_string()).or_default()
    }

    /// Everything becomes uncertain.
    pub fn crash(&mut self) {
        for f in self.files.values_mut() {
            f.crash();
        }
        for d in self.dirs.values_mut() {
            d.crash();
        }
    }
}
