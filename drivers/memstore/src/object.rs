//! Stored objects and read-only views of the bucket and of its version history.

use bytes::Bytes;
use std::collections::BTreeMap;

/// A stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// ETag (quoted, as S3 returns it).
    pub etag: String,
    /// Content.
    pub data: Bytes,
    /// The cache's upload token (object metadata), if the cache stored it.
    pub token: Option<String>,
    /// The modification time stored as metadata (`x-amz-meta-mtime`), ms since the Unix
    /// epoch, if the writer stored one.
    pub mtime_ms: Option<u64>,
    /// Time it was stored (the caller's milliseconds), its last-modified.
    pub created_ms: u64,
}

/// The current objects, by key: a read-only view.
#[derive(Clone, Debug, Default)]
pub struct Objects(pub(crate) BTreeMap<String, Object>);

impl Objects {
    /// The object at `key`.
    pub fn get(&self, key: &str) -> Option<&Object> {
        self.0.get(key)
    }

    /// True when an object is at `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Every object, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Object)> {
        self.0.iter()
    }

    /// How many objects there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the bucket is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Every version ever stored, by ETag: a read-only view.
#[derive(Clone, Debug, Default)]
pub struct Versions(pub(crate) BTreeMap<String, Bytes>);

impl Versions {
    /// The content of the version `etag`.
    pub fn get(&self, etag: &str) -> Option<&Bytes> {
        self.0.get(etag)
    }

    /// How many versions were stored.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing was ever stored.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
