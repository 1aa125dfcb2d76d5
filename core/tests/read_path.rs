//! The read path: what a read costs in cache-file bytes, and what guards the bytes it returns.

mod harness;

use bytes::Bytes;
use harness::{small_config, World};
use silt_core::{HandleId, Reply, Request};

/// A 100-byte object of distinct bytes (chunks are 16 bytes in the small configuration).
fn object() -> Vec<u8> {
    (0..100u8)
        .map(|b| b.wrapping_mul(7).wrapping_add(3))
        .collect()
}

fn read(w: &mut World, h: HandleId, offset: u64, len: u64) -> Vec<u8> {
    w.read(h, offset, len)
}

/// Cache-file bytes read since the log was last cleared.
fn bytes_read(w: &mut World) -> u64 {
    let n = w.read_log.iter().map(|r| r.2).sum();
    w.read_log.clear();
    n
}

/// A world that cached the whole object and closed it, restarted from its index and files
/// (byte `corrupt` of the cache file flipped before the restart, if given).
fn restarted_with_cached_object(corrupt: Option<usize>) -> (World, Vec<u8>) {
    let mut w = World::new(small_config());
    let data = object();
    w.put_object("obj", &data);
    let h = w.open("obj", false);
    assert_eq!(read(&mut w, h, 0, 100), data);
    assert_eq!(w.call(Request::Close { handle: h }), Ok(Reply::Closed));
    assert!(w.drive(10_000));
    let mut files = w.files.clone();
    if let Some(b) = corrupt {
        for f in files.values_mut() {
            f[b] ^= 0x40;
        }
    }
    let mut w2 = World::recover(small_config(), w.index.clone());
    w2.files = files;
    w2.bucket = w.bucket.clone();
    (w2, data)
}

/// A chunk fetched and written by the core is verified: reads of it read what they ask,
/// not its whole extent.
#[test]
fn a_fetched_chunk_is_read_as_asked() {
    let mut w = World::new(small_config());
    let data = object();
    w.put_object("obj", &data);
    let h = w.open("obj", false);
    assert_eq!(read(&mut w, h, 0, 100), data);
    // Closing drops the fetched bytes kept in memory: reads now come from the file.
    assert_eq!(w.call(Request::Close { handle: h }), Ok(Reply::Closed));
    let h = w.open("obj", false);
    bytes_read(&mut w);
    for (off, len) in [(21, 3), (16, 16), (40, 2), (33, 30)] {
        assert_eq!(
            read(&mut w, h, off, len),
            &data[off as usize..(off + len) as usize]
        );
        assert_eq!(
            bytes_read(&mut w),
            len,
            "a read of {len} bytes at {off} of cached, verified chunks reads only those"
        );
    }
}

/// After a restart nothing is verified: the first read of a chunk covers and checks its
/// whole extent, later reads of it read what they ask.
#[test]
fn after_a_restart_each_chunk_is_checked_once() {
    let (mut w2, data) = restarted_with_cached_object(None);
    let h = w2.open("obj", false);
    assert_eq!(read(&mut w2, h, 20, 4), &data[20..24]);
    assert_eq!(
        bytes_read(&mut w2),
        16,
        "the first read checks the whole chunk"
    );
    // The rest of the chunk is kept in memory for a sequential reader: the next read of it
    // reads nothing from the file.
    assert_eq!(read(&mut w2, h, 24, 4), &data[24..28]);
    assert_eq!(
        bytes_read(&mut w2),
        0,
        "the checked chunk's tail answers the next read"
    );
    // Once the handle is closed, reads come from the file again, only the bytes asked.
    assert_eq!(w2.call(Request::Close { handle: h }), Ok(Reply::Closed));
    let h = w2.open("obj", false);
    assert_eq!(read(&mut w2, h, 20, 4), &data[20..24]);
    assert_eq!(bytes_read(&mut w2), 4, "the chunk is verified now");
    assert!(
        w2.remote_log
            .iter()
            .all(|op| !matches!(op, silt_core::RemoteOp::Get { .. })),
        "nothing was fetched again"
    );
}

