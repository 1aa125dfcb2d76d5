//! FUSE passthrough: when the core lets the kernel read a cache file itself, and what the
//! pin of such an entry holds back until the last passthrough handle closes.

mod harness;

use harness::{small_config, World};
use silt_core::{EntryId, Event, HandleId, OpenFlags, Reply, Request};

/// A 100-byte object of distinct bytes (chunks are 16 bytes in the small configuration).
fn object(seed: u8) -> Vec<u8> {
    (0..100u8)
        .map(|b| b.wrapping_mul(7).wrapping_add(seed))
        .collect()
}

fn read(w: &mut World, h: HandleId, offset: u64, len: u64) -> Vec<u8> {
    w.read(h, offset, len)
}

/// Opens `key` asking for passthrough: the handle, and the entry when granted.
fn open_pt(w: &mut World, key: &str) -> (HandleId, Option<EntryId>) {
    let r = w.call(Request::Open {
        key: key.into(),
        flags: OpenFlags::PASSTHROUGH,
    });
    match r {
        Ok(Reply::Opened {
            handle,
            passthrough,
            ..
        }) => (handle, passthrough),
        other => panic!("open failed: {other:?}"),
    }
}

/// Runs local I/O, commits, remote answers and timers for a while (`World::drive` waits for
/// nothing to be pending, which an entry holding back its conversion never is).
fn run_for(w: &mut World, rounds: usize) {
    for _ in 0..rounds {
        let moved = w.run_local() | w.run_index() | w.answer_remote().is_some();
        if !moved {
            w.tick(1000);
        }
    }
}

fn close(w: &mut World, h: HandleId) {
    assert_eq!(w.call(Request::Close { handle: h }), Ok(Reply::Closed));
}

/// A world holding `obj` whole in its cache (read once through a handle, closed).
fn cached(data: &[u8]) -> World {
    let mut w = World::new(small_config());
    w.put_object("obj", data);
    let h = w.open("obj", false);
    assert_eq!(read(&mut w, h, 0, 1000), data);
    close(&mut w, h);
    assert!(w.drive(10_000));
    w
}

/// Nothing cached, part cached: no passthrough; all of it cached and verified: granted, with
/// the cache file as long as the object.
#[test]
fn passthrough_is_granted_only_when_every_byte_is_in_the_file() {
    let data = object(3);
    let mut w = World::new(small_config());
    w.put_object("obj", &data);
    let (h, pt) = open_pt(&mut w, "obj");
    assert_eq!(pt, None, "nothing is cached yet");
    assert_eq!(
        read(&mut w, h, 0, 40),
        data[..40],
        "a refused handle reads as usual"
    );
    close(&mut w, h);
    let (h, pt) = open_pt(&mut w, "obj");
    assert_eq!(pt, None, "only the first chunks are cached");
    assert_eq!(read(&mut w, h, 0, 1000), data);
    let (h2, pt) = open_pt(&mut w, "obj");
    let eid = pt.expect("every chunk is cached and verified");
    assert_eq!(w.files[&eid], data, "the kernel reads exactly the object");
    close(&mut w, h2);
    close(&mut w, h);
}

/// After a restart no clean chunk is verified: passthrough waits until reads checked them.
#[test]
fn a_restart_forgets_what_was_verified() {
    let data = object(5);
    let w = cached(&data);
    let mut w2 = World::recover(small_config(), w.index.clone());
    w2.files = w.files.clone();
    w2.bucket = w.bucket.clone();
    let (h, pt) = open_pt(&mut w2, "obj");
    assert_eq!(pt, None, "cached, but not checked in this process");
    assert_eq!(read(&mut w2, h, 0, 1000), data);
    close(&mut w2, h);
    let (h, pt) = open_pt(&mut w2, "obj");
    assert!(pt.is_some(), "every chunk checked by the read");
    close(&mut w2, h);
}

/// A cache file longer than the file (bytes a crash kept past the size the index knows)
/// is cut to the size before the kernel is given it.
#[test]
fn the_cache_file_is_cut_to_the_size_first() {
    let data = object(9);
    let mut w = cached(&data);
    let eid = *w.files.keys().next().expect("a cache file");
    w.files
        .get_mut(&eid)
        .expect("file")
        .extend_from_slice(b"stale tail");
    let (h, pt) = open_pt(&mut w, "obj");
    assert_eq!(pt, Some(eid));
    assert_eq!(w.files[&eid], data);
    close(&mut w, h);
}

