//! Scenario tests of the core, driven by hand through the tiny world in `harness/`.

mod harness;

use bytes::Bytes;
use harness::{small_config, World};
use silt_core::{Event, FileError, IndexOp, LocalOp, Precondition, RemoteOp, Reply, Request};

fn write(w: &mut World, h: silt_core::HandleId, offset: u64, data: &[u8]) {
    let r = w.call(Request::Write {
        handle: h,
        offset,
        data: Bytes::copy_from_slice(data),
    });
    assert_eq!(
        r,
        Ok(Reply::Written {
            len: data.len() as u64
        })
    );
}

fn read(w: &mut World, h: silt_core::HandleId, offset: u64, len: u64) -> Vec<u8> {
    w.read(h, offset, len)
}

#[test]
fn fsync_is_answered_only_after_data_sync_and_index_commit() {
    let mut w = World::new(small_config());
    let h = w.open("k", true);
    write(&mut w, h, 0, b"hello");
    let r = w.request(Request::Fsync { handle: h });
    // First the cache file is synced...
    assert!(w
        .local
        .iter()
        .any(|(_, op)| matches!(op, LocalOp::Sync { .. })));
    assert!(w.txns.is_empty(), "no commit before the data sync");
    w.run_local();
    // ...then one transaction records the dirty range and the upload intent...
    assert_eq!(w.txns.len(), 1);
    let txn = w.txns[0].1.clone();
    assert!(
        txn.ops
            .iter()
            .any(|o| matches!(o, IndexOp::PutEntryHead(_))),
        "the entry is in the transaction"
    );
    let extents: Vec<_> = txn
        .ops
        .iter()
        .filter_map(|o| match o {
            IndexOp::PutExtent(_, x) => Some((x.offset, x.len)),
            _ => None,
        })
        .collect();
    assert_eq!(
        extents,
        vec![(0, 5)],
        "the dirty range is in the transaction"
    );
    assert!(
        w.reply(r).is_none(),
        "no reply before the commit is durable"
    );
    // ...and only its completion answers the fsync, with the upload intent durable too.
    w.run_index();
    assert_eq!(w.reply(r), Some(&Ok(Reply::Synced)));
    assert!(
        w.index
            .journal
            .iter()
            .any(|j| j.path == "k" && matches!(j.op, silt_core::JournalOp::Upload { .. })),
        "the upload intent is in the index"
    );
}

#[test]
fn reads_see_writes_over_a_fetched_object() {
    let mut w = World::new(small_config());
    w.put_object("obj", &[7u8; 40]);
    let h = w.open("obj", false);
    write(&mut w, h, 10, b"abcd");
    let got = read(&mut w, h, 0, 40);
    let mut want = vec![7u8; 40];
    want[10..14].copy_from_slice(b"abcd");
    assert_eq!(got, want);
    // The partial write did not dirty whole chunks.
    assert_eq!(w.core.dirty_bytes(), 4);
}

#[test]
fn new_objects_go_up_with_if_none_match_and_existing_ones_with_if_match() {
    let mut w = World::new(small_config());
    let etag = w.put_object("old", b"0123456789");
    let h = w.open("new", true);
    write(&mut w, h, 0, b"fresh");
    let h2 = w.open("old", false);
    write(&mut w, h2, 0, b"X");
    assert!(w.drive(10_000));
    let puts: Vec<_> = w
        .remote_log
        .iter()
        .filter_map(|op| match op {
            RemoteOp::Put {
                key, precondition, ..
            } => Some((key.clone(), precondition.clone())),
            _ => None,
        })
        .collect();
    assert!(puts.contains(&("new".into(), Some(Precondition::IfNoneMatch))));
    assert!(puts.contains(&("old".into(), Some(Precondition::IfMatch(etag)))));
    assert_eq!(&w.bucket["new"].data[..], b"fresh");
    assert_eq!(&w.bucket["old"].data[..], b"X123456789");
}

