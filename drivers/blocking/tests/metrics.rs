//! The blocking engine serves the same metrics as the tokio one, from its own threads (no
//! runtime of the caller's): a cold read, a write uploaded by a flush and a failed upload
//! attempt are each scraped over HTTP, against the in-process s3s-fs server.

#[path = "../../tokio/tests/scrape/mod.rs"]
mod scrape;
#[path = "../../tokio/tests/support/mod.rs"]
mod support;

use scrape::{assert_monotonic, scrape, scrape_until};
use silt_blocking::{CacheManager, Options};
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;
use support::pattern;

/// Runs an async helper of the support module on a test runtime (never the engine's).
fn on<T>(f: impl Future<Output = T>) -> T {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime")
    })
    .block_on(f)
}

#[test]
fn the_blocking_engine_serves_its_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = on(support::bucket("blocking-metrics"));
    let mut opts: Options<_> = support::options(dir.path(), &remote);
    opts.services.metrics_addr = Some("127.0.0.1:0".parse().expect("addr"));
    opts.core.write_back_delay = Duration::from_secs(600);
    let engine = CacheManager::start(opts).expect("start");
    let addr = engine.metrics_addr().expect("metrics served");
    let s0 = scrape(addr);
    assert_eq!(s0.get("silt_uploads_succeeded_total"), 0.0);

    let cold = pattern(100_000, 1);
    on(support::put_outside(&remote, "cold.bin", &cold));
    let f = engine.open("cold.bin", false).expect("open");
    assert!(f.read(0, 100_000).expect("read")[..] == cold[..]);
    f.close().expect("close");
    let s1 = scrape(addr);
    assert_monotonic(&s0, &s1);
    assert_eq!(
        s1.get("silt_read_requests_total{result=\"miss\"}"),
        1.0,
        "{s1}"
    );
    assert!(s1.get("silt_fetch_bytes_total") >= 100_000.0);

    remote.fail_writes(true);
    let f = engine.open("new.bin", true).expect("open");
    f.write(0, pattern(50_000, 2)).expect("write");
    f.fsync().expect("fsync");
    f.close().expect("close");
    engine.flush(false).expect("flush");
    let s2 = scrape_until(addr, Duration::from_secs(10), "a failed attempt", |s| {
        s.get("silt_upload_failures_total{kind=\"transient\"}") >= 1.0
    });
    assert_monotonic(&s1, &s2);
    assert_eq!(
        s2.get("silt_cached_bytes{state=\"dirty\"}"),
        50_000.0,
        "{s2}"
    );
    remote.fail_writes(false);
    engine.flush(true).expect("flush");
    let s3 = scrape(addr);
    assert_monotonic(&s2, &s3);
    assert_eq!(s3.get("silt_uploads_succeeded_total"), 1.0, "{s3}");
    assert!(s3.get("silt_upload_bytes_total{how=\"sent\"}") >= 50_000.0);
    assert_eq!(s3.get("silt_cached_bytes{state=\"dirty\"}"), 0.0);
    engine.stop().expect("stop");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "closed at stop"
    );
}
