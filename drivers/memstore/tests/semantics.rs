//! The store answers the core's operations as S3 does, bent only by the quirks it is given.

use bytes::Bytes;
use silt_core::{Precondition, RemoteError, RemoteOk, RemoteOp};
use silt_memstore::{Effect, MemStore, Quirks};

fn put(key: &str, data: &[u8], precondition: Option<Precondition>) -> RemoteOp {
    RemoteOp::Put {
        key: key.into(),
        data: Bytes::copy_from_slice(data),
        precondition,
        token: "t1".into(),
        mtime_ms: 1_700_000_000_000,
    }
}

fn stored(r: Result<RemoteOk, RemoteError>) -> String {
    match r {
        Ok(RemoteOk::Stored { etag }) => etag,
        other => panic!("not stored: {other:?}"),
    }
}

fn get(key: &str, range: std::ops::Range<u64>, if_match: &str) -> RemoteOp {
    RemoteOp::Get {
        key: key.into(),
        range,
        if_match: if_match.into(),
    }
}

#[test]
fn conditional_puts_create_replace_and_refuse() {
    let mut s = MemStore::new();
    let e1 = stored(s.perform(&put("k", b"one", Some(Precondition::IfNoneMatch)), 5));
    assert_eq!(
        s.perform(&put("k", b"two", Some(Precondition::IfNoneMatch)), 6),
        Err(RemoteError::PreconditionFailed)
    );
    assert_eq!(
        s.perform(
            &put("k", b"two", Some(Precondition::IfMatch("\"x\"".into()))),
            6
        ),
        Err(RemoteError::PreconditionFailed)
    );
    let e2 = stored(s.perform(
        &put("k", b"two", Some(Precondition::IfMatch(e1.clone()))),
        7,
    ));
    assert_ne!(e1, e2);
    let o = &s["k"];
    assert_eq!(
        (&o.data[..], o.etag.as_str(), o.created_ms),
        (&b"two"[..], e2.as_str(), 7)
    );
    assert_eq!(o.token.as_deref(), Some("t1"));
    // Every version stays readable by ETag; a refused write stored nothing.
    assert_eq!(s.versions.get(&e1).map(|b| &b[..]), Some(&b"one"[..]));
    assert_eq!(s.versions.len(), 2);
    assert_eq!(s.bytes_received(), 6);
}

#[test]
fn ranged_gets_are_clamped_and_check_the_version() {
    let mut s = MemStore::new();
    let e = s.outside_put("k", Bytes::from_static(b"0123456789"), 0);
    let Ok(RemoteOk::Got {
        data,
        etag,
        object_size,
    }) = s.perform(&get("k", 4..100, &e), 1)
    else {
        panic!("no data");
    };
    assert_eq!(
        (&data[..], etag, object_size),
        (&b"456789"[..], e.clone(), 10)
    );
    assert!(
        matches!(s.perform(&get("k", 20..30, &e), 1), Ok(RemoteOk::Got { data, .. }) if data.is_empty())
    );
    assert_eq!(
        s.perform(&get("k", 0..1, "\"old\""), 1),
        Err(RemoteError::PreconditionFailed)
    );
    assert_eq!(
        s.perform(&get("nope", 0..1, &e), 1),
        Err(RemoteError::NotFound)
    );
    // A server that ignores If-Match on GET answers with the current version and its ETag:
    // the caller must compare.
    s.quirks.ignore_get_if_match = true;
    assert!(
        matches!(s.perform(&get("k", 0..1, "\"old\""), 1), Ok(RemoteOk::Got { etag, .. }) if etag == e)
    );
}

