//! Directories and open flags: `Mkdir`, `Rmdir`, exclusive create, truncate on open, and
//! the errors a file system reports for them (see `docs/architecture.md`, "Namespace").

mod harness;

use bytes::Bytes;
use harness::{small_config, World};
use silt_core::{FileError, FileKind, OpenFlags, RemoteOp, Reply, Request};

/// Sends `req` and answers only listings and HEADs (a journaled delete or an upload stays
/// pending), running local I/O and commits, until it is answered.
fn ask(w: &mut World, req: Request) -> Result<Reply, FileError> {
    let r = w.request(req);
    for _ in 0..1000 {
        if let Some(x) = w.reply(r) {
            return x.clone();
        }
        let answered = w
            .answer_remote_where(|op| matches!(op, RemoteOp::List { .. } | RemoteOp::Head { .. }))
            .is_some();
        if !answered && !w.run_local() && !w.run_index() {
            w.tick(5);
        }
    }
    panic!("request did not complete");
}

fn stat(w: &mut World, key: &str) -> Result<FileKind, FileError> {
    match ask(w, Request::Stat { key: key.into() }) {
        Ok(Reply::Attr(a)) => Ok(a.kind),
        Ok(other) => panic!("stat {key}: {other:?}"),
        Err(e) => Err(e),
    }
}

fn names(w: &mut World, dir: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let req = Request::List {
            dir: dir.into(),
            after: after.clone(),
            max: 2,
        };
        match ask(w, req) {
            Ok(Reply::Listing { entries, next }) => {
                all.extend(entries.into_iter().map(|e| e.key));
                match next {
                    Some(n) => after = Some(n),
                    None => return all,
                }
            }
            other => panic!("list {dir}: {other:?}"),
        }
    }
}

fn mkdir(w: &mut World, key: &str) -> Result<Reply, FileError> {
    w.call(Request::Mkdir { key: key.into() })
}

fn rmdir(w: &mut World, key: &str) -> Result<Reply, FileError> {
    ask(w, Request::Rmdir { key: key.into() })
}

fn open(w: &mut World, key: &str, flags: OpenFlags) -> Result<Reply, FileError> {
    w.call(Request::Open {
        key: key.into(),
        flags,
    })
}

fn write_file(w: &mut World, key: &str, data: &[u8]) {
    let h = w.open(key, true);
    let r = w.call(Request::Write {
        handle: h,
        offset: 0,
        data: Bytes::copy_from_slice(data),
    });
    assert!(r.is_ok(), "write {key}: {r:?}");
    assert_eq!(w.call(Request::Close { handle: h }), Ok(Reply::Closed));
}

#[test]
fn mkdir_makes_a_marker_object_that_is_a_directory_at_once_and_in_the_bucket_after() {
    let mut w = World::new(small_config());
    assert_eq!(mkdir(&mut w, "photos"), Ok(Reply::DirCreated));
    assert_eq!(stat(&mut w, "photos"), Ok(FileKind::Directory));
    assert_eq!(names(&mut w, ""), vec!["photos/".to_string()]);
    assert_eq!(names(&mut w, "photos/"), Vec::<String>::new(), "empty");
    assert!(w.drive(1000), "uploads settle");
    let marker = w
        .bucket
        .get("photos/")
        .expect("the marker object is in the bucket");
    assert!(marker.data.is_empty(), "a marker holds no bytes");
    // Twice is EEXIST; so is a file's name.
    assert_eq!(mkdir(&mut w, "photos"), Err(FileError::Exists));
    write_file(&mut w, "notes", b"x");
    assert_eq!(mkdir(&mut w, "notes"), Err(FileError::Exists));
    // Below a file is ENOTDIR.
    assert_eq!(mkdir(&mut w, "notes/sub"), Err(FileError::NotADirectory));
}

#[test]
fn mkdir_of_a_directory_that_exists_only_on_the_server_is_eexist() {
    let mut w = World::new(small_config());
    w.put_object("implicit/file", b"abc");
    w.put_object("marked/", b"");
    assert_eq!(mkdir(&mut w, "implicit"), Err(FileError::Exists));
    assert_eq!(mkdir(&mut w, "marked"), Err(FileError::Exists));
}

