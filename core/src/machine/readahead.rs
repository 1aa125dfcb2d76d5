//! Readahead and read buffers.
//!
//! Each open handle has a read stream: where its next sequential read is expected, and a
//! readahead window. A read that starts near where the previous one ended (within half the
//! initial window either way, 576 KiB by default, as the kernel reorders its own readahead
//! requests by a few hundred KiB) is sequential: chunks up to a window past its end are fetched ahead, several GETs in flight.
//! The window starts at `CoreConfig::readahead_initial` and doubles each time the reader
//! crosses into a new chunk, up to `CoreConfig::readahead_max`; any other read is a seek and
//! resets it to nothing.
//!
//! Fetched chunks are written to the cache file (a `Backfill` job) and, while there is room
//! (`CoreConfig::read_buffer_limit`), also kept in memory as *read buffers*, so that the reads
//! waiting for them, and the sequential reads that follow, are answered from the fetched bytes
//! instead of reading the cache file back. A buffer holds bytes of one base version (its
//! ETag): it answers a read only while the entry's base is that version and no byte of the
//! read is dirty, which by the entry invariant (every non-dirty byte below the local size
//! equals the base version) makes it exactly what the cache file would give. A buffer is
//! dropped once a read consumes its last byte, when its handle's stream seeks away, when the
//! entry's last handle closes, and when the entry goes.

use super::Core;
use crate::chunks;
use crate::config::Bug;
use crate::ids::{EntryId, HandleId};
use bytes::{Bytes, BytesMut};
use std::collections::BTreeMap;
use std::ops::Range;

/// One handle's read stream.
#[derive(Debug)]
struct Stream {
    entry: EntryId,
    /// Where the next sequential read is expected.
    next: u64,
    /// Readahead window, bytes past the end of the last read; 0 after a seek.
    window: u64,
    /// Chunks before this one have been asked for (fetched ahead, or found present).
    ahead_to: u64,
}

/// Fetched bytes of one chunk of one base version.
#[derive(Debug)]
struct Buffer {
    etag: String,
    data: Bytes,
}

/// Read streams by handle, and read buffers by entry and chunk.
#[derive(Debug, Default)]
pub(crate) struct ReadAhead {
    streams: BTreeMap<HandleId, Stream>,
    buffers: BTreeMap<(EntryId, u64), Buffer>,
    /// Bytes held in `buffers`.
    buffered: u64,
    stats: ReadStats,
}

/// Counters of the read path since the core started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Reads answered from fetched bytes held in memory, without a cache-file read.
    pub from_buffers: u64,
    /// Chunk fetches ordered ahead of a sequential reader.
    pub fetched_ahead: u64,
}

impl ReadAhead {
    /// Bytes held in read buffers.
    pub fn buffered_bytes(&self) -> u64 {
        self.buffered
    }

    /// The read path's counters.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// Recounts the buffered bytes: `Err` when the kept count disagrees. For checks.
    pub fn check(&self) -> Result<(), String> {
        let n: u64 = self.buffers.values().map(|b| b.data.len() as u64).sum();
        if n != self.buffered {
            return Err(format!(
                "read buffers: kept {} bytes, hold {n}",
                self.buffered
            ));
        }
        Ok(())
    }

    fn drop_buffer(&mut self, eid: EntryId, c: u64) {
        if let Some(b) = self.buffers.remove(&(eid, c)) {
            self.buffered -= b.data.len() as u64;
        }
    }

    /// Drops every buffer of `eid`. O(its buffers).
    fn drop_entry_buffers(&mut self, eid: EntryId) {
        let keys: Vec<u64> = self
            .buffers
            .range((eid, 0)..=(eid, u64::MAX))
            .map(|(k, _)| k.1)
            .collect();
        for c in keys {
            self.drop_buffer(eid, c);
        }
    }
}

