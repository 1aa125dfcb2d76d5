//! The factory: one call opens any adapter, with the rule that an index is never created
//! from nothing beside cache files that may hold dirty data.

use crate::{CacheIndex, IndexError, MemoryIndex, Result};
use std::path::{Path, PathBuf};

/// The backends this build has, for messages.
pub const BACKENDS: &str = if cfg!(all(feature = "redb", feature = "fjall")) {
    "redb, fjall, memory"
} else if cfg!(feature = "redb") {
    "redb, memory"
} else if cfg!(feature = "fjall") {
    "fjall, memory"
} else {
    "memory"
};

/// Where an index lives.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// The cache directory: `index.db` (redb) or `index.fjall/` (fjall) is created in it.
    pub cache_dir: PathBuf,
    /// The cache files' directory; `None` means `<cache_dir>/data`.
    pub data_dir: Option<PathBuf>,
}

impl OpenOptions {
    /// Options for the cache directory `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> OpenOptions {
        OpenOptions {
            cache_dir: cache_dir.into(),
            data_dir: None,
        }
    }

    /// The cache files' directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| self.cache_dir.join("data"))
    }

    /// Where the given backend keeps its index.
    pub fn index_path(&self, backend: &str) -> PathBuf {
        match backend {
            "fjall" => self.cache_dir.join("index.fjall"),
            _ => self.cache_dir.join("index.db"),
        }
    }
}

/// Opens the index of `backend` (`"redb"`, `"fjall"` or `"memory"`) in `options.cache_dir`.
///
/// An existing index is opened and migrated; a damaged one is an error
/// ([`IndexError::Corrupt`]), never replaced. A missing (or empty) index is created only if
/// the cache-file directory holds no files; otherwise [`IndexError::MissingWithCacheFiles`].
pub fn open(backend: &str, options: &OpenOptions) -> Result<Box<dyn CacheIndex>> {
    if backend == "memory" {
        return Ok(Box::new(MemoryIndex::new()));
    }
    if !matches!(backend, "redb" | "fjall") || !BACKENDS.contains(backend) {
        return Err(IndexError::UnknownBackend(backend.to_string(), BACKENDS));
    }
    let path = options.index_path(backend);
    if is_absent(&path)? {
        refuse_beside_cache_files(&path, &options.data_dir())?;
        std::fs::create_dir_all(&options.cache_dir).map_err(|source| IndexError::Io {
            path: options.cache_dir.clone(),
            source,
        })?;
    }
    match backend {
        #[cfg(feature = "redb")]
        "redb" => Ok(Box::new(crate::RedbIndex::open(&path)?)),
        #[cfg(feature = "fjall")]
        "fjall" => Ok(Box::new(crate::FjallIndex::open(&path)?)),
        other => Err(IndexError::UnknownBackend(other.to_string(), BACKENDS)),
    }
}

/// True if nothing is at `path`, or only an empty file or directory (an index whose creation
/// was interrupted before anything was written).
fn is_absent(path: &Path) -> Result<bool> {
    let io = |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io(e)),
        Ok(m) if m.is_file() => Ok(m.len() == 0),
        Ok(_) => Ok(std::fs::read_dir(path).map_err(io)?.next().is_none()),
    }
}

fn refuse_beside_cache_files(path: &Path, data_dir: &Path) -> Result<()> {
    let files = count_files(data_dir, 100).map_err(|source| IndexError::Io {
        path: data_dir.to_path_buf(),
        source,
    })?;
    if files > 0 {
        return Err(IndexError::MissingWithCacheFiles {
            path: path.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            files,
        });
    }
    Ok(())
}

/// Regular files under `dir` (recursively: cache files sit in shard folders), up to `limit`.
fn count_files(dir: &Path, limit: usize) -> std::io::Result<usize> {
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                count += 1;
                if count >= limit {
                    return Ok(count);
                }
            }
        }
    }
    Ok(count)
}
