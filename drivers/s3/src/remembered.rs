//! The probe's answer, remembered in the cache directory, so that a mount need not wait for
//! the probe (16 or 17 requests, two multipart uploads started and aborted: most of a
//! remount's time on some servers).
//!
//! `<cache_dir>/capabilities` (0600) holds the last answer, the time it was found and what
//! it is the answer for (endpoint, bucket, prefix). At mount ([`mount_capabilities`]):
//!
//! - an answer for this target younger than [`MAX_AGE`] is given to the engine and the
//!   remote at once, and the remote checks every condition with a HEAD as well
//!   ([`S3Remote::set_unconfirmed`]) until a probe run in the background ([`keep_current`])
//!   confirms or corrects it: a server that stopped enforcing a condition is never trusted
//!   blindly, not even for the second the probe takes;
//! - no file, another target's answer, an older one, an answer in another format (written
//!   before the probe asked what it asks now), or a file that cannot be read or parsed (a
//!   warning): the probe runs before the mount, as without the file.
//!
//! A re-probe's answer is applied to the remote at once and written to the file; an answer
//! that differs from the one the engine started with is logged (info; a warning when a
//! condition is no longer enforced). See `docs/architecture.md`.

use crate::config::RemoteConfig;
use crate::error::Result;
use crate::probe::{probe, Capabilities};
use crate::s3::S3Remote;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The file's name in the cache directory.
pub const FILE_NAME: &str = "capabilities";

/// How old a remembered answer may be and still be used at mount without waiting for a
/// probe; also how often a running mount probes again.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The file's format. Raise it when the probe changes what it finds out: an answer in an
/// older format is then not used. 2: `part_number_gaps` added (format 1 did not ask).
const FORMAT: u32 = 2;

/// First pause after a failed background probe; doubled up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(5);
/// Longest pause between background probes that fail.
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Why a remembered answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading the file failed.
    #[error("cannot read it: {0}")]
    Io(#[from] io::Error),
    /// The file is not what [`CapabilitiesFile::save`] writes (damaged, truncated, edited).
    #[error("line {line}: {reason}")]
    Corrupt {
        /// 1-based line number (0: the file as a whole).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// What a probe's answer holds for: the server, the bucket and the prefix the scratch
/// objects went under.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    endpoint: String,
    bucket: String,
    prefix: String,
}

impl Target {
    fn of(config: &RemoteConfig) -> Target {
        Target {
            // No endpoint: AWS itself (the region does not change what S3 enforces).
            endpoint: config.endpoint.clone().unwrap_or_default(),
            bucket: config.bucket.clone(),
            prefix: config.prefix.clone(),
        }
    }
}

/// An answer read back from the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remembered {
    /// What the server enforced.
    pub caps: Capabilities,
    /// When the probe found it.
    pub probed_at: SystemTime,
}

/// What [`CapabilitiesFile::lookup`] found.
#[derive(Debug)]
pub enum Lookup {
    /// No file: never probed from this cache directory (or the file was removed).
    Missing,
    /// An answer for another endpoint, bucket or prefix.
    OtherTarget,
    /// An answer in another format: written by a silt whose probe asked other questions
    /// (format 1 did not ask about gaps in part numbers). Not used, and not an error.
    OtherFormat(u32),
    /// Older than the file's maximum age, or dated in the future (the clock moved back).
    Stale(Remembered),
    /// The file could not be read or parsed: ignored, with a warning.
    Unusable(FileError),
    /// Young enough to use at once.
    Fresh(Remembered),
}

/// Where the answer for one target is remembered, and for how long it is trusted at mount.
#[derive(Clone, Debug)]
pub struct CapabilitiesFile {
    path: PathBuf,
    target: Target,
    max_age: Duration,
}

impl CapabilitiesFile {
    /// `<cache_dir>/capabilities`, for the endpoint, bucket and prefix of `config`, trusted
    /// for [`MAX_AGE`].
    pub fn new(cache_dir: &Path, config: &RemoteConfig) -> CapabilitiesFile {
        CapabilitiesFile {
            path: cache_dir.join(FILE_NAME),
            target: Target::of(config),
            max_age: MAX_AGE,
        }
    }