impl Core {
    /// A read of `offset..offset+len` arrived on `handle` (of entry `eid`): updates the
    /// handle's stream and fetches ahead when it reads sequentially.
    pub(crate) fn note_read(&mut self, handle: HandleId, eid: EntryId, offset: u64, len: u64) {
        let cs = self.cfg.chunk_size;
        let end = offset.saturating_add(len);
        let initial = self.cfg.readahead_initial;
        let max = self.cfg.readahead_max;
        let s = self.readahead.streams.entry(handle).or_insert(Stream {
            entry: eid,
            next: 0,
            window: 0,
            ahead_to: 0,
        });
        // How far a read may start from where the previous one ended and still count as
        // sequential: the kernel issues its readahead requests slightly out of order.
        let tolerance = initial / 2;
        let sequential = offset.saturating_add(tolerance) >= s.next
            && offset <= s.next.saturating_add(tolerance);
        if !sequential {
            s.next = end;
            s.window = 0;
            s.ahead_to = 0;
            // What was fetched ahead for the old position will not be read in order.
            self.readahead.drop_entry_buffers(eid);
            return;
        }
        if s.window == 0 {
            s.window = initial.min(max);
        } else if chunks::chunk_of(end, cs) > chunks::chunk_of(s.next, cs) {
            // The reader crossed into a new chunk: it keeps up, widen the window.
            s.window = s.window.saturating_mul(2).min(max);
        }
        s.next = s.next.max(end);
        if s.window == 0 {
            return;
        }
        // Halve the window while the buffers are full: the reader is not keeping up.
        if self.readahead.buffered >= self.cfg.read_buffer_limit {
            s.window = (s.window / 2).max(cs.min(max));
        }
        let target = chunks::chunk_of(end.saturating_add(s.window).saturating_sub(1), cs) + 1;
        let first = s.ahead_to.max(chunks::chunk_of(end, cs));
        if target <= first {
            return;
        }
        s.ahead_to = target;
        let Some(e) = self.entries.get(&eid) else {
            return;
        };
        if e.base.is_none() || e.orphaned {
            return;
        }
        let limit = e.base_size().min(e.local_size).div_ceil(cs);
        let wanted: Vec<u64> = (first..target.min(limit))
            .filter(|&c| {
                !e.fetching.contains(&c) && e.needs_fill(c, &chunks::chunk_range(c, cs), cs)
            })
            .collect();
        self.readahead.stats.fetched_ahead += wanted.len() as u64;
        for c in wanted {
            self.request_fetch_ahead(eid, c);
        }
    }

    /// The handle closed: forgets its stream, and the entry's buffers with its last handle.
    pub(crate) fn forget_stream(&mut self, handle: HandleId) {
        let Some(s) = self.readahead.streams.remove(&handle) else {
            return;
        };
        let open = self.entries.get(&s.entry).is_some_and(|e| e.handles > 0);
        if !open {
            self.readahead.drop_entry_buffers(s.entry);
        }
    }

    /// The entry is gone: its buffers go too.
    pub(crate) fn forget_buffers(&mut self, eid: EntryId) {
        self.readahead.drop_entry_buffers(eid);
    }

    /// Keeps the fetched bytes of chunk `c` (of base version `etag`) in memory while there
    /// is room, then answers the entry's parked reads that the buffers now cover.
    pub(crate) fn keep_fetched(&mut self, eid: EntryId, c: u64, etag: &str, data: &Bytes) {
        let n = data.len() as u64;
        if n == 0
            || self.readahead.buffered + n > self.cfg.read_buffer_limit
            || !self.memory_room(n)
        {
            return;
        }
        self.readahead.drop_buffer(eid, c);
        self.readahead.buffers.insert(
            (eid, c),
            Buffer {
                etag: etag.to_string(),
                data: data.clone(),
            },
        );
        self.readahead.buffered += n;
        self.answer_parked_from_buffers(eid);
    }

    /// A read of `range` read (at `at`) and checked the whole clean chunk it ends in: its
    /// bytes past the read are kept as a read buffer, so a sequential reader's next reads of
    /// that chunk come from memory instead of reading the file again.
    pub(crate) fn keep_read_tail(
        &mut self,
        eid: EntryId,
        range: &Range<u64>,
        at: u64,
        data: &Bytes,
    ) {
        let cs = self.cfg.chunk_size;
        if range.is_empty() || self.cfg.readahead_initial == 0 {
            return;
        }
        let c = chunks::chunk_of(range.end - 1, cs);
        let Some(e) = self.entries.get(&eid) else {
            return;
        };
        let (Some(base), true) = (e.base.as_ref(), e.chunks().is_verified(c)) else {
            return;
        };
        let cr = chunks::chunk_range(c, cs);
        let live = e.live(c, cs);
        let read_end = at + data.len() as u64;
        if live.end <= range.end || cr.start < at || live.end > read_end || live.start != cr.start {
            return;
        }
        let etag = base.etag.clone();
        let bytes = data.slice((cr.start - at) as usize..(live.end - at) as usize);
        self.keep_fetched(eid, c, &etag, &bytes);
    }

