//! A fault-injecting TCP proxy in front of a server: counts the bytes clients send, and on
//! every `every`-th connection injects one fault, cycling through five: a 503 SlowDown and a
//! 500 InternalError answered without forwarding the request, a connection reset before any
//! response, and (for a GET) a response cut off halfway through its body, by a reset or by a
//! clean close. It can also delay every connection.
//!
//! Faults hit the first request of a connection, before the server sees it (5xx, reset) or
//! after (cut GETs, which change nothing on the server), so retrying is always safe.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy injects.
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultPlan {
    /// Inject a fault on every `every`-th connection; 0: never.
    pub every: u64,
    /// Delay before each connection is forwarded.
    pub latency: Duration,
    /// Inject only this fault (0: 503, 1: reset, 2: GET reset mid-body, 3: 500, 4: GET
    /// closed mid-body) instead of cycling.
    pub only: Option<u64>,
}

/// Counters.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Bytes forwarded from clients to the server.
    pub bytes_up: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Faults injected, by kind (see [`FaultPlan::only`]).
    pub faults: [AtomicU64; 5],
}

/// A running proxy.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Its counters.
    pub stats: Arc<ProxyStats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy to `upstream` (`http://host:port`) on the current runtime.
    pub async fn start(upstream: &str, plan: FaultPlan) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let stats = Arc::new(ProxyStats::default());
        let s = stats.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let n = s.connections.fetch_add(1, Ordering::Relaxed) + 1;
                let (s, upstream) = (s.clone(), upstream.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(plan.latency).await;
                    let fault = (plan.every > 0 && n % plan.every == 0)
                        .then(|| plan.only.unwrap_or((n / plan.every) % 5));
                    let _ = handle(client, &upstream, fault, &s).await;
                });
            }
        });
        Proxy {
            endpoint,
            stats,
            task,
        }
    }
}

async fn handle(
    mut client: TcpStream,
    upstream: &str,
    fault: Option<u64>,
    s: &ProxyStats,
) -> std::io::Result<()> {
    let Some(fault) = fault else {
        let server = TcpStream::connect(upstream).await?;
        return pipe(client, server, s).await;
    };
    let head = read_head(&mut client).await?;
    let is_get = head.starts_with(b"GET ");
    match (fault, is_get) {
        (1, _) => {
            s.faults[1].fetch_add(1, Ordering::Relaxed);
            client.set_zero_linger()?;
            Ok(())
        }
        (2 | 4, true) => {
            s.faults[fault as usize].fetch_add(1, Ordering::Relaxed);
            let mut server = TcpStream::connect(upstream).await?;
            s.bytes_up.fetch_add(head.len() as u64, Ordering::Relaxed);
            server.write_all(&head).await?;
            let resp = read_head(&mut server).await?;
            let len = content_length(&resp).unwrap_or(0);
            client.write_all(&resp).await?;
            let mut body = vec![0u8; (len / 2) as usize];
            server.read_exact(&mut body).await?;
            client.write_all(&body).await?;
            if fault == 2 {
                client.set_zero_linger()?;
                Ok(())
            } else {
                client.shutdown().await
            }
        }
        (3, _) => {
            s.faults[3].fetch_add(1, Ordering::Relaxed);
            error_response(&mut client, "500 Internal Server Error", "InternalError").await
        }
        _ => {
            s.faults[0].fetch_add(1, Ordering::Relaxed);
            error_response(&mut client, "503 Service Unavailable", "SlowDown").await
        }
    }
}

/// Answers with an S3 error document and closes.
async fn error_response(client: &mut TcpStream, status: &str, code: &str) -> std::io::Result<()> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>injected by the test proxy</Message></Error>"
    );
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(resp.as_bytes()).await?;
    client.shutdown().await
}

/// Reads up to the end of an HTTP head (`\r\n\r\n`), at most 64 KiB.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 || head.len() > 65_536 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

fn content_length(head: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(head).ok()?;
    text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

/// Copies both ways, counting what the client sends.
async fn pipe(client: TcpStream, server: TcpStream, s: &ProxyStats) -> std::io::Result<()> {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                sw.shutdown().await?;
                return Ok::<_, std::io::Error>(());
            }
            s.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
            sw.write_all(&buf[..n]).await?;
        }
    };
    let down = async {
        tokio::io::copy(&mut sr, &mut cw).await?;
        cw.shutdown().await
    };
    let _ = tokio::try_join!(up, down);
    Ok(())
}
