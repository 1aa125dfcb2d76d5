//! `SharedStore` behind silt-remote's `ObjectStore` trait: what the drivers' tests use, with
//! the trait's own conventions (a missing delete succeeds, the GET's ETag is checked).

use bytes::Bytes;
use silt_core::{Precondition, RemoteOk, RemoteOp};
use silt_memstore::{Fault, OpKind, SharedStore};
use silt_remote::{execute, ErrorKind, Meta, ObjectStore};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Every future of the store is ready at once.
fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the memory store's futures are always ready"),
    }
}

#[test]
fn the_trait_round_trips_objects_and_multipart() {
    let s = SharedStore::new();
    s.set_now(42);
    let e1 = now(s.put(
        "k",
        Bytes::from_static(b"hello"),
        Some(&Precondition::IfNoneMatch),
        Meta::token("tok"),
    ))
    .expect("put");
    let info = now(s.head("k")).expect("head").expect("there");
    assert_eq!(
        (info.size, info.mtime_ms, info.token.as_deref()),
        (5, 42, Some("tok"))
    );
    let got = now(s.get_range("k", 1..3, Some(&e1))).expect("get");
    assert_eq!((&got.data[..], got.object_size), (&b"el"[..], 5));
    let err = now(s.put(
        "k",
        Bytes::new(),
        Some(&Precondition::IfNoneMatch),
        Meta::NONE,
    ))
    .expect_err("412");
    assert_eq!(
        (err.kind, err.status, err.op),
        (ErrorKind::PreconditionFailed, Some(412), "PutObject")
    );

    let id = now(s.create_multipart("big", Meta::token("tok"))).expect("create");
    let p1 = now(s.upload_part("big", &id, 1, Bytes::from_static(b"ab"))).expect("part");
    let p2 = now(s.upload_part_copy("big", &id, 2, "k", &e1, 0..5)).expect("copy part");
    assert_eq!(now(s.list_parts("big", &id)).expect("parts").len(), 2);
    now(s.complete("big", &id, &[(1, p1), (2, p2)], None)).expect("complete");
    assert_eq!(
        s.with(|m| m["big"].data.clone()),
        Bytes::from_static(b"abhello")
    );
    let err = now(s.abort("big", &id)).expect_err("gone");
    assert_eq!(err.kind, ErrorKind::NoSuchUpload);
}

#[test]
fn a_get_of_another_version_fails_even_where_the_server_ignores_if_match() {
    let s = SharedStore::new();
    s.with(|m| m.quirks.ignore_get_if_match = true);
    s.with(|m| m.outside_put("k", Bytes::from_static(b"new"), 0));
    let err = now(s.get_range("k", 0..3, Some("\"old\""))).expect_err("other version");
    assert_eq!(err.kind, ErrorKind::PreconditionFailed);
    assert!(now(s.get_range("k", 0..3, None)).is_ok());
}

#[test]
fn deletes_listings_and_copies_follow_the_trait() {
    let s = SharedStore::new();
    for k in ["d/a", "d/sub/b", "d/sub/c", "e"] {
        s.with(|m| m.outside_put(k, Bytes::from_static(b"."), 0));
    }
    let listing = now(s.list("d/", Some("/"))).expect("list");
    assert_eq!(
        listing
            .objects
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["d/a"]
    );
    assert_eq!(listing.prefixes, ["d/sub/"]);
    assert_eq!(now(s.list("d/", None)).expect("list").objects.len(), 3);
    let page = now(s.list_page("d/", None, 10)).expect("page");
    assert_eq!(
        (page.objects.len(), page.prefixes.len(), page.truncated),
        (1, 1, false)
    );
    // A missing object's delete succeeds; a stale condition does not.
    now(s.delete("missing", None)).expect("idempotent");
    let err = now(s.delete("e", Some("\"stale\""))).expect_err("412");
    assert_eq!(err.kind, ErrorKind::PreconditionFailed);
    now(s.copy("d/a", None, "moved", Some(&Precondition::IfNoneMatch))).expect("copy");
    assert!(s.with(|m| m.contains_key("moved")));
}

#[test]
fn faults_reach_the_trait_and_the_core_sees_their_classes() {
    let s = SharedStore::new();
    s.with(|m| m.inject(Fault::refuse(OpKind::Put, 1)));
    let op = RemoteOp::Put {
        key: "k".into(),
        data: Bytes::from_static(b"x"),
        precondition: None,
        token: "t".into(),
        mtime_ms: 1_700_000_000_000,
    };
    assert!(matches!(
        now(execute(&s, &op)),
        Err(silt_core::RemoteError::Transient(m)) if m.contains("PutObject")
    ));
    assert!(matches!(now(execute(&s, &op)), Ok(RemoteOk::Stored { .. })));
    s.with(|m| m.down = true);
    let err = now(s.head("k")).expect_err("down");
    assert_eq!(err.kind, ErrorKind::Transient);
}
