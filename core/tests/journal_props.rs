//! Properties of the upload journal under arbitrary remote failures: statuses move only along
//! the documented transitions, retries back off within bounds, nothing is given up, and once
//! the failures stop the data reaches the bucket and the journal empties.

mod harness;

use bytes::Bytes;
use harness::{small_config, World};
use quickcheck::{quickcheck, TestResult};
use silt_core::{JournalStatus, RemoteError, Request};
use std::collections::BTreeMap;

fn allowed(from: &JournalStatus, to: &JournalStatus) -> bool {
    use JournalStatus::*;
    matches!(
        (from, to),
        (Queued, Queued)
            | (Queued, InProgress)
            | (InProgress, InProgress)
            | (InProgress, RetryWait)
            | (InProgress, Queued) // a stale snapshot restarts
            | (RetryWait, RetryWait)
            | (RetryWait, InProgress)
    )
}

quickcheck! {
    fn journal_transitions_backoff_and_no_give_up(size: u16, outcomes: Vec<u8>) -> TestResult {
        let cfg = small_config();
        let retry_max = cfg.retry_max.as_millis() as u64;
        let mut w = World::new(cfg);
        let len = u64::from(size % 300) + 1;
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
        let h = w.open("obj", true);
        let r = w.call(Request::Write { handle: h, offset: 0, data: Bytes::from(data.clone()) });
        if r.is_err() {
            return TestResult::error(format!("write failed: {r:?}"));
        }
        let mut seen: BTreeMap<u64, (JournalStatus, u32)> = BTreeMap::new();
        for o in outcomes.iter().take(200) {
            w.run_local();
            w.run_index();
            if !w.remote.is_empty() {
                match o % 4 {
                    0 => { w.answer_remote_with(Err(RemoteError::Transient("503".into()))); }
                    1 => { w.answer_remote_with(Err(RemoteError::Permanent("403".into()))); }
                    _ => { w.answer_remote(); }
                }
            } else {
                w.tick(retry_max);
            }
            for rec in w.core.journal_records() {
                if let Some((prev, attempts)) = seen.get(&rec.id.0) {
                    if !allowed(prev, &rec.status) {
                        return TestResult::error(format!("{prev:?} -> {:?}", rec.status));
                    }
                    if rec.attempts < *attempts {
                        return TestResult::error("attempts went down");
                    }
                }
                if rec.status == JournalStatus::RetryWait && rec.next_attempt.as_millis() > w.now + retry_max {
                    return TestResult::error("backoff beyond retry_max");
                }
                seen.insert(rec.id.0, (rec.status.clone(), rec.attempts));
            }
            let uploaded = w.bucket.get("obj").is_some_and(|o| o.data[..] == data[..]);
            if w.core.journal_records().is_empty() && !uploaded && w.core.dirty_bytes() > 0 {
                return TestResult::error("the journal gave up on dirty data");
            }
        }
        // Failures stop: everything converges.
        if !w.drive(100_000) {
            return TestResult::error(format!("did not settle: {:?}", w.core.pending()));
        }
        TestResult::from_bool(w.bucket.get("obj").is_some_and(|o| o.data[..] == data[..]) && w.core.journal_records().is_empty())
    }
}
