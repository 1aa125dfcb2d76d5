//! `silt_engine::fsck` on a real cache directory: a redb index written through the index's
//! own API, cache files written through the store, then damage as a disk or a crash leaves
//! it: a flipped byte under a clean chunk, an entry whose cache file is gone, dirty data
//! past the end of its file, a file without an entry, a file that is not the store's.

use silt_core::{BaseVersion, CleanChunk, DirtyExtent, EntryId, EntryRecord, IndexOp, IndexTxn};
use silt_core::{Precondition, Recovered};
use silt_engine::fsck::{FindingKind, FsckOptions, FsckReport};
use silt_store::{Store, StoreOptions};
use std::path::Path;

const CHUNK: u64 = 64 * 1024;

fn entry(id: u64, key: &str, base: Option<u64>, local_size: u64) -> EntryRecord {
    EntryRecord {
        id: EntryId(id),
        key: Some(key.to_string()),
        remote_key: base.map(|_| key.to_string()),
        base: base.map(|size| BaseVersion {
            etag: format!("\"etag-{id}\""),
            size,
            mtime_ms: 1,
        }),
        target_precondition: match base {
            Some(_) => Precondition::IfMatch(format!("\"etag-{id}\"")),
            None => Precondition::IfNoneMatch,
        },
        local_size,
        generation: 1,
        dirty: Vec::new(),
        clean_chunks: Vec::new(),
        atime: id,
        mtime_ms: None,
    }
}

fn data(len: u64) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) % 251) as u8).collect()
}

fn load(dir: &Path) -> Recovered {
    let index = silt_index::open("redb", &silt_index::OpenOptions::new(dir)).expect("open index");
    index.load().expect("load")
}

fn fsck(dir: &Path, repair: bool) -> FsckReport {
    let options = FsckOptions {
        backend: "redb".to_string(),
        chunk_size: CHUNK,
        repair,
    };
    silt_engine::fsck(dir, &options).expect("fsck runs")
}

fn kinds(r: &FsckReport) -> Vec<(FindingKind, bool)> {
    let mut k: Vec<_> = r.findings.iter().map(|f| (f.kind, f.repaired)).collect();
    k.sort_by_key(|(kind, _)| format!("{kind:?}"));
    k
}

/// The cache: entry 1, a cached remote object of 200 000 bytes in four clean chunks;
/// entry 2, a new object with a dirty range and no cache file; entry 3, a new object whose
/// dirty range is readable; entry 4, a dirty range past the end of its file; a file of
/// entry 0x99, which the index does not hold; `data/notes.txt`.
fn build(dir: &Path) -> Vec<u8> {
    let object = data(200_000);
    let store = Store::open(dir, StoreOptions::default()).expect("store");
    let index = silt_index::open("redb", &silt_index::OpenOptions::new(dir)).expect("index");
    let mut cached = entry(1, "docs/report.bin", Some(200_000), 200_000);
    let file = store.create(EntryId(1)).expect("create");
    file.write_at(&object, 0).expect("write");
    file.fsync().expect("fsync");
    for c in 0..4u64 {
        let live = silt_core::chunks::live_extent(c, CHUNK, 200_000, 200_000);
        let crc = silt_core::crc32c::checksum(&object[live.start as usize..live.end as usize]);
        cached.clean_chunks.push(CleanChunk {
            index: c,
            crc32c: crc,
        });
    }
    let mut lost = entry(2, "new/lost.txt", None, 1000);
    lost.dirty.push(DirtyExtent {
        offset: 0,
        len: 1000,
        generation: 1,
    });
    let mut fine = entry(3, "new/fine.txt", None, 5000);
    fine.dirty.push(DirtyExtent {
        offset: 0,
        len: 5000,
        generation: 1,
    });
    store
        .create(EntryId(3))
        .expect("create")
        .write_at(&data(5000), 0)
        .expect("write");
    let mut short = entry(4, "new/short.txt", None, 5000);
    short.dirty.push(DirtyExtent {
        offset: 0,
        len: 5000,
        generation: 1,
    });
    store
        .create(EntryId(4))
        .expect("create")
        .write_at(&data(100), 0)
        .expect("write");
    store
        .create(EntryId(0x99))
        .expect("create")
        .write_at(b"never acknowledged", 0)
        .expect("write");
    std::fs::write(store.data_dir().join("notes.txt"), b"someone's notes").expect("notes");
    let txn = IndexTxn {
        ops: vec![
            IndexOp::PutEntry(cached),
            IndexOp::PutEntry(lost),
            IndexOp::PutEntry(fine),
            IndexOp::PutEntry(short),
        ],
    };
    index.commit(&[&txn]).expect("commit");
    object
}

