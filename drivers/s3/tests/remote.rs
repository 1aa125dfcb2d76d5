//! The remote conformance suite: every case runs against s3s-fs and moto, directly and
//! through the fault-injecting proxy (a fault on every third connection: 503 SlowDown,
//! reset, truncated GET). Each case gets its own bucket and a remote whose capabilities were
//! probed, so that a condition a server ignores is enforced by the HEAD fallback and every
//! case asserts the same behaviour on every server.

mod support;

use bytes::Bytes;
use silt_core::Precondition;
use silt_s3::{probe, ErrorKind, Meta, ObjectStore, S3Remote};
use std::time::Duration;
use support::proxy::{FaultPlan, Proxy};
use support::servers::{self, Server};

const MIB: u64 = 1 << 20;

/// A remote on a fresh bucket, and the proxy it goes through, if any.
struct Ctx {
    remote: S3Remote,
    server: &'static Server,
    _proxy: Option<Proxy>,
}

async fn setup(server: &'static Server, faulty: bool, case: &str) -> Ctx {
    let bucket = servers::bucket_name(case);
    servers::create_bucket(&server.endpoint, &bucket).await;
    let proxy = if faulty {
        let plan = FaultPlan {
            every: 3,
            latency: Duration::from_millis(2),
            only: None,
        };
        Some(Proxy::start(&server.endpoint, plan).await)
    } else {
        None
    };
    let endpoint = proxy
        .as_ref()
        .map_or(server.endpoint.clone(), |p| p.endpoint.clone());
    let mut cfg = servers::config(&endpoint, &bucket);
    cfg.list_page_size = Some(2);
    // One connection per request, so that the proxy's faults hit requests, not just the
    // first request of a long-lived connection.
    cfg.no_connection_reuse = faulty;
    let remote = S3Remote::connect(&cfg).await;
    let caps = probe(&remote, "conformance").await.expect("probe");
    remote.set_capabilities(caps);
    Ctx {
        remote,
        server,
        _proxy: proxy,
    }
}

fn data(len: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect::<Vec<_>>(),
    )
}

fn kind<T: std::fmt::Debug>(r: silt_s3::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind
}

/// A ranged GET retried on transient errors, as the core retries a fetch: a truncated body
/// is an error every time, and a retry converges.
async fn get(
    r: &S3Remote,
    key: &str,
    range: std::ops::Range<u64>,
    if_match: Option<&str>,
) -> silt_s3::Result<silt_s3::Got> {
    let mut attempt = 0;
    loop {
        match r.get_range(key, range.clone(), if_match).await {
            Err(e) if e.kind == ErrorKind::Transient && attempt < 8 => attempt += 1,
            other => return other,
        }
    }
}

async fn whole(r: &S3Remote, key: &str) -> Bytes {
    let size = r.head(key).await.expect("head").expect("exists").size;
    if size == 0 {
        return Bytes::new();
    }
    get(r, key, 0..size, None).await.expect("get").data
}

async fn head_put_get_round_trip(c: Ctx) {
    let r = &c.remote;
    assert_eq!(r.head("obj").await.expect("head"), None);
    let body = data(10_000, 1);
    let etag = r
        .put("obj", body.clone(), None, Meta::token("tok-1"))
        .await
        .expect("put");
    let info = r.head("obj").await.expect("head").expect("exists");
    assert_eq!((info.etag.as_str(), info.size), (etag.as_str(), 10_000));
    assert_eq!(info.token.as_deref(), Some("tok-1"));
    assert!(info.mtime_ms > 1_600_000_000_000, "mtime {}", info.mtime_ms);
    let got = get(r, "obj", 100..4196, Some(&etag)).await.expect("get");
    assert_eq!(got.data, body.slice(100..4196));
    assert_eq!((got.etag, got.object_size), (etag.clone(), 10_000));
    // A range past the end is clamped to the object.
    let got = get(r, "obj", 9_990..20_000, None).await.expect("get tail");
    assert_eq!(got.data, body.slice(9_990..));
    assert_eq!(
        kind(get(r, "missing", 0..10, None).await),
        ErrorKind::NotFound
    );
}

