//! The mount command in TigrisFS's shape, `silt [flags] BUCKET MOUNTPOINT`, run as a child
//! process against an S3-compatible server on loopback (the embedded one, started by the
//! test), with credentials from the environment as a user would give them. Needs root and
//! /dev/fuse (fails without, never skips).

mod support;

use silt_fuse::demo::{ACCESS_KEY, SECRET_KEY};
use std::fs;
use std::path::Path;
use std::process::Command;
use support::*;

/// SIGKILLs a background silt if the test ends early.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a pid and a valid signal touches no memory of ours.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

#[test]
fn the_seed_command_mounts_in_the_background_uploads_and_stops_on_sigterm() {
    require_fuse();
    let rt = runtime();
    let s = Served::without_bucket(&rt);
    let _detach = DetachOnDrop(s.mnt.clone());
    s.server.ensure_bucket("test").expect("bucket");

    // The seed's command with a loopback endpoint and a Linux mount point for `H:`: no -f,
    // so it returns once the mount is ready and the mount runs on in the background.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_silt"));
    cmd.args(["--memory-limit", "1024", "--endpoint", s.server.endpoint()])
        .arg("--cache-dir")
        .arg(&s.cache)
        .arg("test")
        .arg(&s.mnt)
        .env("HOME", s.root.path())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE");
    let Ran {
        status,
        stderr: err,
        ..
    } = run_bounded(&mut cmd);
    assert!(status.success(), "silt exited with {status}: {err}");
    assert!(is_mounted(&s.mnt), "not mounted when silt returned: {err}");
    let pid: i32 = err
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in: {err}"));
    let daemon = KillOnDrop(pid);
    assert!(s.cache.join("silt.log").exists(), "no log file");

    fs::write(s.mnt.join("hello.txt"), b"hello from silt").expect("write on the mount");
    assert_eq!(names(&s.mnt), vec!["hello.txt"]);
    // Uploaded after the default write-back delay (5 s), while mounted.
    wait_until("hello.txt in the bucket", || {
        fs::read(s.buckets.join("test/hello.txt")).is_ok_and(|b| b == b"hello from silt")
    });

    // SAFETY: kill(2) with the daemon's pid and a valid signal touches no memory of ours.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    wait_until("the daemon gone", || {
        !Path::new(&format!("/proc/{pid}")).exists() && !is_mounted(&s.mnt)
    });
    std::mem::forget(daemon);
    let log = fs::read_to_string(s.cache.join("silt.log")).expect("log");
    assert!(log.contains("unmounted cleanly"), "log: {log}");
}

#[test]
fn a_bucket_that_does_not_exist_is_named_in_the_error() {
    require_fuse();
    let rt = runtime();
    let s = Served::without_bucket(&rt);
    let _detach = DetachOnDrop(s.mnt.clone());
    // In the background (the reason comes back from its log) and with -f.
    let silt = |bucket: &str, secret: &str, foreground: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_silt"));
        if foreground {
            cmd.arg("-f");
        }
        cmd.args(["--endpoint", s.server.endpoint()])
            .arg("--cache-dir")
            .arg(&s.cache)
            .arg(bucket)
            .arg(&s.mnt)
            .env("HOME", s.root.path())
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1");
        let ran = run_bounded(&mut cmd);
        (ran.status, ran.stderr)
    };
    let (status, err) = silt("no-such-bucket", SECRET_KEY, false);
    assert!(!status.success());
    assert!(
        err.contains("bucket \"no-such-bucket\"") && err.contains("does not exist"),
        "stderr: {err}"
    );
    assert!(!is_mounted(&s.mnt));

    s.server.ensure_bucket("there").expect("bucket");
    let (status, err) = silt("there", "a-wrong-secret", true);
    assert!(!status.success());
    assert!(
        err.contains("access denied") && err.contains("credentials"),
        "stderr: {err}"
    );
    assert!(!is_mounted(&s.mnt));
}
