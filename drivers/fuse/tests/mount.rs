//! Real mounts: the embedded s3s-fs server, the engine and a FUSE mount in this process on
//! a temporary directory, used through std::fs; the bucket checked as s3s-fs stores it
//! (plain files), and a remount on the same cache. Needs root and /dev/fuse (a machine
//! without them fails here, it does not skip).

mod support;

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::FileExt;
use support::*;

#[test]
fn files_written_renamed_and_removed_through_the_mount_reach_the_bucket_and_survive_a_remount() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let remote = s.remote(&rt);
    // Objects already in the bucket: one at the top, two under a prefix.
    bounded(&rt, "put", put(&remote, "top.txt", b"top object"));
    bounded(
        &rt,
        "put",
        put(&remote, "docs/seed.txt", b"seeded remotely"),
    );
    bounded(&rt, "put", put(&remote, "docs/old.txt", b"old"));

    let manager = bounded(&rt, "engine", engine(&s.cache, &remote));
    let mounted = mount(&rt, manager, &s.mnt);
    assert!(
        is_mounted(&s.mnt),
        "{} is not a mount point",
        s.mnt.display()
    );

    // Remote objects and prefixes are listed and read.
    assert_eq!(names(&s.mnt), vec!["docs", "top.txt"]);
    assert!(fs::metadata(s.mnt.join("docs"))
        .expect("stat docs")
        .is_dir());
    assert_eq!(
        fs::read(s.mnt.join("docs/seed.txt")).expect("read"),
        b"seeded remotely"
    );
    assert_eq!(fs::metadata(s.mnt.join("top.txt")).expect("stat").len(), 10);
    let missing = fs::metadata(s.mnt.join("nope")).expect_err("missing file");
    assert_eq!(missing.kind(), ErrorKind::NotFound);

    // A new file: written at two offsets (a hole between), fsynced, read back.
    let new = s.mnt.join("docs/new.txt");
    {
        let mut f = fs::File::create(&new).expect("create");
        f.write_all(b"hello").expect("write");
        f.write_at(b"world", 10).expect("write at 10");
        f.sync_all().expect("fsync");
    }
    let mut expected = b"hello".to_vec();
    expected.extend_from_slice(&[0; 5]);
    expected.extend_from_slice(b"world");
    assert_eq!(fs::read(&new).expect("read back"), expected);
    assert_eq!(fs::metadata(&new).expect("stat new").len(), 15);

    // Overwrite inside a remote object, and extend it.
    {
        let f = OpenOptions::new()
            .write(true)
            .open(s.mnt.join("top.txt"))
            .expect("open top");
        f.write_at(b"TOP", 0).expect("overwrite");
        f.write_at(b"!", 10).expect("extend");
    }
    assert_eq!(
        fs::read(s.mnt.join("top.txt")).expect("read top"),
        b"TOP object!"
    );

    // The listing shows the local file beside the remote ones, before any upload.
    assert_eq!(
        names(&s.mnt.join("docs")),
        vec!["new.txt", "old.txt", "seed.txt"]
    );

    // Rename a new file to the top, remove a remote one, truncate one.
    fs::rename(&new, s.mnt.join("moved.txt")).expect("rename");
    assert_eq!(
        fs::metadata(&new).expect_err("renamed away").kind(),
        ErrorKind::NotFound
    );
    fs::remove_file(s.mnt.join("docs/old.txt")).expect("unlink");
    OpenOptions::new()
        .write(true)
        .open(s.mnt.join("docs/seed.txt"))
        .expect("open seed")
        .set_len(6)
        .expect("truncate");
    // O_TRUNC through create on an existing file.
    fs::write(s.mnt.join("docs/seed.txt"), b"rewritten").expect("rewrite");
    assert_eq!(names(&s.mnt), vec!["docs", "moved.txt", "top.txt"]);
    assert_eq!(names(&s.mnt.join("docs")), vec!["seed.txt"]);
    let mut got = String::new();
    fs::File::open(s.mnt.join("moved.txt"))
        .expect("open moved")
        .read_to_string(&mut got)
        .expect("read moved");
    assert_eq!(got.as_bytes(), expected.as_slice());

    // Everything reaches the bucket.
    let manager = mounted.manager().expect("engine");
    bounded(&rt, "flush", manager.flush(true)).expect("flush");
    assert_eq!(
        fs::read(object_file(&s.buckets, "moved.txt")).expect("moved.txt in the bucket"),
        expected
    );
    assert_eq!(
        fs::read(object_file(&s.buckets, "top.txt")).expect("top.txt in the bucket"),
        b"TOP object!"
    );
    assert_eq!(
        fs::read(object_file(&s.buckets, "docs/seed.txt")).expect("seed in the bucket"),
        b"rewritten"
    );
    for gone in ["docs/new.txt", "docs/old.txt"] {
        assert!(
            !object_file(&s.buckets, gone).exists(),
            "{gone} is still in the bucket"
        );
    }

    let report = bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
    assert!(report.clean, "{report:?}");
    assert!(!is_mounted(&s.mnt), "still mounted after unmount");

    // A remount on the same cache shows the same files.
    let manager = bounded(&rt, "engine again", engine(&s.cache, &remote));
    let mounted = mount(&rt, manager, &s.mnt);
    assert_eq!(names(&s.mnt), vec!["docs", "moved.txt", "top.txt"]);
    assert_eq!(
        fs::read(s.mnt.join("moved.txt")).expect("read after remount"),
        expected
    );
    assert_eq!(
        fs::read(s.mnt.join("docs/seed.txt")).expect("seed"),
        b"rewritten"
    );
    let report = bounded(&rt, "unmount again", mounted.unmount()).expect("unmount");
    assert!(report.clean, "{report:?}");
}

