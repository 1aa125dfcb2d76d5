//! How to reach the bucket: TigrisFS-like settings (profile, endpoint, region, path style)
//! turned into an S3 client.

use std::time::Duration;

/// Where the bucket is and how to talk to it.
#[derive(Clone, Debug, Default)]
pub struct RemoteConfig {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket (`photos/2024/`), or empty. Keys given to the remote are
    /// relative to it.
    pub prefix: String,
    /// Endpoint URL (`--endpoint http://HOST:9000`); `None`: the SDK's default (AWS).
    pub endpoint: Option<String>,
    /// Region (`--region`); `None`: from the profile or environment, else `us-east-1`.
    pub region: Option<String>,
    /// Shared-config profile (`--profile`); `None`: `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// Path-style addressing; `None`: on for a custom endpoint, off for AWS.
    pub path_style: Option<bool>,
    /// Static credentials (access key, secret key), taking precedence over the usual chain
    /// (environment, profile, process).
    pub credentials: Option<(String, String)>,
    /// Validate response checksums where the server sends them. Off by default: some
    /// servers (s3s-fs) return stale checksums for objects built by multipart; silt checks
    /// lengths and ETags itself, and the core checks CRC32C of cached chunks.
    pub validate_response_checksums: bool,
    /// Attempts per request for the SDK's own retries (transport errors, 5xx, throttling);
    /// the upload journal retries beyond that, forever, with backoff.
    pub max_attempts: u32,
    /// First backoff of the SDK's retries.
    pub initial_backoff: Duration,
    /// Timeout of one attempt.
    pub attempt_timeout: Duration,
    /// Keys per ListObjectsV2 page; `None`: the server's default (1000 on S3).
    pub list_page_size: Option<i32>,
    /// Open a new connection for every request instead of keeping idle ones (for proxies
    /// that mishandle keep-alive, and for fault tests that act per connection).
    pub no_connection_reuse: bool,
}

impl RemoteConfig {
    /// Settings for `bucket` with the defaults above (4 attempts, 100 ms first backoff,
    /// 60 s per attempt).
    pub fn new(bucket: impl Into<String>) -> RemoteConfig {
        RemoteConfig {
            bucket: bucket.into(),
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            attempt_timeout: Duration::from_secs(60),
            ..RemoteConfig::default()
        }
    }

    /// Whether requests use path-style addressing.
    pub fn uses_path_style(&self) -> bool {
        self.path_style.unwrap_or(self.endpoint.is_some())
    }
}