    /// The same with another maximum age.
    pub fn with_max_age(mut self, max_age: Duration) -> CapabilitiesFile {
        self.max_age = max_age;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How old an answer may be and still be used at mount.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Reads the remembered answer and judges it at `now`.
    pub fn lookup(&self, now: SystemTime) -> Lookup {
        let text = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Lookup::Missing,
            Err(e) => return Lookup::Unusable(FileError::Io(e)),
        };
        let Ok(text) = String::from_utf8(text) else {
            return Lookup::Unusable(FileError::Corrupt {
                line: 0,
                reason: "not UTF-8".into(),
            });
        };
        let (target, remembered) = match decode(&text) {
            Ok(Decoded::Answer(target, remembered)) => (target, remembered),
            Ok(Decoded::OtherFormat(format)) => return Lookup::OtherFormat(format),
            Err(e) => return Lookup::Unusable(e),
        };
        if target != self.target {
            return Lookup::OtherTarget;
        }
        match now.duration_since(remembered.probed_at) {
            Ok(age) if age <= self.max_age => Lookup::Fresh(remembered),
            _ => Lookup::Stale(remembered),
        }
    }

    /// Remembers `caps`, found at `probed_at`: written to a temporary file (0600), synced,
    /// then renamed over the old one, so that a crash leaves the old answer or the new one.
    /// The cache directory must exist.
    pub fn save(&self, caps: Capabilities, probed_at: SystemTime) -> io::Result<()> {
        let text = encode(&self.target, caps, probed_at);
        let tmp = self
            .path
            .with_file_name(format!("{FILE_NAME}.tmp.{}", std::process::id()));
        let written = (|| {
            let mut f = open_private(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

/// Creates (or truncates) `path` readable and writable by its owner only.
fn open_private(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let f = options.open(path)?;
        // A file left by an earlier attempt keeps its mode through `open`: set it.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(f)
    }
    #[cfg(not(unix))]
    {
        options.open(path)
    }
}

/// `%`, CR and LF as `%25`, `%0D`, `%0A`, so that any endpoint or prefix fits on one line.
fn escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3)?;
        out.push(match code {
            "25" => '%',
            "0D" => '\r',
            "0A" => '\n',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

fn encode(target: &Target, caps: Capabilities, probed_at: SystemTime) -> String {
    let ms = probed_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut s = String::new();
    // Infallible: writing to a String.
    let _ = write!(
        s,
        "# What the server enforced when silt last probed it; delete this file to probe at the next mount.\n\
         format {FORMAT}\n\
         endpoint {}\n\
         bucket {}\n\
         prefix {}\n\
         probed_at_ms {ms}\n\
         conditional_put {}\n\
         conditional_complete {}\n\
         conditional_delete {}\n\
         conditional_copy_source {}\n\
         part_number_gaps {}\n",
        escape(&target.endpoint),
        escape(&target.bucket),
        escape(&target.prefix),
        caps.conditional_put,
        caps.conditional_complete,
        caps.conditional_delete,
        caps.conditional_copy_source,
        caps.part_number_gaps,
    );
    s
}

enum Decoded {
    Answer(Target, Remembered),
    OtherFormat(u32),
}

fn decode(text: &str) -> std::result::Result<Decoded, FileError> {
    let corrupt = |line: usize, reason: String| FileError::Corrupt { line, reason };
    if !text.ends_with('\n') {
        return Err(corrupt(0, "truncated (no final newline)".into()));
    }
    let mut fields: Vec<(usize, &str, &str)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once(' ')
            .ok_or_else(|| corrupt(i + 1, format!("{line:?} is not `name value`")))?;
        if fields.iter().any(|(_, n, _)| *n == name) {
            return Err(corrupt(i + 1, format!("{name} given twice")));
        }
        fields.push((i + 1, name, value));
    }
    let get = |name: &str| {
        fields
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(line, _, v)| (*line, *v))
            .ok_or_else(|| corrupt(0, format!("{name} is missing")))
    };
    let (line, format) = get("format")?;
    match format.parse::<u32>() {
        Ok(FORMAT) => {}
        Ok(other) => return Ok(Decoded::OtherFormat(other)),
        Err(_) => return Err(corrupt(line, format!("format {format:?} is not a number"))),
    }
    let text_field = |name: &str| {
        let (line, v) = get(name)?;
        unescape(v).ok_or_else(|| corrupt(line, format!("{name}: bad escape in {v:?}")))
    };
    let flag = |name: &str| {
        let (line, v) = get(name)?;
        match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(corrupt(line, format!("{name} is {v:?}, not true or false"))),
        }
    };
    let (line, ms) = get("probed_at_ms")?;
    let ms: u64 = ms
        .parse()
        .map_err(|_| corrupt(line, format!("probed_at_ms {ms:?} is not a number")))?;
    let target = Target {
        endpoint: text_field("endpoint")?,
        bucket: text_field("bucket")?,
        prefix: text_field("prefix")?,
    };
    let caps = Capabilities {
        conditional_put: flag("conditional_put")?,
        conditional_complete: flag("conditional_complete")?,
        conditional_delete: flag("conditional_delete")?,
        conditional_copy_source: flag("conditional_copy_source")?,
        part_number_gaps: flag("part_number_gaps")?,
    };
    if let Some((line, name, _)) = fields.iter().find(|(_, n, _)| {
        ![
            "format",
            "endpoint",
            "bucket",
            "prefix",
            "probed_at_ms",
            "conditional_put",
            "conditional_complete",
            "conditional_delete",
            "conditional_copy_source",
            "part_number_gaps",
        ]
        .contains(n)
    }) {
        return Err(corrupt(*line, format!("unknown field {name:?}")));
    }
    Ok(Decoded::Answer(
        target,
        Remembered {
            caps,
            probed_at: UNIX_EPOCH + Duration::from_millis(ms),
        },
    ))
}

/// Where a mount's capabilities came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Probed before the mount, at this time: the caller saves them with
    /// [`CapabilitiesFile::save`] once the cache directory exists.
    Probed {
        /// When.
        at: SystemTime,
    },
    /// Remembered, this old: the remote checks every condition with a HEAD as well until
    /// [`keep_current`] has probed again.
    Remembered {
        /// Age of the answer.
        age: Duration,
    },
}

/// The capabilities a mount starts with.
#[derive(Debug)]
pub struct MountCapabilities {
    /// What the engine may assume (`caps.apply_to(&mut core_config)`).
    pub caps: Capabilities,
    /// Where they came from.
    pub source: Source,
    /// What the file held.
    pub lookup: Lookup,
}

/// The capabilities to mount with: a fresh remembered answer at once, else a probe now.
/// Sets the remote's capabilities to them; a remembered answer is marked unconfirmed
/// ([`S3Remote::set_unconfirmed`]: every condition checked by HEAD as well) until
/// [`refresh`] probes again. A file that cannot be used is a warning, never an error; the error is the
/// probe's.
pub async fn mount_capabilities(
    remote: &S3Remote,
    file: &CapabilitiesFile,
    nonce: &str,
) -> Result<MountCapabilities> {
    let now = SystemTime::now();
    let lookup = file.lookup(now);
    match &lookup {
        Lookup::Fresh(r) => {
            let age = now.duration_since(r.probed_at).unwrap_or_default();
            tracing::info!(
                caps = ?r.caps,
                age_s = age.as_secs(),
                "using the server capabilities remembered in {}; probing again in the background",
                file.path.display()
            );
            remote.set_capabilities(r.caps);
            remote.set_unconfirmed(true);
            return Ok(MountCapabilities {
                caps: r.caps,
                source: Source::Remembered { age },
                lookup,
            });
        }
        Lookup::Missing => {
            tracing::debug!("no remembered server capabilities; probing");
        }
        Lookup::OtherTarget => {
            tracing::info!(
                "{} holds the capabilities of another server, bucket or prefix; probing",
                file.path.display()
            );
        }
        Lookup::OtherFormat(format) => {
            tracing::info!(
                "{} holds capabilities in format {format}, not {FORMAT} (the probe asks more now); probing",
                file.path.display()
            );
        }
        Lookup::Stale(r) => {
            let age = now.duration_since(r.probed_at).map(|d| d.as_secs());
            tracing::info!(
                age_s = ?age,
                max_age_s = file.max_age.as_secs(),
                "the server capabilities remembered in {} are too old (or dated in the future); probing",
                file.path.display()
            );
        }
        Lookup::Unusable(e) => {
            tracing::warn!(
                "ignoring the server capabilities remembered in {}: {e}; probing",
                file.path.display()
            );
        }
    }
    let caps = probe(&remote.for_probe(), nonce).await?;
    remote.set_capabilities(caps);
    remote.set_unconfirmed(false);
    Ok(MountCapabilities {
        caps,
        source: Source::Probed { at: now },
        lookup,
    })
}

/// What a re-probe found, beside what the engine started with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refreshed {
    /// The server's answer now, in effect in the remote.
    pub caps: Capabilities,
    /// What the engine started with.
    pub started_with: Capabilities,
}

