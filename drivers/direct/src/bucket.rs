//! The names of a bucket served without a disk cache, and the table of its open files.

use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::file::{Base, FileState};
use crate::handle::Handle;
use crate::options::Options;
use crate::retry::retried;
use crate::Shared;
use silt_core::{Attr, DirEntry, FileKind, ObjectInfo, OpenFlags};
use silt_remote::{ErrorKind, ObjectStore};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// S3's longest key.
const MAX_KEY: usize = 1024;

/// What a key names in the bucket.
enum Found {
    /// An object.
    File(ObjectInfo),
    /// A directory: a marker or names below `key/`.
    Dir,
    /// Nothing.
    Nothing,
}

/// A file open through one or more handles.
#[derive(Debug)]
pub(crate) struct OpenFile {
    pub state: tokio::sync::Mutex<FileState>,
    /// Handles open on it (changed under the table's lock).
    handles: std::sync::atomic::AtomicUsize,
}

/// A bucket (under a prefix, which the store applies) served without a disk cache.
#[derive(Debug)]
pub struct Bucket<S: ObjectStore + 'static> {
    shared: Arc<Shared<S>>,
    /// Open files by key.
    open: Mutex<HashMap<String, Arc<OpenFile>>>,
    /// Directories this mount made (their markers' keys, ending with `/`), until removed or
    /// renamed: a server that does not list an empty directory's marker (s3s-fs keeps it as
    /// an empty folder and lists nothing) still shows them while mounted.
    made_dirs: Mutex<BTreeSet<String>>,
}

fn check_key(key: &str) -> Result<()> {
    if key.len() > MAX_KEY {
        return Err(Error::NameTooLong);
    }
    Ok(())
}

fn file_attr(size: u64, mtime_ms: u64, version: String) -> Attr {
    Attr {
        kind: FileKind::File,
        size,
        mtime_ms,
        version,
    }
}

