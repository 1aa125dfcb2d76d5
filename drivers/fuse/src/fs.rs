//! The FUSE filesystem: kernel requests translated into calls of the [`Backend`]: the
//! cache's [`CacheManager`](silt_tokio::CacheManager), or the bucket without a disk cache.
//!
//! Every request that reaches the engine runs as a task on the engine's tokio runtime and
//! answers the kernel from there, so the FUSE worker threads only decode and dispatch:
//! requests run concurrently and one slow fetch never holds up the others.

use crate::attrs::{fresh_file, now_ms, system_ms, Ownership};
use crate::backend::Backend;
use crate::dirs::DirStream;
use crate::errno::errno;
use crate::handles::{Handles, OpenFile};
use crate::inodes::{child_path, Inodes, Node, ROOT};
use crate::passthrough::Passthrough;
use crate::readdir::{self, DirSlot};
use bytes::Bytes;
use fuser::{
    Errno, FileHandle, FopenFlags, Generation, INodeNo, InitFlags, KernelConfig, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use silt_core::{Attr, FileKind};
use silt_tokio::CacheManager;
use std::ffi::OsStr;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What the mount asks of the kernel. The defaults are chosen from measurements
/// (`docs/benchmarks.md`, "FUSE settings"; `cargo run --release -p silt-fuse --example
/// fuse_settings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSettings {
    /// Largest write request, in bytes (FUSE `max_write`).
    pub max_write: u32,
    /// Requests the kernel keeps in flight in the background, readahead among them (FUSE
    /// `max_background`; the congestion threshold is three quarters of it).
    pub max_background: u16,
    /// Readahead of the mount in KiB: the mount's `read_ahead_kb` (its backing device info
    /// in sysfs), set once mounted. The kernel starts a FUSE mount at 128 KiB and lets the
    /// filesystem only lower it at init. `None`: left as the kernel set it.
    pub read_ahead_kb: Option<u32>,
}

impl Default for KernelSettings {
    fn default() -> Self {
        KernelSettings {
            max_write: 1 << 20,
            max_background: 16,
            read_ahead_kb: Some(1024),
        }
    }
}

/// How the mount presents the bucket.
#[derive(Clone, Copy, Debug)]
pub struct FsOptions {
    /// Owner and modes of every file and directory.
    pub ownership: Ownership,
    /// How long the kernel may keep attributes and names before asking again
    /// (`--stat-cache-ttl`).
    pub attr_ttl: Duration,
    /// `close()` returns once what was written through the file is durable in the cache
    /// (fsync on the last close of a written descriptor: `fsync_on_close`).
    pub fsync_on_close: bool,
    /// Let the kernel read fully cached files opened for reading straight from their cache
    /// files (FUSE passthrough, where the kernel offers it: `passthrough`).
    pub passthrough: bool,
}

/// What the filesystem's requests share: the engine, the inode table, the open handles.
#[derive(Debug)]
pub struct Shared {
    rt: tokio::runtime::Handle,
    backend: Backend,
    inodes: Inodes,
    handles: Handles,
    opts: FsOptions,
    /// The root directory's attributes (modified: when mounted).
    root: Attr,
    /// Passthrough opens and the kernel's per-inode I/O modes (`passthrough.rs`).
    pt: Passthrough,
    /// FUSE read requests served (reads the kernel does from cache files are not).
    reads: AtomicU64,
}

impl Shared {
    /// The inode table.
    pub(crate) fn inodes(&self) -> &Inodes {
        &self.inodes
    }

    /// What the files are served from.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The engine, when the mount has a disk cache.
    pub fn manager(&self) -> Option<&Arc<CacheManager>> {
        self.backend.manager()
    }

