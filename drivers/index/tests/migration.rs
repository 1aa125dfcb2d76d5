//! Databases written by older schema versions (committed under `fixtures/`) open with the
//! current code, are migrated, and keep every record.

mod support;

use redb::{ReadableDatabase, ReadableTable};
use silt_core::{
    CleanChunk, DirtyExtent, EntryId, EntryRecord, IndexOp, IndexTxn, JournalRecord, PartRecord,
};
use silt_index::{decode_record, open, IndexError, OpenOptions, SCHEMA_VERSION};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every table any schema version has had.
const TABLES: [&str; 8] = [
    "meta",
    "entries",
    "uploads",
    "conflicts",
    "lru",
    "chunks",
    "extents",
    "parts",
];

/// Every row of an index, read with the store's own API (the index closed).
fn dump(backend: &str, cache_dir: &Path) -> BTreeMap<(&'static str, Vec<u8>), Vec<u8>> {
    let path = OpenOptions::new(cache_dir).index_path(backend);
    let mut out = BTreeMap::new();
    if backend == "redb" {
        let db = redb::Database::create(&path).expect("redb");
        let r = db.begin_read().expect("read");
        for t in TABLES {
            let def: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(t);
            let Ok(table) = r.open_table(def) else {
                continue;
            };
            for row in table.iter().expect("iter") {
                let (k, v) = row.expect("row");
                out.insert((t, k.value().to_vec()), v.value().to_vec());
            }
        }
    } else {
        let db = fjall::Database::builder(&path).open().expect("fjall");
        for t in TABLES {
            if !db.keyspace_exists(t) {
                continue;
            }
            let space = db
                .keyspace(t, fjall::KeyspaceCreateOptions::default)
                .expect("keyspace");
            for row in space.iter() {
                let (k, v) = row.into_inner().expect("row");
                out.insert((t, k.to_vec()), v.to_vec());
            }
        }
    }
    out
}

fn fixture(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/v{version}"))
}

/// Copies a fixture's index into a fresh cache directory (the committed files stay as the
/// old version wrote them).
fn copy_fixture(version: u32, backend: &str, to: &Path) {
    let name = if backend == "redb" {
        "index.db"
    } else {
        "index.fjall"
    };
    copy_tree(&fixture(version).join(name), &to.join(name));
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read fixture dir") {
            let e = e.expect("dir entry");
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copy fixture file");
    }
}

fn opens_and_finds_every_record(version: u32, backend: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_fixture(version, backend, dir.path());
    let index = open(backend, &OpenOptions::new(dir.path())).expect("open old version");
    let want = support::records::fixture_records();
    assert_eq!(index.load().expect("load"), want);
    for e in &want.entries {
        assert_eq!(index.get_entry(e.id).expect("get").as_ref(), Some(e));
    }
    for j in &want.journal {
        assert_eq!(index.get_upload(j.id).expect("get").as_ref(), Some(j));
    }
    // The table version 2 added was built from the entries.
    let mut lru: Vec<_> = want.entries.iter().map(|e| (e.atime, e.id)).collect();
    lru.sort_unstable();
    assert_eq!(index.list_lru(usize::MAX).expect("lru"), lru);
    drop(index);
    // Schema 3 on disk: heads in `entries` and `uploads`, one row per chunk, extent and part.
    let rows = dump(backend, dir.path());
    let count = |t: &str| rows.keys().filter(|(tt, _)| *tt == t).count();
    let chunks: usize = want.entries.iter().map(|e| e.clean_chunks.len()).sum();
    let extents: usize = want.entries.iter().map(|e| e.dirty.len()).sum();
    let parts: usize = want
        .journal
        .iter()
        .filter_map(|j| j.multipart.as_ref())
        .map(|m| m.parts_done.len())
        .sum();
    assert!(
        chunks > 0 && extents > 0 && parts > 0,
        "the fixture has every row kind"
    );
    assert_eq!(
        (count("chunks"), count("extents"), count("parts")),
        (chunks, extents, parts)
    );
    assert_eq!(
        rows.get(&("meta", b"schema_version".to_vec())),
        Some(&SCHEMA_VERSION.to_le_bytes().to_vec())
    );
    for ((t, _), v) in &rows {
        match *t {
            "entries" => {
                let e: EntryRecord = decode_record(v).expect("entry head");
                assert_eq!(e, e.head(), "a head row holds no lists");
            }
            "uploads" => {
                let j: JournalRecord = decode_record(v).expect("journal head");
                assert_eq!(j, j.head(), "a head row holds no parts");
            }
            _ => {}
        }
    }
    // Opened again (now at the current version): still everything, and the migrated records
    // take delta operations.
    let index = open(backend, &OpenOptions::new(dir.path())).expect("reopen");
    assert_eq!(index.load().expect("load"), want);
    let multipart = want
        .journal
        .iter()
        .find(|j| j.multipart.is_some())
        .expect("a multipart record")
        .id;
    let deltas = IndexTxn {
        ops: vec![
            IndexOp::PutChunk(
                EntryId(1),
                CleanChunk {
                    index: 1000,
                    crc32c: 5,
                },
            ),
            IndexOp::DeleteChunk(EntryId(1), 0),
            IndexOp::PutExtent(
                EntryId(2),
                DirtyExtent {
                    offset: 1 << 20,
                    len: 9,
                    generation: 99,
                },
            ),
            // A field schema 4 added, on a migrated record.
            IndexOp::PutEntryHead(EntryRecord {
                atime: 5000,
                mtime_ms: Some(1_700_000_000_123),
                ..want.entries[2].clone()
            }),
            IndexOp::PutPart(
                multipart,
                PartRecord {
                    number: 3,
                    etag: "\"p3\"".into(),
                    crc32c: None,
                },
            ),
        ],
    };
    index.commit(&[&deltas]).expect("deltas");
    let mut want = want;
    want.apply(&deltas);
    assert_eq!(index.load().expect("load"), want);
    assert!(SCHEMA_VERSION >= version);
}

