//! The fjall adapter: an LSM tree in `index.fjall/`, one keyspace per table of
//! [`crate::migrate`]. Every commit is one atomic write batch persisted with `SyncAll`
//! (the journal is fsynced before `commit` returns). Writers are serialised by a lock so
//! that read-modify-write updates are atomic too.

use crate::codec::{self, table, Write};
use crate::migrate::{self, Plan};
use crate::{apply_status, CacheIndex, IndexError, Result, SCHEMA_VERSION};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use silt_core::{
    ConflictRecord, EntryId, EntryRecord, IndexTxn, JournalId, JournalRecord, JournalStatus, Meta,
    Recovered,
};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const TABLES: [&str; 5] = [
    table::META,
    table::ENTRIES,
    table::UPLOADS,
    table::CONFLICTS,
    table::LRU,
];

/// The fjall-backed index.
pub struct FjallIndex {
    db: Database,
    /// Keyspaces in the order of `TABLES`.
    spaces: Vec<Keyspace>,
    path: PathBuf,
    writer: Mutex<()>,
}

impl std::fmt::Debug for FjallIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallIndex")
            .field("path", &self.path)
            .finish()
    }
}

fn map_err(path: &Path, err: fjall::Error) -> IndexError {
    let path = path.to_path_buf();
    match err {
        fjall::Error::Io(source) => IndexError::Io { path, source },
        fjall::Error::Storage(fjall::LsmError::Io(source)) => IndexError::Io { path, source },
        fjall::Error::Locked => IndexError::Locked { path },
        fjall::Error::Poisoned | fjall::Error::KeyspaceDeleted => IndexError::Store {
            path,
            detail: err.to_string(),
        },
        other => IndexError::Corrupt {
            path,
            detail: format!("{other:?}"),
        },
    }
}

impl FjallIndex {
    /// Opens the index directory `path`, creating it if needed, and migrates it to
    /// [`SCHEMA_VERSION`]. Use [`crate::open`] in production: it refuses to create an index
    /// beside cache files.
    pub fn open(path: &Path) -> Result<FjallIndex> {
        let e = |err| map_err(path, err);
        let db = std::panic::catch_unwind(|| Database::builder(path).open())
            .map_err(|_| IndexError::Corrupt {
                path: path.to_path_buf(),
                detail: "the database structures are inconsistent".into(),
            })?
            .map_err(e)?;
        let mut spaces = Vec::with_capacity(TABLES.len());
        for name in TABLES {
            spaces.push(
                db.keyspace(name, KeyspaceCreateOptions::default)
                    .map_err(e)?,
            );
        }
        let index = FjallIndex {
            db,
            spaces,
            path: path.to_path_buf(),
            writer: Mutex::new(()),
        };
        index.prepare()?;
        Ok(index)
    }

    fn err(&self, err: fjall::Error) -> IndexError {
        map_err(&self.path, err)
    }

    fn space(&self, name: &str) -> &Keyspace {
        let i = TABLES
            .iter()
            .position(|t| *t == name)
            .expect("only the tables in TABLES are used");
        &self.spaces[i]
    }

    fn corrupt(&self, tbl: &str, key: &[u8], why: String) -> IndexError {
        IndexError::Corrupt {
            path: self.path.clone(),
            detail: format!("table {tbl}, key {}: {why}", codec::show_key(key)),
        }
    }

    fn prepare(&self) -> Result<()> {
        let meta = self.space(table::META);
        let found = match meta.get(codec::SCHEMA_KEY).map_err(|e| self.err(e))? {
            Some(v) => Some(migrate::decode_version(&self.path, &v)?),
            None => None,
        };
        let mut has_records = false;
        for s in &self.spaces {
            has_records |= !s.is_empty().map_err(|e| self.err(e))?;
        }
        match migrate::plan(&self.path, found, has_records)? {
            Plan::Current => Ok(()),
            Plan::Initialise => {
                let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
                batch.insert(meta, codec::SCHEMA_KEY, SCHEMA_VERSION.to_le_bytes());
                batch.commit().map_err(|e| self.err(e))
            }
            Plan::Migrate(from) => {
                let entries: Vec<EntryRecord> =
                    self.decode_all(&self.db.snapshot(), table::ENTRIES)?;
                self.apply(migrate::steps(from, &entries))?;
                tracing::info!(path = %self.path.display(), from, to = SCHEMA_VERSION, "migrated index");
                Ok(())
            }
        }
    }