impl Refreshed {
    /// The answer differs from the one the engine started with.
    pub fn changed(&self) -> bool {
        self.caps != self.started_with
    }

    /// Conditions the engine started assuming enforced that the server no longer enforces.
    pub fn no_longer_enforced(&self) -> Vec<&'static str> {
        fields(self.started_with, self.caps)
    }

    /// Conditions the server now enforces that the engine started without.
    pub fn newly_enforced(&self) -> Vec<&'static str> {
        fields(self.caps, self.started_with)
    }

    /// Whether the server accepts gaps in part numbers now, if that differs from what the
    /// engine started with (which fixed `CoreConfig::coalesce_copies` until the next mount).
    pub fn part_number_gaps_changed(&self) -> Option<bool> {
        (self.caps.part_number_gaps != self.started_with.part_number_gaps)
            .then_some(self.caps.part_number_gaps)
    }
}

/// Names of the conditions enforced in `a` and not in `b`.
fn fields(a: Capabilities, b: Capabilities) -> Vec<&'static str> {
    [
        (a.conditional_put && !b.conditional_put, "conditional_put"),
        (
            a.conditional_complete && !b.conditional_complete,
            "conditional_complete",
        ),
        (
            a.conditional_delete && !b.conditional_delete,
            "conditional_delete",
        ),
        (
            a.conditional_copy_source && !b.conditional_copy_source,
            "conditional_copy_source",
        ),
    ]
    .into_iter()
    .filter_map(|(yes, name)| yes.then_some(name))
    .collect()
}

