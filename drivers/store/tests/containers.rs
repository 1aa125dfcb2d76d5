//! Containers on real temporary files: positional I/O, boundaries, punching (sparse or the
//! fallback), reopening, names that no key can influence, permissions and typed errors.

use silt_core::{EntryId, LocalOk, LocalOp};
use silt_store::{Store, StoreOptions};

const MIB: u64 = 1 << 20;

fn store(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreOptions::default()).expect("open store")
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// True when this Windows build runs under wine (ntdll exports `wine_get_version`).
#[cfg(windows)]
fn under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
    // SAFETY: both calls take NUL-terminated static strings; ntdll is always loaded, and a
    // null module handle is checked before use.
    unsafe {
        let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
        !ntdll.is_null() && GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

#[test]
fn writes_at_offsets_read_back_across_boundaries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = store(dir.path());
    let c = s.create(EntryId(1)).expect("create");
    assert_eq!(c.len().expect("len"), 0);
    let a = pattern(5000, 1);
    let b = pattern(3 * MIB as usize / 2, 2);
    c.write_at(&a, 0).expect("write a");
    // Across the 1 MiB boundary, leaving a gap after `a`.
    c.write_at(&b, MIB - 100).expect("write b");
    assert_eq!(c.len().expect("len"), MIB - 100 + b.len() as u64);
    let mut got = vec![0u8; 5000];
    assert_eq!(c.read_at(&mut got, 0).expect("read"), 5000);
    assert_eq!(got, a);
    let mut got = vec![0u8; b.len()];
    c.read_at(&mut got, MIB - 100).expect("read");
    assert_eq!(got, b);
    // The gap reads as zeros.
    let mut gap = vec![1u8; 1000];
    c.read_at(&mut gap, 10_000).expect("read gap");
    assert!(gap.iter().all(|&x| x == 0));
    // A read across the end is short; read_exact_or_zeros fills the rest with zeros.
    let end = c.len().expect("len");
    let mut tail = vec![7u8; 300];
    assert_eq!(c.read_at(&mut tail, end - 100).expect("read"), 100);
    c.read_exact_or_zeros(&mut tail, end - 100).expect("read");
    assert_eq!(&tail[..100], &b[b.len() - 100..]);
    assert!(tail[100..].iter().all(|&x| x == 0));
    let mut past = vec![7u8; 10];
    assert_eq!(c.read_at(&mut past, end + 5).expect("read past end"), 0);
}

#[test]
fn partial_overwrites_keep_the_bytes_around_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = store(dir.path());
    let c = s.create(EntryId(2)).expect("create");
    let mut model = pattern(64 * 1024, 3);
    c.write_at(&model, 0).expect("write");
    for (off, len, seed) in [
        (0, 1, 9),
        (4095, 2, 10),
        (60_000, 5536, 11),
        (100, 4096, 12),
    ] {
        let p = pattern(len, seed);
        c.write_at(&p, off as u64).expect("overwrite");
        model[off..off + len].copy_from_slice(&p);
    }
    let mut got = vec![0u8; model.len()];
    c.read_at(&mut got, 0).expect("read");
    assert_eq!(got, model);
    // Truncate down, then up: the regrown part reads as zeros.
    c.truncate(1000).expect("shrink");
    c.truncate(3000).expect("grow");
    let mut got = vec![9u8; 3000];
    c.read_at(&mut got, 0).expect("read");
    assert_eq!(&got[..1000], &model[..1000]);
    assert!(got[1000..].iter().all(|&x| x == 0));
}

