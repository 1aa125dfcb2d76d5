//! What can go wrong reading the configuration, and where a value came from.

use crate::settings::Settings;
use std::fmt;
use std::path::PathBuf;
use thiserror::Error;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A line of the configuration file.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File { path, line } => write!(f, "{} line {line}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Flag(flag) => write!(f, "flag --{flag}"),
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The key, dotted for nested keys (`index.backend`).
    pub field: String,
    /// The rule it breaks, in words.
    pub rule: String,
    /// Where the offending value came from.
    pub origin: Origin,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.field, self.rule)
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file does not exist. A commented template was written (if it could be) and the
    /// settings from defaults, environment and flags are carried along: go on with them.
    #[error("configuration file {} not found; {}", path.display(), match template_error {
        None => "a commented template was written there; going on with defaults".to_string(),
        Some(e) => format!("could not write a template there ({e}); going on with defaults"),
    })]
    Missing {
        /// The file that was looked for.
        path: PathBuf,
        /// Why the template could not be written, if it could not.
        template_error: Option<String>,
        /// Defaults, overridden by environment and flags.
        settings: Box<Settings>,
    },
    /// The file exists but cannot be read.
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Values break rules, keys are unknown or repeated, or the YAML does not parse.
    #[error("invalid configuration:{}", problems.iter().map(|p| format!("\n  {p}")).collect::<String>())]
    Invalid {
        /// Every problem found, in file order, then environment, then flags.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems of an [`ConfigError::Invalid`] error; empty for the others.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems } => problems,
            _ => &[],
        }
    }
}
