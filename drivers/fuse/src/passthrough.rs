//! FUSE passthrough at the mount: which opens the kernel serves straight from the cache file,
//! and the kernel's per-inode I/O modes they must respect (Linux `fs/fuse/iomode.c`).
//!
//! The core decides whether a file may be read from its cache file (`OpenFlags::passthrough`,
//! docs/architecture.md, "Passthrough"); the mount decides whether the kernel will accept it:
//! - an inode with a cached (page cache) open refuses a passthrough open (the open would fail
//!   with EIO), so passthrough is asked for only while the mount has no other open of the
//!   inode, and a grant that finds one meanwhile is answered as a plain open;
//! - an inode with a passthrough open refuses every open without `FOPEN_PASSTHROUGH` (EIO):
//!   the other opens of it (writers, readers the core did not grant) are answered with
//!   `FOPEN_PASSTHROUGH | FOPEN_DIRECT_IO` and the inode's backing id: their reads and writes
//!   still come to the mount (direct I/O overrides passthrough), but their `mmap` maps the
//!   cache file. A shared writable mapping would then change the cache file behind the
//!   core's back (bytes never uploaded, clean chunks no longer matching their checksums), so
//!   an open for reading *and* writing (the only kind a writable `mmap` can come from) of an
//!   inode with passthrough opens is refused with EBUSY, after waiting up to
//!   `READ_WRITE_WAIT` for them to be released (the kernel releases files asynchronously:
//!   `cat f` then an edit of `f` must not fail); write-only opens cannot be mapped and go on;
//! - one backing id per inode, opened (read-only) with its first passthrough open and closed
//!   when the last one is released.
//!
//! What the mount counts for an inode starts at its answer to the open and ends at the
//! release, a superset of what the kernel counts: its decisions are never more permissive
//! than the kernel's state.

use fuser::{BackingId, FileHandle, FopenFlags, ReplyCreate, ReplyOpen};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long an open for reading and writing waits for the inode's passthrough opens to be
/// released before it is refused (EBUSY).
pub const READ_WRITE_WAIT: Duration = Duration::from_secs(1);

/// How an open file was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoMode {
    /// Through the page cache and the mount (no backing file).
    Cached,
    /// With the inode's backing file: read by the kernel (granted), or with direct I/O to
    /// the mount beside other passthrough opens.
    Passthrough,
}

/// The opens of one inode, as the mount answered them.
#[derive(Debug, Default)]
struct InodeIo {
    cached: u32,
    passthrough: u32,
    backing: Option<Arc<BackingId>>,
}

