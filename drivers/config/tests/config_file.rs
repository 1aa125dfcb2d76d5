//! The configuration loader against real files in a temporary home directory.

use silt_config::{
    keys::KEYS, load, parse_str, template, ConfigError, IndexBackend, Origin, Settings, Sources,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MIB: u64 = 1 << 20;

fn sources(home: &Path) -> Sources {
    let mut env = BTreeMap::new();
    env.insert(
        if cfg!(windows) { "USERPROFILE" } else { "HOME" }.to_string(),
        home.display().to_string(),
    );
    Sources {
        file: silt_config::config_path(home),
        env,
        flags: vec![],
    }
}

fn write_config(src: &Sources, text: &str) {
    std::fs::create_dir_all(src.file.parent().expect("config has a parent")).expect("mkdir");
    std::fs::write(&src.file, text).expect("write config");
}

fn parse(text: &str) -> Result<Settings, ConfigError> {
    parse_str(text, Path::new("config.yaml"))
}

#[test]
fn missing_file_writes_the_template_and_returns_config_missing_with_defaults() {
    let home = tempfile::tempdir().expect("tempdir");
    let src = sources(home.path());
    match load(&src) {
        Err(ConfigError::Missing {
            path,
            template_error,
            settings,
        }) => {
            assert_eq!(path, home.path().join(".tigrisfs").join("config.yaml"));
            assert_eq!(template_error, None);
            assert_eq!(*settings, Settings::default());
        }
        other => panic!("expected ConfigMissing, got {other:?}"),
    }
    let written = std::fs::read_to_string(&src.file).expect("template written");
    assert_eq!(written, template());
    // The next start reads the template: all defaults, no error.
    assert_eq!(load(&src).expect("template loads"), Settings::default());
}

#[test]
fn missing_file_still_applies_environment_and_flags() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut src = sources(home.path());
    src.env.insert("SILT_INDEX_BACKEND".into(), "fjall".into());
    src.flags
        .push(("max-concurrent-uploads".into(), "9".into()));
    let Err(ConfigError::Missing { settings, .. }) = load(&src) else {
        panic!("expected ConfigMissing");
    };
    assert_eq!(settings.index_backend, IndexBackend::Fjall);
    assert_eq!(settings.max_concurrent_uploads, 9);
}

#[test]
fn template_uncommented_parses_to_the_defaults() {
    // Remove the `#` that starts each setting line (not the `# ` of documentation lines).
    let uncommented: String = template()
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if !rest.starts_with(' ') || rest.starts_with("  ") => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        uncommented.contains("\nchunk_size: 1MiB\n"),
        "{uncommented}"
    );
    assert!(uncommented.contains("\nindex:\n"), "{uncommented}");
    assert!(uncommented.contains("\n  backend: redb\n"), "{uncommented}");
    assert_eq!(parse(&uncommented).expect("parses"), Settings::default());
    // Every key is in the template.
    for key in KEYS {
        let leaf = key.name.rsplit('.').next().unwrap_or(key.name);
        assert!(
            uncommented.contains(&format!("{leaf}:")),
            "{} missing from the template",
            key.name
        );
    }
}

#[test]
fn valid_file_sets_what_it_names_and_leaves_the_rest_at_defaults() {
    let s = parse(
        "cache_size_gb: 2.5\nchunk_size: 4MiB\nindex:\n  backend: fjall\nupload_retry:\n  max: 10m\n\
         metrics_addr: 127.0.0.1:9100\nmemory_limit: 2048\nfsync_on_close: false\n",
    )
    .expect("valid");
    let want = Settings {
        cache_size: 2560 * MIB,
        chunk_size: 4 * MIB,
        index_backend: IndexBackend::Fjall,
        upload_retry_max: Duration::from_secs(600),
        metrics_addr: Some("127.0.0.1:9100".parse().expect("addr")),
        memory_limit: 2048 * MIB,
        fsync_on_close: false,
        ..Settings::default()
    };
    assert_eq!(s, want);
    assert_eq!(s.effective_dirty_limit(), 1280 * MIB);
    s.core_config(7).validate().expect("core accepts it");
}

