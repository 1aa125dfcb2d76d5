//! Writes the schema fixtures: an index of every kind of record, by the adapters of this
//! build, into `<dir>/index.db` (redb) and `<dir>/index.fjall/` (fjall).
//!
//! `cargo run -p silt-index --example write_fixture -- drivers/index/fixtures/v<N>`
//!
//! The committed fixtures are kept as the version that wrote them left them: the migration
//! tests open copies of them with the current code.

#[path = "../tests/support/records.rs"]
mod records;

use silt_index::{open, OpenOptions};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir: PathBuf = std::env::args()
        .nth(1)
        .ok_or("usage: write_fixture <dir>")?
        .into();
    let want = records::fixture_records();
    let txn = records::txn_storing(&want);
    for backend in ["redb", "fjall"] {
        let index = open(backend, &OpenOptions::new(&dir))?;
        index.commit(&[&txn])?;
        drop(index);
        // Reopen once: the read-back check, and fjall's recovery trims its journal to the
        // bytes written (it preallocates 64 MiB), which keeps the fixture small.
        let index = open(backend, &OpenOptions::new(&dir))?;
        if index.load()? != want {
            return Err(format!("{backend}: read back differs").into());
        }
        println!(
            "{backend}: wrote {}",
            OpenOptions::new(&dir).index_path(backend).display()
        );
    }
    Ok(())
}
