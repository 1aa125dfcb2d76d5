//! The cache's instance id (`CoreConfig::instance_id`): a random non-zero `u64` chosen the
//! first time a cache directory is used and kept in `<cache_dir>/instance` for the life of
//! the directory. It goes into every upload token, so that two caches writing one bucket
//! never take each other's versions for their own.
//!
//! The file holds one line, `silt-instance v1 <id: 16 hex digits> <crc32c of the id: 8 hex
//! digits>`. It is written once, atomically (a temporary file, fsync, rename, fsync of the
//! directory; 0600 on Unix), and read back at every start. A file that does not parse, whose
//! checksum does not match, or that holds 0 is an error ([`Error::InstanceFile`]) and is
//! never replaced: a new id would make the cache's own earlier versions look foreign. A
//! missing file means the directory is used for the first time (or was made before ids
//! existed: its journal records keep the tokens they were given), and a new id is chosen.
//!
//! Call it with the cache directory locked: nobody else creates the file meanwhile.

use crate::error::{Error, Result};
use std::collections::hash_map::RandomState;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The file's name in the cache directory.
pub const INSTANCE_FILE: &str = "instance";
/// The temporary file it is written as before the rename.
const TEMP_FILE: &str = "instance.tmp";
/// The first word of the line.
const MAGIC: &str = "silt-instance";
/// The format version.
const VERSION: &str = "v1";
/// More than any valid file holds: a larger file is not ours.
const MAX_LEN: u64 = 256;

/// The instance id of `cache_dir`: read from its file, or chosen and stored if the file is
/// missing. Blocking I/O: call it off the async runtime.
pub fn load_or_create(cache_dir: &Path) -> Result<u64> {
    let path = cache_dir.join(INSTANCE_FILE);
    match read(&path)? {
        Some(id) => {
            tracing::debug!(instance = %format!("{id:016x}"), "instance id read");
            Ok(id)
        }
        None => {
            let id = random_id();
            write_atomically(cache_dir, id)?;
            tracing::info!(
                cache_dir = %cache_dir.display(),
                instance = %format!("{id:016x}"),
                "new cache directory: instance id chosen"
            );
            Ok(id)
        }
    }
}

/// The id stored in `path`; `None` if there is no such file.
fn read(path: &Path) -> Result<Option<u64>> {
    let io = |source: std::io::Error| Error::InstanceFile {
        path: path.to_path_buf(),
        reason: source.to_string(),
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_LEN + 1).read_to_end(&mut bytes).map_err(io)?;
    parse(&bytes)
        .map(Some)
        .map_err(|reason| Error::InstanceFile {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        })
}

/// The line stored for `id`.
fn encode(id: u64) -> String {
    format!("{MAGIC} {VERSION} {id:016x} {:08x}\n", checksum(id))
}

/// The id a file's contents hold, or why they hold none.
fn parse(bytes: &[u8]) -> std::result::Result<u64, &'static str> {
    if bytes.len() as u64 > MAX_LEN {
        return Err("too long to be an instance id file");
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "not text")?;
    let line = text
        .strip_suffix('\n')
        .ok_or("truncated (no end of line)")?;
    let fields: Vec<&str> = line.split(' ').collect();
    let [magic, version, id, crc] = fields[..] else {
        return Err("not four fields");
    };
    if magic != MAGIC {
        return Err("not an instance id file");
    }
    if version != VERSION {
        return Err("unknown format version");
    }
    if id.len() != 16 || crc.len() != 8 {
        return Err("fields of the wrong length");
    }
    let id = u64::from_str_radix(id, 16).map_err(|_| "the id is not hexadecimal")?;
    let crc = u32::from_str_radix(crc, 16).map_err(|_| "the checksum is not hexadecimal")?;
    if crc != checksum(id) {
        return Err("checksum mismatch");
    }
    if id == 0 {
        return Err("the id is 0");
    }
    Ok(id)
}

fn checksum(id: u64) -> u32 {
    crc32c::crc32c(&id.to_be_bytes())
}

