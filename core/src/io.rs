//! The core's one input type and one output type, and everything they carry.

use crate::ids::{EntryId, HandleId, IoId, RemoteId, RequestId, TxnId};
use crate::records::{ConflictRecord, IndexTxn, Precondition};
use bytes::Bytes;
use std::ops::Range;
use thiserror::Error;

/// A file request from the mount (or any embedder).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Open the file `key` (see [`OpenFlags`]). A key ending with `/`, or a directory, is
    /// `IsDirectory`; creating below a file is `NotADirectory`.
    Open {
        /// Object key.
        key: String,
        /// Create, exclusive create, truncate.
        flags: OpenFlags,
    },
    /// Read up to `len` bytes at `offset` (short at end of file).
    Read {
        /// Handle from `Open`.
        handle: HandleId,
        /// First byte.
        offset: u64,
        /// Bytes wanted.
        len: u64,
    },
    /// Write `data` at `offset`. Answered once the bytes are in the cache file.
    Write {
        /// Handle from `Open`.
        handle: HandleId,
        /// First byte.
        offset: u64,
        /// The bytes.
        data: Bytes,
    },
    /// Make everything written through this file durable (see `docs/durability.md`).
    Fsync {
        /// Handle from `Open`.
        handle: HandleId,
    },
    /// Set the file's size.
    Truncate {
        /// Handle from `Open`.
        handle: HandleId,
        /// New size.
        size: u64,
    },
    /// Set the file's modification time (`utimens`, `touch`, `cp -p`): kept locally at once
    /// (after the writes asked before it), durable when answered, and stored as object
    /// metadata `x-amz-meta-mtime`; for a file whose bytes are all unchanged the object is
    /// copied server-side with the new metadata, never uploaded again. A later write sets
    /// the time to that write's.
    SetMtime {
        /// Handle from `Open`.
        handle: HandleId,
        /// Modification time, ms since the Unix epoch.
        mtime_ms: u64,
    },
    /// Close a handle.
    Close {
        /// Handle from `Open`.
        handle: HandleId,
    },
    /// Remove `key`. Answered once the removal is journaled durably.
    Unlink {
        /// Object key.
        key: String,
    },
    /// Rename `from` to `to`, replacing `to`. Answered once journaled durably.
    Rename {
        /// Current key.
        from: String,
        /// New key.
        to: String,
    },
    /// What `key` is: a file, a directory, or nothing (`NotFound`). Answered from local
    /// state for a key the cache holds; otherwise from the server (a HEAD, then a listing of
    /// `key/`), remembered for `CoreConfig::stat_ttl`.
    Stat {
        /// Object key (no trailing `/`).
        key: String,
    },
    /// One page of the directory `dir` (`""` for the root, else ending with `/`): the names
    /// after `after`, remote ones overlaid with local state. Pages stay consistent while
    /// local changes happen: ask for the next with `after` = the page's `next`.
    List {
        /// The directory.
        dir: String,
        /// List names after this one (exclusive); `None` from the start.
        after: Option<String>,
        /// Names wanted (a page may hold a few more: local names between remote ones).
        max: u32,
    },
    /// Create the directory `key` (no trailing `/`): a marker object `key/`, uploaded with
    /// `If-None-Match: *` like any new file. Answered once journaled durably; `Exists` when
    /// a file or directory is already there.
    Mkdir {
        /// The directory's key, without the trailing `/`.
        key: String,
    },
    /// Remove the empty directory `key` (no trailing `/`): its marker object, if any, gets a
    /// journaled delete. `NotEmpty` when a file or directory is below it, locally or on the
    /// server; `NotADirectory` for a file. Answered once journaled durably.
    Rmdir {
        /// The directory's key, without the trailing `/`.
        key: String,
    },
    /// Rename the directory `from` to `to` (no trailing `/`): every key below it, journaled
    /// in one index transaction (all or none after a crash), answered once that is durable.
    /// `NotEmpty` when something is at `to/` already, `NotADirectory` when `from` or `to` is a
    /// file, `CrossDevice` above `CoreConfig::dir_rename_limit` keys or while a file below
    /// is busy (then `mv` copies instead).
    RenameDir {
        /// The directory's key.
        from: String,
        /// Its new key.
        to: String,
    },
    /// Upload now: every queued or retrying upload and delete becomes due at once (the
    /// write-back delay and the retry backoff are skipped) and every entry's state is
    /// committed, as the periodic commit would. Answered at once with `Flushed`; nothing is
    /// left to do when [`crate::Core::pending`] says so.
    Flush,
}

