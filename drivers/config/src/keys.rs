//! The one table of configuration keys: name, default, documentation and how a value is
//! parsed and checked. The template, the environment variable and flag names and the
//! reference in `docs/configuration.md` follow it.

use crate::settings::{ConflictPolicy, IndexBackend, Settings};
use crate::values;
use std::path::PathBuf;
use std::time::Duration;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// One configuration key.
pub struct Key {
    /// Dotted name as written in the file (`index.backend`).
    pub name: &'static str,
    /// The default as written in the file; `None` when the default is computed (shown as
    /// an empty value in the template).
    pub default: Option<&'static str>,
    /// What it does, its syntax and rule: one or two sentences.
    pub doc: &'static str,
    /// Parses a value and stores it; `Err` is the rule broken, in words.
    pub(crate) apply: fn(&mut Settings, &str) -> Result<(), String>,
}

impl Key {
    /// The environment variable that sets it: `SILT_` and the name in capitals, dots as `_`.
    pub fn env_var(&self) -> String {
        format!("SILT_{}", self.name.replace('.', "_").to_ascii_uppercase())
    }

    /// The command-line flag that sets it, without the leading `--`.
    pub fn flag(&self) -> String {
        self.name.replace(['.', '_'], "-")
    }
}

fn in_range(d: Duration, lo: Duration, hi: Duration, text: &str) -> Result<Duration, String> {
    if d < lo || d > hi {
        return Err(format!(
            "must be between {lo:?} and {hi:?} (got {:?})",
            text.trim()
        ));
    }
    Ok(d)
}

