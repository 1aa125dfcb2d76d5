//! Scraping an engine's metrics endpoint over real HTTP, for the metrics tests of both
//! drivers: a plain `GET /metrics` on a TCP connection, the OpenMetrics text parsed into
//! `series -> value`, and the check that counters never go backwards between scrapes.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One scrape: every sample, keyed by its series (`name{labels}`, as served).
#[derive(Clone, Debug, Default)]
pub struct Scrape(pub BTreeMap<String, f64>);

impl Scrape {
    /// The value of `series` (`silt_fetches_total`, `silt_uploads{state="queued"}`); panics
    /// naming it when the endpoint did not serve it.
    pub fn get(&self, series: &str) -> f64 {
        match self.0.get(series) {
            Some(v) => *v,
            None => panic!("{series} not served; got:\n{self}"),
        }
    }
}

impl std::fmt::Display for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (k, v) in &self.0 {
            writeln!(f, "{k} {v}")?;
        }
        Ok(())
    }
}

/// `GET /metrics` at `addr` (blocking); checks the status line, the content type and the
/// OpenMetrics `# EOF` end, and parses the samples.
pub fn scrape(addr: SocketAddr) -> Scrape {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("application/openmetrics-text"),
        "OpenMetrics content type: {head}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    let mut samples = BTreeMap::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        samples.insert(series.to_string(), value);
    }
    Scrape(samples)
}

/// Scrapes until `cond` holds (at most `within`); returns that scrape, or panics with
/// `what` and the last scrape.
pub fn scrape_until(
    addr: SocketAddr,
    within: Duration,
    what: &str,
    cond: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let deadline = Instant::now() + within;
    loop {
        let s = scrape(addr);
        if cond(&s) {
            return s;
        }
        if Instant::now() > deadline {
            panic!("{what}: not seen within {within:?}; last scrape:\n{s}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every counter (`_total`) and histogram count and sum of `earlier` is at most its value
/// in `later`.
pub fn assert_monotonic(earlier: &Scrape, later: &Scrape) {
    for (k, v) in &earlier.0 {
        let counter = ["_total", "_count", "_sum", "_bucket"]
            .iter()
            .any(|s| k.contains(s));
        if !counter {
            continue;
        }
        let now = later.get(k);
        assert!(now >= *v, "{k} went backwards: {v} then {now}");
    }
}