/// How [`Request::Open`] treats a missing or existing file (`O_CREAT`, `O_EXCL`, `O_TRUNC`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenFlags {
    /// Create the file, empty, when it does not exist.
    pub create: bool,
    /// With `create`: fail with `Exists` when the file exists.
    pub exclusive: bool,
    /// Cut the file to zero bytes once open.
    pub truncate: bool,
    /// The handle is for reading only, and the caller can let the kernel read the cache
    /// file itself (FUSE passthrough): the answer says whether it may
    /// ([`Reply::Opened`]'s `passthrough`). Granted only when every byte of the file is in
    /// its cache file and known right in this process; while such a handle is open the
    /// entry is pinned (see `docs/architecture.md`, "Passthrough"). Ignored with `truncate`.
    pub passthrough: bool,
}

impl OpenFlags {
    /// Open an existing file.
    pub const EXISTING: OpenFlags = OpenFlags {
        create: false,
        exclusive: false,
        truncate: false,
        passthrough: false,
    };
    /// Open, creating the file when missing.
    pub const CREATE: OpenFlags = OpenFlags {
        create: true,
        exclusive: false,
        truncate: false,
        passthrough: false,
    };
    /// Open an existing file for reading, asking for passthrough.
    pub const PASSTHROUGH: OpenFlags = OpenFlags {
        create: false,
        exclusive: false,
        truncate: false,
        passthrough: true,
    };

    /// `CREATE` when `create`, else `EXISTING`.
    pub fn create_if(create: bool) -> OpenFlags {
        if create {
            Self::CREATE
        } else {
            Self::EXISTING
        }
    }
}

/// The successful answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `Open` succeeded.
    Opened {
        /// The new handle.
        handle: HandleId,
        /// Current size of the file.
        size: u64,
        /// Passthrough granted (only to an open that asked): the entry whose cache file the
        /// kernel may read for this handle, exactly `size` bytes long now. The entry is
        /// pinned until the handle closes.
        passthrough: Option<EntryId>,
    },
    /// `Read` data (shorter than asked at end of file).
    Data(Bytes),
    /// `Write` done.
    Written {
        /// Bytes written.
        len: u64,
    },
    /// `Fsync` done: durable.
    Synced,
    /// `Truncate` done.
    Truncated,
    /// `SetMtime` done: the time is durable.
    MtimeSet,
    /// `Close` done.
    Closed,
    /// `Unlink` done and journaled.
    Unlinked,
    /// `Mkdir` done and journaled.
    DirCreated,
    /// `Rmdir` done and journaled.
    DirRemoved,
    /// `Rename` done and journaled.
    Renamed,
    /// `Flush` done: everything pending is due now.
    Flushed,
    /// `Stat`: the key's attributes.
    Attr(crate::attr::Attr),
    /// `List`: one page, and where the next starts (`None`: the last page).
    Listing {
        /// Names of the page, in key order.
        entries: Vec<crate::attr::DirEntry>,
        /// `after` for the next page.
        next: Option<String>,
    },
}

/// Why a request failed. Each maps to an errno at the mount.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FileError {
    /// No such object (ENOENT).
    #[error("no such object")]
    NotFound,
    /// A key longer than S3's 1024 bytes (ENAMETOOLONG).
    #[error("name too long: keys hold at most 1024 bytes")]
    NameTooLong,
    /// The handle is not open (EBADF).
    #[error("bad file handle")]
    BadHandle,
    /// The cache is full of data not yet uploaded and stayed full (ENOSPC).
    #[error("no space left in the cache: dirty data fills it and could not be uploaded in time")]
    NoSpace,
    /// The name exists already: exclusive create, mkdir (EEXIST).
    #[error("already exists")]
    Exists,
    /// A directory where a file is expected (EISDIR).
    #[error("is a directory")]
    IsDirectory,
    /// A file where a directory is expected (ENOTDIR).
    #[error("not a directory")]
    NotADirectory,
    /// A directory that still holds names (ENOTEMPTY).
    #[error("directory not empty")]
    NotEmpty,
    /// A rename the cache does not do in place (EXDEV; `mv` then copies and deletes): a
    /// directory with too many keys below it, or with a file below it in use.
    #[error("cannot rename this directory in place")]
    CrossDevice,
    /// A request that makes no sense, such as moving a directory into itself (EINVAL).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The target is busy (EBUSY).
    #[error("target is busy: {0}")]
    Busy(String),
    /// A local or remote I/O error (EIO).
    #[error("I/O error: {0}")]
    Io(String),
}

