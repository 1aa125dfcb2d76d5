//! The cache state machine. See the crate documentation for the driver contract.
//!
//! Methods of [`Core`] come in four kinds:
//! - constructors: [`Core::new`] for an empty cache, [`Core::recover`] from index contents;
//! - `handle_*`: inputs from the world ([`Core::handle_input`]);
//! - `poll_*`: outputs ([`Core::poll_output`], [`Core::poll_timeout`]);
//! - getters for status and for the simulator's checks.
//!
//! Inside, every object is an [`entry::Entry`] with a queue of jobs (`jobs.rs`) started in
//! order; reads run together, writes beside them only on other chunks, anything else alone
//! (`job_access.rs`), so the local operations of one entry never conflict and every job sees
//! the effects of the jobs before it that touch the same bytes. Fetches (`fetch.rs`), uploads and deletes (`upload.rs`, `journal.rs`),
//! commits (`commit.rs`) and eviction (`evict.rs`) feed jobs into those queues.

mod chunk_table;
mod commit;
mod dir_rename;
mod dirs;
mod dirty;
mod entry;
mod entry_table;
mod evict;
mod fetch;
mod idle;
mod job_access;
mod jobs;
mod journal;
mod journal_table;
mod memory;
mod namespace;
mod passthrough;
pub use journal_table::JournalSummary;
pub use memory::MemoryUse;
mod readahead;
mod recovery;
mod requests;
mod upload;
mod upload_pieces;

use crate::config::{ConfigError, CoreConfig};
use crate::ids::{EntryId, HandleId, IoId, JournalId, RemoteId, TxnId};
use crate::io::{Event, Input, LocalOp, Output, RemoteOp};
use crate::records::{ConflictRecord, EntryRecord, JournalRecord, Meta, Recovered};
use crate::rng::Rng;
use crate::time::Instant;
use commit::CommitState;
use entry_table::EntryTable;
use journal_table::JournalTable;
pub use readahead::ReadStats;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Why a remote operation was ordered: how to route its completion.
#[derive(Clone, Debug)]
pub(crate) enum RemoteCtx {
    /// HEAD of a key not cached, for an open, unlink or rename.
    Lookup { key: String, attempt: u32 },
    /// GET of one chunk.
    Fetch {
        entry: EntryId,
        chunk: u64,
        etag: String,
    },
    /// HEAD after a fetch saw another version.
    Revalidate { entry: EntryId },
    /// A step of an upload attempt.
    Upload {
        jid: JournalId,
        attempt: u32,
        step: upload::Step,
    },
    /// A journaled delete.
    Delete { jid: JournalId, checked: bool },
    /// The HEAD of a stat of a key the cache does not hold (`retried`: the second one).
    Stat { key: String, retried: bool },
    /// A page of a directory probe (`dirs.rs`).
    Probe { id: u64 },
    /// A page of the walk of a directory being renamed (`dir_rename.rs`).
    DirWalk { id: u64 },
    /// A page of a directory for a `List` request.
    List {
        req: crate::ids::RequestId,
        dir: String,
        after: Option<String>,
        /// `StatCache::changes` when the listing was asked: the names it brings are
        /// remembered only if no local change happened meanwhile.
        epoch: u64,
    },
    /// Fire and forget (abort of an abandoned multipart upload).
    Ignore,
}

/// The sans-IO cache core. See the crate documentation.
#[derive(Debug)]
pub struct Core {
    pub(crate) cfg: CoreConfig,
    pub(crate) now: Instant,
    pub(crate) rng: Rng,
    pub(crate) meta: Meta,
    pub(crate) meta_changed: bool,
    pub(crate) entries: EntryTable,
    pub(crate) names: BTreeMap<String, EntryId>,
    pub(crate) handles: BTreeMap<HandleId, EntryId>,
    pub(crate) journal: JournalTable,
    pub(crate) conflicts: Vec<ConflictRecord>,
    pub(crate) lookups: BTreeMap<String, Vec<requests::Pending>>,
    /// Lookups to send again after a transient failure: (when, key, attempt).
    pub(crate) lookup_retry: Vec<(Instant, String, u32)>,
    pub(crate) fetch: fetch::FetchState,
    pub(crate) readahead: readahead::ReadAhead,
    pub(crate) memory_waiters: memory::MemoryWaiters,
    pub(crate) stat_cache: namespace::StatCache,
    pub(crate) probes: dirs::Probes,
    pub(crate) dir_renames: dir_rename::Batches,
    pub(crate) commit: CommitState,
    pub(crate) space: evict::SpaceState,
    pub(crate) poisoned: Option<String>,
    pub(crate) next_commit: Instant,
    /// The LRU's logical clock (see [`Core::tick_atime`]).
    atime_clock: u64,
    /// Local operations in flight: the entry and the job (its slot) each belongs to.
    local_io: BTreeMap<IoId, (EntryId, u64)>,
    /// Slot of the next job to start, and of the job starting now (its operations carry it).
    next_slot: u64,
    pub(crate) starting_slot: u64,
    remote_io: BTreeMap<RemoteId, RemoteCtx>,
    out: VecDeque<Output>,
    next_handle: u64,
    next_io: u64,
    next_remote: u64,
    next_txn: u64,
    /// Entries whose job queue may be able to start a job.
    ready: BTreeSet<EntryId>,
    /// Open passthrough handles and the entry each pins (`machine/passthrough.rs`).
    pub(crate) passthrough: BTreeMap<HandleId, EntryId>,
}