/// Probes again, applies the answer to the remote at once (where a condition is not
/// enforced, the remote checks it with a HEAD before the write, whatever the engine
/// assumes), remembers it in `file`, and logs a change against `started_with` (the
/// capabilities the engine was started with). A file that cannot be written is a warning.
pub async fn refresh(
    remote: &S3Remote,
    file: &CapabilitiesFile,
    nonce: &str,
    started_with: Capabilities,
) -> Result<Refreshed> {
    refresh_via(&remote.for_probe(), remote, file, nonce, started_with).await
}

/// [`refresh`], probing through `probing` (a remote that assumes every capability).
async fn refresh_via(
    probing: &S3Remote,
    remote: &S3Remote,
    file: &CapabilitiesFile,
    nonce: &str,
    started_with: Capabilities,
) -> Result<Refreshed> {
    let at = SystemTime::now();
    let caps = probe(probing, nonce).await?;
    remote.set_capabilities(caps);
    remote.set_unconfirmed(false);
    let r = Refreshed { caps, started_with };
    if r.changed() {
        tracing::info!(
            was = ?started_with,
            now = ?caps,
            "the server capabilities changed since they were last probed; applied to the remote"
        );
        let gone = r.no_longer_enforced();
        if !gone.is_empty() {
            tracing::warn!(
                "the server no longer enforces {}: these conditions are now checked with a HEAD just before each write (racy: another writer can slip in between); a remount lets the cache itself plan for it",
                gone.join(", ")
            );
        }
        let new = r.newly_enforced();
        if !new.is_empty() {
            tracing::info!(
                "the server now enforces {}; the cache keeps checking them with a HEAD of its own until the next mount",
                new.join(", ")
            );
        }
        match r.part_number_gaps_changed() {
            Some(false) => tracing::warn!(
                "the server no longer accepts gaps in part numbers: a multipart upload that put unchanged parts in one copy fails at its completion and is retried, its data kept; a remount stops putting parts in one copy"
            ),
            Some(true) => tracing::info!(
                "the server now accepts gaps in part numbers; the cache puts unchanged parts in one copy from the next mount"
            ),
            None => {}
        }
    }
    if let Err(e) = file.save(caps, at) {
        tracing::warn!(
            "cannot remember the server capabilities in {}: {e}",
            file.path().display()
        );
    }
    Ok(r)
}

