//! The `silt` binary as a user runs it: `silt demo DIR` in a child process, files copied
//! onto the mount, SIGTERM (a clean unmount), then `silt demo DIR` again: the files are
//! there and reach the demo bucket. Needs root and /dev/fuse (fails without, never skips).

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{detach, is_mounted, names, require_fuse, wait_until, DetachOnDrop, WAIT};

/// A `silt demo` child, killed if the test ends without stopping it.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    mnt: PathBuf,
}

impl Demo {
    /// Starts `silt demo dir` with `home` as HOME and waits for the mount line.
    fn start(dir: &Path, home: &Path) -> Demo {
        Demo::start_with(dir, home, &[])
    }

    /// [`Demo::start`] with more flags.
    fn start_with(dir: &Path, home: &Path, flags: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_silt"))
            .arg("demo")
            .arg(dir)
            .args(flags)
            .env("HOME", home)
            .env("SILT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn silt demo");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let demo = Demo {
            child,
            lines: rx,
            mnt: dir.join("mnt"),
        };
        let first = demo
            .lines
            .recv_timeout(WAIT)
            .expect("silt demo printed nothing within the wait");
        assert!(
            first.starts_with("silt demo: bucket \"demo\" mounted on "),
            "unexpected first line: {first}"
        );
        demo
    }

    /// SIGTERM, then the exit status within the wait.
    fn terminate(self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM)
    }

    /// Sends `sig`, then returns the exit status within the wait.
    fn signal(mut self, sig: i32) -> std::process::ExitStatus {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) with a pid of our own child and a valid signal number touches no
        // memory of ours.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill -{sig} {pid}");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                start.elapsed() < WAIT,
                "silt demo did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            // A killed mount stays behind as a dead FUSE mount: take it away.
            if is_mounted(&self.mnt) {
                detach(&self.mnt);
            }
        }
    }
}

/// A demo's folder, a HOME for it and its mount point, after the temporary directory that
/// holds them (removed at drop): `let Place(_root, dir, home, mnt) = Place::new();`.
struct Place(tempfile::TempDir, PathBuf, PathBuf, PathBuf);

impl Place {
    fn new() -> Place {
        let root = tempfile::tempdir().expect("tempdir");
        let dir: PathBuf = root.path().join("demo");
        let home = root.path().join("home");
        fs::create_dir_all(&home).expect("home");
        let mnt = dir.join("mnt");
        Place(root, dir, home, mnt)
    }
}

#[test]
fn silt_demo_without_a_local_cache_stores_each_file_in_the_bucket_when_it_is_closed() {
    require_fuse();
    let Place(_root, dir, home, mnt) = Place::new();
    let bucket = dir.join("buckets/demo");

    let demo = Demo::start_with(&dir, &home, &["--no-local-cache"]);
    let mut said = Vec::new();
    while let Ok(line) = demo.lines.recv_timeout(Duration::from_secs(2)) {
        said.push(line);
    }
    assert!(
        said.iter()
            .any(|l| l.contains("cache:   none (--no-local-cache")),
        "the demo says there is no cache: {said:?}"
    );
    let data: Vec<u8> = (0..12_000_000u32).map(|i| (i * 13 % 251) as u8).collect();
    fs::write(mnt.join("big.bin"), &data).expect("write on the mount");
    // No upload delay and no journal: the close returned once the bucket held it.
    assert!(fs::read(bucket.join("big.bin")).expect("in the bucket") == data);
    fs::create_dir(mnt.join("dir")).expect("mkdir");
    fs::write(mnt.join("dir/small.txt"), b"small").expect("write small");
    fs::rename(mnt.join("dir/small.txt"), mnt.join("dir/renamed.txt")).expect("rename");
    assert_eq!(names(&mnt.join("dir")), vec!["renamed.txt"]);
    assert_eq!(
        fs::read(bucket.join("dir/renamed.txt")).expect("renamed"),
        b"small"
    );
    assert!(!dir.join("cache").exists(), "no cache directory is made");
    let status = demo.terminate();
    assert!(status.success(), "silt demo exited with {status}");

    // The cached mount of the same bucket sees what the uncached one stored.
    let demo = Demo::start(&dir, &home);
    assert_eq!(names(&mnt), vec!["big.bin", "dir"]);
    assert!(fs::read(mnt.join("big.bin")).expect("read") == data);
    let status = demo.terminate();
    assert!(status.success(), "silt demo exited with {status}");
}

#[test]
fn silt_demo_mounts_stops_on_sigterm_and_remounts_with_the_files() {
    require_fuse();
    let Place(_root, dir, home, mnt) = Place::new();

    let demo = Demo::start(&dir, &home);
    assert!(is_mounted(&mnt), "{} is not mounted", mnt.display());
    // The configuration template is written on first use, in the user's home.
    assert!(home.join(".tigrisfs/config.yaml").exists());
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    {
        let mut f = fs::File::create(mnt.join("copied.bin")).expect("create on the mount");
        f.write_all(&data).expect("write");
        f.sync_all().expect("fsync");
    }
    fs::write(mnt.join("note.txt"), b"survives a remount").expect("write note");
    assert_eq!(names(&mnt), vec!["copied.bin", "note.txt"]);
    let status = demo.terminate();
    assert!(status.success(), "silt demo exited with {status}");
    assert!(!is_mounted(&mnt), "still mounted after SIGTERM");

    let demo = Demo::start(&dir, &home);
    assert_eq!(names(&mnt), vec!["copied.bin", "note.txt"]);
    assert_eq!(fs::read(mnt.join("copied.bin")).expect("read"), data);
    assert_eq!(
        fs::read(mnt.join("note.txt")).expect("read note"),
        b"survives a remount"
    );
    // The uploads (journaled, or resumed at this start) reach the bucket's folder.
    let bucket = dir.join("buckets/demo");
    wait_until("copied.bin in the demo bucket", || {
        fs::read(bucket.join("copied.bin")).is_ok_and(|b| b == data)
    });
    wait_until("note.txt in the demo bucket", || {
        fs::read(bucket.join("note.txt")).is_ok_and(|b| b == b"survives a remount")
    });
    let status = demo.terminate();
    assert!(status.success(), "silt demo exited with {status}");
    assert!(!is_mounted(&mnt));
}

