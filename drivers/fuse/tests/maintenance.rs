//! The maintenance subcommands run as a user runs them, as child processes of the test:
//! `silt conflicts` against a running engine (over its control socket) and read from the
//! index, `silt fsck` refusing a running engine, then finding a flipped byte under a clean
//! chunk and making that chunk absent so that the engine fetches it again from the
//! S3-compatible server on loopback (s3s-fs, real redb index, real cache files), and
//! `silt config init`. The engine runs in the test process; no FUSE mount is needed.

mod support;

use silt_s3::ObjectStore;
use silt_tokio::{CacheManager, Options};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// `silt ARGS` with HOME at `home`; its exit code, stdout and stderr.
fn silt(home: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_silt"))
        .args(args)
        .env("HOME", home)
        .env_remove("SILT_LOG")
        .env_remove("RUST_LOG")
        .env_remove("SILT_CACHE_DIR")
        .output()
        .expect("run silt");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An engine with the control socket on (as the mount runs it) and the given write-back
/// delay.
async fn start<S: ObjectStore + 'static>(
    cache: &Path,
    remote: &Arc<S>,
    caps: silt_s3::Capabilities,
    delay: Duration,
) -> CacheManager {
    let mut o = Options::new(cache, remote.clone());
    o.core.write_back_delay = delay;
    o.core.commit_interval = Duration::from_millis(200);
    o.core.retry_initial = Duration::from_millis(100);
    o.core.min_free_space = 1 << 20;
    o.services.control_socket = true;
    caps.apply_to(&mut o.core);
    CacheManager::start(o).await.expect("start the engine")
}

async fn read_all(m: &CacheManager, key: &str) -> Vec<u8> {
    let h = m.open(key, false).await.expect("open");
    let size = h.size_at_open();
    let bytes = h.read(0, size).await.expect("read");
    h.close().await.expect("close");
    bytes.to_vec()
}

