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
    match w.call(Request::Read {
        handle: h,
        offset,
        len,
    }) {
        Ok(Reply::Data(d)) => d.to_vec(),
        other => panic!("read failed: {other:?}"),
    }
}

/// Cache-file bytes read since the log was last cleared.
fn bytes_read(w: &mut World) -> u64 {
    let n = w.read_log.iter().map(|r| r.2).sum();
    w.read_log.clear();
    n
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
    let mut w = World::new(small_config());
    let data = object();
    w.put_object("obj", &data);
    let h = w.open("obj", false);
    assert_eq!(read(&mut w, h, 0, 100), data);
    assert_eq!(w.call(Request::Close { handle: h }), Ok(Reply::Closed));
    assert!(w.drive(10_000));

    let mut w2 = World::recover(small_config(), w.index.clone());
    w2.files = w.files.clone();
    w2.bucket = w.bucket.clone();
    let h = w2.open("obj", false);
    assert_eq!(read(&mut w2, h, 20, 4), &data[20..24]);
    assert_eq!(
        bytes_read(&mut w2),
        16,
        "the first read checks the whole chunk"
    );
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
    let mut w = World::new(small_config());
    let data = object();
    w.put_object("obj", &data);
    let h = w.open("obj", false);
    assert_eq!(read(&mut w, h, 0, 100), data);
    assert_eq!(w.call(Request::Close { handle: h }), Ok(Reply::Closed));
    assert!(w.drive(10_000));

    let mut files = w.files.clone();
    for f in files.values_mut() {
        f[35] ^= 0x40;
    }
    let mut w2 = World::recover(small_config(), w.index.clone());
    w2.files = files;
    w2.bucket = w.bucket.clone();
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
