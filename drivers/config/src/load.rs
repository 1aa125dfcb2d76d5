//! Merging defaults, the file, the environment and flags into [`Settings`], and the
//! commented template written when the file is missing.

use crate::error::{ConfigError, Origin, Problem};
use crate::keys::{self, KEYS};
use crate::settings::Settings;
use crate::yaml;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where settings come from, lowest precedence first: the file, the environment, flags.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// The configuration file (usually [`crate::config_path`]).
    pub file: PathBuf,
    /// The environment (`SILT_*` variables are read; `HOME`/`USERPROFILE` expand `~/`).
    pub env: BTreeMap<String, String>,
    /// Flags given on the command line: (flag name without `--`, value), in order.
    pub flags: Vec<(String, String)>,
}

impl Sources {
    /// The process environment, the default file under the home directory, and `flags`.
    pub fn from_process(flags: Vec<(String, String)>) -> Sources {
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let home = crate::home_dir(&env).unwrap_or_else(|| PathBuf::from("."));
        Sources {
            file: crate::config_path(&home),
            env,
            flags,
        }
    }
}

/// Loads the settings with the precedence flag > environment > file > default.
///
/// A missing file: the commented [`template`] is written there (parent directories created)
/// and [`ConfigError::Missing`] carries the settings from defaults, environment and flags.
/// Invalid values, unknown or repeated keys: [`ConfigError::Invalid`] lists them all.
pub fn load(sources: &Sources) -> Result<Settings, ConfigError> {
    let text = match std::fs::read_to_string(&sources.file) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(ConfigError::Read {
                path: sources.file.clone(),
                source,
            })
        }
    };
    let mut merge = Merge::default();
    if let Some(text) = &text {
        merge.file(text, &sources.file);
    }
    merge.env(&sources.env);
    merge.flags(&sources.flags);
    let settings = merge.finish(crate::home_dir(&sources.env).as_deref())?;
    if text.is_none() {
        let template_error = write_template(&sources.file).err().map(|e| e.to_string());
        return Err(ConfigError::Missing {
            path: sources.file.clone(),
            template_error,
            settings: Box::new(settings),
        });
    }
    Ok(settings)
}

/// Parses configuration text alone (no environment, no flags); `path` names it in errors.
/// `~/` in `cache_dir` is kept as written.
pub fn parse_str(text: &str, path: &Path) -> Result<Settings, ConfigError> {
    let mut merge = Merge::default();
    merge.file(text, path);
    merge.finish(None)
}

#[derive(Default)]
struct Merge {
    settings: Settings,
    origins: HashMap<&'static str, Origin>,
    problems: Vec<Problem>,
}

impl Merge {
    fn set(&mut self, key: &'static keys::Key, value: Option<&str>, origin: Origin) {
        let Some(value) = value else {
            return; // null: the key keeps its default
        };
        match (key.apply)(&mut self.settings, value) {
            Ok(()) => {
                self.origins.insert(key.name, origin);
            }
            Err(rule) => self.problems.push(Problem {
                field: key.name.to_string(),
                rule,
                origin,
            }),
        }
    }

    fn file(&mut self, text: &str, path: &Path) {
        let at = |line| Origin::File {
            path: path.to_path_buf(),
            line,
        };
        let (values, structural) = yaml::flatten(text);
        let mut seen: HashMap<String, usize> = HashMap::new();
        for v in values {
            if let Some(first) = seen.insert(v.key.clone(), v.line) {
                self.problems.push(Problem {
                    field: v.key,
                    rule: format!("is set twice (first on line {first})"),
                    origin: at(v.line),
                });
                continue;
            }
            match keys::find(&v.key) {
                Some(key) => self.set(key, v.value.as_deref(), at(v.line)),
                None => {
                    let rule = match keys::closest(&v.key) {
                        Some(k) => format!("is not a known key (did you mean {k}?)"),
                        None => "is not a known key (see docs/configuration.md)".to_string(),
                    };
                    self.problems.push(Problem {
                        field: v.key,
                        rule,
                        origin: at(v.line),
                    });
                }
            }
        }
        for (field, rule, line) in structural {
            self.problems.push(Problem {
                field,
                rule,
                origin: at(line),
            });
        }
        self.problems.sort_by_key(|p| match p.origin {
            Origin::File { line, .. } => line,
            _ => 0,
        });
    }

