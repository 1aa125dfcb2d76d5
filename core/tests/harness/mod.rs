//! A tiny hand-driven world for the core's scenario tests: cache files and the index in
//! memory, a virtual clock, and remote operations the test answers itself (or lets the
//! in-memory bucket, silt-memstore's `MemStore`, answer: the simulator's bucket too). Tests
//! read as scripts.
#![allow(dead_code)]

use bytes::Bytes;
use silt_core::{
    Core, CoreConfig, EntryId, Event, FileError, HandleId, IndexTxn, Input, Instant, IoId,
    LocalError, LocalOk, LocalOp, Output, Recovered, RemoteError, RemoteId, RemoteOk, RemoteOp,
    Reply, Request, RequestId, TxnId,
};
use silt_memstore::MemStore;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// A small configuration: 16-byte chunks, 32-byte parts.
pub fn small_config() -> CoreConfig {
    CoreConfig {
        chunk_size: 16,
        min_part_size: 32,
        multipart_threshold: 64,
        write_back_delay: Duration::from_millis(10),
        commit_interval: Duration::from_millis(100),
        retry_initial: Duration::from_millis(10),
        retry_max: Duration::from_millis(1000),
        cache_budget: 1 << 20,
        dirty_limit: 1 << 19,
        write_wait_timeout: Duration::from_millis(300),
        min_free_space: 0,
        ..CoreConfig::default()
    }
}

pub struct World {
    pub core: Core,
    pub now: u64,
    pub files: BTreeMap<EntryId, Vec<u8>>,
    pub index: Recovered,
    /// The bucket. Its parts but the last must be at least the core's `min_part_size`, as a
    /// real server's must be 5 MiB.
    pub bucket: MemStore,
    pub local: VecDeque<(IoId, LocalOp)>,
    pub txns: VecDeque<(TxnId, IndexTxn)>,
    pub remote: VecDeque<(RemoteId, RemoteOp)>,
    pub replies: BTreeMap<RequestId, Result<Reply, FileError>>,
    pub events: Vec<Event>,
    /// Every remote operation ever ordered, in order.
    pub remote_log: Vec<RemoteOp>,
    /// Every committed transaction, in order.
    pub txn_log: Vec<IndexTxn>,
    /// Every cache-file read executed: (entry, offset, len), in order.
    pub read_log: Vec<(EntryId, u64, u64)>,
    pub disk_full: bool,
    next_req: u64,
}

impl World {
    pub fn new(cfg: CoreConfig) -> Self {
        Self::recover(cfg, Recovered::default())
    }

    pub fn recover(cfg: CoreConfig, index: Recovered) -> Self {
        let mut bucket = MemStore::new();
        bucket.quirks.min_part_size = cfg.min_part_size;
        let core =
            Core::recover(cfg, index.clone(), Instant::from_millis(0)).expect("valid config");
        let mut w = World {
            core,
            now: 0,
            files: BTreeMap::new(),
            index,
            bucket,
            local: VecDeque::new(),
            txns: VecDeque::new(),
            remote: VecDeque::new(),
            replies: BTreeMap::new(),
            events: Vec::new(),
            remote_log: Vec::new(),
            txn_log: Vec::new(),
            read_log: Vec::new(),
            disk_full: false,
            next_req: 1,
        };
        w.input(Input::Timeout);
        w
    }

    /// Stores `data` at `key` as another writer would. Returns its ETag.
    pub fn put_object(&mut self, key: &str, data: &[u8]) -> String {
        self.bucket
            .outside_put(key, Bytes::copy_from_slice(data), self.now)
    }

