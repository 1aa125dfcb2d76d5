//! What happens to an entry's bytes, one method per event: a write landed, a truncate
//! landed, fetched bytes were written (backfilled), a check of cached bytes, a failed write,
//! an eviction, an invalidation by another writer's version, the conversion to a conflict
//! copy, a materialization, an upload that landed.
//!
//! Each method changes the dirty ranges, the chunk table, the size and the base together, so
//! that the entry invariant (`Entry::check_invariant`, docs/architecture.md) holds after it.
//! The rest of the core reads these fields and never changes them elsewhere; the entry
//! table's totals follow at its next settle.

use super::Entry;
use crate::chunks::{self, ChunkState};
use crate::records::{BaseVersion, Precondition};
use std::collections::BTreeMap;
use std::ops::Range;

/// An upload that landed, as the entry sees it.
#[derive(Debug)]
pub(crate) struct LandedUpload<'a> {
    /// The new version at `path`.
    pub base: BaseVersion,
    pub path: String,
    /// Generation of the snapshot the upload sent.
    pub generation: u64,
    /// Size of the snapshot the upload sent.
    pub len: u64,
    /// The upload answered its success itself (not recognised by token after a crash or a
    /// timeout): the bytes of its snapshot are known to be the new version's.
    pub answered: bool,
    /// Per chunk of the snapshot: its bytes were sent from the cache file by this attempt
    /// (`trusted`: their CRC at send time is known), or copied server-side from the base.
    pub chunks: Vec<(u64, bool, bool)>,
    /// CRCs of the chunks as sent: chunk -> (end of its live extent, CRC).
    pub snap_crcs: &'a BTreeMap<u64, (u64, u32)>,
    /// A planted bug: every dirty byte becomes clean, even those written during the upload.
    pub clean_all: bool,
}

impl Entry {
    /// A write of `range` landed in the cache file: its bytes are dirty at the current
    /// generation (adjacent writes merge), the file grows to cover it.
    pub fn write_landed(&mut self, range: Range<u64>, atime: u64, cs: u64) {
        self.dirty.insert(range.clone(), self.generation);
        self.local_size = self.local_size.max(range.end);
        for c in chunks::chunks_overlapping(&range, cs) {
            self.refresh_chunk(c, cs);
        }
        self.unsynced = true;
        self.persist_wanted = true;
        self.atime = atime;
    }

    /// The cache file was set to `size` (a truncate landed). Shrinking drops the dirty bytes
    /// and chunks past it (and a clean chunk cut in two: its CRC no longer covers it) and
    /// makes uploads of older snapshots stale; growing makes the new bytes dirty (zeros).
    pub fn truncated(&mut self, size: u64, cs: u64) {
        let old = self.local_size;
        self.generation += 1;
        if size < old {
            self.dirty.truncate(size);
            self.chunks.truncate_from(size.div_ceil(cs));
            if size % cs != 0 {
                let c = chunks::chunk_of(size, cs);
                if let Some(ChunkState::Clean { .. }) = self.chunks.get(&c) {
                    self.chunks.remove(&c);
                }
            }
            self.local_size = size;
            self.truncated_at = self.generation;
            self.direct.clear();
            if size % cs != 0 {
                self.refresh_chunk(size.div_ceil(cs) - 1, cs);
            }
        } else {
            self.dirty.insert(old..size, self.generation);
            self.local_size = size;
            for c in chunks::chunks_overlapping(&(old..size), cs) {
                self.refresh_chunk(c, cs);
            }
        }
        self.unsynced = true;
        self.persist_wanted = true;
    }

    /// Fetched bytes of `chunk` were written to the cache file. A chunk with dirty bytes is
    /// now filled; otherwise it is clean with the CRC `crc_of` computes over its live bytes
    /// (`data` is what was written, from the chunk's start), and verified: the file holds
    /// exactly the bytes the CRC was computed from.
    pub fn backfilled(
        &mut self,
        chunk: u64,
        data: &[u8],
        crc_of: impl FnOnce(&[u8]) -> u32,
        cs: u64,
    ) {
        let live = self.live(chunk, cs);
        let start = chunks::chunk_range(chunk, cs).start;
        if self.chunk_has_dirty(chunk, cs) {
            self.chunks
                .insert(chunk, ChunkState::Dirty { filled: true });
            // Its base bytes are the ones just written.
            self.chunks.mark_verified(chunk);
        } else if !live.is_empty() {
            let bytes = data
                .get((live.start - start) as usize..(live.end - start) as usize)
                .unwrap_or_default();
            self.chunks.insert(
                chunk,
                ChunkState::Clean {
                    crc32c: crc_of(bytes),
                },
            );
            self.chunks.mark_verified(chunk);
        }
        self.direct.remove(&chunk);
        self.unsynced = true;
        self.persist_wanted = true;
    }

    /// The cache-file bytes of clean chunk `c` were checked against its CRC: verified for the
    /// rest of the process, or (`good` false) treated as absent and fetched again.
    pub fn clean_chunk_checked(&mut self, c: u64, good: bool) {
        if good {
            self.chunks.mark_verified(c);
        } else {
            self.chunks.remove(&c);
            self.persist_wanted = true;
        }
    }

    /// A write or a truncate in `range` failed: the file may hold anything there, so base
    /// bytes in it are no longer present (a clean chunk is dropped, a filled dirty chunk
    /// must be filled again), and the next fsync must not be skipped.
    pub fn presence_lost(&mut self, range: Range<u64>, cs: u64) {
        self.unsynced = true;
        for c in chunks::chunks_overlapping(&range, cs) {
            match self.chunks.get(&c) {
                Some(ChunkState::Clean { .. }) => {
                    self.chunks.remove(&c);
                }
                Some(ChunkState::Dirty { filled: true })
                    if !self.dirty.covers(self.live(c, cs)) =>
                {
                    self.chunks.insert(c, ChunkState::Dirty { filled: false });
                }
                _ => {}
            }
            self.persist_wanted = true;
        }
    }

