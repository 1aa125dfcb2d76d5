//! Passthrough readers: what the kernel does with a handle the core granted passthrough. A
//! reader opens a file asking for passthrough; once granted, its reads never reach the core:
//! they read the cache file in the disk model at once, as the kernel reads the backing file
//! (up to the file's length, whatever the core thinks the size is).
//!
//! Each read is checked against the model when the model knows the file's content and no
//! outside change touched the key since the open (the key's epoch, see [`World::touch`]): the
//! content now, or old or new for a write of the main client in flight. After an outside
//! change (another writer's version, a conflict, a rename, an unlink) the pin promises that
//! the file keeps the bytes it had: the read must equal the content of the last check, as
//! long as the main client changed nothing of the file since.

use super::{Op, World};
use crate::checker::Invariant;
use silt_core::{EntryId, FileError, HandleId, OpenFlags, Reply, Request, RequestId};

/// A passthrough handle a reader holds.
#[derive(Clone, Debug)]
pub(super) struct PtHandle {
    key: String,
    handle: HandleId,
    entry: EntryId,
    /// The key's epoch at the open.
    epoch: u64,
    /// The file's content at the last check, if known.
    expect: Option<Vec<u8>>,
    /// The main client sent a change of the file since `expect` was taken.
    stale: bool,
    /// A write or truncate of the file failed while the handle was open: its prefix may be
    /// in the file, where the core reads other bytes (its reads are not checked after).
    tainted: bool,
}

/// A request of a passthrough reader in flight.
#[derive(Clone, Debug)]
pub(super) enum PtRequest {
    Open { reader: u32, key: String },
    Close,
}

impl World {
    /// Reader `i`'s turn as a passthrough reader: read through its handle (or close it), or
    /// open one. Returns false when the reader does an ordinary read instead.
    pub(super) fn passthrough_step(&mut self, i: u32) -> bool {
        let held = self.pt.get(i as usize).cloned().flatten();
        if let Some(pt) = held {
            if self.rng.below(6) == 0 {
                self.pt_close(i);
            } else {
                self.pt_read(i, pt);
            }
            return true;
        }
        let opening = self
            .pt_requests
            .values()
            .any(|r| matches!(r, PtRequest::Open { reader, .. } if *reader == i));
        if opening || self.rng.below(4) != 0 {
            return false;
        }
        let open: Vec<String> = self.handles.keys().cloned().collect();
        if open.is_empty() {
            return false;
        }
        let key = open[self.rng.below(open.len() as u64) as usize].clone();
        let open = Request::Open {
            key: key.clone(),
            flags: OpenFlags::PASSTHROUGH,
        };
        self.pt_send(open, PtRequest::Open { reader: i, key });
        true
    }

    /// Sends `r`, remembered as `what` until answered (the answer may come at once).
    fn pt_send(&mut self, r: Request, what: PtRequest) {
        let req = RequestId(self.next_req);
        self.next_req += 1;
        self.trace(format!("passthrough reader: request {req} {r:?}"));
        self.pt_requests.insert(req, what);
        self.input(silt_core::Input::Request(req, r));
    }

    fn pt_close(&mut self, i: u32) {
        let Some(pt) = self.pt.get_mut(i as usize).and_then(Option::take) else {
            return;
        };
        self.pt_send(Request::Close { handle: pt.handle }, PtRequest::Close);
    }

    /// Closes every passthrough handle (the quiet phase: nothing may stay pinned).
    pub(super) fn pt_close_all(&mut self) {
        for i in 0..self.pt.len() as u32 {
            self.pt_close(i);
        }
    }

    /// Passthrough state dies with the core.
    pub(super) fn pt_crash(&mut self) {
        self.pt_requests.clear();
        for p in &mut self.pt {
            *p = None;
        }
    }

    /// The main client is about to send `op`: a change of a file a passthrough reader holds
    /// makes the reader's remembered content stale.
    pub(super) fn pt_note_send(&mut self, op: &Op) {
        let key = match op {
            Op::Write { key, .. } | Op::Truncate { key, .. } => key,
            Op::Open {
                key,
                truncate: true,
                ..
            } => key,
            _ => return,
        };
        let Some((entry, _)) = self.core.lookup(key) else {
            return;
        };
        for pt in self.pt.iter_mut().flatten() {
            if pt.entry == entry {
                pt.stale = true;
            }
        }
    }

    /// The main client's `op` failed: a write or truncate may have left part of itself in
    /// the file.
    pub(super) fn pt_note_failure(&mut self, op: &Op) {
        let key = match op {
            Op::Write { key, .. } | Op::Truncate { key, .. } | Op::Open { key, .. } => key,
            _ => return,
        };
        let entry = self.core.lookup(key).map(|(e, _)| e);
        for pt in self.pt.iter_mut().flatten() {
            if Some(pt.entry) == entry || pt.key == *key {
                pt.tainted = true;
            }
        }
    }

    /// A reply to a passthrough reader's request, if `req` is one.
    pub(super) fn on_pt_reply(&mut self, req: RequestId, r: &Result<Reply, FileError>) -> bool {
        let Some(p) = self.pt_requests.remove(&req) else {
            return false;
        };
        self.trace(format!("passthrough reader: reply {req} {r:?}"));
        let PtRequest::Open { reader, key } = p else {
            return true;
        };
        let Ok(Reply::Opened {
            handle,
            passthrough,
            ..
        }) = r
        else {
            return true;
        };
        let (handle, passthrough) = (*handle, *passthrough);
        let slot_free = self.pt.get(reader as usize).is_some_and(Option::is_none);
        match passthrough {
            Some(entry) if slot_free && self.faults => {
                let epoch = self.epoch(&key);
                let pt = PtHandle {
                    expect: self.pt_model_now(&key),
                    key,
                    handle,
                    entry,
                    epoch,
                    stale: false,
                    tainted: false,
                };
                self.pt[reader as usize] = Some(pt);
                self.result.passthrough_opens += 1;
            }
            _ => {
                self.pt_send(Request::Close { handle }, PtRequest::Close);
            }
        }
        true
    }

