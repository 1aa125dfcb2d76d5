//! The core against the in-memory bucket's faults (silt-memstore, the simulator's bucket):
//! answers lost after the write took effect, a server that is down, refused parts.

mod harness;

use bytes::Bytes;
use harness::{small_config, World};
use silt_core::{Event, Reply, Request};
use silt_memstore::{Fault, OpKind};

fn write_and_fsync(w: &mut World, key: &str, create: bool, data: &[u8]) {
    let h = w.open(key, create);
    let r = w.call(Request::Write {
        handle: h,
        offset: 0,
        data: Bytes::copy_from_slice(data),
    });
    assert_eq!(
        r,
        Ok(Reply::Written {
            len: data.len() as u64
        })
    );
    assert!(w.call(Request::Fsync { handle: h }).is_ok());
}

fn conflicts(w: &World) -> usize {
    w.events
        .iter()
        .filter(|e| matches!(e, Event::Conflict(_)))
        .count()
}

#[test]
fn a_put_whose_answer_was_lost_is_recognised_by_its_token_not_taken_for_a_conflict() {
    let mut w = World::new(small_config());
    w.put_object("doc", b"base");
    w.bucket.inject(Fault::lose_answer(OpKind::Put, 1));
    write_and_fsync(&mut w, "doc", false, b"mine");
    assert!(w.drive(10_000));
    assert!(w.bucket.faults().is_empty(), "the fault struck");
    assert_eq!(&w.bucket["doc"].data[..], b"mine");
    assert_eq!(conflicts(&w), 0, "our own version is no conflict");
    assert!(w.core.journal_records().is_empty());
}

#[test]
fn a_multipart_complete_whose_answer_was_lost_ends_with_the_object_once() {
    let mut w = World::new(small_config());
    let data: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
    w.bucket.inject(Fault::lose_answer(OpKind::Complete, 1));
    write_and_fsync(&mut w, "big", true, &data);
    assert!(w.drive(10_000));
    assert!(w.bucket.faults().is_empty(), "the fault struck");
    assert_eq!(&w.bucket["big"].data[..], &data[..]);
    assert_eq!(conflicts(&w), 0);
    assert_eq!(w.bucket.open_uploads(), 0);
    assert!(w.core.journal_records().is_empty());
}

#[test]
fn uploads_wait_out_a_server_that_is_down_and_arrive_when_it_is_back() {
    let mut w = World::new(small_config());
    write_and_fsync(&mut w, "a", true, b"first");
    w.bucket.down = true;
    // Time passes with the server down: the upload is retried and keeps failing.
    for _ in 0..20 {
        w.run_local();
        w.run_index();
        while w.answer_remote().is_some() {}
        w.tick(200);
    }
    assert!(!w.bucket.contains_key("a"));
    let failed = w
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::UploadFailed {
                    permanent: false,
                    ..
                }
            )
        })
        .count();
    assert!(failed >= 2, "retried while down: {failed} failures");
    assert_eq!(w.core.journal_records().len(), 1);
    w.bucket.down = false;
    assert!(w.drive(10_000));
    assert_eq!(&w.bucket["a"].data[..], b"first");
    assert!(w.core.journal_records().is_empty());
}

#[test]
fn refused_parts_are_sent_again() {
    let mut w = World::new(small_config());
    let data: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
    w.bucket.inject(Fault::refuse(OpKind::UploadPart, 3));
    write_and_fsync(&mut w, "big", true, &data);
    assert!(w.drive(10_000));
    assert!(w.bucket.faults().is_empty(), "the fault struck");
    assert_eq!(&w.bucket["big"].data[..], &data[..]);
    assert_eq!(w.bucket.open_uploads(), 0);
}
