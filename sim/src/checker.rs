//! The checker: the simulator's invariants, as a type, and the checks that are pure functions
//! of the reference model, the core's view and the bucket.
//!
//! The invariants are those of `docs/simulator.md`, section "Invariants", with its numbering:
//!
//! | invariant | name                   | guards                                                   | exit code |
//! |-----------|------------------------|----------------------------------------------------------|-----------|
//! | 1         | acknowledged durable   | fsynced bytes reach the bucket or a conflict copy        | 11        |
//! | 2         | reads latest           | reads return the latest written bytes; at the end the cache serves the bucket | 12 |
//! | 3         | within budget          | cached bytes stay within the budget plus the allowance   | 13        |
//! | 4         | conditional writes     | no cache write replaces a version it was not based on    | 14        |
//! | 5         | liveness               | with faults stopped, everything completes                | 15        |
//! | 6         | recovery exact         | recovery rebuilds the index's records; idle, the persistent view equals the index | 16 |
//! | 7         | bookkeeping            | `Core::check_consistency` holds after every step         | 17        |
//!
//! Exit codes: `silt-sim` exits 0 when every seed ran clean, and otherwise with
//! [`Invariant::exit_code`] (`10 + number`) of the lowest-numbered invariant violated in the
//! whole run. Code 2 is a usage error; codes 11 to 17 are reserved for violations.
//!
//! Checks interleaved with event handling (the client's replies, the concurrent readers, the
//! object store's conditional writes) stay where the events are handled, and report through
//! `World::violation`; the checks that only compare state are here, and return
//! [`Finding`]s the world stamps with the simulated time.

use crate::model::Model;
use crate::options::Options;
use crate::s3::S3;
use silt_core::{Core, ReadStats, Recovered};
use silt_index::MemoryIndex;
use std::fmt;

/// One invariant of `docs/simulator.md`; the discriminant is its number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// Every byte acknowledged by fsync is, after crashes and the final drain, in the bucket
    /// or in a conflict copy (the model's candidates per byte); an unlinked file is gone.
    AcknowledgedDurable = 1,
    /// Reads return the latest written bytes (after a crash, bytes not written since are held
    /// to the crash candidates), and what the cache serves at the end equals the bucket. The
    /// existence and size of files the cache reports while running are reads too.
    ReadsLatest = 2,
    /// Cached bytes stay within `max(budget, unevictable bytes) + allowance`.
    WithinBudget = 3,
    /// No write by the cache replaces a version other than the one its journal record was
    /// based on (for servers without conditions: unless the replaced version appeared after
    /// the cache's last HEAD of the key).
    ConditionalWrites = 4,
    /// With faults stopped, every queued upload and delete completes and every operation is
    /// answered; no operation fails for a reason the injected faults do not explain.
    Liveness = 5,
    /// After every recovery each entry the core rebuilt equals its index record, and when
    /// idle the core's whole persistent view equals the index.
    RecoveryExact = 6,
    /// The core's bookkeeping (`Core::check_consistency`, after every step) equals its
    /// recomputation from scratch.
    Bookkeeping = 7,
}

impl Invariant {
    /// Every invariant, by number.
    pub const ALL: [Invariant; 7] = [
        Invariant::AcknowledgedDurable,
        Invariant::ReadsLatest,
        Invariant::WithinBudget,
        Invariant::ConditionalWrites,
        Invariant::Liveness,
        Invariant::RecoveryExact,
        Invariant::Bookkeeping,
    ];

    /// Its number in `docs/simulator.md`.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::AcknowledgedDurable => "acknowledged durable",
            Invariant::ReadsLatest => "reads latest",
            Invariant::WithinBudget => "within budget",
            Invariant::ConditionalWrites => "conditional writes",
            Invariant::Liveness => "liveness",
            Invariant::RecoveryExact => "recovery exact",
            Invariant::Bookkeeping => "bookkeeping",
        }
    }

    /// The process exit code of a run whose lowest-numbered violated invariant is this one:
    /// `10 + number` (11 to 17).
    pub fn exit_code(self) -> u8 {
        10 + self.number()
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant {} ({})", self.number(), self.name())
    }
}

/// A violated invariant, found by a check that knows which one but not when.
pub type Finding = (Invariant, String);

/// One violation of an invariant in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant violated.
    pub invariant: Invariant,
    /// Simulated time, ms.
    pub at_ms: u64,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at {} ms: {}: {}",
            self.at_ms, self.invariant, self.detail
        )
    }
}

