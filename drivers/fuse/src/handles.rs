//! The mount's open files and directories, by the handle number given to the kernel.

use crate::dirs::DirStream;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One open file: the backend's handle and whether it was written since its last fsync.
#[derive(Debug)]
pub struct OpenFile {
    /// The engine's handle.
    pub handle: crate::backend::Handle,
    written: AtomicBool,
    /// The inode and how the kernel was told to do its I/O (`passthrough.rs`), when the
    /// open was counted there.
    pub io: Option<(u64, crate::passthrough::IoMode)>,
}

impl OpenFile {
    /// Wraps an engine handle, not written yet.
    pub fn new(handle: crate::backend::Handle) -> OpenFile {
        OpenFile {
            handle,
            written: AtomicBool::new(false),
            io: None,
        }
    }

    /// The same, counted as an open of inode `ino` in `mode`.
    pub fn with_io(mut self, ino: u64, mode: crate::passthrough::IoMode) -> OpenFile {
        self.io = Some((ino, mode));
        self
    }

    /// Records a write.
    pub fn mark_written(&self) {
        self.written.store(true, Ordering::Release);
    }

    /// Whether it was written since the last [`OpenFile::take_written`], clearing the mark
    /// (an fsync that fails sets it again with [`OpenFile::mark_written`]).
    pub fn take_written(&self) -> bool {
        self.written.swap(false, Ordering::AcqRel)
    }
}

/// An open directory's listing, behind an async lock (a `readdir` may fetch a page).
pub type OpenDir = Arc<tokio::sync::Mutex<DirStream>>;

/// Handle numbers -> open files and directories.
#[derive(Debug, Default)]
pub struct Handles {
    next: AtomicU64,
    files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    dirs: Mutex<HashMap<u64, OpenDir>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each change is one insert or remove: a poisoned map is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Handles {
    fn number(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers an open file; returns its handle number.
    pub fn add_file(&self, file: OpenFile) -> u64 {
        let fh = self.number();
        lock(&self.files).insert(fh, Arc::new(file));
        fh
    }

    /// The open file `fh`.
    pub fn file(&self, fh: u64) -> Option<Arc<OpenFile>> {
        lock(&self.files).get(&fh).cloned()
    }

    /// Removes the open file `fh` (release).
    pub fn remove_file(&self, fh: u64) -> Option<Arc<OpenFile>> {
        lock(&self.files).remove(&fh)
    }

    /// Removes every open file (at unmount).
    pub fn drain_files(&self) -> Vec<Arc<OpenFile>> {
        lock(&self.files).drain().map(|(_, f)| f).collect()
    }

    /// Registers an open directory; returns its handle number.
    pub fn add_dir(&self, dir: DirStream) -> u64 {
        let fh = self.number();
        lock(&self.dirs).insert(fh, Arc::new(tokio::sync::Mutex::new(dir)));
        fh
    }

    /// The open directory `fh`.
    pub fn dir(&self, fh: u64) -> Option<OpenDir> {
        lock(&self.dirs).get(&fh).cloned()
    }

    /// Removes the open directory `fh` (releasedir).
    pub fn remove_dir(&self, fh: u64) {
        lock(&self.dirs).remove(&fh);
    }
}