#[test]
fn a_412_keeps_the_local_version_as_a_conflict_copy() {
    let mut w = World::new(small_config());
    w.put_object("doc", b"base version....");
    let h = w.open("doc", false);
    write(&mut w, h, 0, b"MINE");
    // Someone else replaces the object before the upload.
    w.put_object("doc", b"theirs");
    assert!(w.drive(10_000));
    let conflict = w.events.iter().find_map(|e| match e {
        Event::Conflict(c) => Some(c.clone()),
        _ => None,
    });
    let c = conflict.expect("a conflict is reported");
    assert_eq!(c.original_key, "doc");
    assert_eq!(
        &w.bucket["doc"].data[..],
        b"theirs",
        "their version is not overwritten"
    );
    let copy = &w.bucket[c.conflict_key.as_str()].data;
    assert_eq!(&copy[..4], b"MINE", "our bytes are kept");
    assert!(
        w.index
            .conflicts
            .iter()
            .any(|x| x.conflict_key == c.conflict_key),
        "the conflict is recorded durably"
    );
}

/// What the upload of a small change sent to the server.
struct UploadSent {
    /// Bytes in PUT and UploadPart bodies.
    bytes: usize,
    /// Part copies: (part number, source range).
    copies: Vec<(u32, std::ops::Range<u64>)>,
    /// The part numbers the Complete names.
    completed: Vec<u32>,
}

/// The remote operations of a small change at byte 100 of a 256-byte object (parts of 32
/// bytes).
fn small_change_of_a_large_object(coalesce: bool) -> UploadSent {
    let mut cfg = small_config();
    cfg.coalesce_copies = coalesce;
    let mut w = World::new(cfg);
    let data: Vec<u8> = (0..256u32).map(|i| i as u8).collect();
    w.put_object("big", &data);
    let h = w.open("big", false);
    write(&mut w, h, 100, b"zz");
    assert!(w.drive(10_000));
    let mut want = data.clone();
    want[100..102].copy_from_slice(b"zz");
    assert_eq!(&w.bucket["big"].data[..], &want[..]);
    let bytes: usize = w
        .remote_log
        .iter()
        .map(|op| match op {
            RemoteOp::UploadPart { data, .. } | RemoteOp::Put { data, .. } => data.len(),
            _ => 0,
        })
        .sum();
    let copies = w
        .remote_log
        .iter()
        .filter_map(|op| match op {
            RemoteOp::UploadPartCopy { part, range, .. } => Some((*part, range.clone())),
            _ => None,
        })
        .collect();
    let completed = w
        .remote_log
        .iter()
        .find_map(|op| match op {
            RemoteOp::Complete { parts, .. } => Some(parts.iter().map(|p| p.0).collect()),
            _ => None,
        })
        .expect("a complete");
    UploadSent {
        bytes,
        copies,
        completed,
    }
}

#[test]
fn a_large_object_with_a_small_change_copies_unchanged_parts() {
    let sent = small_change_of_a_large_object(false);
    assert_eq!(sent.bytes, 32, "only the part holding the change is sent");
    assert_eq!(
        sent.copies.len(),
        7,
        "the seven unchanged 32-byte parts are copied server-side"
    );
    assert_eq!(sent.completed, (1..=8).collect::<Vec<u32>>());
}

#[test]
fn coalesced_copies_cover_each_unchanged_run_in_one_copy_and_leave_gaps() {
    let sent = small_change_of_a_large_object(true);
    assert_eq!(sent.bytes, 32, "only the part holding the change is sent");
    assert_eq!(
        sent.copies,
        vec![(1, 0..96), (5, 128..256)],
        "the unchanged 32-byte parts on each side of the change go in one copy each"
    );
    assert_eq!(
        sent.completed,
        vec![1, 4, 5],
        "the slots a copy absorbed are left out"
    );
}

#[test]
fn a_write_that_finds_the_disk_full_fails_with_nospace_after_the_wait() {
    let mut w = World::new(small_config());
    let h = w.open("k", true);
    write(&mut w, h, 0, b"kept");
    w.disk_full = true;
    let r = w.call(Request::Write {
        handle: h,
        offset: 4,
        data: Bytes::from_static(b"more"),
    });
    assert_eq!(r, Err(FileError::NoSpace));
    assert!(w
        .events
        .iter()
        .any(|e| matches!(e, Event::SpaceExhausted { .. })));
    w.disk_full = false;
    assert_eq!(
        read(&mut w, h, 0, 4),
        b"kept",
        "acknowledged bytes are intact"
    );
}