#[test]
fn writes_fsynced_before_unmount_stay_journaled_and_upload_at_the_next_mount() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let remote = s.remote(&rt);

    // An engine whose uploads wait ten minutes: nothing goes up while mounted.
    let lazy = {
        let mut o = silt_tokio::Options::new(&s.cache, remote.clone());
        o.core.write_back_delay = std::time::Duration::from_secs(600);
        o.core.min_free_space = 1 << 20;
        o.fsync_on_close = false;
        remote.capabilities().apply_to(&mut o.core);
        bounded(&rt, "engine", silt_tokio::CacheManager::start(o)).expect("start")
    };
    let mounted = mount(&rt, lazy, &s.mnt);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    {
        let mut f = fs::File::create(s.mnt.join("pending.bin")).expect("create");
        f.write_all(&data).expect("write");
        f.sync_all().expect("fsync");
    }
    let report = bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
    assert!(report.clean, "{report:?}");
    assert!(
        !object_file(&s.buckets, "pending.bin").exists(),
        "uploaded before the write-back delay"
    );

    // The next mount finds the upload in the journal; a flush sends it.
    let manager = bounded(&rt, "engine again", engine(&s.cache, &remote));
    let mounted = mount(&rt, manager, &s.mnt);
    assert_eq!(fs::read(s.mnt.join("pending.bin")).expect("read"), data);
    bounded(&rt, "flush", mounted.manager().expect("engine").flush(true)).expect("flush");
    assert_eq!(
        fs::read(object_file(&s.buckets, "pending.bin")).expect("in the bucket"),
        data
    );
    bounded(&rt, "unmount again", mounted.unmount()).expect("unmount");
}

#[test]
fn a_prefix_mount_shows_only_its_keys_and_writes_below_it() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let whole = s.remote(&rt);
    bounded(
        &rt,
        "put",
        put(&whole, "outside.txt", b"not under the prefix"),
    );
    bounded(&rt, "put", put(&whole, "team/a/readme.txt", b"under it"));

    let prefixed = bounded(&rt, "prefixed remote", async {
        let cfg = silt_s3::RemoteConfig {
            prefix: "team/".into(),
            ..s.server.remote_config(BUCKET)
        };
        let r = silt_s3::S3Remote::connect(&cfg).await;
        r.set_capabilities(whole.capabilities());
        std::sync::Arc::new(r)
    });
    let manager = bounded(&rt, "engine", engine(&s.cache, &prefixed));
    let mounted = mount(&rt, manager, &s.mnt);
    assert_eq!(names(&s.mnt), vec!["a"]);
    assert_eq!(
        fs::read(s.mnt.join("a/readme.txt")).expect("read"),
        b"under it"
    );

    // Several writers at once, each a file of several chunks written in odd-sized pieces.
    let writers: Vec<_> = (0..4u8)
        .map(|w| {
            let path = s.mnt.join(format!("a/w{w}.bin"));
            std::thread::spawn(move || {
                let data: Vec<u8> = (0..2_500_000u32)
                    .map(|i| (i as u8).wrapping_mul(w + 3))
                    .collect();
                let mut f = fs::File::create(&path).expect("create");
                for piece in data.chunks(70_001) {
                    f.write_all(piece).expect("write");
                }
                f.sync_all().expect("fsync");
                (path, data)
            })
        })
        .collect();
    let written: Vec<_> = writers
        .into_iter()
        .map(|t| t.join().expect("writer"))
        .collect();
    for (path, data) in &written {
        assert!(
            fs::read(path).expect("read back") == *data,
            "{}",
            path.display()
        );
    }
    bounded(&rt, "flush", mounted.manager().expect("engine").flush(true)).expect("flush");
    for (w, (_, data)) in written.iter().enumerate() {
        let key = format!("team/a/w{w}.bin");
        assert!(
            fs::read(object_file(&s.buckets, &key)).expect("in the bucket") == *data,
            "{key}"
        );
    }
    assert!(
        !object_file(&s.buckets, "a/w0.bin").exists(),
        "written outside the prefix"
    );
    bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
}

#[test]
fn a_remount_reads_cached_and_written_files_without_fetching_them_again() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let remote = s.remote(&rt);
    let outside: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    bounded(&rt, "put", put(&remote, "remote.bin", &outside));

    let caps = remote.capabilities();
    let counted = || s.counted(&rt, caps);
    let first = counted();
    let manager = bounded(&rt, "engine", engine_on(&s.cache, &first, caps));
    let mounted = mount(&rt, manager, &s.mnt);
    assert_eq!(
        fs::read(s.mnt.join("remote.bin")).expect("cold read"),
        outside
    );
    assert!(first.gets() > 0, "a cold read fetches");
    let written: Vec<u8> = (0..2_000_000u32).map(|i| (i % 239) as u8).collect();
    {
        let mut f = fs::File::create(s.mnt.join("local.bin")).expect("create");
        f.write_all(&written).expect("write");
        f.sync_all().expect("fsync");
    }
    bounded(&rt, "flush", mounted.manager().expect("engine").flush(true)).expect("flush");
    bounded(&rt, "unmount", mounted.unmount()).expect("unmount");

    let second = counted();
    let manager = bounded(&rt, "engine again", engine_on(&s.cache, &second, caps));
    let mounted = mount(&rt, manager, &s.mnt);
    assert_eq!(
        fs::read(s.mnt.join("remote.bin")).expect("warm read"),
        outside
    );
    assert_eq!(
        fs::read(s.mnt.join("local.bin")).expect("read written"),
        written
    );
    assert_eq!(second.gets(), 0, "the remount fetched cached bytes again");
    bounded(&rt, "unmount again", mounted.unmount()).expect("unmount");
}
