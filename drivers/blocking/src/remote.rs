//! Reaching the bucket without an async runtime of one's own: [`connect`] builds the S3
//! remote and probes the server on a short-lived runtime.

use silt_engine::{Error, Result};
use silt_s3::{probe, RemoteConfig, S3Remote};

/// Connects to the bucket of `config` and probes which conditions the server enforces
/// (writing and removing two objects named after `nonce`), with the result set on the
/// remote. Apply it to the core too: `remote.capabilities().apply_to(&mut options.core)`.
///
/// It runs on a current-thread runtime that ends when it returns; connections opened by the
/// probe end with it, and the engine's private runtime opens its own.
pub fn connect(config: &RemoteConfig, nonce: &str) -> Result<S3Remote> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Spawn {
            what: "connect runtime",
            source,
        })?;
    runtime.block_on(async {
        let remote = S3Remote::connect(config).await;
        let caps = probe(&remote, nonce)
            .await
            .map_err(|e| Error::Io(format!("probing the server: {e}")))?;
        remote.set_capabilities(caps);
        Ok(remote)
    })
}