/// Punches a 1 MiB hole in the middle of 4 MiB of data: zeros read back, the length stays,
/// and where the platform has holes the allocated size shrinks; otherwise the fallback ran.
#[test]
fn punch_then_read_zeros() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = store(dir.path());
    let c = s.create(EntryId(3)).expect("create");
    // Marking the file sparse (FSCTL_SET_SPARSE on Windows, wine included) succeeded.
    assert_eq!(
        s.telemetry().sparse_fallback(),
        0,
        "{:?}",
        s.telemetry().sparse_fallback_reason()
    );
    let data = pattern(4 * MIB as usize, 4);
    c.write_at(&data, 0).expect("write");
    c.fsync().expect("fsync");
    let before = c.allocated_bytes().expect("stat");
    c.punch_hole(MIB, MIB).expect("punch");
    assert_eq!(c.len().expect("len"), 4 * MIB, "punching keeps the size");
    let mut got = vec![1u8; 4 * MIB as usize];
    c.read_at(&mut got, 0).expect("read");
    assert_eq!(&got[..MIB as usize], &data[..MIB as usize]);
    assert!(got[MIB as usize..2 * MIB as usize].iter().all(|&x| x == 0));
    assert_eq!(&got[2 * MIB as usize..], &data[2 * MIB as usize..]);
    // Punching past the end changes nothing.
    c.punch_hole(5 * MIB, MIB).expect("punch past end");
    assert_eq!(c.len().expect("len"), 4 * MIB);

    #[cfg(target_os = "linux")]
    {
        let after = c.allocated_bytes().expect("stat").expect("unix");
        let before = before.expect("unix");
        assert!(
            after + MIB <= before,
            "allocated {before} -> {after}: the hole freed nothing"
        );
        assert_eq!(
            s.telemetry().sparse_fallback(),
            0,
            "Linux punched a real hole"
        );
    }
    #[cfg(target_os = "macos")]
    {
        // APFS frees punched blocks (compile-checked here; run on a Mac).
        let after = c.allocated_bytes().expect("stat").expect("unix");
        assert!(after < before.expect("unix"), "the hole freed nothing");
        assert_eq!(s.telemetry().sparse_fallback(), 0);
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    let _ = before;
    #[cfg(windows)]
    {
        if under_wine() {
            // wine accepts FSCTL_SET_SPARSE but not FSCTL_SET_ZERO_DATA: zeros were written,
            // once for the punch inside the file and once for the one past its end.
            assert_eq!(
                s.telemetry().sparse_fallback(),
                2,
                "the fallback did not run"
            );
            let reason = s.telemetry().sparse_fallback_reason().expect("a reason");
            assert!(reason.starts_with("punch hole"), "{reason}");
            println!("under wine: {reason}");
        } else {
            assert_eq!(
                s.telemetry().sparse_fallback(),
                0,
                "NTFS punched a real hole"
            );
        }
    }
}

/// The fallback path, forced on Linux too: zeros are written, nothing is freed, each
/// fallback is counted.
#[test]
fn forced_fallback_writes_zeros_and_counts_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(
        dir.path(),
        StoreOptions {
            force_fallback: true,
        },
    )
    .expect("open");
    let c = s.create(EntryId(4)).expect("create");
    let data = pattern(3 * MIB as usize, 5);
    c.write_at(&data, 0).expect("write");
    c.fsync().expect("fsync");
    let before = c.allocated_bytes().expect("stat");
    c.punch_hole(100, 2 * MIB).expect("punch");
    c.punch_hole(0, 10).expect("punch");
    assert_eq!(s.telemetry().sparse_fallback(), 2);
    let mut got = vec![1u8; 3 * MIB as usize];
    c.read_at(&mut got, 0).expect("read");
    assert!(got[..10].iter().all(|&x| x == 0));
    assert_eq!(&got[10..100], &data[10..100]);
    assert!(got[100..100 + 2 * MIB as usize].iter().all(|&x| x == 0));
    assert_eq!(
        &got[100 + 2 * MIB as usize..],
        &data[100 + 2 * MIB as usize..]
    );
    if let (Some(before), Some(after)) = (before, c.allocated_bytes().expect("stat")) {
        assert!(after >= before, "the fallback must not have punched");
    }
}

#[test]
fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = pattern(200_000, 6);
    {
        let s = store(dir.path());
        let c = s.create(EntryId(5)).expect("create");
        c.write_at(&data, 12_345).expect("write");
        c.fsync().expect("fsync");
        c.close();
    }
    let s = store(dir.path());
    let c = s.open_existing(EntryId(5)).expect("open").expect("exists");
    let mut got = vec![0u8; data.len()];
    c.read_at(&mut got, 12_345).expect("read");
    assert_eq!(got, data);
    // create() of an existing container opens it without truncating.
    let again = s.create(EntryId(5)).expect("create again");
    assert_eq!(again.len().expect("len"), 12_345 + data.len() as u64);
    assert!(s.open_existing(EntryId(6)).expect("open").is_none());
}

