//! A cache directory on a disk that fills up: a 32 MiB tmpfs (mounted by the test, which
//! needs root), real cache files, a redb index on the same disk, the s3s-fs server. Writers
//! get a clear "no space" error once dirty data fills the disk; everything acknowledged
//! before stays intact, the index keeps committing, and the uploads then empty the disk.

#![cfg(target_os = "linux")]

mod support;

use silt_tokio::{CacheManager, Error};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{bounded, bucket, object, options, pattern};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size_mib: u64) -> Tmpfs {
        let parent = tempfile::tempdir().expect("mount point parent");
        let path = parent.path().join("disk");
        std::fs::create_dir(&path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(&path)
            .output()
            .expect("run mount(8)");
        assert!(
            out.status.success(),
            "mounting a {size_mib} MiB tmpfs at {} failed (this test needs root): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            path,
            _parent: parent,
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .expect("df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_cleanly_and_keeps_everything_acknowledged() {
    let disk = Tmpfs::mount(32);
    let remote = bucket("full-disk").await;
    let mut opts = options(&disk.path, &remote);
    // Nothing goes up on its own: the disk fills with dirty data.
    opts.core.write_back_delay = Duration::from_secs(600);
    opts.core.write_wait_timeout = Duration::from_millis(500);
    opts.core.min_free_space = 2 << 20;
    let engine = CacheManager::start(opts).await.expect("start");

    let mut kept = Vec::new();
    let mut refused = None;
    for i in 0..40u8 {
        let key = format!("fill/{i:02}.bin");
        let data = pattern(2 << 20, i);
        let f = engine.open(&key, true).await.expect("open");
        let written = bounded("write", f.write(0, data.clone())).await;
        let synced = match written {
            Ok(_) => bounded("fsync", f.sync_range()).await,
            Err(e) => Err(e),
        };
        let _ = bounded("close", f.close()).await;
        match synced {
            Ok(()) => kept.push((key, data)),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("a 32 MiB disk cannot hold 80 MiB of dirty data");
    let free = free_bytes(&disk.path);
    println!(
        "{} files of 2 MiB fitted; {free} bytes free when refused",
        kept.len()
    );
    assert!(
        free >= 1 << 20,
        "the reserve for the index (2 MiB) is kept: {free} bytes free"
    );
    assert!(
        matches!(refused, Error::NoSpace),
        "a clear error: {refused:?}"
    );
    assert!(kept.len() >= 4, "only {} files fitted", kept.len());
    let status = engine.status().await.expect("status");
    assert!(status.fatal.is_none(), "the index kept working: {status:?}");
    assert!(status.events.space_exhausted >= 1, "{status:?}");

    // Everything acknowledged reads back, and reaches the bucket.
    for (key, data) in &kept {
        let f = engine.open(key, false).await.expect("reopen");
        let back = bounded("read", f.read(0, data.len() as u64))
            .await
            .expect("read");
        assert!(back[..] == data[..], "{key} is intact");
        bounded("close", f.close()).await.expect("close");
    }
    bounded("flush", engine.flush(true)).await.expect("flush");
    for (key, data) in &kept {
        let stored = object(&remote, key).await.expect("uploaded");
        assert!(stored == *data, "{key} reached the bucket");
    }

    // Uploaded data is clean and evictable: writing works again.
    let f = engine.open("after/full.bin", true).await.expect("open");
    bounded("write after", f.write(0, pattern(4 << 20, 99)))
        .await
        .expect("room again once the dirty data is uploaded");
    bounded("fsync after", f.sync_range()).await.expect("fsync");
    bounded("close", f.close()).await.expect("close");
    bounded("stop", engine.stop()).await.expect("stop");
}