/// The mount's passthrough state: whether the kernel offers it, and every inode's opens.
#[derive(Debug, Default)]
pub struct Passthrough {
    /// Asked for at init and accepted by the kernel.
    enabled: AtomicBool,
    inodes: Mutex<HashMap<u64, InodeIo>>,
    /// Opens the kernel serves from the cache file (granted by the core).
    granted: AtomicU64,
    /// A backing file could not be registered (logged once).
    backing_failed: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each change is a few counters: a poisoned map is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Passthrough {
    /// The kernel accepted passthrough at init.
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Release);
    }

    /// Whether passthrough is in use on this mount.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Opens the kernel served from the cache file so far.
    pub fn granted(&self) -> u64 {
        self.granted.load(Ordering::Relaxed)
    }

    /// Whether `ino` has opens answered with its backing file (passthrough).
    pub fn in_use(&self, ino: u64) -> bool {
        lock(&self.inodes)
            .get(&ino)
            .is_some_and(|s| s.passthrough > 0)
    }

    /// Waits, up to `READ_WRITE_WAIT`, until `ino` has no passthrough opens; true if it has
    /// none.
    pub async fn wait_unused(&self, ino: u64) -> bool {
        let step = Duration::from_millis(10);
        let mut waited = Duration::ZERO;
        while self.in_use(ino) {
            if waited >= READ_WRITE_WAIT {
                return false;
            }
            tokio::time::sleep(step).await;
            waited += step;
        }
        true
    }

    /// Whether an open of `ino` should ask the core for passthrough: enabled, and no cached
    /// open of the inode (the kernel would refuse it).
    pub fn may_ask(&self, ino: u64) -> bool {
        self.enabled() && lock(&self.inodes).get(&ino).is_none_or(|s| s.cached == 0)
    }

    /// Answers an open of `ino`: straight from the cache file at `granted` when the core
    /// granted it and the kernel will take it, with direct I/O beside the inode's passthrough
    /// opens, else as a plain open. `register` adds the open file in the mode chosen and
    /// returns its handle number. An open for reading and writing (`read_write`) is not
    /// answered beside passthrough opens: the reply comes back (`Err`) for the caller to
    /// close the file and answer EBUSY.
    pub fn answer_open(
        &self,
        reply: ReplyOpen,
        ino: u64,
        granted: Option<&Path>,
        read_write: bool,
        register: impl FnOnce(IoMode) -> u64,
    ) -> Result<(), ReplyOpen> {
        let mut inodes = lock(&self.inodes);
        let io = inodes.entry(ino).or_default();
        if let (Some(path), 0, true) = (granted, io.cached, self.enabled()) {
            if io.backing.is_none() {
                io.backing = self.register_backing(|f| reply.open_backing(f), path);
            }
            if let Some(backing) = io.backing.clone() {
                io.passthrough += 1;
                drop(inodes);
                let fh = register(IoMode::Passthrough);
                self.granted.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(ino, fh, "open served from the cache file");
                reply.opened_passthrough(FileHandle(fh), FopenFlags::empty(), &backing);
                return Ok(());
            }
        }
        if let (true, Some(backing)) = (io.passthrough > 0, io.backing.clone()) {
            if read_write {
                return Err(reply);
            }
            io.passthrough += 1;
            drop(inodes);
            let fh = register(IoMode::Passthrough);
            reply.opened_passthrough(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO, &backing);
            return Ok(());
        }
        io.cached += 1;
        drop(inodes);
        let fh = register(IoMode::Cached);
        reply.opened(FileHandle(fh), FopenFlags::empty());
        Ok(())
    }

    /// Answers a create of `ino` (never served from the cache file: it is written): with
    /// direct I/O beside passthrough opens of the inode, else as a plain open; refused
    /// (`Err`, as in `answer_open`) for reading and writing beside passthrough opens.
    pub fn answer_create(
        &self,
        reply: ReplyCreate,
        ino: u64,
        read_write: bool,
        answer: impl FnOnce(ReplyCreate, u64, FopenFlags, Option<&BackingId>),
        register: impl FnOnce(IoMode) -> u64,
    ) -> Result<(), ReplyCreate> {
        let mut inodes = lock(&self.inodes);
        let io = inodes.entry(ino).or_default();
        if read_write && io.passthrough > 0 {
            return Err(reply);
        }
        let mode = match io.backing.clone() {
            Some(b) if io.passthrough > 0 => {
                io.passthrough += 1;
                Some(b)
            }
            _ => {
                io.cached += 1;
                None
            }
        };
        drop(inodes);
        let fh = register(if mode.is_some() {
            IoMode::Passthrough
        } else {
            IoMode::Cached
        });
        match mode {
            Some(b) => answer(reply, fh, FopenFlags::FOPEN_DIRECT_IO, Some(&b)),
            None => answer(reply, fh, FopenFlags::empty(), None),
        }
        Ok(())
    }

    /// An open file of `ino` answered in `mode` was released: the last passthrough one
    /// closes the inode's backing id.
    pub fn released(&self, ino: u64, mode: IoMode) {
        let mut inodes = lock(&self.inodes);
        let Some(io) = inodes.get_mut(&ino) else {
            return;
        };
        match mode {
            IoMode::Cached => io.cached = io.cached.saturating_sub(1),
            IoMode::Passthrough => io.passthrough = io.passthrough.saturating_sub(1),
        }
        if io.passthrough == 0 {
            // Dropping the last reference closes the backing id (the kernel keeps the file
            // for the opens it still has).
            io.backing = None;
        }
        if io.cached == 0 && io.passthrough == 0 {
            inodes.remove(&ino);
        }
    }

    /// Opens the cache file read-only and registers it with the kernel; a failure is logged
    /// once and leaves the open on the ordinary path.
    fn register_backing(
        &self,
        open_backing: impl FnOnce(&std::fs::File) -> std::io::Result<BackingId>,
        path: &Path,
    ) -> Option<Arc<BackingId>> {
        let registered = std::fs::File::open(path).and_then(|f| open_backing(&f));
        match registered {
            Ok(b) => Some(Arc::new(b)),
            Err(e) => {
                if !self.backing_failed.swap(true, Ordering::Relaxed) {
                    tracing::warn!(path = %path.display(), error = %e,
                        "FUSE passthrough: the cache file could not be handed to the kernel; such opens are served by the mount");
                } else {
                    tracing::debug!(path = %path.display(), error = %e, "passthrough refused");
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts follow opens and releases; an inode with a cached open is not asked for
    /// passthrough, and its state goes with its last release.
    #[test]
    fn counts_follow_opens_and_releases() {
        let p = Passthrough::default();
        assert!(!p.may_ask(5), "not enabled");
        p.enable();
        assert!(p.may_ask(5));
        lock(&p.inodes).entry(5).or_default().cached += 1;
        assert!(!p.may_ask(5), "a cached open is there");
        p.released(5, IoMode::Cached);
        assert!(p.may_ask(5));
        assert!(
            lock(&p.inodes).is_empty(),
            "nothing kept for a closed inode"
        );
    }
}
