//! The table of entries, with every figure and index the core needs about all of them kept
//! up to date as entries change, so that no request walks the table.
//!
//! Entries are changed in place through [`EntryTable::get_mut`], which notes the entry as
//! touched. [`EntryTable::settle`] (run before any of the figures or indexes is read) looks
//! at each touched entry once and moves the totals and indexes from what the entry counted
//! for before to what it counts for now ([`Accounted`]): O(log n) per touched entry, never
//! O(entries). [`EntryTable::check`] recomputes everything from scratch, for tests and the
//! simulator.
//!
//! Idle clean entries are kept in their compact form ([`IdleEntry`]): [`EntryTable::rest`]
//! (run at the end of every input) compacts the entries that became idle during it, and
//! every way to reach an entry that may be idle wakes it ([`EntryTable::get_mut`],
//! [`EntryTable::wake`], [`EntryTable::lru_next`], [`EntryTable::sourcing_from`]).
//! [`EntryTable::get`] sees full entries only; reading an idle one through it is a bug that
//! [`EntryTable::check`] reports.

use super::entry::Entry;
use super::idle::IdleEntry;
use crate::ids::EntryId;
use crate::records::EntryRecord;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

/// One entry, in full or compact form.
#[derive(Debug)]
enum Slot {
    Active(Box<Entry>),
    Idle(IdleEntry),
}

/// What one entry contributes to the table's totals and indexes, as last settled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Accounted {
    cached: u64,
    dirty: u64,
    /// Fetched chunks it holds in memory (they found the disk full).
    direct: u64,
    /// Its slot in the LRU: the access time, when it holds chunks eviction may take.
    lru: Option<u64>,
    persist_due: bool,
    snapshotted: bool,
    unpersisted: bool,
    busy: bool,
    /// Hashes of the keys whose versions it uses as the source of its unchanged bytes, in
    /// memory and in the index.
    sources: [Option<u64>; 2],
}

/// All entries, by id, with running totals and indexes.
#[derive(Debug)]
pub(crate) struct EntryTable {
    map: BTreeMap<EntryId, Slot>,
    /// Entries changed since the last settle (may repeat).
    touched: Vec<EntryId>,
    /// Entries changed since the last rest: the candidates for the compact form.
    resting: Vec<EntryId>,
    /// Reads of an idle entry through `get` (each one a missed wake).
    idle_reads: Cell<u64>,
    chunk_size: u64,
    /// Entries holding only dirty chunks enter the LRU too (a planted bug evicts them).
    lru_takes_dirty: bool,
    /// Fetched bytes held in memory by entries (see `Accounted::direct`).
    direct: u64,
    cached: u64,
    dirty: u64,
    /// Entries holding clean chunks, least recently used first.
    lru: BTreeSet<(u64, EntryId)>,
    /// Entries whose state changed and that have no sync queued: the periodic commit's work.
    persist_due: BTreeSet<EntryId>,
    /// Entries holding a snapshot for the next transaction.
    snapshotted: BTreeSet<EntryId>,
    /// Entries with anything not yet committed.
    unpersisted: BTreeSet<EntryId>,
    /// Entries with jobs queued, running, parked or fetching.
    busy: BTreeSet<EntryId>,
    /// Entries by the hash of the key of the version they take their unchanged bytes from.
    by_source: BTreeSet<(u64, EntryId)>,
}

impl EntryTable {
    pub fn new(chunk_size: u64, lru_takes_dirty: bool) -> Self {
        EntryTable {
            map: BTreeMap::new(),
            touched: Vec::new(),
            resting: Vec::new(),
            idle_reads: Cell::new(0),
            chunk_size,
            lru_takes_dirty,
            cached: 0,
            dirty: 0,
            direct: 0,
            lru: BTreeSet::new(),
            persist_due: BTreeSet::new(),
            snapshotted: BTreeSet::new(),
            unpersisted: BTreeSet::new(),
            busy: BTreeSet::new(),
            by_source: BTreeSet::new(),
        }
    }

    /// The entry in full form; `None` for an idle one (wake it first).
    pub fn get(&self, id: &EntryId) -> Option<&Entry> {
        match self.map.get(id)? {
            Slot::Active(e) => Some(e),
            Slot::Idle(_) => {
                self.idle_reads.set(self.idle_reads.get() + 1);
                None
            }
        }
    }

    /// The entry if it is in full form, `None` if idle or absent; for questions an idle
    /// entry answers "no" to (has it an upload, a job, dirty bytes?).
    pub fn active_entry(&self, id: &EntryId) -> Option<&Entry> {
        match self.map.get(id)? {
            Slot::Active(e) => Some(e),
            Slot::Idle(_) => None,
        }
    }

