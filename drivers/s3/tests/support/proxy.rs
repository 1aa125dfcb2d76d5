//! A fault-injecting TCP proxy in front of a server: counts the bytes clients send, and on
//! every `every`-th connection injects one fault, cycling through five: a 503 SlowDown and a
//! 500 InternalError answered without forwarding the request, a connection reset before any
//! response, and (for a GET) a response cut off halfway through its body, by a reset or by a
//! clean close. It can also delay every connection, take the server away (refuse new
//! connections and cut open ones: [`Proxy::set_down`]) and hold back what clients send after
//! a number of bytes (an upload stuck midway: [`Proxy::hold_after`]).
//!
//! Faults hit the first request of a connection, before the server sees it (5xx, reset) or
//! after (cut GETs, which change nothing on the server), so retrying is always safe.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// The server is away: connections are refused and cut.
    down: AtomicBool,
    /// When not 0: client bytes go through only while `bytes_up` is below it.
    hold_at: AtomicU64,
}

/// How often a held-back or cut connection looks at the switches again.
const POLL: Duration = Duration::from_millis(5);

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
    /// Down: new connections are refused and open ones cut. Up: back to normal.
    pub fn set_down(&self, down: bool) {
        self.stats.down.store(down, Ordering::SeqCst);
    }

    /// Bytes clients sent through the proxy so far.
    pub fn bytes_up(&self) -> u64 {
        self.stats.bytes_up.load(Ordering::SeqCst)
    }

    /// Counts client bytes from zero again.
    pub fn reset_bytes_up(&self) {
        self.stats.bytes_up.store(0, Ordering::SeqCst);
    }

    /// Holds back client bytes once `bytes` more have gone through.
    pub fn hold_after(&self, bytes: u64) {
        let at = self.bytes_up().saturating_add(bytes).max(1);
        self.stats.hold_at.store(at, Ordering::SeqCst);
    }

    /// Lets everything through again.
    pub fn release(&self) {
        self.stats.hold_at.store(0, Ordering::SeqCst);
    }

    /// True while client bytes are being held back.
    pub fn holding(&self) -> bool {
        let at = self.stats.hold_at.load(Ordering::SeqCst);
        at != 0 && self.bytes_up() >= at
    }

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
                if s.down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
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

/// Copies both ways, counting what the client sends, holding it back past `hold_at`, until
/// either side closes or the proxy goes down.
async fn pipe(client: TcpStream, server: TcpStream, s: &ProxyStats) -> std::io::Result<()> {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let cut = || std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                sw.shutdown().await?;
                return Ok::<_, std::io::Error>(());
            }
            let mut at = 0;
            while at < n {
                if s.down.load(Ordering::SeqCst) {
                    return Err(cut());
                }
                let hold_at = s.hold_at.load(Ordering::SeqCst);
                let room = match hold_at {
                    0 => u64::MAX,
                    h => h.saturating_sub(s.bytes_up.load(Ordering::SeqCst)),
                };
                if room == 0 {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                let take = (n - at).min(usize::try_from(room).unwrap_or(usize::MAX));
                sw.write_all(&buf[at..at + take]).await?;
                s.bytes_up.fetch_add(take as u64, Ordering::SeqCst);
                at += take;
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let read = tokio::time::timeout(POLL * 20, sr.read(&mut buf)).await;
            if s.down.load(Ordering::SeqCst) {
                return Err(cut());
            }
            match read {
                Err(_) => continue,
                Ok(r) => match r? {
                    0 => return cw.shutdown().await,
                    n => cw.write_all(&buf[..n]).await?,
                },
            }
        }
    };
    let _ = tokio::try_join!(up, down);
    Ok(())
}
