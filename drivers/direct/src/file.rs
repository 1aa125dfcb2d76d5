//! One open file of the path without a disk cache: the version it was opened at, the bytes
//! written since (in memory, under the budget), and the multipart upload that streams them
//! to the bucket part by part as soon as a whole part is written.
//!
//! Rules:
//! - A new version goes up conditionally: `If-Match` the version opened (or last stored),
//!   `If-None-Match: *` for a new object. Another writer's version in between is a
//!   [`Error::Conflict`], never overwritten.
//! - Bytes below the streamed upload's end are no longer in memory: a read, write or
//!   truncate below it first completes the upload (the object then holds them) and goes on
//!   from that version.
//! - Unchanged bytes of the base version are copied server-side (UploadPartCopy), not sent.

use crate::budget::Lease;
use crate::error::{Error, Result};
use crate::overlay::{Overlay, Piece};
use crate::reader::{get, join, Reader};
use crate::retry::retried;
use crate::Shared;
use bytes::Bytes;
use silt_core::Precondition;
use silt_remote::{ErrorKind, Meta, ObjectStore, RemoteError};
use std::ops::Range;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;

/// Now, in ms since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The version of the object a file was opened at (or last stored).
#[derive(Clone, Debug)]
pub(crate) struct Base {
    pub etag: String,
}

/// A multipart upload in progress.
#[derive(Debug)]
struct Stream {
    upload_id: String,
    token: String,
    mtime_ms: u64,
    parts: Vec<(u32, PartState)>,
    /// Bytes below this are in parts (sent or being sent).
    upto: u64,
}

/// What a part carries: bytes, or a range of the base version (ETag) copied server-side.
enum PartBody {
    Data(Bytes),
    Copy(String),
}

#[derive(Debug)]
enum PartState {
    Done(String),
    Running(JoinHandle<std::result::Result<String, RemoteError>>),
}

/// The state of an open file, shared by its handles.
#[derive(Debug)]
pub(crate) struct FileState {
    pub key: String,
    pub base: Option<Base>,
    /// Bytes of the base below this are the file's where not overwritten; above, zeros.
    pub base_visible: u64,
    pub size: u64,
    pub mtime_ms: u64,
    /// A time set explicitly (utimens), to store with the next version.
    mtime_set: Option<u64>,
    overlay: Overlay,
    /// Budget held by the overlay's bytes.
    lease: Lease,
    /// Something differs from the base (bytes, size, time, or the object is new).
    changed: bool,
    stream: Option<Stream>,
    /// Unlinked while open: nothing is stored any more.
    pub unlinked: bool,
    /// Bytes below this were sent as parts of an upload that unlinking aborted: they are
    /// gone, and reading them is an error.
    gone_below: u64,
    /// The token of the version being stored, kept across failed attempts while the
    /// content stays the same, so that an attempt that landed unanswered is recognised as
    /// this file's own.
    pending_token: Option<String>,
    lost: Option<String>,
    /// Bumped at every change: the attributes' version.
    pub generation: u64,
}

/// The length of part `number` (from 1) of an upload whose first parts are `base` bytes.
pub(crate) fn part_len(base: u64, number: u64) -> u64 {
    let doublings = ((number.max(1) - 1) / 1_000).min(10) as u32;
    (base << doublings).min(5 << 30)
}

impl FileState {
    /// A file opened at `base` (`None`: a new object) of `size` bytes.
    pub fn new<S>(shared: &Shared<S>, key: String, base: Option<(Base, u64, u64)>) -> FileState {
        let (base, size, mtime_ms, changed) = match base {
            Some((b, size, mtime)) => (Some(b), size, mtime, false),
            None => (None, 0, now_ms(), true),
        };
        FileState {
            key,
            base,
            base_visible: size,
            size,
            mtime_ms,
            mtime_set: None,
            overlay: Overlay::default(),
            lease: Lease::empty(&shared.budget),
            changed,
            stream: None,
            unlinked: false,
            gone_below: 0,
            pending_token: None,
            lost: None,
            generation: 0,
        }
    }