    /// FUSE read requests served so far (a read the kernel does from a cache file through
    /// passthrough is not one).
    pub fn read_requests(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Opens served from the cache file by the kernel (passthrough) so far, and whether
    /// passthrough is in use on this mount.
    pub fn passthrough_opens(&self) -> (u64, bool) {
        (self.pt.granted(), self.pt.enabled())
    }

    /// The engine, taking the shared state apart (once no request holds it); `None`
    /// without a disk cache.
    pub fn into_manager(self) -> Option<Arc<CacheManager>> {
        match self.backend {
            Backend::Cached(m) => Some(m),
            Backend::Direct(_) => None,
        }
    }

    /// Closes every file the kernel left open (an unmount with open descriptors), after the
    /// fsync `close` would have done.
    pub async fn close_all(&self) {
        for file in self.handles.drain_files() {
            release_file(self, file).await;
        }
    }

    fn attr(&self, ino: u64, attr: &Attr) -> fuser::FileAttr {
        self.opts.ownership.file_attr(ino, attr)
    }

    fn root_attr(&self) -> fuser::FileAttr {
        self.attr(ROOT, &self.root)
    }

    fn ttl(&self) -> &Duration {
        &self.opts.attr_ttl
    }
}

/// The filesystem handed to `fuser`.
#[derive(Debug)]
pub struct SiltFs {
    shared: Arc<Shared>,
    kernel: KernelSettings,
}

impl SiltFs {
    /// A filesystem over `backend`, whose requests run on `rt` (the engine's runtime).
    /// Without a disk cache, `close` always waits for the bucket (`fsync_on_close`).
    pub fn new(rt: tokio::runtime::Handle, backend: Backend, mut opts: FsOptions) -> SiltFs {
        if matches!(backend, Backend::Direct(_)) {
            opts.fsync_on_close = true;
        }
        SiltFs {
            kernel: KernelSettings::default(),
            shared: Arc::new(Shared {
                rt,
                backend,
                inodes: Inodes::new(),
                handles: Handles::default(),
                opts,
                root: Attr::directory(now_ms()),
                pt: Passthrough::default(),
                reads: AtomicU64::new(0),
            }),
        }
    }

    /// The filesystem asking `kernel` of the kernel at init.
    pub fn with_kernel(mut self, kernel: KernelSettings) -> SiltFs {
        self.kernel = kernel;
        self
    }

    /// The state shared with the requests (kept by the mount to close files at unmount).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    fn spawn<F>(&self, f: impl FnOnce(Arc<Shared>) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.shared.rt.spawn(f(self.shared.clone()));
    }

    fn node(&self, ino: INodeNo) -> Result<Node, Errno> {
        self.shared.inodes.get(ino.0).ok_or(Errno::ENOENT)
    }

    /// The path of `name` in the directory `parent`.
    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<String, Errno> {
        let parent = self.node(parent)?;
        if !parent.is_dir {
            return Err(Errno::ENOTDIR);
        }
        let name = name.to_str().ok_or(Errno::EINVAL)?;
        if name.is_empty() || name.contains('/') {
            return Err(Errno::EINVAL);
        }
        Ok(child_path(&parent.path, name))
    }

    /// Asks for FUSE passthrough (a disk cache, `passthrough` on, the kernel offering it)
    /// and says once whether the mount uses it.
    fn init_passthrough(&self, config: &mut KernelConfig) {
        let s = &self.shared;
        if !s.opts.passthrough || s.manager().is_none() {
            return;
        }
        let offered = config.capabilities().contains(InitFlags::FUSE_PASSTHROUGH);
        // A stack depth of 1: cache files on a plain file system (not an overlay).
        let accepted = offered
            && config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
            && config.set_max_stack_depth(1).is_ok();
        if accepted {
            s.pt.enable();
            tracing::info!(
                "FUSE passthrough on: files opened for reading whose bytes are all cached are read by the kernel from the cache file"
            );
        } else {
            tracing::info!(
                "FUSE passthrough unavailable (the kernel does not offer it; Linux 6.9 or later does): reads go through the mount"
            );
        }
    }

    fn file(&self, fh: FileHandle) -> Result<Arc<OpenFile>, Errno> {
        self.shared.handles.file(fh.0).ok_or(Errno::EBADF)
    }
}