/// A cache-file operation.
///
/// Ordering contract for drivers: every operation the core emits may be executed at once,
/// concurrently with every other operation in flight, and completed in any order. The core
/// emits an operation only when nothing it must follow is still in flight: operations in
/// flight together on one entry are reads, or touch disjoint chunks (see
/// `docs/architecture.md`, "Jobs").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalOp {
    /// Write `data` at `offset`, extending the file if needed.
    Write {
        /// Entry (names the cache file).
        entry: EntryId,
        /// First byte.
        offset: u64,
        /// The bytes.
        data: Bytes,
    },
    /// Read exactly `len` bytes at `offset`; bytes past the end of the file read as zero.
    Read {
        /// Entry.
        entry: EntryId,
        /// First byte.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// Make `offset..offset+len` read as zeros, extending the file if needed (punch a hole
    /// where the platform can).
    Zero {
        /// Entry.
        entry: EntryId,
        /// First byte.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// Reclaim the space of `offset..offset+len` (eviction); the contents become undefined.
    Punch {
        /// Entry.
        entry: EntryId,
        /// First byte.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// Set the file's length.
    SetLen {
        /// Entry.
        entry: EntryId,
        /// New length.
        size: u64,
    },
    /// fsync the file's data.
    Sync {
        /// Entry.
        entry: EntryId,
    },
    /// Delete the cache file.
    Remove {
        /// Entry.
        entry: EntryId,
    },
}

impl LocalOp {
    /// The entry whose cache file the operation touches (the file named by its id).
    pub fn entry(&self) -> EntryId {
        match self {
            LocalOp::Write { entry, .. }
            | LocalOp::Read { entry, .. }
            | LocalOp::Zero { entry, .. }
            | LocalOp::Punch { entry, .. }
            | LocalOp::SetLen { entry, .. }
            | LocalOp::Sync { entry }
            | LocalOp::Remove { entry } => *entry,
        }
    }
}

/// A successful [`LocalOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalOk {
    /// Done.
    Done,
    /// The bytes of a `Read`.
    Data(Bytes),
}

/// A failed [`LocalOp`].
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LocalError {
    /// ENOSPC: the disk is full. A failed write may have written a prefix.
    #[error("no space left on device")]
    NoSpace,
    /// Any other I/O error.
    #[error("I/O error: {0}")]
    Io(String),
}

/// What a remote object is, as HEAD says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// ETag.
    pub etag: String,
    /// Size.
    pub size: u64,
    /// Modification time, ms since the Unix epoch: the object's `x-amz-meta-mtime` when it
    /// has one, else its Last-Modified.
    pub mtime_ms: u64,
    /// The upload token stored with it, if silt uploaded it.
    pub token: Option<String>,
}

/// An object-store operation. Every write is conditional unless the server lacks support.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteOp {
    /// HeadObject.
    Head {
        /// Key.
        key: String,
    },
    /// Ranged GetObject with `If-Match`; the driver reports the ETag it got back.
    Get {
        /// Key.
        key: String,
        /// Byte range.
        range: Range<u64>,
        /// Expected ETag.
        if_match: String,
    },
    /// PutObject.
    Put {
        /// Key.
        key: String,
        /// Whole content.
        data: Bytes,
        /// Condition on the replaced version (`None`: unconditional).
        precondition: Option<Precondition>,
        /// Token stored as object metadata.
        token: String,
        /// Modification time stored as object metadata (`x-amz-meta-mtime`), ms since the
        /// Unix epoch.
        mtime_ms: u64,
    },
    /// CreateMultipartUpload.
    CreateMultipart {
        /// Key.
        key: String,
        /// Token stored as object metadata.
        token: String,
        /// Modification time stored as object metadata (`x-amz-meta-mtime`), ms since the
        /// Unix epoch.
        mtime_ms: u64,
    },
    /// UploadPart.
    UploadPart {
        /// Key.
        key: String,
        /// Upload id.
        upload_id: String,
        /// Part number (1-based).
        part: u32,
        /// Part content.
        data: Bytes,
    },
    /// UploadPartCopy from `source_key` at version `source_etag` (copy-source-if-match).
    UploadPartCopy {
        /// Key.
        key: String,
        /// Upload id.
        upload_id: String,
        /// Part number (1-based).
        part: u32,
        /// Source key.
        source_key: String,
        /// Source version.
        source_etag: String,
        /// Source byte range.
        range: Range<u64>,
    },
    /// CompleteMultipartUpload.
    Complete {
        /// Key.
        key: String,
        /// Upload id.
        upload_id: String,
        /// Parts (number, ETag), ascending.
        parts: Vec<(u32, String)>,
        /// Condition on the replaced version (`None`: unconditional).
        precondition: Option<Precondition>,
    },
    /// AbortMultipartUpload.
    Abort {
        /// Key.
        key: String,
        /// Upload id.
        upload_id: String,
    },
    /// ListParts.
    ListParts {
        /// Key.
        key: String,
        /// Upload id.
        upload_id: String,
    },
    /// ListObjectsV2 with delimiter `/`: one page of the names under `prefix` after
    /// `start_after`.
    List {
        /// Prefix (a directory: `""` or ending with `/`).
        prefix: String,
        /// Names after this one (exclusive).
        start_after: Option<String>,
        /// At most this many names.
        max_keys: u32,
    },
    /// DeleteObject, `If-Match` when given.
    Delete {
        /// Key.
        key: String,
        /// Expected version.
        if_match: Option<String>,
    },
}

