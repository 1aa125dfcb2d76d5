//! [`Observer`]: the loop's view of the core's traffic, turned into metrics.
//!
//! The loop calls it for every request it submits, every order the core emits, every
//! completion and every reply and event. It keeps what a figure needs between an order and
//! its answer (start times, the bytes an upload request carries, the reads waiting), each
//! entry removed when its answer comes: O(1) per call, O(orders and reads in flight) memory.
//!
//! A read is a *miss* when a GET overlapping its range was in flight when it arrived or was
//! ordered before it was answered (it waited for the bucket), a *hit* otherwise (cache
//! file or read-ahead buffer).

use super::Metrics;
use silt_core::{
    Event, FileError, HandleId, IndexTxn, Input, IoId, LocalError, LocalOp, RemoteError, RemoteId,
    RemoteOk, RemoteOp, Reply, Request, RequestId, TxnId,
};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

/// What an upload of one key has done in its current attempt.
#[derive(Debug)]
struct UploadProgress {
    start: Instant,
    sent: u64,
    copied: u64,
}

/// One upload's outcome as the log line gives it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct UploadSummary {
    /// Bytes sent and copied server-side in this attempt.
    pub sent: u64,
    /// Bytes copied server-side.
    pub copied: u64,
    /// The attempt (1 for the first).
    pub attempt: u32,
    /// Seconds since the attempt's first request.
    pub seconds: f64,
}

/// An object-store operation in flight.
#[derive(Debug)]
struct RemoteCtx {
    op: &'static str,
    key: String,
    /// Bytes a PUT or UploadPart carries, or an UploadPartCopy copies.
    bytes: u64,
    /// A GET's range.
    range: Option<Range<u64>>,
    start: Instant,
}

/// A read not answered yet.
#[derive(Debug)]
struct PendingRead {
    key: String,
    range: Range<u64>,
    miss: bool,
}

/// The loop's observer (see the module doc).
#[derive(Debug)]
pub(crate) struct Observer {
    metrics: Arc<Metrics>,
    opening: HashMap<RequestId, String>,
    handles: HashMap<HandleId, String>,
    reads: HashMap<RequestId, PendingRead>,
    remote: HashMap<RemoteId, RemoteCtx>,
    /// GETs in flight by key: (id, range).
    gets: HashMap<String, Vec<(RemoteId, Range<u64>)>>,
    uploads: HashMap<String, UploadProgress>,
    /// Failed attempts of uploads not stored yet, by key.
    failed_attempts: HashMap<String, u32>,
    punches: HashMap<IoId, u64>,
    index: HashMap<TxnId, Instant>,
    space_waiters: usize,
}

fn overlaps(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end
}

impl Observer {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Observer {
        Observer {
            metrics,
            opening: HashMap::new(),
            handles: HashMap::new(),
            reads: HashMap::new(),
            remote: HashMap::new(),
            gets: HashMap::new(),
            uploads: HashMap::new(),
            failed_attempts: HashMap::new(),
            punches: HashMap::new(),
            index: HashMap::new(),
            space_waiters: 0,
        }
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// A request on its way to the core.
    pub(crate) fn request(&mut self, id: RequestId, req: &Request) {
        match req {
            Request::Open { key, .. } => {
                self.opening.insert(id, key.clone());
            }
            Request::Read {
                handle,
                offset,
                len,
            } => {
                let Some(key) = self.handles.get(handle) else {
                    return;
                };
                let range = *offset..offset.saturating_add(*len);
                let miss = self
                    .gets
                    .get(key)
                    .is_some_and(|g| g.iter().any(|(_, r)| overlaps(r, &range)));
                let key = key.clone();
                self.reads.insert(id, PendingRead { key, range, miss });
            }
            _ => {}
        }
    }

    /// The core's answer to a request.
    pub(crate) fn reply(&mut self, id: RequestId, result: &Result<Reply, FileError>) {
        if let Some(key) = self.opening.remove(&id) {
            if let Ok(Reply::Opened { handle, .. }) = result {
                self.handles.insert(*handle, key);
            }
            return;
        }
        if let Some(read) = self.reads.remove(&id) {
            if let Ok(Reply::Data(data)) = result {
                let result = if read.miss { "miss" } else { "hit" };
                let label = [("result", result)];
                self.metrics.reads.get_or_create(&label).inc();
                self.metrics
                    .read_bytes
                    .get_or_create(&label)
                    .inc_by(data.len() as u64);
            }
        }
    }

    /// A handle the core closed.
    pub(crate) fn closed(&mut self, handle: HandleId) {
        self.handles.remove(&handle);
    }

    /// A cache-file operation ordered.
    pub(crate) fn local(&mut self, id: IoId, op: &LocalOp) {
        if let LocalOp::Punch { len, .. } = op {
            self.punches.insert(id, *len);
        }
    }