/// Dirty bytes are in the cache file: a file written here (and not uploaded) is granted
/// passthrough, and a write through another handle lands in the file the kernel reads.
#[test]
fn dirty_bytes_count_as_present_and_writes_still_land() {
    let mut w = World::new(small_config());
    let wh = w.open("new", true);
    let body = object(1);
    w.call(Request::Write {
        handle: wh,
        offset: 0,
        data: body.clone().into(),
    })
    .expect("write");
    let (h, pt) = open_pt(&mut w, "new");
    let eid = pt.expect("every byte is dirty, in the file");
    assert_eq!(w.files[&eid], body);
    w.call(Request::Write {
        handle: wh,
        offset: 98,
        data: b"tail".to_vec().into(),
    })
    .expect("a write beside a passthrough reader");
    let mut expect = body.clone();
    expect.truncate(98);
    expect.extend_from_slice(b"tail");
    assert_eq!(w.files[&eid], expect, "the kernel reads the write");
    assert_eq!(read(&mut w, wh, 0, 1000), expect, "as the core's reads do");
    close(&mut w, h);
    close(&mut w, wh);
}

/// Eviction leaves a pinned entry alone, and takes it once the passthrough handle closes.
#[test]
fn a_pinned_entry_is_not_evicted() {
    let mut cfg = small_config();
    cfg.cache_budget = 200;
    cfg.dirty_limit = 200;
    let a = object(11);
    let mut w = World::new(cfg);
    w.put_object("a", &a);
    w.put_object("b", &object(13));
    w.put_object("c", &object(17));
    let h = w.open("a", false);
    assert_eq!(read(&mut w, h, 0, 1000), a);
    close(&mut w, h);
    assert!(w.drive(10_000));
    let (pt, granted) = open_pt(&mut w, "a");
    let eid = granted.unwrap_or_else(|| panic!("a is cached: {:?}", w.files));
    for key in ["b", "c"] {
        let h = w.open(key, false);
        read(&mut w, h, 0, 1000);
        close(&mut w, h);
        assert!(w.drive(10_000));
    }
    assert_eq!(w.files[&eid], a, "nothing punched under the reader");
    assert_eq!(
        w.core.chunk_states(eid).len(),
        7,
        "every chunk still cached"
    );
    close(&mut w, pt);
    let h = w.open("b", false);
    read(&mut w, h, 0, 1000);
    close(&mut w, h);
    assert!(w.drive(10_000));
    assert!(
        w.core.chunk_states(eid).len() < 7,
        "unpinned, the least recently used entry is evicted"
    );
}

/// Another writer's version found by an upload (a 412) makes the entry a conflict copy only
/// once the last passthrough reader has closed: until then the file keeps its bytes.
#[test]
fn a_conflict_waits_for_the_last_passthrough_close() {
    let data = object(21);
    let mut w = cached(&data);
    let (pt, granted) = open_pt(&mut w, "obj");
    let eid = granted.expect("cached");
    let wh = w.open("obj", false);
    w.call(Request::Write {
        handle: wh,
        offset: 0,
        data: b"mine".to_vec().into(),
    })
    .expect("write");
    w.call(Request::Fsync { handle: wh }).expect("fsync");
    close(&mut w, wh);
    w.put_object("obj", b"theirs");
    run_for(&mut w, 200);
    let mut expect = data.clone();
    expect[..4].copy_from_slice(b"mine");
    assert!(
        !w.events.iter().any(|e| matches!(e, Event::Conflict(_))),
        "held back while pinned: {:?}",
        w.events
    );
    assert_eq!(w.files[&eid], expect, "the reader's file is unchanged");
    close(&mut w, pt);
    assert!(w.drive(10_000));
    assert!(
        w.events.iter().any(|e| matches!(e, Event::Conflict(_))),
        "the conflict once unpinned: {:?}",
        w.events
    );
}

/// A file written here and uploaded needs no read before passthrough: the upload read its
/// bytes from the cache file and checksummed them in this process.
#[test]
fn a_file_written_and_uploaded_here_is_granted_without_a_read_first() {
    let mut w = World::new(small_config());
    let data = object(3);
    let h = w.open("w", true);
    let r = w.call(Request::Write {
        handle: h,
        offset: 0,
        data: bytes::Bytes::from(data.clone()),
    });
    assert!(r.is_ok(), "{r:?}");
    close(&mut w, h);
    assert!(w.drive(10_000), "the upload settles");
    assert_eq!(w.bucket.get("w").map(|o| o.data.to_vec()), Some(data));
    let (h, granted) = open_pt(&mut w, "w");
    assert!(granted.is_some(), "uploaded bytes are verified");
    close(&mut w, h);
}
