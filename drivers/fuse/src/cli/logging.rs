//! Logging: `tracing` with a `RUST_LOG`-style filter from `SILT_LOG` (or `RUST_LOG`;
//! default `warn`), to stderr or, with `--log-file`, appended to a file created 0600.
//!
//! What is logged never holds a credential: the engine logs keys, sizes, attempts and
//! error texts. The S3 SDK's own debug and trace output (every request and the steps of
//! its signing) is kept at `info` under a general filter, so that a `debug` log stays
//! about silt and holds nothing of the signing; a directive naming those crates
//! overrides that.

use anyhow::Context;
use std::path::Path;
use tracing_subscriber::EnvFilter;

/// The SDK's crates whose debug and trace output describes requests and their signing.
const SDK_CRATES: [&str; 5] = [
    "aws_sigv4",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_config",
    "hyper",
];

/// The filter: `SILT_LOG`, else `RUST_LOG`, else `warn`; the SDK's crates held at `info`
/// unless the filter names them.
pub fn filter() -> EnvFilter {
    let spec = std::env::var("SILT_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn".to_string());
    let mut filter = EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("silt: log filter {spec:?} is invalid ({e}); logging warnings only");
        EnvFilter::new("warn")
    });
    for krate in SDK_CRATES {
        if !spec.contains(krate) {
            if let Ok(d) = format!("{krate}=info").parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    filter
}

/// Installs the subscriber: stderr, or `log_file` (appended, 0600) when given.
pub fn init(log_file: Option<&Path>) -> anyhow::Result<()> {
    let builder = tracing_subscriber::fmt().with_env_filter(filter());
    match log_file {
        None => builder
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        Some(path) => {
            let mut open = std::fs::OpenOptions::new();
            open.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
            let file = open
                .open(path)
                .with_context(|| format!("opening the log file {}", path.display()))?;
            builder
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .init();
        }
    }
    Ok(())
}