#[test]
fn rmdir_refuses_a_directory_with_names_below_it_here_or_on_the_server() {
    let mut w = World::new(small_config());
    assert_eq!(mkdir(&mut w, "d"), Ok(Reply::DirCreated));
    write_file(&mut w, "d/local", b"abc");
    assert_eq!(rmdir(&mut w, "d"), Err(FileError::NotEmpty), "a local file");
    assert_eq!(
        w.call(Request::Unlink {
            key: "d/local".into()
        }),
        Ok(Reply::Unlinked)
    );
    w.put_object("d/remote", b"abc");
    assert_eq!(
        rmdir(&mut w, "d"),
        Err(FileError::NotEmpty),
        "a remote file"
    );
    w.put_object("e/sub/deep", b"abc");
    assert_eq!(
        rmdir(&mut w, "e"),
        Err(FileError::NotEmpty),
        "a subdirectory"
    );
    assert_eq!(rmdir(&mut w, "d/remote"), Err(FileError::NotFound));
    write_file(&mut w, "f", b"abc");
    assert_eq!(rmdir(&mut w, "f"), Err(FileError::NotADirectory));
    assert_eq!(rmdir(&mut w, "nothing"), Err(FileError::NotFound));
}

#[test]
fn rmdir_deletes_the_marker_and_the_directory_is_gone_before_the_delete_runs() {
    let mut w = World::new(small_config());
    w.put_object("old/", b"");
    assert_eq!(stat(&mut w, "old"), Ok(FileKind::Directory));
    assert_eq!(rmdir(&mut w, "old"), Ok(Reply::DirRemoved));
    // Journaled, not yet run: already gone for stat and list.
    assert!(w.bucket.contains_key("old/"), "the delete has not run yet");
    assert_eq!(stat(&mut w, "old"), Err(FileError::NotFound));
    assert_eq!(names(&mut w, ""), Vec::<String>::new());
    assert!(w.drive(1000));
    assert!(!w.bucket.contains_key("old/"), "the marker is deleted");
    // A directory made here and removed before its upload leaves nothing behind.
    assert_eq!(mkdir(&mut w, "brief"), Ok(Reply::DirCreated));
    assert_eq!(rmdir(&mut w, "brief"), Ok(Reply::DirRemoved));
    assert!(w.drive(1000));
    assert!(!w.bucket.contains_key("brief/"));
}

#[test]
fn an_implicit_directory_whose_files_were_deleted_here_disappears_at_once() {
    let mut w = World::new(small_config());
    w.put_object("gone/one", b"1");
    w.put_object("gone/deeper/two", b"2");
    w.put_object("kept/three", b"3");
    for key in ["gone/one", "gone/deeper/two"] {
        let r = ask(&mut w, Request::Unlink { key: key.into() });
        assert_eq!(r, Ok(Reply::Unlinked));
    }
    // The server still lists them: the deletes are only journaled.
    assert!(w.bucket.contains_key("gone/one"));
    assert_eq!(names(&mut w, ""), vec!["kept/".to_string()]);
    assert_eq!(stat(&mut w, "gone"), Err(FileError::NotFound));
    assert_eq!(stat(&mut w, "gone/deeper"), Err(FileError::NotFound));
    assert_eq!(stat(&mut w, "kept"), Ok(FileKind::Directory));
    // An empty directory that remains only as deleted keys can be "removed": it is gone.
    assert_eq!(rmdir(&mut w, "gone"), Err(FileError::NotFound));
}