    fn env(&mut self, env: &BTreeMap<String, String>) {
        for key in KEYS {
            let var = key.env_var();
            if let Some(value) = env.get(&var) {
                let value = (!value.is_empty()).then_some(value.as_str());
                self.set(key, value, Origin::Env(var));
            }
        }
    }

    fn flags(&mut self, flags: &[(String, String)]) {
        for (flag, value) in flags {
            let flag = flag.trim_start_matches('-');
            match KEYS.iter().find(|k| k.flag() == flag) {
                Some(key) => self.set(key, Some(value), Origin::Flag(flag.to_string())),
                None => self.problems.push(Problem {
                    field: flag.to_string(),
                    rule: "is not a known flag".to_string(),
                    origin: Origin::Flag(flag.to_string()),
                }),
            }
        }
    }

    /// Cross-field rules, `~/` expansion, and the verdict.
    fn finish(mut self, home: Option<&Path>) -> Result<Settings, ConfigError> {
        let origin = |m: &Self, k: &str| m.origins.get(k).cloned().unwrap_or(Origin::Default);
        let s = &self.settings;
        if let Some(limit) = s.dirty_limit {
            if limit > s.cache_size {
                self.problems.push(Problem {
                    field: "dirty_limit".into(),
                    rule: format!(
                        "must not exceed the cache size ({} bytes from cache_size_gb)",
                        s.cache_size
                    ),
                    origin: origin(&self, "dirty_limit"),
                });
            }
        }
        if s.upload_retry_initial > s.upload_retry_max {
            let field = if self.origins.contains_key("upload_retry.max") {
                "upload_retry.max"
            } else {
                "upload_retry.initial"
            };
            self.problems.push(Problem {
                field: field.into(),
                rule: format!(
                    "upload_retry.initial ({:?}) must not exceed upload_retry.max ({:?})",
                    s.upload_retry_initial, s.upload_retry_max
                ),
                origin: origin(&self, field),
            });
        }
        if let (Some(home), Some(dir)) = (home, &self.settings.cache_dir) {
            if let Ok(rest) = dir.strip_prefix("~") {
                self.settings.cache_dir = Some(home.join(rest));
            }
        }
        if self.problems.is_empty() {
            Ok(self.settings)
        } else {
            Err(ConfigError::Invalid {
                problems: self.problems,
            })
        }
    }
}

/// The commented template: every key with its documentation, commented out at its default.
/// Uncommenting a line (removing the `#` that starts it) keeps the default.
pub fn template() -> String {
    let mut out = String::from(
        "# silt configuration. Every key is optional; each is shown commented out at its default.\n\
         # Precedence: command-line flag > environment variable (SILT_<KEY>, dots as _) > this file > default.\n\
         # Reference: docs/configuration.md\n",
    );
    let mut section = "";
    for key in KEYS {
        let (parent, leaf) = match key.name.split_once('.') {
            Some((p, l)) => (p, l),
            None => ("", key.name),
        };
        out.push('\n');
        for line in wrap(key.doc, 86) {
            out.push_str(&format!("# {line}\n"));
        }
        if parent != section && !parent.is_empty() {
            // The section header goes before the first doc of the section.
            let docs_start = out.rfind("\n\n").map_or(0, |i| i + 2);
            out.insert_str(docs_start, &format!("#{parent}:\n"));
        }
        section = parent;
        let value = key.default.unwrap_or("");
        let sep = if value.is_empty() { "" } else { " " };
        if parent.is_empty() {
            out.push_str(&format!("#{leaf}:{sep}{value}\n"));
        } else {
            out.push_str(&format!("#  {leaf}:{sep}{value}\n"));
        }
    }
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("lines is never empty");
        if !last.is_empty() && last.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

fn write_template(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // create_new: never overwrite a file that appeared meanwhile.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(template().as_bytes())?;
    f.sync_all()
}
