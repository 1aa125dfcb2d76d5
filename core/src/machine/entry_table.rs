//! The table of entries, with every figure and index the core needs about all of them kept
//! up to date as entries change, so that no request walks the table.
//!
//! Entries are changed in place through [`EntryTable::get_mut`], which notes the entry as
//! touched. [`EntryTable::settle`] (run before any of the figures or indexes is read) looks
//! at each touched entry once and moves the totals and indexes from what the entry counted
//! for before to what it counts for now ([`Accounted`]): O(log n) per touched entry, never
//! O(entries). [`EntryTable::check`] recomputes everything from scratch, for tests and the
//! simulator.

use super::entry::Entry;
use crate::ids::EntryId;
use std::collections::{BTreeMap, BTreeSet};

/// What one entry contributes to the table's totals and indexes, as last settled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Accounted {
    cached: u64,
    dirty: u64,
    /// Its slot in the LRU: the access time, when it holds chunks eviction may take.
    lru: Option<u64>,
    persist_due: bool,
    snapshotted: bool,
    unpersisted: bool,
    busy: bool,
    /// The key whose version it uses as the source of its unchanged bytes.
    source_key: Option<String>,
}

/// All entries, by id, with running totals and indexes.
#[derive(Debug)]
pub(crate) struct EntryTable {
    map: BTreeMap<EntryId, Entry>,
    /// Entries changed since the last settle (may repeat).
    touched: Vec<EntryId>,
    chunk_size: u64,
    /// Entries holding only dirty chunks enter the LRU too (a planted bug evicts them).
    lru_takes_dirty: bool,
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
    /// Entries by the key of the version they take their unchanged bytes from.
    by_source: BTreeMap<String, BTreeSet<EntryId>>,
}

impl EntryTable {
    pub fn new(chunk_size: u64, lru_takes_dirty: bool) -> Self {
        EntryTable {
            map: BTreeMap::new(),
            touched: Vec::new(),
            chunk_size,
            lru_takes_dirty,
            cached: 0,
            dirty: 0,
            lru: BTreeSet::new(),
            persist_due: BTreeSet::new(),
            snapshotted: BTreeSet::new(),
            unpersisted: BTreeSet::new(),
            busy: BTreeSet::new(),
            by_source: BTreeMap::new(),
        }
    }

    pub fn get(&self, id: &EntryId) -> Option<&Entry> {
        self.map.get(id)
    }

    /// The entry, to change: it is settled before the figures are read next.
    pub fn get_mut(&mut self, id: &EntryId) -> Option<&mut Entry> {
        let e = self.map.get_mut(id)?;
        self.touched.push(*id);
        Some(e)
    }

    pub fn insert(&mut self, e: Entry) {
        let id = e.id;
        if let Some(old) = self.map.insert(id, e) {
            self.unaccount(id, &old.accounted);
        }
        self.touched.push(id);
    }

    pub fn remove(&mut self, id: &EntryId) -> Option<Entry> {
        let e = self.map.remove(id)?;
        self.unaccount(*id, &e.accounted);
        Some(e)
    }

    pub fn values(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.map.values()
    }

    pub fn keys(&self) -> impl Iterator<Item = &EntryId> + '_ {
        self.map.keys()
    }

    /// Brings the totals and indexes up to date with every entry changed since the last call.
    pub fn settle(&mut self) {
        for id in std::mem::take(&mut self.touched) {
            let Some(e) = self.map.get(&id) else {
                continue;
            };
            let now = self.account(e);
            if now == e.accounted {
                continue;
            }
            let before = std::mem::take(&mut self.map.get_mut(&id).expect("looked up").accounted);
            self.unaccount(id, &before);
            self.add(id, &now);
            if let Some(e) = self.map.get_mut(&id) {
                e.accounted = now;
            }
        }
    }

    fn account(&self, e: &Entry) -> Accounted {
        let cached = e.chunks.bytes_within(e.local_size, self.chunk_size);
        let evictable = e.chunks.clean_count() > 0 || (self.lru_takes_dirty && e.chunks.len() > 0);
        Accounted {
            cached,
            dirty: e.dirty.covered_len(),
            lru: evictable.then_some(e.atime),
            persist_due: e.persist_wanted && !e.sync_queued,
            snapshotted: e.snapshot.is_some(),
            unpersisted: e.persist_wanted
                || e.snapshot.is_some()
                || e.sync_queued
                || !e.finished_journal.is_empty(),
            busy: !e.idle(),
            source_key: e.source_key().map(str::to_string),
        }
    }

    fn add(&mut self, id: EntryId, a: &Accounted) {
        self.cached += a.cached;
        self.dirty += a.dirty;
        if let Some(t) = a.lru {
            self.lru.insert((t, id));
        }
        set_member(&mut self.persist_due, id, a.persist_due);
        set_member(&mut self.snapshotted, id, a.snapshotted);
        set_member(&mut self.unpersisted, id, a.unpersisted);
        set_member(&mut self.busy, id, a.busy);
        if let Some(k) = &a.source_key {
            self.by_source.entry(k.clone()).or_default().insert(id);
        }
    }

    fn unaccount(&mut self, id: EntryId, a: &Accounted) {
        self.cached -= a.cached;
        self.dirty -= a.dirty;
        if let Some(t) = a.lru {
            self.lru.remove(&(t, id));
        }
        self.persist_due.remove(&id);
        self.snapshotted.remove(&id);
        self.unpersisted.remove(&id);
        self.busy.remove(&id);
        if let Some(k) = &a.source_key {
            if let Some(set) = self.by_source.get_mut(k) {
                set.remove(&id);
                if set.is_empty() {
                    self.by_source.remove(k);
                }
            }
        }
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
    pub fn lru_next(&mut self, after: Option<(u64, EntryId)>) -> Option<(u64, EntryId)> {
        self.settle();
        match after {
            None => self.lru.first().copied(),
            Some(k) => self
                .lru
                .range((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded))
                .next()
                .copied(),
        }
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
        self.busy.first().and_then(|id| self.map.get(id))
    }

    /// Entries (other than dropped ones) whose unchanged bytes come from the version at `key`.
    pub fn sourcing_from(&mut self, key: &str) -> Vec<EntryId> {
        self.settle();
        self.by_source
            .get(key)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Recomputes every total and index from scratch and compares: `Err` names the first
    /// that disagrees. O(everything): for tests and the simulator.
    pub fn check(&self) -> Result<(), String> {
        if !self.touched.is_empty() {
            return Err("entry table not settled".into());
        }
        let mut fresh = EntryTable::new(self.chunk_size, self.lru_takes_dirty);
        for e in self.map.values() {
            let a = self.account(e);
            if a != e.accounted {
                return Err(format!(
                    "entry {} accounted {:?}, recomputed {a:?}",
                    e.id, e.accounted
                ));
            }
            fresh.add(e.id, &a);
        }
        let pairs = [
            ("cached bytes", self.cached, fresh.cached),
            ("dirty bytes", self.dirty, fresh.dirty),
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