#[test]
fn recovery_requeues_uploads_from_the_index_without_reading_cache_files() {
    let mut w = World::new(small_config());
    let h = w.open("k", true);
    write(&mut w, h, 0, b"durable");
    assert_eq!(w.call(Request::Fsync { handle: h }), Ok(Reply::Synced));
    let files = w.files.clone();
    let index = w.index.clone();
    // Crash: everything in memory is gone; the index and the files remain.
    let mut w2 = World::recover(small_config(), index);
    w2.files = files;
    assert!(
        !w2.local
            .iter()
            .any(|(_, op)| matches!(op, LocalOp::Read { .. })),
        "recovery reads no cache file"
    );
    assert!(w2.drive(10_000));
    assert_eq!(&w2.bucket["k"].data[..], b"durable");
}

#[test]
fn truncate_unlink_and_rename_reach_the_bucket() {
    let mut w = World::new(small_config());
    w.put_object("a", b"0123456789");
    w.put_object("gone", b"x");
    let h = w.open("a", false);
    assert_eq!(
        w.call(Request::Truncate { handle: h, size: 4 }),
        Ok(Reply::Truncated)
    );
    assert_eq!(w.call(Request::Close { handle: h }), Ok(Reply::Closed));
    assert_eq!(
        w.call(Request::Rename {
            from: "a".into(),
            to: "b".into()
        }),
        Ok(Reply::Renamed)
    );
    assert_eq!(
        w.call(Request::Unlink { key: "gone".into() }),
        Ok(Reply::Unlinked)
    );
    assert!(w.drive(10_000));
    assert_eq!(&w.bucket["b"].data[..], b"0123");
    assert!(!w.bucket.contains_key("a"));
    assert!(!w.bucket.contains_key("gone"));
}

#[test]
fn a_read_answered_without_data_is_an_io_error_not_a_panic() {
    // Found by the core_inputs fuzz target: a driver answering a read with `Done`.
    let mut w = World::new(small_config());
    let h = w.open("k", true);
    write(&mut w, h, 0, b"data");
    let r = w.request(Request::Read {
        handle: h,
        offset: 0,
        len: 4,
    });
    let (id, op) = w.local.pop_front().expect("a local read is ordered");
    assert!(matches!(op, LocalOp::Read { .. }));
    w.input(silt_core::Input::Local(id, Ok(silt_core::LocalOk::Done)));
    assert!(matches!(w.reply(r), Some(Err(FileError::Io(_)))));
    // The next read works.
    assert_eq!(read(&mut w, h, 0, 4), b"data");
}

#[test]
fn a_lookup_is_retried_through_transient_errors_then_fails_cleanly() {
    let mut w = World::new(small_config());
    w.put_object("k", b"x");
    let r = w.request(Request::Open {
        key: "k".into(),
        flags: silt_core::OpenFlags::EXISTING,
    });
    for _ in 0..2 {
        w.answer_remote_with(Err(silt_core::RemoteError::Transient("503".into())));
        assert!(
            w.reply(r).is_none(),
            "a transient error is retried, not answered"
        );
        w.tick(10_000);
    }
    w.answer_remote();
    assert!(matches!(
        w.reply(r),
        Some(Ok(Reply::Opened { size: 1, .. }))
    ));
    // A server that keeps failing: the request gets EIO after the last attempt.
    let r = w.request(Request::Open {
        key: "other".into(),
        flags: silt_core::OpenFlags::EXISTING,
    });
    for _ in 0..4 {
        w.answer_remote_with(Err(silt_core::RemoteError::Transient("503".into())));
        w.tick(10_000);
    }
    assert!(matches!(w.reply(r), Some(Err(FileError::Io(_)))));
}

