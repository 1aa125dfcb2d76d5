//! Concurrent readers: clients that read open files while the main client works on them, so
//! that reads overlap writes, truncates, uploads and each other, and sequential scans trigger
//! readahead beside everything else.
//!
//! A reader's reply is checked against the model as it stands when the reply arrives: the core
//! orders a read after every request sent before it that touches the same bytes, and before
//! every one sent after it, so at its reply the model holds exactly the writes it must see.
//! A read is checked only when nothing else changed the model of its key meanwhile (a
//! conflict, an invalidation, a rename or unlink, an outside write: see [`World::touch`]) and
//! the model knew the key's content when it was sent.

use super::{Ev, World, WHOLE};
use crate::checker::Invariant;
use bytes::Bytes;
use silt_core::{FileError, Reply, Request, RequestId};

/// A read sent by a reader.
#[derive(Debug)]
pub(super) struct ReaderRead {
    reader: u32,
    key: String,
    off: u64,
    len: u64,
    /// The key's epoch when it was sent.
    epoch: u64,
    /// The model knew the content when it was sent.
    checkable: bool,
}

/// What one reader is doing: its scan position, if it scans.
#[derive(Debug, Default, Clone)]
pub(super) struct Reader {
    pub(super) scan: Option<(String, u64, u64)>,
}

impl World {
    /// The model of `key` changed other than by a write or truncate of the main client:
    /// reads in flight on it are not checked.
    pub(super) fn touch(&mut self, key: &str) {
        self.listing_touch(key);
        *self.epochs.entry(key.to_string()).or_default() += 1;
    }

    pub(super) fn epoch(&self, key: &str) -> u64 {
        self.epochs.get(key).copied().unwrap_or(0)
    }

    /// Reader `i`'s turn: send one read on an open file, or wait.
    pub(super) fn reader_step(&mut self, i: u32) {
        if !self.faults || self.finished_client {
            return;
        }
        let think = 1 + self.rng.below(15);
        self.schedule(self.now + think, Ev::Reader(i));
        if self.passthrough_step(i) {
            return;
        }
        let open: Vec<String> = self.handles.keys().cloned().collect();
        if open.is_empty() {
            return;
        }
        let cs = self.opts.core.chunk_size;
        let state = self.readers.get(i as usize).cloned().unwrap_or_default();
        let (key, off, len) = match state.scan {
            // Go on with the scan while its file is open and it has not reached the end.
            Some((key, next, len)) if self.handles.contains_key(&key) && self.rng.below(6) != 0 => {
                (key, next, len)
            }
            _ => {
                let key = open[self.rng.below(open.len() as u64) as usize].clone();
                let size = self.model_size(&key);
                let off = self.rng.below(size + 1);
                let len = match self.rng.below(3) {
                    0 => WHOLE,
                    _ => cs / 4 + self.rng.below(2 * cs),
                };
                (key, off, len)
            }
        };
        let Some(&handle) = self.handles.get(&key) else {
            return;
        };
        let req = RequestId(self.next_req);
        self.next_req += 1;
        let checkable = self.model.files.get(&key).is_some_and(|f| f.now.is_some());
        let epoch = self.epoch(&key);
        self.trace(format!(
            "reader {i}: request {req} Read {key:?} {off}+{len}"
        ));
        self.reader_reads.insert(
            req,
            ReaderRead {
                reader: i,
                key,
                off,
                len,
                epoch,
                checkable,
            },
        );
        self.input(silt_core::Input::Request(
            req,
            Request::Read {
                handle,
                offset: off,
                len: if len == WHOLE {
                    self.opts.file_max * 2
                } else {
                    len
                },
            },
        ));
    }

    pub(super) fn model_size(&self, key: &str) -> u64 {
        self.model
            .files
            .get(key)
            .and_then(|f| f.now.as_ref())
            .map_or(0, |n| n.len() as u64)
    }

    /// A reply to a reader's read, if `req` is one: checked, and the reader's scan moves on.
    /// Returns false when `req` is not a reader's.
    pub(super) fn on_reader_reply(&mut self, req: RequestId, r: &Result<Reply, FileError>) -> bool {
        let Some(rr) = self.reader_reads.remove(&req) else {
            return false;
        };
        let data: Option<&Bytes> = match r {
            Ok(Reply::Data(d)) => Some(d),
            _ => None,
        };
        self.trace(format!(
            "reader {}: reply {req} {}",
            rr.reader,
            data.map_or_else(|| format!("{r:?}"), |d| format!("Data({} bytes)", d.len()))
        ));
        if let Some(slot) = self.readers.get_mut(rr.reader as usize) {
            slot.scan = match data {
                Some(d) if rr.len != WHOLE && d.len() as u64 == rr.len => {
                    Some((rr.key.clone(), rr.off + rr.len, rr.len))
                }
                _ => None,
            };
        }
        let unchanged = rr.checkable && self.epoch(&rr.key) == rr.epoch;
        let asked = if rr.len == WHOLE {
            self.opts.file_max * 2
        } else {
            rr.len
        };
        if let (Some(d), true) = (data, unchanged) {
            // The main client's request in flight on the key, if it changes the content: its
            // bytes may read as old or new (a write not yet answered may have landed in part).
            let in_flight = match self.pending.as_ref().map(|p| &p.1) {
                Some(super::Op::Write { key, off, data }) if *key == rr.key => {
                    Some(Some((*off, data.clone())))
                }
                Some(super::Op::Truncate { key, .. }) if *key == rr.key => Some(None),
                _ => None,
            };
            let f = self.model.file(&rr.key);
            let complaint = match in_flight {
                None if f.now.is_some() => f.check_read(rr.off, d),
                Some(Some((woff, wdata))) => old_or_new(f, rr.off, asked, d, woff, &wdata),
                // A truncate in flight: the size the read saw is either one.
                _ => None,
            };
            {
                if let Some(c) = complaint {
                    self.violation(
                        Invariant::ReadsLatest,
                        format!("{:?}: a concurrent reader's {c}", rr.key),
                    );
                }
            }
        }
        true
    }
}

/// Checks `data`, read at `off`, against the model's content and the content with the write
/// of `wdata` at `woff` applied: each byte, and the length, must match one of them (or, for the
/// length, the file extended to where the write starts).
fn old_or_new(
    f: &crate::model::MFile,
    off: u64,
    asked: u64,
    data: &[u8],
    woff: u64,
    wdata: &[u8],
) -> Option<String> {
    let old = f.now.as_ref()?;
    if f.loose.iter().any(|l| *l) {
        return None;
    }
    let mut new = old.clone();
    let wend = woff as usize + wdata.len();
    if new.len() < wend {
        new.resize(wend, 0);
    }
    new[woff as usize..wend].copy_from_slice(wdata);
    let expect = |len: usize| (len as u64).saturating_sub(off).min(asked) as usize;
    let n = data.len();
    // A write past the end first extends the file to where it starts: that size may be seen
    // too, with zeros up to it (as in the new version).
    let extended = old.len().max(woff as usize);
    if n != expect(old.len()) && n != expect(extended) && n != expect(new.len()) {
        return Some(format!(
            "read at {off} of {n} bytes has a length neither version gives"
        ));
    }
    for (i, &b) in data.iter().enumerate() {
        let at = off as usize + i;
        let ok = old.get(at) == Some(&b) || new.get(at) == Some(&b);
        if !ok {
            return Some(format!(
                "read at {off}: byte {at} is {b}, neither the old {:?} nor the new {:?} value of the write in flight",
                old.get(at),
                new.get(at)
            ));
        }
    }
    None
}
