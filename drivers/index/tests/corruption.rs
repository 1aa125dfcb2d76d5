//! Damaged and missing indexes: a clear error that names the file and what to do, and never a
//! new empty index over cache files that may hold dirty data.

mod support;

use redb::ReadableTable;
use silt_index::{open, IndexError, OpenOptions};
use std::path::Path;

/// A cache dir with an index holding the fixture records and one cache file in data/.
fn populated(backend: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = open(backend, &OpenOptions::new(dir.path())).expect("create");
    let r = support::records::fixture_records();
    index
        .commit(&[&support::records::txn_storing(&r)])
        .expect("commit");
    drop(index);
    let shard = dir.path().join("data").join("00");
    std::fs::create_dir_all(&shard).expect("mkdir");
    std::fs::write(shard.join("1"), b"dirty bytes not yet uploaded").expect("cache file");
    dir
}

fn index_db(dir: &Path) -> std::path::PathBuf {
    dir.join("index.db")
}

/// The error names the file and tells the operator what to do.
fn assert_actionable(err: &IndexError, file: &Path) {
    let shown = err.to_string();
    assert!(shown.contains(&file.display().to_string()), "{shown}");
    assert!(
        shown.contains("Restore") || shown.contains("restore"),
        "no advice in: {shown}"
    );
}

#[test]
fn truncated_index_db_is_a_clear_error_and_is_not_replaced() {
    let dir = populated("redb");
    let path = index_db(dir.path());
    let len = std::fs::metadata(&path).expect("stat").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    f.set_len(len / 2).expect("truncate");
    drop(f);
    let err = open("redb", &OpenOptions::new(dir.path()))
        .err()
        .expect("a truncated index must not open");
    assert!(matches!(err, IndexError::Corrupt { .. }), "{err:?}");
    assert_actionable(&err, &path);
    assert_eq!(
        std::fs::metadata(&path).expect("still there").len(),
        len / 2
    );
}

#[test]
fn index_db_that_is_not_a_database_is_a_clear_error() {
    let dir = populated("redb");
    let path = index_db(dir.path());
    std::fs::write(&path, "this is not a database\n".repeat(400)).expect("overwrite");
    let err = open("redb", &OpenOptions::new(dir.path()))
        .err()
        .expect("garbage must not open");
    assert!(matches!(err, IndexError::Corrupt { .. }), "{err:?}");
    assert_actionable(&err, &path);
}

