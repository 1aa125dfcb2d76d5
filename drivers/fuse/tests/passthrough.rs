//! FUSE passthrough on a real mount: a fully cached file opened for reading is read by the
//! kernel straight from its cache file (no read request reaches the mount), beside writers,
//! under eviction pressure and after the object changed in the bucket. Needs root, /dev/fuse
//! and a kernel with passthrough (Linux 6.9 or later); elsewhere these tests fail.

mod support;

use silt_tokio::{CacheManager, Options};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::*;

fn pattern(len: u32, m: u32) -> Vec<u8> {
    (0..len).map(|i| (i % m) as u8).collect()
}

/// Reads `path` whole through the mount (caching it), then drops the kernel's page cache
/// of it, so that later reads through the page cache would have to ask the mount again.
fn cache_whole(path: &Path) -> Vec<u8> {
    let mut f = File::open(path).expect("open to cache");
    let mut data = Vec::new();
    f.read_to_end(&mut data).expect("read to cache");
    // SAFETY: posix_fadvise only takes an open descriptor and a range; it touches no memory
    // of ours.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(r, 0, "fadvise");
    data
}

/// Opens `path` for reading once the mount serves it by passthrough (the cache file is
/// written a moment after the read that fetched it was answered).
fn open_passthrough(mounted: &silt_fuse::Mounted, path: &Path) -> File {
    let (before, on) = mounted.passthrough_opens();
    assert!(
        on,
        "this kernel offers no FUSE passthrough (Linux 6.9 or later does)"
    );
    for _ in 0..100 {
        let f = File::open(path).expect("open for reading");
        if mounted.passthrough_opens().0 > before {
            return f;
        }
        drop(f);
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} was never opened by passthrough", path.display());
}

fn read_all(f: &mut File) -> Vec<u8> {
    let mut out = Vec::new();
    f.read_to_end(&mut out).expect("read");
    out
}

#[test]
fn a_cached_file_is_read_by_the_kernel_from_its_cache_file() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let remote = s.remote(&rt);
    let data = pattern(3_000_000, 251);
    bounded(&rt, "put", put(&remote, "big.bin", &data));
    let manager = bounded(&rt, "engine", engine(&s.cache, &remote));
    let mounted = mount(&rt, manager, &s.mnt);
    let path = s.mnt.join("big.bin");
    let first = File::open(&path).expect("open");
    assert_eq!(
        mounted.passthrough_opens().0,
        0,
        "nothing cached: an ordinary open"
    );
    drop(first);
    assert_eq!(cache_whole(&path), data);
    let mut f = open_passthrough(&mounted, &path);
    let reads = mounted.read_requests();
    assert_eq!(read_all(&mut f), data);
    let mut tail = vec![0; 4096];
    f.read_exact_at(&mut tail, 2_000_000).expect("pread");
    assert_eq!(tail, data[2_000_000..2_004_096]);
    assert_eq!(
        mounted.read_requests(),
        reads,
        "the kernel read the cache file: no read request reached the mount"
    );
    drop(f);
    bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
}

#[test]
fn writers_beside_a_passthrough_reader_land_in_the_file_it_reads() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let remote = s.remote(&rt);
    let data = pattern(2_500_000, 199);
    bounded(&rt, "put", put(&remote, "f.bin", &data));
    let manager = bounded(&rt, "engine", engine(&s.cache, &remote));
    let mounted = mount(&rt, manager, &s.mnt);
    let path = s.mnt.join("f.bin");
    cache_whole(&path);
    let reader = open_passthrough(&mounted, &path);

    // A writer opened while the reader is in passthrough: its writes go through the mount
    // and land in the cache file the kernel reads.
    let writer = OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open writer");
    writer
        .write_all_at(b"written beside", 1_000_000)
        .expect("write");
    let mut expect = data.clone();
    expect[1_000_000..1_000_014].copy_from_slice(b"written beside");
    let mut got = vec![0; 14];
    reader.read_exact_at(&mut got, 1_000_000).expect("pread");
    assert_eq!(got, b"written beside", "the reader sees the write");
    writer.write_all_at(b"appended", 2_500_000).expect("append");
    writer.sync_all().expect("fsync");
    drop(writer);
    expect.extend_from_slice(b"appended");
    let mut r = reader;
    assert_eq!(read_all(&mut r), expect, "and the append");
    drop(r);

    // A writer first, then a reader: the reader is not given passthrough (the kernel would
    // refuse it beside a cached open) and reads through the mount.
    let granted = mounted.passthrough_opens().0;
    let mut writer = OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open writer");
    writer.write_all(b"head").expect("write head");
    expect[..4].copy_from_slice(b"head");
    assert_eq!(fs::read(&path).expect("read beside the writer"), expect);
    assert_eq!(
        mounted.passthrough_opens().0,
        granted,
        "no passthrough beside a writer"
    );
    writer.sync_all().expect("fsync");
    drop(writer);
    bounded(&rt, "flush", mounted.manager().expect("engine").flush(true)).expect("flush");
    assert_eq!(
        fs::read(object_file(&s.buckets, "f.bin")).expect("bucket"),
        expect
    );
    bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
}

