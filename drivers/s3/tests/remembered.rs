//! The remembered probe answer (`<cache_dir>/capabilities`) against the in-process s3s-fs
//! server, through a proxy that counts the bytes the remote sends: a remount with a fresh
//! answer sends nothing before it is ready; a stale, foreign or damaged answer is probed
//! again before the mount; a re-probe applies a different answer to the remote at once.

mod support;

use silt_s3::{
    keep_current, mount_capabilities, probe, refresh, Capabilities, CapabilitiesFile, Lookup,
    RemoteConfig, S3Remote, Source,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::proxy::{FaultPlan, Proxy};
use support::rt;
use support::servers;

/// A fresh bucket on s3s-fs, a counting proxy in front of it, and a cache directory.
struct Ctx {
    proxy: Proxy,
    config: RemoteConfig,
    dir: tempfile::TempDir,
}

impl Ctx {
    async fn new(case: &str) -> Ctx {
        let server = servers::s3s_fs();
        let bucket = servers::bucket_name(case);
        servers::create_bucket(&server.endpoint, &bucket).await;
        let proxy = Proxy::start(&server.endpoint, FaultPlan::default()).await;
        let mut config = servers::config(&proxy.endpoint, &bucket);
        config.prefix = "mnt/".into();
        Ctx {
            proxy,
            config,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn file(&self) -> CapabilitiesFile {
        CapabilitiesFile::new(self.dir.path(), &self.config)
    }

    /// A new remote (as a new mount process has), with the byte count at zero.
    async fn remote(&self) -> S3Remote {
        let r = S3Remote::connect(&self.config).await;
        self.proxy.reset_bytes_up();
        r
    }

    /// What the server really enforces (a probe with no file involved).
    async fn truth(&self) -> Capabilities {
        let r = S3Remote::connect(&self.config).await;
        probe(&r, "truth").await.expect("probe")
    }
}

#[test]
fn a_remount_uses_the_remembered_answer_without_a_request() {
    rt().block_on(async {
        let c = Ctx::new("remembered").await;
        let truth = c.truth().await;
        let file = c.file();

        // First mount: nothing remembered, the probe runs before the mount.
        let remote = c.remote().await;
        let first = mount_capabilities(&remote, &file, "one")
            .await
            .expect("first mount");
        assert!(
            matches!(first.lookup, Lookup::Missing),
            "{:?}",
            first.lookup
        );
        let Source::Probed { at } = first.source else {
            panic!("not probed: {:?}", first.source)
        };
        assert_eq!(first.caps, truth);
        assert_eq!(remote.capabilities(), truth);
        assert!(c.proxy.bytes_up() > 0, "the probe sent nothing");
        file.save(first.caps, at).expect("save");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file.path())
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(c.dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("capabilities")]);

        // Second mount: the answer is used at once; not one byte reaches the server.
        let remote = c.remote().await;
        let second = mount_capabilities(&remote, &file, "two")
            .await
            .expect("second mount");
        assert!(
            matches!(second.source, Source::Remembered { age } if age < Duration::from_secs(60)),
            "{:?}",
            second.source
        );
        assert_eq!(second.caps, truth);
        assert_eq!(c.proxy.bytes_up(), 0, "a request was sent at the remount");
        // Until the background probe confirms, the remote checks every condition by HEAD.
        assert_eq!(remote.capabilities(), truth);
        assert!(remote.unconfirmed());

        // The background probe: the same answer, now in effect, remembered with a new time.
        let r = refresh(&remote, &file, "three", second.caps)
            .await
            .expect("refresh");
        assert!(!r.changed(), "{r:?}");
        assert!(c.proxy.bytes_up() > 0);
        assert_eq!(remote.capabilities(), truth);
        assert!(!remote.unconfirmed());
        match file.lookup(SystemTime::now()) {
            Lookup::Fresh(now) => {
                assert_eq!(now.caps, truth);
                assert!(now.probed_at >= at);
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn a_stale_answer_is_probed_again_before_the_mount() {
    rt().block_on(async {
        let c = Ctx::new("stale").await;
        let file = c.file();
        let long_ago = SystemTime::now() - Duration::from_secs(25 * 3600);
        file.save(Capabilities::assumed(), long_ago).expect("save");
        let remote = c.remote().await;
        let m = mount_capabilities(&remote, &file, "stale")
            .await
            .expect("mount");
        assert!(matches!(m.lookup, Lookup::Stale(_)), "{:?}", m.lookup);
        assert!(matches!(m.source, Source::Probed { .. }), "{:?}", m.source);
        assert!(c.proxy.bytes_up() > 0, "no probe");
        assert_eq!(m.caps, c.truth().await);

        // Dated in the future (the clock moved back): not trusted either.
        file.save(
            Capabilities::assumed(),
            SystemTime::now() + Duration::from_secs(3600),
        )
        .expect("save");
        assert!(matches!(file.lookup(SystemTime::now()), Lookup::Stale(_)));
        // A shorter maximum age makes a recent answer stale too.
        file.save(
            Capabilities::assumed(),
            SystemTime::now() - Duration::from_secs(120),
        )
        .expect("save");
        assert!(matches!(file.lookup(SystemTime::now()), Lookup::Fresh(_)));
        let short = c.file().with_max_age(Duration::from_secs(60));
        assert!(matches!(short.lookup(SystemTime::now()), Lookup::Stale(_)));
    });
}

#[test]
fn a_damaged_or_unreadable_file_is_a_warning_and_a_probe() {
    rt().block_on(async {
        let c = Ctx::new("damaged").await;
        let file = c.file();
        let truth = c.truth().await;
        file.save(Capabilities::assumed(), SystemTime::now())
            .expect("save");
        let good = std::fs::read_to_string(file.path()).expect("read");
        for damaged in [
            good[..good.len() / 2].to_string(),
            good.replace("conditional_put true", "conditional_put maybe"),
            "\u{0}\u{0}\u{0}\u{0}".to_string(),
            String::new(),
        ] {
            std::fs::write(file.path(), &damaged).expect("write");
            let remote = c.remote().await;
            let m = mount_capabilities(&remote, &file, "damaged")
                .await
                .expect("a damaged file is not an error");
            assert!(matches!(m.lookup, Lookup::Unusable(_)), "{:?}", m.lookup);
            assert!(matches!(m.source, Source::Probed { .. }));
            assert!(c.proxy.bytes_up() > 0, "no probe for {damaged:?}");
            assert_eq!(m.caps, truth);
        }
        #[cfg(unix)]
        {
            // Not valid UTF-8.
            std::fs::write(file.path(), [0xff, 0xfe, b'\n']).expect("write");
            assert!(matches!(
                file.lookup(SystemTime::now()),
                Lookup::Unusable(_)
            ));
        }
        // Unreadable: a directory where the file should be.
        std::fs::remove_file(file.path()).expect("remove");
        std::fs::create_dir(file.path()).expect("mkdir");
        let remote = c.remote().await;
        let m = mount_capabilities(&remote, &file, "unreadable")
            .await
            .expect("an unreadable file is not an error");
        assert!(matches!(m.lookup, Lookup::Unusable(_)), "{:?}", m.lookup);
        assert!(c.proxy.bytes_up() > 0);
        assert_eq!(m.caps, truth);
    });
}

#[test]
fn another_targets_answer_is_not_used() {
    rt().block_on(async {
        let c = Ctx::new("other").await;
        let mut other = c.config.clone();
        other.prefix = "elsewhere/".into();
        CapabilitiesFile::new(c.dir.path(), &other)
            .save(Capabilities::assumed(), SystemTime::now())
            .expect("save");
        let remote = c.remote().await;
        let m = mount_capabilities(&remote, &c.file(), "other")
            .await
            .expect("mount");
        assert!(matches!(m.lookup, Lookup::OtherTarget), "{:?}", m.lookup);
        assert!(c.proxy.bytes_up() > 0);
    });
}

/// A file written before the probe asked about gaps in part numbers (format 1, no such
/// line) is not read as an answer: the mount probes, and the answer it remembers has the
/// field. s3s-fs refuses gaps, so the remembered answer says so.
#[test]
fn an_answer_in_the_format_before_gaps_is_probed_again() {
    rt().block_on(async {
        let c = Ctx::new("format1").await;
        let truth = c.truth().await;
        assert!(!truth.part_number_gaps, "s3s-fs accepts gaps now?");
        let file = c.file();
        let ms = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis();
        let old = format!(
            "# What the server enforced when silt last probed it; delete this file to probe at the next mount.\n\
             format 1\n\
             endpoint {}\n\
             bucket {}\n\
             prefix mnt/\n\
             probed_at_ms {ms}\n\
             conditional_put true\n\
             conditional_complete true\n\
             conditional_delete true\n\
             conditional_copy_source true\n",
            c.config.endpoint.as_deref().expect("an endpoint"),
            c.config.bucket,
        );
        std::fs::write(file.path(), old).expect("write");
        assert!(
            matches!(file.lookup(SystemTime::now()), Lookup::OtherFormat(1)),
            "{:?}",
            file.lookup(SystemTime::now())
        );
        let remote = c.remote().await;
        let m = mount_capabilities(&remote, &file, "format1")
            .await
            .expect("mount");
        assert!(matches!(m.lookup, Lookup::OtherFormat(1)), "{:?}", m.lookup);
        let Source::Probed { at } = m.source else {
            panic!("not probed: {:?}", m.source)
        };
        assert!(c.proxy.bytes_up() > 0, "no probe");
        assert_eq!(m.caps, truth);
        file.save(m.caps, at).expect("save");
        let text = std::fs::read_to_string(file.path()).expect("read");
        assert!(text.contains("\npart_number_gaps false\n"), "{text}");
        match file.lookup(SystemTime::now()) {
            Lookup::Fresh(r) => assert_eq!(r.caps, truth),
            other => panic!("{other:?}"),
        }
    });
}

/// Both answers on gaps in part numbers come back from the file as saved, and reach the
/// core's `coalesce_copies` through `apply_to`.
#[test]
fn the_answer_on_part_number_gaps_round_trips_through_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = servers::config("http://127.0.0.1:1", "gaps");
    let file = CapabilitiesFile::new(dir.path(), &config);
    for gaps in [true, false] {
        let caps = Capabilities {
            part_number_gaps: gaps,
            ..Capabilities::assumed()
        };
        file.save(caps, SystemTime::now()).expect("save");
        let Lookup::Fresh(r) = file.lookup(SystemTime::now()) else {
            panic!("{:?}", file.lookup(SystemTime::now()))
        };
        assert_eq!(r.caps, caps);
        let mut core = silt_core::CoreConfig::default();
        r.caps.apply_to(&mut core);
        assert_eq!(core.coalesce_copies, gaps);
    }
}

/// The remembered answer claims more than the server enforces (s3s-fs enforces neither
/// conditional deletes nor copy-source conditions): the mount starts from it, and the
/// background probe corrects the remote at once and the file for the next mount.
#[test]
fn a_weaker_answer_found_in_the_background_is_applied_at_once() {
    rt().block_on(async {
        let c = Ctx::new("weaker").await;
        let truth = c.truth().await;
        assert_ne!(
            truth,
            Capabilities::assumed(),
            "s3s-fs enforces everything now?"
        );
        let file = c.file();
        file.save(Capabilities::assumed(), SystemTime::now())
            .expect("save");
        let remote = Arc::new(c.remote().await);
        let m = mount_capabilities(&remote, &file, "weaker")
            .await
            .expect("mount");
        assert_eq!(m.caps, Capabilities::assumed());
        assert_eq!(remote.capabilities(), Capabilities::assumed());
        assert!(remote.unconfirmed());

        let task = keep_current(
            &c.config,
            remote.clone(),
            file.clone(),
            m.caps,
            Duration::ZERO,
            7,
        );
        // The probe corrects the remote first and the file just after: wait for both.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while remote.unconfirmed()
            || !matches!(file.lookup(SystemTime::now()), Lookup::Fresh(r) if r.caps == truth)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no background probe"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!task.is_finished(), "it probes again later");
        assert_eq!(remote.capabilities(), truth);
        match file.lookup(SystemTime::now()) {
            Lookup::Fresh(r) => assert_eq!(r.caps, truth),
            other => panic!("{other:?}"),
        }

        // What refresh reports for the same change.
        let r = refresh(&remote, &file, "again", Capabilities::assumed())
            .await
            .expect("refresh");
        assert!(r.changed());
        assert!(r.no_longer_enforced().contains(&"conditional_delete"));
        assert!(r.newly_enforced().is_empty());
    });
}

/// The runtime shuts down (the mount ends) while the background probe runs: its drop waits
/// for the probe, which deletes its scratch objects; nothing is left in the bucket.
#[test]
fn a_shutdown_during_the_background_probe_leaves_nothing_in_the_bucket() {
    use silt_s3::ObjectStore;
    // No proxy here: it would end with the first runtime.
    let server = servers::s3s_fs();
    let bucket = servers::bucket_name("shutdown");
    rt().block_on(servers::create_bucket(&server.endpoint, &bucket));
    let mut config = servers::config(&server.endpoint, &bucket);
    config.prefix = "mnt/".into();
    let dir = tempfile::tempdir().expect("tempdir");
    for pause_ms in [0, 2, 5, 10, 20] {
        let runtime = rt();
        runtime.block_on(async {
            let remote = Arc::new(S3Remote::connect(&config).await);
            keep_current(
                &config,
                remote,
                CapabilitiesFile::new(dir.path(), &config),
                Capabilities::assumed(),
                Duration::ZERO,
                pause_ms,
            );
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        });
        drop(runtime);
        let left = rt().block_on(async {
            let r = S3Remote::connect(&config).await;
            r.list("", None).await.expect("list")
        });
        assert!(
            left.objects.is_empty(),
            "after {pause_ms} ms: {:?}",
            left.objects
        );
        let uploads = rt().block_on(async {
            let r = S3Remote::connect(&config).await;
            r.client()
                .list_multipart_uploads()
                .bucket(r.bucket())
                .send()
                .await
        });
        // Where the server lists open uploads, none is left.
        if let Ok(u) = uploads {
            assert!(
                u.uploads().is_empty(),
                "after {pause_ms} ms: {:?}",
                u.uploads()
            );
        }
    }
}

/// While a remembered answer awaits its probe, conditions are checked with a HEAD even where
/// the answer says the server enforces them: s3s-fs ignores `If-Match` on DELETE, and a
/// remote told (wrongly) that it enforces it still refuses to delete another version.
#[test]
fn unconfirmed_capabilities_are_checked_with_a_head() {
    use silt_s3::{ErrorKind, Meta, ObjectStore};
    rt().block_on(async {
        let c = Ctx::new("unconfirmed").await;
        let r = c.remote().await;
        assert_eq!(r.capabilities(), Capabilities::assumed());
        let etag = r
            .put("k", bytes::Bytes::from_static(b"v1"), None, Meta::NONE)
            .await
            .expect("put");
        r.set_unconfirmed(true);
        let wrong = "\"0123456789abcdef0123456789abcdef\"";
        let e = r.delete("k", Some(wrong)).await.expect_err("deleted");
        assert_eq!(e.kind, ErrorKind::PreconditionFailed, "{e:?}");
        assert!(r.head("k").await.expect("head").is_some(), "deleted anyway");
        let e = r
            .put(
                "k",
                bytes::Bytes::from_static(b"v2"),
                Some(&silt_core::Precondition::IfMatch(wrong.into())),
                Meta::NONE,
            )
            .await
            .expect_err("overwritten");
        assert_eq!(e.kind, ErrorKind::PreconditionFailed, "{e:?}");
        r.delete("k", Some(&etag)).await.expect("delete");
        assert!(r.head("k").await.expect("head").is_none());
    });
}