    /// True when the entry exists in either form, is not dropped, is visible at `key` and its
    /// base version `etag` lives there (an idle entry's key is its remote key).
    pub fn is_home_at(&self, id: &EntryId, key: &str, etag: &str) -> bool {
        match self.map.get(id) {
            Some(Slot::Active(e)) => {
                !e.dropped
                    && e.key.as_deref() == Some(key)
                    && e.remote_key.as_deref() == Some(key)
                    && e.base.as_ref().is_some_and(|b| b.etag == etag)
            }
            Some(Slot::Idle(i)) => i.key() == key && i.etag() == etag,
            None => false,
        }
    }

    /// The entry, to change (woken if idle): it is settled before the figures are read next.
    pub fn get_mut(&mut self, id: &EntryId) -> Option<&mut Entry> {
        self.wake(id);
        let Some(Slot::Active(e)) = self.map.get_mut(id) else {
            return None;
        };
        self.touched.push(*id);
        Some(e)
    }

    /// Brings an idle entry back to full form (O(its chunks)). Returns whether it exists.
    pub fn wake(&mut self, id: &EntryId) -> bool {
        let accounted = match self.map.get(id) {
            None => return false,
            Some(Slot::Active(_)) => return true,
            Some(Slot::Idle(i)) => self.account_idle(i),
        };
        if let Some(slot) = self.map.get_mut(id) {
            if let Slot::Idle(i) = slot {
                let mut e = i.wake(*id);
                e.accounted = accounted;
                *slot = Slot::Active(Box::new(e));
            }
            self.touched.push(*id);
        }
        true
    }

    pub fn insert(&mut self, e: Entry) {
        let id = e.id;
        if let Some(old) = self.map.insert(id, Slot::Active(Box::new(e))) {
            let before = self.accounted_of(&old);
            self.unaccount(id, &before);
        }
        self.touched.push(id);
    }

    /// Fills an empty table with recovered entries at once: the maps are built from sorted
    /// runs (full nodes, no splits), which is both faster and smaller than inserting one by
    /// one. Entries in full form are accounted at the next settle.
    pub fn load(&mut self, idle: Vec<(EntryId, IdleEntry)>, full: Vec<Entry>) {
        if !self.map.is_empty() {
            for e in full {
                self.insert(e);
            }
            for (id, i) in idle {
                self.wake_from(id, i);
            }
            return;
        }
        let mut lru = Vec::new();
        let mut sources = Vec::new();
        for (id, i) in &idle {
            let a = self.account_idle(i);
            self.cached += a.cached;
            lru.extend(a.lru.map(|t| (t, *id)));
            sources.extend(a.sources.iter().flatten().map(|&h| (h, *id)));
        }
        self.touched.extend(full.iter().map(|e| e.id));
        self.map = idle
            .into_iter()
            .map(|(id, i)| (id, Slot::Idle(i)))
            .chain(full.into_iter().map(|e| (e.id, Slot::Active(Box::new(e)))))
            .collect();
        self.lru = lru.into_iter().collect();
        self.by_source = sources.into_iter().collect();
    }

    /// Inserts a compact entry into a table that is not empty: in full form, compacted again
    /// at the next rest.
    fn wake_from(&mut self, id: EntryId, i: IdleEntry) {
        self.insert(i.wake(id));
    }

    pub fn remove(&mut self, id: &EntryId) -> Option<Entry> {
        self.wake(id);
        let Slot::Active(e) = self.map.remove(id)? else {
            return None;
        };
        self.unaccount(*id, &e.accounted);
        Some(*e)
    }

    /// Entries in full form (idle ones are in no job, fetch, upload or commit).
    pub fn active(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.map.values().filter_map(|s| match s {
            Slot::Active(e) => Some(&**e),
            Slot::Idle(_) => None,
        })
    }

    /// Ids of the entries in full form.
    pub fn active_ids(&self) -> Vec<EntryId> {
        self.active().map(|e| e.id).collect()
    }

    /// The record the index holds for every entry once all is committed. O(everything).
    pub fn records(&self) -> Vec<EntryRecord> {
        self.map
            .iter()
            .map(|(id, s)| match s {
                Slot::Active(e) => e.record(),
                Slot::Idle(i) => i.wake(*id).record(),
            })
            .collect()
    }

    /// The record of one entry, in either form.
    pub fn record(&self, id: &EntryId) -> Option<EntryRecord> {
        Some(match self.map.get(id)? {
            Slot::Active(e) => e.record(),
            Slot::Idle(i) => i.wake(*id).record(),
        })
    }