#[test]
fn multipart_with_copied_parts_builds_the_object() {
    let mut s = MemStore::with_quirks(Quirks {
        min_part_size: 4,
        ..Quirks::default()
    });
    let base = s.outside_put("k", Bytes::from_static(b"AAAABBBBCC"), 0);
    let Ok(RemoteOk::Created { upload_id }) = s.perform(
        &RemoteOp::CreateMultipart {
            key: "k".into(),
            token: "tok".into(),
            mtime_ms: 1_700_000_000_000,
        },
        1,
    ) else {
        panic!("no upload");
    };
    let part = |n: u32, d: &'static [u8]| RemoteOp::UploadPart {
        key: "k".into(),
        upload_id: upload_id.clone(),
        part: n,
        data: Bytes::from_static(d),
    };
    let copy = |n: u32, etag: &str, range| RemoteOp::UploadPartCopy {
        key: "k".into(),
        upload_id: upload_id.clone(),
        part: n,
        source_key: "k".into(),
        source_etag: etag.into(),
        range,
    };
    let etag_of = |r: Result<RemoteOk, RemoteError>| match r {
        Ok(RemoteOk::Part { etag }) => etag,
        other => panic!("{other:?}"),
    };
    let p1 = etag_of(s.perform(&copy(1, &base, 0..4), 2));
    let p2 = etag_of(s.perform(&part(2, b"xxxx"), 2));
    let p3 = etag_of(s.perform(&copy(3, &base, 8..10), 2));
    assert_eq!(
        s.perform(&copy(4, "\"other\"", 0..4), 2),
        Err(RemoteError::PreconditionFailed)
    );
    assert!(matches!(
        s.perform(&copy(4, &base, 8..11), 2),
        Err(RemoteError::Permanent(_))
    ));
    let Ok(RemoteOk::Parts(listed)) = s.perform(
        &RemoteOp::ListParts {
            key: "k".into(),
            upload_id: upload_id.clone(),
        },
        2,
    ) else {
        panic!("no parts");
    };
    assert_eq!(
        listed,
        vec![(1, p1.clone()), (2, p2.clone()), (3, p3.clone())]
    );
    let complete = |parts: Vec<(u32, String)>, p| RemoteOp::Complete {
        key: "k".into(),
        upload_id: upload_id.clone(),
        parts,
        precondition: p,
    };
    // The condition, then the parts' ETags, are checked before anything is stored.
    assert_eq!(
        s.perform(
            &complete(vec![(1, p1.clone())], Some(Precondition::IfNoneMatch)),
            3
        ),
        Err(RemoteError::PreconditionFailed)
    );
    assert!(matches!(
        s.perform(&complete(vec![(1, p2.clone())], None), 3),
        Err(RemoteError::Permanent(m)) if m.contains("etag")
    ));
    // A server that refuses gaps in part numbers (s3s-fs) refuses parts 1 and 3 alone, and
    // the upload stays open.
    s.quirks.refuse_part_gaps = true;
    assert!(matches!(
        s.perform(&complete(vec![(1, p1.clone()), (3, p3.clone())], None), 3),
        Err(RemoteError::Permanent(m)) if m.contains("part order")
    ));
    let parts = vec![(1, p1), (2, p2), (3, p3)];
    stored(s.perform(
        &complete(parts.clone(), Some(Precondition::IfMatch(base))),
        3,
    ));
    assert_eq!(&s["k"].data[..], b"AAAAxxxxCC");
    assert_eq!(s["k"].token.as_deref(), Some("tok"));
    assert_eq!(s.open_uploads(), 0);
    assert_eq!(
        s.perform(&complete(parts, None), 3),
        Err(RemoteError::NoSuchUpload)
    );
}

#[test]
fn a_small_part_but_the_last_is_refused_for_good() {
    let mut s = MemStore::with_quirks(Quirks {
        min_part_size: 4,
        ..Quirks::default()
    });
    let Ok(RemoteOk::Created { upload_id }) = s.perform(
        &RemoteOp::CreateMultipart {
            key: "k".into(),
            token: "tok".into(),
            mtime_ms: 1_700_000_000_000,
        },
        0,
    ) else {
        panic!("no upload");
    };
    let mut parts = vec![];
    for (n, d) in [(1, &b"abc"[..]), (2, &b"d"[..])] {
        let Ok(RemoteOk::Part { etag }) = s.perform(
            &RemoteOp::UploadPart {
                key: "k".into(),
                upload_id: upload_id.clone(),
                part: n,
                data: Bytes::copy_from_slice(d),
            },
            0,
        ) else {
            panic!("no part");
        };
        parts.push((n, etag));
    }
    let mut seen = vec![];
    let op = RemoteOp::Complete {
        key: "k".into(),
        upload_id,
        parts,
        precondition: None,
    };
    let r = s.perform_observed(&op, 0, &mut |e| {
        if let Effect::PartTooSmall { part, size, .. } = e {
            seen.push((part, size));
        }
    });
    assert_eq!(r, Err(RemoteError::Permanent("EntityTooSmall".into())));
    assert_eq!(seen, vec![(1, 3)]);
    assert!(!s.contains_key("k"));
}

