//! SetMtime: the time is kept locally at once, durable when answered, stored with the object
//! as `x-amz-meta-mtime`, and for an object whose bytes did not change sent as a server-side
//! copy, never as the bytes again.

mod harness;

use bytes::Bytes;
use harness::{small_config, World};
use silt_core::{HandleId, Reply, Request};

const M: u64 = 1_234_567_890_123;

fn stat_mtime(w: &mut World, key: &str) -> u64 {
    match w.call(Request::Stat { key: key.into() }) {
        Ok(Reply::Attr(a)) => a.mtime_ms,
        other => panic!("stat {key}: {other:?}"),
    }
}

/// Sets the modification time of the file open as `h` to `mtime_ms`; the request is answered.
fn set_mtime(w: &mut World, h: HandleId, mtime_ms: u64) {
    assert_eq!(
        w.call(Request::SetMtime {
            handle: h,
            mtime_ms
        }),
        Ok(Reply::MtimeSet)
    );
}

/// The object at `key` in the bucket: its bytes and the mtime its metadata carries.
fn stored(w: &World, key: &str) -> (Vec<u8>, Option<u64>) {
    let o = w.bucket.objects.get(key).expect("in the bucket");
    (o.data.to_vec(), o.mtime_ms)
}

#[test]
fn a_new_time_on_a_clean_object_is_a_server_side_copy() {
    for size in [10usize, 200] {
        let mut w = World::new(small_config());
        let body: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let old = w.put_object("a", &body);
        let h = w.open("a", false);
        let sent_before = w.bucket.bytes_received();
        let log_from = w.remote_log.len();
        set_mtime(&mut w, h, M);
        // Kept locally at once, before any upload.
        assert_eq!(stat_mtime(&mut w, "a"), M);
        assert!(w.drive(10_000), "settles");
        assert_eq!(stored(&w, "a"), (body.clone(), Some(M)), "size {size}");
        assert_eq!(
            w.bucket.bytes_received(),
            sent_before,
            "size {size}: no byte of the object went up again"
        );
        let ops: Vec<String> = w.remote_log[log_from..]
            .iter()
            .map(|op| format!("{op:?}"))
            .collect();
        assert!(
            ops.iter().any(|o| o.starts_with("UploadPartCopy")),
            "size {size}: copied server-side: {ops:?}"
        );
        assert!(
            ops.iter()
                .all(|o| !o.starts_with("Put ") && !o.starts_with("UploadPart {")),
            "size {size}: {ops:?}"
        );
        assert!(
            ops.iter()
                .any(|o| o.starts_with("Complete") && o.contains(&format!("IfMatch({old:?})"))),
            "size {size}: conditional on the version copied: {ops:?}"
        );
        assert_eq!(stat_mtime(&mut w, "a"), M, "size {size}: after the upload");
        // Nothing more to do: the time is the new version's.
        let n = w.remote_log.len();
        assert!(w.drive(10_000));
        assert_eq!(w.remote_log.len(), n, "no second upload");
    }
}

#[test]
fn an_upload_after_writes_carries_the_time_set_last() {
    let mut w = World::new(small_config());
    let h = w.open("f", true);
    w.now = 5_000;
    let r = w.call(Request::Write {
        handle: h,
        offset: 0,
        data: Bytes::from_static(b"hello"),
    });
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(stat_mtime(&mut w, "f"), 5_000, "a write sets the time");
    set_mtime(&mut w, h, M);
    assert!(w.drive(10_000));
    assert_eq!(stored(&w, "f"), (b"hello".to_vec(), Some(M)));
    // A later write sets the time to its own, and that goes up with the bytes.
    w.now = 9_000;
    let r = w.call(Request::Write {
        handle: h,
        offset: 5,
        data: Bytes::from_static(b"!"),
    });
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(stat_mtime(&mut w, "f"), 9_000);
    assert!(w.drive(10_000));
    assert_eq!(stored(&w, "f"), (b"hello!".to_vec(), Some(9_000)));
}

#[test]
fn a_time_answered_survives_a_crash_and_still_reaches_the_bucket() {
    let mut w = World::new(small_config());
    w.put_object("a", b"0123456789");
    let h = w.open("a", false);
    set_mtime(&mut w, h, M);
    // Crash before any upload: the answer promised durability.
    let bucket = w.bucket.clone();
    let mut w2 = World::recover(small_config(), w.index.clone());
    w2.bucket = bucket;
    assert_eq!(stat_mtime(&mut w2, "a"), M);
    assert!(w2.drive(10_000));
    assert_eq!(stored(&w2, "a"), (b"0123456789".to_vec(), Some(M)));
}

#[test]
fn a_time_set_on_an_object_another_writer_replaced_is_a_conflict_not_an_overwrite() {
    let mut w = World::new(small_config());
    w.put_object("a", b"mine");
    let h = w.open("a", false);
    // Someone else replaces it before the new time goes up.
    w.put_object("a", b"theirs");
    set_mtime(&mut w, h, M);
    assert!(w.drive(10_000));
    assert_eq!(stored(&w, "a").0, b"theirs".to_vec(), "never overwritten");
}