    /// Eviction took `victims` (clean chunks): they are absent from now on, their bytes
    /// punched by the jobs that follow.
    pub fn evicted(&mut self, victims: &[u64]) {
        for c in victims {
            self.chunks.remove(c);
        }
        self.persist_wanted = true;
    }

    /// Another writer's version (or none) replaced the base of this clean entry: nothing
    /// cached belongs to it any more; the entry now stands for `base`, empty.
    pub fn invalidated(&mut self, base: Option<BaseVersion>) {
        self.chunks.clear();
        self.direct.clear();
        self.local_size = base.as_ref().map_or(0, |b| b.size);
        self.orphaned |= base.is_none();
        self.base = base;
        // It stands for the other writer's version now, with that version's time.
        self.mtime_ms = None;
        self.persist_wanted = true;
    }

    /// The entry became a conflict copy at `key`: it no longer has a base (what was its base
    /// is another writer's now), its cached base bytes go, and its upload creates the key.
    /// The base bytes it lacks become its own (zeros) when `copy_zeros_landed`.
    pub fn became_conflict_copy(&mut self, key: String) {
        self.key = Some(key);
        self.remote_key = None;
        self.base = None;
        self.target_precondition = Precondition::IfNoneMatch;
        self.chunks.drop_clean();
        self.direct.clear();
        self.persist_wanted = true;
    }

    /// The zeros a conflict copy holds where base bytes were missing (`ranges`) landed in the
    /// cache file: they are its own bytes, dirty at a new generation.
    pub fn copy_zeros_landed(&mut self, ranges: Vec<Range<u64>>, cs: u64) {
        self.generation += 1;
        for g in ranges {
            self.dirty.insert(g.clone(), self.generation);
            for c in chunks::chunks_overlapping(&g, cs) {
                self.refresh_chunk(c, cs);
            }
        }
        self.unsynced = true;
        self.persist_wanted = true;
    }

    /// The base bytes of `range` are present and verified: they become dirty (its own), so
    /// no upload copies them from a remote version any more.
    pub fn adopted_base_bytes(&mut self, range: Range<u64>, cs: u64) {
        self.generation += 1;
        for g in self.dirty.gaps(range.clone()) {
            self.dirty.insert(g, self.generation);
        }
        for c in chunks::chunks_overlapping(&range, cs) {
            self.refresh_chunk(c, cs);
        }
        // The fetched bytes must be fsynced before the index calls them dirty.
        self.unsynced = true;
        self.persist_wanted = true;
    }

    /// Every base byte is its own (`adopted_base_bytes`): the entry no longer depends on any
    /// remote version. Its next upload goes to its key conditionally on what is there now.
    pub fn materialized(&mut self) {
        if self.key == self.remote_key {
            if let Some(b) = &self.base {
                self.target_precondition = Precondition::IfMatch(b.etag.clone());
            }
        }
        self.base = None;
        self.remote_key = None;
        self.unsynced = true;
        self.persist_wanted = true;
        self.materializing = false;
    }

    /// An upload landed: its version is the entry's base at `path`. Answered, the dirty
    /// bytes of its snapshot (generation at most its own) become clean, and chunks sent from
    /// the cache file are clean with the CRC they were sent with, and verified (read and
    /// checksummed in this process: reads and passthrough need not check them). Recognised by token only,
    /// which attempt's bytes landed is unknown (and after a crash the cache file may hold
    /// later writes over them): every dirty byte stays dirty, to go up again over the new
    /// version. Chunks copied server-side by the answered attempt keep their state.
    pub fn upload_landed(&mut self, landed: LandedUpload<'_>, cs: u64) {
        self.base = Some(landed.base);
        // Bytes held in memory belong to the old version: bytes cleaned now differ there.
        self.direct.clear();
        self.remote_key = Some(landed.path);
        if landed.clean_all {
            self.dirty.clear();
        } else if landed.answered {
            self.dirty.remove_where(|g| g <= landed.generation);
        }
        for (c, trusted, copied) in landed.chunks {
            let live = self.live(c, cs);
            // A copied part holds the base's bytes only in the attempt that was answered: a
            // version recognised by token may be an earlier attempt's, even one from before a
            // crash that sent bytes this entry no longer knows of.
            if copied && landed.answered {
                self.refresh_chunk(c, cs);
                continue;
            }
            let has_dirty = self.chunk_has_dirty(c, cs);
            let state = match landed.snap_crcs.get(&c) {
                Some(&(end, crc)) if trusted => {
                    if has_dirty {
                        Some(ChunkState::Dirty { filled: true })
                    } else if !live.is_empty() && live.end == end {
                        Some(ChunkState::Clean { crc32c: crc })
                    } else {
                        None
                    }
                }
                _ => has_dirty.then_some(ChunkState::Dirty { filled: false }),
            };
            match state {
                Some(s) => {
                    self.chunks.insert(c, s);
                    if trusted && matches!(s, ChunkState::Clean { .. }) {
                        // Its bytes were read from the cache file and checksummed by this
                        // attempt, in this process: the file holds what the CRC says.
                        self.chunks.mark_verified(c);
                    }
                }
                None => {
                    self.chunks.remove(&c);
                }
            };
        }
        let beyond: Vec<u64> = self
            .chunks
            .keys()
            .copied()
            .filter(|&c| c >= landed.len.div_ceil(cs))
            .collect();
        for c in beyond {
            self.refresh_chunk(c, cs);
        }
        self.persist_wanted = true;
    }
}
