//! silt's configuration: `~/.tigrisfs/config.yaml` (`%USERPROFILE%\.tigrisfs\config.yaml` on
//! Windows), environment variables and command-line flags, merged with the precedence
//! flag > environment > file > default and validated key by key.
//!
//! - Every key is described once, in [`keys`]: its name, default, rule and documentation.
//!   The commented template, the environment variable names and `docs/configuration.md` all
//!   follow that table.
//! - A missing file is not an error to stop on: [`load`] writes the commented template and
//!   returns [`ConfigError::Missing`], which carries the settings built from defaults,
//!   environment and flags, so the caller goes on with them and says where the template is.
//! - An invalid value, an unknown key or a duplicate key is a [`Problem`] that names the
//!   field, the rule and where the value came from (file and line, variable or flag). All
//!   problems are reported together.
//!
//! The YAML is read with `saphyr-parser` (see `docs/configuration.md` for why), as events
//! with their line numbers, so that every error can point at its line.

mod error;
pub mod keys;
mod load;
mod paths;
mod settings;
mod values;
mod yaml;

pub use error::{ConfigError, Origin, Problem};
pub use load::{load, parse_str, template, Sources};
pub use paths::{config_path, default_cache_dir, disk_id, home_dir, Target};
pub use settings::{ConflictPolicy, IndexBackend, Settings};