/// A migration that fails (here: a record of the old index fails its checksum) is a clear
/// error and leaves the old index exactly as it was, still at its old version.
fn failed_migration_leaves_the_old_index(version: u32, backend: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_fixture(version, backend, dir.path());
    let key = 5u64.to_be_bytes().to_vec();
    damage(backend, dir.path(), "uploads", &key);
    let before = dump(backend, dir.path());
    assert_eq!(
        before.get(&("meta", b"schema_version".to_vec())),
        Some(&version.to_le_bytes().to_vec())
    );
    let err = open(backend, &OpenOptions::new(dir.path()))
        .err()
        .expect("the migration must fail");
    match &err {
        IndexError::Corrupt { detail, .. } => {
            assert!(detail.contains("table uploads"), "{detail}");
            assert!(detail.contains("journal record 5"), "{detail}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let after = dump(backend, dir.path());
    // The stores may create the new (empty) tables; no row changed, none was added.
    assert_eq!(
        after, before,
        "{backend}: the failed migration changed the index"
    );
}

/// Flips one byte of the value at `key` of `table`, with the store's own API.
fn damage(backend: &str, cache_dir: &Path, table: &str, key: &[u8]) {
    let path = OpenOptions::new(cache_dir).index_path(backend);
    let flip = |v: &mut Vec<u8>| {
        let i = v.len() / 2;
        v[i] ^= 0x01;
    };
    if backend == "redb" {
        let db = redb::Database::create(&path).expect("redb");
        let w = db.begin_write().expect("write");
        {
            let def: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(table);
            let mut t = w.open_table(def).expect("table");
            let mut v = t.get(key).expect("get").expect("row").value().to_vec();
            flip(&mut v);
            t.insert(key, &v[..]).expect("insert");
        }
        w.commit().expect("commit");
    } else {
        let db = fjall::Database::builder(&path).open().expect("fjall");
        let space = db
            .keyspace(table, fjall::KeyspaceCreateOptions::default)
            .expect("keyspace");
        let mut v = space.get(key).expect("get").expect("row").to_vec();
        flip(&mut v);
        space.insert(key, v).expect("insert");
        db.persist(fjall::PersistMode::SyncAll).expect("persist");
    }
}

#[test]
fn redb_failed_migration_from_v2_leaves_v2() {
    failed_migration_leaves_the_old_index(2, "redb");
}

#[test]
fn fjall_failed_migration_from_v2_leaves_v2() {
    failed_migration_leaves_the_old_index(2, "fjall");
}

#[test]
fn redb_failed_migration_from_v1_leaves_v1() {
    failed_migration_leaves_the_old_index(1, "redb");
}

#[test]
fn fjall_failed_migration_from_v1_leaves_v1() {
    failed_migration_leaves_the_old_index(1, "fjall");
}

#[test]
fn redb_v1_fixture_opens_with_every_record() {
    opens_and_finds_every_record(1, "redb");
}

#[test]
fn fjall_v1_fixture_opens_with_every_record() {
    opens_and_finds_every_record(1, "fjall");
}

#[test]
fn redb_failed_migration_from_v3_leaves_v3() {
    failed_migration_leaves_the_old_index(3, "redb");
}

#[test]
fn fjall_failed_migration_from_v3_leaves_v3() {
    failed_migration_leaves_the_old_index(3, "fjall");
}

#[test]
fn redb_v3_fixture_opens_with_every_record() {
    opens_and_finds_every_record(3, "redb");
}

#[test]
fn fjall_v3_fixture_opens_with_every_record() {
    opens_and_finds_every_record(3, "fjall");
}

#[test]
fn redb_v2_fixture_opens_with_every_record() {
    opens_and_finds_every_record(2, "redb");
}

#[test]
fn fjall_v2_fixture_opens_with_every_record() {
    opens_and_finds_every_record(2, "fjall");
}

/// Stores `version` as the schema version of a new index, with the store's own API.
fn write_version(backend: &str, cache_dir: &Path, version: u32) {
    let path = OpenOptions::new(cache_dir).index_path(backend);
    match backend {
        "redb" => {
            let db = redb::Database::create(&path).expect("redb");
            let w = db.begin_write().expect("write");
            {
                let def: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("meta");
                let mut t = w.open_table(def).expect("meta");
                t.insert(&b"schema_version"[..], &version.to_le_bytes()[..])
                    .expect("insert");
            }
            w.commit().expect("commit");
        }
        _ => {
            let db = fjall::Database::builder(&path).open().expect("fjall");
            let meta = db
                .keyspace("meta", fjall::KeyspaceCreateOptions::default)
                .expect("meta");
            meta.insert("schema_version", version.to_le_bytes())
                .expect("insert");
            db.persist(fjall::PersistMode::SyncAll).expect("persist");
        }
    }
}

fn newer_schema_is_refused(backend: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(backend, &OpenOptions::new(dir.path())).expect("create"));
    write_version(backend, dir.path(), SCHEMA_VERSION + 1);
    let err = open(backend, &OpenOptions::new(dir.path()))
        .err()
        .expect("refused");
    match &err {
        IndexError::NewerSchema {
            found,
            supported,
            path,
        } => {
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            assert_eq!(*path, OpenOptions::new(dir.path()).index_path(backend));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.contains("upgrade silt"), "{shown}");
}

#[test]
fn redb_newer_schema_is_refused() {
    newer_schema_is_refused("redb");
}

#[test]
fn fjall_newer_schema_is_refused() {
    newer_schema_is_refused("fjall");
}
