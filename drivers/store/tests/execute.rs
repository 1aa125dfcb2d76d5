//! `Store::execute`, which keeps cache files open between calls: what it writes reads back,
//! a removal deletes the file (closing the kept handle first), and an entry written again
//! after its removal starts from an empty file.

use bytes::Bytes;
use silt_core::{EntryId, LocalOk, LocalOp};
use silt_store::{Store, StoreOptions};

fn read(store: &Store, entry: EntryId, offset: u64, len: u64) -> Vec<u8> {
    match store.execute(&LocalOp::Read { entry, offset, len }) {
        Ok(LocalOk::Data(d)) => d.to_vec(),
        other => panic!("read: {other:?}"),
    }
}

#[test]
fn kept_open_files_read_back_and_removal_deletes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
    let e = EntryId(7);
    let write = LocalOp::Write {
        entry: e,
        offset: 4,
        data: Bytes::from_static(b"abcd"),
    };
    assert_eq!(store.execute(&write), Ok(LocalOk::Done));
    assert_eq!(read(&store, e, 0, 8), b"\0\0\0\0abcd");
    assert_eq!(
        store.execute(&LocalOp::Sync { entry: e }),
        Ok(LocalOk::Done)
    );
    let set_len = LocalOp::SetLen { entry: e, size: 6 };
    assert_eq!(store.execute(&set_len), Ok(LocalOk::Done));
    assert_eq!(read(&store, e, 0, 8), b"\0\0\0\0ab\0\0");
    assert_eq!(
        store.execute(&LocalOp::Remove { entry: e }),
        Ok(LocalOk::Done)
    );
    assert!(!store.path_of(e).exists(), "the file is gone");
    assert_eq!(
        read(&store, e, 0, 4),
        b"\0\0\0\0",
        "a removed file reads as zeros"
    );
    let again = LocalOp::Write {
        entry: e,
        offset: 0,
        data: Bytes::from_static(b"z"),
    };
    assert_eq!(store.execute(&again), Ok(LocalOk::Done));
    assert_eq!(read(&store, e, 0, 6), b"z\0\0\0\0\0");
    assert_eq!(
        std::fs::metadata(store.path_of(e))
            .expect("recreated")
            .len(),
        1,
        "a new file, not the old one"
    );
}

#[test]
fn more_entries_than_kept_handles_all_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
    for i in 0..600u64 {
        let w = LocalOp::Write {
            entry: EntryId(i),
            offset: 0,
            data: Bytes::from(i.to_le_bytes().to_vec()),
        };
        assert_eq!(store.execute(&w), Ok(LocalOk::Done));
    }
    for i in 0..600u64 {
        assert_eq!(read(&store, EntryId(i), 0, 8), i.to_le_bytes());
    }
}