/// Reports a request's failure at debug level (ENOENT is routine) and returns the errno.
/// An open for reading and writing of a file read through passthrough: refused, since a
/// writable `mmap` of it would map the cache file itself (`passthrough.rs`).
fn busy_beside_passthrough(path: &str) -> Errno {
    tracing::warn!(
        path,
        "open for reading and writing refused (EBUSY): the file is open for reading through \
         FUSE passthrough (set passthrough: false to allow it)"
    );
    Errno::EBUSY
}

pub(crate) fn failed(op: &str, path: &str, err: &silt_tokio::Error) -> Errno {
    let code = errno(err);
    if code == Errno::ENOENT {
        tracing::debug!(op, path, "not found");
    } else {
        tracing::warn!(op, path, error = %err, "request failed");
    }
    code
}

/// fsyncs a released file if `close` must make it durable, then closes it.
async fn release_file(s: &Shared, file: Arc<OpenFile>) {
    if let Some((ino, mode)) = file.io {
        s.pt.released(ino, mode);
    }
    if s.opts.fsync_on_close && file.take_written() {
        if let Err(e) = file.handle.fsync().await {
            tracing::warn!(key = file.handle.key(), error = %e, "fsync at release failed");
        }
    }
    match Arc::try_unwrap(file) {
        Ok(file) => {
            let key = file.handle.key().to_string();
            if let Err(e) = file.handle.close().await {
                tracing::warn!(key, error = %e, "close failed");
            }
        }
        // A request still holds it: the engine closes it when the last reference goes.
        Err(shared) => drop(shared),
    }
}

/// Opens the file at `path` (no handle of the caller names it), runs `op` on the handle,
/// fsyncs if `sync` and `close` must make changes durable (`fsync_on_close`), and closes it.
async fn on_path(
    s: &Shared,
    path: &str,
    sync: bool,
    op: impl AsyncFnOnce(&crate::backend::Handle) -> silt_tokio::Result<()>,
) -> silt_tokio::Result<()> {
    let handle = s.backend.open(path, silt_core::OpenFlags::EXISTING).await?;
    let done = op(&handle).await;
    let synced = if done.is_ok() && sync && s.opts.fsync_on_close {
        handle.fsync().await
    } else {
        Ok(())
    };
    let closed = handle.close().await;
    done.and(synced).and(closed)
}

/// How long a rename waits for the upload of the file it replaces.
const RENAME_BUSY_WAIT: Duration = Duration::from_secs(60);