    /// Applies `writes` as one atomic, durable batch.
    fn apply(&self, writes: Vec<Write>) -> Result<()> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        for write in writes {
            match write {
                Write::Put(t, k, v) => batch.insert(self.space(t), k, v),
                Write::Delete(t, k) => batch.remove(self.space(t), k),
            }
        }
        batch.commit().map_err(|e| self.err(e))
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn decode_all<T: serde::de::DeserializeOwned>(
        &self,
        snap: &fjall::Snapshot,
        name: &str,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for guard in snap.iter(self.space(name)) {
            let (k, v) = guard.into_inner().map_err(|e| self.err(e))?;
            out.push(codec::decode(&v).map_err(|why| self.corrupt(name, &k, why))?);
        }
        Ok(out)
    }

    fn get<T: serde::de::DeserializeOwned>(&self, name: &str, key: &[u8]) -> Result<Option<T>> {
        match self.space(name).get(key).map_err(|e| self.err(e))? {
            Some(v) => codec::decode(&v)
                .map(Some)
                .map_err(|why| self.corrupt(name, key, why)),
            None => Ok(None),
        }
    }
}

impl CacheIndex for FjallIndex {
    fn backend(&self) -> &'static str {
        "fjall"
    }

    fn commit(&self, txns: &[&IndexTxn]) -> Result<()> {
        let _writer = self.lock_writer();
        // Under the writer lock, the committed state is what the batch builds on.
        let writes = codec::writes(
            txns,
            |id| {
                Ok(self
                    .get::<EntryRecord>(table::ENTRIES, &codec::entry_key(id))?
                    .map(|e| e.atime))
            },
            |op| IndexError::Store {
                path: self.path.clone(),
                detail: format!("schema {SCHEMA_VERSION} stores whole records, not {op:?}"),
            },
        )?;
        self.apply(writes)
    }

    fn get_entry(&self, id: EntryId) -> Result<Option<EntryRecord>> {
        self.get(table::ENTRIES, &codec::entry_key(id))
    }

    fn list_lru(&self, limit: usize) -> Result<Vec<(u64, EntryId)>> {
        let mut out = Vec::with_capacity(limit.min(1024));
        for guard in self.space(table::LRU).iter().take(limit) {
            let k = guard.key().map_err(|e| self.err(e))?;
            out.push(codec::parse_lru_key(&k).map_err(|why| self.corrupt(table::LRU, &k, why))?);
        }
        Ok(out)
    }

    fn list_uploads(&self) -> Result<Vec<JournalRecord>> {
        self.decode_all(&self.db.snapshot(), table::UPLOADS)
    }

    fn get_upload(&self, id: JournalId) -> Result<Option<JournalRecord>> {
        self.get(table::UPLOADS, &codec::upload_key(id))
    }

    fn list_conflicts(&self) -> Result<Vec<ConflictRecord>> {
        self.decode_all(&self.db.snapshot(), table::CONFLICTS)
    }

    fn meta(&self) -> Result<Meta> {
        Ok(self
            .get(table::META, codec::COUNTERS_KEY)?
            .unwrap_or_default())
    }

    fn update_upload_status(
        &self,
        id: JournalId,
        status: JournalStatus,
        last_error: Option<String>,
    ) -> Result<bool> {
        let _writer = self.lock_writer();
        let key = codec::upload_key(id);
        let Some(mut record) = self.get::<JournalRecord>(table::UPLOADS, &key)? else {
            return Ok(false);
        };
        apply_status(&mut record, status, last_error);
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(self.space(table::UPLOADS), key, codec::encode(&record));
        batch.commit().map_err(|e| self.err(e))?;
        Ok(true)
    }

    fn load(&self) -> Result<Recovered> {
        let snap = self.db.snapshot();
        let meta = match snap
            .get(self.space(table::META), codec::COUNTERS_KEY)
            .map_err(|e| self.err(e))?
        {
            Some(v) => codec::decode(&v)
                .map_err(|why| self.corrupt(table::META, codec::COUNTERS_KEY, why))?,
            None => Meta::default(),
        };
        Ok(Recovered {
            entries: self.decode_all(&snap, table::ENTRIES)?,
            journal: self.decode_all(&snap, table::UPLOADS)?,
            conflicts: self.decode_all(&snap, table::CONFLICTS)?,
            meta,
        })
    }
}
