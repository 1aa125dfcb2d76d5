//! Databases written by older schema versions (committed under `fixtures/`) open with the
//! current code, are migrated, and keep every record.

mod support;

use silt_index::{open, OpenOptions, SCHEMA_VERSION};
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
