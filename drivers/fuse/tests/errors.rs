//! The errors a person can act on, from the binary as a user runs it (issue 13): a mount
//! point missing or busy, a cache directory locked by another process, an invalid
//! configuration (field, rule, line), FUSE unavailable; and `--cache-size` taking its
//! place in flag > environment > file > default. (A missing bucket and refused
//! credentials: `tests/cli.rs`; a stale mount left by kill -9: `tests/demo.rs`.) Needs
//! root and /dev/fuse (fails without, never skips); nothing here gets as far as a mount.

mod support;

use silt_fuse::demo::{DemoServer, ACCESS_KEY, SECRET_KEY};
use std::path::Path;
use std::process::Command;
use support::*;

/// `silt -f ARGS BUCKET MOUNTPOINT` against `endpoint` with the demo credentials and HOME
/// at `home`, plus `env`; its status and stderr.
fn mount_cmd(
    home: &Path,
    endpoint: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_silt"));
    cmd.arg("-f")
        .args(["--endpoint", endpoint])
        .args(args)
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env_remove("SILT_CACHE_SIZE_GB")
        .env_remove("SILT_CACHE_DIR")
        .env_remove("AWS_PROFILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let ran = run_bounded(&mut cmd);
    (ran.status, ran.stderr)
}

struct Setup {
    _root: tempfile::TempDir,
    home: std::path::PathBuf,
    mnt: String,
    cache: String,
    server: DemoServer,
    _rt: tokio::runtime::Runtime,
}

fn setup() -> Setup {
    require_fuse();
    let rt = runtime();
    let s = Served::without_bucket(&rt);
    s.server.ensure_bucket("there").expect("bucket");
    Setup {
        home: s.root.path().to_path_buf(),
        mnt: s.mnt.to_string_lossy().into_owned(),
        cache: s.cache.to_string_lossy().into_owned(),
        server: s.server,
        _rt: rt,
        _root: s.root,
    }
}

#[test]
fn a_missing_or_busy_mount_point_is_refused_saying_what_to_do() {
    let s = setup();
    let missing = s.home.join("nope").to_string_lossy().into_owned();
    let (status, err) = mount_cmd(&s.home, s.server.endpoint(), &["there", &missing], &[]);
    assert!(!status.success());
    assert!(
        err.contains("does not exist") && err.contains(&format!("mkdir -p {missing}")),
        "{err}"
    );

    // Something mounted there already: a tmpfs.
    let _detach = DetachOnDrop(Path::new(&s.mnt).to_path_buf());
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "silt-test-tmpfs", &s.mnt])
        .output()
        .expect("run mount");
    assert!(out.status.success(), "mount tmpfs: {:?}", out);
    let (status, err) = mount_cmd(
        &s.home,
        s.server.endpoint(),
        &["--cache-dir", &s.cache, "there", &s.mnt],
        &[],
    );
    assert!(!status.success());
    assert!(
        err.contains("is busy")
            && err.contains("tmpfs silt-test-tmpfs")
            && err.contains(&format!("umount {}", s.mnt)),
        "{err}"
    );
}

#[test]
fn a_cache_directory_locked_by_another_process_names_its_pid() {
    let s = setup();
    std::fs::create_dir_all(&s.cache).expect("cache dir");
    let _held = silt_engine::CacheLock::acquire(Path::new(&s.cache)).expect("lock");
    let (status, err) = mount_cmd(
        &s.home,
        s.server.endpoint(),
        &["--cache-dir", &s.cache, "there", &s.mnt],
        &[],
    );
    assert!(!status.success());
    assert!(
        err.contains(&format!(
            "cache directory {} is locked by pid {}",
            s.cache,
            std::process::id()
        )),
        "{err}"
    );
    assert!(!is_mounted(Path::new(&s.mnt)));
}

#[test]
fn an_invalid_configuration_names_the_field_the_rule_and_the_line() {
    let s = setup();
    let config = s.home.join("config.yaml");
    std::fs::write(
        &config,
        "# mine\nmax_concurrent_uploads: 8\nchunk_size: 3MiB\ncache_size_gib: 4\n",
    )
    .expect("config");
    let config_s = config.to_string_lossy().into_owned();
    let (status, err) = mount_cmd(
        &s.home,
        s.server.endpoint(),
        &[
            "--config",
            &config_s,
            "--cache-dir",
            &s.cache,
            "there",
            &s.mnt,
        ],
        &[],
    );
    assert!(!status.success());
    assert!(
        err.contains(&format!(
            "{config_s} line 3: chunk_size: must be a power of two"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{config_s} line 4: cache_size_gib: is not a known key"
        )),
        "{err}"
    );
    assert!(!is_mounted(Path::new(&s.mnt)));
}

#[test]
fn cache_size_goes_flag_over_environment_over_file_over_default() {
    let s = setup();
    // dirty_limit must not exceed the cache size: the error names the cache size in
    // effect, so each source's value shows. The bucket "nope" does not exist: a run whose
    // settings are valid stops there.
    let config = s.home.join("config.yaml");
    let config_s = config.to_string_lossy().into_owned();
    let run = |file: &str, env: &[(&str, &str)], flag: Option<&str>| {
        std::fs::write(&config, format!("dirty_limit: 3GiB\n{file}")).expect("config");
        let mut args = vec!["--config", &config_s, "--cache-dir", &s.cache];
        if let Some(f) = flag {
            args.extend(["--cache-size", f]);
        }
        args.extend(["nope", &s.mnt]);
        let (status, err) = mount_cmd(&s.home, s.server.endpoint(), &args, env);
        assert!(!status.success(), "{err}");
        err
    };
    let too_small = |bytes: u64| format!("must not exceed the cache size ({bytes} bytes");
    let valid = "bucket \"nope\"";

    let err = run("", &[], None);
    assert!(err.contains(valid), "default 10 GiB: {err}");
    let err = run("cache_size_gb: 2\n", &[], None);
    assert!(err.contains(&too_small(2 << 30)), "file: {err}");
    let err = run("cache_size_gb: 2\n", &[("SILT_CACHE_SIZE_GB", "4")], None);
    assert!(err.contains(valid), "environment over file: {err}");
    let err = run(
        "cache_size_gb: 2\n",
        &[("SILT_CACHE_SIZE_GB", "4")],
        Some("1"),
    );
    assert!(
        err.contains(&too_small(1 << 30)),
        "flag over environment: {err}"
    );
    let err = run("cache_size_gb: 2\n", &[], Some("5.5"));
    assert!(err.contains(valid), "flag over file: {err}");
    let err = run("", &[], Some("0.01"));
    assert!(
        err.contains("cache_size_gb: must be a number of GiB of at least 0.0625"),
        "a bad flag value: {err}"
    );
}

#[test]
fn fuse_unavailable_says_how_to_get_it() {
    let s = setup();
    // A mount namespace of its own whose /dev lacks the FUSE device.
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs silt-no-dev /dev && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_silt"))
        .args(["-f", "--cache-dir", &s.cache, "there", &s.mnt])
        .env("HOME", &s.home)
        .output()
        .expect("run unshare");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("FUSE is not available: /dev/fuse is missing")
            && err.contains("modprobe fuse")
            && err.contains("--device /dev/fuse"),
        "{err}"
    );
}