    /// Whether something is not in the bucket yet.
    pub fn dirty(&self) -> bool {
        self.changed || self.stream.is_some()
    }

    /// The version string of the attributes.
    pub fn version(&self) -> String {
        match (&self.base, self.dirty()) {
            (Some(b), false) => b.etag.clone(),
            _ => format!("local-{}", self.generation),
        }
    }

    fn check(&self) -> Result<()> {
        match &self.lost {
            Some(why) => Err(Error::Lost {
                key: self.key.clone(),
                why: why.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The length of the next part: `part_size` for the first 1 000 parts, doubling every
    /// 1 000 parts after (up to S3's 5 GiB), so that 10 000 parts reach about 8 TB with
    /// 8 MiB parts (S3 allows parts of different sizes, all but the last at least 5 MiB).
    fn next_part_len<S>(&self, shared: &Shared<S>) -> u64 {
        let number = self.stream.as_ref().map_or(1, |s| s.parts.len() as u64 + 1);
        part_len(shared.opts.part_size, number)
    }

    fn streamed(&self) -> u64 {
        self.stream.as_ref().map(|s| s.upto).unwrap_or(0)
    }

    fn touched(&mut self) {
        self.pending_token = None;
        self.changed = true;
        self.generation += 1;
        self.mtime_ms = now_ms();
        self.mtime_set = None;
    }

    /// Reads `range` (clamped to the size) through `reader`.
    pub async fn read<S: ObjectStore + 'static>(
        &mut self,
        shared: &Arc<Shared<S>>,
        reader: &mut Reader,
        range: Range<u64>,
    ) -> Result<Bytes> {
        self.check()?;
        if range.start < self.streamed() {
            self.flush(shared).await?;
        }
        let range = range.start.min(self.size)..range.end.min(self.size);
        let gone = range.start..range.end.min(self.gone_below);
        if !gone.is_empty() && !self.overlay.covers(gone) {
            return Err(Error::Lost {
                key: self.key.clone(),
                why: "unlinked while open: the bytes already sent to the bucket are gone".into(),
            });
        }
        self.compose(shared, Some(reader), range).await
    }

    /// Writes `data` at `offset`.
    pub async fn write<S: ObjectStore + 'static>(
        &mut self,
        shared: &Arc<Shared<S>>,
        offset: u64,
        data: Bytes,
    ) -> Result<()> {
        self.check()?;
        let len = data.len() as u64;
        if self.unlinked {
            // Nothing of an unlinked file is stored, but it is read back (a temporary file
            // unlinked while open): its bytes stay in memory, up to half the budget.
            if self.overlay.bytes() + len > shared.opts.memory_limit / 2
                || !self.lease.try_grow(len)
            {
                return Err(Error::Memory);
            }
            self.overlay.write(offset, data);
            self.lease.shrink_to(self.overlay.bytes());
            self.size = self.size.max(offset + len);
            self.touched();
            return Ok(());
        }
        if offset < self.streamed() || self.overlay.bytes() + len > shared.opts.memory_limit / 2 {
            self.flush(shared).await?;
        }
        if !self.lease.try_grow(len) {
            if !self.overlay.is_empty() || self.stream.is_some() {
                // Free what this file holds before waiting for the others.
                self.flush(shared).await?;
            }
            if !self.lease.grow(len, shared.opts.memory_wait).await {
                return Err(Error::Memory);
            }
        }
        self.overlay.write(offset, data);
        self.lease.shrink_to(self.overlay.bytes());
        self.size = self.size.max(offset + len);
        self.touched();
        self.stream_parts(shared).await
    }

    /// Cuts or extends the file to `size`.
    pub async fn truncate<S: ObjectStore + 'static>(
        &mut self,
        shared: &Arc<Shared<S>>,
        size: u64,
    ) -> Result<()> {
        self.check()?;
        if size < self.streamed() {
            self.flush(shared).await?;
        }
        self.overlay.cut(size);
        self.lease.shrink_to(self.overlay.bytes());
        self.base_visible = self.base_visible.min(size);
        self.size = size;
        self.touched();
        Ok(())
    }

    /// Sets the modification time stored with the next version.
    pub fn set_mtime(&mut self, mtime_ms: u64) -> Result<()> {
        self.check()?;
        self.pending_token = None;
        self.changed = true;
        self.generation += 1;
        self.mtime_ms = mtime_ms;
        self.mtime_set = Some(mtime_ms);
        Ok(())
    }

    /// Starts part uploads for every whole part written after the streamed end.
    async fn stream_parts<S: ObjectStore + 'static>(
        &mut self,
        shared: &Arc<Shared<S>>,
    ) -> Result<()> {
        loop {
            let start = self.streamed();
            let part = self.next_part_len(shared);
            if !self.overlay.covers(start..start + part) {
                return Ok(());
            }
            self.send_part(shared, start..start + part).await?;
        }
    }