/// A successful [`RemoteOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteOk {
    /// HEAD: the object, or `None` when it does not exist.
    Head(Option<ObjectInfo>),
    /// GET: the bytes, the ETag the server returned and the object's total size.
    Got {
        /// Bytes of the range.
        data: Bytes,
        /// ETag returned.
        etag: String,
        /// Total object size.
        object_size: u64,
    },
    /// PUT / Complete: the new version's ETag.
    Stored {
        /// New ETag.
        etag: String,
    },
    /// CreateMultipartUpload.
    Created {
        /// Upload id.
        upload_id: String,
    },
    /// UploadPart / UploadPartCopy.
    Part {
        /// Part ETag.
        etag: String,
    },
    /// ListParts.
    Parts(Vec<(u32, String)>),
    /// ListObjectsV2: one page.
    Listed(crate::attr::RemotePage),
    /// Abort / Delete.
    Done,
}

/// A failed [`RemoteOp`], classified.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RemoteError {
    /// 5xx, throttling, timeout, reset: retried with backoff. The operation may or may not
    /// have taken effect.
    #[error("transient: {0}")]
    Transient(String),
    /// 412: the object (or the copy source) is not the expected version.
    #[error("precondition failed")]
    PreconditionFailed,
    /// 404 on the object.
    #[error("not found")]
    NotFound,
    /// The multipart upload id is unknown (completed, aborted or expired).
    #[error("no such upload")]
    NoSuchUpload,
    /// 403, no such bucket, invalid request: surfaced loudly, retried slowly.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Notifications for logs, metrics and the status command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An object version was stored.
    Uploaded {
        /// Key.
        key: String,
        /// New ETag.
        etag: String,
    },
    /// A clean cached object changed remotely; the cache now follows `etag` (`None`: deleted).
    Invalidated {
        /// Key.
        key: String,
        /// New ETag.
        etag: Option<String>,
    },
    /// The local version was kept as a conflict copy.
    Conflict(ConflictRecord),
    /// A journaled remote delete was skipped: the object changed since.
    DeleteSkipped {
        /// Key.
        key: String,
    },
    /// An upload failed; it will be retried.
    UploadFailed {
        /// Key.
        key: String,
        /// Attempts so far.
        attempts: u32,
        /// The error.
        error: String,
        /// Whether the error is permanent (needs an operator).
        permanent: bool,
    },
    /// Dirty data fills the cache and nothing could be evicted: writers get ENOSPC.
    SpaceExhausted {
        /// Dirty bytes.
        dirty_bytes: u64,
    },
    /// The cache cannot go on safely (a failed fsync or index commit); remount.
    Fatal(String),
}

/// Everything the core reacts to. Completions carry the id of the order they complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A file request.
    Request(RequestId, Request),
    /// A [`LocalOp`] finished.
    Local(IoId, Result<LocalOk, LocalError>),
    /// An index transaction finished (`Ok`: durable).
    Index(TxnId, Result<(), String>),
    /// A [`RemoteOp`] finished.
    Remote(RemoteId, Result<RemoteOk, RemoteError>),
    /// A reading of free space on the cache disk.
    DiskFree {
        /// Free bytes.
        bytes: u64,
    },
    /// Time passed (`poll_timeout` was reached). Safe to send early or twice.
    Timeout,
}

/// Everything the core asks of the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Answer a request.
    Reply(RequestId, Result<Reply, FileError>),
    /// Perform a cache-file operation; report with [`Input::Local`].
    Local(IoId, LocalOp),
    /// Commit a transaction durably; report with [`Input::Index`].
    Index(TxnId, IndexTxn),
    /// Perform an object-store operation; report with [`Input::Remote`].
    Remote(RemoteId, RemoteOp),
    /// A notification.
    Event(Event),
}