/// A cache file changed behind the core's back before a restart: the check catches the bad
/// chunk, it is fetched again, and the read returns the object's bytes.
#[test]
fn a_corrupt_chunk_after_a_restart_is_fetched_again() {
    let (mut w2, data) = restarted_with_cached_object(Some(35));
    let h = w2.open("obj", false);
    assert_eq!(read(&mut w2, h, 34, 3), &data[34..37]);
    let gets = w2
        .remote_log
        .iter()
        .filter(|op| matches!(op, silt_core::RemoteOp::Get { .. }))
        .count();
    assert_eq!(gets, 1, "the corrupt chunk, and only it, was fetched again");
    assert_eq!(read(&mut w2, h, 0, 100), data);
}

/// A write over a verified chunk makes its bytes dirty; they are read back as written, and
/// the chunk's clean neighbours stay verified.
#[test]
fn a_write_over_a_verified_chunk_reads_back_as_written() {
    let mut w = World::new(small_config());
    let mut data = object();
    w.put_object("obj", &data);
    let h = w.open("obj", false);
    assert_eq!(read(&mut w, h, 0, 100), data);
    let r = w.call(Request::Write {
        handle: h,
        offset: 18,
        data: Bytes::from_static(b"xyz"),
    });
    assert_eq!(r, Ok(Reply::Written { len: 3 }));
    data[18..21].copy_from_slice(b"xyz");
    bytes_read(&mut w);
    assert_eq!(read(&mut w, h, 0, 100), data);
    assert_eq!(bytes_read(&mut w), 100);
}

/// Local reads in flight, by entry: (offset, len).
fn reads_in_flight(w: &World) -> Vec<(u64, u64)> {
    w.local
        .iter()
        .filter_map(|(_, op)| match op {
            silt_core::LocalOp::Read { offset, len, .. } => Some((*offset, *len)),
            _ => None,
        })
        .collect()
}

/// Reads of one file run together: all are out before any completes.
#[test]
fn reads_of_one_file_run_concurrently() {
    let mut w = World::new(small_config());
    let data = object();
    w.put_object("obj", &data);
    let h = w.open("obj", false);
    assert_eq!(read(&mut w, h, 0, 100), data);
    assert!(w.drive(10_000), "the fetched chunks are written");
    let reqs: Vec<_> = (0..6u64)
        .map(|i| {
            w.request(Request::Read {
                handle: h,
                offset: i * 16,
                len: 16,
            })
        })
        .collect();
    assert_eq!(reads_in_flight(&w).len(), 6, "every read is out at once");
    assert!(w.drive(10_000));
    for (i, r) in reqs.into_iter().enumerate() {
        let want = &data[i * 16..(i * 16 + 16).min(100)];
        assert_eq!(
            w.reply(r),
            Some(&Ok(Reply::Data(Bytes::copy_from_slice(want))))
        );
    }
}

/// A write waits for the reads in flight over its chunks, and only for those; a read queued
/// after a write sees it.
#[test]
fn a_write_orders_only_against_what_overlaps_it() {
    let mut w = World::new(small_config());
    let mut data = object();
    w.put_object("obj", &data);
    let h = w.open("obj", false);
    assert_eq!(read(&mut w, h, 0, 100), data);
    assert!(w.drive(10_000), "the fetched chunks are written");
    let early = w.request(Request::Read {
        handle: h,
        offset: 0,
        len: 16,
    });
    let other = w.request(Request::Write {
        handle: h,
        offset: 40,
        data: Bytes::from_static(b"far"),
    });
    let writes = |w: &World| {
        w.local
            .iter()
            .filter(|(_, op)| matches!(op, silt_core::LocalOp::Write { .. }))
            .count()
    };
    assert_eq!(
        writes(&w),
        1,
        "a write to another chunk does not wait for the read"
    );
    let same = w.request(Request::Write {
        handle: h,
        offset: 4,
        data: Bytes::from_static(b"near"),
    });
    assert_eq!(
        writes(&w),
        1,
        "a write to the chunk being read waits for the read"
    );
    let late = w.request(Request::Read {
        handle: h,
        offset: 0,
        len: 16,
    });
    assert!(w.drive(10_000));
    assert_eq!(
        w.reply(early),
        Some(&Ok(Reply::Data(Bytes::copy_from_slice(&data[0..16])))),
        "the read queued first does not see the write queued after it"
    );
    assert_eq!(w.reply(other), Some(&Ok(Reply::Written { len: 3 })));
    assert_eq!(w.reply(same), Some(&Ok(Reply::Written { len: 4 })));
    data[4..8].copy_from_slice(b"near");
    assert_eq!(
        w.reply(late),
        Some(&Ok(Reply::Data(Bytes::copy_from_slice(&data[0..16])))),
        "the read queued after the write sees it"
    );
}

