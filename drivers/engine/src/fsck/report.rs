//! What `silt fsck` found: [`FsckReport`], also `silt fsck --json` (schema
//! [`FSCK_SCHEMA`]; fields are only ever added).

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Version of the JSON form of [`FsckReport`].
pub const FSCK_SCHEMA: u32 = 1;

/// What was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A clean chunk's bytes do not match its CRC32C. Repair: made absent.
    ChecksumMismatch,
    /// A clean chunk's bytes cannot be read. Repair: made absent.
    UnreadableCleanChunk,
    /// An entry has clean chunks but no cache file. Repair: made absent.
    CleanChunksWithoutFile,
    /// An entry has dirty extents but no cache file. Not repaired.
    DirtyDataMissing,
    /// A dirty extent cannot be read. Not repaired.
    DirtyDataUnreadable,
    /// A dirty extent lies past the end of its cache file. Not repaired.
    DirtyPastEndOfFile,
    /// A cache file without an entry. Repair: removed (unless something names it).
    OrphanFile,
    /// A file under `data/` that is not named as a cache file. Not touched.
    ForeignFile,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What.
    pub kind: FindingKind,
    /// The object key of the entry, if there is one.
    pub key: Option<String>,
    /// The entry id, if there is one.
    pub entry: Option<u64>,
    /// What exactly, and what was (or would be) done.
    pub detail: String,
    /// Repaired (with `--dry-run`: never).
    pub repaired: bool,
}

/// The report of one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsckReport {
    /// [`FSCK_SCHEMA`].
    pub schema: u32,
    /// The cache directory.
    pub cache_dir: String,
    /// Repairs were allowed (`false` with `--dry-run`).
    pub repair: bool,
    /// Entries in the index.
    pub entries: u64,
    /// Clean chunks checked, and their live bytes.
    pub clean_chunks: u64,
    /// Live bytes of the clean chunks checked.
    pub clean_bytes: u64,
    /// Dirty extents read back.
    pub dirty_extents: u64,
    /// Their bytes.
    pub dirty_bytes: u64,
    /// Cache files under `data/`.
    pub files: u64,
    /// Findings repaired.
    pub repaired: u64,
    /// Findings left for a person (or, with `--dry-run`, not repaired).
    pub unrepaired: u64,
    /// Every finding.
    pub findings: Vec<Finding>,
}

impl FsckReport {
    pub(super) fn new(cache_dir: &Path, repair: bool) -> FsckReport {
        FsckReport {
            schema: FSCK_SCHEMA,
            cache_dir: cache_dir.display().to_string(),
            repair,
            entries: 0,
            clean_chunks: 0,
            clean_bytes: 0,
            dirty_extents: 0,
            dirty_bytes: 0,
            files: 0,
            repaired: 0,
            unrepaired: 0,
            findings: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    pub(super) fn finish(&mut self) {
        self.repaired = self.findings.iter().filter(|f| f.repaired).count() as u64;
        self.unrepaired = self.findings.len() as u64 - self.repaired;
    }

    /// Nothing found.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}
