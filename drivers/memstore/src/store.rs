//! The bucket's state, the outside writer, and what tests read back.

use crate::faults::{Fault, OpKind, When};
use crate::object::{Object, Objects, Versions};
use crate::quirks::Quirks;
use bytes::Bytes;
use silt_core::RemoteError;
use std::collections::BTreeMap;
use std::ops::Index;

/// A multipart upload in progress.
#[derive(Clone, Debug)]
pub(crate) struct Upload {
    pub(crate) key: String,
    pub(crate) token: Option<String>,
    pub(crate) mtime_ms: Option<u64>,
    /// Part number -> (ETag, content).
    pub(crate) parts: BTreeMap<u32, (String, Bytes)>,
}

/// An S3 bucket in memory. Deterministic: ETags and upload ids come from one counter, times
/// from the caller. See the crate documentation.
///
/// Names it makes: ETags `"v<n>"`, upload ids `mpu-<n>`, part ETags `"p<part>-<n>"`, from
/// one counter shared by all three.
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    /// The current objects.
    pub objects: Objects,
    /// Every version ever stored, by ETag (the outside writer's too).
    pub versions: Versions,
    /// How the server behaves.
    pub quirks: Quirks,
    /// Every operation fails with a transient error, changing nothing (a server that is
    /// down or unreachable).
    pub down: bool,
    pub(crate) uploads: BTreeMap<String, Upload>,
    pub(crate) next: u64,
    pub(crate) faults: Vec<Fault>,
    pub(crate) bytes_received: u64,
}

impl MemStore {
    /// An empty bucket that enforces every condition.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// An empty bucket with `quirks`.
    pub fn with_quirks(quirks: Quirks) -> MemStore {
        MemStore {
            quirks,
            ..MemStore::default()
        }
    }

    /// The object at `key`.
    pub fn get(&self, key: &str) -> Option<&Object> {
        self.objects.get(key)
    }

    /// True when an object is at `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.objects.contains_key(key)
    }

    /// How many multipart uploads are open (created, neither completed nor aborted).
    pub fn open_uploads(&self) -> usize {
        self.uploads.len()
    }

    /// Bytes received in PUT and UploadPart bodies that were accepted.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Stores `data` at `key` as someone other than the cache (no token, no condition, no
    /// [`crate::Effect`]). Returns the new ETag.
    pub fn outside_put(&mut self, key: &str, data: Bytes, now_ms: u64) -> String {
        self.store(key, data, (None, None), now_ms)
    }

    /// Deletes `key` as someone other than the cache. Returns the version removed.
    pub fn outside_delete(&mut self, key: &str) -> Option<Object> {
        self.objects.0.remove(key)
    }

    /// Arms a scripted fault. Faults strike in the order they were armed.
    pub fn inject(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Disarms every scripted fault (the server is healthy again; `down` is separate).
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Scripted faults still armed.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// The next ETag.
    pub(crate) fn etag(&mut self) -> String {
        self.next += 1;
        format!("\"v{}\"", self.next)
    }

    /// Stores a new version of `key`, keeps it in the history, returns its ETag.
    pub(crate) fn store(
        &mut self,
        key: &str,
        data: Bytes,
        meta: (Option<String>, Option<u64>),
        now_ms: u64,
    ) -> String {
        let (token, mtime_ms) = meta;
        let etag = self.etag();
        self.versions.0.insert(etag.clone(), data.clone());
        let object = Object {
            etag: etag.clone(),
            data,
            token,
            mtime_ms,
            created_ms: now_ms,
        };
        self.objects.0.insert(key.to_string(), object);
        etag
    }

    /// The fault that strikes an operation of `kind` at `when`, if any (consuming one of
    /// its strikes); with `down`, every operation is refused before it takes effect.
    pub(crate) fn strike(&mut self, kind: OpKind, when: When) -> Option<RemoteError> {
        if self.down && when == When::Before {
            return Some(RemoteError::Transient("connection refused (down)".into()));
        }
        let i = self.faults.iter().position(|f| f.strikes(kind, when))?;
        let f = &mut self.faults[i];
        f.times -= 1;
        let error = f.error.clone();
        if f.times == 0 {
            self.faults.remove(i);
        }
        Some(error)
    }
}

impl Index<&str> for MemStore {
    type Output = Object;

    /// The object at `key`; panics if there is none (for tests that expect it).
    fn index(&self, key: &str) -> &Object {
        match self.objects.get(key) {
            Some(o) => o,
            None => panic!("no object at {key:?}"),
        }
    }
}
