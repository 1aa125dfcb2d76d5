//! The bytes-in-flight budget (`CoreConfig::memory_limit`).
//!
//! What the core holds in memory, counted where it lives: fetches in flight (one chunk each,
//! `fetch.rs`), read buffers (`readahead.rs`, with their own smaller limit), fetched chunks
//! kept in memory because the disk was full (`Entry::direct`, totalled by the entry table),
//! and upload bodies in flight (data parts read from the cache file or sent, a single PUT's
//! object: `JournalEntry::body_bytes`, totalled by the journal table). Every figure is kept
//! by the table that owns it and checked against its recomputation after every simulator
//! step, so nothing leaks.
//!
//! Work that would hold more than the limit waits: fetches ahead of a reader are not sent,
//! fetches for waiting reads and new upload parts wait for room, fetched bytes are not kept
//! as read buffers. To guarantee progress, one fetch and one upload body always go when none
//! is out, so the limit is exceeded by at most one chunk and one part. Chunks kept in memory
//! on a full disk are never refused (a read needs them); they are counted, and they make
//! other work wait. Write bodies are held by the driver until their reply: it bounds them.

use super::Core;
use crate::ids::JournalId;
use std::collections::BTreeMap;

/// What the core holds in memory, by kind (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUse {
    /// Fetches in flight, one chunk each at most.
    pub fetches: u64,
    /// Fetched bytes kept to answer reads.
    pub read_buffers: u64,
    /// Fetched chunks kept in memory because the disk was full (never refused).
    pub full_disk_chunks: u64,
    /// Upload bodies in flight (data parts out, single PUTs running).
    pub upload_bodies: u64,
}

impl MemoryUse {
    /// All of it.
    pub fn total(&self) -> u64 {
        self.fetches + self.read_buffers + self.full_disk_chunks + self.upload_bodies
    }
}

/// Uploads that stopped issuing parts for lack of room, with the attempt that stopped:
/// issued again when room returns, if that attempt still runs.
#[derive(Debug, Default)]
pub(crate) struct MemoryWaiters {
    uploads: BTreeMap<JournalId, u32>,
}

impl MemoryWaiters {
    /// Attempt `attempt` of the upload `jid` has parts waiting for room.
    pub fn wait(&mut self, jid: JournalId, attempt: u32) {
        self.uploads.insert(jid, attempt);
    }
}

impl Core {
    /// Bytes the core holds in memory now (see the module doc).
    pub(crate) fn memory_held(&mut self) -> u64 {
        self.memory_use().total()
    }

    /// Bytes the core holds in memory now, by kind.
    pub(crate) fn memory_use(&mut self) -> MemoryUse {
        MemoryUse {
            fetches: self.fetch.in_flight() as u64 * self.cfg.chunk_size,
            read_buffers: self.readahead.buffered_bytes(),
            full_disk_chunks: self.entries.direct_bytes(),
            upload_bodies: self.journal.body_bytes(),
        }
    }

    /// True when `n` more bytes fit in the budget.
    pub(crate) fn memory_room(&mut self, n: u64) -> bool {
        self.memory_held().saturating_add(n) <= self.cfg.memory_limit
    }

    /// May a fetch go now? When it fits, or when no fetch is out (progress).
    pub(crate) fn fetch_admitted(&mut self) -> bool {
        self.fetch.in_flight() == 0 || self.memory_room(self.cfg.chunk_size)
    }

    /// Issues again the parts of uploads that waited for room. Called by the pump; costs
    /// nothing while none waits.
    pub(crate) fn resume_memory_waiters(&mut self) {
        if self.memory_waiters.uploads.is_empty() || !self.memory_room(self.cfg.chunk_size) {
            return;
        }
        for (jid, attempt) in std::mem::take(&mut self.memory_waiters.uploads) {
            // Only an upload still running and still waiting: a single PUT whose body went
            // out meanwhile (a new attempt) is not read twice; parts are issued once anyway.
            // A multipart upload whose listing is still out waits for it: the listing's
            // answer issues the parts (asking twice would rebuild them twice).
            let waiting = self.journal.get(&jid).is_some_and(|j| {
                let listing_out = j
                    .rec
                    .multipart
                    .as_ref()
                    .is_some_and(|m| !m.upload_id.is_empty() && j.must_list_parts());
                j.phase == super::journal::Phase::Running
                    && j.attempt == attempt
                    && !listing_out
                    && (j.rec.multipart.is_some() || !j.single_body_out)
            });
            if waiting {
                self.upload_step(jid);
            }
        }
    }
}
