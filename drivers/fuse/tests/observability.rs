//! What an operator sees of a running mount: `silt status [--json]` and `silt flush --wait`
//! over the control socket, the metrics endpoint scraped over HTTP, `silt status` read from
//! the index once the mount is gone, and a debug-level log of the whole run that never
//! holds the secret key. The binary runs as a child process against the embedded
//! S3-compatible server started by the test. Needs root and /dev/fuse (fails without,
//! never skips).

#[path = "../../tokio/tests/scrape/mod.rs"]
mod scrape;
mod support;

use silt_fuse::demo::{ACCESS_KEY, SECRET_KEY};
use std::fs;
use std::io::Write;
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

/// `silt ARGS` with the test's environment; its exit status, stdout and stderr.
fn silt(home: &Path, args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_silt"))
        .args(args)
        .env("HOME", home)
        .env_remove("SILT_LOG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run silt");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `silt status --json --cache-dir DIR`, parsed.
fn status_json(home: &Path, cache: &str) -> serde_json::Value {
    let (status, out, err) = silt(home, &["status", "--json", "--cache-dir", cache]);
    assert!(status.success(), "silt status --json: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A free loopback port (bound and released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn status_flush_metrics_and_a_log_without_the_secret() {
    require_fuse();
    let rt = runtime();
    let served = Served::without_bucket(&rt);
    let home = served.root.path();
    let cache_s = served.cache.to_string_lossy().into_owned();
    let log = served.path("logs").join("silt.log");
    fs::create_dir_all(log.parent().expect("parent")).expect("log dir");
    let _detach = DetachOnDrop(served.mnt.clone());
    served.server.ensure_bucket("obs").expect("bucket");
    fs::create_dir_all(served.buckets.join("obs/docs")).expect("prefix");
    fs::write(
        served.buckets.join("obs/docs/remote.txt"),
        b"in the bucket before the mount",
    )
    .expect("object");
    let metrics: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");

    // The mount in the background, everything logged at debug level to --log-file.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_silt"));
    cmd.args(["--endpoint", served.server.endpoint()])
        .arg("--cache-dir")
        .arg(&served.cache)
        .arg("--metrics-addr")
        .arg(metrics.to_string())
        .arg("--log-file")
        .arg(&log)
        .arg("obs")
        .arg(&served.mnt)
        .env("HOME", home)
        .env("SILT_LOG", "debug")
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
    let pid: i32 = err
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in: {err}"));
    let daemon = KillOnDrop(pid);
    {
        use std::os::unix::fs::PermissionsExt;
        let sock = fs::metadata(served.cache.join("control.sock")).expect("control socket");
        assert_eq!(
            sock.permissions().mode() & 0o777,
            0o600,
            "control socket mode"
        );
        let log_mode = fs::metadata(&log).expect("log file").permissions().mode();
        assert_eq!(log_mode & 0o777, 0o600, "log file mode");
    }

    // Work on the mount: a remote file read, a new file written and fsynced.
    assert_eq!(
        fs::read(served.mnt.join("docs/remote.txt")).expect("read"),
        b"in the bucket before the mount"
    );
    let data = vec![7u8; 300_000];
    let mut f = fs::File::create(served.mnt.join("docs/new.bin")).expect("create");
    f.write_all(&data).expect("write");
    f.sync_all().expect("fsync");
    drop(f);

    let s = status_json(home, &cache_s);
    assert_eq!(s["schema"], 1, "{s}");
    assert_eq!(s["source"], "mount", "{s}");
    assert_eq!(s["pid"], pid, "{s}");
    assert_eq!(s["cache_dir"], cache_s.as_str(), "{s}");
    assert!(s["counters"]["fetches"].as_u64() >= Some(1), "{s}");
    assert!(s["counters"]["read_misses"].as_u64() >= Some(1), "{s}");
    assert!(s["memory"]["limit_bytes"].as_u64() >= Some(64 << 20), "{s}");
    for field in [
        "cache",
        "uploads",
        "conflicts",
        "memory",
        "counters",
        "in_flight",
        "pending",
        "fatal",
    ] {
        assert!(s.get(field).is_some(), "{field} missing: {s}");
    }
    let (status, text, err) = silt(home, &["status", "--cache-dir", &cache_s]);
    assert!(status.success(), "{err}");
    assert!(
        text.contains(&format!("running mount (pid {pid})")),
        "{text}"
    );
    assert!(
        text.contains("uploads:") && text.contains("reads:"),
        "{text}"
    );

    // flush --wait returns once the upload is done.
    let (status, _, err) = silt(home, &["flush", "--wait", "--cache-dir", &cache_s]);
    assert!(status.success(), "silt flush --wait: {err}");
    assert_eq!(
        fs::read(served.buckets.join("obs/docs/new.bin")).expect("uploaded"),
        data,
        "in the bucket once flush --wait returned"
    );
    let s = status_json(home, &cache_s);
    assert!(
        s["counters"]["uploads_succeeded"].as_u64() >= Some(1),
        "{s}"
    );
    assert!(
        s["counters"]["upload_bytes_sent"].as_u64() >= Some(300_000),
        "{s}"
    );
    assert_eq!(s["cache"]["dirty_bytes"], 0, "{s}");
    assert_eq!(s["uploads"]["queued"], 0, "{s}");

    // The same figures over HTTP from the mount's process.
    let m = scrape::scrape(metrics);
    assert_eq!(
        m.get("silt_uploads_succeeded_total"),
        s["counters"]["uploads_succeeded"].as_f64().expect("number")
    );
    assert!(m.get("silt_fetches_total") >= 1.0);
    assert_eq!(m.get("silt_cached_bytes{state=\"dirty\"}"), 0.0);

    // Unmount; the status is then read from the index.
    // SAFETY: kill(2) with the daemon's pid and a valid signal touches no memory of ours.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    wait_until("the daemon gone", || {
        !Path::new(&format!("/proc/{pid}")).exists() && !is_mounted(&served.mnt)
    });
    std::mem::forget(daemon);
    assert!(
        !served.cache.join("control.sock").exists(),
        "socket removed at exit"
    );
    let s = status_json(home, &cache_s);
    assert_eq!(s["source"], "index", "{s}");
    assert_eq!(s["pid"], serde_json::Value::Null, "{s}");
    assert_eq!(s["cache"]["dirty_bytes"], 0, "{s}");
    assert!(s["cache"]["cached_bytes"].as_u64() >= Some(300_000), "{s}");
    let (status, _, err) = silt(home, &["flush", "--cache-dir", &cache_s]);
    assert!(!status.success());
    assert!(err.contains("no silt mount runs"), "{err}");

    // The log: debug lines of the whole run, one line for the upload, no secret.
    let text = fs::read_to_string(&log).expect("log");
    assert!(text.contains("DEBUG"), "a debug-level log: {text}");
    let upload = text
        .lines()
        .find(|l| l.contains("outcome=\"stored\"") && l.contains("docs/new.bin"))
        .unwrap_or_else(|| panic!("no upload line in the log:\n{text}"));
    for field in ["bytes=300000", "attempt=1"] {
        assert!(upload.contains(field), "{field} in {upload}");
    }
    assert!(
        !text.contains(SECRET_KEY),
        "the secret key is in the log:\n{text}"
    );
    assert!(!text.contains("X-Amz-Signature"), "a signed URL in the log");
}