/// Keeps a mount's capabilities current, on a thread of the current runtime's blocking pool
/// (with a runtime and a connection of its own): waits `first` (zero after a remembered
/// answer, else the file's maximum age), then probes again with [`refresh`], and again
/// every maximum age; a failed probe is a warning, retried after 5 s, doubling up to 5 min
/// (until one succeeds, a remote started from a remembered answer stays unconfirmed and
/// keeps checking every condition with a HEAD).
///
/// It ends when the current runtime shuts down; since a runtime's drop waits for its
/// blocking threads, a probe under way is given up to [`SHUTDOWN_GRACE`] to finish and
/// delete its scratch objects first, so that an unmount during the probe leaves nothing in
/// the bucket. Panics outside a tokio runtime.
pub fn keep_current(
    config: &RemoteConfig,
    remote: Arc<S3Remote>,
    file: CapabilitiesFile,
    started_with: Capabilities,
    first: Duration,
    seed: u64,
) -> tokio::task::JoinHandle<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // Dropped, with every task, when the runtime shuts down: that is the stop signal.
    tokio::spawn(async move {
        let _stop = stop_tx;
        std::future::pending::<()>().await
    });
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::warn!("cannot probe the server capabilities again: no runtime: {e}");
                return;
            }
        };
        rt.block_on(keep_current_until(
            stop_rx,
            config,
            remote,
            file,
            started_with,
            first,
            seed,
        ));
    })
}

/// How long a probe under way may go on once the mount's runtime shuts down.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Sleeps `d`; true if `stop` came first.
async fn stopped_during(d: Duration, stop: &mut tokio::sync::oneshot::Receiver<()>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop => true,
    }
}

