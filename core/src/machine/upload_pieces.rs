//! An upload reads its bytes from the cache file in chunk-sized pieces, each a job of its own,
//! so that user requests on the same file interleave with it: a read runs beside the pieces,
//! a write waits at most for the one piece over its chunk. The pieces of a part (or of a
//! single PUT's body) are gathered here and handed on whole once all are in.
//!
//! Pieces are read at different times, so a write landing between two of them may be in the
//! later one: that is the same as a write landing between two parts, which uploads always
//! allowed. An upload covers the snapshot of generation `g`; bytes written after it are dirty
//! at a later generation and stay dirty when it lands, whatever the body carried.

use super::jobs::Job;
use super::Core;
use crate::chunks;
use crate::ids::{EntryId, JournalId};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::ops::Range;

/// The pieces of one part (or body) read so far.
#[derive(Debug)]
pub(crate) struct Pieces {
    attempt: u32,
    range: Range<u64>,
    /// Pieces in, by start offset.
    got: BTreeMap<u64, Bytes>,
    /// Chunks whose bytes came from memory, not the cache file.
    from_memory: Vec<u64>,
}

impl Core {
    /// Orders the reads of `range` (part `part`, or the whole body) for attempt `attempt` of
    /// upload `jid`, one job per chunk-sized piece.
    pub(crate) fn enqueue_upload_read(
        &mut self,
        eid: EntryId,
        jid: JournalId,
        attempt: u32,
        part: Option<u32>,
        range: Range<u64>,
    ) {
        let cs = self.cfg.chunk_size;
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        j.pieces.insert(
            part,
            Pieces {
                attempt,
                range: range.clone(),
                got: BTreeMap::new(),
                from_memory: Vec::new(),
            },
        );
        // An empty body is one empty piece.
        let pieces: Vec<Range<u64>> = if range.is_empty() {
            vec![range]
        } else {
            chunks::chunks_overlapping(&range, cs)
                .map(|c| {
                    let r = chunks::chunk_range(c, cs);
                    r.start.max(range.start)..r.end.min(range.end)
                })
                .collect()
        };
        for piece in pieces {
            self.enqueue(
                eid,
                Job::UploadRead {
                    jid,
                    attempt,
                    part,
                    range: piece,
                },
            );
        }
    }

    /// A piece of an upload's bytes was read: once every piece of its part is in, the part
    /// goes on to be checksummed and sent.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn upload_piece_ready(
        &mut self,
        eid: EntryId,
        jid: JournalId,
        attempt: u32,
        part: Option<u32>,
        piece: Range<u64>,
        body: Bytes,
        from_memory: &[u64],
    ) {
        let Some(j) = self.journal.get_mut(&jid) else {
            return;
        };
        let Some(p) = j.pieces.get_mut(&part) else {
            return;
        };
        if j.attempt != attempt || p.attempt != attempt {
            if p.attempt < j.attempt {
                j.pieces.remove(&part);
            }
            return;
        }
        p.got.insert(piece.start, body);
        p.from_memory.extend_from_slice(from_memory);
        let have: u64 = p.got.values().map(|b| b.len() as u64).sum();
        if have < p.range.end - p.range.start {
            return;
        }
        let Some(p) = j.pieces.remove(&part) else {
            return;
        };
        let body = super::readahead::join(p.got.into_values().collect());
        self.upload_data_ready(eid, jid, attempt, part, p.range, body, &p.from_memory);
    }
}
