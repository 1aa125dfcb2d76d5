//! Stat and List: what the core answers about names, from local state first, the server for
//! the rest (see `docs/architecture.md`, "Namespace").

mod harness;

use bytes::Bytes;
use harness::{small_config, World};
use silt_core::{FileError, FileKind, RemoteOp, Reply, Request};

/// Sends `req` and answers only listings and HEADs (other remote work, such as a journaled
/// delete, stays pending), running local I/O and commits, until it is answered.
fn ask(w: &mut World, req: Request) -> Result<Reply, FileError> {
    let r = w.request(req);
    for _ in 0..100 {
        if let Some(x) = w.reply(r) {
            return x.clone();
        }
        let answered = w
            .answer_remote_where(|op| matches!(op, RemoteOp::List { .. } | RemoteOp::Head { .. }))
            .is_some();
        if !answered {
            w.run_local();
            w.run_index();
        }
    }
    panic!("request did not complete");
}

fn kind(w: &mut World, key: &str) -> Option<(FileKind, u64)> {
    match ask(w, Request::Stat { key: key.into() }) {
        Ok(Reply::Attr(a)) => Some((a.kind, a.size)),
        Err(FileError::NotFound) => None,
        other => panic!("stat {key}: {other:?}"),
    }
}

fn page(w: &mut World, dir: &str, after: Option<&str>, max: u32) -> (Vec<String>, Option<String>) {
    let req = Request::List {
        dir: dir.into(),
        after: after.map(str::to_string),
        max,
    };
    match ask(w, req) {
        Ok(Reply::Listing { entries, next }) => {
            (entries.into_iter().map(|e| e.key).collect(), next)
        }
        other => panic!("list {dir}: {other:?}"),
    }
}

fn create(w: &mut World, key: &str, data: &[u8]) {
    let h = w.open(key, true);
    let r = w.call(Request::Write {
        handle: h,
        offset: 0,
        data: Bytes::copy_from_slice(data),
    });
    assert!(r.is_ok(), "write {key}: {r:?}");
}

/// A world whose bucket holds `d/a` and `d/b`, with `d/b` unlinked (the unlink answered) and
/// its journaled delete still out, unanswered.
fn d_b_unlinked_with_its_delete_out() -> World {
    let mut w = World::new(small_config());
    w.put_object("d/a", b"a");
    w.put_object("d/b", b"b");
    assert_eq!(kind(&mut w, "d/b"), Some((FileKind::File, 1)));
    let r = w.request(Request::Unlink { key: "d/b".into() });
    for _ in 0..20 {
        w.answer_remote_where(|op| matches!(op, RemoteOp::Head { .. }));
        w.run_local();
        w.run_index();
    }
    assert_eq!(w.reply(r), Some(&Ok(Reply::Unlinked)));
    assert!(
        w.remote
            .iter()
            .any(|(_, op)| matches!(op, RemoteOp::Delete { .. })),
        "the delete is still out"
    );
    w
}

#[test]
fn stat_answers_held_keys_from_local_state_and_the_rest_from_the_server() {
    let mut w = World::new(small_config());
    w.put_object("remote/obj", b"0123456789");
    create(&mut w, "local/new", b"abc");
    let remote_before = w.remote_log.len();
    assert_eq!(
        kind(&mut w, "local/new"),
        Some((FileKind::File, 3)),
        "created here"
    );
    assert_eq!(
        kind(&mut w, "local"),
        Some((FileKind::Directory, 0)),
        "implicit, local"
    );
    assert_eq!(
        w.remote_log.len(),
        remote_before,
        "local answers ask nothing"
    );
    assert_eq!(
        kind(&mut w, "remote/obj"),
        Some((FileKind::File, 10)),
        "by HEAD"
    );
    assert_eq!(
        kind(&mut w, "remote"),
        Some((FileKind::Directory, 0)),
        "by listing"
    );
    assert_eq!(kind(&mut w, "nothing"), None);
    let asked = w.remote_log.len();
    assert_eq!(kind(&mut w, "nothing"), None, "remembered");
    assert_eq!(
        kind(&mut w, "remote/obj"),
        Some((FileKind::File, 10)),
        "remembered"
    );
    assert_eq!(
        w.remote_log.len(),
        asked,
        "within stat_ttl the server is not asked again"
    );
    assert_eq!(
        ask(
            &mut w,
            Request::Stat {
                key: "k".repeat(1025)
            }
        ),
        Err(FileError::NameTooLong)
    );
}

#[test]
fn a_key_with_a_journaled_delete_is_gone_before_the_delete_runs() {
    let mut w = d_b_unlinked_with_its_delete_out();
    assert_eq!(kind(&mut w, "d/b"), None, "stat: unlinked");
    let (names, next) = page(&mut w, "d/", None, 100);
    assert_eq!(names, ["d/a"], "list: unlinked");
    assert_eq!(next, None);
}