/// `Flush` makes a queued upload (and its retry after a failure) go at once, without waiting
/// out the write-back delay or the backoff, and commits what is not yet committed.
#[test]
fn flush_starts_queued_uploads_and_retries_now() {
    let mut cfg = small_config();
    cfg.write_back_delay = std::time::Duration::from_secs(3600);
    cfg.retry_initial = std::time::Duration::from_secs(3600);
    cfg.retry_max = std::time::Duration::from_secs(3600);
    let mut w = World::new(cfg);
    let h = w.open("k", true);
    write(&mut w, h, 0, b"flushed");
    assert_eq!(w.call(Request::Fsync { handle: h }), Ok(Reply::Synced));
    w.drive(50);
    assert!(
        !w.remote_log
            .iter()
            .any(|op| matches!(op, RemoteOp::Put { .. })),
        "nothing is sent before the write-back delay"
    );
    assert_eq!(w.call(Request::Flush), Ok(Reply::Flushed));
    // Without the clock moving: the upload's start is committed, its body read, then sent.
    for _ in 0..20 {
        w.run_local();
        w.run_index();
    }
    let put = w
        .remote
        .iter()
        .any(|(_, op)| matches!(op, RemoteOp::Put { .. }));
    assert!(put, "the flush sent the upload at once");
    // The attempt fails; a second flush retries it at once instead of after the backoff.
    w.answer_remote_with(Err(silt_core::RemoteError::Transient("503".into())));
    for _ in 0..20 {
        w.run_local();
        w.run_index();
    }
    assert!(w.remote.is_empty(), "the retry waits for its backoff");
    assert_eq!(w.call(Request::Flush), Ok(Reply::Flushed));
    for _ in 0..20 {
        w.run_local();
        w.run_index();
        w.answer_remote();
    }
    assert_eq!(
        w.bucket.get("k").map(|o| o.data.to_vec()),
        Some(b"flushed".to_vec()),
        "the retry after the second flush stored the bytes"
    );
}

/// Two caches writing one bucket never share an upload token: the same journal record in
/// each (same id, same key) carries its cache's instance id, so a version the other stored
/// is never recognised as our own.
#[test]
fn upload_tokens_carry_the_instance_id() {
    let token_of = |instance_id: u64| {
        let mut cfg = small_config();
        cfg.instance_id = instance_id;
        let mut w = World::new(cfg);
        let h = w.open("k", true);
        write(&mut w, h, 0, b"same bytes");
        assert_eq!(w.call(Request::Fsync { handle: h }), Ok(Reply::Synced));
        w.drive(100);
        w.remote_log
            .iter()
            .find_map(|op| match op {
                RemoteOp::Put { token, .. } => Some(token.clone()),
                _ => None,
            })
            .expect("the file was uploaded")
    };
    let (a, b) = (token_of(0x1111), token_of(0x2222));
    assert_ne!(a, b, "two caches, one bucket: distinct tokens");
    assert!(a.contains("0000000000001111"), "token {a} names its cache");
}

#[test]
fn swapping_two_objects_by_renames_reaches_the_bucket() {
    // Each target key holds the other's source: the uploads wait on each other in a circle
    // until one of them makes its bytes its own (materializes) and stops copying.
    let mut w = World::new(small_config());
    let a: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
    let b: Vec<u8> = (0..180u32).map(|i| (i as u8).wrapping_mul(7)).collect();
    w.put_object("a", &a);
    w.put_object("b", &b);
    for (from, to) in [("a", "tmp"), ("b", "a"), ("tmp", "b")] {
        assert_eq!(
            w.call(Request::Rename {
                from: from.into(),
                to: to.into()
            }),
            Ok(Reply::Renamed),
            "rename {from} -> {to}"
        );
    }
    assert!(w.drive(10_000), "the swap settles");
    assert_eq!(&w.bucket["a"].data[..], &b[..]);
    assert_eq!(&w.bucket["b"].data[..], &a[..]);
    assert!(!w.bucket.contains_key("tmp"));
}

/// Runs everything that can run, with the clock moving, until `t_ms`.
fn run_until(w: &mut World, t_ms: u64) {
    for _ in 0..100_000 {
        let moved = w.run_local() | w.run_index() | w.answer_remote().is_some();
        if !moved {
            if w.now >= t_ms {
                return;
            }
            w.tick(t_ms - w.now);
        }
    }
    panic!("did not reach {t_ms} ms");
}

fn puts_of(w: &World, key: &str) -> usize {
    w.remote_log
        .iter()
        .filter(|op| matches!(op, RemoteOp::Put { key: k, .. } if k == key))
        .count()
}