    /// Opens the multipart upload if none is open.
    async fn open_stream<S: ObjectStore>(&mut self, shared: &Shared<S>) -> Result<()> {
        if self.stream.is_some() {
            return Ok(());
        }
        let token = shared.token();
        let mtime_ms = self.mtime_set.unwrap_or(self.mtime_ms);
        let meta = Meta {
            token: Some(&token),
            mtime_ms: Some(mtime_ms),
        };
        let upload_id = retried(shared.opts.retry_for, || {
            shared.store.create_multipart(&self.key, meta)
        })
        .await?;
        self.stream = Some(Stream {
            upload_id,
            token,
            mtime_ms,
            parts: Vec::new(),
            upto: 0,
        });
        Ok(())
    }

    /// Sends `range` (the next part, starting at the streamed end) as a part: copied from
    /// the base when none of its bytes changed, else its bytes (written, the base's, zeros)
    /// uploaded. At most `max_in_flight` parts are in flight; this waits for the oldest.
    async fn send_part<S: ObjectStore + 'static>(
        &mut self,
        shared: &Arc<Shared<S>>,
        range: Range<u64>,
    ) -> Result<()> {
        self.open_stream(shared).await?;
        self.settle_parts(shared, shared.opts.max_in_flight.saturating_sub(1))
            .await?;
        let copy = match &self.base {
            Some(b) if range.end <= self.base_visible && !self.overlay.touches(range.clone()) => {
                Some(b.etag.clone())
            }
            _ => None,
        };
        let (lease, body) = match copy {
            Some(etag) => (Lease::empty(&shared.budget), PartBody::Copy(etag)),
            None => {
                let data = self.compose(shared, None, range.clone()).await?;
                self.overlay.remove(range.clone());
                // The written bytes' budget goes with the part until it is sent, and the
                // rest of the part's buffer (the base's bytes, zeros) is charged too.
                let held = self.lease.bytes().saturating_sub(self.overlay.bytes());
                let mut lease = self.lease.split(held);
                let extra = (data.len() as u64).saturating_sub(held);
                if !lease.try_grow(extra) {
                    self.settle_parts(shared, 0).await?;
                    if !lease.grow(extra, shared.opts.memory_wait).await {
                        return Err(Error::Memory);
                    }
                }
                (lease, PartBody::Data(data))
            }
        };
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        let number = stream.parts.len() as u32 + 1;
        let (s, key, id) = (shared.clone(), self.key.clone(), stream.upload_id.clone());
        let end = range.end;
        let task = tokio::spawn(async move {
            let _lease = lease;
            let retry_for = s.opts.retry_for;
            match body {
                PartBody::Data(data) => {
                    retried(retry_for, || {
                        s.store.upload_part(&key, &id, number, data.clone())
                    })
                    .await
                }
                PartBody::Copy(etag) => {
                    retried(retry_for, || {
                        s.store
                            .upload_part_copy(&key, &id, number, &key, &etag, range.clone())
                    })
                    .await
                }
            }
        });
        stream.parts.push((number, PartState::Running(task)));
        stream.upto = end;
        Ok(())
    }

    /// Waits for running parts until at most `running` remain; a failed part loses the
    /// upload (its bytes are no longer in memory): it is aborted and the file refuses
    /// further requests.
    async fn settle_parts<S: ObjectStore>(
        &mut self,
        shared: &Shared<S>,
        running: usize,
    ) -> Result<()> {
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(());
            };
            let busy: Vec<usize> = (0..stream.parts.len())
                .filter(|&i| matches!(stream.parts[i].1, PartState::Running(_)))
                .collect();
            if busy.len() <= running {
                return Ok(());
            }
            let i = busy[0];
            let PartState::Running(task) = &mut stream.parts[i].1 else {
                continue;
            };
            let outcome = match task.await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(e) => Err(format!("part task: {e}")),
            };
            match outcome {
                Ok(etag) => stream.parts[i].1 = PartState::Done(etag),
                Err(why) => {
                    tracing::error!(
                        key = self.key,
                        error = why,
                        "a part upload failed: this version is lost"
                    );
                    self.drop_stream(shared).await;
                    return Err(self.lost_now(&why));
                }
            }
        }
    }

    /// The bytes of `range`: written ones, the base's below `base_visible` (through
    /// `reader`'s readahead when given, else one GET per gap), zeros above.
    async fn compose<S: ObjectStore + 'static>(
        &self,
        shared: &Arc<Shared<S>>,
        mut reader: Option<&mut Reader>,
        range: Range<u64>,
    ) -> Result<Bytes> {
        let mut out = Vec::new();
        for p in self.overlay.pieces(range.clone()) {
            match p {
                Piece::Written(b) => out.push(b),
                Piece::Gap(g) => {
                    let from_base = g.start..g.end.min(self.base_visible).max(g.start);
                    if let (Some(base), false) = (&self.base, from_base.is_empty()) {
                        let etag = &base.etag;
                        out.push(match reader.as_deref_mut() {
                            Some(r) => {
                                r.read(
                                    shared,
                                    &self.key,
                                    etag,
                                    from_base.clone(),
                                    self.base_visible,
                                )
                                .await?
                            }
                            None => get(shared, &self.key, etag, from_base.clone()).await?,
                        });
                    }
                    let zeros = from_base.end.max(g.start)..g.end;
                    if !zeros.is_empty() {
                        out.push(Bytes::from(vec![0u8; (zeros.end - zeros.start) as usize]));
                    }
                }
            }
        }
        Ok(join(out, range.end - range.start))
    }

    fn precondition(&self) -> Precondition {
        match &self.base {
            Some(b) => Precondition::IfMatch(b.etag.clone()),
            None => Precondition::IfNoneMatch,
        }
    }

    /// Stores the file's current content as a new version of the object, unless nothing
    /// changed; returns once the bucket holds it.
    pub async fn flush<S: ObjectStore + 'static>(&mut self, shared: &Arc<Shared<S>>) -> Result<()> {
        self.check()?;
        if self.unlinked {
            // Nothing to store: the bytes stay for the handles still open.
            self.drop_stream(shared).await;
            return Ok(());
        }
        // A time set while a streamed upload was out: stored by a second (copy-only) version.
        for _ in 0..2 {
            if !self.dirty() {
                return Ok(());
            }
            let stored_mtime = if self.stream.is_none()
                && self.size <= shared.opts.part_size
                && !(self.base.is_some()
                    && self.overlay.is_empty()
                    && self.size <= self.base_visible
                    && self.size > 0)
            {
                self.put_whole(shared).await?
            } else {
                self.finish_stream(shared).await?
            };
            self.mtime_ms = stored_mtime;
            if self.mtime_set.is_some_and(|m| m != stored_mtime) {
                self.changed = true;
            } else {
                self.mtime_set = None;
            }
        }
        Ok(())
    }

    /// The object was deleted while this file is open: nothing is stored from now on; the
    /// bytes written stay for the handles, the parts already sent are gone.
    pub async fn unlink<S: ObjectStore>(&mut self, shared: &Shared<S>) {
        self.unlinked = true;
        self.gone_below = self.gone_below.max(self.streamed());
        self.drop_stream(shared).await;
    }

    /// The last handle is gone: what was not stored is lost (a failed close said so), and
    /// the bytes held in memory give their budget back.
    pub fn closed(&mut self) {
        if self.dirty() && !self.unlinked {
            tracing::error!(
                key = self.key,
                size = self.size,
                "closed with changes not stored in the bucket: they are lost"
            );
        }
        self.unlinked = true;
        self.overlay.cut(0);
        self.lease.shrink_to(0);
    }

    /// Whether a multipart upload is open.
    pub fn has_stream(&self) -> bool {
        self.stream.is_some()
    }

    /// Goes on from version `etag`, which holds the file's content (after a rename's copy).
    pub fn rebase(&mut self, etag: String) {
        self.stored(etag);
    }

    /// Marks the file stored as `etag`.
    fn stored(&mut self, etag: String) {
        self.pending_token = None;
        self.base = Some(Base { etag });
        self.base_visible = self.size;
        self.overlay.cut(0);
        self.lease.shrink_to(0);
        self.changed = false;
        self.stream = None;
        self.generation += 1;
    }

    /// One PutObject of the whole file.
    async fn put_whole<S: ObjectStore + 'static>(
        &mut self,
        shared: &Arc<Shared<S>>,
    ) -> Result<u64> {
        let data = self.compose(shared, None, 0..self.size).await?;
        let token = self
            .pending_token
            .get_or_insert_with(|| shared.token())
            .clone();
        let mtime_ms = self.mtime_set.unwrap_or(self.mtime_ms);
        let meta = Meta {
            token: Some(&token),
            mtime_ms: Some(mtime_ms),
        };
        let pre = self.precondition();
        let put = retried(shared.opts.retry_for, || {
            shared.store.put(&self.key, data.clone(), Some(&pre), meta)
        })
        .await;
        match put {
            Ok(etag) => {
                self.stored(etag);
                Ok(mtime_ms)
            }
            Err(e) if e.kind == ErrorKind::PreconditionFailed => {
                if let Some(etag) = self.ours(shared, &token).await {
                    self.stored(etag);
                    return Ok(mtime_ms);
                }
                let copy = self.keep_conflict(shared, data, mtime_ms).await;
                Err(self.conflict(copy))
            }
            Err(e) => Err(Error::Remote(e)),
        }
    }

    /// Sends every part from the streamed end to the size and completes the upload.
    async fn finish_stream<S: ObjectStore + 'static>(
        &mut self,
        shared: &Arc<Shared<S>>,
    ) -> Result<u64> {
        self.open_stream(shared).await?;
        while self.streamed() < self.size {
            let start = self.streamed();
            let part = self.next_part_len(shared);
            self.send_part(shared, start..(start + part).min(self.size))
                .await?;
        }
        self.settle_parts(shared, 0).await?;
        let Some(stream) = self.stream.as_ref() else {
            return Err(self.lost_now("the upload vanished"));
        };
        let (id, token, mtime_ms) = (
            stream.upload_id.clone(),
            stream.token.clone(),
            stream.mtime_ms,
        );
        let parts: Vec<(u32, String)> = stream
            .parts
            .iter()
            .filter_map(|(n, p)| match p {
                PartState::Done(e) => Some((*n, e.clone())),
                PartState::Running(_) => None,
            })
            .collect();
        if parts.is_empty() {
            // An empty object: no multipart upload can make it.
            self.drop_stream(shared).await;
            return self.put_whole(shared).await;
        }
        let pre = self.precondition();
        let done = retried(shared.opts.retry_for, || {
            shared.store.complete(&self.key, &id, &parts, Some(&pre))
        })
        .await;
        match done {
            Ok(etag) => {
                self.stored(etag);
                Ok(mtime_ms)
            }
            Err(e)
                if matches!(
                    e.kind,
                    ErrorKind::PreconditionFailed | ErrorKind::NoSuchUpload
                ) =>
            {
                // A completion that took effect before its answer was lost looks like this
                // on the retry: the object then carries this upload's token.
                if let Some(etag) = self.ours(shared, &token).await {
                    self.stored(etag);
                    return Ok(mtime_ms);
                }
                self.drop_stream(shared).await;
                let err = self.conflict(None);
                self.lost = Some(err.to_string());
                Err(err)
            }
            Err(e) => Err(Error::Remote(e)),
        }
    }

    /// The object's ETag if the version in the bucket carries `token` (this file's own).
    async fn ours<S: ObjectStore>(&self, shared: &Shared<S>, token: &str) -> Option<String> {
        match shared.store.head(&self.key).await {
            Ok(Some(info)) if info.token.as_deref() == Some(token) => Some(info.etag),
            _ => None,
        }
    }

    /// Stores `data` beside the object, under a name of its own, after a conflict.
    async fn keep_conflict<S: ObjectStore>(
        &self,
        shared: &Shared<S>,
        data: Bytes,
        mtime_ms: u64,
    ) -> Option<String> {
        let name = format!("{}.silt-conflict-{}", self.key, now_ms());
        let meta = Meta {
            token: None,
            mtime_ms: Some(mtime_ms),
        };
        let put = retried(shared.opts.retry_for, || {
            shared
                .store
                .put(&name, data.clone(), Some(&Precondition::IfNoneMatch), meta)
        })
        .await;
        match put {
            Ok(_) => Some(name),
            Err(e) => {
                tracing::error!(key = self.key, error = %e, "the conflict copy could not be stored");
                None
            }
        }
    }

    fn conflict(&mut self, copy: Option<String>) -> Error {
        tracing::error!(
            key = self.key,
            copy,
            "another writer changed the object: not overwritten"
        );
        // The file goes on from nothing it could store: later requests fail.
        self.lost = Some("another writer changed the object".into());
        Error::Conflict {
            key: self.key.clone(),
            copy,
        }
    }

    fn lost_now(&mut self, why: &str) -> Error {
        self.lost = Some(why.to_string());
        Error::Lost {
            key: self.key.clone(),
            why: why.to_string(),
        }
    }

    /// Aborts the multipart upload, if any.
    pub async fn drop_stream<S: ObjectStore>(&mut self, shared: &Shared<S>) {
        if let Some(stream) = self.stream.take() {
            for (_, p) in &stream.parts {
                if let PartState::Running(t) = p {
                    t.abort();
                }
            }
            if let Err(e) = shared.store.abort(&self.key, &stream.upload_id).await {
                tracing::warn!(key = self.key, error = %e, "aborting a multipart upload failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::part_len;

    #[test]
    fn parts_grow_so_that_ten_thousand_reach_terabytes() {
        const MIB: u64 = 1 << 20;
        assert_eq!(part_len(8 * MIB, 1), 8 * MIB);
        assert_eq!(part_len(8 * MIB, 1_000), 8 * MIB);
        assert_eq!(part_len(8 * MIB, 1_001), 16 * MIB);
        assert_eq!(part_len(8 * MIB, 10_000), 4096 * MIB);
        assert_eq!(part_len(8 * MIB, 20_000), 5 << 30, "never above S3's 5 GiB");
        let reach: u64 = (1..=10_000).map(|n| part_len(8 * MIB, n)).sum();
        assert!(
            reach > 8_000_000_000_000,
            "10 000 parts reach {reach} bytes (8 TB)"
        );
    }
}
