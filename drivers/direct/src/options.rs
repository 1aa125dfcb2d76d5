//! What the path without a disk cache can be tuned with.

use std::time::Duration;

/// Options of a [`crate::Bucket`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Bytes written and fetched ahead that may be held in memory (`--memory-limit`).
    pub memory_limit: u64,
    /// Size of a multipart upload's parts (every part but the last); at least 5 MiB.
    pub part_size: u64,
    /// Largest readahead window of a sequential reader.
    pub readahead_max: u64,
    /// Largest ranged GET of the readahead.
    pub request_size: u64,
    /// Part uploads (and readahead GETs) one file keeps in flight.
    pub max_in_flight: usize,
    /// How long a transient failure (5xx, timeouts, resets) is retried before the request
    /// fails.
    pub retry_for: Duration,
    /// How long a writer waits for the memory budget before the write fails.
    pub memory_wait: Duration,
    /// Keys below a directory that a rename copies at most (above: EXDEV, `mv` copies).
    pub dir_rename_limit: usize,
}

/// S3's smallest part (every part but the last).
pub const MIN_PART: u64 = 5 << 20;

impl Options {
    /// Defaults for a budget of `memory_limit` bytes: 8 MiB parts, readahead up to a
    /// quarter of the budget (at most 64 MiB) in GETs of up to 8 MiB.
    pub fn with_memory(memory_limit: u64) -> Options {
        Options {
            memory_limit,
            part_size: 8 << 20,
            readahead_max: (memory_limit / 4).clamp(1 << 20, 64 << 20),
            request_size: 8 << 20,
            max_in_flight: 4,
            retry_for: Duration::from_secs(60),
            memory_wait: Duration::from_secs(60),
            dir_rename_limit: 10_000,
        }
    }

    /// The options with sizes S3 accepts: parts of at least [`MIN_PART`].
    pub fn checked(mut self) -> Options {
        self.part_size = self.part_size.max(MIN_PART);
        self.request_size = self.request_size.max(64 << 10);
        self.readahead_max = self.readahead_max.max(self.request_size);
        self.max_in_flight = self.max_in_flight.max(1);
        self
    }
}
