//! Opening a cache directory for an engine ([`open`]): the memory split, the lock, the
//! instance id, the index (loaded whole: start-up never walks the cache files), the cache
//! files and a first disk reading. Blocking I/O: a tokio driver runs it on the blocking pool.

use crate::checksum::hardware_crc32c;
use crate::error::{Error, Result};
use crate::lock::CacheLock;
use crate::memory::split_memory_limit;
use crate::options::Options;
use silt_core::{CoreConfig, Recovered};
use silt_index::GroupCommit;
use silt_store::{Store, StoreOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a driver executes the core's orders against.
pub struct DriverParts<S> {
    /// The cache directory (for disk-space readings).
    pub cache_dir: PathBuf,
    /// The cache files.
    pub store: Arc<Store>,
    /// The index, behind its group commit.
    pub index: Arc<GroupCommit>,
    /// The bucket.
    pub remote: Arc<S>,
    /// The cache-directory lock, released when the driver ends.
    pub lock: Option<CacheLock>,
    /// A first free-space reading, fed to the core before anything else.
    pub initial_free: Option<u64>,
}

/// An opened cache directory: everything a driver needs to run the core.
pub struct Opened<S, D> {
    /// The core's configuration, ready: the hardware checksum, the core's share of the
    /// memory limit and the directory's instance id are set.
    pub core: CoreConfig,
    /// What the index held.
    pub recovered: Recovered,
    /// What the driver runs against (the lock is in it).
    pub parts: DriverParts<S>,
    /// The driver's own options, as given.
    pub driver: D,
    /// The write-body budget: the driver's share of the memory limit.
    pub write_limit: u64,
    /// The directory's instance id.
    pub instance_id: u64,
    /// `close()` fsyncs first.
    pub fsync_on_close: bool,
    /// The services to start once the loop runs ([`crate::Services::start`]).
    pub services: crate::ServiceOptions,
}

/// Splits the memory limit, creates and locks the cache directory, reads (or, the first
/// time, chooses) its instance id, opens and loads its index and opens its cache files.
pub fn open<S, D>(options: Options<S, D>) -> Result<Opened<S, D>> {
    let Options {
        cache_dir,
        remote,
        mut core,
        memory_limit,
        index_backend,
        fsync_on_close,
        store,
        driver,
        services,
    } = options;
    core.checksum = hardware_crc32c();
    let write_limit = split_memory_limit(memory_limit, &mut core)?;
    create_private_dir(&cache_dir)?;
    let lock = CacheLock::acquire(&cache_dir)?;
    // Under the lock: nobody else creates the file meanwhile.
    let instance_id = crate::instance::load_or_create(&cache_dir)?;
    core.instance_id = instance_id;
    let (index, recovered, store) = open_files(&cache_dir, &index_backend, store)?;
    tracing::info!(
        cache_dir = %cache_dir.display(),
        instance = %format!("{instance_id:016x}"),
        memory_limit,
        entries = recovered.entries.len(),
        journal = recovered.journal.len(),
        conflicts = recovered.conflicts.len(),
        "cache recovered from the index"
    );
    let initial_free = crate::disk::free_bytes(&cache_dir);
    Ok(Opened {
        core,
        recovered,
        parts: DriverParts {
            cache_dir,
            store: Arc::new(store),
            index: Arc::new(GroupCommit::new(index)),
            remote,
            lock: Some(lock),
            initial_free,
        },
        driver,
        write_limit,
        instance_id,
        fsync_on_close,
        services,
    })
}

/// The index (loaded) and the cache files of a locked directory.
fn open_files(
    dir: &Path,
    backend: &str,
    store: StoreOptions,
) -> Result<(Arc<dyn silt_index::CacheIndex>, Recovered, Store)> {
    let index = silt_index::open(backend, &silt_index::OpenOptions::new(dir))?;
    let recovered = index.load()?;
    let store = Store::open(dir, store)?;
    Ok((Arc::from(index), recovered, store))
}

/// Creates the cache directory (and missing parents) private to the user from the start
/// (0700 on Unix), so that the lock and the index are never created in a directory others
/// can read. An existing directory is left as it is here; the store makes it private.
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| Error::CacheDir {
        path: dir.to_path_buf(),
        source,
    })
}
