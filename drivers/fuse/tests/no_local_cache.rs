//! Real mounts without a disk cache (`--no-local-cache`): the embedded s3s-fs server and a
//! FUSE mount of the bucket through memory, used through std::fs; the bucket checked as
//! s3s-fs stores it (plain files). Needs root and /dev/fuse (fails without, never skips).

mod support;

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::time::{Duration, SystemTime};
use support::*;

#[test]
fn files_without_a_local_cache_are_in_the_bucket_once_closed_or_fsynced() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let remote = s.remote(&rt);
    bounded(&rt, "put", put(&remote, "top.txt", b"top object"));
    bounded(
        &rt,
        "put",
        put(&remote, "docs/seed.txt", b"seeded remotely"),
    );
    bounded(&rt, "put", put(&remote, "docs/old.txt", b"old"));

    let mounted = mount(
        &rt,
        bounded(&rt, "bucket", direct(&s.server, 64 << 20)),
        &s.mnt,
    );
    assert!(mounted.manager().is_none(), "no engine behind this mount");
    // The kernel reads ahead 1 MiB on this mount (KernelSettings), not its 128 KiB.
    assert_eq!(read_ahead_kb(&s.mnt), 1024);
    assert_eq!(names(&s.mnt), vec!["docs", "top.txt"]);
    assert!(fs::metadata(s.mnt.join("docs"))
        .expect("stat docs")
        .is_dir());
    assert_eq!(
        fs::read(s.mnt.join("docs/seed.txt")).expect("read"),
        b"seeded remotely"
    );
    let missing = fs::metadata(s.mnt.join("nope")).expect_err("missing file");
    assert_eq!(missing.kind(), ErrorKind::NotFound);

    // A file being written is listed (with its size) before it is in the bucket; its
    // fsync returns once the bucket holds it.
    let new = s.mnt.join("docs/new.txt");
    {
        let mut f = fs::File::create(&new).expect("create");
        f.write_all(b"hello").expect("write");
        f.write_at(b"world", 10).expect("write at 10");
        assert_eq!(
            names(&s.mnt.join("docs")),
            vec!["new.txt", "old.txt", "seed.txt"]
        );
        assert_eq!(fs::metadata(&new).expect("stat").len(), 15);
        assert!(
            !object_file(&s.buckets, "docs/new.txt").exists(),
            "not stored before fsync"
        );
        assert_eq!(&fs::read(&new).expect("read your writes")[..5], b"hello");
        f.sync_all().expect("fsync");
        assert_eq!(
            fs::read(object_file(&s.buckets, "docs/new.txt")).expect("stored at fsync"),
            b"hello\0\0\0\0\0world"
        );
    }

    // Overwrite inside a remote object and extend it: stored at close.
    {
        let f = OpenOptions::new()
            .write(true)
            .open(s.mnt.join("top.txt"))
            .expect("open");
        f.write_at(b"TOP", 0).expect("overwrite");
        f.write_at(b"!", 10).expect("extend");
    }
    assert_eq!(
        fs::read(object_file(&s.buckets, "top.txt")).expect("top"),
        b"TOP object!"
    );

    // Rename, unlink, truncate, O_TRUNC, mkdir, rmdir, touch.
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
    assert_eq!(
        fs::read(object_file(&s.buckets, "docs/seed.txt")).expect("cut"),
        b"seeded"
    );
    fs::write(s.mnt.join("docs/seed.txt"), b"rewritten").expect("rewrite");
    fs::create_dir(s.mnt.join("empty")).expect("mkdir");
    assert!(fs::metadata(s.mnt.join("empty"))
        .expect("stat dir")
        .is_dir());
    assert_eq!(
        fs::create_dir(s.mnt.join("empty"))
            .expect_err("exists")
            .kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        fs::remove_dir(s.mnt.join("docs"))
            .expect_err("not empty")
            .kind(),
        ErrorKind::DirectoryNotEmpty
    );
    fs::remove_dir(s.mnt.join("empty")).expect("rmdir");
    let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    fs::File::options()
        .write(true)
        .open(s.mnt.join("moved.txt"))
        .expect("open for times")
        .set_modified(then)
        .expect("utimens");
    assert_eq!(names(&s.mnt), vec!["docs", "moved.txt", "top.txt"]);
    assert_eq!(names(&s.mnt.join("docs")), vec!["seed.txt"]);
    assert_eq!(
        fs::read(object_file(&s.buckets, "docs/seed.txt")).expect("seed"),
        b"rewritten"
    );
    for gone in ["docs/new.txt", "docs/old.txt", "empty/"] {
        assert!(
            !object_file(&s.buckets, gone).exists(),
            "{gone} is still in the bucket"
        );
    }

    // A file of several parts, and a 4 KiB edit in its middle.
    let big: Vec<u8> = (0..20_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(s.mnt.join("big.bin"), &big).expect("write big");
    assert!(fs::read(object_file(&s.buckets, "big.bin")).expect("big stored") == big);
    let mut edited = big.clone();
    edited[9_000_000..9_004_096].fill(0xAB);
    {
        let f = OpenOptions::new()
            .write(true)
            .open(s.mnt.join("big.bin"))
            .expect("open big");
        f.write_all_at(&[0xAB; 4096], 9_000_000).expect("edit");
    }
    assert!(fs::read(object_file(&s.buckets, "big.bin")).expect("edited") == edited);
    assert!(fs::read(s.mnt.join("big.bin")).expect("read edited") == edited);
    bounded(&rt, "unmount", mounted.unmount()).expect("unmount");

    // A new mount (nothing kept locally) shows the same, times included.
    let mounted = mount(
        &rt,
        bounded(&rt, "bucket", direct(&s.server, 64 << 20)),
        &s.mnt,
    );
    assert_eq!(
        names(&s.mnt),
        vec!["big.bin", "docs", "moved.txt", "top.txt"]
    );
    assert_eq!(
        fs::read(s.mnt.join("moved.txt")).expect("moved"),
        b"hello\0\0\0\0\0world"
    );
    assert_eq!(
        fs::metadata(s.mnt.join("moved.txt"))
            .expect("stat")
            .modified()
            .expect("mtime"),
        then
    );
    assert!(fs::read(s.mnt.join("big.bin")).expect("big again") == edited);
    bounded(&rt, "unmount again", mounted.unmount()).expect("unmount");
}