/// A random non-zero id. The randomness is the OS's: std seeds every `RandomState` from the
/// operating system's generator; the time, the pid and a per-process counter are mixed in
/// as well.
fn random_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    loop {
        let mut h = RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
        let id = h.finish();
        if id != 0 {
            return id;
        }
    }
}

/// Stores `id` in `<dir>/instance`: a temporary file (0600), fsynced, renamed over the name,
/// and the directory fsynced, so that after a crash the file is either absent or whole.
fn write_atomically(dir: &Path, id: u64) -> Result<()> {
    let temp = dir.join(TEMP_FILE);
    let path = dir.join(INSTANCE_FILE);
    let err = |at: &PathBuf| {
        let at = at.clone();
        move |source: std::io::Error| Error::InstanceFile {
            path: at,
            reason: format!("cannot store the instance id: {source}"),
        }
    };
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    // A temporary file left by a crash before its rename is overwritten.
    let mut file = options.open(&temp).map_err(err(&temp))?;
    file.write_all(encode(id).as_bytes()).map_err(err(&temp))?;
    file.sync_all().map_err(err(&temp))?;
    drop(file);
    std::fs::rename(&temp, &path).map_err(err(&path))?;
    sync_dir(dir).map_err(err(&dir.to_path_buf()))
}

/// Makes the rename durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Windows cannot open a directory for syncing through std; NTFS journals the rename.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_gets_an_id_that_every_later_start_reads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let id = load_or_create(dir.path()).expect("first use");
        assert_ne!(id, 0);
        let path = dir.path().join(INSTANCE_FILE);
        let text = std::fs::read_to_string(&path).expect("instance file");
        assert_eq!(text, encode(id));
        assert!(
            !dir.path().join(TEMP_FILE).exists(),
            "the temporary file was renamed"
        );
        for _ in 0..3 {
            assert_eq!(load_or_create(dir.path()).expect("restart"), id);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "private to the user");
        }
    }

    #[test]
    fn two_directories_get_different_ids() {
        let (a, b) = (
            tempfile::tempdir().expect("a"),
            tempfile::tempdir().expect("b"),
        );
        let ia = load_or_create(a.path()).expect("a");
        let ib = load_or_create(b.path()).expect("b");
        assert_ne!(ia, ib);
        let many: std::collections::BTreeSet<u64> = (0..1000).map(|_| random_id()).collect();
        assert_eq!(many.len(), 1000, "random ids do not repeat");
        assert!(!many.contains(&0));
    }

    #[test]
    fn a_temporary_file_left_by_a_crash_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(TEMP_FILE), b"silt-inst").expect("torn temp file");
        let id = load_or_create(dir.path()).expect("first use after a crash");
        assert_eq!(load_or_create(dir.path()).expect("restart"), id);
        assert!(!dir.path().join(TEMP_FILE).exists());
    }

    #[test]
    fn a_corrupt_file_is_an_error_and_is_left_as_it_is() {
        let good = encode(0x0123_4567_89ab_cdef);
        let flipped = good.replacen("0123", "0124", 1);
        let zero = format!("{MAGIC} {VERSION} {:016x} {:08x}\n", 0, checksum(0));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("truncated", good.as_bytes()[..20].to_vec()),
            ("no end of line", good.trim_end().as_bytes().to_vec()),
            ("a flipped digit", flipped.into_bytes()),
            ("zero", zero.into_bytes()),
            (
                "another format",
                b"silt-instance v2 0123456789abcdef 00000000\n".to_vec(),
            ),
            ("garbage", vec![0xff; 40]),
            ("too long", vec![b'a'; 1000]),
        ];
        for (what, bytes) in cases {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join(INSTANCE_FILE);
            std::fs::write(&path, &bytes).expect("write");
            let err = load_or_create(dir.path()).expect_err(what);
            assert!(matches!(err, Error::InstanceFile { .. }), "{what}: {err:?}");
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{what}: {msg}");
            assert_eq!(
                std::fs::read(&path).expect("still there"),
                bytes,
                "{what}: never replaced"
            );
        }
    }

    #[test]
    fn the_encoding_round_trips() {
        for id in [1, 0x0123_4567_89ab_cdef, u64::MAX] {
            assert_eq!(parse(encode(id).as_bytes()), Ok(id));
        }
    }
}
