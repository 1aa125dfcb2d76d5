//! Recovery: the core rebuilds its state from what the index held, without looking at cache
//! files. Dirty chunks come back unfilled and clean chunks are checked against their CRC on
//! first read, so bytes written after the last commit can never pass for base data.

use super::entry::Entry;
use super::idle::IdleEntry;
use super::journal::JournalEntry;
use super::Core;
use crate::config::{ConfigError, CoreConfig};
use crate::io::RemoteOp;
use crate::records::{IndexOp, JournalOp, JournalStatus, Recovered};
use crate::time::Instant;

impl Core {
    /// A core for a cache whose index holds `rec`, in exactly the state the index describes.
    /// Then drain [`Core::poll_output`] and send `Input::Timeout` (safe at any time) to start
    /// the work recovery found: resumed uploads, journaled deletes, eviction.
    pub fn recover(cfg: CoreConfig, rec: Recovered, now: Instant) -> Result<Core, ConfigError> {
        cfg.validate()?;
        let cs = cfg.chunk_size;
        let mut core = Core::empty(cfg, rec.meta.clone(), now);
        let mut idle = Vec::new();
        let mut full = Vec::new();
        let mut names = Vec::with_capacity(rec.entries.len());
        // Access times reach the index with entry changes, the clock only with the counters:
        // resume the clock past every access time stored.
        let mut newest = 0;
        for r in rec.entries {
            let id = r.id;
            newest = newest.max(r.atime);
            if let Some(k) = &r.key {
                names.push((k.clone(), r.id));
            }
            // Most entries of a big cache are idle and clean: kept compact from the start.
            match IdleEntry::from_record(r, cs) {
                Ok(i) => idle.push((id, i)),
                Err(r) => full.push(Entry::from_record(&r, cs)),
            }
        }
        core.names = names.into_iter().collect();
        core.entries.load(idle, full);
        core.atime_clock = core.atime_clock.max(newest);
        core.conflicts = rec.conflicts;
        for r in &rec.journal {
            let mut j = JournalEntry::new(r.clone(), now);
            j.changed = false;
            if let Some(mp) = j.rec.multipart.as_mut() {
                // Kept sorted by part number from here on (older records kept finishing order).
                let sorted = mp.parts_done.is_sorted_by_key(|x| x.0)
                    && mp.part_crcs.is_sorted_by_key(|x| x.0);
                if !sorted {
                    mp.parts_done.sort_by_key(|x| x.0);
                    mp.part_crcs.sort_by_key(|x| x.0);
                    j.changed = true;
                }
            }
            j.resumed = !r.token.is_empty();
            match r.op {
                JournalOp::Upload { entry } => {
                    // An entry with nothing to upload makes its record stale, unless an
                    // attempt of the record may have landed unseen (it has a token): that
                    // version may be at the key instead of the entry's base, so the record
                    // goes on (see `try_start_upload`).
                    let attempted = !r.token.is_empty();
                    if attempted {
                        core.entries.wake(&entry);
                    }
                    let valid = core.entries.active_entry(&entry).is_some_and(|e| {
                        e.key.as_deref() == Some(r.path.as_str())
                            && (e.needs_upload() || attempted)
                            && e.upload.is_none()
                    });
                    if !valid {
                        core.commit.pending_ops.push(IndexOp::DeleteJournal(r.id));
                        if let Some(mp) = r.multipart.as_ref().filter(|m| !m.upload_id.is_empty()) {
                            let op = RemoteOp::Abort {
                                key: r.path.clone(),
                                upload_id: mp.upload_id.clone(),
                            };
                            core.emit_remote(super::RemoteCtx::Ignore, op);
                        }
                        continue;
                    }
                    if let Some(e) = core.entries.get_mut(&entry) {
                        e.upload = Some(r.id);
                    }
                }
                JournalOp::Delete { .. } => {}
            }
            if j.rec.status == JournalStatus::InProgress {
                // Resumed at once with the same snapshot and token.
                j.rec.status = JournalStatus::Queued;
                j.rec.next_attempt = now;
                j.changed = true;
            }
            core.journal.insert(j);
        }
        let ids = core.entries.active_ids();
        for eid in ids {
            let Some(e) = core.entries.get(&eid) else {
                continue;
            };
            if e.key.is_none() {
                core.drop_entry(eid);
            } else {
                core.ensure_upload_queued(eid);
            }
        }
        core.entries.settle();
        core.journal.settle();
        Ok(core)
    }
}
