//! The core's configuration: sizes, limits, timers and the server's probed capabilities.
//! The driver builds it from the user's configuration file; the simulator draws it per seed.

use std::time::Duration;
use thiserror::Error;

/// Faults that can be planted in the core to prove the simulator finds them.
#[cfg(feature = "planted-bugs")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// Eviction also takes chunks holding dirty bytes.
    EvictDirtyChunk,
    /// A fetched chunk is marked clean before its CRC is recorded (CRC left as the
    /// "not computed" sentinel, which reads accept).
    CleanBeforeCrc,
    /// `fsync` is answered once the data is synced, before the index commit.
    FsyncReplyBeforeCommit,
    /// A 412 on upload is retried as an unconditional overwrite.
    RetryPreconditionAsOverwrite,
    /// An upload's success cleans every dirty byte, including bytes written during it.
    CleanWritesDuringUpload,
    /// A read is answered from fetched bytes in memory even where it overlaps dirty bytes.
    BufferedReadOverDirty,
    /// A read starts beside a write in flight over the same chunks.
    ReadBesideOverlappingWrite,
    /// A listing shows a remote object whose delete is journaled but not done.
    ListShowsJournaledDelete,
    /// `Rmdir` looks only at the server: a directory holding files created here, not yet
    /// uploaded, is removed.
    RmdirIgnoresLocalFiles,
    /// `SetMtime` queues no upload: a new time on an unchanged file never reaches the bucket
    /// (unless something else uploads the file).
    SetMtimeQueuesNoUpload,
    /// The first byte of a write within the base version's bytes is not marked dirty (nor
    /// counted in the dirty bytes): it is in the cache file, and nothing uploads it.
    WriteDirtiesShort,
    /// Passthrough is granted without looking at which chunks are in the cache file.
    PassthroughOfAbsentBytes,
    /// An open passthrough handle pins nothing: eviction punches the entry's chunks and
    /// invalidations run under the kernel's reader.
    PassthroughUnpinned,
}

/// Sizes, limits and timers of the core. See `docs/architecture.md`.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// Fixed chunk size in bytes: the unit of fetching, CRC and eviction.
    pub chunk_size: u64,
    /// Smallest part a multipart upload may have, except the last (5 MiB on S3).
    pub min_part_size: u64,
    /// Objects larger than this are uploaded as multipart.
    pub multipart_threshold: u64,
    /// Unchanged parts in a row go up as one UploadPartCopy (up to 5 GiB) under the first
    /// one's number, and the Complete names part numbers with gaps. S3 and moto accept the
    /// gaps; s3s-fs refuses them ("invalid part order"), so this is off unless the server is
    /// known to accept them (the S3 driver's capability probe asks, and sets this).
    pub coalesce_copies: bool,
    /// Uploads running at once.
    pub max_concurrent_uploads: usize,
    /// Parts of one multipart upload in flight at once.
    pub max_parts_in_flight: usize,
    /// Remote chunk fetches in flight at once.
    pub max_concurrent_fetches: usize,
    /// Readahead window of a sequential reader when it starts, bytes past its last read
    /// (0: no readahead).
    pub readahead_initial: u64,
    /// Largest readahead window: it doubles each time a sequential reader enters a new chunk.
    pub readahead_max: u64,
    /// Fetched bytes kept in memory to answer reads without reading the cache file back.
    pub read_buffer_limit: u64,
    /// How long what the server said about a key the cache does not hold (its attributes,
    /// or that it does not exist) is believed (TigrisFS's `--stat-cache-ttl`).
    pub stat_ttl: Duration,
    /// Keys below a directory above which renaming it answers `CrossDevice` (EXDEV), so that
    /// `mv` copies instead of one transaction renaming them all.
    pub dir_rename_limit: usize,
    /// Bytes the core may hold in memory at once (see `machine/memory.rs`): fetches in flight,
    /// read buffers, fetched chunks kept in memory on a full disk, upload bodies in flight.
    /// Work that would go past it waits; one upload body and one fetch always proceed when
    /// none is out, so nothing larger than the limit is stuck. Write bodies are the driver's
    /// to bound (it holds them until their reply).
    pub memory_limit: u64,
    /// How long after its last write an object waits before it is uploaded.
    pub write_back_delay: Duration,
    /// While a file is open, how long it must go unchanged before its upload starts, if
    /// longer than `write_back_delay` (0: open files wait like closed ones). Its last close
    /// ends the wait; a file kept open and changing is still uploaded at least every 30 s.
    pub open_upload_pause: Duration,
    /// Interval of the periodic commit that bounds what a crash can lose.
    pub commit_interval: Duration,
    /// First retry backoff of a failed upload.
    pub retry_initial: Duration,
    /// Largest retry backoff; uploads of dirty data are retried forever at this pace.
    pub retry_max: Duration,
    /// Cache size budget in bytes (clean and dirty chunks).
    pub cache_budget: u64,
    /// Eviction starts above this percentage of the budget...
    pub high_watermark_pct: u8,
    /// ...and stops below this one.
    pub low_watermark_pct: u8,
    /// Dirty bytes above which new writes wait (back-pressure).
    pub dirty_limit: u64,
    /// How long a write may wait for space before it fails with `NoSpace`.
    pub write_wait_timeout: Duration,
    /// Bytes of free disk space kept in reserve for index commits and the journal; writes
    /// that would eat into it wait as if the disk were full.
    pub min_free_space: u64,
    /// The server enforces `If-Match`/`If-None-Match` on PUT (probed at mount).
    pub conditional_put: bool,
    /// The server enforces `If-Match`/`If-None-Match` on CompleteMultipartUpload.
    pub conditional_complete: bool,
    /// Seed of the retry jitter.
    pub seed: u64,
    /// This cache's identity among the caches writing one bucket, random and kept by the
    /// driver for the life of the cache directory. It goes into every upload token, so that
    /// a version another cache stored is never taken for one of ours (0: none, for tests).
    pub instance_id: u64,
    /// The CRC32C implementation (default: the core's table-driven one; production drivers
    /// supply a hardware one).
    pub checksum: crate::crc32c::Checksum,
    /// The planted fault, if any.
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<PlantedBug>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        CoreConfig {
            chunk_size: MIB,
            min_part_size: 5 * MIB,
            multipart_threshold: 16 * MIB,
            coalesce_copies: false,
            max_concurrent_uploads: 4,
            max_parts_in_flight: 4,
            max_concurrent_fetches: 16,
            readahead_initial: MIB + 128 * 1024,
            readahead_max: 32 * MIB,
            read_buffer_limit: 64 * MIB,
            memory_limit: 768 * MIB,
            stat_ttl: Duration::from_secs(60),
            dir_rename_limit: 10_000,
            write_back_delay: Duration::from_secs(5),
            open_upload_pause: Duration::from_secs(1),
            commit_interval: Duration::from_secs(5),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            cache_budget: 10 * 1024 * MIB,
            high_watermark_pct: 95,
            low_watermark_pct: 85,
            dirty_limit: 4 * 1024 * MIB,
            write_wait_timeout: Duration::from_secs(30),
            min_free_space: 256 * MIB,
            conditional_put: true,
            conditional_complete: true,
            seed: 0,
            instance_id: 0,
            checksum: crate::crc32c::Checksum::default(),
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }
}