/// The readahead the kernel uses on the mount at `mnt` (KiB).
fn read_ahead_kb(mnt: &std::path::Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    let dev = fs::metadata(mnt).expect("stat the mount").dev();
    let path = format!(
        "/sys/class/bdi/{}:{}/read_ahead_kb",
        libc::major(dev),
        libc::minor(dev)
    );
    let text = fs::read_to_string(&path).expect("the mount's read_ahead_kb");
    text.trim().parse().expect("a number")
}

#[test]
fn a_write_larger_than_the_memory_limit_streams_through_it() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let bucket = bounded(&rt, "bucket", direct(&s.server, 24 << 20));
    let shared = bucket.shared().clone();
    let mounted = mount(&rt, bucket, &s.mnt);
    let total = 96usize << 20;
    let block: Vec<u8> = (0..1usize << 20).map(|i| (i % 253) as u8).collect();
    let mut peak = 0;
    {
        let mut f = fs::File::create(s.mnt.join("stream.bin")).expect("create");
        for _ in 0..total >> 20 {
            f.write_all(&block).expect("write");
            peak = peak.max(shared.memory_used());
        }
        f.sync_all().expect("fsync");
    }
    assert!(
        peak <= 24 << 20,
        "memory held {peak} bytes, over the 24 MiB limit"
    );
    let stored = fs::read(object_file(&s.buckets, "stream.bin")).expect("stored");
    assert_eq!(stored.len(), total);
    assert!(
        stored.chunks(1 << 20).all(|c| c == &block[..]),
        "bytes intact"
    );
    bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
}
