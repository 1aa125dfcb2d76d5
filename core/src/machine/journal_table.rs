//! The upload journal in memory, with the indexes and timers the scheduler needs kept up to
//! date as records change, so that no request and no timeout walks the journal.
//!
//! Same shape as the entry table: records are changed in place through
//! [`JournalTable::get_mut`], which notes them as touched; [`JournalTable::settle`] moves each
//! touched record's slots in the indexes (by key, by entry, the due-time queues, the set of
//! records to commit) from what it was to what it is. [`JournalTable::check`] recomputes
//! everything from scratch, for tests and the simulator.

use super::journal::{JournalEntry, Phase};
use crate::ids::{EntryId, JournalId};
use crate::records::{JournalOp, JournalStatus};
use crate::time::Instant;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

/// Where one record stands in the table's indexes, as last settled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Slots {
    path: String,
    /// The entry an upload record uploads.
    entry: Option<EntryId>,
    /// Waiting to be started: (is an upload, when).
    due: Option<(bool, Instant)>,
    uploading: bool,
    unpersisted: bool,
    changed: bool,
    /// Bytes of upload bodies in flight: data parts sent or being read, or a single PUT.
    body_bytes: u64,
    /// An unfinished upload record: since when it waits (in this process).
    queued_since: Option<Instant>,
    /// Waiting to retry after a failed attempt.
    retrying: bool,
    /// A delete record.
    delete: bool,
}

type Due = BTreeSet<(Instant, JournalId)>;

/// All journal records by id, with indexes.
#[derive(Debug, Default)]
pub(crate) struct JournalTable {
    map: BTreeMap<JournalId, JournalEntry>,
    touched: Vec<JournalId>,
    by_path: BTreeMap<String, BTreeSet<JournalId>>,
    by_entry: BTreeMap<EntryId, BTreeSet<JournalId>>,
    /// Idle upload records not finished, by next attempt.
    due_uploads: Due,
    /// Idle delete records, by next attempt.
    due_deletes: Due,
    /// Upload records in progress (their start may still be committing).
    uploading: usize,
    /// Records changed since last written to the index (and not finished).
    changed: BTreeSet<JournalId>,
    /// Records changed or finished: not yet as the index holds them.
    unpersisted: BTreeSet<JournalId>,
    /// Bytes of upload bodies in flight, over all records.
    body_bytes: u64,
    /// Unfinished upload records by the time they were first queued.
    queued_since: BTreeSet<(Instant, JournalId)>,
    /// Records waiting to retry after a failed attempt.
    retrying: usize,
    /// Delete records.
    deletes: usize,
}

/// The journal at a glance, for status: O(1) from the table's indexes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalSummary {
    /// Upload records waiting to start (queued or retrying).
    pub uploads_waiting: usize,
    /// Upload records in progress.
    pub uploads_running: usize,
    /// Delete records not yet done.
    pub deletes_waiting: usize,
    /// Records (uploads or deletes) waiting to retry after a failed attempt.
    pub retrying: usize,
    /// When the oldest unfinished upload was queued (in this process: records recovered
    /// from the index count from the recovery).
    pub oldest_upload_queued: Option<Instant>,
}

impl JournalTable {
    pub fn get(&self, id: &JournalId) -> Option<&JournalEntry> {
        self.map.get(id)
    }

    /// The record, to change: it is settled before the indexes are read next.
    pub fn get_mut(&mut self, id: &JournalId) -> Option<&mut JournalEntry> {
        let j = self.map.get_mut(id)?;
        self.touched.push(*id);
        Some(j)
    }

    pub fn insert(&mut self, j: JournalEntry) {
        let id = j.rec.id;
        if let Some(old) = self.map.insert(id, j) {
            self.unslot(id, &old.slots);
        }
        self.touched.push(id);
    }

    pub fn remove(&mut self, id: &JournalId) -> Option<JournalEntry> {
        let j = self.map.remove(id)?;
        self.unslot(*id, &j.slots);
        Some(j)
    }

