//! Reads of an object's bytes with readahead, one per open handle: a reader that goes on
//! where it stopped is sequential, and gets a window of GETs in flight ahead of it that
//! doubles with every read up to `readahead_max` (as mountpoint-s3's prefetcher does); any
//! other read is one ranged GET of exactly what was asked.

use crate::budget::Lease;
use crate::error::{Error, Result};
use crate::retry::retried;
use crate::Shared;
use bytes::{Bytes, BytesMut};
use silt_remote::{ErrorKind, ObjectStore};
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The first window of a sequential reader.
const FIRST_WINDOW: u64 = 1 << 20;

/// One GET of the readahead.
#[derive(Debug)]
struct Fetch {
    range: Range<u64>,
    state: FetchState,
    /// The budget the bytes hold until they are read or dropped.
    _lease: Lease,
}

#[derive(Debug)]
enum FetchState {
    Running(JoinHandle<Result<Bytes>>),
    Ready(Bytes),
}

impl Drop for Fetch {
    fn drop(&mut self) {
        if let FetchState::Running(task) = &self.state {
            task.abort();
        }
    }
}

/// The readahead state of one handle.
#[derive(Debug, Default)]
pub struct Reader {
    /// The version the queued GETs read.
    etag: String,
    /// Where a sequential read would start.
    next: u64,
    window: u64,
    queue: VecDeque<Fetch>,
}

/// GETs `range` of `key`, which must still be version `etag`.
pub(crate) async fn get<S: ObjectStore>(
    shared: &Shared<S>,
    key: &str,
    etag: &str,
    range: Range<u64>,
) -> Result<Bytes> {
    let want = range.end - range.start;
    let got = retried(shared.opts.retry_for, || {
        shared.store.get_range(key, range.clone(), Some(etag))
    })
    .await
    .map_err(|e| match e.kind {
        ErrorKind::PreconditionFailed | ErrorKind::NotFound => Error::Changed {
            key: key.to_string(),
        },
        _ => Error::Remote(e),
    })?;
    if got.data.len() as u64 != want {
        return Err(Error::Changed {
            key: key.to_string(),
        });
    }
    Ok(got.data)
}

impl Reader {
    /// Forgets what was fetched ahead.
    pub fn clear(&mut self) {
        self.queue.clear();
        self.window = FIRST_WINDOW;
    }

    /// The bytes of `range` of version `etag` of `key`, which holds at least `limit` bytes
    /// (`range` ends at or below it).
    pub async fn read<S: ObjectStore + 'static>(
        &mut self,
        shared: &Arc<Shared<S>>,
        key: &str,
        etag: &str,
        range: Range<u64>,
        limit: u64,
    ) -> Result<Bytes> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        if self.etag != etag {
            self.clear();
            self.etag = etag.to_string();
        }
        let queued = match (self.queue.front(), self.queue.back()) {
            (Some(f), Some(b)) => f.range.start <= range.start && range.start < b.range.end,
            _ => false,
        };
        let sequential = range.start == self.next || queued || range.start == 0;
        if !sequential {
            self.clear();
            self.next = range.end;
            return get(shared, key, etag, range).await;
        }
        if self.window == 0 {
            self.window = FIRST_WINDOW;
        }
        while self
            .queue
            .front()
            .is_some_and(|f| f.range.end <= range.start)
        {
            self.queue.pop_front();
        }
        if self
            .queue
            .front()
            .is_some_and(|f| f.range.start > range.start)
        {
            self.queue.clear();
        }
        self.extend(shared, key, etag, range.clone(), limit);
        self.window = (self.window * 2).min(shared.opts.readahead_max);
        let out = self.collect(range.clone()).await;
        if out.is_err() {
            self.clear();
        }
        self.next = range.end;
        out
    }

    /// Queues GETs until the window ahead of `range.start` is covered (and at least
    /// `range`), as far as the budget and the in-flight bound allow.
    fn extend<S: ObjectStore + 'static>(
        &mut self,
        shared: &Arc<Shared<S>>,
        key: &str,
        etag: &str,
        range: Range<u64>,
        limit: u64,
    ) {
        let want_end = (range.start + self.window.max(range.end - range.start)).min(limit);
        let mut at = self
            .queue
            .back()
            .map(|f| f.range.end)
            .unwrap_or(range.start);
        let most = shared.opts.max_in_flight.max(1) * 2;
        while at < want_end {
            let demanded = at < range.end;
            if !demanded && self.queue.len() >= most {
                break;
            }
            let n = shared
                .opts
                .request_size
                .min(self.window)
                .min(limit - at)
                .max(range.end.saturating_sub(at).min(limit - at));
            let mut lease = Lease::empty(&shared.budget);
            if !lease.try_grow(n) && !demanded {
                break;
            }
            let fetch_range = at..at + n;
            let (s, k, e, r) = (
                shared.clone(),
                key.to_string(),
                etag.to_string(),
                fetch_range.clone(),
            );
            let task = tokio::spawn(async move { get(&s, &k, &e, r).await });
            self.queue.push_back(Fetch {
                range: fetch_range,
                state: FetchState::Running(task),
                _lease: lease,
            });
            at += n;
        }
    }

    /// The bytes of `range` from the queue, waiting for the GETs that hold them; fetches
    /// read to their end are dropped.
    async fn collect(&mut self, range: Range<u64>) -> Result<Bytes> {
        let mut parts: Vec<Bytes> = Vec::new();
        for f in self.queue.iter_mut() {
            if f.range.start >= range.end {
                break;
            }
            if let FetchState::Running(task) = &mut f.state {
                let data = match task.await {
                    Ok(r) => r?,
                    Err(e) => return Err(Error::Busy(format!("readahead task: {e}"))),
                };
                f.state = FetchState::Ready(data);
            }
            let FetchState::Ready(data) = &f.state else {
                continue;
            };
            let from = range.start.max(f.range.start);
            let to = range.end.min(f.range.end);
            if from < to {
                let a = (from - f.range.start) as usize;
                let b = (to - f.range.start) as usize;
                parts.push(data.slice(a..b));
            }
        }
        while self.queue.front().is_some_and(|f| f.range.end <= range.end) {
            self.queue.pop_front();
        }
        Ok(join(parts, range.end - range.start))
    }
}

/// `parts` in one buffer of `len` bytes (no copy for a single part).
pub(crate) fn join(mut parts: Vec<Bytes>, len: u64) -> Bytes {
    if parts.len() == 1 {
        return parts.pop().unwrap_or_default();
    }
    let mut buf = BytesMut::with_capacity(len as usize);
    for p in parts {
        buf.extend_from_slice(&p);
    }
    buf.freeze()
}