async fn get_of_a_replaced_version_is_a_precondition_failure(c: Ctx) {
    let r = &c.remote;
    let old = r
        .put("v", data(1000, 1), None, Meta::NONE)
        .await
        .expect("put v1");
    r.put("v", data(1000, 2), None, Meta::NONE)
        .await
        .expect("put v2");
    // s3s-fs ignores If-Match on GET; the ETag check catches it all the same.
    assert_eq!(
        kind(get(r, "v", 0..10, Some(&old)).await),
        ErrorKind::PreconditionFailed
    );
}

async fn conditional_puts(c: Ctx) {
    let r = &c.remote;
    let none = Precondition::IfNoneMatch;
    let e1 = r
        .put("c", data(10, 1), Some(&none), Meta::NONE)
        .await
        .expect("create");
    assert_eq!(
        kind(r.put("c", data(10, 2), Some(&none), Meta::NONE).await),
        ErrorKind::PreconditionFailed
    );
    let wrong = Precondition::IfMatch("\"0123456789abcdef0123456789abcdef\"".into());
    assert_eq!(
        kind(r.put("c", data(10, 3), Some(&wrong), Meta::NONE).await),
        ErrorKind::PreconditionFailed
    );
    assert_eq!(
        whole(r, "c").await,
        data(10, 1),
        "refused writes changed nothing"
    );
    let e2 = r
        .put(
            "c",
            data(10, 4),
            Some(&Precondition::IfMatch(e1)),
            Meta::NONE,
        )
        .await
        .expect("replace");
    assert_eq!(whole(r, "c").await, data(10, 4));
    assert_eq!(r.head("c").await.expect("head").expect("exists").etag, e2);
}

async fn multipart_upload_list_and_complete(c: Ctx) {
    let r = &c.remote;
    let p1 = data(5 * MIB as usize, 1);
    let p2 = data(1000, 2);
    let id = r
        .create_multipart("mp", Meta::token("tok-mp"))
        .await
        .expect("create");
    let e1 = r
        .upload_part("mp", &id, 1, p1.clone())
        .await
        .expect("part 1");
    let e2 = r
        .upload_part("mp", &id, 2, p2.clone())
        .await
        .expect("part 2");
    // Every part listed is one uploaded, with its ETag; s3s-fs lists parts without ETags,
    // which the remote leaves out (they are uploaded again on a resume).
    let listed = r.list_parts("mp", &id).await.expect("list parts");
    let uploaded = vec![(1, e1.clone()), (2, e2.clone())];
    assert!(listed.is_empty() || listed == uploaded, "{listed:?}");
    let etag = r
        .complete(
            "mp",
            &id,
            &[(1, e1), (2, e2)],
            Some(&Precondition::IfNoneMatch),
        )
        .await
        .expect("complete");
    let info = r.head("mp").await.expect("head").expect("exists");
    assert_eq!(info.etag, etag);
    assert_eq!(info.token.as_deref(), Some("tok-mp"));
    let mut want = p1.to_vec();
    want.extend_from_slice(&p2);
    assert_eq!(whole(r, "mp").await, Bytes::from(want));
}

async fn upload_part_copy_checks_the_source_version(c: Ctx) {
    let r = &c.remote;
    let base = data(6 * MIB as usize, 3);
    let base_etag = r
        .put("base", base.clone(), None, Meta::NONE)
        .await
        .expect("base");
    let id = r
        .create_multipart("copy", Meta::NONE)
        .await
        .expect("create");
    let wrong = "\"0123456789abcdef0123456789abcdef\"";
    assert_eq!(
        kind(
            r.upload_part_copy("copy", &id, 1, "base", wrong, 0..5 * MIB)
                .await
        ),
        ErrorKind::PreconditionFailed
    );
    let e1 = r
        .upload_part_copy("copy", &id, 1, "base", &base_etag, 0..5 * MIB)
        .await
        .expect("copy part");
    let tail = data(777, 4);
    let e2 = r
        .upload_part("copy", &id, 2, tail.clone())
        .await
        .expect("part 2");
    r.complete("copy", &id, &[(1, e1), (2, e2)], None)
        .await
        .expect("complete");
    let mut want = base[..5 * MIB as usize].to_vec();
    want.extend_from_slice(&tail);
    assert_eq!(whole(r, "copy").await, Bytes::from(want));
}