#[test]
fn a_clean_cache_is_clean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let object = data(200_000);
    {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
        let index =
            silt_index::open("redb", &silt_index::OpenOptions::new(dir.path())).expect("index");
        let mut e = entry(7, "a.bin", Some(200_000), 200_000);
        store
            .create(EntryId(7))
            .expect("create")
            .write_at(&object, 0)
            .expect("write");
        e.clean_chunks.push(CleanChunk {
            index: 3,
            crc32c: silt_core::crc32c::checksum(&object[196_608..]),
        });
        index
            .commit(&[&IndexTxn {
                ops: vec![IndexOp::PutEntry(e)],
            }])
            .expect("commit");
    }
    let r = fsck(dir.path(), true);
    assert!(r.is_clean(), "{r:#?}");
    assert_eq!(
        (r.entries, r.clean_chunks, r.clean_bytes, r.files),
        (1, 1, 3392, 1)
    );
}

#[test]
fn damage_is_reported_what_is_safe_is_repaired_and_dirty_data_is_never_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    let before = load(dir.path());
    // A flipped byte under clean chunk 1 of entry 1.
    let path = dir.path().join("data/01/0000000000000001");
    let mut bytes = std::fs::read(&path).expect("read cache file");
    bytes[70_000] ^= 0x40;
    std::fs::write(&path, &bytes).expect("corrupt");
    let orphan = dir.path().join("data/99/0000000000000099");
    let notes = dir.path().join("data/notes.txt");

    // --dry-run: everything reported, nothing changed.
    let dry = fsck(dir.path(), false);
    let expected_kinds = |repaired: bool| {
        vec![
            (FindingKind::ChecksumMismatch, repaired),
            (FindingKind::DirtyDataMissing, false),
            (FindingKind::DirtyPastEndOfFile, false),
            (FindingKind::ForeignFile, false),
            (FindingKind::OrphanFile, repaired),
        ]
    };
    assert_eq!(kinds(&dry), expected_kinds(false), "{dry:#?}");
    assert_eq!((dry.repaired, dry.unrepaired), (0, 5));
    let mismatch = dry
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::ChecksumMismatch)
        .expect("mismatch");
    assert_eq!(mismatch.key.as_deref(), Some("docs/report.bin"));
    assert!(
        mismatch
            .detail
            .contains("clean chunk 1 (bytes 65536..131072)"),
        "{}",
        mismatch.detail
    );
    assert_eq!(load(dir.path()), before, "a dry run changed the index");
    assert!(orphan.exists());

    // Repair: the chunk becomes absent, the orphan goes; the rest is left for a person.
    let fixed = fsck(dir.path(), true);
    assert_eq!(kinds(&fixed), expected_kinds(true), "{fixed:#?}");
    assert_eq!((fixed.repaired, fixed.unrepaired), (2, 3));
    let after = load(dir.path());
    let chunks: Vec<u64> = after.entries[0]
        .clean_chunks
        .iter()
        .map(|c| c.index)
        .collect();
    assert_eq!(chunks, vec![0, 2, 3], "only the damaged chunk is absent");
    for (a, b) in after.entries.iter().zip(&before.entries).skip(1) {
        assert_eq!(a, b, "entries with dirty data are kept as they were");
    }
    assert_eq!(after.entries.len(), 4);
    assert!(!orphan.exists(), "the orphan cache file is removed");
    assert!(
        notes.exists(),
        "a file that is not the store's is left alone"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        bytes,
        "fsck does not rewrite cache files"
    );

    // Again: only what needs a person.
    let again = fsck(dir.path(), true);
    assert_eq!(
        kinds(&again),
        vec![
            (FindingKind::DirtyDataMissing, false),
            (FindingKind::DirtyPastEndOfFile, false),
            (FindingKind::ForeignFile, false),
        ],
        "{again:#?}"
    );
}

#[test]
fn clean_chunks_of_an_entry_without_its_file_become_absent() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    std::fs::remove_file(dir.path().join("data/01/0000000000000001")).expect("remove");
    let r = fsck(dir.path(), true);
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::CleanChunksWithoutFile)
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(f.repaired && f.detail.contains("4 clean chunks"), "{f:?}");
    assert!(load(dir.path()).entries[0].clean_chunks.is_empty());
}

#[test]
fn an_orphan_beside_another_backends_index_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    // Another backend's index beside redb's: which one holds the truth is not fsck's call.
    std::fs::create_dir(dir.path().join("index.fjall")).expect("fjall dir");
    let r = fsck(dir.path(), true);
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::OrphanFile)
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(!f.repaired && f.detail.contains("another index"), "{f:?}");
    assert!(dir.path().join("data/99/0000000000000099").exists());
}

#[test]
fn fsck_refuses_a_locked_cache_naming_the_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    let _held = silt_engine::CacheLock::acquire(dir.path()).expect("lock");
    let options = FsckOptions {
        backend: "redb".to_string(),
        chunk_size: CHUNK,
        repair: true,
    };
    let err = silt_engine::fsck(dir.path(), &options).expect_err("locked");
    let pid = std::process::id();
    assert!(
        err.to_string().contains(&format!("locked by pid {pid}")),
        "{err}"
    );
    let err = silt_engine::fsck(
        dir.path(),
        &FsckOptions {
            backend: "memory".to_string(),
            ..options
        },
    )
    .expect_err("memory");
    assert!(err.to_string().contains("nothing to check"), "{err}");
}
