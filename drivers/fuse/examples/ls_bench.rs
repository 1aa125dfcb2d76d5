//! `ls -l` of a large directory through a real mount: for each size, a directory of that
//! many small objects is put into the bucket of the in-process s3s-fs server (as plain files
//! in its folder, as `bench/compare/run.sh` does), the bucket is mounted through silt (the
//! test mount: a redb index and cache files in a temporary directory, attribute TTL 1 s),
//! the directory is looked up (`stat`), and `ls -l` of it, never listed before, is timed,
//! then once more right after. Prints a table with the requests the server saw during the
//! first `ls -l`, the time silt waited for them (the rest is silt and the kernel), and what
//! listing costs the server alone (without silt): one page of 1 000
//! names, and every page of the directory 1 000 names at a time.
//!
//! Needs root and /dev/fuse. `cargo run --release -p silt-fuse --example ls_bench` (1 000,
//! 3 000 and 10 000 entries) or `-- 300 3000` for other sizes.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

/// Names per page when the server is asked alone: S3's largest page.
const PAGE: u32 = 1_000;

/// Runs `ls -l dir`; returns its wall time and the number of entries it printed.
fn ls_l(dir: &Path) -> (Duration, usize) {
    let start = Instant::now();
    let out = Command::new("ls")
        .arg("-l")
        .arg(dir)
        .output()
        .expect("run ls -l");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "ls -l {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // The first line is `total N`.
    let lines = out.stdout.iter().filter(|&&b| b == b'\n').count();
    (took, lines.saturating_sub(1))
}

/// The server alone: the first page of `prefix` and every page of it, `PAGE` names at a
/// time; the times and the number of names.
async fn server_listing(remote: &silt_s3::S3Remote, prefix: &str) -> (Duration, Duration, usize) {
    use silt_s3::ObjectStore;
    let start = Instant::now();
    let mut after: Option<String> = None;
    let mut names = 0;
    let mut first = None;
    loop {
        let page = remote
            .list_page(prefix, after.as_deref(), PAGE)
            .await
            .expect("list a page");
        names += page.objects.len() + page.prefixes.len();
        first.get_or_insert_with(|| start.elapsed());
        match page.objects.last() {
            Some(last) if page.truncated => after = Some(last.key.clone()),
            _ => break,
        }
    }
    (first.unwrap_or_default(), start.elapsed(), names)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    require_fuse();
    let sizes: Vec<usize> = {
        let given: Vec<usize> = std::env::args()
            .skip(1)
            .map(|a| a.parse().expect("sizes are numbers of entries"))
            .collect();
        if given.is_empty() {
            vec![1_000, 3_000, 10_000]
        } else {
            given
        }
    };
    let rt = runtime();
    let s = Served::start(&rt);
    let _guard = DetachOnDrop(s.mnt.clone());
    let bucket = s.buckets.join(BUCKET);
    for &n in &sizes {
        let dir = bucket.join(format!("ls{n}"));
        std::fs::create_dir_all(&dir).expect("directory in the bucket");
        for i in 0..n {
            let body = format!("object {i} of {n}\n").repeat(5);
            std::fs::write(dir.join(format!("f{i:06}")), body).expect("object file");
        }
    }
    let probed = s.remote(&rt);
    let caps = probed.capabilities();
    let counted = s.counted(&rt, caps);
    let manager = bounded(&rt, "engine", engine_on(&s.cache, &counted, caps));
    let mounted = mount(&rt, manager, &s.mnt);

    println!(
        "| entries | lookup of the directory | `ls -l` (never listed) | per entry | LIST pages | HEADs | waiting for LIST | the rest, per entry | `ls -l` again at once | server alone: one page | server alone: every page |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &sizes {
        let dir = s.mnt.join(format!("ls{n}"));
        let start = Instant::now();
        let meta = std::fs::metadata(&dir).expect("stat the directory");
        let lookup = start.elapsed();
        assert!(meta.is_dir(), "{} is not a directory", dir.display());
        let (lists, heads, waited) = (counted.lists(), counted.heads(), counted.list_time());
        let (cold, listed) = ls_l(&dir);
        assert_eq!(listed, n, "ls -l listed {listed} entries, not {n}");
        let (lists, heads) = (counted.lists() - lists, counted.heads() - heads);
        let waited = counted.list_time() - waited;
        let rest = cold.saturating_sub(waited);
        let (warm, _) = ls_l(&dir);
        let prefix = format!("ls{n}/");
        let (one, all, names) = bounded(&rt, "server listing", server_listing(&probed, &prefix));
        assert_eq!(names, n, "the server listed {names} names, not {n}");
        println!(
            "| {n} | {} | {} | {:.0} µs | {lists} | {heads} | {} | {:.0} µs | {} | {} | {} |",
            ms(lookup),
            ms(cold),
            cold.as_secs_f64() * 1e6 / n as f64,
            ms(waited),
            rest.as_secs_f64() * 1e6 / n as f64,
            ms(warm),
            ms(one),
            ms(all),
        );
    }
    let report = bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
    assert!(report.clean, "{report:?}");
}