/// Each invalid field gives an error naming the field, the rule and the line.
#[test]
fn each_invalid_field_names_field_rule_and_line() {
    let cases: &[(&str, &str, &str)] = &[
        ("cache_dir: relative/dir", "cache_dir", "absolute path"),
        ("cache_size_gb: -1", "cache_size_gb", "number of GiB"),
        ("cache_size_gb: lots", "cache_size_gb", "number of GiB"),
        ("chunk_size: 3MiB", "chunk_size", "power of two"),
        (
            "chunk_size: 1GiB",
            "chunk_size",
            "power of two from 64KiB to 64MiB",
        ),
        ("chunk_size: big", "chunk_size", "must be a size"),
        (
            "max_concurrent_uploads: 0",
            "max_concurrent_uploads",
            "from 1 to 256",
        ),
        (
            "max_concurrent_uploads: 4.5",
            "max_concurrent_uploads",
            "whole number",
        ),
        ("write_back_delay: 2h", "write_back_delay", "between"),
        ("write_back_delay: soon", "write_back_delay", "duration"),
        ("open_upload_pause: 2h", "open_upload_pause", "between"),
        ("open_upload_pause: -1s", "open_upload_pause", "duration"),
        ("commit_interval: 10ms", "commit_interval", "between"),
        ("dirty_limit: 512KiB", "dirty_limit", "at least 1MiB"),
        (
            "dirty_limit: 20GiB",
            "dirty_limit",
            "must not exceed the cache size",
        ),
        ("min_free_space: 1MiB", "min_free_space", "at least 16MiB"),
        (
            "index:\n  backend: sqlite",
            "index.backend",
            "one of redb, fjall, memory",
        ),
        (
            "upload_retry:\n  initial: 10ms",
            "upload_retry.initial",
            "between",
        ),
        ("upload_retry:\n  max: 2d", "upload_retry.max", "duration"),
        (
            "upload_retry:\n  initial: 10m\n  max: 1m",
            "upload_retry.max",
            "must not exceed upload_retry.max",
        ),
        ("fsync_on_close: yes", "fsync_on_close", "true or false"),
        ("local_cache: off", "local_cache", "true or false"),
        ("passthrough: maybe", "passthrough", "true or false"),
        (
            "conflict_policy: local-wins",
            "conflict_policy",
            "keep-both",
        ),
        (
            "metrics_addr: localhost",
            "metrics_addr",
            "IP address and port",
        ),
        ("memory_limit: 10", "memory_limit", "at least 64MiB"),
    ];
    for (body, field, rule) in cases {
        // Two lines first, so the line number is not trivially 1.
        let text = format!("# settings\n\n{body}\n");
        let err = parse(&text).expect_err(body);
        let problems = err.problems();
        assert_eq!(problems.len(), 1, "{body}: {problems:?}");
        let p = &problems[0];
        assert_eq!(p.field, *field, "{body}");
        assert!(p.rule.contains(rule), "{body}: rule {:?}", p.rule);
        let want_line = 3 + body.lines().count() - 1;
        assert_eq!(
            p.origin,
            Origin::File {
                path: PathBuf::from("config.yaml"),
                line: want_line
            },
            "{body}"
        );
        let shown = err.to_string();
        assert!(
            shown.contains(&format!("config.yaml line {want_line}: {field}: ")),
            "{shown}"
        );
    }
}

#[test]
fn every_key_has_an_invalid_value_case_above() {
    // Keeps the table above honest as keys are added.
    let covered = [
        "cache_dir",
        "cache_size_gb",
        "chunk_size",
        "max_concurrent_uploads",
        "write_back_delay",
        "open_upload_pause",
        "commit_interval",
        "dirty_limit",
        "min_free_space",
        "index.backend",
        "upload_retry.initial",
        "upload_retry.max",
        "fsync_on_close",
        "passthrough",
        "local_cache",
        "conflict_policy",
        "metrics_addr",
        "memory_limit",
    ];
    let names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    assert_eq!(names, covered);
}

#[test]
fn unknown_and_repeated_keys_are_reported_with_lines() {
    let err = parse("cache_size_gib: 4\nchunk_size: 1MiB\nchunk_size: 2MiB\nindex:\n  backend: redb\n  path: /x\n")
        .expect_err("invalid");
    let p = err.problems();
    assert_eq!(p.len(), 3, "{p:?}");
    assert_eq!(p[0].field, "cache_size_gib");
    assert!(
        p[0].rule.contains("did you mean cache_size_gb?"),
        "{}",
        p[0].rule
    );
    assert_eq!(p[1].field, "chunk_size");
    assert!(p[1].rule.contains("set twice (first on line 2)"));
    assert_eq!(p[2].field, "index.path");
    let lines: Vec<_> = p
        .iter()
        .map(|p| match &p.origin {
            Origin::File { line, .. } => *line,
            o => panic!("{o:?}"),
        })
        .collect();
    assert_eq!(lines, vec![1, 3, 6]);
}