impl Core {
    /// A core for an empty cache.
    pub fn new(cfg: CoreConfig, now: Instant) -> Result<Core, ConfigError> {
        Core::recover(cfg, Recovered::default(), now)
    }

    pub(crate) fn empty(cfg: CoreConfig, meta: Meta, now: Instant) -> Core {
        let entries = EntryTable::new(
            cfg.chunk_size,
            cfg.planted(crate::config::Bug::EvictDirtyChunk),
        );
        Core {
            rng: Rng::new(cfg.seed),
            next_commit: now.plus(cfg.commit_interval),
            cfg,
            now,
            atime_clock: meta.atime_clock,
            meta,
            meta_changed: false,
            entries,
            names: BTreeMap::new(),
            handles: BTreeMap::new(),
            journal: JournalTable::default(),
            conflicts: Vec::new(),
            lookups: BTreeMap::new(),
            lookup_retry: Vec::new(),
            fetch: fetch::FetchState::default(),
            readahead: readahead::ReadAhead::default(),
            memory_waiters: memory::MemoryWaiters::default(),
            stat_cache: namespace::StatCache::default(),
            probes: dirs::Probes::default(),
            dir_renames: dir_rename::Batches::default(),
            commit: CommitState::default(),
            space: evict::SpaceState::default(),
            poisoned: None,
            local_io: BTreeMap::new(),
            next_slot: 1,
            starting_slot: 0,
            remote_io: BTreeMap::new(),
            out: VecDeque::new(),
            next_handle: 1,
            next_io: 1,
            next_remote: 1,
            next_txn: 1,
            ready: BTreeSet::new(),
            passthrough: BTreeMap::new(),
        }
    }

