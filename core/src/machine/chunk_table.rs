//! An entry's chunk table: the state of every present chunk, with the counts eviction and
//! accounting need kept by every change, so that neither walks the table.
//!
//! Beside each clean chunk it keeps, in memory only, whether the chunk's bytes in the cache
//! file are known to match its CRC in this process: written by the core itself from bytes it
//! checksummed, or read back and checked. Such a chunk is *verified*: reads of it need not
//! cover (and checksum) its whole extent. Every change of a chunk's state forgets it, and a
//! restart starts with none (docs/durability.md, "Verified reads").
//!
//! A dirty chunk whose other live bytes are present (`Dirty { filled: true }`) carries the
//! same mark for those bytes: they were checked (the chunk was a verified clean one when it
//! was written) or written by the core in this process (a backfill), or there are none (every
//! live byte is dirty). A chunk that is verified either way is *ready*: every byte of it in the
//! cache file is known right in this process, so the kernel may read it straight from the file
//! (FUSE passthrough, `machine/passthrough.rs`). The table counts its ready chunks.

use crate::chunks::{self, ChunkState};
use crate::ids::EntryId;
use crate::records::{CleanChunk, IndexOp};
use std::collections::{BTreeMap, BTreeSet};

/// Present chunks of one entry (an absent chunk has no slot), in chunk order.
#[derive(Debug, Default)]
pub(crate) struct ChunkTable {
    map: BTreeMap<u64, Slot>,
    /// Chunks in state `Clean`.
    clean: usize,
    /// Ready chunks: verified clean ones and verified filled dirty ones.
    ready: usize,
    /// Chunks whose stored form (clean with a CRC, or not stored) changed since the last
    /// snapshot: the index stores clean chunks only, as records of their own.
    changed: BTreeSet<u64>,
}

/// One present chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    state: ChunkState,
    /// Clean (or dirty and filled), and its bytes in the cache file were checked (or
    /// written) in this process.
    verified: bool,
}

impl Slot {
    /// Every byte of the chunk in the cache file is known right in this process.
    fn ready(&self) -> bool {
        self.verified && may_verify(self.state)
    }
}

/// States a chunk can be verified in: clean, or dirty with its other live bytes present.
fn may_verify(s: ChunkState) -> bool {
    matches!(
        s,
        ChunkState::Clean { .. } | ChunkState::Dirty { filled: true }
    )
}

impl ChunkTable {
    pub fn get(&self, c: &u64) -> Option<&ChunkState> {
        self.map.get(c).map(|s| &s.state)
    }

    /// True when chunk `c` is clean and its cached bytes are known to match its CRC.
    pub fn is_verified(&self, c: u64) -> bool {
        self.map
            .get(&c)
            .is_some_and(|s| s.verified && matches!(s.state, ChunkState::Clean { .. }))
    }

    /// True when every byte of chunk `c` in the cache file is known right in this process:
    /// a verified clean chunk, or a filled dirty one whose other bytes are verified.
    #[cfg(test)]
    pub fn is_ready(&self, c: u64) -> bool {
        self.map.get(&c).is_some_and(Slot::ready)
    }

    /// Number of ready chunks (see [`ChunkTable::is_ready`]).
    pub fn ready_count(&self) -> usize {
        self.ready
    }

    /// Records that chunk `c`'s cached bytes are right: a clean chunk's match its CRC
    /// (checked, or written by the core from bytes it checksummed), a filled dirty chunk's
    /// live bytes that are not dirty were just written from fetched bytes (or there are
    /// none). No effect on a chunk in another state.
    pub fn mark_verified(&mut self, c: u64) {
        if let Some(s) = self.map.get_mut(&c) {
            let was = s.ready();
            s.verified = may_verify(s.state);
            self.ready = self.ready + usize::from(s.ready()) - usize::from(was);
        }
    }

    pub fn contains_key(&self, c: &u64) -> bool {
        self.map.contains_key(c)
    }