impl<S: ObjectStore + 'static> Bucket<S> {
    /// Serves `store` with `opts`; `instance` makes upload tokens unique to this process.
    pub fn new(store: S, opts: Options, instance: u64) -> Arc<Bucket<S>> {
        let opts = opts.checked();
        Arc::new(Bucket {
            shared: Arc::new(Shared {
                store,
                budget: Budget::new(opts.memory_limit),
                opts,
                tokens: AtomicU64::new(0),
                instance,
            }),
            open: Mutex::new(HashMap::new()),
            made_dirs: Mutex::new(BTreeSet::new()),
        })
    }

    /// What the open files share.
    pub fn shared(&self) -> &Arc<Shared<S>> {
        &self.shared
    }

    fn table(&self) -> MutexGuard<'_, HashMap<String, Arc<OpenFile>>> {
        // Every change is one insert or remove: a poisoned table is still consistent.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn made_dirs(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.made_dirs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Directories made here at or below `dir_key` (ending with `/`, or `""`).
    fn made_below(&self, dir_key: &str) -> Vec<String> {
        self.made_dirs()
            .range(dir_key.to_string()..)
            .take_while(|k| k.starts_with(dir_key))
            .cloned()
            .collect()
    }

    fn opened(&self, key: &str) -> Option<Arc<OpenFile>> {
        self.table().get(key).cloned()
    }

    /// Keys of open files below the directory `dir_key` (ending with `/`, or `""`).
    fn open_below(&self, dir_key: &str) -> Vec<(String, Arc<OpenFile>)> {
        self.table()
            .iter()
            .filter(|(k, _)| k.starts_with(dir_key))
            .map(|(k, f)| (k.clone(), f.clone()))
            .collect()
    }

    /// Called when a handle goes: the last one takes the file out of the table. What it
    /// did not store is gone (a close that failed said so to its caller).
    pub(crate) fn release(&self, file: &Arc<OpenFile>) {
        let mut table = self.table();
        let left = file
            .handles
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            - 1;
        if left > 0 {
            return;
        }
        table.retain(|_, f| !Arc::ptr_eq(f, file));
        drop(table);
        // When a request (a stat, a listing) holds the state for a moment, the cleanup runs
        // after it, below.
        if let Ok(mut state) = file.state.try_lock() {
            state.closed();
            if !state.has_stream() {
                return;
            }
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (file, shared) = (file.clone(), self.shared.clone());
            rt.spawn(async move {
                let mut state = file.state.lock().await;
                state.closed();
                state.drop_stream(&shared).await;
            });
        }
    }

    /// The attributes of `key`: an open file's own, else the object's (HeadObject), else a
    /// directory if names are below `key/`.
    pub async fn stat(&self, key: &str) -> Result<Attr> {
        check_key(key)?;
        if let Some(f) = self.opened(key) {
            let s = f.state.lock().await;
            if !s.unlinked && s.key == key {
                return Ok(file_attr(s.size, s.mtime_ms, s.version()));
            }
        }
        match self.find(key).await? {
            Found::File(info) => Ok(file_attr(info.size, info.mtime_ms, info.etag)),
            Found::Dir => Ok(Attr::directory(0)),
            Found::Nothing => Err(Error::NotFound),
        }
    }

    /// What `key` names: HeadObject, then the listing below `key/`. A HEAD that fails is
    /// not retried before the listing is asked: some servers that keep objects as files
    /// cannot answer a HEAD of a directory's name (s3s-fs answers 500).
    async fn find(&self, key: &str) -> Result<Found> {
        let retry_for = self.shared.opts.retry_for;
        if !self.made_below(&format!("{key}/")).is_empty() {
            return Ok(Found::Dir);
        }
        match self.shared.store.head(key).await {
            Ok(Some(info)) => return Ok(Found::File(info)),
            Ok(None) => {
                return Ok(if self.is_dir(key).await? {
                    Found::Dir
                } else {
                    Found::Nothing
                })
            }
            Err(e) if e.kind == ErrorKind::NotFound => {
                return Ok(if self.is_dir(key).await? {
                    Found::Dir
                } else {
                    Found::Nothing
                })
            }
            Err(e) => {
                tracing::debug!(key, error = %e, "HEAD failed; asking the listing");
                if self.is_dir(key).await? {
                    return Ok(Found::Dir);
                }
            }
        }
        match retried(retry_for, || self.shared.store.head(key))
            .await
            .map_err(Error::remote)?
        {
            Some(info) => Ok(Found::File(info)),
            None => Ok(Found::Nothing),
        }
    }

    /// Whether names are below `key/` (a marker, objects, or open files).
    async fn is_dir(&self, key: &str) -> Result<bool> {
        let dir_key = format!("{key}/");
        if !self.open_below(&dir_key).is_empty() || !self.made_below(&dir_key).is_empty() {
            return Ok(true);
        }
        let page = retried(self.shared.opts.retry_for, || {
            self.shared.store.list_page(&dir_key, None, 1)
        })
        .await
        .map_err(Error::remote)?;
        Ok(!page.objects.is_empty() || !page.prefixes.is_empty())
    }

    /// One page of the directory `dir` (`""` or ending with `/`): up to about `max` names
    /// after `after`, with open files not stored yet, and the `after` of the next page.
    pub async fn list(
        &self,
        dir: &str,
        after: Option<&str>,
        max: u32,
    ) -> Result<(Vec<DirEntry>, Option<String>)> {
        // After a subdirectory, ask for the names past everything below it: the server would
        // list the subdirectory again for any key below it after its name (as the core does).
        let start_after = after.map(|a| match a.strip_suffix('/') {
            Some(_) => format!("{a}\u{10FFFF}"),
            None => a.to_string(),
        });
        let page = retried(self.shared.opts.retry_for, || {
            self.shared
                .store
                .list_page(dir, start_after.as_deref(), max)
        })
        .await
        .map_err(Error::remote)?;
        let mut names: Vec<DirEntry> = page
            .objects
            .iter()
            .filter(|o| o.key != dir)
            .map(|o| DirEntry {
                key: o.key.clone(),
                attr: file_attr(o.size, o.mtime_ms, o.etag.clone().unwrap_or_default()),
            })
            .chain(page.prefixes.iter().map(|p| DirEntry {
                key: p.clone(),
                attr: Attr::directory(0),
            }))
            .collect();
        let last = names.iter().map(|e| e.key.clone()).max();
        let next = if page.truncated { last.clone() } else { None };
        // Open files (their own size and time) and directories made here, added where they
        // fall in this page.
        let mut local: Vec<DirEntry> = Vec::new();
        for (key, f) in self.open_below(dir) {
            let s = f.state.lock().await;
            if s.unlinked || s.key != key {
                continue;
            }
            let rest = &key[dir.len()..];
            local.push(match rest.find('/') {
                Some(i) => DirEntry {
                    key: format!("{dir}{}", &rest[..=i]),
                    attr: Attr::directory(0),
                },
                None => DirEntry {
                    key: key.clone(),
                    attr: file_attr(s.size, s.mtime_ms, s.version()),
                },
            });
        }
        for made in self.made_below(dir) {
            let rest = &made[dir.len()..];
            if let Some(i) = rest.find('/').filter(|&i| i > 0) {
                local.push(DirEntry {
                    key: format!("{dir}{}", &rest[..=i]),
                    attr: Attr::directory(0),
                });
            }
        }
        for listed in local {
            let in_page = after.is_none_or(|a| listed.key.as_str() > a)
                && next.as_deref().is_none_or(|n| listed.key.as_str() <= n);
            if !in_page {
                continue;
            }
            match names.iter_mut().find(|e| e.key == listed.key) {
                Some(e) => *e = listed,
                None => names.push(listed),
            }
        }
        names.sort_by(|a, b| a.key.cmp(&b.key));
        Ok((names, next))
    }

    /// Opens `key` per `flags`.
    pub async fn open(self: &Arc<Self>, key: &str, flags: OpenFlags) -> Result<Handle<S>> {
        check_key(key)?;
        if key.is_empty() || key.ends_with('/') {
            return Err(Error::NotFound);
        }
        loop {
            if let Some(f) = self.opened(key) {
                if flags.create && flags.exclusive {
                    return Err(Error::Exists);
                }
                if !self.attach(key, &f) {
                    // Its last handle closed meanwhile: open it afresh.
                    continue;
                }
                // The size now, waiting for a request on the file to finish (a create with
                // O_TRUNC decides on it, and the kernel is told it).
                let size = f.state.lock().await.size;
                let handle = Handle::new(self.clone(), f, size);
                if flags.truncate {
                    handle.truncate(0).await?;
                }
                return Ok(handle);
            }
            let base = match self.find(key).await? {
                Found::File(_) if flags.create && flags.exclusive => return Err(Error::Exists),
                Found::File(info) => Some((Base { etag: info.etag }, info.size, info.mtime_ms)),
                Found::Dir => return Err(Error::IsDirectory),
                Found::Nothing if flags.create => None,
                Found::Nothing => return Err(Error::NotFound),
            };
            let size = base.as_ref().map(|b| b.1).unwrap_or(0);
            let file = Arc::new(OpenFile {
                state: tokio::sync::Mutex::new(FileState::new(&self.shared, key.to_string(), base)),
                handles: std::sync::atomic::AtomicUsize::new(1),
            });
            {
                let mut table = self.table();
                if table.contains_key(key) {
                    // Opened meanwhile by another request: share that one.
                    continue;
                }
                table.insert(key.to_string(), file.clone());
            }
            let handle = Handle::new(self.clone(), file, size);
            if flags.truncate && size > 0 {
                handle.truncate(0).await?;
            }
            return Ok(handle);
        }
    }

    /// Counts one more handle on the open file `f`, unless its last handle closed since it
    /// was found (false).
    fn attach(&self, key: &str, f: &Arc<OpenFile>) -> bool {
        let table = self.table();
        if !table.get(key).is_some_and(|g| Arc::ptr_eq(g, f)) {
            return false;
        }
        f.handles.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        true
    }

    /// Removes the object `key`. A file open on it goes on unnamed and is never stored; it is
    /// detached only once the object is gone, so a failed unlink leaves it as it was.
    pub async fn unlink(&self, key: &str) -> Result<()> {
        check_key(key)?;
        let open = self.opened(key);
        // Held across the delete: the open file cannot store a version meanwhile.
        let mut state = match &open {
            Some(f) => Some(f.state.lock().await),
            None => None,
        };
        match self.find(key).await? {
            Found::File(_) => retried(self.shared.opts.retry_for, || {
                self.shared.store.delete(key, None)
            })
            .await
            .map_err(Error::remote)?,
            Found::Dir => return Err(Error::IsDirectory),
            Found::Nothing if open.is_some() => {}
            Found::Nothing => return Err(Error::NotFound),
        }
        if let (Some(f), Some(s)) = (&open, state.as_mut()) {
            s.unlink(&self.shared).await;
            let mut table = self.table();
            if table.get(key).is_some_and(|g| Arc::ptr_eq(g, f)) {
                table.remove(key);
            }
        }
        Ok(())
    }

    /// Creates the directory `key`: the marker object `key/`.
    pub async fn mkdir(&self, key: &str) -> Result<()> {
        check_key(key)?;
        match self.stat(key).await {
            Ok(_) => return Err(Error::Exists),
            Err(Error::NotFound) => {}
            Err(e) => return Err(e),
        }
        let marker = format!("{key}/");
        let put = retried(self.shared.opts.retry_for, || {
            self.shared.store.put(
                &marker,
                bytes::Bytes::new(),
                Some(&silt_core::Precondition::IfNoneMatch),
                silt_remote::Meta::NONE,
            )
        })
        .await;
        match put {
            Ok(_) => {
                self.made_dirs().insert(marker);
                Ok(())
            }
            Err(e) if e.kind == ErrorKind::PreconditionFailed => Err(Error::Exists),
            Err(e) => Err(Error::Remote(e)),
        }
    }

    /// Removes the empty directory `key`.
    pub async fn rmdir(&self, key: &str) -> Result<()> {
        check_key(key)?;
        let dir_key = format!("{key}/");
        let made = self.made_below(&dir_key);
        if !self.open_below(&dir_key).is_empty() || made.iter().any(|m| *m != dir_key) {
            return Err(Error::NotEmpty);
        }
        let page = retried(self.shared.opts.retry_for, || {
            self.shared.store.list_page(&dir_key, None, 2)
        })
        .await
        .map_err(Error::remote)?;
        let others = page.objects.iter().any(|o| o.key != dir_key) || !page.prefixes.is_empty();
        if others {
            return Err(Error::NotEmpty);
        }
        if page.objects.is_empty() && made.is_empty() {
            return Err(Error::NotFound);
        }
        retried(self.shared.opts.retry_for, || {
            self.shared.store.delete(&dir_key, None)
        })
        .await
        .map_err(Error::remote)?;
        self.made_dirs().remove(&dir_key);
        Ok(())
    }

    /// Renames the file `from` to `to` (replacing it): stored first if open with changes,
    /// then copied and the source deleted.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        check_key(from)?;
        check_key(to)?;
        if from == to {
            return Ok(());
        }
        if self.opened(to).is_some() {
            return Err(Error::Busy(format!("{to} is open")));
        }
        let open = self.opened(from);
        let mut guard = match &open {
            Some(f) => {
                let mut s = f.state.lock().await;
                s.flush(&self.shared).await?;
                Some(s)
            }
            None => None,
        };
        let info = match self.find(from).await? {
            Found::File(info) => info,
            Found::Dir => return Err(Error::IsDirectory),
            Found::Nothing => return Err(Error::NotFound),
        };
        let etag = self.copy(from, &info.etag, info.size, to).await?;
        let deleted = retried(self.shared.opts.retry_for, || {
            self.shared.store.delete(from, Some(&info.etag))
        })
        .await;
        if let Err(e) = deleted {
            tracing::warn!(from, to, error = %e, "renamed by copy; the source could not be deleted");
        }
        if let (Some(f), Some(s)) = (open.as_ref(), guard.as_mut()) {
            s.key = to.to_string();
            s.rebase(etag);
            let mut table = self.table();
            if table.get(from).is_some_and(|g| Arc::ptr_eq(g, f)) {
                table.remove(from);
                table.insert(to.to_string(), f.clone());
            }
        }
        drop(guard);
        Ok(())
    }

    /// Copies version `etag` of `from` (`size` bytes) to `to`: CopyObject, or a multipart
    /// upload of part copies above S3's 5 GiB CopyObject limit.
    async fn copy(&self, from: &str, etag: &str, size: u64, to: &str) -> Result<String> {
        const COPY_LIMIT: u64 = 5 << 30;
        let retry_for = self.shared.opts.retry_for;
        let store = &self.shared.store;
        if size <= COPY_LIMIT {
            return retried(retry_for, || store.copy(from, Some(etag), to, None))
                .await
                .map_err(Error::remote);
        }
        let id = retried(retry_for, || {
            store.create_multipart(to, silt_remote::Meta::NONE)
        })
        .await
        .map_err(Error::remote)?;
        let part = 1u64 << 30;
        let mut parts = Vec::new();
        let mut at = 0;
        while at < size {
            let n = parts.len() as u32 + 1;
            let range = at..(at + part).min(size);
            let copied = retried(retry_for, || {
                store.upload_part_copy(to, &id, n, from, etag, range.clone())
            })
            .await;
            match copied {
                Ok(e) => parts.push((n, e)),
                Err(e) => {
                    let _ = store.abort(to, &id).await;
                    return Err(Error::remote(e));
                }
            }
            at = range.end;
        }
        retried(retry_for, || store.complete(to, &id, &parts, None))
            .await
            .map_err(Error::remote)
    }

    /// Renames the directory `from` to `to`: every key below copied, then deleted. Not
    /// atomic: a failure midway leaves keys in both places (nothing is lost). EXDEV above
    /// `dir_rename_limit` keys or with a file below open.
    pub async fn rename_dir(&self, from: &str, to: &str) -> Result<()> {
        check_key(from)?;
        check_key(to)?;
        let (from_dir, to_dir) = (format!("{from}/"), format!("{to}/"));
        if !self.open_below(&from_dir).is_empty() {
            return Err(Error::CrossDevice(format!("a file below {from} is open")));
        }
        let retry_for = self.shared.opts.retry_for;
        let store = &self.shared.store;
        let target = retried(retry_for, || store.list_page(&to_dir, None, 2))
            .await
            .map_err(Error::remote)?;
        if target.objects.iter().any(|o| o.key != to_dir) || !target.prefixes.is_empty() {
            return Err(Error::NotEmpty);
        }
        let all = retried(retry_for, || store.list(&from_dir, None))
            .await
            .map_err(Error::remote)?;
        if all.objects.len() > self.shared.opts.dir_rename_limit {
            return Err(Error::CrossDevice(format!(
                "{} keys below {from}, more than {}",
                all.objects.len(),
                self.shared.opts.dir_rename_limit
            )));
        }
        let made = self.made_below(&from_dir);
        if all.objects.is_empty() && made.is_empty() {
            return Err(Error::NotFound);
        }
        for o in &all.objects {
            let dest = format!("{to_dir}{}", &o.key[from_dir.len()..]);
            let etag = match &o.etag {
                Some(e) => e.clone(),
                None => match retried(retry_for, || store.head(&o.key)).await {
                    Ok(Some(info)) => info.etag,
                    Ok(None) => continue,
                    Err(e) => return Err(Error::remote(e)),
                },
            };
            self.copy(&o.key, &etag, o.size, &dest).await?;
            retried(retry_for, || store.delete(&o.key, Some(&etag)))
                .await
                .map_err(Error::remote)?;
        }
        // Markers the listing did not show (see `made_dirs`) move too.
        for m in made {
            let dest = format!("{to_dir}{}", &m[from_dir.len()..]);
            if !all.objects.iter().any(|o| o.key == m) {
                let put = retried(retry_for, || {
                    store.put(&dest, bytes::Bytes::new(), None, silt_remote::Meta::NONE)
                })
                .await;
                put.map_err(Error::remote)?;
                retried(retry_for, || store.delete(&m, None))
                    .await
                    .map_err(Error::remote)?;
            }
            let mut dirs = self.made_dirs();
            dirs.remove(&m);
            dirs.insert(dest);
        }
        Ok(())
    }
}