#[test]
fn cache_writes_are_announced_with_what_they_replace() {
    let mut s = MemStore::new();
    let theirs = s.outside_put("k", Bytes::from_static(b"theirs"), 0);
    let mut seen = vec![];
    let mut observe = |e: Effect<'_>| match e {
        Effect::Write {
            key,
            previous,
            token,
            condition_enforced,
        } => seen.push(format!(
            "write {key} over {:?} token {token:?} enforced {condition_enforced}",
            previous.map(|o| o.etag.clone())
        )),
        Effect::Delete { key, previous, .. } => {
            seen.push(format!("delete {key} of {}", previous.etag))
        }
        Effect::PartTooSmall { .. } => seen.push("small".into()),
    };
    let op = put("k", b"mine", Some(Precondition::IfMatch(theirs.clone())));
    let mine = stored(s.perform_observed(&op, 1, &mut observe));
    // A refused write announces nothing.
    let op = put("k", b"again", Some(Precondition::IfMatch(theirs.clone())));
    assert!(s.perform_observed(&op, 2, &mut observe).is_err());
    let del = RemoteOp::Delete {
        key: "k".into(),
        if_match: Some(mine.clone()),
    };
    assert_eq!(
        s.perform_observed(&del, 3, &mut observe),
        Ok(RemoteOk::Done)
    );
    assert_eq!(
        seen,
        vec![
            format!("write k over Some({theirs:?}) token Some(\"t1\") enforced true"),
            format!("delete k of {mine}"),
        ]
    );
    assert_eq!(s.perform(&del, 4), Err(RemoteError::NotFound));
}

#[test]
fn servers_that_ignore_write_conditions_overwrite_and_say_so() {
    let mut s = MemStore::with_quirks(Quirks {
        ignore_write_conditions: true,
        ..Quirks::default()
    });
    s.outside_put("k", Bytes::from_static(b"theirs"), 0);
    let mut enforced = None;
    let op = put("k", b"mine", Some(Precondition::IfNoneMatch));
    stored(s.perform_observed(&op, 1, &mut |e| {
        if let Effect::Write {
            condition_enforced, ..
        } = e
        {
            enforced = Some(condition_enforced);
        }
    }));
    assert_eq!(enforced, Some(false));
    assert_eq!(&s["k"].data[..], b"mine");
    let del = RemoteOp::Delete {
        key: "k".into(),
        if_match: Some("\"stale\"".into()),
    };
    assert_eq!(s.perform(&del, 2), Ok(RemoteOk::Done));
}

#[test]
fn listings_page_through_names_under_a_prefix() {
    let mut s = MemStore::new();
    for k in ["a", "d/x", "d/y/z", "d/y/w", "d0", "e"] {
        s.outside_put(k, Bytes::from_static(b"."), 9);
    }
    let list = |s: &mut MemStore, start_after: Option<&str>| match s.perform(
        &RemoteOp::List {
            prefix: "d/".into(),
            start_after: start_after.map(str::to_string),
            max_keys: 1,
        },
        0,
    ) {
        Ok(RemoteOk::Listed(p)) => p,
        other => panic!("{other:?}"),
    };
    let p1 = list(&mut s, None);
    assert_eq!(
        p1.objects
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["d/x"]
    );
    assert!(p1.truncated);
    assert_eq!(p1.objects[0].mtime_ms, 9);
    let p2 = list(&mut s, Some("d/x"));
    assert_eq!(p2.prefixes, vec!["d/y/".to_string()]);
}

#[test]
fn copies_carry_content_and_token_under_conditions() {
    let mut s = MemStore::new();
    let op = put("src", b"data", None);
    let src = stored(s.perform(&op, 0));
    let mut none = |_: Effect<'_>| {};
    assert_eq!(
        s.copy("src", Some("\"old\""), "dst", None, 1, &mut none),
        Err(RemoteError::PreconditionFailed)
    );
    assert_eq!(
        s.copy("missing", None, "dst", None, 1, &mut none),
        Err(RemoteError::NotFound)
    );
    let e = s
        .copy(
            "src",
            Some(&src),
            "dst",
            Some(&Precondition::IfNoneMatch),
            1,
            &mut none,
        )
        .expect("copy");
    assert_eq!(
        (&s["dst"].data[..], s["dst"].etag.as_str()),
        (&b"data"[..], e.as_str())
    );
    assert_eq!(s["dst"].token.as_deref(), Some("t1"));
    assert_eq!(
        s.copy(
            "src",
            None,
            "dst",
            Some(&Precondition::IfNoneMatch),
            2,
            &mut none
        ),
        Err(RemoteError::PreconditionFailed)
    );
}

#[test]
fn the_same_calls_give_the_same_names() {
    let run = || {
        let mut s = MemStore::new();
        let mut out = vec![];
        out.push(s.outside_put("a", Bytes::from_static(b"1"), 0));
        out.push(stored(s.perform(&put("b", b"2", None), 1)));
        if let Ok(RemoteOk::Created { upload_id }) = s.perform(
            &RemoteOp::CreateMultipart {
                key: "c".into(),
                token: "t".into(),
                mtime_ms: 1_700_000_000_000,
            },
            2,
        ) {
            out.push(upload_id);
        }
        out
    };
    assert_eq!(run(), run());
    assert_eq!(run(), vec!["\"v1\"", "\"v2\"", "mpu-3"]);
}