    /// A chunk loaded from the index: stored as it is.
    pub fn load(&mut self, c: u64, s: ChunkState) {
        self.insert(c, s);
        self.changed.remove(&c);
    }

    /// Sets chunk `c`'s state. A chunk whose state changes is no longer verified, except a
    /// verified chunk that gains dirty bytes and stays filled: its other bytes are still
    /// the ones that were checked.
    pub fn insert(&mut self, c: u64, s: ChunkState) -> Option<ChunkState> {
        let prev = self.map.get(&c).copied();
        let keeps = |p: &Slot| p.state == s || s == ChunkState::Dirty { filled: true };
        let verified = prev.is_some_and(|p| p.verified && keeps(&p));
        let slot = Slot { state: s, verified };
        self.ready =
            self.ready + usize::from(slot.ready()) - usize::from(prev.is_some_and(|p| p.ready()));
        let old = self.map.insert(c, slot).map(|p| p.state);
        if old != Some(s) {
            self.forget(c, old);
            if is_clean(Some(s)) {
                self.clean += 1;
                self.changed.insert(c);
            }
        }
        old
    }

    pub fn remove(&mut self, c: &u64) -> Option<ChunkState> {
        let old = self.map.remove(c);
        self.ready -= usize::from(old.is_some_and(|p| p.ready()));
        let old = old.map(|p| p.state);
        self.forget(*c, old);
        old
    }

    /// Accounts for chunk `c` leaving state `old`.
    fn forget(&mut self, c: u64, old: Option<ChunkState>) {
        if is_clean(old) {
            self.clean -= 1;
            self.changed.insert(c);
        }
    }

    pub fn clear(&mut self) {
        self.truncate_from(0);
    }

    /// Drops every chunk at or beyond index `first`.
    pub fn truncate_from(&mut self, first: u64) {
        let gone = self.map.split_off(&first);
        for (c, s) in gone {
            self.ready -= usize::from(s.ready());
            self.forget(c, Some(s.state));
        }
    }

    /// Drops every clean chunk, keeping the dirty ones.
    pub fn drop_clean(&mut self) {
        let clean: Vec<u64> = self
            .map
            .iter()
            .filter(|(_, s)| is_clean(Some(s.state)))
            .map(|(c, _)| *c)
            .collect();
        for c in clean {
            self.remove(&c);
        }
    }

    /// Index operations storing the chunks changed since the last call: the index keeps
    /// clean chunks only.
    pub fn take_changes(&mut self, entry: EntryId) -> Vec<IndexOp> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|c| match self.get(&c) {
                Some(ChunkState::Clean { crc32c }) => IndexOp::PutChunk(
                    entry,
                    CleanChunk {
                        index: c,
                        crc32c: *crc32c,
                    },
                ),
                _ => IndexOp::DeleteChunk(entry, c),
            })
            .collect()
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &u64> + '_ {
        self.map.keys()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&u64, &ChunkState)> + '_ {
        self.map.iter().map(|(c, s)| (c, &s.state))
    }

    /// True when some chunk's stored form changed since the last snapshot.
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Number of chunks in state `Clean`.
    pub fn clean_count(&self) -> usize {
        self.clean
    }

    /// Bytes the present chunks hold while the entry is `size` long: every chunk, clipped
    /// to the size. Costs O(log n): only the chunks at or past the last partial one are
    /// looked at (normally none or one).
    pub fn bytes_within(&self, size: u64, chunk_size: u64) -> u64 {
        let first_partial = size / chunk_size;
        let mut tail_count = 0u64;
        let mut tail_bytes = 0u64;
        for (&c, _) in self.map.range(first_partial..) {
            let r = chunks::chunk_range(c, chunk_size);
            tail_count += 1;
            tail_bytes += r.end.min(size).saturating_sub(r.start);
        }
        (self.map.len() as u64 - tail_count) * chunk_size + tail_bytes
    }
}