    /// Answers the parked reads of `eid` whose bytes the read buffers hold.
    fn answer_parked_from_buffers(&mut self, eid: EntryId) {
        let Some(e) = self.entries.get_mut(&eid) else {
            return;
        };
        let parked = std::mem::take(&mut e.parked);
        let mut still = Vec::with_capacity(parked.len());
        for job in parked {
            if let super::jobs::Job::Read { req, offset, len } = job {
                if self.answer_from_buffers(eid, req, offset, len) {
                    continue;
                }
            }
            still.push(job);
        }
        if let Some(e) = self.entries.get_mut(&eid) {
            // Jobs parked meanwhile (none today) stay behind the older ones.
            still.append(&mut e.parked);
            e.parked = still;
        }
    }

    /// Answers the read `offset..offset+len` of `eid` from the read buffers when they hold
    /// every byte of it (clipped to the local size) and none of it is dirty. Returns false,
    /// doing nothing, otherwise.
    pub(crate) fn answer_from_buffers(
        &mut self,
        eid: EntryId,
        req: crate::ids::RequestId,
        offset: u64,
        len: u64,
    ) -> bool {
        let cs = self.cfg.chunk_size;
        if self.readahead.buffers.is_empty() {
            return false;
        }
        let Some(e) = self.entries.get(&eid) else {
            return false;
        };
        let Some(base) = e.base.as_ref() else {
            return false;
        };
        let end = offset.saturating_add(len).min(e.local_size);
        let dirty =
            e.dirty().intersects(offset..end) && !self.cfg.planted(Bug::BufferedReadOverDirty);
        if offset >= end || end > base.size || dirty {
            return false;
        }
        let range = offset..end;
        let mut pieces: Vec<Bytes> = Vec::new();
        for c in chunks::chunks_overlapping(&range, cs) {
            let Some(b) = self.readahead.buffers.get(&(eid, c)) else {
                return false;
            };
            let cr = chunks::chunk_range(c, cs);
            let want = cr.start.max(range.start)..cr.end.min(range.end);
            let lo = (want.start - cr.start) as usize;
            let hi = (want.end - cr.start) as usize;
            if b.etag != base.etag || b.data.len() < hi {
                return false;
            }
            pieces.push(b.data.slice(lo..hi));
        }
        let out = join(pieces);
        let consumed = consumed_chunks(&range, base.size, cs);
        for c in consumed {
            self.readahead.drop_buffer(eid, c);
        }
        // As for any read, the access time moves in memory only.
        let atime = self.tick_atime();
        if let Some(e) = self.entries.get_mut(&eid) {
            e.atime = atime;
        }
        self.readahead.stats.from_buffers += 1;
        self.reply(req, Ok(crate::io::Reply::Data(out)));
        true
    }
}

/// Chunks of `range` whose last byte (below `size`) it reads: a sequential reader is done
/// with them.
fn consumed_chunks(range: &Range<u64>, size: u64, cs: u64) -> impl Iterator<Item = u64> {
    let range = range.clone();
    chunks::chunks_overlapping(&range, cs)
        .filter(move |&c| chunks::chunk_range(c, cs).end.min(size) <= range.end)
}

/// The pieces as one buffer, without a copy when there is one piece.
pub(crate) fn join(mut pieces: Vec<Bytes>) -> Bytes {
    if pieces.len() == 1 {
        return pieces.pop().unwrap_or_default();
    }
    let mut out = BytesMut::with_capacity(pieces.iter().map(Bytes::len).sum());
    for p in pieces {
        out.extend_from_slice(&p);
    }
    out.freeze()
}