    /// The ETag of the entry's base version, in either form.
    pub fn base_etag(&self, id: &EntryId) -> Option<Option<String>> {
        Some(match self.map.get(id)? {
            Slot::Active(e) => e.base.as_ref().map(|b| b.etag.clone()),
            Slot::Idle(i) => Some(i.etag().to_string()),
        })
    }

    /// Compacts the entries that became idle since the last call. Run at the end of an input,
    /// when no caller holds an entry id it expects in full form.
    pub fn rest(&mut self) {
        self.settle();
        for id in std::mem::take(&mut self.resting) {
            let Some(slot) = self.map.get_mut(&id) else {
                continue;
            };
            if let Slot::Active(e) = slot {
                if let Some(i) = IdleEntry::of(e) {
                    *slot = Slot::Idle(i);
                }
            }
        }
    }

    fn accounted_of(&self, s: &Slot) -> Accounted {
        match s {
            Slot::Active(e) => e.accounted.clone(),
            Slot::Idle(i) => self.account_idle(i),
        }
    }

    /// Brings the totals and indexes up to date with every entry changed since the last call.
    pub fn settle(&mut self) {
        for id in std::mem::take(&mut self.touched) {
            let Some(Slot::Active(e)) = self.map.get(&id) else {
                continue;
            };
            self.resting.push(id);
            let now = self.account(e);
            if now == e.accounted {
                continue;
            }
            let before = e.accounted.clone();
            self.unaccount(id, &before);
            self.add(id, &now);
            if let Some(Slot::Active(e)) = self.map.get_mut(&id) {
                e.accounted = now;
            }
        }
    }

    fn account(&self, e: &Entry) -> Accounted {
        let cached = e.chunks().bytes_within(e.local_size, self.chunk_size);
        let evictable =
            e.chunks().clean_count() > 0 || (self.lru_takes_dirty && e.chunks().len() > 0);
        Accounted {
            cached,
            dirty: e.dirty().covered_len(),
            direct: e.direct.values().map(|b| b.len() as u64).sum(),
            lru: evictable.then_some(e.atime),
            persist_due: e.persist_wanted && !e.sync_queued,
            snapshotted: e.snapshot.is_some(),
            unpersisted: e.persist_wanted
                || e.snapshot.is_some()
                || e.sync_queued
                || !e.finished_journal.is_empty(),
            busy: !e.idle(),
            sources: e.source_keys().map(|k| k.map(key_hash)),
        }
    }

    /// What an idle entry counts for: its chunks, its LRU slot, its key as a source.
    fn account_idle(&self, i: &IdleEntry) -> Accounted {
        Accounted {
            cached: i.cached_bytes(self.chunk_size),
            lru: i.has_chunks().then_some(i.atime()),
            sources: [Some(key_hash(i.key())), None],
            ..Accounted::default()
        }
    }

    fn add(&mut self, id: EntryId, a: &Accounted) {
        self.cached += a.cached;
        self.dirty += a.dirty;
        self.direct += a.direct;
        if let Some(t) = a.lru {
            self.lru.insert((t, id));
        }
        set_member(&mut self.persist_due, id, a.persist_due);
        set_member(&mut self.snapshotted, id, a.snapshotted);
        set_member(&mut self.unpersisted, id, a.unpersisted);
        set_member(&mut self.busy, id, a.busy);
        for &h in a.sources.iter().flatten() {
            self.by_source.insert((h, id));
        }
    }

    fn unaccount(&mut self, id: EntryId, a: &Accounted) {
        self.cached -= a.cached;
        self.dirty -= a.dirty;
        self.direct -= a.direct;
        if let Some(t) = a.lru {
            self.lru.remove(&(t, id));
        }
        self.persist_due.remove(&id);
        self.snapshotted.remove(&id);
        self.unpersisted.remove(&id);
        self.busy.remove(&id);
        for &h in a.sources.iter().flatten() {
            self.by_source.remove(&(h, id));
        }
    }

    /// Fetched bytes held in memory for lack of disk space, over all entries.
    pub fn direct_bytes(&mut self) -> u64 {
        self.settle();
        self.direct
    }

    /// Bytes held in the cache (every chunk, clipped to its entry's size).
    pub fn cached_bytes(&mut self) -> u64 {
        self.settle();
        self.cached
    }

    /// Dirty bytes not yet uploaded.
    pub fn dirty_bytes(&mut self) -> u64 {
        self.settle();
        self.dirty
    }

    /// Bytes held in the cache as of the last settle (the core settles after every input).
    pub fn settled_cached_bytes(&self) -> u64 {
        self.cached
    }

    /// Dirty bytes as of the last settle.
    pub fn settled_dirty_bytes(&self) -> u64 {
        self.dirty
    }