/// Invariant 3: the cached bytes against the budget plus the allowance (one write, and the
/// chunks of the fetches that may run at once and two more).
pub fn budget(opts: &Options, core: &Core) -> Option<Finding> {
    let c = &opts.core;
    let allowance = opts.write_max + c.chunk_size * (c.max_concurrent_fetches as u64 + 2);
    let limit = c.cache_budget.max(core.unevictable_bytes()) + allowance;
    let cached = core.cached_bytes();
    (cached > limit).then(|| {
        (
            Invariant::WithinBudget,
            format!(
                "{cached} bytes cached, over the budget {} plus allowance",
                c.cache_budget
            ),
        )
    })
}

/// Invariant 3 for memory: what the core holds in memory stays within its limit, but for one
/// fetch and one upload body let through when none is out (progress) and chunks held for
/// lack of disk space (never refused).
pub fn memory(opts: &Options, held: silt_core::MemoryUse) -> Option<Finding> {
    let c = &opts.core;
    // The body let through may be a part or a whole object sent with one PUT (a record that
    // resumes an older snapshot may be larger than the multipart threshold).
    let largest_file = opts.file_max.max(opts.write_max);
    let one_body = c.part_size_for(largest_file).max(largest_file);
    let allowance = c.chunk_size + one_body;
    let counted = held.total() - held.full_disk_chunks;
    (counted > c.memory_limit + allowance).then(|| {
        (
            Invariant::WithinBudget,
            format!(
                "{counted} bytes held in memory ({held:?}), over the limit {} plus allowance {allowance}",
                c.memory_limit
            ),
        )
    })
}

/// Invariant 7: the core's running figures against their recomputation.
pub fn bookkeeping(core: &Core) -> Option<Finding> {
    core.check_consistency()
        .err()
        .map(|why| (Invariant::Bookkeeping, why))
}

/// Invariant 7 for the figures the core reports (its metrics): counters never go backwards
/// while one core runs (`prev`: the last reading of this core).
pub fn counters_forward(prev: &ReadStats, now: &ReadStats) -> Option<Finding> {
    let back = now.from_buffers < prev.from_buffers || now.fetched_ahead < prev.fetched_ahead;
    back.then(|| {
        let detail = format!("a counter went backwards: {prev:?} then {now:?}");
        (Invariant::Bookkeeping, detail)
    })
}

/// Invariant 7 at quiescence: with everything uploaded (the model's files are in the bucket),
/// the core reports no dirty bytes. (Read buffers may stay: fetched bytes kept for the next
/// reader, within their own limit.)
pub fn quiet_figures(core: &Core) -> Option<Finding> {
    let dirty = core.dirty_bytes();
    (dirty != 0).then(|| {
        let detail = format!("idle with everything uploaded, yet {dirty} dirty bytes");
        (Invariant::Bookkeeping, detail)
    })
}

/// Invariant 6 after a recovery: each entry the core rebuilt from `recovered` equals its
/// record there.
pub fn recovered_entries(recovered: &Recovered, core: &Core) -> Vec<Finding> {
    recovered
        .entries
        .iter()
        .filter(|r| r.key.is_some() && core.entry_record(r.id).as_ref() != Some(r))
        .map(|want| {
            let got = core.entry_record(want.id);
            (
                Invariant::RecoveryExact,
                format!(
                    "entry {} differs from the index after recovery: index {want:?}, core {got:?}",
                    want.id
                ),
            )
        })
        .collect()
}

/// Invariant 1 for modification times: a time set and answered, not replaced by a later
/// write, is the metadata (`x-amz-meta-mtime`) of the object in the bucket at the end.
pub fn final_mtimes(model: &Model, s3: &S3) -> Vec<Finding> {
    model
        .files
        .iter()
        .filter(|(_, f)| !f.disturbed && !f.lost && f.exists == Some(true))
        .filter_map(|(key, f)| {
            let want = f.mtime?;
            let got = s3.objects.get(key).map(|o| o.mtime_ms);
            (got != Some(Some(want))).then(|| {
                (
                    Invariant::AcknowledgedDurable,
                    format!("{key:?}: mtime {want} was set and answered; the bucket has {got:?}"),
                )
            })
        })
        .collect()
}

/// Invariant 1 (and 4's outcome) at the end: the bucket holds what the model says, key by
/// key.
pub fn final_bucket(model: &Model, s3: &S3) -> Vec<Finding> {
    model
        .files
        .iter()
        .filter_map(|(key, f)| {
            let remote = s3.objects.get(key).map(|o| o.data.clone());
            f.check_final(remote.as_deref())
                .map(|c| (Invariant::AcknowledgedDurable, format!("{key:?}: {c}")))
        })
        .collect()
}