    /// An index transaction ordered.
    pub(crate) fn index(&mut self, id: TxnId, txn: &IndexTxn) {
        self.metrics.index_txn_ops.observe(txn.ops.len() as f64);
        self.index.insert(id, Instant::now());
    }

    /// An object-store operation sent.
    pub(crate) fn remote(&mut self, id: RemoteId, op: &RemoteOp) {
        let start = Instant::now();
        let (key, bytes, range) = match op {
            RemoteOp::Get { key, range, .. } => {
                self.gets
                    .entry(key.clone())
                    .or_default()
                    .push((id, range.clone()));
                for read in self.reads.values_mut() {
                    if !read.miss && read.key == *key && overlaps(&read.range, range) {
                        read.miss = true;
                    }
                }
                (key, 0, Some(range.clone()))
            }
            RemoteOp::Put { key, data, .. } | RemoteOp::UploadPart { key, data, .. } => {
                (key, data.len() as u64, None)
            }
            RemoteOp::UploadPartCopy { key, range, .. } => {
                (key, range.end.saturating_sub(range.start), None)
            }
            RemoteOp::CreateMultipart { key, .. }
            | RemoteOp::Complete { key, .. }
            | RemoteOp::ListParts { key, .. } => (key, 0, None),
            RemoteOp::Abort { key, .. } => {
                self.uploads.remove(key);
                (key, 0, None)
            }
            RemoteOp::Head { key } | RemoteOp::Delete { key, .. } => (key, 0, None),
            RemoteOp::List { prefix, .. } => (prefix, 0, None),
        };
        if matches!(
            op,
            RemoteOp::Put { .. }
                | RemoteOp::CreateMultipart { .. }
                | RemoteOp::UploadPart { .. }
                | RemoteOp::UploadPartCopy { .. }
                | RemoteOp::ListParts { .. }
                | RemoteOp::Complete { .. }
        ) {
            self.uploads.entry(key.clone()).or_insert(UploadProgress {
                start,
                sent: 0,
                copied: 0,
            });
        }
        let ctx = RemoteCtx {
            op: crate::exec::op_name(op),
            key: key.clone(),
            bytes,
            range,
            start,
        };
        self.remote.insert(id, ctx);
    }

    /// A completion, before the core sees it.
    pub(crate) fn completed(&mut self, input: &Input) {
        match input {
            Input::Local(id, result) => {
                let punched = self.punches.remove(id);
                match result {
                    Ok(_) => {
                        if let Some(len) = punched {
                            self.metrics.evictions.inc();
                            self.metrics.evicted_bytes.inc_by(len);
                        }
                    }
                    Err(LocalError::NoSpace) => {
                        self.metrics.enospc.inc();
                    }
                    Err(LocalError::Io(_)) => {}
                }
            }
            Input::Index(id, _) => {
                if let Some(start) = self.index.remove(id) {
                    let secs = start.elapsed().as_secs_f64();
                    self.metrics.index_commit_seconds.observe(secs);
                }
            }
            Input::Remote(id, result) => self.remote_done(*id, result),
            _ => {}
        }
    }

    fn remote_done(&mut self, id: RemoteId, result: &Result<RemoteOk, RemoteError>) {
        let Some(ctx) = self.remote.remove(&id) else {
            return;
        };
        let m = &self.metrics;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        m.remote_requests
            .get_or_create(&[("op", ctx.op), ("outcome", outcome)])
            .inc();
        if ctx.range.is_some() {
            if let Some(gets) = self.gets.get_mut(&ctx.key) {
                gets.retain(|(g, _)| *g != id);
                if gets.is_empty() {
                    self.gets.remove(&ctx.key);
                }
            }
            m.fetches.inc();
            m.fetch_seconds.observe(ctx.start.elapsed().as_secs_f64());
            match result {
                Ok(RemoteOk::Got { data, .. }) => {
                    m.fetch_bytes.inc_by(data.len() as u64);
                }
                Ok(_) => {}
                Err(_) => {
                    m.fetch_errors.inc();
                }
            }
            return;
        }
        if result.is_err() || ctx.bytes == 0 {
            return;
        }
        let copied = ctx.op == "upload-part-copy";
        let how = if copied { "copied" } else { "sent" };
        m.upload_bytes
            .get_or_create(&[("how", how)])
            .inc_by(ctx.bytes);
        if let Some(p) = self.uploads.get_mut(&ctx.key) {
            if copied {
                p.copied += ctx.bytes;
            } else {
                p.sent += ctx.bytes;
            }
        }
    }