    /// The least recently used entries holding clean chunks, from the oldest, one at a time:
    /// the entry after `after` (exclusive), or the first.
    /// The entry returned is woken.
    pub fn lru_next(&mut self, after: Option<(u64, EntryId)>) -> Option<(u64, EntryId)> {
        self.settle();
        let next = match after {
            None => self.lru.first().copied(),
            Some(k) => self
                .lru
                .range((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded))
                .next()
                .copied(),
        };
        if let Some((_, id)) = next {
            self.wake(&id);
        }
        next
    }

    /// Entries whose state changed and that have no sync queued.
    pub fn persist_due(&mut self) -> Vec<EntryId> {
        self.settle();
        self.persist_due.iter().copied().collect()
    }

    /// Entries holding a snapshot for the next transaction.
    pub fn snapshotted(&mut self) -> Vec<EntryId> {
        self.settle();
        self.snapshotted.iter().copied().collect()
    }

    /// True when some entry has state not yet committed. Reads the last settle: the core
    /// settles at the end of every input.
    pub fn any_unpersisted(&self) -> bool {
        !self.unpersisted.is_empty()
    }

    /// The first entry with work pending, as of the last settle.
    pub fn first_busy(&self) -> Option<&Entry> {
        self.busy.first().and_then(|id| self.get(id))
    }

    /// Entries (other than dropped ones) whose unchanged bytes come from the version at `key`,
    /// woken.
    pub fn sourcing_from(&mut self, key: &str) -> Vec<EntryId> {
        self.settle();
        let h = key_hash(key);
        let candidates: Vec<EntryId> = self
            .by_source
            .range((h, EntryId(0))..=(h, EntryId(u64::MAX)))
            .map(|&(_, id)| id)
            .collect();
        let mut users = Vec::new();
        for id in candidates {
            self.wake(&id);
            if self
                .get(&id)
                .is_some_and(|e| e.source_keys().contains(&Some(key)))
            {
                users.push(id);
            }
        }
        users
    }

    /// Recomputes every total and index from scratch and compares: `Err` names the first
    /// that disagrees. O(everything): for tests and the simulator.
    pub fn check(&self) -> Result<(), String> {
        if !self.touched.is_empty() {
            return Err("entry table not settled".into());
        }
        if self.idle_reads.get() != 0 {
            return Err(format!(
                "{} reads of an idle entry without waking it",
                self.idle_reads.get()
            ));
        }
        let mut fresh = EntryTable::new(self.chunk_size, self.lru_takes_dirty);
        for (id, slot) in &self.map {
            let a = match slot {
                Slot::Active(e) => {
                    e.check_invariant(self.chunk_size)?;
                    let a = self.account(e);
                    if a != e.accounted {
                        return Err(format!(
                            "entry {} accounted {:?}, recomputed {a:?}",
                            e.id, e.accounted
                        ));
                    }
                    a
                }
                Slot::Idle(i) => {
                    let a = self.account_idle(i);
                    let full = i.wake(*id);
                    if self.account(&full) != a {
                        return Err(format!("idle entry {id} counts differently when woken"));
                    }
                    a
                }
            };
            fresh.add(*id, &a);
        }
        let pairs = [
            ("cached bytes", self.cached, fresh.cached),
            ("dirty bytes", self.dirty, fresh.dirty),
            ("bytes held in memory", self.direct, fresh.direct),
        ];
        for (what, kept, recomputed) in pairs {
            if kept != recomputed {
                return Err(format!("{what}: kept {kept}, recomputed {recomputed}"));
            }
        }
        let same = self.lru == fresh.lru
            && self.persist_due == fresh.persist_due
            && self.snapshotted == fresh.snapshotted
            && self.unpersisted == fresh.unpersisted
            && self.busy == fresh.busy
            && self.by_source == fresh.by_source;
        if !same {
            return Err("an entry index differs from its recomputation".into());
        }
        Ok(())
    }
}

/// FNV-1a of a key: the source index is keyed by it (keys are compared on lookup).
fn key_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn set_member(set: &mut BTreeSet<EntryId>, id: EntryId, member: bool) {
    if member {
        set.insert(id);
    }
}
#[cfg(test)]
mod size_probe {
    #[test]
    fn print_sizes() {
        eprintln!(
            "Entry {} JournalEntry {} Accounted {} Running {} Job {}",
            std::mem::size_of::<super::Entry>(),
            std::mem::size_of::<super::super::journal::JournalEntry>(),
            std::mem::size_of::<super::Accounted>(),
            std::mem::size_of::<super::super::jobs::Running>(),
            std::mem::size_of::<super::super::jobs::Job>()
        );
    }
}
