//! Where things live: the home directory, the configuration file, and the default cache
//! directory named by a stable disk id.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a mount caches: the endpoint, the bucket and the key prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Endpoint URL (`http://127.0.0.1:9000`), or empty for the SDK's default endpoint.
    pub endpoint: String,
    /// Bucket name.
    pub bucket: String,
    /// Key prefix (`photos/2024`), or empty.
    pub prefix: String,
}

/// The home directory from the environment: `USERPROFILE` on Windows, `HOME` elsewhere.
pub fn home_dir(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    env.get(var).filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// `~/.tigrisfs/config.yaml` (`%USERPROFILE%\.tigrisfs\config.yaml` on Windows).
pub fn config_path(home: &std::path::Path) -> PathBuf {
    home.join(".tigrisfs").join("config.yaml")
}

/// `~/.tigrisfs/cache/<diskID>`.
pub fn default_cache_dir(home: &std::path::Path, target: &Target) -> PathBuf {
    home.join(".tigrisfs").join("cache").join(disk_id(target))
}

/// A stable id of endpoint + bucket + prefix, used to name the cache directory: 16 hex
/// digits of the 64-bit FNV-1a hash of `endpoint \0 bucket \0 prefix` after normalising
/// (endpoint scheme and host lower-cased, trailing `/` dropped; prefix without leading or
/// trailing `/`). It must never change: a new id orphans every existing cache.
pub fn disk_id(target: &Target) -> String {
    let endpoint = normalise_endpoint(&target.endpoint);
    let prefix = target.prefix.trim_matches('/');
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        endpoint.as_bytes(),
        b"\0",
        target.bucket.as_bytes(),
        b"\0",
        prefix.as_bytes(),
    ] {
        for &b in part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn normalise_endpoint(endpoint: &str) -> String {
    let e = endpoint.trim().trim_end_matches('/');
    // Scheme and authority are case-insensitive; a path (rare) is kept as written.
    match e.find("://") {
        Some(i) => {
            let rest = &e[i + 3..];
            let host_end = rest.find('/').unwrap_or(rest.len());
            format!(
                "{}://{}{}",
                e[..i].to_ascii_lowercase(),
                rest[..host_end].to_ascii_lowercase(),
                &rest[host_end..]
            )
        }
        None => e.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(endpoint: &str, bucket: &str, prefix: &str) -> Target {
        Target {
            endpoint: endpoint.into(),
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    // FNV-1a 64 of "http://127.0.0.1:9000\0test\0", checked with an independent implementation.
    const KNOWN_ID: &str = "b4dfba9e8fb3044b";

    #[test]
    fn disk_id_is_stable_and_normalised() {
        let a = disk_id(&t("http://127.0.0.1:9000", "test", ""));
        // The value is part of the on-disk layout: it must not change between versions.
        assert_eq!(a, disk_id(&t("HTTP://127.0.0.1:9000/", "test", "/")));
        assert_eq!(a.len(), 16);
        // Known answer, computed once: a change here orphans every existing cache.
        assert_eq!(a, KNOWN_ID);
        assert_ne!(a, disk_id(&t("http://127.0.0.1:9000", "test", "p")));
        assert_ne!(a, disk_id(&t("http://127.0.0.1:9001", "test", "")));
        // Fields cannot run into each other.
        assert_ne!(disk_id(&t("e", "ab", "c")), disk_id(&t("e", "a", "bc")));
    }

    #[test]
    fn home_comes_from_the_platform_variable() {
        let mut env = BTreeMap::new();
        assert_eq!(home_dir(&env), None);
        let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
        env.insert(var.to_string(), "/home/u".to_string());
        let home = home_dir(&env).expect("home set");
        assert_eq!(home, PathBuf::from("/home/u"));
        assert!(config_path(&home).ends_with(".tigrisfs/config.yaml"));
    }
}