    /// An event of the core: counted; for an upload's outcome, what its log line says.
    pub(crate) fn event(&mut self, event: &Event) -> Option<UploadSummary> {
        let m = &self.metrics;
        match event {
            Event::Uploaded { key, .. } => {
                m.uploads_succeeded.inc();
                let failed = self.failed_attempts.remove(key).unwrap_or(0);
                let summary = self.summary(key, failed + 1);
                if let Some(s) = &summary {
                    self.metrics.upload_seconds.observe(s.seconds);
                }
                summary
            }
            Event::UploadFailed {
                key,
                attempts,
                permanent,
                ..
            } => {
                let kind = if *permanent { "permanent" } else { "transient" };
                m.upload_failures.get_or_create(&[("kind", kind)]).inc();
                self.failed_attempts.insert(key.clone(), *attempts);
                self.summary(key, *attempts)
            }
            Event::Conflict(c) => {
                m.conflicts.inc();
                let failed = self.failed_attempts.remove(&c.original_key).unwrap_or(0);
                self.summary(&c.original_key, failed + 1)
            }
            Event::Invalidated { .. } => {
                m.invalidations.inc();
                None
            }
            Event::DeleteSkipped { .. } => {
                m.deletes_skipped.inc();
                None
            }
            Event::SpaceExhausted { .. } => {
                m.space_exhausted.inc();
                None
            }
            Event::Fatal(_) => {
                m.fatal.set(1);
                None
            }
        }
    }

    /// Ends the attempt of `key`'s upload: what it did.
    fn summary(&mut self, key: &str, attempt: u32) -> Option<UploadSummary> {
        let p = self.uploads.remove(key)?;
        Some(UploadSummary {
            sent: p.sent,
            copied: p.copied,
            attempt,
            seconds: p.start.elapsed().as_secs_f64(),
        })
    }

    /// The core's count of jobs waiting for space after an input: each rise is a wait.
    pub(crate) fn space_waiters(&mut self, now: usize) {
        if now > self.space_waiters {
            let rise = (now - self.space_waiters) as u64;
            self.metrics
                .backpressure_waits
                .get_or_create(&[("reason", "space")])
                .inc_by(rise);
        }
        self.space_waiters = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn observer() -> Observer {
        Observer::new(Arc::new(Metrics::new()))
    }

    #[test]
    fn a_read_waiting_for_an_overlapping_fetch_is_a_miss_and_others_are_hits() {
        let mut o = observer();
        let (open, h) = (RequestId(1), HandleId(7));
        let key = "k".to_string();
        o.request(
            open,
            &Request::Open {
                key: key.clone(),
                flags: Default::default(),
            },
        );
        o.reply(
            open,
            &Ok(Reply::Opened {
                handle: h,
                size: 100,
                passthrough: None,
            }),
        );
        let read = |offset, len| Request::Read {
            handle: h,
            offset,
            len,
        };
        // A fetch of 0..64 ordered while the first read waits: a miss.
        o.request(RequestId(2), &read(0, 10));
        let get = RemoteOp::Get {
            key: key.clone(),
            range: 0..64,
            if_match: "e".into(),
        };
        o.remote(RemoteId(1), &get);
        // A read beside the fetch's range while it is in flight: a hit.
        o.request(RequestId(3), &read(64, 10));
        let data = Ok(RemoteOk::Got {
            data: Bytes::from(vec![0; 64]),
            etag: "e".into(),
            object_size: 100,
        });
        o.completed(&Input::Remote(RemoteId(1), data));
        o.reply(RequestId(2), &Ok(Reply::Data(Bytes::from(vec![0; 10]))));
        o.reply(RequestId(3), &Ok(Reply::Data(Bytes::from(vec![0; 10]))));
        let c = o.metrics().counters();
        assert_eq!((c.read_misses, c.read_hits), (1, 1));
        assert_eq!((c.read_miss_bytes, c.read_hit_bytes), (10, 10));
        assert_eq!((c.fetches, c.fetch_bytes), (1, 64));
    }

    #[test]
    fn upload_outcomes_are_counted_with_their_bytes_and_attempts() {
        let mut o = observer();
        let put = RemoteOp::Put {
            key: "a".into(),
            data: Bytes::from(vec![1; 300]),
            precondition: None,
            token: "t".into(),
            mtime_ms: 1_700_000_000_000,
        };
        o.remote(RemoteId(1), &put);
        o.completed(&Input::Remote(
            RemoteId(1),
            Err(RemoteError::Permanent("403".into())),
        ));
        let failed = Event::UploadFailed {
            key: "a".into(),
            attempts: 1,
            error: "permanent: 403".into(),
            permanent: true,
        };
        let s = o.event(&failed).expect("the attempt's summary");
        assert_eq!((s.sent, s.attempt), (0, 1));
        o.remote(RemoteId(2), &put);
        o.completed(&Input::Remote(
            RemoteId(2),
            Ok(RemoteOk::Stored { etag: "e".into() }),
        ));
        let s = o
            .event(&Event::Uploaded {
                key: "a".into(),
                etag: "e".into(),
            })
            .expect("summary");
        assert_eq!((s.sent, s.copied, s.attempt), (300, 0, 2));
        let c = o.metrics().counters();
        assert_eq!(c.upload_failures_permanent, 1);
        assert_eq!(c.upload_failures_transient, 0);
        assert_eq!(c.uploads_succeeded, 1);
        assert_eq!(c.upload_bytes_sent, 300);
    }
}