/// A copy part may cover several slots of the part size: the Complete then names part
/// numbers with gaps. S3 allows them and moto accepts them; s3s-fs refuses them ("invalid
/// part order"), which is why the core coalesces copies only where the probe found them
/// accepted (`Capabilities::part_number_gaps` sets `CoreConfig::coalesce_copies`). The
/// probe asks with a Complete naming a part 2 alone; its answer holds for parts 1 and 3.
async fn a_complete_with_gaps_in_part_numbers_joins_the_parts_named(c: Ctx) {
    let r = &c.remote;
    let accepted = r.capabilities().part_number_gaps;
    assert_eq!(
        accepted,
        c.server.name != "s3s-fs",
        "the probe's answer on {}",
        c.server.name
    );
    let base = data(12 * MIB as usize, 8);
    let base_etag = r
        .put("gappy", base.clone(), None, Meta::NONE)
        .await
        .expect("base");
    let id = r
        .create_multipart("gappy", Meta::NONE)
        .await
        .expect("create");
    // Slots of 5 MiB: part 1 copies slots 1 and 2 (10 MiB), part 3 is the last slot.
    let e1 = r
        .upload_part_copy("gappy", &id, 1, "gappy", &base_etag, 0..10 * MIB)
        .await
        .expect("a copy over two slots");
    let tail = data(2 * MIB as usize, 9);
    let e3 = r
        .upload_part("gappy", &id, 3, tail.clone())
        .await
        .expect("part 3");
    let done = r
        .complete(
            "gappy",
            &id,
            &[(1, e1), (3, e3)],
            Some(&Precondition::IfMatch(base_etag)),
        )
        .await;
    if !accepted {
        let e = done.expect_err("the probe found gaps in part numbers refused");
        assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
        assert_eq!(whole(r, "gappy").await, base, "the base stays");
        let _ = r.abort("gappy", &id).await;
        return;
    }
    done.expect("complete with a gap");
    let mut want = base[..10 * MIB as usize].to_vec();
    want.extend_from_slice(&tail);
    assert_eq!(whole(r, "gappy").await, Bytes::from(want));
}

/// The probe asks whether gaps in part numbers are accepted (moto: yes; s3s-fs: no) and
/// leaves nothing behind: no scratch object, no open upload. The raw server agrees with its
/// answer on the probe's own question, a Complete naming a part 2 alone.
async fn the_probe_asks_whether_gaps_in_part_numbers_are_accepted(c: Ctx) {
    let caps = c.remote.capabilities();
    let want = match c.server.name {
        "s3s-fs" => false,
        "moto" => true,
        other => panic!("which answer for {other}?"),
    };
    assert_eq!(caps.part_number_gaps, want, "{}: {caps:?}", c.server.name);
    // The setup probed this bucket (and a second probe here must leave it as empty).
    let again = probe(&c.remote.for_probe(), "again").await.expect("probe");
    assert_eq!(again, caps);
    let left = c.remote.list("", None).await.expect("list");
    assert!(left.objects.is_empty(), "{:?}", left.objects);
    if let Ok(u) = c
        .remote
        .client()
        .list_multipart_uploads()
        .bucket(c.remote.bucket())
        .send()
        .await
    {
        assert!(u.uploads().is_empty(), "{:?}", u.uploads());
    }

    let raw = S3Remote::connect(&servers::config(&c.server.endpoint, c.remote.bucket())).await;
    let id = raw.create_multipart("g", Meta::NONE).await.expect("create");
    let e2 = raw
        .upload_part("g", &id, 2, data(5, 6))
        .await
        .expect("part 2");
    let done = raw.complete("g", &id, &[(2, e2)], None).await;
    assert_eq!(done.is_ok(), want, "{done:?}");
    if want {
        assert_eq!(whole(&raw, "g").await, data(5, 6));
        raw.delete("g", None).await.expect("delete");
    } else {
        // s3s-fs forgets the upload when it refuses the Complete: its abort then answers
        // AccessDenied, and the part stays in its root folder, outside the bucket.
        let _ = raw.abort("g", &id).await;
    }
}

