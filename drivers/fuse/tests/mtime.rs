//! Modification times through a real mount: `touch -d` and `cp -p` set them, the bucket
//! keeps them as `x-amz-meta-mtime` (a clean object's new time goes up as a server-side
//! copy), and a fresh cache reads them back from the server. Needs root and /dev/fuse.

mod support;

use silt_s3::ObjectStore;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use support::*;

/// 2001-09-09 01:46:40 UTC.
const T1: i64 = 1_000_000_000;
/// 2009-02-13 23:31:30 UTC.
const T2: i64 = 1_234_567_890;

fn touch_d(path: &std::path::Path, secs: i64) {
    let Ran { status, stderr, .. } = run_bounded(
        Command::new("touch")
            .arg("-d")
            .arg(format!("@{secs}"))
            .arg(path),
    );
    assert!(
        status.success(),
        "touch -d @{secs} {}: {stderr}",
        path.display()
    );
}

#[test]
fn times_set_through_the_mount_are_kept_in_the_bucket_and_read_back_by_a_fresh_cache() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let src = s.path("src.txt");
    fs::write(&src, b"copied with its time").expect("source");
    touch_d(&src, T2);
    let remote = s.remote(&rt);
    bounded(
        &rt,
        "put",
        put(&remote, "old.txt", b"an object never written here"),
    );

    let manager = bounded(&rt, "engine", engine(&s.path("cache1"), &remote));
    let mounted = mount(&rt, manager, &s.mnt);

    // A clean remote object gets a time; so does a file copied with cp -p.
    touch_d(&s.mnt.join("old.txt"), T1);
    assert_eq!(
        fs::metadata(s.mnt.join("old.txt")).expect("stat").mtime(),
        T1
    );
    let Ran { status, stderr, .. } = run_bounded(
        Command::new("cp")
            .arg("-p")
            .arg(&src)
            .arg(s.mnt.join("new.txt")),
    );
    assert!(status.success(), "cp -p: {stderr}");
    assert_eq!(
        fs::metadata(s.mnt.join("new.txt")).expect("stat").mtime(),
        T2
    );
    let manager = mounted.manager().expect("engine");
    bounded(&rt, "flush", manager.flush(true)).expect("flush");

    // In the bucket: the metadata carries the times, the bytes are unchanged.
    for (key, secs, body) in [
        ("old.txt", T1, &b"an object never written here"[..]),
        ("new.txt", T2, &b"copied with its time"[..]),
    ] {
        let info = bounded(&rt, "head", remote.head(key))
            .expect("head")
            .expect("in the bucket");
        assert_eq!(info.mtime_ms, secs as u64 * 1000, "{key}");
        assert_eq!(
            fs::read(object_file(&s.buckets, key)).expect("object"),
            body
        );
    }
    let report = bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
    assert!(report.clean, "{report:?}");

    // A fresh cache (nothing held) reads the times from the server.
    let manager = bounded(&rt, "engine 2", engine(&s.path("cache2"), &remote));
    let mounted = mount(&rt, manager, &s.mnt);
    assert_eq!(
        fs::metadata(s.mnt.join("old.txt")).expect("stat").mtime(),
        T1
    );
    assert_eq!(
        fs::metadata(s.mnt.join("new.txt")).expect("stat").mtime(),
        T2
    );
    assert_eq!(
        fs::read(s.mnt.join("old.txt")).expect("read"),
        b"an object never written here"
    );
    let report = bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
    assert!(report.clean, "{report:?}");
}
