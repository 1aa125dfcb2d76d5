//! Databases written by older schema versions (committed under `fixtures/`) open with the
//! current code, are migrated, and keep every record.

mod support;

use silt_index::{open, IndexError, OpenOptions, SCHEMA_VERSION};
use std::path::{Path, PathBuf};

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
    // Opened again (now at the current version): still everything.
    let index = open(backend, &OpenOptions::new(dir.path())).expect("reopen");
    assert_eq!(index.load().expect("load"), want);
    assert!(SCHEMA_VERSION >= version);
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
