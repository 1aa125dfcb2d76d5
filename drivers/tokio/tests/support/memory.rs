//! The memory-limit workload both drivers' tests run: twelve writers, each six 24 KiB
//! writes and one of 72 KiB (larger than the whole write budget), under a `memory_limit` of
//! 256 KiB with 64 KiB chunks.

use super::counting::Counting;
use super::pattern;
use silt_engine::{MemoryStatus, Options};
use silt_s3::S3Remote;
use std::time::Duration;

/// Writers at once.
pub const WRITERS: usize = 12;
/// Pieces each writer writes before its large write.
const WRITES: usize = 6;
/// The size of a piece.
pub const PIECE: usize = 24 << 10;
/// The write-body budget: a quarter of the limit.
pub const WRITE_LIMIT: u64 = 64 << 10;

/// Sets the limit and a core that holds nothing while the writers run.
pub fn tiny_limit<D>(o: &mut Options<Counting<S3Remote>, D>) {
    o.core.chunk_size = 64 << 10;
    o.core.readahead_initial = 64 << 10;
    o.core.readahead_max = 128 << 10;
    // 192 KiB for the core (three chunks), 64 KiB for write bodies (two pieces).
    o.memory_limit = 256 << 10;
    // Uploads wait for the flush: while the writers run, the core holds nothing (an upload
    // body may pass the core's share when none other is out, by design).
    o.core.write_back_delay = Duration::from_secs(600);
}

/// The key of writer `w`.
pub fn key(w: usize) -> String {
    format!("mem/{w}.bin")
}

/// What writer `w` writes, in order: the pieces, then one write larger than the budget.
pub fn writes(w: usize) -> Vec<(u64, Vec<u8>)> {
    let mut out: Vec<(u64, Vec<u8>)> = (0..WRITES)
        .map(|i| ((i * PIECE) as u64, pattern(PIECE, (w * 16 + i) as u8)))
        .collect();
    out.push(((WRITES * PIECE) as u64, pattern(3 * PIECE, w as u8)));
    out
}

/// What the object of writer `w` holds once its writes are in.
pub fn object(w: usize) -> Vec<u8> {
    writes(w).into_iter().flat_map(|(_, data)| data).collect()
}

/// Checks a sample taken while the writers run; returns the write bodies in flight.
pub fn sample(m: &MemoryStatus) -> u64 {
    assert!(
        m.write_bodies <= WRITE_LIMIT,
        "write bodies within their share: {m:?}"
    );
    m.write_bodies
}

/// Checks the figures after every writer is done: the peak stayed within the share (and is
/// at least `peak_seen`), writes ran side by side, some waited, nothing is held any more.
pub fn after(m: &MemoryStatus, peak_seen: u64) {
    assert_eq!(m.write_limit, WRITE_LIMIT, "{m:?}");
    assert!(
        m.write_bodies_peak <= WRITE_LIMIT,
        "peak within the share: {m:?}"
    );
    assert!(m.write_bodies_peak >= peak_seen, "{m:?}");
    assert!(
        m.write_bodies_peak > PIECE as u64,
        "writes ran side by side: {m:?}"
    );
    assert!(m.writes_waited > 0, "writers had to wait: {m:?}");
    assert_eq!(m.write_bodies, 0, "all answered");
    assert!(m.core.total() == 0 && m.in_use() == 0, "{m:?}");
}
