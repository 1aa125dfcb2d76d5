//! Transient failures retried with backoff, for a bounded time.

use silt_remote::{ErrorKind, RemoteError};
use std::future::Future;
use std::time::Duration;

/// Runs `op` until it succeeds, fails for good, or `retry_for` has passed since the first
/// attempt; transient failures are retried after 100 ms, doubling up to 5 s.
pub async fn retried<T, F, Fut>(retry_for: Duration, mut op: F) -> Result<T, RemoteError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RemoteError>>,
{
    let start = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        match op().await {
            Err(e) if e.kind == ErrorKind::Transient && start.elapsed() < retry_for => {
                tracing::debug!(error = %e, "transient failure, retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}