#[test]
fn names_come_from_entry_ids_and_stay_inside_the_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = store(dir.path());
    // Whatever the object keys (they are index data, never paths), files are named by id.
    let keys = [
        "../../etc/passwd",
        "/abs/path",
        "a\\b\\..\\c",
        "C:\\Windows\\x",
        "nul\0byte",
        &"ключ".repeat(128),
    ];
    let data_dir = std::fs::canonicalize(s.data_dir()).expect("canonical");
    for (i, key) in keys.iter().enumerate() {
        let id = EntryId([0, 1, 255, 256, u64::MAX, 0x1234_5678_9abc_def0][i]);
        let c = s.create(id).expect("create");
        c.write_at(key.as_bytes(), 0).expect("write key as content");
        let path = std::fs::canonicalize(c.path()).expect("canonical");
        assert!(path.starts_with(&data_dir), "{} escaped", path.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name");
        assert_eq!(name, format!("{:016x}", id.0));
        let shard = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str());
        assert_eq!(shard, Some(format!("{:02x}", id.0 & 0xff).as_str()));
    }
    // Only the shard folders and files the ids named exist.
    let mut found = 0;
    for shard in std::fs::read_dir(&data_dir).expect("read data") {
        for file in std::fs::read_dir(shard.expect("shard").path()).expect("read shard") {
            let name = file.expect("file").file_name();
            let name = name.to_str().expect("utf-8");
            assert!(name.len() == 16 && name.chars().all(|c| c.is_ascii_hexdigit()));
            found += 1;
        }
    }
    assert_eq!(found, keys.len());
}

#[cfg(unix)]
#[test]
fn cache_dir_is_0700_and_files_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).expect("mkdir");
    // A pre-existing, too-open cache dir is tightened.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let s = store(&cache);
    let c = s.create(EntryId(7)).expect("create");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700);
    assert_eq!(mode(s.data_dir()), 0o700);
    assert_eq!(mode(c.path().parent().expect("shard")), 0o700);
    assert_eq!(mode(c.path()), 0o600);
}

/// A full disk is a typed `NoSpace` (here `/dev/full`, which answers every write with
/// ENOSPC, stands in for the container), which the core takes as `LocalError::NoSpace`.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_no_space_for_the_core() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = store(dir.path());
    let path = s.path_of(EntryId(8));
    std::fs::create_dir_all(path.parent().expect("shard")).expect("mkdir");
    std::os::unix::fs::symlink("/dev/full", &path).expect("symlink");
    let c = s.open_existing(EntryId(8)).expect("open").expect("exists");
    let err = c.write_at(b"hello", 0).expect_err("ENOSPC");
    assert!(
        matches!(err, silt_store::StoreError::NoSpace { .. }),
        "{err:?}"
    );
    let op = LocalOp::Write {
        entry: EntryId(8),
        offset: 0,
        data: bytes::Bytes::from_static(b"hello"),
    };
    assert_eq!(s.execute(&op), Err(silt_core::LocalError::NoSpace));
}

/// The core's cache-file operations, executed on real files.
#[test]
fn executes_the_cores_local_operations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = store(dir.path());
    let e = EntryId(9);
    let run = |op: LocalOp| s.execute(&op).expect("op");
    let read = |offset, len| match run(LocalOp::Read {
        entry: e,
        offset,
        len,
    }) {
        LocalOk::Data(d) => d.to_vec(),
        other => panic!("{other:?}"),
    };
    // Reading a file that does not exist yet: zeros.
    assert_eq!(read(0, 4), vec![0; 4]);
    run(LocalOp::Write {
        entry: e,
        offset: 10,
        data: bytes::Bytes::from_static(b"abcdef"),
    });
    assert_eq!(read(8, 10), b"\0\0abcdef\0\0".to_vec());
    run(LocalOp::Zero {
        entry: e,
        offset: 12,
        len: 2,
    });
    assert_eq!(read(10, 6), b"ab\0\0ef".to_vec());
    // Zero beyond the end extends the file.
    run(LocalOp::Zero {
        entry: e,
        offset: 100,
        len: 50,
    });
    assert_eq!(
        s.open_existing(e)
            .expect("open")
            .expect("exists")
            .len()
            .expect("len"),
        150
    );
    run(LocalOp::SetLen { entry: e, size: 14 });
    assert_eq!(read(10, 6), b"ab\0\0\0\0".to_vec());
    run(LocalOp::Punch {
        entry: e,
        offset: 0,
        len: 14,
    });
    run(LocalOp::Sync { entry: e });
    assert_eq!(read(0, 14), vec![0; 14]);
    run(LocalOp::Remove { entry: e });
    assert!(s.open_existing(e).expect("open").is_none());
    // Removing, punching or syncing what is gone succeeds.
    run(LocalOp::Remove { entry: e });
    run(LocalOp::Punch {
        entry: e,
        offset: 0,
        len: 1,
    });
    run(LocalOp::Sync { entry: e });
}