#[test]
fn after_kill_9_the_stale_mount_is_named_and_every_fsynced_byte_survives() {
    require_fuse();
    let Place(_root, dir, home, mnt) = Place::new();

    let _cleanup = DetachOnDrop(mnt.clone());
    let demo = Demo::start(&dir, &home);
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 253) as u8).collect();
    {
        let mut f = fs::File::create(mnt.join("fsynced.bin")).expect("create");
        f.write_all(&data).expect("write");
        f.sync_all().expect("fsync");
    }
    let status = demo.signal(libc::SIGKILL);
    assert!(!status.success(), "killed: {status}");

    // The dead process left its mount behind: silt says what it is and what to do.
    assert!(is_mounted(&mnt), "the kernel keeps a dead FUSE mount");
    let out = Command::new(env!("CARGO_BIN_EXE_silt"))
        .arg("demo")
        .arg(&dir)
        .env("HOME", &home)
        .output()
        .expect("run silt demo on the stale mount");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stale FUSE mount") && err.contains("umount"),
        "stderr: {err}"
    );
    detach(&mnt);
    assert!(!is_mounted(&mnt));

    // The next start takes the lock over and the fsynced file is whole, then uploaded.
    let demo = Demo::start(&dir, &home);
    assert_eq!(fs::read(mnt.join("fsynced.bin")).expect("read"), data);
    wait_until("fsynced.bin in the demo bucket", || {
        fs::read(dir.join("buckets/demo/fsynced.bin")).is_ok_and(|b| b == data)
    });
    assert!(demo.terminate().success());
}

/// The bytes of chunk `i` of the stream written in the kill test.
fn chunk(i: u64) -> Vec<u8> {
    (0..CHUNK)
        .map(|j| (i as u8) ^ (j as u8).wrapping_mul(13))
        .collect()
}

/// Chunk size of the stream written in the kill test.
const CHUNK: usize = 64 * 1024;

#[test]
fn kill_9_in_the_middle_of_writes_keeps_every_fsynced_byte() {
    require_fuse();
    let Place(_root, dir, home, mnt) = Place::new();
    let _cleanup = DetachOnDrop(mnt.clone());
    let demo = Demo::start(&dir, &home);

    // A writer appends 64 KiB chunks and fsyncs every fourth; `synced` is how much an
    // fsync has acknowledged. It stops at the first error (the mount dies under it).
    let synced = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let synced = synced.clone();
        let path = mnt.join("stream.bin");
        std::thread::spawn(move || {
            use std::os::unix::fs::FileExt;
            let Ok(f) = fs::File::create(&path) else {
                return;
            };
            for i in 0..4096u64 {
                if f.write_all_at(&chunk(i), i * CHUNK as u64).is_err() {
                    return;
                }
                if i % 4 == 3 {
                    if f.sync_all().is_err() {
                        return;
                    }
                    synced.store((i + 1) * CHUNK as u64, std::sync::atomic::Ordering::SeqCst);
                }
            }
        })
    };
    wait_until("2 MiB fsynced", || {
        synced.load(std::sync::atomic::Ordering::SeqCst) >= 2 << 20
    });
    let status = demo.signal(libc::SIGKILL);
    assert!(!status.success(), "killed: {status}");
    writer.join().expect("writer");
    let acknowledged = synced.load(std::sync::atomic::Ordering::SeqCst) as usize;
    detach(&mnt);

    let expected: Vec<u8> = (0..(acknowledged / CHUNK) as u64).flat_map(chunk).collect();
    let demo = Demo::start(&dir, &home);
    let got = fs::read(mnt.join("stream.bin")).expect("read after the restart");
    assert!(
        got.len() >= acknowledged,
        "{} bytes after the restart, {acknowledged} were fsynced",
        got.len()
    );
    assert!(
        got[..acknowledged] == expected[..],
        "fsynced bytes lost or changed"
    );
    let bucket_file = dir.join("buckets/demo/stream.bin");
    wait_until("stream.bin in the demo bucket", || {
        fs::read(&bucket_file).is_ok_and(|b| b == got)
    });
    assert!(demo.terminate().success());
}

#[test]
fn a_missing_mount_point_is_a_clear_error() {
    require_fuse();
    let root = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_silt"))
        .args(["--endpoint", "http://127.0.0.1:9", "bucket"])
        .arg(root.path().join("missing"))
        .env("HOME", root.path())
        .output()
        .expect("run silt");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not exist") && err.contains("mkdir -p"),
        "stderr: {err}"
    );
}