    /// Feeds one input, then checks the core's bookkeeping and every entry's invariant
    /// (`Core::check_consistency`) before collecting the outputs.
    pub fn input(&mut self, i: Input) {
        self.core.handle_input(Instant::from_millis(self.now), i);
        if let Err(why) = self.core.check_consistency() {
            panic!("the core's bookkeeping broke: {why}");
        }
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Local(id, op) => self.local.push_back((id, op)),
                Output::Index(id, t) => self.txns.push_back((id, t)),
                Output::Remote(id, op) => {
                    self.remote_log.push(op.clone());
                    self.remote.push_back((id, op))
                }
                Output::Reply(r, x) => {
                    self.replies.insert(r, x);
                }
                Output::Event(e) => self.events.push(e),
            }
        }
    }

    pub fn request(&mut self, r: Request) -> RequestId {
        let id = RequestId(self.next_req);
        self.next_req += 1;
        self.input(Input::Request(id, r));
        id
    }

    /// Executes every pending local operation.
    pub fn run_local(&mut self) -> bool {
        let mut any = false;
        while let Some((id, op)) = self.local.pop_front() {
            any = true;
            let r = self.exec_local(&op);
            self.input(Input::Local(id, r));
        }
        any
    }

    /// Executes the first pending local operation `pick` accepts; false when there is none.
    pub fn run_local_one(&mut self, pick: impl Fn(&LocalOp) -> bool) -> bool {
        let Some(i) = self.local.iter().position(|(_, op)| pick(op)) else {
            return false;
        };
        let Some((id, op)) = self.local.remove(i) else {
            return false;
        };
        let r = self.exec_local(&op);
        self.input(Input::Local(id, r));
        true
    }

    fn exec_local(&mut self, op: &LocalOp) -> Result<LocalOk, LocalError> {
        let grow = |f: &mut Vec<u8>, n: usize| {
            if f.len() < n {
                f.resize(n, 0)
            }
        };
        match op {
            LocalOp::Write {
                entry,
                offset,
                data,
            } => {
                if self.disk_full {
                    return Err(LocalError::NoSpace);
                }
                let f = self.files.entry(*entry).or_default();
                let o = *offset as usize;
                grow(f, o + data.len());
                f[o..o + data.len()].copy_from_slice(data);
            }
            LocalOp::Read { entry, offset, len } => {
                self.read_log.push((*entry, *offset, *len));
                let f = self.files.entry(*entry).or_default();
                let mut out = vec![0; *len as usize];
                for (i, b) in out.iter_mut().enumerate() {
                    *b = f.get(*offset as usize + i).copied().unwrap_or(0);
                }
                return Ok(LocalOk::Data(Bytes::from(out)));
            }
            LocalOp::Zero { entry, offset, len } | LocalOp::Punch { entry, offset, len } => {
                let f = self.files.entry(*entry).or_default();
                let (o, n) = (*offset as usize, *len as usize);
                grow(f, o + n);
                f[o..o + n].fill(0);
            }
            LocalOp::SetLen { entry, size } => self
                .files
                .entry(*entry)
                .or_default()
                .resize(*size as usize, 0),
            LocalOp::Sync { .. } => {}
            LocalOp::Remove { entry } => {
                self.files.remove(entry);
            }
        }
        Ok(LocalOk::Done)
    }

    /// Commits every pending transaction.
    pub fn run_index(&mut self) -> bool {
        let mut any = false;
        while let Some((id, t)) = self.txns.pop_front() {
            any = true;
            self.index.apply(&t);
            self.txn_log.push(t);
            self.input(Input::Index(id, Ok(())));
        }
        any
    }

    /// Answers the oldest remote operation from the in-memory bucket.
    pub fn answer_remote(&mut self) -> Option<RemoteOp> {
        let (id, op) = self.remote.pop_front()?;
        let r = self.bucket_answer(&op);
        self.input(Input::Remote(id, r));
        Some(op)
    }

    /// Answers the oldest remote operation `pick` accepts from the in-memory bucket; the
    /// others stay queued.
    pub fn answer_remote_where(&mut self, pick: impl Fn(&RemoteOp) -> bool) -> Option<RemoteOp> {
        let i = self.remote.iter().position(|(_, op)| pick(op))?;
        let (id, op) = self.remote.remove(i)?;
        let r = self.bucket_answer(&op);
        self.input(Input::Remote(id, r));
        Some(op)
    }

    /// Answers the oldest remote operation with `r`.
    pub fn answer_remote_with(&mut self, r: Result<RemoteOk, RemoteError>) -> Option<RemoteOp> {
        let (id, op) = self.remote.pop_front()?;
        self.input(Input::Remote(id, r));
        Some(op)
    }

    /// The bucket's answer to `op`, now.
    fn bucket_answer(&mut self, op: &RemoteOp) -> Result<RemoteOk, RemoteError> {
        self.bucket.perform(op, self.now)
    }

    /// Advances the clock to the core's next timer (bounded by `max_ms`) and fires it.
    pub fn tick(&mut self, max_ms: u64) {
        let t = self
            .core
            .poll_timeout()
            .map_or(self.now + max_ms, |t| t.as_millis().min(self.now + max_ms));
        self.now = self.now.max(t);
        self.input(Input::Timeout);
    }

    /// Runs local I/O, commits and remote answers until nothing moves, advancing time when
    /// the core waits on a timer. Returns false if it did not settle within `steps`.
    pub fn drive(&mut self, steps: usize) -> bool {
        for _ in 0..steps {
            let moved = self.run_local() | self.run_index() | self.answer_remote().is_some();
            if !moved {
                if self.core.pending().is_none()
                    && self.local.is_empty()
                    && self.txns.is_empty()
                    && self.remote.is_empty()
                {
                    return true;
                }
                self.tick(1000);
            }
        }
        false
    }

    pub fn reply(&self, r: RequestId) -> Option<&Result<Reply, FileError>> {
        self.replies.get(&r)
    }

    pub fn open(&mut self, key: &str, create: bool) -> HandleId {
        let r = self.request(Request::Open {
            key: key.into(),
            flags: silt_core::OpenFlags::create_if(create),
        });
        for _ in 0..100 {
            if let Some(Ok(Reply::Opened { handle, .. })) = self.reply(r) {
                return *handle;
            }
            if self.answer_remote().is_none() {
                self.run_local();
                self.run_index();
            }
        }
        panic!("open of {key} did not complete: {:?}", self.reply(r));
    }

    /// Reads `len` bytes at `offset` through handle `h`, driving until answered; panics on
    /// anything but data.
    #[allow(dead_code)] // not every test file reads
    pub fn read(&mut self, h: silt_core::HandleId, offset: u64, len: u64) -> Vec<u8> {
        match self.call(Request::Read {
            handle: h,
            offset,
            len,
        }) {
            Ok(Reply::Data(d)) => d.to_vec(),
            other => panic!("read failed: {other:?}"),
        }
    }

    /// Sends a request and drives until it is answered.
    pub fn call(&mut self, req: Request) -> Result<Reply, FileError> {
        let r = self.request(req);
        for _ in 0..10_000 {
            if let Some(x) = self.replies.get(&r) {
                return x.clone();
            }
            let moved = self.run_local() | self.run_index() | self.answer_remote().is_some();
            if !moved {
                self.tick(50);
            }
        }
        panic!("request did not complete");
    }
}
