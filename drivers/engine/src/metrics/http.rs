//! The metrics endpoint: a minimal HTTP/1.1 responder on a std `TcpListener` (one thread,
//! one request per connection), so that neither driver needs an HTTP stack or a runtime
//! for it. `GET /metrics` answers the registry in the OpenMetrics text format, after the
//! `refresh` callback has brought the gauges up to date; anything else is 404 or 405.

use super::Metrics;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Called before each scrape to bring the gauges up to date.
pub type Refresh = Box<dyn Fn() + Send + 'static>;

/// A running metrics endpoint; stopped (and its thread joined) when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Listens on `addr` (port 0: any free port; see [`MetricsServer::local_addr`]) and
    /// serves `metrics` from a thread of its own.
    pub fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        refresh: Refresh,
    ) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("silt-metrics".into())
            .spawn(move || serve(listener, &metrics, &refresh, &flag))?;
        tracing::info!(%addr, "metrics served at http://{addr}/metrics");
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept: a connection that is closed at once.
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let woke = TcpStream::connect_timeout(&SocketAddr::new(ip, self.addr.port()), READ_TIMEOUT);
        if let Some(thread) = self.thread.take() {
            if woke.is_ok() {
                let _ = thread.join();
            }
        }
    }
}

fn serve(listener: TcpListener, metrics: &Metrics, refresh: &Refresh, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match conn {
            Ok(stream) => {
                if let Err(e) = answer(stream, metrics, refresh) {
                    tracing::debug!(error = %e, "metrics request failed");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Reads one request and answers it.
fn answer(mut stream: TcpStream, metrics: &Metrics, refresh: &Refresh) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(READ_TIMEOUT))?;
    let head = read_head(&mut stream)?;
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics") => {
            refresh();
            ("200 OK", CONTENT_TYPE, metrics.encode())
        }
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "not found: the metrics are at /metrics\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET is served\n".into(),
        ),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(reply.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// The request's head (up to the blank line, at most 16 KiB).
fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).expect("connect");
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    }

    #[test]
    fn serves_the_registry_and_refreshes_first() {
        let metrics = Arc::new(Metrics::new());
        let m = metrics.clone();
        // Each scrape refreshes first: the count it serves includes its own refresh.
        let refresh: Refresh = Box::new(move || {
            m.evictions.inc();
        });
        let server = MetricsServer::start("127.0.0.1:0".parse().expect("addr"), metrics, refresh)
            .expect("start");
        let addr = server.local_addr();
        let first = get(addr, "/metrics");
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        assert!(first.contains(CONTENT_TYPE), "{first}");
        assert!(first.contains("\nsilt_evictions_total 1\n"), "{first}");
        assert!(first.trim_end().ends_with("# EOF"), "{first}");
        let second = get(addr, "/metrics?x=1");
        assert!(second.contains("\nsilt_evictions_total 2\n"), "{second}");
        assert!(get(addr, "/").starts_with("HTTP/1.1 404"));
        drop(server);
        assert!(
            TcpStream::connect(addr).is_err(),
            "the port is closed after a drop"
        );
    }
}
