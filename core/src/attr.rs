//! What the core answers about names: the attributes of a key ([`Attr`]) and pages of a
//! directory ([`DirEntry`]), and the remote listing they are built from ([`RemotePage`]).
//! The rules (what a created, dirty, uploading, renamed, deleted or conflicting key looks
//! like) are in `docs/architecture.md`, "Namespace".

/// A file or a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    /// An object (or a local file not yet uploaded).
    File,
    /// A directory: a marker object `dir/`, or a prefix with keys below it (implicit).
    Directory,
}

/// The attributes of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// File or directory.
    pub kind: FileKind,
    /// Size in bytes (0 for a directory).
    pub size: u64,
    /// Last modification, ms since the Unix epoch (0 when unknown, e.g. an implicit
    /// directory).
    pub mtime_ms: u64,
    /// Changes whenever the content may have changed: the mount's cache validation.
    pub version: String,
}

impl Attr {
    /// A directory's attributes.
    pub fn directory(mtime_ms: u64) -> Attr {
        Attr {
            kind: FileKind::Directory,
            size: 0,
            mtime_ms,
            version: String::new(),
        }
    }
}

/// One name of a directory page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The full key; a directory's ends with `/`.
    pub key: String,
    /// Its attributes.
    pub attr: Attr,
}

/// An object of a remote listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedObject {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag, where the server lists it.
    pub etag: Option<String>,
    /// Last-modified, ms since the Unix epoch.
    pub mtime_ms: u64,
}

/// One page of ListObjectsV2 with delimiter `/`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemotePage {
    /// Objects directly under the prefix, in key order.
    pub objects: Vec<ListedObject>,
    /// Common prefixes (subdirectories, ending with `/`), in order.
    pub prefixes: Vec<String>,
    /// More names follow the last one of this page.
    pub truncated: bool,
}

impl RemotePage {
    /// The page ListObjectsV2 with delimiter `/` answers, computed from every object of a
    /// bucket in key order (for in-memory object stores): the names under `prefix` after
    /// `start_after` (objects directly under it, and the common prefix of each deeper key),
    /// at most `max_keys` of them.
    pub fn of_sorted<'a>(
        objects: impl IntoIterator<Item = &'a ListedObject>,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: u32,
    ) -> RemotePage {
        let mut page = RemotePage::default();
        let mut names = 0u32;
        for o in objects {
            if !o.key.starts_with(prefix) || start_after.is_some_and(|a| o.key.as_str() <= a) {
                continue;
            }
            let rest = &o.key[prefix.len()..];
            let name = match rest.find('/') {
                Some(i) => {
                    let p = format!("{prefix}{}", &rest[..=i]);
                    if page.prefixes.last() == Some(&p) {
                        continue;
                    }
                    Some(p)
                }
                None => None,
            };
            if names == max_keys {
                page.truncated = true;
                break;
            }
            names += 1;
            match name {
                Some(p) => page.prefixes.push(p),
                None => page.objects.push(o.clone()),
            }
        }
        page
    }
}