    /// Handles one input at time `now`. Afterwards drain [`Core::poll_output`] until it
    /// returns `None`, then wait for the next input or [`Core::poll_timeout`].
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        self.now = self.now.max(now);
        match input {
            Input::Request(id, req) => self.handle_request(id, req),
            Input::Local(io, result) => {
                if let Some((eid, slot)) = self.local_io.remove(&io) {
                    self.on_local_done(eid, slot, result);
                }
            }
            Input::Index(txn, result) => self.on_txn_done(txn, result),
            Input::Remote(id, result) => {
                if let Some(ctx) = self.remote_io.remove(&id) {
                    self.on_remote_done(ctx, result);
                }
            }
            Input::DiskFree { bytes } => self.on_disk_free(bytes),
            Input::Timeout => self.on_timeout(),
        }
        self.pump();
        self.entries.rest();
        self.journal.settle();
    }

    /// The next output, or `None` when drained. Changes only after `handle_input`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When to send [`Input::Timeout`] if nothing else happens first. Always in the future
    /// of the last `now`, or `None` when no timer is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let now = self.now;
        let mut t = Some(self.next_commit);
        let mut consider = |c: Option<Instant>| {
            if let Some(c) = c.filter(|c| *c > now) {
                t = Some(t.map_or(c, |t: Instant| t.min(c)));
            }
        };
        consider(self.journal.next_timeout(now));
        consider(self.fetch.next_retry());
        consider(self.space.next_retry());
        consider(self.lookup_retry.iter().map(|r| r.0).min());
        t
    }

    fn on_timeout(&mut self) {
        if self.now >= self.next_commit {
            self.next_commit = self.now.plus(self.cfg.commit_interval);
            self.periodic_commit();
        }
        self.fetch_retry_due();
        self.space_retry_due();
        self.lookup_retry_due();
    }

    /// Runs everything that may have become possible, until nothing changes.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let before = (self.out.len(), self.ready.len(), self.commit.ready.len());
            self.schedule_journal();
            self.resume_memory_waiters();
            self.pump_fetches();
            self.maybe_evict();
            self.start_ready_jobs();
            self.maybe_commit();
            if (self.out.len(), self.ready.len(), self.commit.ready.len()) == before
                && self.ready.is_empty()
            {
                return;
            }
        }
        unreachable!("core pump did not settle: a scheduling loop is a bug");
    }

    pub(crate) fn emit_local(&mut self, eid: EntryId, op: LocalOp) {
        let io = IoId(self.next_io);
        self.next_io += 1;
        self.local_io.insert(io, (eid, self.starting_slot));
        self.out.push_back(Output::Local(io, op));
    }

    pub(crate) fn emit_remote(&mut self, ctx: RemoteCtx, op: RemoteOp) {
        let id = RemoteId(self.next_remote);
        self.next_remote += 1;
        self.remote_io.insert(id, ctx);
        self.out.push_back(Output::Remote(id, op));
    }

    pub(crate) fn emit_txn(&mut self, txn: crate::records::IndexTxn) -> TxnId {
        let id = TxnId(self.next_txn);
        self.next_txn += 1;
        self.out.push_back(Output::Index(id, txn));
        id
    }

    pub(crate) fn emit(&mut self, out: Output) {
        self.out.push_back(out);
    }

    pub(crate) fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    pub(crate) fn alloc_handle(&mut self) -> HandleId {
        let h = HandleId(self.next_handle);
        self.next_handle += 1;
        h
    }

    /// A fresh id for an entry or a journal record, never reused.
    pub(crate) fn alloc_id(&mut self) -> u64 {
        self.meta.next_id += 1;
        self.meta_changed = true;
        self.meta.next_id
    }

    /// The next logical access time. The clock lives in memory and is stored with the
    /// counters whenever they are written for another reason; recovery resumes it past every
    /// access time the index holds.
    pub(crate) fn tick_atime(&mut self) -> u64 {
        self.atime_clock += 1;
        self.atime_clock
    }

    /// A slot for a job about to start: the local operations it emits carry it.
    pub(crate) fn take_slot(&mut self) -> u64 {
        let s = self.next_slot;
        self.next_slot += 1;
        self.starting_slot = s;
        s
    }

    pub(crate) fn mark_ready(&mut self, eid: EntryId) {
        self.ready.insert(eid);
    }

    fn start_ready_jobs(&mut self) {
        while let Some(eid) = self.ready.pop_first() {
            self.start_next_job(eid);
        }
    }

    // ---- getters -------------------------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    /// Bytes held in the cache (clean and dirty chunks), as eviction accounts them.
    pub fn cached_bytes(&self) -> u64 {
        self.entries.settled_cached_bytes()
    }

    /// Bytes eviction may not take: every chunk of an entry with an upload in progress, a
    /// read waiting for chunks or a passthrough handle open, and every chunk holding dirty
    /// bytes elsewhere. They may take
    /// the cache past its budget until the operation ends or the data is uploaded.
    pub fn unevictable_bytes(&self) -> u64 {
        let cs = self.cfg.chunk_size;
        // Idle entries are clean and pinned by nothing: all theirs is evictable.
        self.entries
            .active()
            .map(|e| {
                let pinned = e.reading()
                    || e.pins > 0
                    || e.upload
                        .and_then(|j| self.journal.get(&j))
                        .is_some_and(|j| j.in_progress());
                if pinned {
                    e.cached_bytes(cs)
                } else {
                    e.chunks()
                        .keys()
                        .filter(|&&c| !e.evictable(c, cs))
                        .map(|&c| {
                            crate::chunks::chunk_range(c, cs)
                                .end
                                .min(e.local_size)
                                .saturating_sub(c * cs)
                        })
                        .sum()
                }
            })
            .sum()
    }

    /// Dirty bytes not yet uploaded.
    pub fn dirty_bytes(&self) -> u64 {
        self.entries.settled_dirty_bytes()
    }

    /// The record the core would store for `entry` now.
    pub fn entry_record(&self, entry: EntryId) -> Option<EntryRecord> {
        self.entries.record(&entry)
    }

    /// The entry visible at `key`, with the ETag of its base version.
    pub fn lookup(&self, key: &str) -> Option<(EntryId, Option<String>)> {
        let id = *self.names.get(key)?;
        Some((id, self.entries.base_etag(&id)?))
    }

    /// The journal records as they stand.
    pub fn journal_records(&self) -> Vec<JournalRecord> {
        self.journal.values().map(|j| j.rec.clone()).collect()
    }

    /// Conflicts recorded so far.
    pub fn conflicts(&self) -> &[ConflictRecord] {
        &self.conflicts
    }

    /// Everything the core would store now: equal to the index when [`Core::is_persisted`].
    pub fn persistent_view(&self) -> Recovered {
        let mut conflicts = self.conflicts.clone();
        conflicts.sort_by(|a, b| (a.entry, &a.conflict_key).cmp(&(b.entry, &b.conflict_key)));
        Recovered {
            entries: self.entries.records(),
            journal: self.journal.values().map(|j| j.rec.clone()).collect(),
            conflicts,
            meta: self.meta.clone(),
        }
    }

    /// True when everything the core knows is committed to the index and nothing is pending.
    pub fn is_persisted(&self) -> bool {
        self.commit.in_flight.is_none()
            && self.commit.ready.is_empty()
            && self.commit.pending_ops.is_empty()
            && !self.meta_changed
            && !self.journal.any_unpersisted()
            && !self.entries.any_unpersisted()
    }

    /// Why the core is not idle, or `None` when nothing is pending (no upload, delete, job,
    /// fetch, commit or lookup). For liveness checks and `silt status`.
    pub fn pending(&self) -> Option<String> {
        if let Some(e) = self.entries.first_busy() {
            return Some(format!(
                "entry {} has jobs (queued {}, parked {}, running {:?}, fetching {:?})",
                e.id,
                e.queue.len(),
                e.parked.len(),
                e.running.iter().map(|r| &r.job).collect::<Vec<_>>(),
                e.fetching
            ));
        }
        if let Some(j) = self.journal.values().next() {
            return Some(format!(
                "journal record {} for {:?} ({:?}): {:?} ({:?}), attempts {}, last error {:?}",
                j.rec.id,
                j.rec.path,
                j.rec.op,
                j.rec.status,
                j.phase,
                j.rec.attempts,
                j.rec.last_error
            ));
        }
        if let Some(e) = self.entries.active().find(|e| e.needs_upload()) {
            return Some(format!(
                "entry {} ({:?}) needs an upload but has none queued",
                e.id, e.key
            ));
        }
        if !self.remote_io.is_empty() || !self.local_io.is_empty() {
            return Some(format!(
                "{} remote and {} local operations in flight",
                self.remote_io.len(),
                self.local_io.len()
            ));
        }
        if !self.lookups.is_empty() || !self.space.waiters.is_empty() {
            return Some("lookups or writers waiting for space".to_string());
        }
        if !self.is_persisted() {
            return Some("index commit pending".to_string());
        }
        None
    }

    /// Recomputes every running total and index the core keeps (cached and dirty bytes, the
    /// LRU, the commit and journal queues) from scratch and compares them with the kept ones;
    /// `Err` names the first that disagrees. Costs O(everything): for tests and the simulator,
    /// which call it after every step.
    pub fn check_consistency(&self) -> Result<(), String> {
        self.entries.check()?;
        self.check_pins()?;
        self.readahead.check()?;
        self.journal.check()
    }

    /// The upload journal at a glance (counts, the oldest queued upload), for status.
    /// Costs O(records changed since it was last asked).
    pub fn journal_summary(&mut self) -> JournalSummary {
        self.journal.summary()
    }

    /// Bytes the core holds in memory now: fetches in flight, read buffers, chunks kept in
    /// memory on a full disk, upload bodies in flight (bounded by `CoreConfig::memory_limit`,
    /// see `machine/memory.rs`). Costs O(entries and records changed since it was last asked).
    pub fn memory_in_use(&mut self) -> MemoryUse {
        self.memory_use()
    }

    /// Fetched bytes held in memory to answer reads (bounded by
    /// `CoreConfig::read_buffer_limit`).
    pub fn read_buffer_bytes(&self) -> u64 {
        self.readahead.buffered_bytes()
    }

    /// The read path's counters since this core started.
    pub fn read_stats(&self) -> ReadStats {
        self.readahead.stats()
    }

    /// Present chunk states of `entry`, for checks.
    pub fn chunk_states(&self, entry: EntryId) -> Vec<(u64, crate::chunks::ChunkState)> {
        self.entries
            .get(&entry)
            .map(|e| e.chunks().iter().map(|(c, s)| (*c, *s)).collect())
            .unwrap_or_default()
    }

    /// True when `entry` has no job queued, running or parked and no fetch in flight (an
    /// idle or unknown entry has none), so its cache file has no operation pending and
    /// agrees with its record, for checks. A write waiting for disk space counts as at rest:
    /// it has changed nothing yet, or failed.
    pub fn entry_at_rest(&self, entry: EntryId) -> bool {
        self.entries.active_entry(&entry).is_none_or(|e| e.idle())
    }
}
