//! Directories through a real mount: mkdir, rmdir, ENOTEMPTY, `mv` of a directory (EXDEV,
//! then `mv` copies), exclusive create, `cp -r` and `tar` of a tree, all reaching the bucket
//! (the embedded s3s-fs server) and surviving a remount. Needs root and /dev/fuse (a machine
//! without them fails here, it does not skip).

mod support;

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::process::Command;
use support::*;

#[test]
fn directories_are_made_removed_moved_and_copied_into_and_reach_the_bucket() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let _guard = DetachOnDrop(s.mnt.clone());
    let remote = s.remote(&rt);
    bounded(&rt, "put", put(&remote, "remote/file.txt", b"remote"));
    let manager = bounded(&rt, "engine", engine(&s.cache, &remote));
    let mounted = mount(&rt, manager, &s.mnt);

    // mkdir: an empty directory, listed and statted at once; twice is EEXIST.
    fs::create_dir(s.mnt.join("made")).expect("mkdir");
    assert!(fs::metadata(s.mnt.join("made")).expect("stat").is_dir());
    assert_eq!(names(&s.mnt), vec!["made", "remote"]);
    assert!(names(&s.mnt.join("made")).is_empty());
    let again = fs::create_dir(s.mnt.join("made")).expect_err("mkdir twice");
    assert_eq!(again.kind(), ErrorKind::AlreadyExists);
    fs::create_dir_all(s.mnt.join("made/a/b")).expect("mkdir -p");
    fs::write(s.mnt.join("made/a/b/leaf.txt"), b"leaf").expect("write leaf");

    // rmdir: ENOTEMPTY with a file below (here or on the server), then gone once empty.
    let busy = fs::remove_dir(s.mnt.join("made/a/b")).expect_err("rmdir of a full dir");
    assert_eq!(busy.raw_os_error(), Some(libc::ENOTEMPTY));
    let remote_busy = fs::remove_dir(s.mnt.join("remote")).expect_err("remote files below");
    assert_eq!(remote_busy.raw_os_error(), Some(libc::ENOTEMPTY));
    fs::remove_file(s.mnt.join("made/a/b/leaf.txt")).expect("unlink leaf");
    fs::remove_dir(s.mnt.join("made/a/b")).expect("rmdir b");
    assert_eq!(names(&s.mnt.join("made")), vec!["a"]);
    assert_eq!(
        fs::metadata(s.mnt.join("made/a/b"))
            .expect_err("removed")
            .kind(),
        ErrorKind::NotFound
    );

    // O_EXCL on an existing file is EEXIST.
    fs::write(s.mnt.join("made/x.txt"), b"x").expect("write x");
    let excl = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(s.mnt.join("made/x.txt"))
        .expect_err("create_new of an existing file");
    assert_eq!(excl.kind(), ErrorKind::AlreadyExists);

    // A tree copied in with cp -r and unpacked with tar.
    let tree = s.path("tree");
    for i in 0..20 {
        let dir = tree.join(format!("d{}", i % 4)).join("inner");
        fs::create_dir_all(&dir).expect("tree dir");
        fs::write(dir.join(format!("f{i}.txt")), format!("file {i}")).expect("tree file");
    }
    let Ran {
        status,
        stderr: err,
        ..
    } = run_bounded(Command::new("cp").arg("-r").arg(&tree).arg(&s.mnt));
    assert!(status.success(), "cp -r failed: {err}");
    assert_eq!(
        fs::read(s.mnt.join("tree/d1/inner/f5.txt")).expect("copied file"),
        b"file 5"
    );
    let tarball = s.path("tree.tar");
    let Ran {
        status,
        stderr: err,
        ..
    } = run_bounded(
        Command::new("tar")
            .arg("-cf")
            .arg(&tarball)
            .arg("-C")
            .arg(s.root.path())
            .arg("tree"),
    );
    assert!(status.success(), "tar -c failed: {err}");
    fs::create_dir(s.mnt.join("unpacked")).expect("mkdir unpacked");
    let Ran {
        status,
        stderr: err,
        ..
    } = run_bounded(
        Command::new("tar")
            .arg("-xf")
            .arg(&tarball)
            .arg("-C")
            .arg(s.mnt.join("unpacked")),
    );
    assert!(status.success(), "tar -x failed: {err}");
    assert_eq!(
        fs::read(s.mnt.join("unpacked/tree/d3/inner/f19.txt")).expect("unpacked file"),
        b"file 19"
    );

    // mv of a directory: renamed in place, every key below it in one transaction.
    let Ran {
        status,
        stderr: err,
        ..
    } = run_bounded(
        Command::new("mv")
            .arg(s.mnt.join("tree"))
            .arg(s.mnt.join("moved")),
    );
    if !status.success() {
        let out = Command::new("find").arg(&s.buckets).output().expect("find");
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        let out = Command::new("find")
            .arg(s.mnt.join("tree"))
            .output()
            .expect("find");
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    }
    assert!(status.success(), "mv of a directory failed: {err}");
    assert_eq!(
        fs::read(s.mnt.join("moved/d2/inner/f6.txt")).expect("moved file"),
        b"file 6"
    );
    // The engine says so at once; the kernel may keep a name it was handed (a directory
    // listing read before the move) for the entry TTL.
    let moved_engine = mounted.manager().expect("engine");
    let gone = bounded(&rt, "stat", moved_engine.stat("tree"));
    if !matches!(gone, Err(silt_tokio::Error::NotFound)) {
        let mut seen = Vec::new();
        for d in [
            "tree/",
            "tree/d0/",
            "tree/d0/inner/",
            "tree/d1/",
            "tree/d1/inner/",
        ] {
            seen.push((d, bounded(&rt, "list", moved_engine.list(d, None, 100))));
        }
        let out = Command::new("find")
            .arg(s.buckets.join(BUCKET))
            .output()
            .expect("find");
        panic!(
            "{gone:?}; {seen:?}; bucket {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    wait_until("the moved directory's old name to go", || {
        fs::metadata(s.mnt.join("tree")).is_err_and(|e| e.kind() == ErrorKind::NotFound)
    });

    // Everything reaches the bucket: files, and the markers of directories made here.
    let manager = mounted.manager().expect("engine");
    let flushed = rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(20), manager.flush(true)).await
    });
    if flushed.is_err() {
        let status = bounded(&rt, "status", manager.status()).expect("status");
        panic!("flush did not finish: {status:#?}");
    }
    assert_eq!(
        fs::read(object_file(&s.buckets, "moved/d2/inner/f6.txt")).expect("in the bucket"),
        b"file 6"
    );
    assert_eq!(
        fs::read(object_file(&s.buckets, "unpacked/tree/d0/inner/f0.txt")).expect("unpacked"),
        b"file 0"
    );
    assert!(
        !object_file(&s.buckets, "tree/d2/inner/f6.txt").exists(),
        "the moved source is deleted from the bucket"
    );
    assert!(
        object_file(&s.buckets, "made/a").is_dir(),
        "the marker of an empty directory is in the bucket"
    );
    assert!(
        !object_file(&s.buckets, "made/a/b").exists(),
        "rmdir reached the bucket"
    );

    let report = bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
    assert!(report.clean, "{report:?}");

    // A remount shows the same tree, the empty directory included.
    let manager = bounded(&rt, "engine again", engine(&s.cache, &remote));
    let mounted = mount(&rt, manager, &s.mnt);
    assert_eq!(names(&s.mnt), vec!["made", "moved", "remote", "unpacked"]);
    assert_eq!(names(&s.mnt.join("made")), vec!["a", "x.txt"]);
    assert!(names(&s.mnt.join("made/a")).is_empty());
    let report = bounded(&rt, "unmount again", mounted.unmount()).expect("unmount");
    assert!(report.clean, "{report:?}");
}