    pub fn values(&self) -> impl Iterator<Item = &JournalEntry> + '_ {
        self.map.values()
    }

    /// Brings the indexes up to date with every record changed since the last call.
    pub fn settle(&mut self) {
        for id in std::mem::take(&mut self.touched) {
            let Some(j) = self.map.get(&id) else {
                continue;
            };
            let now = slots_of(j);
            if now == j.slots {
                continue;
            }
            let before = std::mem::take(&mut self.map.get_mut(&id).expect("looked up").slots);
            self.unslot(id, &before);
            self.slot(id, &now);
            if let Some(j) = self.map.get_mut(&id) {
                j.slots = now;
            }
        }
    }

    fn slot(&mut self, id: JournalId, s: &Slots) {
        self.by_path.entry(s.path.clone()).or_default().insert(id);
        if let Some(e) = s.entry {
            self.by_entry.entry(e).or_default().insert(id);
        }
        match s.due {
            Some((true, t)) => {
                self.due_uploads.insert((t, id));
            }
            Some((false, t)) => {
                self.due_deletes.insert((t, id));
            }
            None => {}
        }
        self.uploading += usize::from(s.uploading);
        self.body_bytes += s.body_bytes;
        if let Some(t) = s.queued_since {
            self.queued_since.insert((t, id));
        }
        self.retrying += usize::from(s.retrying);
        self.deletes += usize::from(s.delete);
        if s.changed {
            self.changed.insert(id);
        }
        if s.unpersisted {
            self.unpersisted.insert(id);
        }
    }

    fn unslot(&mut self, id: JournalId, s: &Slots) {
        if let Some(set) = self.by_path.get_mut(&s.path) {
            set.remove(&id);
            if set.is_empty() {
                self.by_path.remove(&s.path);
            }
        }
        if let Some(e) = s.entry {
            if let Some(set) = self.by_entry.get_mut(&e) {
                set.remove(&id);
                if set.is_empty() {
                    self.by_entry.remove(&e);
                }
            }
        }
        if let Some((upload, t)) = s.due {
            let due = if upload {
                &mut self.due_uploads
            } else {
                &mut self.due_deletes
            };
            due.remove(&(t, id));
        }
        self.uploading -= usize::from(s.uploading);
        self.body_bytes -= s.body_bytes;
        if let Some(t) = s.queued_since {
            self.queued_since.remove(&(t, id));
        }
        self.retrying -= usize::from(s.retrying);
        self.deletes -= usize::from(s.delete);
        self.changed.remove(&id);
        self.unpersisted.remove(&id);
    }

    /// The journal at a glance.
    pub fn summary(&mut self) -> JournalSummary {
        self.settle();
        JournalSummary {
            uploads_waiting: self.due_uploads.len(),
            uploads_running: self.uploading,
            deletes_waiting: self.deletes,
            retrying: self.retrying,
            oldest_upload_queued: self.queued_since.first().map(|(t, _)| *t),
        }
    }

    /// Bytes of upload bodies in flight (data parts sent or being read, single PUTs).
    pub fn body_bytes(&mut self) -> u64 {
        self.settle();
        self.body_bytes
    }

    /// Records targeting `path`.
    pub fn at_path(&mut self, path: &str) -> Vec<JournalId> {
        self.settle();
        self.by_path
            .get(path)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Records targeting a path that starts with `prefix`, in path order: O(records below).
    pub fn below(&mut self, prefix: &str) -> Vec<JournalId> {
        self.settle();
        self.by_path
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(p, _)| p.starts_with(prefix))
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect()
    }

    /// True when any record targets `path`.
    pub fn any_at_path(&mut self, path: &str) -> bool {
        self.settle();
        self.by_path.contains_key(path)
    }

    /// Upload records of `entry`.
    pub fn uploads_of(&mut self, entry: EntryId) -> Vec<JournalId> {
        self.settle();
        self.by_entry
            .get(&entry)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Upload records in progress.
    pub fn uploading(&mut self) -> usize {
        self.settle();
        self.uploading
    }

    /// The next idle upload (or delete) record after `after`, in order of next attempt.
    pub fn next_due(
        &mut self,
        uploads: bool,
        after: Option<(Instant, JournalId)>,
    ) -> Option<(Instant, JournalId)> {
        self.settle();
        let due = if uploads {
            &self.due_uploads
        } else {
            &self.due_deletes
        };
        match after {
            None => due.first().copied(),
            Some(k) => due
                .range((Bound::Excluded(k), Bound::Unbounded))
                .next()
                .copied(),
        }
    }

    /// The earliest next attempt of an idle record later than `now`, as of the last settle.
    pub fn next_timeout(&self, now: Instant) -> Option<Instant> {
        let after = (
            Bound::Excluded((now, JournalId(u64::MAX))),
            Bound::Unbounded,
        );
        let a = self.due_uploads.range(after).next().map(|k| k.0);
        let b = self.due_deletes.range(after).next().map(|k| k.0);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Records changed since last written to the index.
    pub fn changed(&mut self) -> Vec<JournalId> {
        self.settle();
        self.changed.iter().copied().collect()
    }

    /// True when some record is not as the index holds it, as of the last settle.
    pub fn any_unpersisted(&self) -> bool {
        !self.unpersisted.is_empty()
    }

    /// Recomputes every index from scratch and compares: `Err` names the first that
    /// disagrees. O(journal): for tests and the simulator.
    pub fn check(&self) -> Result<(), String> {
        if !self.touched.is_empty() {
            return Err("journal table not settled".into());
        }
        let mut fresh = JournalTable::default();
        for j in self.map.values() {
            let s = slots_of(j);
            if s != j.slots {
                return Err(format!(
                    "journal record {} slotted {:?}, recomputed {s:?}",
                    j.rec.id, j.slots
                ));
            }
            fresh.slot(j.rec.id, &s);
        }
        let same = self.by_path == fresh.by_path
            && self.by_entry == fresh.by_entry
            && self.due_uploads == fresh.due_uploads
            && self.due_deletes == fresh.due_deletes
            && self.uploading == fresh.uploading
            && self.body_bytes == fresh.body_bytes
            && self.queued_since == fresh.queued_since
            && self.retrying == fresh.retrying
            && self.deletes == fresh.deletes
            && self.changed == fresh.changed
            && self.unpersisted == fresh.unpersisted;
        if !same {
            return Err("a journal index differs from its recomputation".into());
        }
        Ok(())
    }
}

fn slots_of(j: &JournalEntry) -> Slots {
    let upload = match j.rec.op {
        JournalOp::Upload { entry } => Some(entry),
        JournalOp::Delete { .. } => None,
    };
    let idle = j.phase == Phase::Idle && !j.finished;
    Slots {
        path: j.rec.path.clone(),
        entry: upload,
        due: idle.then_some((upload.is_some(), j.rec.next_attempt)),
        uploading: upload.is_some() && j.rec.status == JournalStatus::InProgress,
        unpersisted: j.changed || !j.new_parts.is_empty() || j.finished,
        changed: (j.changed || !j.new_parts.is_empty()) && !j.finished,
        body_bytes: j.body_bytes(),
        queued_since: (upload.is_some() && !j.finished).then_some(j.first_queued),
        retrying: idle && j.rec.status == JournalStatus::RetryWait,
        delete: upload.is_none(),
    }
}
