//! The mount command in TigrisFS's shape, `silt [flags] BUCKET MOUNTPOINT`, run as a child
//! process against an S3-compatible server on loopback (the embedded one, started by the
//! test), with credentials from the environment as a user would give them. Needs root and
//! /dev/fuse (fails without, never skips).

mod support;

use silt_fuse::demo::{DemoServer, ACCESS_KEY, SECRET_KEY};
use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Kills the child and detaches its mount if the test ends early.
struct Running {
    child: Child,
    _detach: DetachOnDrop,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn silt_endpoint_bucket_mountpoint_mounts_uploads_and_stops_on_sigterm() {
    require_fuse();
    let rt = runtime();
    let root = tempfile::tempdir().expect("tempdir");
    let buckets = root.path().join("buckets");
    let mnt = root.path().join("mnt");
    let cache = root.path().join("cache");
    fs::create_dir_all(&mnt).expect("mount point");
    let server = bounded(&rt, "server", DemoServer::start(&buckets, 0)).expect("demo server");
    server.ensure_bucket("test").expect("bucket");

    // The seed's command with a loopback endpoint and a Linux mount point for `H:`.
    let mut running = Running {
        child: Command::new(env!("CARGO_BIN_EXE_silt"))
            .args(["--memory-limit", "1024", "--endpoint", server.endpoint()])
            .arg("--cache-dir")
            .arg(&cache)
            .arg("test")
            .arg(&mnt)
            .env("HOME", root.path())
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn silt"),
        _detach: DetachOnDrop(mnt.clone()),
    };
    let start = Instant::now();
    while !is_mounted(&mnt) {
        if let Some(status) = running.child.try_wait().expect("wait") {
            panic!("silt exited before mounting: {status}");
        }
        assert!(start.elapsed() < WAIT, "not mounted within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The cache went where --cache-dir said (the lock names this process).
    assert!(cache.join("lock").exists());

    fs::write(mnt.join("hello.txt"), b"hello from silt").expect("write on the mount");
    assert_eq!(names(&mnt), vec!["hello.txt"]);
    // Uploaded after the default write-back delay (5 s), while mounted.
    wait_until("hello.txt in the bucket", || {
        fs::read(buckets.join("test/hello.txt")).is_ok_and(|b| b == b"hello from silt")
    });

    let pid = i32::try_from(running.child.id()).expect("pid");
    // SAFETY: kill(2) with our own child's pid and a valid signal touches no memory of ours.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = running.child.try_wait().expect("wait") {
            break status;
        }
        assert!(start.elapsed() < WAIT, "silt did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "silt exited with {status}");
    assert!(!is_mounted(&mnt));
}

#[test]
fn a_bucket_that_does_not_exist_is_named_in_the_error() {
    require_fuse();
    let rt = runtime();
    let root = tempfile::tempdir().expect("tempdir");
    let mnt = root.path().join("mnt");
    fs::create_dir_all(&mnt).expect("mount point");
    let server =
        bounded(&rt, "server", DemoServer::start(&root.path().join("b"), 0)).expect("server");
    let _detach = DetachOnDrop(mnt.clone());
    let silt = |bucket: &str, secret: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_silt"));
        cmd.args(["-f", "--endpoint", server.endpoint()])
            .arg("--cache-dir")
            .arg(root.path().join("cache"))
            .arg(bucket)
            .arg(&mnt)
            .env("HOME", root.path())
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1");
        run_bounded(&mut cmd)
    };
    let (status, err) = silt("no-such-bucket", SECRET_KEY);
    assert!(!status.success());
    assert!(
        err.contains("bucket \"no-such-bucket\"") && err.contains("does not exist"),
        "stderr: {err}"
    );
    assert!(!is_mounted(&mnt));

    server.ensure_bucket("there").expect("bucket");
    let (status, err) = silt("there", "a-wrong-secret");
    assert!(!status.success());
    assert!(
        err.contains("access denied") && err.contains("credentials"),
        "stderr: {err}"
    );
    assert!(!is_mounted(&mnt));
}
