//! Commits survive SIGKILL (TerminateProcess on Windows): a child process commits transactions from several threads through
//! a group commit and prints each one as it is acknowledged; the parent kills it with SIGKILL
//! mid-stream, reopens the index and checks that every acknowledged transaction is there,
//! whole, and that no transaction is there in part. Three kills per adapter, on one index.
//!
//! Runs without the test harness: the same binary is the parent and, with `SILT_KILL_CHILD`
//! set, the child.

mod support;

use silt_core::{
    CleanChunk, DirtyExtent, EntryId, EntryRecord, IndexOp, IndexTxn, JournalId, JournalRecord,
    PartRecord, Recovered,
};
use silt_index::{open, CacheIndex, GroupCommit, OpenOptions};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use support::records::{entry, journal};

const CHILD_ENV: &str = "SILT_KILL_CHILD";
const THREADS: u64 = 4;

/// Transaction `id`: an entry and a journal record, written whole (even ids) or as a head
/// followed by delta operations (odd ids: chunks, an extent, a part of a multipart record).
fn txn(id: u64) -> IndexTxn {
    let ops = if id % 2 == 0 {
        vec![
            IndexOp::PutEntry(entry(id, id, 2)),
            IndexOp::PutJournal(journal(id)),
        ]
    } else {
        let mut j = journal(id + 1);
        j.id = JournalId(id);
        vec![
            IndexOp::PutEntryHead(entry(id, id, 0)),
            IndexOp::PutChunk(
                EntryId(id),
                CleanChunk {
                    index: 0,
                    crc32c: id as u32,
                },
            ),
            IndexOp::PutChunk(
                EntryId(id),
                CleanChunk {
                    index: 7,
                    crc32c: 7,
                },
            ),
            IndexOp::PutExtent(
                EntryId(id),
                DirtyExtent {
                    offset: 4096,
                    len: id,
                    generation: 1,
                },
            ),
            IndexOp::PutJournal(j),
            IndexOp::PutPart(
                JournalId(id),
                PartRecord {
                    number: 9,
                    etag: format!("\"{id}\""),
                    crc32c: Some(9),
                },
            ),
        ]
    };
    IndexTxn { ops }
}

/// The entry and journal record transaction `id` leaves, as `Recovered::apply` has them.
fn expected(id: u64) -> (EntryRecord, JournalRecord) {
    let mut r = Recovered::default();
    r.apply(&txn(id));
    (r.entries.remove(0), r.journal.remove(0))
}

/// The child: commits forever (until killed), ids `base + n*THREADS + thread`.
fn child(backend: &str, dir: &str, base: u64) -> ! {
    let index: Arc<dyn CacheIndex> =
        Arc::from(open(backend, &OpenOptions::new(dir)).expect("child open"));
    let group = Arc::new(GroupCommit::new(index));
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let group = group.clone();
            let out = out.clone();
            std::thread::spawn(move || {
                for n in 0.. {
                    let id = base + n * THREADS + t;
                    group.commit(txn(id)).expect("child commit");
                    let mut out = out.lock().expect("stdout");
                    writeln!(out, "acked {id}").expect("stdout");
                    out.flush().expect("stdout");
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    std::process::exit(1)
}

fn run_and_kill(backend: &str, dir: &std::path::Path, base: u64, acks_wanted: usize) -> Vec<u64> {
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .env(CHILD_ENV, format!("{backend},{base},{}", dir.display()))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child");
        let id = line
            .strip_prefix("acked ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected child output {line:?}"));
        acked.push(id);
        if acked.len() >= acks_wanted {
            break;
        }
    }
    // SIGKILL on Unix, TerminateProcess on Windows: no destructor, no flush, no shutdown.
    child.kill().expect("kill child");
    let status = child.wait().expect("wait child");
    assert!(!status.success(), "the child was meant to die by the kill");
    acked
}

fn check(backend: &str, dir: &std::path::Path, acked: &BTreeSet<u64>) -> usize {
    let index = open(backend, &OpenOptions::new(dir)).expect("reopen after kill");
    let all = index.load().expect("load after kill");
    let entries: BTreeSet<u64> = all.entries.iter().map(|e| e.id.0).collect();
    let uploads: BTreeSet<u64> = all.journal.iter().map(|j| j.id.0).collect();
    for id in acked {
        assert!(
            entries.contains(id),
            "{backend}: acknowledged entry {id} lost"
        );
    }
    // One transaction = one entry + one journal record: both or neither.
    assert_eq!(
        entries, uploads,
        "{backend}: a transaction survived in part"
    );
    for e in &all.entries {
        let (want_entry, want_journal) = expected(e.id.0);
        assert_eq!(*e, want_entry, "{backend}: entry {} damaged", e.id);
        assert_eq!(
            index.get_upload(JournalId(e.id.0)).expect("get"),
            Some(want_journal)
        );
    }
    let lru = index.list_lru(usize::MAX).expect("lru");
    let mut want: Vec<(u64, EntryId)> = all.entries.iter().map(|e| (e.atime, e.id)).collect();
    want.sort_unstable();
    assert_eq!(lru, want, "{backend}: lru out of step with entries");
    entries.len()
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let mut parts = spec.splitn(3, ',');
        let backend = parts.next().expect("backend");
        let base = parts.next().and_then(|b| b.parse().ok()).expect("base");
        let dir = parts.next().expect("dir");
        child(backend, dir, base);
    }
    for backend in ["redb", "fjall"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut acked = BTreeSet::new();
        for round in 0..3u64 {
            let got = run_and_kill(
                backend,
                dir.path(),
                round * 1_000_000,
                40 + 30 * round as usize,
            );
            acked.extend(got);
            let present = check(backend, dir.path(), &acked);
            println!(
                "{backend}: kill {}: {} acknowledged so far, {present} present, all intact",
                round + 1,
                acked.len()
            );
        }
    }
    println!("test result: ok. SIGKILL during group commits lost no acknowledged transaction");
}