#[test]
fn open_flags_exclusive_create_truncate_and_directories() {
    let mut w = World::new(small_config());
    let excl = OpenFlags {
        create: true,
        exclusive: true,
        truncate: false,
        passthrough: false,
    };
    assert!(matches!(
        open(&mut w, "new", excl),
        Ok(Reply::Opened { size: 0, .. })
    ));
    assert_eq!(open(&mut w, "new", excl), Err(FileError::Exists), "held");
    w.put_object("remote", b"0123456789");
    assert_eq!(
        open(&mut w, "remote", excl),
        Err(FileError::Exists),
        "on the server"
    );
    // Truncate on open: size 0 at once, and what is read after is empty.
    let trunc = OpenFlags {
        truncate: true,
        ..OpenFlags::EXISTING
    };
    let Ok(Reply::Opened { handle, size, .. }) = open(&mut w, "remote", trunc) else {
        panic!("open with truncate failed");
    };
    assert_eq!(size, 0);
    let read = w.call(Request::Read {
        handle,
        offset: 0,
        len: 100,
    });
    assert_eq!(read, Ok(Reply::Data(Bytes::new())));
    // Directories and names under files.
    assert_eq!(mkdir(&mut w, "dir"), Ok(Reply::DirCreated));
    assert_eq!(
        open(&mut w, "dir", OpenFlags::CREATE),
        Err(FileError::IsDirectory)
    );
    assert_eq!(
        open(&mut w, "dir/", OpenFlags::CREATE),
        Err(FileError::IsDirectory)
    );
    assert_eq!(
        open(&mut w, "new/below", OpenFlags::CREATE),
        Err(FileError::NotADirectory)
    );
    let long = "k".repeat(1025);
    assert_eq!(
        open(&mut w, &long, OpenFlags::CREATE),
        Err(FileError::NameTooLong)
    );
    assert_eq!(
        w.call(Request::Unlink { key: "dir".into() }),
        Err(FileError::IsDirectory)
    );
}

#[test]
fn renaming_a_directory_answers_exdev_so_mv_copies() {
    let mut w = World::new(small_config());
    write_file(&mut w, "src/a", b"abc");
    let r = w.call(Request::Rename {
        from: "src".into(),
        to: "dst".into(),
    });
    assert_eq!(r, Err(FileError::CrossDevice));
}

#[test]
fn a_crash_after_mkdir_keeps_the_directory_and_uploads_its_marker() {
    let mut w = World::new(small_config());
    assert_eq!(mkdir(&mut w, "kept"), Ok(Reply::DirCreated));
    let (files, index) = (w.files.clone(), w.index.clone());
    // Crash before the upload: the index and the cache files remain.
    assert!(!w.bucket.contains_key("kept/"));
    let mut w = World::recover(small_config(), index);
    w.files = files;
    assert_eq!(stat(&mut w, "kept"), Ok(FileKind::Directory));
    assert!(w.drive(1000));
    assert!(
        w.bucket.contains_key("kept/"),
        "the marker went up after the restart"
    );
}

fn rename_dir(w: &mut World, from: &str, to: &str) -> Result<Reply, FileError> {
    w.call(Request::RenameDir {
        from: from.into(),
        to: to.into(),
    })
}

#[test]
fn a_directory_rename_moves_every_key_below_it_held_or_only_on_the_server() {
    let mut w = World::new(small_config());
    w.put_object("src/remote.txt", b"remote bytes");
    w.put_object("src/deep/er.txt", b"deeper");
    write_file(&mut w, "src/local.txt", b"local");
    assert_eq!(mkdir(&mut w, "src/empty"), Ok(Reply::DirCreated));
    assert_eq!(rename_dir(&mut w, "src", "dst"), Ok(Reply::Renamed));
    assert_eq!(stat(&mut w, "src"), Err(FileError::NotFound));
    assert_eq!(
        names(&mut w, "dst/"),
        vec!["dst/deep/", "dst/empty/", "dst/local.txt", "dst/remote.txt"]
    );
    assert!(w.drive(10_000), "uploads settle");
    for (key, data) in [
        ("dst/remote.txt", &b"remote bytes"[..]),
        ("dst/deep/er.txt", b"deeper"),
        ("dst/local.txt", b"local"),
        ("dst/empty/", b""),
    ] {
        let o = w
            .bucket
            .get(key)
            .unwrap_or_else(|| panic!("{key} in the bucket"));
        assert_eq!(&o.data[..], data, "{key}");
    }
    for gone in [
        "src/remote.txt",
        "src/deep/er.txt",
        "src/local.txt",
        "src/empty/",
    ] {
        assert!(
            !w.bucket.contains_key(gone),
            "{gone} is still in the bucket"
        );
    }
}