/// A partial update's copy parts are checked against the base once per upload where the
/// server ignores copy-source conditions; a base replaced between two part copies is then
/// caught by the completion's `If-Match` on the base (enforced by the server, or checked by
/// HEAD where it is not), so no mix of two versions is ever completed.
async fn a_base_replaced_between_part_copies_fails_the_completion(c: Ctx) {
    let r = &c.remote;
    let base = data(11 * MIB as usize, 5);
    let base_etag = r
        .put("edited", base.clone(), None, Meta::NONE)
        .await
        .expect("base");
    let id = r
        .create_multipart("edited", Meta::NONE)
        .await
        .expect("create");
    let e1 = r
        .upload_part_copy("edited", &id, 1, "edited", &base_etag, 0..5 * MIB)
        .await
        .expect("first copy part");
    let outsider = data(11 * MIB as usize, 6);
    r.put("edited", outsider.clone(), None, Meta::NONE)
        .await
        .expect("an outside writer replaces the base");
    let second = r
        .upload_part_copy("edited", &id, 2, "edited", &base_etag, 5 * MIB..10 * MIB)
        .await;
    let mut parts = vec![(1, e1)];
    if let Ok(e2) = second {
        // The server copied from whatever is there now; the completion must refuse it.
        parts.push((2, e2));
    }
    let tail = r
        .upload_part("edited", &id, parts.len() as u32 + 1, data(MIB as usize, 7))
        .await
        .expect("last part");
    parts.push((parts.len() as u32 + 1, tail));
    let done = r
        .complete(
            "edited",
            &id,
            &parts,
            Some(&Precondition::IfMatch(base_etag.clone())),
        )
        .await;
    assert_eq!(kind(done), ErrorKind::PreconditionFailed);
    assert_eq!(
        whole(r, "edited").await,
        outsider,
        "the outside version stays"
    );
    let _ = r.abort("edited", &id).await;
}

async fn complete_on_a_changed_object_is_a_precondition_failure(c: Ctx) {
    let r = &c.remote;
    r.put("target", data(100, 1), None, Meta::NONE)
        .await
        .expect("put");
    let id = r
        .create_multipart("target", Meta::NONE)
        .await
        .expect("create");
    let e1 = r
        .upload_part("target", &id, 1, data(100, 2))
        .await
        .expect("part");
    let wrong = Precondition::IfMatch("\"0123456789abcdef0123456789abcdef\"".into());
    assert_eq!(
        kind(
            r.complete("target", &id, &[(1, e1.clone())], Some(&wrong))
                .await
        ),
        ErrorKind::PreconditionFailed
    );
    assert_eq!(
        whole(r, "target").await,
        data(100, 1),
        "the object is unchanged"
    );
    let _ = r.abort("target", &id).await;
}

async fn abort_then_list_parts_is_no_such_upload(c: Ctx) {
    let r = &c.remote;
    let id = r.create_multipart("ab", Meta::NONE).await.expect("create");
    r.upload_part("ab", &id, 1, data(10, 1))
        .await
        .expect("part");
    r.abort("ab", &id).await.expect("abort");
    // NoSuchUpload (moto, S3); s3s-fs lists nothing instead: either way nothing is reused.
    match r.list_parts("ab", &id).await {
        Err(e) => assert_eq!(e.kind, ErrorKind::NoSuchUpload, "{e}"),
        Ok(parts) => assert!(parts.is_empty(), "{parts:?}"),
    }
    // Completing it fails, never stores anything.
    let complete = r.complete("ab", &id, &[(1, "\"x\"".into())], None).await;
    assert!(complete.is_err(), "{complete:?}");
    assert_eq!(r.head("ab").await.expect("head"), None);
}

async fn list_with_delimiter_across_pages(c: Ctx) {
    let r = &c.remote;
    for k in ["a/1", "a/2", "b", "c/d/e", "z"] {
        r.put(k, data(3, 1), None, Meta::NONE).await.expect("put");
    }
    // Pages of 2 keys: every listing below spans pages.
    let top = r.list("", Some("/")).await.expect("list /");
    let keys: Vec<_> = top.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, vec!["b", "z"]);
    assert_eq!(top.prefixes, vec!["a/", "c/"]);
    for o in &top.objects {
        assert_eq!(o.size, 3);
        if let Some(etag) = &o.etag {
            assert_eq!(
                *etag,
                r.head(&o.key).await.expect("head").expect("exists").etag
            );
        }
    }
    let a = r.list("a/", Some("/")).await.expect("list a/");
    let keys: Vec<_> = a.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, vec!["a/1", "a/2"]);
    let all = r.list("", None).await.expect("list all");
    let keys: Vec<_> = all.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, vec!["a/1", "a/2", "b", "c/d/e", "z"]);
    assert!(all.prefixes.is_empty());
}

