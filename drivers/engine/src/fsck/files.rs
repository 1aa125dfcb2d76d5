//! The files under `data/`: cache files named as the store names them
//! (`<low byte, 2 hex>/<id, 16 hex>`), and anything else.

use super::FsckError;
use std::path::{Path, PathBuf};

/// What `data/` holds.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// Cache files: (entry id, path).
    pub files: Vec<(u64, PathBuf)>,
    /// Files and folders that are not the store's.
    pub foreign: Vec<PathBuf>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FsckError + '_ {
    move |source| FsckError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Lists `data` (two levels: shards, then files), sorted.
pub(super) fn list(data: &Path) -> Result<Listing, FsckError> {
    let mut out = Listing::default();
    for shard in sorted(data)? {
        let name = shard.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let shard_byte = (name.len() == 2)
            .then(|| u8::from_str_radix(name, 16).ok())
            .flatten();
        let Some(shard_byte) = shard_byte.filter(|_| shard.is_dir()) else {
            out.foreign.push(shard);
            continue;
        };
        for file in sorted(&shard)? {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let id = (name.len() == 16)
                .then(|| u64::from_str_radix(name, 16).ok())
                .flatten()
                .filter(|id| (id & 0xff) as u8 == shard_byte && file.is_file());
            match id {
                Some(id) => out.files.push((id, file)),
                None => out.foreign.push(file),
            }
        }
    }
    Ok(out)
}

fn sorted(dir: &Path) -> Result<Vec<PathBuf>, FsckError> {
    let mut paths = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        paths.push(e.map_err(io(dir))?.path());
    }
    paths.sort();
    Ok(paths)
}
