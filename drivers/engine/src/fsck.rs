//! `silt fsck`: checks a cache directory no engine runs on, repairs what is safe and
//! reports the rest.
//!
//! What is checked, under the directory's lock (never beside a running engine):
//!
//! - **Clean chunks.** Every clean chunk the index records is read from its cache file
//!   (its live extent: the chunk clipped to the base and local sizes, as the core checks
//!   it) and its CRC32C compared with the index's. A mismatch (a bit flipped on disk, a
//!   file changed behind the cache's back, a torn overwrite) is repaired by removing the
//!   chunk's record in one index transaction ([`silt_core::IndexOp::DeleteChunk`]): the
//!   chunk is then absent and fetched again from the bucket when it is read. Its bytes in
//!   the file are left as they are; the fetch overwrites them.
//! - **Entries without a cache file.** Clean chunks of such an entry are made absent the
//!   same way. Dirty extents of such an entry are data the cache acknowledged and no
//!   longer holds: reported, never dropped (the record stays, so nothing is uploaded in
//!   its place silently; an operator decides).
//! - **Dirty data.** Every dirty extent is read back; one that cannot be read, or that
//!   lies past the end of its cache file, is reported and left alone. Dirty bytes carry no
//!   checksum, so their content cannot be judged, only their presence.
//! - **Cache files without an entry.** A file under `data/` whose entry id the index does
//!   not hold is what a crash leaves between creating a file and committing its entry:
//!   nothing in it was acknowledged. It is removed, unless a journal record or a conflict
//!   still names the id (reported: the index is inconsistent) or the directory also holds
//!   the index of another backend (reported: which index is the right one is a person's
//!   call). Files whose names are not the store's (`data/<2 hex>/<16 hex>`) are reported
//!   and left alone.
//!
//! With `repair` off nothing is changed; the report says what would be.

mod files;
mod report;

pub use report::{Finding, FindingKind, FsckReport, FSCK_SCHEMA};

use crate::lock::CacheLock;
use silt_core::chunks::live_extent;
use silt_core::{EntryRecord, IndexOp, IndexTxn, JournalOp, Recovered};
use silt_store::{Container, Store, StoreOptions};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// How to check.
#[derive(Clone, Debug)]
pub struct FsckOptions {
    /// The index backend the cache runs with (`"redb"`, `"fjall"`).
    pub backend: String,
    /// The chunk size the cache runs with (`chunk_size` of the configuration).
    pub chunk_size: u64,
    /// Repair what is safe; `false` reports only.
    pub repair: bool,
}

