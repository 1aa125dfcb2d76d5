//! Upload and download MiB/s against an in-process s3s-fs on loopback: silt's remote
//! (multipart upload, ranged GETs, 4 in flight, 8 MiB parts) next to `aws s3 cp` of the same
//! file in the same run.
//!
//! `cargo run --release -p silt-s3 --example throughput [-- MiB]` (default 256 MiB; needs
//! `aws`, from `pip install awscli`, for its rows).

#[path = "../tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use silt_s3::{partial_update, ObjectStore, S3Remote, Update};
use std::process::Command;
use std::time::Instant;
use support::servers;

const MIB: u64 = 1 << 20;
const PART: u64 = 8 * MIB;
const IN_FLIGHT: usize = 4;

fn row(client: &str, direction: &str, mib: u64, secs: f64) {
    println!(
        "| {client} | {direction} | {mib} | {secs:.2} | {:.1} |",
        mib as f64 / secs
    );
}

fn aws(endpoint: &str, args: &[&str]) -> Option<f64> {
    let start = Instant::now();
    let status = Command::new("aws")
        .args(["--endpoint-url", endpoint, "s3", "cp", "--only-show-errors"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", servers::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", servers::SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .status()
        .ok()?;
    status.success().then(|| start.elapsed().as_secs_f64())
}

fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let size = mib * MIB;
    let server = servers::s3s_fs();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let bucket = servers::bucket_name("throughput");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("data.bin");
    let data: Vec<u8> = (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &data).expect("write test file");
    let data = Bytes::from(data);

    println!("| client | direction | MiB | seconds | MiB/s |");
    println!("|---|---|---:|---:|---:|");
    rt.block_on(async {
        servers::create_bucket(&server.endpoint, &bucket).await;
        let remote = S3Remote::connect(&servers::config(&server.endpoint, &bucket)).await;
        let start = Instant::now();
        let update = Update {
            key: "silt.bin",
            base_etag: None,
            base_size: 0,
            size,
            dirty: &[],
            part_size: PART,
            token: None,
            parallel: IN_FLIGHT,
        };
        let (etag, _) = partial_update(&remote, &data, &update)
            .await
            .expect("upload");
        row("silt-s3", "upload", mib, start.elapsed().as_secs_f64());

        let start = Instant::now();
        let mut off = 0;
        while off < size {
            let ranges: Vec<_> = (0..IN_FLIGHT as u64)
                .map(|i| off + i * PART)
                .filter(|&s| s < size)
                .map(|s| s..(s + PART).min(size))
                .collect();
            let got = futures_join(&remote, &ranges, &etag).await;
            for (r, g) in ranges.iter().zip(got) {
                assert!(
                    g == data.slice(r.start as usize..r.end as usize),
                    "download differs"
                );
            }
            off = ranges.last().map_or(size, |r| r.end);
        }
        row("silt-s3", "download", mib, start.elapsed().as_secs_f64());
    });

    let target = format!("s3://{bucket}/aws.bin");
    let back = dir.path().join("back.bin");
    match aws(&server.endpoint, &[file.to_str().expect("utf-8 path"), &target]) {
        Some(secs) => row("aws s3 cp", "upload", mib, secs),
        None => println!("| aws s3 cp | upload | - | - | not run: `aws` missing or failed (pip install awscli) |"),
    }
    match aws(
        &server.endpoint,
        &[&target, back.to_str().expect("utf-8 path")],
    ) {
        Some(secs) => {
            assert!(
                std::fs::read(&back).expect("read back") == data,
                "aws download differs"
            );
            row("aws s3 cp", "download", mib, secs)
        }
        None => println!("| aws s3 cp | download | - | - | not run |"),
    }
}

async fn futures_join(
    remote: &S3Remote,
    ranges: &[std::ops::Range<u64>],
    etag: &str,
) -> Vec<Bytes> {
    let mut out = Vec::new();
    let gets = ranges
        .iter()
        .map(|r| remote.get_range("silt.bin", r.clone(), Some(etag)));
    for g in futures_util::future::join_all(gets).await {
        out.push(g.expect("get").data);
    }
    out
}