    /// What the model says the file holds now, when it knows exactly and no change of the
    /// main client to it is in flight.
    fn pt_model_now(&mut self, key: &str) -> Option<Vec<u8>> {
        let in_flight = matches!(
            self.pending.as_ref().map(|p| &p.1),
            Some(Op::Write { key: k, .. } | Op::Truncate { key: k, .. } | Op::Open { key: k, .. })
                if k == key
        );
        let f = self.model.files.get(key)?;
        if in_flight || f.disturbed || f.lost || f.loose.iter().any(|l| *l) {
            return None;
        }
        f.now.clone()
    }

    /// A read through passthrough handle `pt`: the kernel reads the cache file.
    fn pt_read(&mut self, i: u32, pt: PtHandle) {
        let len_now = self.disk.file(pt.entry).map_or(0, |f| f.len());
        let size = self.model_size(&pt.key).max(len_now);
        let off = self.rng.below(size + 1);
        let asked = 1 + self.rng.below(2 * self.opts.core.chunk_size);
        let end = off.saturating_add(asked).min(len_now);
        let data = match self.disk.file(pt.entry) {
            Some(f) if off < end => f.bytes(off..end),
            _ => Vec::new(),
        };
        self.result.passthrough_reads += 1;
        self.trace(format!(
            "passthrough reader {i}: read {:?} (entry {}) {off}+{asked}: {} bytes",
            pt.key,
            pt.entry,
            data.len()
        ));
        if pt.tainted {
            return;
        }
        let complaint = if self.epoch(&pt.key) == pt.epoch {
            let in_flight = match self.pending.as_ref().map(|p| &p.1) {
                Some(Op::Write { key, off, data }) if *key == pt.key => {
                    Some(Some((*off, data.clone())))
                }
                Some(Op::Truncate { key, .. } | Op::Open { key, .. }) if *key == pt.key => {
                    Some(None)
                }
                _ => None,
            };
            let now = self.pt_model_now(&pt.key);
            if let Some(slot) = self.pt.get_mut(i as usize).and_then(Option::as_mut) {
                if in_flight.is_none() && now.is_some() {
                    slot.expect = now.clone();
                    slot.stale = false;
                }
            }
            match (in_flight, now) {
                (None, Some(now)) => compare(&now, off, asked, &data),
                (Some(Some((woff, wdata))), _) => self
                    .model
                    .files
                    .get(&pt.key)
                    .and_then(|f| old_or_new(f, off, asked, &data, woff, &wdata)),
                _ => None,
            }
        } else if pt.stale {
            None
        } else {
            pt.expect
                .as_ref()
                .and_then(|e| compare(e, off, asked, &data))
                .map(|c| format!("{c}, after an outside change (the pin keeps the bytes)"))
        };
        if let Some(c) = complaint {
            self.violation(
                Invariant::ReadsLatest,
                format!("{:?}: a passthrough reader's {c}", pt.key),
            );
        }
    }
}

/// `data`, read at `off` (`asked` bytes), against the content `want`.
fn compare(want: &[u8], off: u64, asked: u64, data: &[u8]) -> Option<String> {
    let start = (off as usize).min(want.len());
    let end = (off.saturating_add(asked) as usize).min(want.len());
    let expect = &want[start..end];
    if expect == data {
        return None;
    }
    let at = expect.iter().zip(data).position(|(a, b)| a != b);
    Some(match at {
        Some(k) => format!(
            "read at {off}: byte {} is {} where the file holds {}",
            off as usize + k,
            data[k],
            expect[k]
        ),
        None => format!(
            "read at {off} of {} bytes where the file holds {} there",
            data.len(),
            expect.len()
        ),
    })
}

/// `data` against the model's content with and without a write in flight: every byte one
/// of them (bytes past the old end may be the write's prefix: a write lands in part), and a
/// length between the two.
fn old_or_new(
    f: &crate::model::MFile,
    off: u64,
    asked: u64,
    data: &[u8],
    woff: u64,
    wdata: &[u8],
) -> Option<String> {
    let old = f.now.as_ref()?;
    if f.loose.iter().any(|l| *l) || f.disturbed || f.lost {
        return None;
    }
    let mut new = old.clone();
    let wend = woff as usize + wdata.len();
    if new.len() < wend {
        new.resize(wend, 0);
    }
    new[woff as usize..wend].copy_from_slice(wdata);
    let expect = |len: usize| (len as u64).saturating_sub(off).min(asked) as usize;
    let (lo, hi) = (expect(old.len()), expect(new.len()));
    let n = data.len();
    if n < lo.min(hi) || n > lo.max(hi) {
        return Some(format!(
            "read at {off} of {n} bytes, outside what the write in flight allows ({lo}..={hi})"
        ));
    }
    for (k, &b) in data.iter().enumerate() {
        let at = off as usize + k;
        if old.get(at) != Some(&b) && new.get(at) != Some(&b) {
            return Some(format!(
                "read at {off}: byte {at} is {b}, neither {:?} nor {:?}",
                old.get(at),
                new.get(at)
            ));
        }
    }
    None
}