/// One page at a time, as the core asks: names after `start_after`, at most `max_keys`, and
/// whether more follow; a subdirectory once, however many keys lie below it.
async fn list_pages_after_a_name(c: Ctx) {
    let r = &c.remote;
    for k in ["d/a", "d/b", "d/c/1", "d/c/2", "d/e", "x"] {
        r.put(k, data(4, 2), None, Meta::NONE).await.expect("put");
    }
    let names = |p: &silt_core::RemotePage| {
        let mut v: Vec<String> = p.objects.iter().map(|o| o.key.clone()).collect();
        v.extend(p.prefixes.iter().cloned());
        v.sort();
        v
    };
    let first = r.list_page("d/", None, 2).await.expect("page 1");
    assert_eq!(names(&first), ["d/a", "d/b"]);
    assert!(first.truncated, "more follow");
    assert!(
        first.objects.iter().all(|o| o.size == 4 && o.mtime_ms > 0),
        "{first:?}"
    );
    let second = r.list_page("d/", Some("d/b"), 2).await.expect("page 2");
    assert_eq!(names(&second), ["d/c/", "d/e"]);
    // After the subdirectory's keys (the core asks past them), only the rest.
    let rest = r
        .list_page("d/", Some("d/c/\u{10FFFF}"), 10)
        .await
        .expect("page 3");
    assert_eq!(names(&rest), ["d/e"]);
    assert!(!rest.truncated, "the last page");
}

async fn deletes_are_conditional_and_idempotent(c: Ctx) {
    let r = &c.remote;
    r.delete("never-there", None).await.expect("delete missing");
    let etag = r.put("d", data(5, 1), None, Meta::NONE).await.expect("put");
    assert_eq!(
        kind(
            r.delete("d", Some("\"0123456789abcdef0123456789abcdef\""))
                .await
        ),
        ErrorKind::PreconditionFailed
    );
    assert!(r.head("d").await.expect("head").is_some(), "kept");
    r.delete("d", Some(&etag)).await.expect("delete");
    assert_eq!(r.head("d").await.expect("head"), None);
}

async fn copy_checks_source_and_destination(c: Ctx) {
    let r = &c.remote;
    let etag = r
        .put("from", data(2000, 1), None, Meta::NONE)
        .await
        .expect("put");
    let wrong = "\"0123456789abcdef0123456789abcdef\"";
    assert_eq!(
        kind(r.copy("from", Some(wrong), "to", None).await),
        ErrorKind::PreconditionFailed
    );
    r.copy("from", Some(&etag), "to", Some(&Precondition::IfNoneMatch))
        .await
        .expect("copy");
    assert_eq!(whole(r, "to").await, data(2000, 1));
    assert_eq!(
        kind(
            r.copy("from", Some(&etag), "to", Some(&Precondition::IfNoneMatch))
                .await
        ),
        ErrorKind::PreconditionFailed
    );
}

async fn awkward_keys_round_trip(c: Ctx) {
    let r = &c.remote;
    // 1 KiB of UTF-8, S3's longest key, in path segments that fit a file name (s3s-fs
    // stores keys as paths).
    let long = format!(
        "{}{}абв",
        format!("{}/", "ключ".repeat(12)).repeat(10),
        "ключ".repeat(6)
    );
    assert_eq!(long.len(), 1024);
    let keys = [
        long.as_str(),
        "sp ace+plus%25=&?#",
        "dir/with/deep/key",
        "x:y",
        "émoji-🦀",
    ];
    for (i, key) in keys.iter().enumerate() {
        let body = data(100, i as u8);
        let put = r.put(key, body.clone(), None, Meta::NONE).await;
        if c.server.name == "s3s-fs" && key.len() > 180 {
            // s3s-fs keeps metadata in a file named by the base64 of the key: keys over
            // ~180 bytes exceed a file name. The failure is an error naming the key, and
            // nothing is stored.
            // (s3s-fs may leave the bytes behind without their metadata: its bug, which
            // silt sees as a version without its token, i.e. a conflict, never a loss.)
            let e = put.expect_err("s3s-fs cannot store this key");
            assert!(e.to_string().contains(&key[..40]), "{e}");
            continue;
        }
        put.unwrap_or_else(|e| panic!("{key:?}: {e}"));
        assert_eq!(whole(r, key).await, body, "{key:?}");
        let listed = r.list("", None).await.expect("list");
        assert!(
            listed.objects.iter().any(|o| o.key == *key),
            "{key:?} not listed"
        );
        let etag = r.head(key).await.expect("head").expect("exists").etag;
        r.copy(key, Some(&etag), &format!("{key}.copy"), None)
            .await
            .expect("copy");
        r.delete(key, Some(&etag)).await.expect("delete");
    }
}