fn is_clean(s: Option<ChunkState>) -> bool {
    matches!(s, Some(ChunkState::Clean { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    /// A chunk is verified only while clean, and only until its state changes.
    #[test]
    fn verification_is_forgotten_by_every_change() {
        let mut t = ChunkTable::default();
        t.insert(1, ChunkState::Dirty { filled: true });
        t.mark_verified(1);
        assert!(!t.is_verified(1), "a dirty chunk is never verified");
        t.insert(1, ChunkState::Clean { crc32c: 5 });
        t.mark_verified(1);
        assert!(t.is_verified(1));
        t.insert(1, ChunkState::Clean { crc32c: 5 });
        assert!(t.is_verified(1), "setting the same state changes nothing");
        t.insert(1, ChunkState::Clean { crc32c: 6 });
        assert!(!t.is_verified(1), "another CRC is another content");
        t.mark_verified(1);
        t.remove(&1);
        t.insert(1, ChunkState::Clean { crc32c: 6 });
        assert!(!t.is_verified(1), "a removed chunk comes back unverified");
        t.mark_verified(1);
        t.truncate_from(0);
        t.load(1, ChunkState::Clean { crc32c: 6 });
        assert!(!t.is_verified(1), "a loaded chunk is unverified");
    }

    /// A chunk is ready while its bytes are known right: verified clean, or dirty and filled
    /// from verified bytes; it stops being ready when its base bytes are no longer known.
    #[test]
    fn readiness_follows_verified_bytes_through_writes() {
        let mut t = ChunkTable::default();
        t.insert(0, ChunkState::Clean { crc32c: 5 });
        assert!(
            !t.is_ready(0),
            "a clean chunk loaded or fetched elsewhere is not ready"
        );
        t.mark_verified(0);
        assert!(t.is_ready(0));
        t.insert(0, ChunkState::Dirty { filled: true });
        assert!(
            t.is_ready(0),
            "a write over a verified chunk keeps its other bytes known"
        );
        assert!(
            !t.is_verified(0),
            "but the chunk has no CRC to skip a check with"
        );
        t.insert(0, ChunkState::Dirty { filled: false });
        assert!(!t.is_ready(0), "base bytes to fetch");
        t.insert(0, ChunkState::Dirty { filled: true });
        assert!(!t.is_ready(0), "filled from bytes nobody checked");
        t.mark_verified(0);
        assert!(t.is_ready(0), "filled by the core (a backfill)");
        t.insert(0, ChunkState::Clean { crc32c: 7 });
        assert!(!t.is_ready(0), "clean with a new CRC: not checked yet");
        t.insert(1, ChunkState::Clean { crc32c: 1 });
        t.mark_verified(1);
        t.mark_verified(0);
        assert_eq!(t.ready_count(), 2);
        t.truncate_from(1);
        assert_eq!(t.ready_count(), 1);
        t.remove(&0);
        assert_eq!(t.ready_count(), 0);
    }

    quickcheck! {
        fn counts_match_a_recount(ops: Vec<(u8, u8)>, size: u16) -> bool {
            let cs = 64u64;
            let mut t = ChunkTable::default();
            for (c, what) in ops {
                let c = u64::from(c % 32);
                match what % 5 {
                    0 => { t.insert(c, ChunkState::Clean { crc32c: 1 }); }
                    1 => { t.insert(c, ChunkState::Dirty { filled: what % 10 == 1 }); }
                    2 => { t.remove(&c); }
                    3 => t.mark_verified(c),
                    _ => t.truncate_from(c + 8),
                }
            }
            let ready = t.keys().filter(|&&c| t.is_ready(c)).count();
            if ready != t.ready_count() {
                return false;
            }
            let clean = t.iter().filter(|(_, s)| matches!(s, ChunkState::Clean { .. })).count();
            let size = u64::from(size) % (40 * cs);
            let bytes: u64 = t
                .keys()
                .map(|&c| (c * cs + cs).min(size).saturating_sub(c * cs))
                .sum();
            clean == t.clean_count() && bytes == t.bytes_within(size, cs)
        }
    }
}