/// A page asked after an unlink was answered, but answered by the server from before the
/// delete ran (the listing and the delete crossed): the deleted name is still not shown.
#[test]
fn a_page_that_crossed_the_delete_of_an_unlinked_name_does_not_show_it() {
    let mut w = d_b_unlinked_with_its_delete_out();
    let list = w.request(Request::List {
        dir: "d/".into(),
        after: None,
        max: 100,
    });
    // The server answers the listing first (it still holds d/b)...
    let at = w
        .remote
        .iter()
        .position(|(_, op)| matches!(op, RemoteOp::List { .. }))
        .expect("the listing is out");
    let (id, op) = w.remote.remove(at).expect("listing");
    let stale = w.bucket.perform(&op, w.now);
    // ...then the delete runs and is answered, and only then the listing's answer arrives.
    for _ in 0..50 {
        if w.answer_remote_where(|op| matches!(op, RemoteOp::Delete { .. } | RemoteOp::Head { .. }))
            .is_none()
        {
            w.run_local();
            w.run_index();
            w.tick(50);
        }
        if !w.bucket.objects.contains_key("d/b") {
            break;
        }
    }
    assert!(!w.bucket.objects.contains_key("d/b"), "the delete ran");
    w.input(silt_core::Input::Remote(id, stale));
    match w.reply(list) {
        Some(Ok(Reply::Listing { entries, .. })) => {
            let names: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(
                names,
                ["d/a"],
                "a name unlinked before the listing was asked"
            );
        }
        other => panic!("list: {other:?}"),
    }
}

#[test]
fn a_page_overlays_local_files_and_subdirectories_on_the_remote_names() {
    let mut w = World::new(small_config());
    for k in ["d/a", "d/c", "d/sub/x", "d/sub/y", "e/z", "d/"] {
        w.put_object(k, b"r");
    }
    create(&mut w, "d/b", b"local");
    create(&mut w, "d/new/deep/file", b"local");
    create(&mut w, "d/sub/w", b"local");
    let (names, next) = page(&mut w, "d/", None, 100);
    assert_eq!(names, ["d/a", "d/b", "d/c", "d/new/", "d/sub/"]);
    assert_eq!(next, None);
    let (root, _) = page(&mut w, "", None, 100);
    assert_eq!(root, ["d/", "e/"]);
}

#[test]
fn pages_list_every_name_once_while_files_come_and_go() {
    let mut w = World::new(small_config());
    for i in 0..10 {
        w.put_object(&format!("p/k{i}"), b"r");
    }
    w.put_object("p/k4/below", b"r");
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let (names, next) = page(&mut w, "p/", after.as_deref(), 3);
        seen.extend(names);
        pages += 1;
        if pages == 1 {
            // Between pages: a file created ahead of the cursor and one behind it.
            create(&mut w, "p/k55", b"local");
            create(&mut w, "p/k0a", b"local");
        }
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
        assert!(pages < 20, "listing does not end");
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in order, each name once: {seen:?}");
    for i in 0..10 {
        assert!(
            seen.contains(&format!("p/k{i}")),
            "p/k{i} existed throughout: {seen:?}"
        );
    }
    assert!(
        seen.contains(&"p/k4/".to_string()),
        "the subdirectory: {seen:?}"
    );
    assert!(
        seen.contains(&"p/k55".to_string()),
        "created ahead of the cursor: {seen:?}"
    );
}

#[test]
fn a_prefix_is_a_directory_even_when_the_server_fails_the_head_of_its_name() {
    // Some servers (s3s-fs) fail the HEAD of a name that is only a folder: the listing
    // decides. With nothing below the name, the HEAD's error is the answer.
    let mut w = World::new(small_config());
    w.put_object("docs/a.txt", b"a");
    for (key, want_dir) in [("docs", true), ("nothing", false)] {
        let r = w.request(Request::Stat { key: key.into() });
        let head = w.answer_remote_with(Err(silt_core::RemoteError::Transient(
            "500 internal error".into(),
        )));
        assert!(matches!(head, Some(RemoteOp::Head { .. })), "{head:?}");
        let list = w.answer_remote();
        assert!(matches!(list, Some(RemoteOp::List { .. })), "{list:?}");
        if !want_dir {
            // Nothing below: the HEAD is asked once more (a folder may have been going
            // away), and its answer decides.
            let again = w.answer_remote_with(Err(silt_core::RemoteError::Transient(
                "500 internal error".into(),
            )));
            assert!(matches!(again, Some(RemoteOp::Head { .. })), "{again:?}");
            let list = w.answer_remote();
            assert!(matches!(list, Some(RemoteOp::List { .. })), "{list:?}");
        }
        match (w.reply(r), want_dir) {
            (Some(Ok(Reply::Attr(a))), true) => assert_eq!(a.kind, FileKind::Directory),
            (Some(Err(FileError::Io(e))), false) => assert!(e.contains("500"), "{e}"),
            (other, _) => panic!("stat {key}: {other:?}"),
        }
    }
}

