//! The simulated object store: silt-memstore's bucket (objects with ETags and tokens, every
//! version ever stored, multipart uploads, the quirks of servers that ignore preconditions,
//! an outside writer), plus what only the simulator checks. The world adds latency and its
//! own fault draws (`world.rs`); this module keeps object semantics out of the simulator.
//!
//! Checked here, from the store's announcements of cache writes ([`Effect`]): invariant 4,
//! no write by the cache replaces a version it did not base its write on; and that multipart
//! parts but the last are of the minimum size (a real server would refuse the upload for
//! good: invariant 5). Findings go to [`S3::violations`] for the world to report.

use crate::checker::{Finding, Invariant};
use bytes::Bytes;
use silt_core::{JournalRecord, Precondition, RemoteError, RemoteOk, RemoteOp};
use silt_memstore::{Effect, MemStore, Object, Quirks};
use std::collections::BTreeMap;
use std::ops::Deref;

/// The server: a [`MemStore`] (read through `Deref`: `objects`, `versions`) with the quirks
/// of the seed, and the checks above.
#[derive(Debug, Default)]
pub struct S3 {
    /// The bucket.
    pub store: MemStore,
    /// Ignores `If-Match` on GET.
    pub ignore_get_if_match: bool,
    /// Ignores conditions on Complete.
    pub ignore_complete_condition: bool,
    /// Ignores conditions on PUT and DELETE too.
    pub ignore_write_conditions: bool,
    /// Smallest part but the last.
    pub min_part_size: u64,
    /// Refuses a Complete whose part numbers have gaps (like s3s-fs).
    pub refuse_part_gaps: bool,
    /// Time of the cache's last HEAD per key (the window a HEAD-compare fallback leaves).
    pub(crate) last_head_ms: BTreeMap<String, u64>,
    /// Invariant violations seen, for the world to record.
    pub violations: Vec<Finding>,
}

impl Deref for S3 {
    type Target = MemStore;

    fn deref(&self) -> &MemStore {
        &self.store
    }
}

/// The condition the cache's journal meant for a write, for [`check_replace`].
fn holds(p: Option<&Precondition>, cur: Option<&Object>) -> bool {
    match (p, cur) {
        (None, _) => true,
        (Some(Precondition::IfNoneMatch), None) => true,
        (Some(Precondition::IfMatch(e)), Some(o)) => &o.etag == e,
        _ => false,
    }
}

/// One cache write, as the store announced it, to check against its intent.
struct Replace<'a> {
    key: &'a str,
    cur: Option<&'a Object>,
    intent: Option<Precondition>,
    token: &'a str,
    fallback: bool,
}

/// Checks a replacement by the cache against what it meant to replace (`intent`, from its
/// journal record) before it happens.
fn check_replace(
    r: Replace<'_>,
    last_head: &BTreeMap<String, u64>,
    now_ms: u64,
) -> Option<Finding> {
    let Replace {
        key,
        cur,
        intent,
        token,
        fallback,
    } = r;
    if holds(intent.as_ref(), cur) || cur.and_then(|o| o.token.as_deref()) == Some(token) {
        return None;
    }
    let created = cur.map_or(0, |o| o.created_ms);
    let head = last_head.get(key).copied().unwrap_or(0);
    if fallback && created >= head {
        // Inside the documented HEAD-compare window of a server without conditions.
        return None;
    }
    Some((
        Invariant::ConditionalWrites,
        format!(
            "cache write to {key:?} (at {now_ms} ms) replaced version {:?}, but was based on {intent:?}",
            cur.map(|o| o.etag.clone())
        ),
    ))
}

impl S3 {
    /// Stores `data` at `key` as someone other than the cache. Returns the ETag.
    pub fn outside_put(&mut self, key: &str, data: Bytes, now_ms: u64) -> String {
        self.store.outside_put(key, data, now_ms)
    }

    /// Executes `op` at `now_ms`. `intent` finds the journal record of an upload token.
    pub fn perform(
        &mut self,
        op: &RemoteOp,
        now_ms: u64,
        intent: &dyn Fn(&str) -> Option<JournalRecord>,
    ) -> Result<RemoteOk, RemoteError> {
        self.store.quirks = Quirks {
            ignore_get_if_match: self.ignore_get_if_match,
            ignore_complete_condition: self.ignore_complete_condition,
            ignore_write_conditions: self.ignore_write_conditions,
            min_part_size: self.min_part_size,
            refuse_part_gaps: self.refuse_part_gaps,
        };
        if let RemoteOp::Head { key } = op {
            self.last_head_ms.insert(key.clone(), now_ms);
        }
        let (last_head, violations) = (&self.last_head_ms, &mut self.violations);
        let mut observe = |effect: Effect<'_>| {
            let replace = match effect {
                Effect::Write {
                    key,
                    previous,
                    token,
                    condition_enforced,
                } => {
                    let token = token.unwrap_or_default();
                    Replace {
                        key,
                        cur: previous,
                        intent: intent(token).map(|r| r.precondition),
                        token,
                        fallback: !condition_enforced,
                    }
                }
                Effect::Delete {
                    key,
                    previous,
                    if_match,
                    condition_enforced,
                } => Replace {
                    key,
                    cur: Some(previous),
                    intent: if_match.map(|e| Precondition::IfMatch(e.to_string())),
                    token: "",
                    fallback: !condition_enforced,
                },
                Effect::PartTooSmall { key, part, size } => {
                    // A real server refuses to complete it, every time: the upload could
                    // never complete.
                    violations.push((
                        Invariant::Liveness,
                        format!(
                            "multipart part {part} of {key:?} is {size} bytes, below the minimum"
                        ),
                    ));
                    return;
                }
            };
            violations.extend(check_replace(replace, last_head, now_ms));
        };
        self.store.perform_observed(op, now_ms, &mut observe)
    }

    /// True when the server holds incomplete multipart uploads.
    pub fn open_uploads(&self) -> usize {
        self.store.open_uploads()
    }
}