/// Invariant 1 for directories: a directory made (`Mkdir` answered) and not removed has its
/// marker object in the bucket at the end; one removed (`Rmdir` answered) has none.
pub fn final_markers(model: &Model, s3: &S3) -> Vec<Finding> {
    model
        .dirs
        .iter()
        .filter_map(|(dir, d)| {
            let there = s3.objects.contains_key(format!("{dir}/").as_str());
            match d.exists {
                Some(true) if !there => Some("made, but its marker is not in the bucket"),
                Some(false) if there => Some("removed, but its marker is still in the bucket"),
                _ => None,
            }
            .map(|c| {
                (
                    Invariant::AcknowledgedDurable,
                    format!("directory {dir:?}: {c}"),
                )
            })
        })
        .collect()
}

/// Invariant 2 at the end: what the cache served for `key` (`None`: it could not be read)
/// equals the bucket's `remote`.
pub fn served_equals_bucket(key: &str, served: Option<&[u8]>, remote: &[u8]) -> Option<Finding> {
    let detail = match served {
        Some(d) if d == remote => return None,
        Some(d) => {
            let first = d.iter().zip(remote).position(|(a, b)| a != b);
            let last = d.iter().zip(remote).rposition(|(a, b)| a != b);
            format!(
                "{key:?}: the cache serves {} bytes that differ from the bucket's {} (bytes {first:?}..={last:?})",
                d.len(),
                remote.len()
            )
        }
        None => format!("{key:?}: could not be read back through the cache"),
    };
    Some((Invariant::ReadsLatest, detail))
}

/// Invariant 6 when idle: nothing left to persist, and the core's persistent view equals the
/// index.
pub fn persistent_view(core: &Core, index: &MemoryIndex) -> Option<Finding> {
    if !core.is_persisted() {
        return Some((
            Invariant::RecoveryExact,
            "the core still has state to persist when idle".into(),
        ));
    }
    index
        .inspect(|index| {
            let view = core.persistent_view();
            (view != *index).then(|| first_difference(&view, index))
        })
        .map(|diff| {
            (
                Invariant::RecoveryExact,
                format!("the index differs from the core's state when idle: {diff}"),
            )
        })
}

/// The first part in which `core` and `index` differ.
fn first_difference(core: &Recovered, index: &Recovered) -> String {
    if core.meta != index.meta {
        return format!("meta: core {:?}, index {:?}", core.meta, index.meta);
    }
    for (a, b) in core.entries.iter().zip(&index.entries) {
        if a != b {
            return format!("entry: core {a:?}, index {b:?}");
        }
    }
    if core.entries.len() != index.entries.len() {
        let ids = |r: &Recovered| r.entries.iter().map(|e| e.id).collect::<Vec<_>>();
        return format!("entries: core {:?}, index {:?}", ids(core), ids(index));
    }
    if core.journal != index.journal {
        return format!(
            "journal: core {:?}, index {:?}",
            core.journal, index.journal
        );
    }
    format!(
        "conflicts: core {:?}, index {:?}",
        core.conflicts, index.conflicts
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_docs() {
        for (i, inv) in Invariant::ALL.iter().enumerate() {
            assert_eq!(usize::from(inv.number()), i + 1);
        }
    }

    #[test]
    fn exit_codes_are_distinct_and_documented() {
        let codes: Vec<u8> = Invariant::ALL.iter().map(|i| i.exit_code()).collect();
        assert_eq!(codes, [11, 12, 13, 14, 15, 16, 17]);
        for (i, a) in codes.iter().enumerate() {
            // Distinct, non-zero, and apart from the usage error (2) and FAILURE (1).
            assert!(*a > 2);
            assert!(!codes[i + 1..].contains(a));
        }
        for inv in Invariant::ALL {
            assert_eq!(inv.exit_code(), 10 + inv.number());
        }
    }

    #[test]
    fn display_names_the_number() {
        assert_eq!(Invariant::Liveness.to_string(), "invariant 5 (liveness)");
        let v = Violation {
            invariant: Invariant::WithinBudget,
            at_ms: 42,
            detail: "too much".into(),
        };
        assert_eq!(
            v.to_string(),
            "at 42 ms: invariant 3 (within budget): too much"
        );
    }
}