#[test]
fn names_a_listing_brought_are_statted_without_asking_the_server_again() {
    let mut w = World::new(small_config());
    w.put_object("d/a", b"0123");
    w.put_object("d/sub/x", b"x");
    let (names, _) = page(&mut w, "d/", None, 100);
    assert_eq!(names, vec!["d/a".to_string(), "d/sub/".to_string()]);
    let before = w.remote_log.len();
    assert_eq!(kind(&mut w, "d/a"), Some((FileKind::File, 4)));
    assert_eq!(kind(&mut w, "d/sub"), Some((FileKind::Directory, 0)));
    assert_eq!(
        w.remote_log.len(),
        before,
        "ls -l after a listing asks nothing"
    );
    // A local change is seen at once, whatever the listing said.
    let r = ask(&mut w, Request::Unlink { key: "d/a".into() });
    assert_eq!(r, Ok(Reply::Unlinked));
    assert_eq!(kind(&mut w, "d/a"), None);
}

#[test]
fn a_create_right_after_a_lookup_that_found_nothing_asks_the_server_nothing_more() {
    let mut w = World::new(small_config());
    assert_eq!(kind(&mut w, "new.txt"), None);
    let before = w.remote_log.len();
    let r = ask(
        &mut w,
        Request::Open {
            key: "new.txt".into(),
            flags: silt_core::OpenFlags::CREATE,
        },
    );
    assert!(matches!(r, Ok(Reply::Opened { size: 0, .. })), "{r:?}");
    assert_eq!(w.remote_log.len(), before, "the create sent another HEAD");
}

fn lookups_sent(w: &World) -> usize {
    w.remote_log
        .iter()
        .filter(|op| matches!(op, RemoteOp::Head { .. } | RemoteOp::List { .. }))
        .count()
}

/// `cp -r` into a new directory: the mkdir learnt that the server holds nothing at or below
/// the name, so the names created below it, and their subdirectories, are looked up and
/// created without asking the server again (until `stat_ttl`).
#[test]
fn names_below_a_directory_found_empty_are_nothing_without_asking() {
    let mut w = World::new(small_config());
    assert_eq!(
        ask(&mut w, Request::Mkdir { key: "new".into() }),
        Ok(Reply::DirCreated)
    );
    let before = lookups_sent(&w);
    assert!(before >= 2, "the mkdir asked the server (HEAD and listing)");
    for i in 0..5 {
        let key = format!("new/f{i}");
        assert_eq!(kind(&mut w, &key), None);
        create(&mut w, &key, b"data");
    }
    assert_eq!(
        ask(
            &mut w,
            Request::Mkdir {
                key: "new/sub".into()
            }
        ),
        Ok(Reply::DirCreated)
    );
    assert_eq!(kind(&mut w, "new/sub/deeper/x"), None);
    assert_eq!(kind(&mut w, "new/f3"), Some((FileKind::File, 4)));
    assert_eq!(kind(&mut w, "new/sub"), Some((FileKind::Directory, 0)));
    assert_eq!(
        lookups_sent(&w),
        before,
        "nothing asked below the new directory"
    );
}

/// What the server showed of an empty directory is believed for `stat_ttl` only: a name
/// another writer put there afterwards is found once it expires.
#[test]
fn a_directory_found_empty_is_asked_again_after_the_stat_ttl() {
    let mut cfg = small_config();
    cfg.stat_ttl = std::time::Duration::from_secs(1);
    let mut w = World::new(cfg);
    assert_eq!(kind(&mut w, "d"), None);
    w.put_object("d/outside", b"abc");
    let before = lookups_sent(&w);
    assert_eq!(kind(&mut w, "d/outside"), None, "within the TTL: believed");
    assert_eq!(lookups_sent(&w), before);
    w.now += 1_001;
    assert_eq!(kind(&mut w, "d/outside"), Some((FileKind::File, 3)));
    assert!(lookups_sent(&w) > before, "asked once the TTL passed");
}

/// A listing that shows names in a directory thought empty ends that belief at once.
#[test]
fn a_listing_that_shows_names_ends_what_was_known_of_an_empty_directory() {
    let mut w = World::new(small_config());
    assert_eq!(kind(&mut w, "d"), None);
    w.put_object("d/sub/x", b"x");
    let (names, _) = page(&mut w, "d/", None, 100);
    assert_eq!(names, vec!["d/sub/".to_string()]);
    assert_eq!(kind(&mut w, "d/sub/x"), Some((FileKind::File, 1)));
}
