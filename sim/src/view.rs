//! The expected view of the namespace, from the model's files and directory markers: what
//! `Stat` of a name and a page of a directory must answer wherever the model is certain.
//!
//! A name is *certain* when nothing an outside writer did and no crash left it open: a file
//! the model knows to exist (with its size) or to be gone, a directory with a marker or a
//! file the model knows below it, or one with every marker and file below known to be gone.
//! Everything else is unknown and left unchecked (an outside writer's changes may be seen
//! late, within `stat_ttl`).

use crate::model::{MFile, Model};
use std::collections::BTreeMap;

/// What the model knows of one name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// A file of this size (`u64::MAX`: size not known).
    File(u64),
    /// A directory.
    Directory,
    /// Nothing there.
    Absent,
    /// The model cannot tell.
    Unknown,
}

/// The model of one directory marker (`mkdir` / `rmdir`), keyed by the directory's name
/// without the trailing `/`.
#[derive(Clone, Debug)]
pub struct MDir {
    /// Exists now, if known.
    pub exists: Option<bool>,
    /// A crash may leave it existing.
    pub may_exist: bool,
    /// A crash may leave it absent.
    pub may_be_absent: bool,
}

impl Default for MDir {
    /// A marker never made: absent.
    fn default() -> Self {
        MDir {
            exists: Some(false),
            may_exist: false,
            may_be_absent: true,
        }
    }
}

impl MDir {
    /// A mkdir was sent.
    pub fn mkdir_sent(&mut self) {
        self.may_exist = true;
    }

    /// A mkdir was answered: durably there.
    pub fn mkdir_done(&mut self) {
        self.exists = Some(true);
        self.may_exist = true;
        self.may_be_absent = false;
    }

    /// An rmdir was sent.
    pub fn rmdir_sent(&mut self) {
        self.may_be_absent = true;
    }

    /// An rmdir was answered: durably gone.
    pub fn rmdir_done(&mut self) {
        self.exists = Some(false);
        self.may_exist = false;
        self.may_be_absent = true;
    }

    /// The answer of the cache settles an unknown marker.
    pub fn observe(&mut self, exists: bool) {
        if self.exists.is_none() {
            self.exists = Some(exists);
        }
    }

    /// Everything not durable becomes uncertain.
    pub fn crash(&mut self) {
        self.exists = match (self.may_exist, self.may_be_absent) {
            (true, true) => None,
            (e, _) => Some(e),
        };
    }
}

/// What the model knows of a file.
pub fn file_known(f: &MFile) -> Known {
    if f.lost || f.disturbed || f.ever_disturbed {
        return Known::Unknown;
    }
    match f.exists {
        Some(true) => Known::File(f.now.as_ref().map_or(u64::MAX, |n| n.len() as u64)),
        Some(false) => Known::Absent,
        None => Known::Unknown,
    }
}

impl Model {
    /// What the model knows of the directory `dir` (no trailing `/`; `""` is the root): a
    /// directory when its marker or anything below it exists.
    pub fn dir_known(&self, dir: &str) -> Known {
        if dir.is_empty() {
            return Known::Directory;
        }
        let marker = self.dirs.get(dir).map_or(Some(false), |d| d.exists);
        match (marker, self.contents_known(dir)) {
            (Some(true), _) | (_, Known::Directory) => Known::Directory,
            (Some(false), Known::Absent) => Known::Absent,
            _ => Known::Unknown,
        }
    }

    /// What the model knows of the names below `dir` (its own marker aside): `Directory`
    /// when a file or a marker below exists, `Absent` when everything below is known gone.
    pub fn contents_known(&self, dir: &str) -> Known {
        let prefix = format!("{dir}/");
        let mut unknown = false;
        let markers = self.dirs.iter().filter(|(d, _)| d.starts_with(&prefix));
        for (_, m) in markers {
            match m.exists {
                Some(true) => return Known::Directory,
                None => unknown = true,
                Some(false) => {}
            }
        }
        for (_, f) in self.files.iter().filter(|(k, _)| k.starts_with(&prefix)) {
            match file_known(f) {
                Known::File(_) => return Known::Directory,
                Known::Absent => {}
                _ => unknown = true,
            }
        }
        if unknown {
            Known::Unknown
        } else {
            Known::Absent
        }
    }

    /// What `Stat(key)` must find: a file, a directory, nothing, or unknown. A name that is
    /// both a file and a prefix is not checked (the workload never makes one).
    pub fn stat_known(&self, key: &str) -> Known {
        let file = self.files.get(key).map_or(Known::Absent, file_known);
        let dir = self.dir_known(key);
        match (file, dir) {
            (Known::File(n), Known::Absent) => Known::File(n),
            (Known::Absent, d) => d,
            _ => Known::Unknown,
        }
    }

    /// The expected view of the directory `dir` (`""` or ending with `/`): every name the
    /// model has ever had in it (files directly in it, subdirectories `dir/x/`), with what
    /// it knows of each.
    pub fn view(&self, dir: &str) -> BTreeMap<String, Known> {
        let mut names = BTreeMap::new();
        let below = |key: &str| -> Option<String> {
            let rest = key.strip_prefix(dir)?;
            match rest.find('/') {
                Some(i) => Some(format!("{dir}{}", &rest[..=i])),
                None => Some(key.to_string()),
            }
        };
        for key in self.files.keys() {
            if let Some(name) = below(key) {
                names.insert(name, ());
            }
        }
        for d in self.dirs.keys() {
            if let Some(name) = below(&format!("{d}/")) {
                names.insert(name, ());
            }
        }
        names
            .into_keys()
            .filter(|n| n.len() > dir.len())
            .map(|n| {
                let known = match n.strip_suffix('/') {
                    Some(d) => self.dir_known(d),
                    None => self.files.get(&n).map_or(Known::Absent, file_known),
                };
                (n, known)
            })
            .collect()
    }
}