async fn keep_current_until(
    mut stop: tokio::sync::oneshot::Receiver<()>,
    config: RemoteConfig,
    remote: Arc<S3Remote>,
    file: CapabilitiesFile,
    started_with: Capabilities,
    first: Duration,
    seed: u64,
) {
    if stopped_during(first, &mut stop).await {
        return;
    }
    // A client of this runtime's own: connections are driven by the runtime that opened them.
    let probing = tokio::select! {
        r = S3Remote::connect(&config) => r,
        _ = &mut stop => return,
    };
    let mut round: u64 = 0;
    let mut backoff = RETRY_FIRST;
    loop {
        round += 1;
        let nonce = format!("{seed:016x}-{round}");
        let refreshed = refresh_via(&probing, &remote, &file, &nonce, started_with);
        tokio::pin!(refreshed);
        let result = tokio::select! {
            r = &mut refreshed => r,
            _ = &mut stop => {
                if tokio::time::timeout(SHUTDOWN_GRACE, refreshed).await.is_err() {
                    tracing::warn!(
                        "stopped while probing the server capabilities; scratch objects .silt-probe-{nonce}* may be left in the bucket"
                    );
                }
                return;
            }
        };
        let pause = match result {
            Ok(_) => {
                backoff = RETRY_FIRST;
                file.max_age.max(Duration::from_secs(60))
            }
            Err(e) => {
                tracing::warn!(
                    "probing the server capabilities again failed: {e}; retrying in {} s",
                    backoff.as_secs()
                );
                let pause = backoff;
                backoff = (backoff * 2).min(RETRY_MAX);
                pause
            }
        };
        if stopped_during(pause, &mut stop).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "b".into(),
            prefix: "odd%\nprefix\r/ ".into(),
        }
    }

    #[test]
    fn round_trip() {
        let caps = Capabilities {
            conditional_put: true,
            conditional_complete: false,
            conditional_delete: true,
            conditional_copy_source: false,
            part_number_gaps: true,
        };
        let at = UNIX_EPOCH + Duration::from_millis(1_764_968_000_123);
        let text = encode(&target(), caps, at);
        assert_eq!(text.lines().count(), 11, "{text}");
        assert!(text.contains("\npart_number_gaps true\n"), "{text}");
        match decode(&text) {
            Ok(Decoded::Answer(t, r)) => {
                assert_eq!(t, target());
                assert_eq!(r.caps, caps);
                assert_eq!(r.probed_at, at);
            }
            _ => panic!("not decoded: {text}"),
        }
        for gaps in [false, true] {
            let caps = Capabilities {
                part_number_gaps: gaps,
                ..Capabilities::none()
            };
            match decode(&encode(&target(), caps, at)) {
                Ok(Decoded::Answer(_, r)) => assert_eq!(r.caps, caps),
                _ => panic!("not decoded: {caps:?}"),
            }
        }
    }

    /// What format 1 wrote (before the probe asked about gaps in part numbers): it holds no
    /// answer on gaps, so it is another format, never an answer read with a default.
    const FORMAT_1: &str = "# What the server enforced when silt last probed it; delete this file to probe at the next mount.\n\
        format 1\n\
        endpoint http://127.0.0.1:9000\n\
        bucket b\n\
        prefix mnt/\n\
        probed_at_ms 1764968000123\n\
        conditional_put true\n\
        conditional_complete true\n\
        conditional_delete false\n\
        conditional_copy_source false\n";

    #[test]
    fn an_answer_in_format_1_is_another_format() {
        assert!(matches!(decode(FORMAT_1), Ok(Decoded::OtherFormat(1))));
        // The same lines under the current format number lack the answer on gaps: damage.
        let relabelled = FORMAT_1.replace("format 1\n", &format!("format {FORMAT}\n"));
        match decode(&relabelled) {
            Err(FileError::Corrupt { reason, .. }) => {
                assert!(reason.contains("part_number_gaps"), "{reason}")
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn damage_is_an_error() {
        let text = encode(&target(), Capabilities::assumed(), UNIX_EPOCH);
        let cases = [
            text[..text.len() - 1].to_string(),
            text[..text.len() / 2].to_string(),
            text.replace("conditional_put true", "conditional_put yes"),
            text.replace("probed_at_ms 0", "probed_at_ms -1"),
            text.replace("bucket b\n", ""),
            text.replace("bucket b\n", "bucket b\nbucket c\n"),
            text.replace("bucket b\n", "bucket b\ncolour blue\n"),
            text.replace("%0A", "%0"),
            String::new(),
        ];
        for case in cases {
            assert!(
                matches!(decode(&case), Err(FileError::Corrupt { .. })),
                "{case:?}"
            );
        }
        let newer = text.replace("format 2\n", "format 3\n");
        assert!(matches!(decode(&newer), Ok(Decoded::OtherFormat(3))));
        let gaps = text.replace("part_number_gaps false", "part_number_gaps 1");
        assert!(matches!(decode(&gaps), Err(FileError::Corrupt { .. })));
    }

    #[test]
    fn differences() {
        let all = Capabilities::assumed();
        let mut less = all;
        less.conditional_complete = false;
        let r = Refreshed {
            caps: less,
            started_with: all,
        };
        assert!(r.changed());
        assert_eq!(r.no_longer_enforced(), vec!["conditional_complete"]);
        assert!(r.newly_enforced().is_empty());
        assert_eq!(r.part_number_gaps_changed(), None);

        let mut gaps = all;
        gaps.part_number_gaps = true;
        let r = Refreshed {
            caps: all,
            started_with: gaps,
        };
        assert!(r.changed());
        assert_eq!(r.part_number_gaps_changed(), Some(false));
        assert!(
            r.no_longer_enforced().is_empty(),
            "gaps are not a condition"
        );
        let r = Refreshed {
            caps: gaps,
            started_with: all,
        };
        assert_eq!(r.part_number_gaps_changed(), Some(true));
    }
}
