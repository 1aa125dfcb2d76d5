//! What a cache write is about to do, announced to an observer before it takes effect.

use crate::object::Object;

/// A change to the bucket by the cache (not by the outside writer), or a refused upload,
/// seen just before it happens. The simulator checks these against the cache's journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect<'a> {
    /// A PUT, CompleteMultipartUpload or CopyObject is about to store a new version at
    /// `key`, replacing `previous` (`None`: it creates the key).
    Write {
        /// Key.
        key: &'a str,
        /// The version replaced.
        previous: Option<&'a Object>,
        /// The upload token the new version carries.
        token: Option<&'a str>,
        /// False when the server ignores the write's condition (a quirk), so that only a
        /// client-side check (HEAD compare) guarded it.
        condition_enforced: bool,
    },
    /// A DELETE is about to remove `previous` from `key`.
    Delete {
        /// Key.
        key: &'a str,
        /// The version removed.
        previous: &'a Object,
        /// The version the delete was conditioned on.
        if_match: Option<&'a str>,
        /// False when the server ignores the condition (a quirk).
        condition_enforced: bool,
    },
    /// CompleteMultipartUpload refused: part `part` (not the last) is `size` bytes, under
    /// the minimum part size. A real server refuses such an upload every time.
    PartTooSmall {
        /// Key.
        key: &'a str,
        /// Part number.
        part: u32,
        /// Its size.
        size: u64,
    },
}
