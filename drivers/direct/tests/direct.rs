//! The path without a disk cache against the in-memory object store: what is stored, when,
//! and what is never overwritten. (The real server and a real mount: silt-fuse's
//! tests/no_local_cache.rs.)

use bytes::Bytes;
use silt_core::{FileKind, OpenFlags};
use silt_direct::{Bucket, Error, Options};
use silt_memstore::SharedStore;
use std::sync::Arc;

const MIB: u64 = 1 << 20;

fn bucket(memory: u64) -> (SharedStore, Arc<Bucket<SharedStore>>) {
    let store = SharedStore::new();
    let b = Bucket::new(store.clone(), Options::with_memory(memory), 7);
    (store, b)
}

fn create() -> OpenFlags {
    OpenFlags {
        create: true,
        exclusive: false,
        truncate: false,
        passthrough: false,
    }
}

/// Deterministic bytes: `len` bytes of pattern `seed` starting at `offset`.
fn pattern(seed: u8, offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| ((offset + i).wrapping_mul(31) as u8) ^ seed)
        .collect()
}

fn stored(store: &SharedStore, key: &str) -> Option<Bytes> {
    store.with(|s| s.get(key).map(|o| o.data.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequential_write_streams_whole_parts_before_close_and_close_stores_the_object() {
    let (store, b) = bucket(64 * MIB);
    let h = b.open("big.bin", create()).await.expect("create");
    let total = 20 * MIB + 12_345;
    let mut at = 0u64;
    while at < total {
        let n = (MIB).min(total - at) as usize;
        h.write(at, Bytes::from(pattern(1, at, n)))
            .await
            .expect("write");
        at += n as u64;
    }
    // Two whole 8 MiB parts are written: they go up while the file is still open.
    assert_eq!(
        store.with(|s| s.open_uploads()),
        1,
        "a multipart upload is open"
    );
    let mut waited = 0;
    while store.with(|s| s.bytes_received()) < 16 * MIB && waited < 500 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
    }
    let received_before_close = store.with(|s| s.bytes_received());
    assert!(
        received_before_close >= 16 * MIB,
        "parts stream before close: {received_before_close} bytes received"
    );
    assert!(
        stored(&store, "big.bin").is_none(),
        "not complete before close"
    );
    assert!(
        b.shared().memory_used() <= 8 * MIB * 5,
        "memory held: {}",
        b.shared().memory_used()
    );
    h.close().await.expect("close stores it");
    let data = stored(&store, "big.bin").expect("in the bucket after close");
    assert_eq!(data.len() as u64, total);
    assert!(
        data[..] == pattern(1, 0, total as usize)[..],
        "bytes intact"
    );
    assert_eq!(store.with(|s| s.open_uploads()), 0);
    assert_eq!(b.shared().memory_used(), 0, "budget given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_of_a_large_object_sends_only_the_changed_part_and_copies_the_rest() {
    let (store, b) = bucket(64 * MIB);
    let size = 40 * MIB;
    let original = Bytes::from(pattern(2, 0, size as usize));
    store.with(|s| s.outside_put("big", original.clone(), 1));
    let before = store.with(|s| s.bytes_received());
    let h = b.open("big", OpenFlags::EXISTING).await.expect("open");
    h.write(17 * MIB + 5, Bytes::from_static(b"EDIT"))
        .await
        .expect("write");
    // Read your writes, across the edit.
    let got = h.read(17 * MIB, 16).await.expect("read");
    let mut want = original[(17 * MIB) as usize..(17 * MIB + 16) as usize].to_vec();
    want[5..9].copy_from_slice(b"EDIT");
    assert_eq!(&got[..], &want[..]);
    h.fsync().await.expect("fsync stores it");
    let sent = store.with(|s| s.bytes_received()) - before;
    assert!(
        sent <= 8 * MIB,
        "one part sent, the rest copied: {sent} bytes sent"
    );
    let data = stored(&store, "big").expect("stored");
    let mut expected = original.to_vec();
    expected[(17 * MIB + 5) as usize..(17 * MIB + 9) as usize].copy_from_slice(b"EDIT");
    assert!(
        data[..] == expected[..],
        "the new version is the old one with the edit"
    );
    h.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_see_writes_truncates_and_zeros_of_holes() {
    let (store, b) = bucket(64 * MIB);
    store.with(|s| s.outside_put("f", Bytes::from_static(b"0123456789"), 1));
    let h = b.open("f", OpenFlags::EXISTING).await.expect("open");
    h.truncate(4).await.expect("cut");
    h.write(8, Bytes::from_static(b"xy"))
        .await
        .expect("write past the end");
    assert_eq!(&h.read(0, 100).await.expect("read")[..], b"0123\0\0\0\0xy");
    assert_eq!(b.stat("f").await.expect("stat").size, 10);
    h.close().await.expect("close");
    assert_eq!(stored(&store, "f").as_deref(), Some(&b"0123\0\0\0\0xy"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_sequential_read_and_random_reads_return_the_objects_bytes() {
    let (store, b) = bucket(32 * MIB);
    let size = 30 * MIB + 777;
    let data = Bytes::from(pattern(3, 0, size as usize));
    store.with(|s| s.outside_put("r", data.clone(), 1));
    let h = b.open("r", OpenFlags::EXISTING).await.expect("open");
    let mut at = 0;
    while at < size {
        let got = h.read(at, 128 * 1024).await.expect("read");
        let end = (at + 128 * 1024).min(size);
        assert!(got[..] == data[at as usize..end as usize], "at {at}");
        at = end;
    }
    for i in 0..200u64 {
        let off = (i * 7_919_993) % size;
        let got = h.read(off, 4096).await.expect("random read");
        let end = (off + 4096).min(size);
        assert!(got[..] == data[off as usize..end as usize], "at {off}");
    }
    assert!(b.shared().memory_used() <= 32 * MIB);
    h.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_writers_version_is_never_overwritten_and_the_bytes_are_kept_beside_it() {
    let (store, b) = bucket(64 * MIB);
    store.with(|s| s.outside_put("doc", Bytes::from_static(b"v1"), 1));
    let h = b.open("doc", OpenFlags::EXISTING).await.expect("open");
    h.write(0, Bytes::from_static(b"mine"))
        .await
        .expect("write");
    store.with(|s| s.outside_put("doc", Bytes::from_static(b"theirs"), 2));
    match h.fsync().await {
        Err(Error::Conflict {
            key,
            copy: Some(copy),
        }) => {
            assert_eq!(key, "doc");
            assert_eq!(stored(&store, &copy).as_deref(), Some(&b"mine"[..]));
        }
        other => panic!("expected a conflict with a copy, got {other:?}"),
    }
    assert_eq!(stored(&store, "doc").as_deref(), Some(&b"theirs"[..]));
    assert!(matches!(
        h.write(0, Bytes::from_static(b"x")).await,
        Err(Error::Lost { .. })
    ));
    drop(h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_not_stored_yet_are_listed_and_stat_and_names_behave_as_a_filesystem() {
    let (store, b) = bucket(64 * MIB);
    b.mkdir("d").await.expect("mkdir");
    assert!(matches!(b.mkdir("d").await, Err(Error::Exists)));
    let h = b.open("d/new.txt", create()).await.expect("create");
    h.write(0, Bytes::from_static(b"abc")).await.expect("write");
    let (names, next) = b.list("d/", None, 1000).await.expect("list");
    assert_eq!(next, None);
    let keys: Vec<_> = names
        .iter()
        .map(|e| (e.key.as_str(), e.attr.size))
        .collect();
    assert_eq!(keys, vec![("d/new.txt", 3)]);
    assert!(
        stored(&store, "d/new.txt").is_none(),
        "not stored before close"
    );
    let (top, _) = b.list("", None, 1000).await.expect("list root");
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].attr.kind, FileKind::Directory);
    assert!(matches!(b.rmdir("d").await, Err(Error::NotEmpty)));
    h.close().await.expect("close");
    assert_eq!(stored(&store, "d/new.txt").as_deref(), Some(&b"abc"[..]));
    b.rename("d/new.txt", "d/moved.txt").await.expect("rename");
    assert!(stored(&store, "d/new.txt").is_none());
    assert_eq!(stored(&store, "d/moved.txt").as_deref(), Some(&b"abc"[..]));
    b.rename_dir("d", "e").await.expect("rename dir");
    assert_eq!(stored(&store, "e/moved.txt").as_deref(), Some(&b"abc"[..]));
    assert!(stored(&store, "e/").is_some(), "the marker moved too");
    assert!(matches!(b.stat("d").await, Err(Error::NotFound)));
    b.unlink("e/moved.txt").await.expect("unlink");
    assert!(matches!(
        b.unlink("e/moved.txt").await,
        Err(Error::NotFound)
    ));
    b.rmdir("e").await.expect("rmdir");
    assert!(matches!(b.stat("e").await, Err(Error::NotFound)));
    let x = b
        .open(
            "x",
            OpenFlags {
                create: true,
                exclusive: true,
                truncate: false,
                passthrough: false,
            },
        )
        .await
        .expect("exclusive create");
    x.close().await.expect("close stores the empty file");
    assert_eq!(stored(&store, "x").as_deref(), Some(&b""[..]));
    assert!(matches!(
        b.open(
            "x",
            OpenFlags {
                create: true,
                exclusive: true,
                truncate: false,
                passthrough: false,
            }
        )
        .await,
        Err(Error::Exists)
    ));
    assert!(matches!(
        b.stat(&"k".repeat(1025)).await,
        Err(Error::NameTooLong)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_more_than_the_memory_limit_stays_within_it() {
    let limit = 24 * MIB;
    let (store, b) = bucket(limit);
    let h = b.open("huge", create()).await.expect("create");
    let total = 100 * MIB;
    let mut at = 0;
    let mut peak = 0;
    while at < total {
        h.write(at, Bytes::from(pattern(4, at, MIB as usize)))
            .await
            .expect("write");
        peak = peak.max(b.shared().memory_used());
        at += MIB;
    }
    h.close().await.expect("close");
    assert!(peak <= limit, "peak {peak} over the limit {limit}");
    let data = stored(&store, "huge").expect("stored");
    assert!(data[..] == pattern(4, 0, total as usize)[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_writes_below_a_streamed_part_complete_the_upload_and_go_on_from_it() {
    let (store, b) = bucket(64 * MIB);
    let h = b.open("w", create()).await.expect("create");
    let total = 18 * MIB;
    let mut model = vec![0u8; total as usize];
    let mut at = 0;
    while at < total {
        let chunk = pattern(5, at, MIB as usize);
        model[at as usize..(at + MIB) as usize].copy_from_slice(&chunk);
        h.write(at, Bytes::from(chunk)).await.expect("write");
        at += MIB;
    }
    // Below the streamed end: the upload is completed first, then the write goes on.
    h.write(100, Bytes::from_static(b"back"))
        .await
        .expect("write back");
    model[100..104].copy_from_slice(b"back");
    h.truncate(17 * MIB).await.expect("truncate");
    model.truncate((17 * MIB) as usize);
    h.set_mtime(1_234_567).await.expect("set mtime");
    assert!(h.read(0, 200).await.expect("read")[..] == model[..200]);
    h.close().await.expect("close");
    let obj = store.with(|s| s.get("w").cloned()).expect("stored");
    assert!(obj.data[..] == model[..]);
    assert_eq!(obj.mtime_ms, Some(1_234_567));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_unlinked_while_open_is_read_back_and_never_stored() {
    let (store, b) = bucket(64 * MIB);
    let h = b.open("tmp", create()).await.expect("create");
    h.write(0, Bytes::from_static(b"scratch"))
        .await
        .expect("write");
    b.unlink("tmp").await.expect("unlink while open");
    assert!(matches!(b.stat("tmp").await, Err(Error::NotFound)));
    h.write(7, Bytes::from_static(b" space"))
        .await
        .expect("write after unlink");
    assert_eq!(
        &h.read(0, 100).await.expect("read back")[..],
        b"scratch space"
    );
    h.fsync().await.expect("nothing to store");
    h.close().await.expect("close");
    assert!(
        stored(&store, "tmp").is_none(),
        "an unlinked file is never stored"
    );
    assert_eq!(
        b.shared().memory_used(),
        0,
        "its bytes are given back at the last close"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlink_that_fails_leaves_the_open_file_as_it_was() {
    use silt_memstore::{Fault, OpKind, When};
    let (store, b) = bucket(64 * MIB);
    store.with(|s| s.outside_put("kept", Bytes::from_static(b"old"), 1));
    let h = b.open("kept", OpenFlags::EXISTING).await.expect("open");
    h.write(0, Bytes::from_static(b"new")).await.expect("write");
    store.with(|s| {
        s.inject(Fault {
            on: Some(OpKind::Delete),
            when: When::Before,
            error: silt_core::RemoteError::Permanent("refused".into()),
            times: 1,
        })
    });
    assert!(b.unlink("kept").await.is_err(), "the delete was refused");
    // Still named and still stored at close: nothing acknowledged is dropped.
    assert_eq!(b.stat("kept").await.expect("still there").size, 3);
    h.close().await.expect("close stores it");
    assert_eq!(stored(&store, "kept").as_deref(), Some(&b"new"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_unlink_the_parts_already_sent_read_as_an_error_not_as_zeros() {
    let (_store, b) = bucket(64 * MIB);
    let h = b.open("streamed", create()).await.expect("create");
    h.write(0, Bytes::from(vec![0xAB; (10 * MIB) as usize]))
        .await
        .expect("write a part and more");
    b.unlink("streamed").await.expect("unlink");
    assert!(
        matches!(h.read(0, 4096).await, Err(Error::Lost { .. })),
        "the first part went to the aborted upload"
    );
    assert_eq!(
        &h.read(9 * MIB, 4).await.expect("still in memory")[..],
        &[0xAB; 4][..]
    );
    h.close().await.expect("close");
    // The aborted part's buffer goes when its task is dropped, just after.
    let mut waited = 0;
    while b.shared().memory_used() > 0 && waited < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
    }
    assert_eq!(b.shared().memory_used(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_ends_at_a_subdirectory_is_followed_by_the_names_after_it() {
    let (store, b) = bucket(64 * MIB);
    for k in ["a/x", "a/y", "b"] {
        store.with(|s| s.outside_put(k, Bytes::from_static(b"1"), 1));
    }
    let (first, next) = b.list("", None, 1).await.expect("first page");
    let keys: Vec<_> = first.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, vec!["a/"]);
    let (second, _) = b.list("", next.as_deref(), 1).await.expect("second page");
    let keys: Vec<_> = second.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, vec!["b"], "the subdirectory is not listed twice");
}
