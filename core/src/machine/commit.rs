//! Group commit. At most one index transaction is in flight; everything that became ready
//! while it was (entry snapshots, journal changes, waiters) goes into the next one, so many
//! fsyncs share one durable commit.
//!
//! The fsync protocol (see `docs/durability.md`): a `Sync` job snapshots the entry and fsyncs
//! its cache file; when the fsync is done the snapshot is committable; the next transaction
//! carries it, and the reply is sent when that transaction is durable.

use super::journal::Phase;
use super::Core;
use crate::ids::{JournalId, RequestId, TxnId};
use crate::io::{Event, FileError, Reply};
use crate::records::{IndexOp, IndexTxn, JournalOp};

/// Something waiting for its state to be durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Waiter {
    /// Answer this request.
    Reply(RequestId, Reply),
    /// Start sending this upload: its record and the entry's snapshot are committed.
    StartUpload(JournalId),
    /// One moved entry of a directory rename (`dir_rename.rs`).
    DirRename(u64),
}

/// What the index will hold of one entry once the transaction in flight is durable.
#[derive(Debug)]
pub(crate) struct InFlightSnapshot {
    entry: crate::ids::EntryId,
    head: crate::records::EntryRecord,
    extents: super::dirty::ExtentDelta,
}

#[derive(Debug, Default)]
pub(crate) struct CommitState {
    pub in_flight: Option<(TxnId, Vec<Waiter>)>,
    /// The entry snapshots in the transaction in flight: their heads and dirty ranges.
    pub in_flight_entries: Vec<InFlightSnapshot>,
    /// Waiters whose state is ready for the next transaction.
    pub ready: Vec<Waiter>,
    /// Operations that depend on no cache-file data (entry removals, deletes, conflicts).
    pub pending_ops: Vec<IndexOp>,
}

impl Core {
    pub(crate) fn maybe_commit(&mut self) {
        if self.poisoned.is_some() {
            for w in std::mem::take(&mut self.commit.ready) {
                self.fail_waiter(w);
            }
            return;
        }
        if self.commit.in_flight.is_some() || self.dir_renames.holding() {
            // A directory rename's entries go in one transaction: none leaves before all
            // have synced.
            return;
        }
        let mut ops: Vec<IndexOp> = std::mem::take(&mut self.commit.pending_ops);
        // Generation of each entry snapshot going into this transaction.
        let snapshotted = self.entries.snapshotted();
        let snap_gen: std::collections::BTreeMap<_, _> = snapshotted
            .iter()
            .filter_map(|id| self.entries.get(id))
            .filter_map(|e| {
                e.snapshot
                    .as_ref()
                    .filter(|_| !e.dropped)
                    .map(|s| (e.id, s.head.generation))
            })
            .collect();
        for jid in self.journal.changed() {
            let Some(j) = self.journal.get_mut(&jid) else {
                continue;
            };
            // An upload's start goes to the index only with an entry state at least as new as
            // its snapshot: a restart must never see a snapshot from the entry's future.
            if let (Phase::Persisting, JournalOp::Upload { entry }) = (j.phase, &j.rec.op) {
                if snap_gen.get(entry).is_none_or(|g| *g < j.rec.generation) {
                    continue;
                }
            }
            let new_parts = std::mem::take(&mut j.new_parts);
            if j.changed {
                // The record's own fields changed (rarely: per attempt): write it whole.
                j.changed = false;
                ops.push(IndexOp::PutJournal(j.rec.clone()));
            } else if let Some(mp) = &j.rec.multipart {
                // Only parts finished: one small record each.
                ops.extend(new_parts.into_iter().filter_map(|p| {
                    let part = super::upload::part_record(mp, p)?;
                    Some(IndexOp::PutPart(jid, part))
                }));
            }
        }
        let mut finished = Vec::new();
        let mut dirty_sets = Vec::new();
        for eid in snapshotted {
            let Some(e) = self.entries.get_mut(&eid) else {
                continue;
            };
            if let Some(snap) = e.snapshot.take().filter(|_| !e.dropped) {
                ops.push(IndexOp::PutEntryHead(snap.head.clone()));
                dirty_sets.push(InFlightSnapshot {
                    entry: e.id,
                    head: snap.head,
                    extents: snap.extents,
                });
                ops.extend(snap.ops);
                ops.extend(snap.conflicts.into_iter().map(IndexOp::PutConflict));
                for jid in snap.finished_journal {
                    ops.push(IndexOp::DeleteJournal(jid));
                    finished.push(jid);
                }
            }
        }
        for jid in finished {
            self.journal.remove(&jid);
        }
        if self.meta_changed {
            self.meta_changed = false;
            self.meta.atime_clock = self.atime_clock;
            ops.push(IndexOp::PutMeta(self.meta.clone()));
        }
        if ops.is_empty() && self.commit.ready.is_empty() {
            return;
        }
        let waiters = std::mem::take(&mut self.commit.ready);
        let id = self.emit_txn(IndexTxn { ops });
        self.commit.in_flight = Some((id, waiters));
        self.commit.in_flight_entries = dirty_sets;
    }

    pub(crate) fn on_txn_done(&mut self, txn: TxnId, result: Result<(), String>) {
        let Some((id, waiters)) = self.commit.in_flight.take() else {
            return;
        };
        if id != txn {
            self.commit.in_flight = Some((id, waiters));
            return;
        }
        if let Err(err) = result {
            self.poison(format!("index commit failed: {err}"));
            for w in waiters {
                self.fail_waiter(w);
            }
            return;
        }
        for snap in std::mem::take(&mut self.commit.in_flight_entries) {
            if let Some(e) = self.entries.get_mut(&snap.entry) {
                snap.extents.apply_to(&mut e.durable_dirty);
                e.head_committed(&snap.head);
            }
        }
        for w in waiters {
            match w {
                Waiter::Reply(req, reply) => self.reply(req, Ok(reply)),
                Waiter::StartUpload(jid) => self.upload_persisted(jid),
                Waiter::DirRename(id) => self.dir_rename_acked(id, true),
            }
        }
    }

    /// The periodic commit: snapshot every entry whose state changed.
    pub(crate) fn periodic_commit(&mut self) {
        for eid in self.entries.persist_due() {
            self.enqueue_sync(eid, None);
        }
    }

    /// After a failed fsync or commit nothing more is acknowledged until the cache is
    /// reopened and recovered from the index.
    pub(crate) fn poison(&mut self, why: String) {
        if self.poisoned.is_none() {
            self.event(Event::Fatal(why.clone()));
            self.poisoned = Some(why);
        }
    }

    pub(crate) fn fail_waiter(&mut self, w: Waiter) {
        if let Waiter::DirRename(id) = w {
            self.dir_renames.synced(id);
            return self.dir_rename_acked(id, false);
        }
        if let Waiter::Reply(req, _) = w {
            let why = self
                .poisoned
                .clone()
                .unwrap_or_else(|| "commit failed".into());
            self.reply(
                req,
                Err(FileError::Io(format!("cache needs a remount: {why}"))),
            );
        }
    }
}