/// A probe finding that a condition is not enforced is confirmed by the raw server: a
/// remote assuming every capability lets the same write through.
async fn probe_tells_the_truth(c: Ctx) {
    let caps = c.remote.capabilities();
    let raw = S3Remote::connect(&servers::config(&c.server.endpoint, c.remote.bucket())).await;
    raw.put("p", data(10, 1), None, Meta::NONE)
        .await
        .expect("put");
    let wrong = Precondition::IfMatch("\"0123456789abcdef0123456789abcdef\"".into());
    let put = raw.put("p", data(10, 2), Some(&wrong), Meta::NONE).await;
    assert_eq!(put.is_err(), caps.conditional_put, "{put:?} vs {caps:?}");
    let id = raw.create_multipart("p", Meta::NONE).await.expect("create");
    let e = raw
        .upload_part("p", &id, 1, data(10, 3))
        .await
        .expect("part");
    let complete = raw.complete("p", &id, &[(1, e)], Some(&wrong)).await;
    assert_eq!(
        complete.is_err(),
        caps.conditional_complete,
        "{complete:?} vs {caps:?}"
    );
    let id = raw
        .create_multipart("p2", Meta::NONE)
        .await
        .expect("create");
    let copy = raw
        .upload_part_copy(
            "p2",
            &id,
            1,
            "p",
            "\"0123456789abcdef0123456789abcdef\"",
            0..1,
        )
        .await;
    assert_eq!(
        copy.is_err(),
        caps.conditional_copy_source,
        "{copy:?} vs {caps:?}"
    );
    let _ = raw.abort("p2", &id).await;
    println!("{}: {caps:?}", c.server.name);
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod s3s_fs {
            $(#[test] fn $case() { super::run(super::servers::s3s_fs(), false, stringify!($case), super::$case) })*
        }
        mod moto {
            $(#[test] fn $case() { super::run(super::servers::moto(), false, stringify!($case), super::$case) })*
        }
        mod s3s_fs_through_faults {
            $(#[test] fn $case() { super::run(super::servers::s3s_fs(), true, stringify!($case), super::$case) })*
        }
        mod moto_through_faults {
            $(#[test] fn $case() { super::run(super::servers::moto(), true, stringify!($case), super::$case) })*
        }
    };
}

fn run<F, Fut>(server: &'static Server, faulty: bool, case: &str, f: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let ctx = setup(server, faulty, case).await;
        let stats = ctx._proxy.as_ref().map(|p| p.stats.clone());
        f(ctx).await;
        if let Some(stats) = stats {
            let faults: u64 = stats
                .faults
                .iter()
                .map(|f| f.load(std::sync::atomic::Ordering::Relaxed))
                .sum();
            assert!(faults > 0, "no fault was injected");
        }
    });
}

suite!(
    head_put_get_round_trip,
    get_of_a_replaced_version_is_a_precondition_failure,
    conditional_puts,
    multipart_upload_list_and_complete,
    upload_part_copy_checks_the_source_version,
    a_base_replaced_between_part_copies_fails_the_completion,
    a_complete_with_gaps_in_part_numbers_joins_the_parts_named,
    the_probe_asks_whether_gaps_in_part_numbers_are_accepted,
    complete_on_a_changed_object_is_a_precondition_failure,
    abort_then_list_parts_is_no_such_upload,
    list_with_delimiter_across_pages,
    list_pages_after_a_name,
    deletes_are_conditional_and_idempotent,
    copy_checks_source_and_destination,
    awkward_keys_round_trip,
    probe_tells_the_truth,
);
