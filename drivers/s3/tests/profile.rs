//! Credentials as TigrisFS users give them: a named profile from the shared config and
//! credentials files (`--profile`), or the environment. s3s-fs checks signatures, so a
//! request only succeeds with the right secret. One test in its own binary: it sets
//! process environment variables, which nothing else here reads concurrently.

mod support;

use bytes::Bytes;
use silt_s3::{ErrorKind, Meta, ObjectStore, RemoteConfig, S3Remote};
use support::servers;

#[test]
fn credentials_come_from_the_named_profile_or_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = dir.path().join("credentials");
    let config = dir.path().join("config");
    std::fs::write(
        &credentials,
        format!(
            "[silt-test]\naws_access_key_id = {}\naws_secret_access_key = {}\n\n\
             [wrong-secret]\naws_access_key_id = {}\naws_secret_access_key = not-it\n",
            servers::ACCESS_KEY,
            servers::SECRET_KEY,
            servers::ACCESS_KEY
        ),
    )
    .expect("credentials file");
    std::fs::write(&config, "[profile silt-test]\nregion = eu-west-3\n").expect("config file");
    // Edition 2021: set_var is safe; this binary has this one test, so no thread reads the
    // environment meanwhile.
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &credentials);
    std::env::set_var("AWS_CONFIG_FILE", &config);

    let server = servers::s3s_fs();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let bucket = servers::bucket_name("profile");
        servers::create_bucket(&server.endpoint, &bucket).await;
        let base = RemoteConfig {
            endpoint: Some(server.endpoint.clone()),
            ..RemoteConfig::new(bucket.as_str())
        };
        assert!(
            base.uses_path_style(),
            "path style by default for a custom endpoint"
        );

        let named = S3Remote::connect(&RemoteConfig {
            profile: Some("silt-test".into()),
            ..base.clone()
        })
        .await;
        named
            .put("by-profile", Bytes::from_static(b"x"), None, Meta::NONE)
            .await
            .expect("signed with the profile's keys");
        let region = named.client().config().region().map(|r| r.to_string());
        assert_eq!(
            region.as_deref(),
            Some("eu-west-3"),
            "region from the profile"
        );

        let wrong = S3Remote::connect(&RemoteConfig {
            profile: Some("wrong-secret".into()),
            ..base.clone()
        })
        .await;
        let e = wrong
            .put("denied", Bytes::from_static(b"x"), None, Meta::NONE)
            .await
            .expect_err("wrong secret");
        assert_eq!((e.kind, e.status), (ErrorKind::Permanent, Some(403)), "{e}");

        std::env::set_var("AWS_ACCESS_KEY_ID", servers::ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", servers::SECRET_KEY);
        let from_env = S3Remote::connect(&base).await;
        from_env
            .put("by-env", Bytes::from_static(b"x"), None, Meta::NONE)
            .await
            .expect("signed with the environment's keys");
        let listed = from_env.list("", None).await.expect("list");
        let keys: Vec<_> = listed.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, vec!["by-env", "by-profile"]);
    });
}