/// An open for reading and writing beside a passthrough reader is refused (EBUSY): a shared
/// writable `mmap` of it would map the cache file itself, behind the cache's back. Write-only
/// opens go on, and once the reader is closed a read-write open works again.
#[test]
fn a_read_write_open_beside_a_passthrough_reader_is_refused() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let remote = s.remote(&rt);
    let data = pattern(1_500_000, 97);
    bounded(&rt, "put", put(&remote, "m.bin", &data));
    let manager = bounded(&rt, "engine", engine(&s.cache, &remote));
    let mounted = mount(&rt, manager, &s.mnt);
    let path = s.mnt.join("m.bin");
    cache_whole(&path);
    let reader = open_passthrough(&mounted, &path);
    let refused = OpenOptions::new().read(true).write(true).open(&path);
    let e = refused.expect_err("read-write beside a passthrough reader");
    assert_eq!(e.raw_os_error(), Some(libc::EBUSY), "{e}");
    let writer = OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("write-only beside the reader");
    writer.write_all_at(b"wo", 10).expect("write");
    drop(writer);
    drop(reader);
    // Released asynchronously by the kernel: the read-write open waits for it.
    let rw = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("read-write once the reader is closed");
    rw.write_all_at(b"rw", 20).expect("write");
    rw.sync_all().expect("fsync");
    drop(rw);
    let mut expect = data;
    expect[10..12].copy_from_slice(b"wo");
    expect[20..22].copy_from_slice(b"rw");
    bounded(&rt, "flush", mounted.manager().expect("engine").flush(true)).expect("flush");
    assert_eq!(
        fs::read(object_file(&s.buckets, "m.bin")).expect("bucket"),
        expect
    );
    bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
}

/// An engine whose cache holds about 4 MiB.
async fn small_engine(cache: &Path, remote: &Arc<silt_s3::S3Remote>) -> CacheManager {
    let mut o = Options::new(cache, remote.clone());
    o.core.write_back_delay = Duration::from_millis(100);
    o.core.commit_interval = Duration::from_millis(200);
    o.core.cache_budget = 4 << 20;
    o.core.dirty_limit = 2 << 20;
    o.core.min_free_space = 1 << 20;
    o.fsync_on_close = false;
    remote.capabilities().apply_to(&mut o.core);
    CacheManager::start(o).await.expect("start the engine")
}

#[test]
fn a_passthrough_reader_keeps_its_bytes_under_eviction_pressure() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let remote = s.remote(&rt);
    let a = pattern(3_000_000, 211);
    bounded(&rt, "put", put(&remote, "a.bin", &a));
    for key in ["b.bin", "c.bin"] {
        bounded(&rt, "put", put(&remote, key, &pattern(3_000_000, 223)));
    }
    let manager = bounded(&rt, "engine", small_engine(&s.cache, &remote));
    let mounted = mount(&rt, manager, &s.mnt);
    let path = s.mnt.join("a.bin");
    cache_whole(&path);
    let mut reader = open_passthrough(&mounted, &path);
    // 6 MB more through a 4 MiB cache: eviction runs, and must pass a.bin by.
    for key in ["b.bin", "c.bin"] {
        assert_eq!(fs::read(s.mnt.join(key)).expect("read").len(), 3_000_000);
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(read_all(&mut reader), a, "the pinned file lost no byte");
    drop(reader);
    bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
}

#[test]
fn a_passthrough_reader_of_a_file_changed_in_the_bucket_keeps_its_version() {
    require_fuse();
    let rt = runtime();
    let s = Served::start(&rt);
    let remote = s.remote(&rt);
    let data = pattern(1_500_000, 233);
    bounded(&rt, "put", put(&remote, "doc.bin", &data));
    let manager = bounded(&rt, "engine", engine(&s.cache, &remote));
    let mounted = mount(&rt, manager, &s.mnt);
    let path = s.mnt.join("doc.bin");
    cache_whole(&path);
    let mut reader = open_passthrough(&mounted, &path);
    // Another writer replaces the object; a local edit's upload then meets their version
    // (a 412): the conflict copy waits for the reader.
    bounded(&rt, "put", put(&remote, "doc.bin", b"their version"));
    let mut writer = OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open writer");
    writer.write_all(b"mine").expect("write");
    writer.sync_all().expect("fsync");
    drop(writer);
    let mut expect = data.clone();
    expect[..4].copy_from_slice(b"mine");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        read_all(&mut reader),
        expect,
        "the reader's version, with the edit"
    );
    assert!(
        !names(&s.mnt).iter().any(|n| n.contains("silt-conflict")),
        "no conflict copy while the reader is open: {:?}",
        names(&s.mnt)
    );
    drop(reader);
    wait_until("the conflict copy", || {
        names(&s.mnt).iter().any(|n| n.contains("silt-conflict"))
    });
    bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
}
