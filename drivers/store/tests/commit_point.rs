//! The commit-point flow end to end on real files: bytes written to a container, the
//! container fsynced, then the index transaction that records the dirty ranges and the
//! upload intent. After a restart (both reopened) the index finds every dirty range and the
//! container holds its bytes.

use silt_core::{
    DirtyExtent, EntryId, EntryRecord, IndexOp, IndexTxn, Instant, JournalId, JournalOp,
    JournalRecord, JournalStatus, Precondition,
};
use silt_index::{open, OpenOptions};
use silt_store::{Store, StoreOptions};

#[test]
fn dirty_ranges_written_fsynced_then_committed_are_found_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = EntryId(42);
    let ranges: [(u64, &[u8]); 3] = [
        (0, b"head"),
        (1 << 20, b"across a chunk"),
        (5_000_000, b"tail"),
    ];
    {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
        let index = open("redb", &OpenOptions::new(dir.path())).expect("index");
        let c = store.create(id).expect("container");
        for (off, bytes) in ranges {
            c.write_at(bytes, off).expect("write");
        }
        // The order the core enforces: data durable first, then the commit that points at it.
        c.fsync().expect("fsync");
        let entry = EntryRecord {
            id,
            key: Some("dir/../weird:key".into()),
            remote_key: None,
            base: None,
            target_precondition: Precondition::IfNoneMatch,
            local_size: c.len().expect("len"),
            generation: 1,
            dirty: ranges
                .iter()
                .map(|(off, b)| DirtyExtent {
                    offset: *off,
                    len: b.len() as u64,
                    generation: 1,
                })
                .collect(),
            clean_chunks: vec![],
            atime: 1,
            mtime_ms: None,
        };
        let intent = JournalRecord {
            id: JournalId(43),
            path: "dir/../weird:key".into(),
            offset: 0,
            len: entry.local_size,
            status: JournalStatus::Queued,
            attempts: 0,
            last_error: None,
            op: JournalOp::Upload { entry: id },
            base_etag: None,
            source_key: None,
            generation: 1,
            precondition: Precondition::IfNoneMatch,
            token: "t-43".into(),
            multipart: None,
            next_attempt: Instant::from_millis(5_000),
            mtime_ms: None,
        };
        index
            .commit(&[&IndexTxn {
                ops: vec![IndexOp::PutEntry(entry), IndexOp::PutJournal(intent)],
            }])
            .expect("commit");
    }
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store again");
    let index = open("redb", &OpenOptions::new(dir.path())).expect("index again");
    let entry = index.get_entry(id).expect("get").expect("entry recorded");
    assert_eq!(index.list_uploads().expect("uploads").len(), 1);
    let c = store
        .open_existing(id)
        .expect("open")
        .expect("container kept");
    assert_eq!(entry.local_size, c.len().expect("len"));
    for (extent, (_, want)) in entry.dirty.iter().zip(ranges) {
        let mut got = vec![0u8; extent.len as usize];
        c.read_exact_or_zeros(&mut got, extent.offset)
            .expect("read");
        assert_eq!(got, want);
    }
    // The cache file sits where the index's entry id says, whatever the key was.
    assert_eq!(c.path(), store.path_of(id));
}