/// The one cache file larger than `min` bytes.
fn cache_file_over(cache: &Path, min: u64) -> PathBuf {
    let mut found = Vec::new();
    for shard in std::fs::read_dir(cache.join("data")).expect("data dir") {
        for f in std::fs::read_dir(shard.expect("shard").path()).expect("shard dir") {
            let p = f.expect("file").path();
            if std::fs::metadata(&p).expect("stat").len() > min {
                found.push(p);
            }
        }
    }
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

#[test]
fn conflicts_are_listed_and_fsck_repairs_a_flipped_byte_which_is_fetched_again() {
    let rt = runtime();
    let s = Served::start(&rt);
    let home = s.root.path();
    let cache_s = s.cache.to_string_lossy().into_owned();
    let remote = s.remote(&rt);
    let caps = remote.capabilities();
    let object: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    bounded(&rt, "put", put(&remote, "data.bin", &object));
    bounded(&rt, "put", put(&remote, "c.txt", b"base version"));

    // A conflict: a local edit fsynced under a long write-back delay, the object changed
    // in the bucket meanwhile, then a flush.
    let m = bounded(
        &rt,
        "engine",
        start(&s.cache, &remote, caps, Duration::from_secs(600)),
    );
    assert_eq!(bounded(&rt, "read", read_all(&m, "data.bin")), object);
    bounded(&rt, "edit", async {
        let h = m.open("c.txt", false).await.expect("open");
        h.write(0, b"local edit!!".to_vec()).await.expect("write");
        h.fsync().await.expect("fsync");
        h.close().await.expect("close");
    });
    bounded(&rt, "outside", put(&remote, "c.txt", b"outside change"));
    bounded(&rt, "flush", m.flush(true)).expect("flush");

    let (code, out, err) = silt(home, &["conflicts", "--json", "--cache-dir", &cache_s]);
    assert_eq!(code, Some(0), "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["schema"], 1);
    assert_eq!(json["source"], "mount");
    assert_eq!(json["pid"], std::process::id());
    let conflicts = json["conflicts"].as_array().expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{out}");
    assert_eq!(conflicts[0]["original_key"], "c.txt");
    let copy = conflicts[0]["conflict_key"].as_str().expect("conflict key");
    assert!(copy.starts_with("c.txt.silt-conflict-"), "{copy}");
    assert!(conflicts[0]["remote_etag"].is_string(), "{out}");
    assert!(conflicts[0]["missing"].is_array(), "{out}");

    // fsck does not run beside a mount.
    let (code, _, err) = silt(home, &["fsck", "--cache-dir", &cache_s]);
    assert_eq!(code, Some(8), "{err}");
    assert!(
        err.contains(&format!("a silt mount (pid {})", std::process::id()))
            && err.contains("unmount it first"),
        "{err}"
    );
    bounded(&rt, "stop", m.stop()).expect("stop");

    // From the index once nothing runs.
    let (code, out, err) = silt(home, &["conflicts", "--cache-dir", &cache_s]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("no mount running")
            && out.contains("c.txt\n")
            && out.contains(&format!("local version kept as: {copy}")),
        "{out}"
    );
    let (_, out, _) = silt(home, &["conflicts", "--json", "--cache-dir", &cache_s]);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["source"], "index");
    assert_eq!(json["conflicts"][0]["conflict_key"], copy);

    // A flipped byte in chunk 1 (1 MiB chunks) of data.bin's cache file.
    let (code, out, err) = silt(home, &["fsck", "--cache-dir", &cache_s]);
    assert_eq!(code, Some(0), "a sound cache: {out}{err}");
    assert!(out.contains("result:     clean"), "{out}");
    let file = cache_file_over(&s.cache, 2_000_000);
    let mut bytes = std::fs::read(&file).expect("read cache file");
    bytes[1_500_000] ^= 0x01;
    std::fs::write(&file, &bytes).expect("corrupt");

    let (code, out, err) = silt(home, &["fsck", "--dry-run", "--cache-dir", &cache_s]);
    assert_eq!(code, Some(4), "{out}{err}");
    assert!(out.contains("would be made absent"), "{out}");
    let (code, out, err) = silt(home, &["fsck", "--cache-dir", &cache_s]);
    assert_eq!(code, Some(1), "repaired: {out}{err}");
    assert!(
        out.contains("repaired data.bin")
            && out.contains("clean chunk 1 (bytes 1048576..2097152)")
            && out.contains("1 found, 1 repaired, 0 left"),
        "{out}"
    );
    let (code, out, err) = silt(home, &["fsck", "--json", "--cache-dir", &cache_s]);
    assert_eq!(code, Some(0), "clean after the repair: {out}{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["findings"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        json["clean_chunks"], 3,
        "chunks 0 and 2 of data.bin and the conflict copy's chunk are still cached: {out}"
    );

    // The engine fetches the absent chunk again and reads the object whole.
    let counted = s.counted(&rt, caps);
    let m = bounded(
        &rt,
        "engine again",
        start(&s.cache, &counted, caps, Duration::from_millis(100)),
    );
    assert_eq!(bounded(&rt, "read again", read_all(&m, "data.bin")), object);
    assert!(counted.gets() > 0, "the absent chunk was not fetched again");
    bounded(&rt, "stop", m.stop()).expect("stop");
    let (code, out, err) = silt(home, &["fsck", "--cache-dir", &cache_s]);
    assert_eq!(code, Some(0), "{out}{err}");
    let repaired = std::fs::read(&file).expect("read cache file");
    assert_eq!(
        &repaired[1_048_576..2_097_152],
        &object[1_048_576..2_097_152],
        "the fetch wrote the chunk back"
    );
}

#[test]
fn config_init_writes_the_template_once_and_replaces_it_only_with_force() {
    let root = tempfile::tempdir().expect("tempdir");
    let home = root.path();
    let default = home.join(".tigrisfs/config.yaml");
    let (code, out, err) = silt(home, &["config", "init"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&default.display().to_string()), "{out}");
    let text = std::fs::read_to_string(&default).expect("template");
    assert!(text.starts_with("# silt configuration."), "{text}");
    assert!(text.contains("#cache_size_gb: 10"), "{text}");

    std::fs::write(&default, "cache_size_gb: 3\n").expect("edit");
    let (code, _, err) = silt(home, &["config", "init"]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains("exists already") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&default).expect("read"),
        "cache_size_gb: 3\n"
    );
    let (code, _, err) = silt(home, &["config", "init", "--force"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(std::fs::read_to_string(&default).expect("read"), text);

    let other = home.join("etc/silt.yaml");
    let other_s = other.to_string_lossy().into_owned();
    let (code, out, err) = silt(home, &["config", "init", "--config", &other_s]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&other_s), "{out}");
    assert_eq!(std::fs::read_to_string(&other).expect("read"), text);
}