#[test]
fn a_damaged_record_fails_its_checksum_with_table_and_key_named() {
    let dir = populated("redb");
    let path = index_db(dir.path());
    let mut bytes = std::fs::read(&path).expect("read");
    // Every copy of the long key (entry 4's record) gets one byte changed, wherever redb
    // keeps it; the record still decodes as postcard, so only the checksum can tell.
    let needle = support::records::long_key().into_bytes();
    let mut hits = 0;
    let mut i = 0;
    while i + needle.len() <= bytes.len() {
        if bytes[i..i + needle.len()] == needle[..] {
            bytes[i + 100] ^= 0x01;
            hits += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    assert!(hits > 0, "record not found in the file");
    std::fs::write(&path, &bytes).expect("write");
    let index = open("redb", &OpenOptions::new(dir.path())).expect("structure intact");
    let err = index.load().expect_err("damaged record must be reported");
    match &err {
        IndexError::Corrupt { detail, .. } => {
            assert!(detail.contains("table "), "{detail}");
            assert!(detail.contains("checksum"), "{detail}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_actionable(&err, &path);
}

#[test]
fn missing_index_beside_cache_files_is_refused_not_recreated() {
    for backend in ["redb", "fjall"] {
        let dir = populated(backend);
        let path = OpenOptions::new(dir.path()).index_path(backend);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).expect("remove");
        } else {
            std::fs::remove_file(&path).expect("remove");
        }
        let err = open(backend, &OpenOptions::new(dir.path()))
            .err()
            .expect("refused");
        assert!(
            matches!(err, IndexError::MissingWithCacheFiles { files: 1, .. }),
            "{err:?}"
        );
        assert_actionable(&err, &path);
        assert!(!path.exists(), "{backend}: an empty index was created");
    }
}

#[test]
fn empty_index_file_beside_cache_files_is_refused() {
    let dir = populated("redb");
    let path = index_db(dir.path());
    std::fs::write(&path, b"").expect("empty");
    let err = open("redb", &OpenOptions::new(dir.path()))
        .err()
        .expect("refused");
    assert!(
        matches!(err, IndexError::MissingWithCacheFiles { .. }),
        "{err:?}"
    );
}

#[test]
fn missing_index_without_cache_files_is_created() {
    for backend in ["redb", "fjall"] {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("data").join("00")).expect("empty shard");
        let index = open(backend, &OpenOptions::new(dir.path())).expect("created");
        assert!(index.load().expect("load").entries.is_empty());
    }
}

#[test]
fn damaged_fjall_index_is_a_clear_error() {
    let dir = populated("fjall");
    let path = OpenOptions::new(dir.path()).index_path("fjall");
    std::fs::write(path.join("version"), b"\xff\xff\xff\xff").expect("damage");
    let err = open("fjall", &OpenOptions::new(dir.path()))
        .err()
        .expect("damaged index must not open");
    assert!(matches!(err, IndexError::Corrupt { .. }), "{err:?}");
    assert_actionable(&err, &path);
}

#[test]
fn second_open_of_the_same_index_is_refused_as_locked() {
    for backend in ["redb", "fjall"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = open(backend, &OpenOptions::new(dir.path())).expect("first");
        let err = open(backend, &OpenOptions::new(dir.path()))
            .err()
            .expect("second open refused");
        assert!(
            matches!(err, IndexError::Locked { .. }),
            "{backend}: {err:?}"
        );
        drop(first);
    }
}

#[test]
fn unknown_backend_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = open("sqlite", &OpenOptions::new(dir.path()))
        .err()
        .expect("unknown");
    assert!(err.to_string().contains("sqlite"), "{err}");
    assert!(err.to_string().contains("redb, fjall, memory"), "{err}");
}

/// Replaces the value at `key` of `table` with `damage(old value)`, with the store's own API
/// (the index closed): a row that the store returns intact but that silt must not trust.
fn damage_row(backend: &str, dir: &Path, table: &str, key: &[u8], damage: fn(&mut Vec<u8>)) {
    let path = OpenOptions::new(dir).index_path(backend);
    if backend == "redb" {
        let db = redb::Database::create(&path).expect("redb");
        let w = db.begin_write().expect("write");
        {
            let def: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(table);
            let mut t = w.open_table(def).expect("table");
            let mut v = t
                .get(key)
                .expect("get")
                .expect("row present")
                .value()
                .to_vec();
            damage(&mut v);
            t.insert(key, &v[..]).expect("insert");
        }
        w.commit().expect("commit");
    } else {
        let db = fjall::Database::builder(&path).open().expect("fjall");
        let space = db
            .keyspace(table, fjall::KeyspaceCreateOptions::default)
            .expect("keyspace");
        let mut v = space.get(key).expect("get").expect("row present").to_vec();
        damage(&mut v);
        space.insert(key, v).expect("insert");
        db.persist(fjall::PersistMode::SyncAll).expect("persist");
    }
}

fn sub_key(id: u64, sub: u64) -> Vec<u8> {
    [id.to_be_bytes(), sub.to_be_bytes()].concat()
}

fn part_key(id: u64, number: u32) -> Vec<u8> {
    [&id.to_be_bytes()[..], &number.to_be_bytes()[..]].concat()
}

/// A damaged row of one record: every read of that record is a `Corrupt` error naming the
/// table, the record and what is wrong; other records still read.
fn damaged_sub_row_is_named(
    backend: &str,
    table: &str,
    key: Vec<u8>,
    damage: fn(&mut Vec<u8>),
    record: &str,
    why: &str,
) {
    let dir = populated(backend);
    damage_row(backend, dir.path(), table, &key, damage);
    let index = open(backend, &OpenOptions::new(dir.path())).expect("structure intact");
    let check = |err: IndexError| match &err {
        IndexError::Corrupt { detail, path } => {
            assert!(detail.contains(&format!("table {table}")), "{detail}");
            assert!(detail.contains(record), "{detail}");
            assert!(detail.contains(why), "{detail}");
            assert_actionable(&err, path);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    };
    check(index.load().expect_err("load must report the damaged row"));
    if table == "parts" {
        check(index.list_uploads().expect_err("uploads"));
        check(
            index
                .get_upload(silt_core::JournalId(2))
                .expect_err("the damaged record"),
        );
        assert!(index
            .get_upload(silt_core::JournalId(1))
            .expect("other")
            .is_some());
    } else {
        check(
            index
                .get_entry(silt_core::EntryId(1))
                .expect_err("the damaged record"),
        );
        assert!(index
            .get_entry(silt_core::EntryId(2))
            .expect("other")
            .is_some());
    }
}

fn flip_last_body_byte(v: &mut [u8]) {
    let i = v.len() - 5;
    v[i] ^= 0x10;
}

fn truncate_to_three(v: &mut Vec<u8>) {
    v.truncate(3);
}

#[test]
fn a_damaged_chunk_row_names_the_entry_and_chunk() {
    for backend in ["redb", "fjall"] {
        // Entry 1 of the fixture records has chunks 0..3.
        let key = sub_key(1, 2);
        damaged_sub_row_is_named(
            backend,
            "chunks",
            key.clone(),
            |v| flip_last_body_byte(v),
            "entry 1, chunk 2",
            "checksum",
        );
        damaged_sub_row_is_named(
            backend,
            "chunks",
            key,
            truncate_to_three,
            "entry 1, chunk 2",
            "too short",
        );
    }
}

#[test]
fn a_damaged_extent_row_names_the_entry_and_offset() {
    for backend in ["redb", "fjall"] {
        // Entry 1 of the fixture records has one dirty extent, at offset 0.
        damaged_sub_row_is_named(
            backend,
            "extents",
            sub_key(1, 0),
            |v| flip_last_body_byte(v),
            "entry 1, dirty extent at offset 0",
            "checksum",
        );
    }
}

#[test]
fn a_damaged_part_row_names_the_journal_record_and_part() {
    for backend in ["redb", "fjall"] {
        // Journal record 2 of the fixture records is multipart with parts 1 and 2.
        damaged_sub_row_is_named(
            backend,
            "parts",
            part_key(2, 1),
            |v| flip_last_body_byte(v),
            "journal record 2, part 1",
            "checksum",
        );
    }
}