#[test]
fn yaml_syntax_errors_and_lists_name_their_line() {
    let err = parse("chunk_size: 1MiB\ncache_dir: [\n").expect_err("syntax");
    assert!(err.to_string().contains("not valid YAML"), "{err}");
    let err = parse("chunk_size:\n  - 1MiB\n").expect_err("list");
    assert_eq!(err.problems()[0].field, "chunk_size");
    assert!(err.problems()[0].rule.contains("list"));
}

#[test]
fn precedence_is_flag_then_environment_then_file_then_default() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut src = sources(home.path());
    write_config(&src, "chunk_size: 2MiB\nwrite_back_delay: 9s\n");
    let s = load(&src).expect("file");
    assert_eq!(
        (s.chunk_size, s.write_back_delay),
        (2 * MIB, Duration::from_secs(9))
    );
    assert_eq!(s.commit_interval, Settings::default().commit_interval);

    src.env.insert("SILT_CHUNK_SIZE".into(), "4MiB".into());
    assert_eq!(load(&src).expect("env").chunk_size, 4 * MIB);

    src.flags.push(("--chunk-size".into(), "8MiB".into()));
    let s = load(&src).expect("flag");
    assert_eq!(s.chunk_size, 8 * MIB);
    assert_eq!(
        s.write_back_delay,
        Duration::from_secs(9),
        "file still applies"
    );
}

#[test]
fn bad_environment_values_and_unknown_flags_name_their_source() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut src = sources(home.path());
    write_config(&src, "");
    src.env
        .insert("SILT_UPLOAD_RETRY_MAX".into(), "forever".into());
    src.flags.push(("cache-sise-gb".into(), "3".into()));
    let err = load(&src).expect_err("invalid");
    let p = err.problems();
    assert_eq!(p[0].origin, Origin::Env("SILT_UPLOAD_RETRY_MAX".into()));
    assert_eq!(p[0].field, "upload_retry.max");
    assert_eq!(p[1].origin, Origin::Flag("cache-sise-gb".into()));
    assert!(err
        .to_string()
        .contains("environment variable SILT_UPLOAD_RETRY_MAX"));
}

#[test]
fn cache_dir_with_tilde_expands_to_the_home_directory() {
    let home = tempfile::tempdir().expect("tempdir");
    let src = sources(home.path());
    write_config(&src, "cache_dir: ~/silt-cache\n");
    let s = load(&src).expect("valid");
    assert_eq!(s.cache_dir, Some(home.path().join("silt-cache")));
}

#[test]
fn unreadable_file_is_a_read_error_naming_it() {
    let home = tempfile::tempdir().expect("tempdir");
    let src = sources(home.path());
    // A directory where the file should be cannot be read as text.
    std::fs::create_dir_all(&src.file).expect("mkdir");
    match load(&src) {
        Err(e @ ConfigError::Read { .. }) => {
            assert!(e.to_string().contains("config.yaml"), "{e}")
        }
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn default_cache_dir_is_under_tigrisfs_cache_by_disk_id() {
    let target = silt_config::Target {
        endpoint: "http://127.0.0.1:9000".into(),
        bucket: "test".into(),
        prefix: String::new(),
    };
    let dir = silt_config::default_cache_dir(Path::new("/home/u"), &target);
    assert_eq!(
        dir,
        Path::new("/home/u")
            .join(".tigrisfs")
            .join("cache")
            .join(silt_config::disk_id(&target))
    );
}

#[test]
fn docs_list_every_key_with_its_default() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .expect("docs/configuration.md");
    for key in KEYS {
        let default = match key.default {
            Some(d) => format!("`{d}`"),
            None => "(empty)".to_string(),
        };
        let row = format!("| `{}` | {default} |", key.name);
        assert!(
            docs.contains(&row),
            "docs/configuration.md lacks the row {row}"
        );
    }
}