/// A configuration the core cannot run with.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid core configuration: {field} {rule}")]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// The rule it breaks.
    pub rule: &'static str,
}

impl CoreConfig {
    /// Checks the rules the core relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, rule| Err(ConfigError { field, rule });
        if self.chunk_size == 0 {
            return err("chunk_size", "must be > 0");
        }
        if self.min_part_size == 0 {
            return err("min_part_size", "must be > 0");
        }
        if self.max_concurrent_uploads == 0
            || self.max_parts_in_flight == 0
            || self.max_concurrent_fetches == 0
        {
            return err("max_concurrent_*", "must be > 0");
        }
        if self.readahead_initial > self.readahead_max {
            return err("readahead_initial", "must not exceed readahead_max");
        }
        if self.low_watermark_pct > self.high_watermark_pct || self.high_watermark_pct > 100 {
            return err("watermarks", "must satisfy low <= high <= 100");
        }
        if self.memory_limit < self.chunk_size {
            return err("memory_limit", "must hold at least one chunk");
        }
        if self.read_buffer_limit > self.memory_limit {
            return err("read_buffer_limit", "must not exceed memory_limit");
        }
        if self.dirty_limit > self.cache_budget {
            return err("dirty_limit", "must not exceed cache_budget");
        }
        if self.retry_initial > self.retry_max {
            return err("upload_retry", "initial backoff must not exceed max");
        }
        Ok(())
    }

    /// The smallest part size of multipart uploads: `min_part_size` rounded up to whole
    /// chunks, so a chunk always lies in exactly one part.
    pub fn part_size(&self) -> u64 {
        crate::chunks::part_size(0, self.min_part_size, self.chunk_size)
    }

    /// The part size for an object of `object_size` bytes: [`CoreConfig::part_size`], raised
    /// in whole chunks so that the object needs at most [`crate::chunks::MAX_PARTS`] parts.
    pub fn part_size_for(&self, object_size: u64) -> u64 {
        crate::chunks::part_size(object_size, self.min_part_size, self.chunk_size)
    }

    #[cfg(feature = "planted-bugs")]
    pub(crate) fn planted(&self, bug: PlantedBug) -> bool {
        self.planted_bug == Some(bug)
    }

    #[cfg(not(feature = "planted-bugs"))]
    #[inline(always)]
    pub(crate) fn planted(&self, _bug: PlantedBugName) -> bool {
        false
    }
}

/// Without the feature, planted-bug checks compile to `false`.
#[cfg(not(feature = "planted-bugs"))]
#[derive(Clone, Copy)]
pub(crate) enum PlantedBugName {
    EvictDirtyChunk,
    CleanBeforeCrc,
    FsyncReplyBeforeCommit,
    RetryPreconditionAsOverwrite,
    CleanWritesDuringUpload,
    BufferedReadOverDirty,
    ReadBesideOverlappingWrite,
    ListShowsJournaledDelete,
    RmdirIgnoresLocalFiles,
    SetMtimeQueuesNoUpload,
    WriteDirtiesShort,
    PassthroughOfAbsentBytes,
    PassthroughUnpinned,
}

#[cfg(feature = "planted-bugs")]
pub(crate) use PlantedBug as Bug;
#[cfg(not(feature = "planted-bugs"))]
pub(crate) use PlantedBugName as Bug;