/// Renames `from` to `to`; while the engine answers Busy (the file at `to` is being
/// uploaded, which the engine does not interrupt), waits and tries again, for
/// [`RENAME_BUSY_WAIT`] at most, so that `mv` over a file just written succeeds instead of
/// failing with EBUSY.
async fn rename_when_free(backend: &Backend, from: &str, to: &str) -> silt_tokio::Result<()> {
    let start = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match backend.rename(from, to).await {
            Err(silt_tokio::Error::Busy(why)) if start.elapsed() < RENAME_BUSY_WAIT => {
                tracing::debug!(from, to, why, "rename waits for an upload");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

fn kind_of(attr: &Attr) -> bool {
    attr.kind == FileKind::Directory
}

impl fuser::Filesystem for SiltFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if let Err(nearest) = config.set_max_write(self.kernel.max_write) {
            let _ = config.set_max_write(nearest);
        }
        if let Err(nearest) = config.set_max_background(self.kernel.max_background) {
            let _ = config.set_max_background(nearest);
        }
        let wanted = InitFlags::FUSE_ASYNC_READ
            | InitFlags::FUSE_BIG_WRITES
            | InitFlags::FUSE_ATOMIC_O_TRUNC
            | InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_READDIRPLUS_AUTO;
        let supported = wanted & config.capabilities();
        if config.add_capabilities(supported).is_err() {
            tracing::warn!("the kernel refused FUSE capabilities it offered");
        }
        tracing::debug!(?supported, "FUSE session initialised");
        self.init_passthrough(config);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let path = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        self.spawn(|s| async move {
            match s.backend.stat(&path).await {
                Ok(attr) => {
                    let ino = s.inodes.assign(&path, kind_of(&attr), true);
                    reply.entry(s.ttl(), &s.attr(ino, &attr), Generation(0));
                }
                Err(e) => match failed("lookup", &path, &e) {
                    // A negative entry (node 0): the kernel answers "not found" for the name
                    // itself for the TTL, so `open(O_CREAT)` after a `stat` of a new name
                    // costs no second lookup. A create or mkdir through the mount replaces it.
                    Errno::ENOENT => {
                        let nothing = s.attr(0, &Attr::directory(0));
                        reply.entry(s.ttl(), &nothing, Generation(0));
                    }
                    code => reply.error(code),
                },
            }
        });
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.shared.inodes.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if ino.0 == ROOT {
            return reply.attr(self.shared.ttl(), &self.shared.root_attr());
        }
        let node = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        self.spawn(|s| async move {
            match s.backend.stat(&node.path).await {
                Ok(attr) => reply.attr(s.ttl(), &s.attr(ino.0, &attr)),
                Err(e) => reply.error(failed("getattr", &node.path, &e)),
            }
        });
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if ino.0 == ROOT {
            return reply.attr(self.shared.ttl(), &self.shared.root_attr());
        }
        let node = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        if size.is_some() && node.is_dir {
            return reply.error(Errno::EISDIR);
        }
        let file = fh.and_then(|fh| self.shared.handles.file(fh.0));
        // A file's modification time is kept (object metadata `x-amz-meta-mtime`). Modes,
        // owners, access times and directories' times are the mount's, not the objects':
        // changes to them are accepted and not kept (as S3 mounts do), so that cp -p, touch
        // and tar work.
        let mtime_ms = mtime.filter(|_| !node.is_dir).map(|t| match t {
            TimeOrNow::SpecificTime(t) => system_ms(t),
            TimeOrNow::Now => now_ms(),
        });
        self.spawn(|s| async move {
            if let Some(size) = size {
                let truncated = match &file {
                    Some(f) => {
                        f.mark_written();
                        f.handle.truncate(size).await
                    }
                    None => on_path(&s, &node.path, true, async |h| h.truncate(size).await).await,
                };
                if let Err(e) = truncated {
                    return reply.error(failed("truncate", &node.path, &e));
                }
            }
            if let Some(ms) = mtime_ms {
                let set = match &file {
                    Some(f) => f.handle.set_mtime(ms).await,
                    None => on_path(&s, &node.path, false, async |h| h.set_mtime(ms).await).await,
                };
                if let Err(e) = set {
                    return reply.error(failed("utimens", &node.path, &e));
                }
            }
            match s.backend.stat(&node.path).await {
                Ok(attr) => reply.attr(s.ttl(), &s.attr(ino.0, &attr)),
                Err(e) => reply.error(failed("setattr", &node.path, &e)),
            }
        });
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let path = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        self.spawn(|s| async move {
            if let Err(e) = s.backend.mkdir(&path).await {
                return reply.error(failed("mkdir", &path, &e));
            }
            let ino = s.inodes.assign(&path, true, true);
            reply.entry(
                s.ttl(),
                &s.attr(ino, &Attr::directory(now_ms())),
                Generation(0),
            );
        });
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let path = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        self.spawn(|s| async move {
            match s.backend.rmdir(&path).await {
                Ok(()) => {
                    s.inodes.unlink(&path);
                    reply.ok();
                }
                Err(e) => reply.error(failed("rmdir", &path, &e)),
            }
        });
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let path = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        self.spawn(|s| async move {
            match s.backend.unlink(&path).await {
                Ok(()) => {
                    s.inodes.unlink(&path);
                    reply.ok();
                }
                Err(e) => reply.error(failed("unlink", &path, &e)),
            }
        });
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let (from, to) = match (self.child(parent, name), self.child(newparent, newname)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(e), _) | (_, Err(e)) => return reply.error(e),
        };
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return reply.error(Errno::EINVAL);
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        let known_dir = self.shared.inodes.find(&from).map(|(_, n)| n.is_dir);
        self.spawn(|s| async move {
            let from_is_dir = match known_dir {
                Some(d) => d,
                None => match s.backend.stat(&from).await {
                    Ok(a) => kind_of(&a),
                    Err(e) => return reply.error(failed("rename", &from, &e)),
                },
            };
            if from_is_dir {
                if no_replace && s.backend.stat(&to).await.is_ok() {
                    return reply.error(Errno::EEXIST);
                }
                // Every key below, in one transaction; EXDEV (too many keys, or a file in
                // use) makes `mv` copy and delete instead.
                return match s.backend.rename_dir(&from, &to).await {
                    Ok(()) => {
                        s.inodes.rename_tree(&from, &to);
                        reply.ok();
                    }
                    Err(e) => reply.error(failed("rename", &from, &e)),
                };
            }
            match s.backend.stat(&to).await {
                Ok(a) if kind_of(&a) => return reply.error(Errno::EISDIR),
                Ok(_) if no_replace => return reply.error(Errno::EEXIST),
                Ok(_) => {}
                Err(silt_tokio::Error::NotFound) => {}
                Err(e) => return reply.error(failed("rename", &to, &e)),
            }
            match rename_when_free(&s.backend, &from, &to).await {
                Ok(()) => {
                    s.inodes.rename(&from, &to);
                    reply.ok();
                }
                Err(e) => reply.error(failed("rename", &from, &e)),
            }
        });
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let node = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        if node.is_dir {
            return reply.error(Errno::EISDIR);
        }
        let truncate = flags.0 & libc::O_TRUNC != 0;
        let read_only = flags.0 & libc::O_ACCMODE == libc::O_RDONLY;
        let read_write = flags.0 & libc::O_ACCMODE == libc::O_RDWR;
        let ask = read_only && !truncate && self.shared.pt.may_ask(ino.0);
        self.spawn(|s| async move {
            if read_write && !s.pt.wait_unused(ino.0).await {
                return reply.error(busy_beside_passthrough(&node.path));
            }
            let open_flags = if ask {
                silt_core::OpenFlags::PASSTHROUGH
            } else {
                silt_core::OpenFlags::EXISTING
            };
            let handle = match s.backend.open(&node.path, open_flags).await {
                Ok(h) => h,
                Err(e) => return reply.error(failed("open", &node.path, &e)),
            };
            let file = OpenFile::new(handle);
            if truncate {
                file.mark_written();
                if let Err(e) = file.handle.truncate(0).await {
                    let code = failed("open(O_TRUNC)", &node.path, &e);
                    release_file(&s, Arc::new(file)).await;
                    return reply.error(code);
                }
            }
            let granted = file
                .handle
                .passthrough()
                .and_then(|id| s.backend.cache_file(id));
            let mut slot = Some(file);
            let answered =
                s.pt.answer_open(reply, ino.0, granted.as_deref(), read_write, |mode| {
                    let file = slot.take().expect("registered once");
                    s.handles.add_file(file.with_io(ino.0, mode))
                });
            if let (Err(reply), Some(file)) = (answered, slot) {
                // A passthrough open came while this one was being made.
                release_file(&s, Arc::new(file)).await;
                reply.error(busy_beside_passthrough(&node.path));
            }
        });
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let path = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let truncate = flags & libc::O_TRUNC != 0;
        let open_flags = silt_core::OpenFlags {
            create: true,
            exclusive: flags & libc::O_EXCL != 0,
            truncate: false,
            passthrough: false,
        };
        self.spawn(|s| async move {
            let handle = match s.backend.open(&path, open_flags).await {
                Ok(h) => h,
                Err(e) => return reply.error(failed("create", &path, &e)),
            };
            let mut size = handle.size_at_open();
            let file = OpenFile::new(handle);
            // A new file is made durable by the close that follows, like any write.
            file.mark_written();
            if truncate && size > 0 {
                if let Err(e) = file.handle.truncate(0).await {
                    let code = failed("create(O_TRUNC)", &path, &e);
                    release_file(&s, Arc::new(file)).await;
                    return reply.error(code);
                }
                size = 0;
            }
            let ino = s.inodes.assign(&path, false, true);
            let attr = s.attr(ino, &fresh_file(size));
            let answer = |reply: ReplyCreate, fh, flags, backing: Option<&fuser::BackingId>| {
                let (ttl, g, fh) = (s.ttl(), Generation(0), FileHandle(fh));
                match backing {
                    Some(b) => reply.created_passthrough(ttl, &attr, g, fh, flags, b),
                    None => reply.created(ttl, &attr, g, fh, flags),
                }
            };
            let mut slot = Some(file);
            let read_write = flags & libc::O_ACCMODE == libc::O_RDWR;
            let answered = s.pt.answer_create(reply, ino, read_write, answer, |mode| {
                let file = slot.take().expect("registered once");
                s.handles.add_file(file.with_io(ino, mode))
            });
            if let (Err(reply), Some(file)) = (answered, slot) {
                release_file(&s, Arc::new(file)).await;
                reply.error(busy_beside_passthrough(&path));
            }
        });
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let file = match self.file(fh) {
            Ok(f) => f,
            Err(e) => return reply.error(e),
        };
        self.shared.reads.fetch_add(1, Ordering::Relaxed);
        self.spawn(|_| async move {
            match file.handle.read(offset, u64::from(size)).await {
                Ok(data) => reply.data(&data),
                Err(e) => reply.error(failed("read", file.handle.key(), &e)),
            }
        });
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let file = match self.file(fh) {
            Ok(f) => f,
            Err(e) => return reply.error(e),
        };
        let data = Bytes::copy_from_slice(data);
        self.spawn(|_| async move {
            file.mark_written();
            match file.handle.write(offset, data).await {
                Ok(len) => reply.written(u32::try_from(len).unwrap_or(u32::MAX)),
                Err(e) => reply.error(failed("write", file.handle.key(), &e)),
            }
        });
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        let file = match self.file(fh) {
            Ok(f) => f,
            Err(e) => return reply.error(e),
        };
        if !self.shared.opts.fsync_on_close || !file.take_written() {
            return reply.ok();
        }
        self.spawn(|_| async move {
            match file.handle.fsync().await {
                Ok(()) => reply.ok(),
                Err(e) => {
                    file.mark_written();
                    reply.error(failed("close (fsync)", file.handle.key(), &e));
                }
            }
        });
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let Some(file) = self.shared.handles.remove_file(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        self.spawn(|s| async move {
            release_file(&s, file).await;
            reply.ok();
        });
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let file = match self.file(fh) {
            Ok(f) => f,
            Err(e) => return reply.error(e),
        };
        self.spawn(|_| async move {
            let written = file.take_written();
            match file.handle.fsync().await {
                Ok(()) => reply.ok(),
                Err(e) => {
                    if written {
                        file.mark_written();
                    }
                    reply.error(failed("fsync", file.handle.key(), &e));
                }
            }
        });
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let node = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        if !node.is_dir {
            return reply.error(Errno::ENOTDIR);
        }
        let fh = self.shared.handles.add_dir(DirStream::new(node.path));
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(dir) = self.shared.handles.dir(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        self.spawn(|s| async move {
            let add = |d: DirSlot<'_>| reply.add(INodeNo(d.ino), d.next, d.kind, d.name);
            match readdir::fill(&s, dir, ino.0, offset, false, add).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let Some(dir) = self.shared.handles.dir(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        self.spawn(|s| async move {
            let ttl = *s.ttl();
            let add = |d: DirSlot<'_>| {
                let attr = s.attr(d.ino, d.attr);
                reply.add(INodeNo(d.ino), d.next, d.name, &ttl, &attr, Generation(0))
            };
            match readdir::fill(&s, dir, ino.0, offset, true, add).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.shared.handles.remove_dir(fh.0);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // A bucket has no fixed size: report plenty of room (as S3 mounts do), so that
        // tools checking free space before copying go ahead.
        const BLOCKS: u64 = 1 << 40;
        const FILES: u64 = 1 << 30;
        reply.statfs(BLOCKS, BLOCKS, BLOCKS, FILES, FILES, 4096, 255, 4096);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }
}