/// Every key, in template order.
pub const KEYS: &[Key] = &[
    Key {
        name: "cache_dir",
        default: None,
        doc: "Directory of the cache files and the index. Absolute, or starting with ~/. \
              Empty: ~/.tigrisfs/cache/<diskID>, diskID a stable id of endpoint, bucket and prefix.",
        apply: |s, v| {
            let v = v.trim();
            if v.is_empty() || !(v.starts_with("~/") || PathBuf::from(v).is_absolute()) {
                return Err(format!(
                    "must be an absolute path or start with ~/ (got {v:?})"
                ));
            }
            s.cache_dir = Some(PathBuf::from(v));
            Ok(())
        },
    },
    Key {
        name: "cache_size_gb",
        default: Some("10"),
        doc: "Size budget of the cache in GiB (clean and dirty data); decimals allowed, at least 0.0625.",
        apply: |s, v| {
            s.cache_size = values::gibibytes(v)?;
            Ok(())
        },
    },
    Key {
        name: "chunk_size",
        default: Some("1MiB"),
        doc: "Unit of fetching, checksumming and eviction: a power of two from 64KiB to 64MiB.",
        apply: |s, v| {
            let n = values::size(v, 1)?;
            if !n.is_power_of_two() || !(64 * KIB..=64 * MIB).contains(&n) {
                return Err(format!(
                    "must be a power of two from 64KiB to 64MiB (got {:?})",
                    v.trim()
                ));
            }
            s.chunk_size = n;
            Ok(())
        },
    },
    Key {
        name: "max_concurrent_uploads",
        default: Some("4"),
        doc: "Objects uploaded at once, from 1 to 256.",
        apply: |s, v| {
            s.max_concurrent_uploads = values::integer(v, 1, 256)? as usize;
            Ok(())
        },
    },
    Key {
        name: "write_back_delay",
        default: Some("5s"),
        doc: "Quiet time after the last write before an object is uploaded, up to 1h.",
        apply: |s, v| {
            let d = values::duration(v)?;
            s.write_back_delay = in_range(d, Duration::ZERO, Duration::from_secs(3600), v)?;
            Ok(())
        },
    },
    Key {
        name: "open_upload_pause",
        default: Some("1s"),
        doc: "While a file is open, quiet time before its upload starts (its last close ends \
              the wait; at most 30s), up to 1h; 0s: open files wait like closed ones.",
        apply: |s, v| {
            let d = values::duration(v)?;
            s.open_upload_pause = in_range(d, Duration::ZERO, Duration::from_secs(3600), v)?;
            Ok(())
        },
    },
    Key {
        name: "commit_interval",
        default: Some("5s"),
        doc: "Interval of the periodic index commit: bounds what a crash can lose of data \
              written but never fsynced. From 100ms to 10m.",
        apply: |s, v| {
            let d = values::duration(v)?;
            s.commit_interval =
                in_range(d, Duration::from_millis(100), Duration::from_secs(600), v)?;
            Ok(())
        },
    },
    Key {
        name: "dirty_limit",
        default: None,
        doc: "Bytes not yet uploaded above which writers wait (back-pressure); at least 1MiB and \
              at most the cache size. Empty: the smaller of 4GiB and half the cache size.",
        apply: |s, v| {
            let n = values::size(v, 1)?;
            if n < MIB {
                return Err(format!("must be at least 1MiB (got {:?})", v.trim()));
            }
            s.dirty_limit = Some(n);
            Ok(())
        },
    },
    Key {
        name: "min_free_space",
        default: Some("256MiB"),
        doc: "Free disk space kept in reserve so index commits never fail for space; at least 16MiB.",
        apply: |s, v| {
            let n = values::size(v, 1)?;
            if n < 16 * MIB {
                return Err(format!("must be at least 16MiB (got {:?})", v.trim()));
            }
            s.min_free_space = n;
            Ok(())
        },
    },
    Key {
        name: "index.backend",
        default: Some("redb"),
        doc: "Store of the cache index: redb (index.db), fjall (index.fjall/) or memory (nothing survives a restart).",
        apply: |s, v| {
            s.index_backend = match v.trim() {
                "redb" => IndexBackend::Redb,
                "fjall" => IndexBackend::Fjall,
                "memory" => IndexBackend::Memory,
                other => {
                    return Err(format!(
                        "must be one of redb, fjall, memory (got {other:?})"
                    ))
                }
            };
            Ok(())
        },
    },
    Key {
        name: "upload_retry.initial",
        default: Some("1s"),
        doc: "First backoff after a failed upload, from 100ms to 1h; doubled (with jitter) per failure.",
        apply: |s, v| {
            let d = values::duration(v)?;
            s.upload_retry_initial =
                in_range(d, Duration::from_millis(100), Duration::from_secs(3600), v)?;
            Ok(())
        },
    },
    Key {
        name: "upload_retry.max",
        default: Some("5m"),
        doc: "Largest backoff, from 1s to 24h. Uploads of dirty data are retried forever at this pace.",
        apply: |s, v| {
            let d = values::duration(v)?;
            s.upload_retry_max =
                in_range(d, Duration::from_secs(1), Duration::from_secs(86_400), v)?;
            Ok(())
        },
    },
    Key {
        name: "fsync_on_close",
        default: Some("true"),
        doc: "close() waits, like fsync(), until the data is durable in the cache: true or false.",
        apply: |s, v| {
            s.fsync_on_close = values::boolean(v)?;
            Ok(())
        },
    },
    Key {
        name: "passthrough",
        default: Some("true"),
        doc: "Fully cached files opened for reading are read by the kernel from the cache file (FUSE passthrough, Linux 6.9 or later; ignored elsewhere): true or false.",
        apply: |s, v| {
            s.passthrough = values::boolean(v)?;
            Ok(())
        },
    },
    Key {
        name: "local_cache",
        default: Some("true"),
        doc: "Keep a crash-safe write-back cache on local disk: true, or false to read and \
              write the bucket directly through memory (--no-local-cache).",
        apply: |s, v| {
            s.local_cache = values::boolean(v)?;
            Ok(())
        },
    },
    Key {
        name: "conflict_policy",
        default: Some("keep-both"),
        doc: "When the object changed remotely under a local change: keep-both keeps the remote \
              version and uploads the local one as <key>.silt-conflict-<n>.",
        apply: |s, v| {
            s.conflict_policy = match v.trim() {
                "keep-both" => ConflictPolicy::KeepBoth,
                other => {
                    return Err(format!(
                        "must be keep-both, the one policy that loses no data (got {other:?})"
                    ))
                }
            };
            Ok(())
        },
    },
    Key {
        name: "metrics_addr",
        default: None,
        doc: "host:port of the Prometheus metrics endpoint, such as 127.0.0.1:9100. Empty: off.",
        apply: |s, v| {
            let addr = v.trim().parse().map_err(|_| {
                format!("must be an IP address and port such as 127.0.0.1:9100 (got {:?})", v.trim())
            })?;
            s.metrics_addr = Some(addr);
            Ok(())
        },
    },
    Key {
        name: "memory_limit",
        default: Some("1024"),
        doc: "Memory for buffers; a bare number is MiB, as in --memory-limit. At least 64MiB.",
        apply: |s, v| {
            let n = values::size(v, MIB)?;
            if n < 64 * MIB {
                return Err(format!("must be at least 64MiB (got {:?})", v.trim()));
            }
            s.memory_limit = n;
            Ok(())
        },
    },
];

/// The key named `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The known key closest to an unknown one, for "did you mean" hints.
pub(crate) fn closest(name: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|k| (edit_distance(name, k.name), k.name))
        .filter(|(d, k)| *d <= 3.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