/// Why fsck could not run (what it finds is in the [`FsckReport`], not here).
#[derive(Debug, Error)]
pub enum FsckError {
    /// The directory, its lock or its instance: as for an engine start ("locked by pid N").
    #[error(transparent)]
    Cache(#[from] crate::Error),
    /// The index could not be opened, read or committed.
    #[error("index: {0}")]
    Index(#[from] silt_index::IndexError),
    /// The cache files could not be opened.
    #[error("cache files: {0}")]
    Store(#[from] silt_store::StoreError),
    /// The `memory` backend keeps nothing between runs: there is nothing to check.
    #[error("the index backend {0:?} keeps nothing between runs: there is nothing to check")]
    NothingToCheck(String),
    /// The chunk size is 0.
    #[error("chunk size 0")]
    ChunkSize,
    /// Listing `data/` or removing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Checks (and with `options.repair` repairs) the cache in `cache_dir`. See the module
/// documentation for what is checked and what is repaired.
pub fn fsck(cache_dir: &Path, options: &FsckOptions) -> Result<FsckReport, FsckError> {
    if options.backend == "memory" {
        return Err(FsckError::NothingToCheck(options.backend.clone()));
    }
    if options.chunk_size == 0 {
        return Err(FsckError::ChunkSize);
    }
    if !cache_dir.is_dir() {
        return Err(crate::Error::CacheDir {
            path: cache_dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no cache directory here"),
        }
        .into());
    }
    let _lock = CacheLock::acquire(cache_dir)?;
    let index = silt_index::open(&options.backend, &silt_index::OpenOptions::new(cache_dir))?;
    let recovered = index.load()?;
    let store = Store::open(cache_dir, StoreOptions::default())?;
    let mut report = FsckReport::new(cache_dir, options.repair);
    let mut txn = IndexTxn::default();
    let mut buf = Vec::new();
    for entry in &recovered.entries {
        check_entry(
            &store,
            entry,
            options.chunk_size,
            &mut buf,
            &mut report,
            &mut txn,
        )?;
    }
    check_files(cache_dir, &store, &recovered, options, &mut report)?;
    if options.repair && !txn.ops.is_empty() {
        index.commit(&[&txn])?;
    }
    report.finish();
    Ok(report)
}

/// What a repair of a clean chunk does.
const ABSENT: &str = "made absent (fetched again when read)";

/// `done`, or what would be done without `repair`.
fn act(repair: bool, done: &str) -> String {
    if repair {
        done.to_string()
    } else {
        format!("would be {done} (--dry-run)")
    }
}

/// The key an entry shows as, for messages.
fn key_of(entry: &EntryRecord) -> Option<String> {
    entry.key.clone().or_else(|| entry.remote_key.clone())
}

fn check_entry(
    store: &Store,
    entry: &EntryRecord,
    chunk_size: u64,
    buf: &mut Vec<u8>,
    report: &mut FsckReport,
    txn: &mut IndexTxn,
) -> Result<(), FsckError> {
    report.entries += 1;
    let key = key_of(entry);
    let container = store.open_existing(entry.id)?;
    let Some(file) = container else {
        if !entry.clean_chunks.is_empty() {
            for c in &entry.clean_chunks {
                txn.ops.push(IndexOp::DeleteChunk(entry.id, c.index));
            }
            report.add(Finding {
                kind: FindingKind::CleanChunksWithoutFile,
                key: key.clone(),
                entry: Some(entry.id.0),
                detail: format!(
                    "{} clean chunks recorded, no cache file {}: {}",
                    entry.clean_chunks.len(),
                    store.path_of(entry.id).display(),
                    act(report.repair, ABSENT)
                ),
                repaired: report.repair,
            });
        }
        if !entry.dirty.is_empty() {
            let bytes: u64 = entry.dirty.iter().map(|d| d.len).sum();
            report.add(Finding {
                kind: FindingKind::DirtyDataMissing,
                key,
                entry: Some(entry.id.0),
                detail: format!(
                    "{} dirty ranges ({bytes} bytes not yet uploaded) recorded, no cache file {}: the data is lost from this cache; the record is kept",
                    entry.dirty.len(),
                    store.path_of(entry.id).display()
                ),
                repaired: false,
            });
        }
        return Ok(());
    };
    let file_len = file.len()?;
    let base_size = entry.base.as_ref().map_or(0, |b| b.size);
    for c in &entry.clean_chunks {
        let live = live_extent(c.index, chunk_size, base_size, entry.local_size);
        report.clean_chunks += 1;
        report.clean_bytes += live.end - live.start;
        match crc_of(&file, live.clone(), buf) {
            Ok(crc) if crc == c.crc32c => {}
            Ok(crc) => {
                txn.ops.push(IndexOp::DeleteChunk(entry.id, c.index));
                report.add(Finding {
                    kind: FindingKind::ChecksumMismatch,
                    key: key.clone(),
                    entry: Some(entry.id.0),
                    detail: format!(
                        "clean chunk {} (bytes {}..{}): CRC32C {crc:08x} in the cache file, {:08x} in the index: {}",
                        c.index, live.start, live.end, c.crc32c, act(report.repair, ABSENT)
                    ),
                    repaired: report.repair,
                });
            }
            Err(e) => {
                txn.ops.push(IndexOp::DeleteChunk(entry.id, c.index));
                report.add(Finding {
                    kind: FindingKind::UnreadableCleanChunk,
                    key: key.clone(),
                    entry: Some(entry.id.0),
                    detail: format!(
                        "clean chunk {} (bytes {}..{}) cannot be read ({e}): {}",
                        c.index,
                        live.start,
                        live.end,
                        act(report.repair, ABSENT)
                    ),
                    repaired: report.repair,
                });
            }
        }
    }
    for d in &entry.dirty {
        report.dirty_extents += 1;
        report.dirty_bytes += d.len;
        let end = d.offset.saturating_add(d.len);
        if end > file_len {
            report.add(Finding {
                kind: FindingKind::DirtyPastEndOfFile,
                key: key.clone(),
                entry: Some(entry.id.0),
                detail: format!(
                    "dirty range {}..{end} ends past the end of the cache file ({file_len} bytes): those bytes read as zeros; reported, not changed",
                    d.offset
                ),
                repaired: false,
            });
            continue;
        }
        if let Err(e) = crc_of(&file, d.offset..end, buf) {
            report.add(Finding {
                kind: FindingKind::DirtyDataUnreadable,
                key: key.clone(),
                entry: Some(entry.id.0),
                detail: format!(
                    "dirty range {}..{end} cannot be read ({e}); reported, not changed",
                    d.offset
                ),
                repaired: false,
            });
        }
    }
    Ok(())
}

/// CRC32C of `range` of the file, bytes past its end reading as zeros (as the core reads).
fn crc_of(
    file: &Container,
    range: std::ops::Range<u64>,
    buf: &mut Vec<u8>,
) -> Result<u32, silt_store::StoreError> {
    const STEP: u64 = 1 << 20;
    let crc = crate::hardware_crc32c();
    let mut sum = 0;
    let mut at = range.start;
    while at < range.end {
        let n = (range.end - at).min(STEP) as usize;
        buf.resize(n, 0);
        file.read_exact_or_zeros(&mut buf[..n], at)?;
        sum = (crc.0)(sum, &buf[..n]);
        at += n as u64;
    }
    Ok(sum)
}

/// Cache files without an entry, and names that are not the store's.
fn check_files(
    cache_dir: &Path,
    store: &Store,
    recovered: &Recovered,
    options: &FsckOptions,
    report: &mut FsckReport,
) -> Result<(), FsckError> {
    let entries: BTreeSet<u64> = recovered.entries.iter().map(|e| e.id.0).collect();
    let named: BTreeSet<u64> = recovered
        .journal
        .iter()
        .filter_map(|j| match &j.op {
            JournalOp::Upload { entry } => Some(entry.0),
            JournalOp::Delete { .. } => None,
        })
        .chain(recovered.conflicts.iter().map(|c| c.entry.0))
        .collect();
    let other_index = silt_index::BACKENDS
        .split(", ")
        .filter(|b| *b != options.backend && *b != "memory")
        .map(|b| silt_index::OpenOptions::new(cache_dir).index_path(b))
        .find(|p| p.exists());
    let listing = files::list(store.data_dir())?;
    report.files = listing.files.len() as u64;
    for path in listing.foreign {
        report.add(Finding {
            kind: FindingKind::ForeignFile,
            key: None,
            entry: None,
            detail: format!("{}: not a cache file name; left alone", path.display()),
            repaired: false,
        });
    }
    for (id, path) in listing.files {
        if entries.contains(&id) {
            continue;
        }
        let why_kept = if named.contains(&id) {
            Some(format!(
                "the journal or a conflict names entry {id:016x}, which the index does not hold"
            ))
        } else {
            other_index.as_ref().map(|p| {
                format!(
                    "another index ({}) is in the cache directory: which one is right is not fsck's call",
                    p.display()
                )
            })
        };
        let repaired = report.repair && why_kept.is_none();
        if repaired {
            std::fs::remove_file(&path).map_err(|source| FsckError::Io {
                path: path.clone(),
                source,
            })?;
        }
        let detail = match why_kept {
            Some(why) => format!("{}: no entry in the index; kept: {why}", path.display()),
            None => format!(
                "{}: no entry in the index (left by a crash before its entry was committed; nothing in it was acknowledged): {}",
                path.display(),
                act(report.repair, "removed")
            ),
        };
        report.add(Finding {
            kind: FindingKind::OrphanFile,
            key: None,
            entry: Some(id),
            detail,
            repaired,
        });
    }
    Ok(())
}