#[test]
fn a_directory_rename_refuses_what_it_cannot_do_in_one_transaction() {
    let mut w = World::new(silt_core::CoreConfig {
        dir_rename_limit: 2,
        ..small_config()
    });
    for k in ["big/a", "big/b", "big/c"] {
        w.put_object(k, b"x");
    }
    assert_eq!(
        rename_dir(&mut w, "big", "other"),
        Err(FileError::CrossDevice)
    );
    w.put_object("two/a", b"x");
    w.put_object("full/x", b"x");
    assert_eq!(rename_dir(&mut w, "two", "full"), Err(FileError::NotEmpty));
    assert!(matches!(
        rename_dir(&mut w, "two", "two/inside"),
        Err(FileError::Invalid(_))
    ));
    assert_eq!(
        rename_dir(&mut w, "nothing", "else"),
        Err(FileError::NotFound)
    );
    write_file(&mut w, "file", b"x");
    assert_eq!(
        rename_dir(&mut w, "file", "else"),
        Err(FileError::NotADirectory)
    );
}

#[test]
fn a_crash_leaves_a_directory_rename_whole_or_not_at_all() {
    // Before the transaction is durable: everything under the old name.
    let mut w = World::new(small_config());
    write_file(&mut w, "d/one", b"1");
    write_file(&mut w, "d/two", b"2");
    assert!(w.drive(10_000));
    let r = w.request(Request::RenameDir {
        from: "d".into(),
        to: "e".into(),
    });
    // The listings answered and every fsync done, but no index transaction made durable.
    for _ in 0..200 {
        let listed = w
            .answer_remote_where(|op| matches!(op, silt_core::RemoteOp::List { .. }))
            .is_some();
        if !listed && !w.run_local() {
            w.tick(5);
        }
    }
    assert!(!w.txns.is_empty(), "the rename's transaction is out");
    assert!(w.reply(r).is_none(), "not answered before its commit");
    let mut after = World::recover(small_config(), w.index.clone());
    after.files = w.files.clone();
    after.bucket = w.bucket.clone();
    assert_eq!(names(&mut after, "d/"), vec!["d/one", "d/two"]);
    assert_eq!(names(&mut after, ""), vec!["d/"]);
    // Answered: everything under the new name, and it reaches the bucket after a restart.
    for _ in 0..1000 {
        if w.reply(r).is_some() {
            break;
        }
        let listed = w
            .answer_remote_where(|op| matches!(op, silt_core::RemoteOp::List { .. }))
            .is_some();
        if !listed && !w.run_local() && !w.run_index() {
            w.tick(5);
        }
    }
    assert_eq!(w.reply(r), Some(&Ok(Reply::Renamed)));
    let mut after = World::recover(small_config(), w.index.clone());
    after.files = w.files.clone();
    after.bucket = w.bucket.clone();
    assert_eq!(names(&mut after, ""), vec!["e/"]);
    assert!(after.drive(10_000));
    assert!(after.bucket.contains_key("e/one") && after.bucket.contains_key("e/two"));
    assert!(!after.bucket.contains_key("d/one") && !after.bucket.contains_key("d/two"));
}

#[test]
fn after_a_directory_rename_the_old_name_is_gone_at_once() {
    let mut w = World::new(small_config());
    assert_eq!(mkdir(&mut w, "tree"), Ok(Reply::DirCreated));
    write_file(&mut w, "tree/a/f", b"f");
    assert!(w.drive(10_000));
    assert_eq!(names(&mut w, ""), vec!["tree/"]);
    assert_eq!(stat(&mut w, "tree"), Ok(FileKind::Directory));
    assert_eq!(rename_dir(&mut w, "tree", "moved"), Ok(Reply::Renamed));
    assert_eq!(stat(&mut w, "tree"), Err(FileError::NotFound));
    assert_eq!(stat(&mut w, "tree/a"), Err(FileError::NotFound));
    assert_eq!(names(&mut w, ""), vec!["moved/"]);
}