#[test]
fn ls_l_of_a_listed_directory_asks_the_server_for_nothing_per_name() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let _guard = DetachOnDrop(s.mnt.clone());
    let remote = s.remote(&rt);
    for i in 0..300 {
        let key = format!("many/f{i:03}");
        bounded(&rt, "put", put(&remote, &key, format!("{i}").as_bytes()));
    }
    let caps = remote.capabilities();
    let counted = s.counted(&rt, caps);
    let manager = bounded(&rt, "engine", engine_on(&s.cache, &counted, caps));
    let mounted = mount(&rt, manager, &s.mnt);

    assert!(fs::metadata(s.mnt.join("many")).expect("stat").is_dir());
    let before = counted.heads();
    let mut sizes = 0;
    for entry in fs::read_dir(s.mnt.join("many")).expect("read_dir") {
        let entry = entry.expect("entry");
        sizes += entry.metadata().expect("metadata").len();
    }
    let want: u64 = (0..300).map(|i: u32| i.to_string().len() as u64).sum();
    assert_eq!(sizes, want, "every size as the listing gave it");
    assert_eq!(
        counted.heads(),
        before,
        "ls -l sent a HEAD per name instead of using the listing"
    );
    let report = bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
    assert!(report.clean, "{report:?}");
}

#[test]
fn ls_l_of_a_large_directory_asks_for_pages_that_grow() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let _guard = DetachOnDrop(s.mnt.clone());
    // Written as plain files in the server's folder (s3s-fs serves them as objects): 5 000
    // PUTs would take most of the test's time.
    const N: usize = 5_000;
    let folder = object_file(&s.buckets, "wide");
    fs::create_dir_all(&folder).expect("folder of the directory");
    for i in 0..N {
        fs::write(folder.join(format!("f{i:05}")), format!("{i}")).expect("object file");
    }
    let caps = s.remote(&rt).capabilities();
    let counted = s.counted(&rt, caps);
    let manager = bounded(&rt, "engine", engine_on(&s.cache, &counted, caps));
    let mounted = mount(&rt, manager, &s.mnt);

    assert!(fs::metadata(s.mnt.join("wide")).expect("stat").is_dir());
    let (lists, heads) = (counted.lists(), counted.heads());
    let mut sizes = 0;
    let mut count = 0;
    for entry in fs::read_dir(s.mnt.join("wide")).expect("read_dir") {
        sizes += entry.expect("entry").metadata().expect("metadata").len();
        count += 1;
    }
    assert_eq!(count, N, "every name listed once");
    let want: u64 = (0..N).map(|i| i.to_string().len() as u64).sum();
    assert_eq!(sizes, want, "every size as the listing gave it");
    assert_eq!(counted.heads(), heads, "no HEAD per name");
    // 1 000, then 2 000, then 4 000 names asked for: 3 pages where a server answers what it
    // is asked (s3s-fs, whose every page costs a walk of the whole directory), not one page
    // per 1 000 names (5) or 512 (10). S3 answers 1 000 at a time whatever is asked.
    let pages = counted.lists() - lists;
    assert_eq!(pages, 3, "ListObjectsV2 pages for {N} names");
    let report = bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
    assert!(report.clean, "{report:?}");
}
