//! Child processes for the SIGKILL tests: this test binary, re-executed to run one test's
//! child part (selected by the environment the test passes), killed with SIGKILL once it has
//! said it is ready and the test agrees.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the parent waits for the child's ready line.
pub const READY_WAIT: Duration = Duration::from_secs(30);
/// How long the parent waits for the killed child to be reaped.
pub const EXIT_WAIT: Duration = Duration::from_secs(10);

/// Kills the child with SIGKILL when dropped (a failing test leaves no process behind).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Prints `line` on a line of its own (the test harness may have printed the test's name)
/// for the parent to see.
pub fn say(line: &str) {
    println!("\n{line}");
    std::io::Write::flush(&mut std::io::stdout()).expect("flush stdout");
}

/// Runs `test_name` of this binary as a child with `envs`, waits for it to print `ready`,
/// runs `before_kill` (which may wait for something the child does next), kills the child
/// with SIGKILL and reaps it. Returns its pid and exit status. Panics with the child's
/// output if it never got ready.
pub fn run_child(
    test_name: &str,
    envs: Vec<(&str, std::ffi::OsString)>,
    ready: &str,
    before_kill: impl FnOnce(),
) -> (u32, ExitStatus) {
    let exe = std::env::current_exe().expect("the test binary");
    let child = Command::new(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads", "1"])
        .envs(envs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let mut child = Killed(child);
    let pid = child.0.id();
    let stdout = child.0.stdout.take().expect("child stdout");
    let mut stderr = child.0.stderr.take().expect("child stderr");
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let (err_tx, err_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = err_tx.send(text);
    });

    let deadline = Instant::now() + READY_WAIT;
    let mut seen = Vec::new();
    let got_ready = loop {
        match line_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.trim() == ready => break true,
            Ok(line) => seen.push(line),
            // The child closed stdout (it ended) or the deadline passed.
            Err(_) => break false,
        }
    };
    if got_ready {
        before_kill();
    }

    child.0.kill().expect("SIGKILL the child");
    let deadline = Instant::now() + EXIT_WAIT;
    let exit = loop {
        if let Some(exit) = child.0.try_wait().expect("wait for the child") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the killed child did not exit within {EXIT_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    if !got_ready {
        let err = err_rx.recv_timeout(EXIT_WAIT).unwrap_or_default();
        panic!(
            "the child did not report {ready:?} within {READY_WAIT:?} ({exit:?})\n\
             stdout:\n{}\nstderr:\n{err}",
            seen.join("\n")
        );
    }
    (pid, exit)
}
