//! What a server does differently from S3: the quirks silt must survive.

/// Server behaviours, all off by default (an S3 that enforces every condition).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quirks {
    /// Ignores `If-Match` on GET: answers with whatever version is current (s3s-fs).
    pub ignore_get_if_match: bool,
    /// Ignores `If-Match` / `If-None-Match` on CompleteMultipartUpload (moto).
    pub ignore_complete_condition: bool,
    /// Ignores conditions on every write: PUT, Complete, DELETE and CopyObject's destination.
    pub ignore_write_conditions: bool,
    /// Smallest size of a multipart part but the last (S3: 5 MiB); 0 accepts any size. A
    /// smaller part makes CompleteMultipartUpload fail for good (`EntityTooSmall`).
    pub min_part_size: u64,
    /// CompleteMultipartUpload accepts only part numbers 1, 2, 3... in order, without gaps
    /// (s3s-fs: "invalid part order"); S3 accepts any ascending numbers.
    pub refuse_part_gaps: bool,
}

impl Quirks {
    /// True when conditions on PUT and DELETE are enforced.
    pub fn enforces_writes(&self) -> bool {
        !self.ignore_write_conditions
    }

    /// True when conditions on CompleteMultipartUpload are enforced.
    pub fn enforces_complete(&self) -> bool {
        !self.ignore_complete_condition && !self.ignore_write_conditions
    }
}
