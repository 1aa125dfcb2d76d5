//! Chunk arithmetic and chunk states. An entry's bytes are cut into fixed-size chunks: the
//! unit of fetching, CRC and eviction. Dirty bytes are tracked byte-exactly beside them.

use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The cached state of one chunk. A chunk missing from an entry's chunk table is *absent*.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkState {
    /// Every live byte equals the base version; `crc32c` covers the live extent
    /// (see [`live_extent`]) and is checked on every read.
    Clean {
        /// CRC32C of the live extent.
        crc32c: u32,
    },
    /// Some bytes are dirty. When `filled`, the other live bytes are present and equal the
    /// base version; otherwise they must be fetched before they are read or uploaded.
    /// `filled` is never persisted: after a restart it is false.
    Dirty {
        /// Non-dirty live bytes are present.
        filled: bool,
    },
}

/// Most parts S3 accepts in one multipart upload.
pub const MAX_PARTS: u64 = 10_000;

/// The largest range one UploadPartCopy may copy (S3's limit: 5 GiB).
pub const MAX_COPY_PART: u64 = 5 << 30;

/// The part size of a multipart upload of `object_size` bytes: at least `min_part_size`, large
/// enough that the object needs at most [`MAX_PARTS`] parts, and a whole multiple of `align`
/// (the chunk size), so that a chunk always lies in exactly one part.
pub fn part_size(object_size: u64, min_part_size: u64, align: u64) -> u64 {
    let align = align.max(1);
    let least = min_part_size.max(object_size.div_ceil(MAX_PARTS));
    least.div_ceil(align) * align
}

/// Index of the chunk holding byte `offset`.
pub fn chunk_of(offset: u64, chunk_size: u64) -> u64 {
    offset / chunk_size
}

/// The byte range of chunk `index`, ignoring object sizes.
pub fn chunk_range(index: u64, chunk_size: u64) -> Range<u64> {
    let start = index.saturating_mul(chunk_size);
    start..start.saturating_add(chunk_size)
}

/// Indices of the chunks overlapping `range`.
pub fn chunks_overlapping(range: &Range<u64>, chunk_size: u64) -> Range<u64> {
    if range.start >= range.end {
        return 0..0;
    }
    chunk_of(range.start, chunk_size)..chunk_of(range.end - 1, chunk_size) + 1
}

/// The bytes of chunk `index` that hold base-version data while the entry is `local_size`
/// long: the chunk range clipped to both sizes. A clean chunk's CRC covers exactly these.
pub fn live_extent(index: u64, chunk_size: u64, base_size: u64, local_size: u64) -> Range<u64> {
    let r = chunk_range(index, chunk_size);
    let end = r.end.min(base_size).min(local_size);
    r.start..end.max(r.start)
}

/// Rounds `range` out to whole chunks.
pub fn align_out(range: &Range<u64>, chunk_size: u64) -> Range<u64> {
    let c = chunks_overlapping(range, chunk_size);
    c.start * chunk_size..c.end * chunk_size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_keeps_every_object_within_the_part_limit() {
        const MIB: u64 = 1 << 20;
        assert_eq!(part_size(10 * MIB, 5 * MIB, MIB), 5 * MIB);
        assert_eq!(part_size(0, 5 * MIB, 4 * MIB), 8 * MIB, "whole chunks");
        for size in [48 << 30, 49 << 30, 100 << 30, 5u64 << 40] {
            let p = part_size(size, 5 * MIB, MIB);
            assert!(size.div_ceil(p) <= MAX_PARTS, "{size}: {p}");
            assert_eq!(p % MIB, 0);
            assert!(p >= 5 * MIB);
        }
    }
    use quickcheck::quickcheck;

    quickcheck! {
        fn every_byte_in_exactly_one_overlapping_chunk(a: u32, len: u16, cs: u16) -> bool {
            let cs = u64::from(cs % 4096) + 1;
            let r = u64::from(a)..u64::from(a) + u64::from(len);
            let chunks = chunks_overlapping(&r, cs);
            r.clone().step_by(97).all(|b| {
                let c = chunk_of(b, cs);
                chunks.contains(&c) && chunk_range(c, cs).contains(&b)
            }) && (r.is_empty() || (chunk_range(chunks.start, cs).contains(&r.start)
                && chunk_range(chunks.end - 1, cs).contains(&(r.end - 1))))
        }

        fn live_extent_within_chunk_and_sizes(i: u16, cs: u16, base: u32, local: u32) -> bool {
            let cs = u64::from(cs % 4096) + 1;
            let e = live_extent(u64::from(i), cs, u64::from(base), u64::from(local));
            let r = chunk_range(u64::from(i), cs);
            e.start == r.start && e.end <= r.end && e.end >= e.start
                && (e.is_empty() || (e.end <= u64::from(base) && e.end <= u64::from(local)))
        }

        fn align_out_contains_and_is_aligned(a: u32, len: u16, cs: u16) -> bool {
            let cs = u64::from(cs % 4096) + 1;
            let r = u64::from(a)..u64::from(a) + u64::from(len) + 1;
            let o = align_out(&r, cs);
            o.start <= r.start && o.end >= r.end && o.start % cs == 0 && o.end % cs == 0
                && o.end - o.start < (r.end - r.start) + 2 * cs
        }
    }
}