/// An upload reads its part in chunk-sized pieces: a write waits for the piece over its chunk,
/// not for the whole part, and the upload still lands with the snapshot it took.
#[test]
fn a_write_during_an_upload_waits_for_one_piece() {
    let mut w = World::new(small_config());
    let h = w.open("big", true);
    let first: Vec<u8> = (0..128u8).collect();
    let r = w.call(Request::Write {
        handle: h,
        offset: 0,
        data: Bytes::from(first.clone()),
    });
    assert_eq!(r, Ok(Reply::Written { len: 128 }));
    assert_eq!(w.call(Request::Fsync { handle: h }), Ok(Reply::Synced));
    // Past the write-back delay the multipart upload starts and reads its first parts.
    for _ in 0..50 {
        if !reads_in_flight(&w).is_empty() {
            break;
        }
        if w.answer_remote().is_none() {
            w.run_index();
            w.tick(50);
        }
    }
    let pieces = reads_in_flight(&w);
    assert!(
        pieces.len() >= 2 && pieces.iter().all(|&(_, len)| len <= 16),
        "the part is read in chunk-sized pieces: {pieces:?}"
    );
    let (at, _) = pieces[0];
    let write = w.request(Request::Write {
        handle: h,
        offset: at + 2,
        data: Bytes::from_static(b"zz"),
    });
    let writes = |w: &World| {
        w.local
            .iter()
            .filter(|(_, op)| matches!(op, silt_core::LocalOp::Write { .. }))
            .count()
    };
    assert_eq!(
        writes(&w),
        0,
        "the write waits for the piece over its chunk"
    );
    assert!(w.run_local_one(
        |op| matches!(op, silt_core::LocalOp::Read { offset, .. } if *offset == at)
    ));
    assert_eq!(writes(&w), 1, "once that piece is read, the write goes");
    assert!(
        reads_in_flight(&w).len() == pieces.len() - 1,
        "while the other pieces are still being read"
    );
    assert!(w.drive(10_000));
    assert_eq!(w.reply(write), Some(&Ok(Reply::Written { len: 2 })));
    let mut want = first;
    want[at as usize + 2..at as usize + 4].copy_from_slice(b"zz");
    assert_eq!(
        &w.bucket["big"].data[..],
        &want[..],
        "the later write reaches the bucket too"
    );
}

/// Two reads of a corrupt chunk run together after a restart: the first to complete finds the
/// chunk corrupt and drops it; the second, completing after, must not trust the bytes it read
/// and runs again.
#[test]
fn a_read_beside_one_that_drops_a_corrupt_chunk_runs_again() {
    let (mut w2, data) = restarted_with_cached_object(Some(35));
    let h = w2.open("obj", false);
    let first = w2.request(Request::Read {
        handle: h,
        offset: 33,
        len: 4,
    });
    let second = w2.request(Request::Read {
        handle: h,
        offset: 34,
        len: 4,
    });
    let reads = reads_in_flight(&w2);
    assert_eq!(reads.len(), 2, "both reads are out: {reads:?}");
    assert!(w2.run_local_one(|op| matches!(op, silt_core::LocalOp::Read { .. })));
    assert!(w2.run_local_one(|op| matches!(op, silt_core::LocalOp::Read { .. })));
    assert!(w2.drive(10_000));
    assert_eq!(
        w2.reply(first),
        Some(&Ok(Reply::Data(Bytes::copy_from_slice(&data[33..37]))))
    );
    assert_eq!(
        w2.reply(second),
        Some(&Ok(Reply::Data(Bytes::copy_from_slice(&data[34..38])))),
        "the second read did not serve the corrupt byte"
    );
}
