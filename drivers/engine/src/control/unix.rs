//! The control socket on Unix: a `UnixListener` thread, a thread per connection.

use super::{socket_path, ControlError, ControlReply, Handler};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a client may take to send its request line.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A listening control socket; stopped, and its file removed, when dropped.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    /// Listens at `path` (a file left there by an earlier process is replaced: the caller
    /// holds the cache directory's lock, so no live engine owns it), mode 0600.
    pub fn start(path: &Path, handler: Handler) -> std::io::Result<ControlServer> {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("silt-control".into())
            .spawn(move || serve(listener, handler, &flag))?;
        tracing::info!(path = %path.display(), "control socket listening");
        Ok(ControlServer {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let woke = UnixStream::connect(&self.path);
        if let Some(thread) = self.thread.take() {
            if woke.is_ok() {
                let _ = thread.join();
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: UnixListener, handler: Handler, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match conn {
            Ok(stream) => {
                let handler = handler.clone();
                let spawned = std::thread::Builder::new()
                    .name("silt-control-conn".into())
                    .spawn(move || {
                        if let Err(e) = answer(stream, &handler) {
                            tracing::debug!(error = %e, "control request failed");
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "control socket: no thread for a request");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket: accept failed");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn answer(stream: UnixStream, handler: &Handler) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut line = String::new();
    // One line of at most 4 KiB.
    BufReader::new(std::io::Read::take(&stream, 4096)).read_line(&mut line)?;
    let reply = handler(line.trim());
    let mut text = serde_json::to_string(&reply).map_err(std::io::Error::other)?;
    text.push('\n');
    (&stream).write_all(text.as_bytes())?;
    (&stream).flush()
}

/// Sends `line` to the engine running on `cache_dir` and returns its reply (waits as long
/// as the engine takes: a `flush --wait` returns when the flush is done).
pub fn request(cache_dir: &Path, line: &str) -> Result<ControlReply, ControlError> {
    let path = socket_path(cache_dir);
    let io = |source| ControlError::Io {
        path: path.clone(),
        source,
    };
    let stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ControlError::NotRunning(cache_dir.to_path_buf()))
        }
        Err(e) => return Err(io(e)),
    };
    (&stream)
        .write_all(format!("{line}\n").as_bytes())
        .map_err(io)?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).map_err(io)?;
    serde_json::from_str(&answer).map_err(|e| ControlError::BadReply {
        path: path.clone(),
        detail: format!("{e} in {answer:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_requests_at_mode_0600_and_cleans_up() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = socket_path(dir.path());
        std::fs::write(&path, b"left by a killed process").expect("stale file");
        let handler: Handler = Arc::new(|line: &str| match line {
            "flush" => ControlReply::done(),
            other => ControlReply::failed(format!("unknown request {other:?}")),
        });
        let server = ControlServer::start(&path, handler).expect("start");
        let mode = std::fs::metadata(&path)
            .expect("socket")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            request(dir.path(), "flush").expect("flush"),
            ControlReply::done()
        );
        let other = request(dir.path(), "launch").expect("reply");
        assert!(!other.ok);
        assert!(other.error.as_deref().unwrap_or("").contains("launch"));
        drop(server);
        assert!(!path.exists());
        assert!(matches!(
            request(dir.path(), "status"),
            Err(ControlError::NotRunning(_))
        ));
    }
}