/// A file that is open is not uploaded while it keeps changing: its upload waits for
/// `open_upload_pause` of quiet (longer than `write_back_delay`), and its last close ends
/// the wait; nothing is sent half-written, not even the empty object of its creation.
#[test]
fn an_open_file_is_uploaded_after_a_pause_in_its_writes_or_at_its_close() {
    let mut cfg = small_config();
    cfg.write_back_delay = std::time::Duration::ZERO;
    cfg.open_upload_pause = std::time::Duration::from_millis(1000);
    let mut w = World::new(cfg);
    let h = w.open("k", true);
    let start = w.now;
    for i in 0..5u64 {
        write(&mut w, h, i * 4, b"abcd");
        run_until(&mut w, start + 400 * (i + 1));
    }
    assert_eq!(
        puts_of(&w, "k"),
        0,
        "written every 400 ms while open: nothing sent"
    );
    assert_eq!(w.call(Request::Close { handle: h }), Ok(Reply::Closed));
    let closed = w.now;
    run_until(&mut w, closed + 50);
    assert_eq!(puts_of(&w, "k"), 1, "the close sends it at once (delay 0)");
    assert_eq!(w.bucket.get("k").map(|o| o.data.len()), Some(20));

    // Still open, left alone: sent one pause after its last write.
    let h = w.open("k", false);
    write(&mut w, h, 20, b"efgh");
    let wrote = w.now;
    run_until(&mut w, wrote + 900);
    assert_eq!(puts_of(&w, "k"), 1, "within the pause: nothing sent");
    run_until(&mut w, wrote + 1100);
    assert_eq!(puts_of(&w, "k"), 2, "one pause after the last write: sent");
    assert_eq!(w.bucket.get("k").map(|o| o.data.len()), Some(24));
    assert_eq!(w.call(Request::Close { handle: h }), Ok(Reply::Closed));
}

/// A file kept open and written without pause still reaches the bucket: the hold ends
/// 30 s after its first change was queued.
#[test]
fn an_open_file_written_without_pause_is_still_uploaded_within_thirty_seconds() {
    let mut cfg = small_config();
    cfg.write_back_delay = std::time::Duration::ZERO;
    cfg.open_upload_pause = std::time::Duration::from_millis(1000);
    let mut w = World::new(cfg);
    let h = w.open("log", true);
    let start = w.now;
    let mut sent_at = None;
    for i in 0..80u64 {
        write(&mut w, h, i, b"x");
        run_until(&mut w, start + 500 * (i + 1));
        if sent_at.is_none() && puts_of(&w, "log") > 0 {
            sent_at = Some(w.now - start);
        }
    }
    let sent_at = sent_at.expect("uploaded while still open and written");
    assert!(
        (29_000..=31_000).contains(&sent_at),
        "first upload at {sent_at} ms, about 30 s after the first change"
    );
    assert_eq!(w.call(Request::Close { handle: h }), Ok(Reply::Closed));
}

/// With `open_upload_pause` at zero, an open file waits like a closed one.
#[test]
fn without_an_open_upload_pause_an_open_file_waits_only_the_write_back_delay() {
    let mut cfg = small_config();
    cfg.write_back_delay = std::time::Duration::from_millis(100);
    cfg.open_upload_pause = std::time::Duration::ZERO;
    let mut w = World::new(cfg);
    let h = w.open("k", true);
    write(&mut w, h, 0, b"abcd");
    let wrote = w.now;
    run_until(&mut w, wrote + 300);
    assert_eq!(puts_of(&w, "k"), 1, "sent while open, after the delay");
    assert_eq!(w.call(Request::Close { handle: h }), Ok(Reply::Closed));
}

/// A rename over a file that is still open: once the rename is acknowledged, a crash brings
/// back the renamed file at the name, never the replaced one (which only its open handle
/// still reached).
#[test]
fn a_rename_over_an_open_file_survives_a_crash_as_the_renamed_file() {
    let mut cfg = small_config();
    cfg.write_back_delay = std::time::Duration::from_secs(3600);
    let mut w = World::new(cfg.clone());
    // The source is made first: recovery must not be right by the order of entry ids.
    let new = w.open("source", true);
    let old = w.open("target", true);
    write(&mut w, old, 0, b"replaced");
    assert_eq!(w.call(Request::Fsync { handle: old }), Ok(Reply::Synced));
    write(&mut w, new, 0, b"renamed!");
    assert_eq!(w.call(Request::Fsync { handle: new }), Ok(Reply::Synced));
    assert_eq!(w.call(Request::Close { handle: new }), Ok(Reply::Closed));
    let r = w.call(Request::Rename {
        from: "source".into(),
        to: "target".into(),
    });
    assert_eq!(r, Ok(Reply::Renamed));
    // Crash with `old` still open: the index and the files remain.
    let (index, files) = (w.index.clone(), w.files.clone());
    let mut w2 = World::recover(cfg, index);
    w2.files = files;
    let h = w2.open("target", false);
    assert_eq!(read(&mut w2, h, 0, 8), b"renamed!");
}
