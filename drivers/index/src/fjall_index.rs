//! The fjall adapter: an LSM tree in `index.fjall/`, one keyspace per table of
//! [`crate::migrate`]. Every commit is one atomic write batch persisted with `SyncAll`
//! (the journal is fsynced before `commit` returns). Writers are serialised by a lock so
//! that read-modify-write updates are atomic too.

use crate::codec::{self, table, Write};
use crate::migrate::{self, Plan};
use crate::rows::{Rows, Visit};
use crate::{schema3, CacheIndex, IndexError, Result, SCHEMA_VERSION};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use silt_core::{
    CleanChunk, ConflictRecord, EntryId, EntryRecord, IndexTxn, JournalId, JournalRecord,
    JournalStatus, Meta, Recovered,
};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const TABLES: [&str; 8] = [
    table::META,
    table::ENTRIES,
    table::UPLOADS,
    table::CONFLICTS,
    table::LRU,
    table::CHUNKS,
    table::EXTENTS,
    table::PARTS,
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
            detail: crate::rows::corrupt_detail(tbl, key, &why),
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
                let _writer = self.lock_writer();
                let writes = migrate::steps(from, &self.snapshot())?;
                self.apply(writes)?;
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

    /// The rows of one consistent snapshot.
    fn snapshot(&self) -> FjallRows<'_> {
        FjallRows {
            snap: self.db.snapshot(),
            index: self,
        }
    }
}

/// The rows seen by a fjall snapshot.
struct FjallRows<'a> {
    snap: fjall::Snapshot,
    index: &'a FjallIndex,
}

impl Rows for FjallRows<'_> {
    fn get(&self, t: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let found = self
            .snap
            .get(self.index.space(t), key)
            .map_err(|e| self.index.err(e))?;
        Ok(found.map(|v| v.to_vec()))
    }

    fn scan(&self, t: &'static str, prefix: &[u8], f: &mut Visit<'_>) -> Result<()> {
        for guard in self.snap.prefix(self.index.space(t), prefix) {
            let (k, v) = guard.into_inner().map_err(|e| self.index.err(e))?;
            if !f(&k, &v)? {
                break;
            }
        }
        Ok(())
    }

    fn corrupt(&self, t: &str, key: &[u8], why: String) -> IndexError {
        self.index.corrupt(t, key, why)
    }
}

impl CacheIndex for FjallIndex {
    fn backend(&self) -> &'static str {
        "fjall"
    }

    fn commit(&self, txns: &[&IndexTxn]) -> Result<()> {
        let _writer = self.lock_writer();
        // Under the writer lock, the committed state is what the batch builds on; the batch
        // writes each key once (fjall gives a batch's writes one sequence number).
        let writes = schema3::writes(txns, &self.snapshot())?;
        self.apply(writes)
    }

    fn get_entry(&self, id: EntryId) -> Result<Option<EntryRecord>> {
        schema3::get_entry(&self.snapshot(), id)
    }

    fn chunks(&self, id: EntryId) -> Result<Option<Vec<CleanChunk>>> {
        schema3::chunks(&self.snapshot(), id)
    }

    fn list_lru(&self, limit: usize) -> Result<Vec<(u64, EntryId)>> {
        schema3::list_lru(&self.snapshot(), limit)
    }

    fn list_uploads(&self) -> Result<Vec<JournalRecord>> {
        schema3::list_uploads(&self.snapshot())
    }

    fn get_upload(&self, id: JournalId) -> Result<Option<JournalRecord>> {
        schema3::get_upload(&self.snapshot(), id)
    }

    fn list_conflicts(&self) -> Result<Vec<ConflictRecord>> {
        schema3::list_conflicts(&self.snapshot())
    }

    fn meta(&self) -> Result<Meta> {
        schema3::meta(&self.snapshot())
    }

    fn update_upload_status(
        &self,
        id: JournalId,
        status: JournalStatus,
        last_error: Option<String>,
    ) -> Result<bool> {
        let _writer = self.lock_writer();
        match schema3::status_writes(&self.snapshot(), id, status, last_error)? {
            Some(writes) => self.apply(writes).map(|()| true),
            None => Ok(false),
        }
    }

    fn load(&self) -> Result<Recovered> {
        schema3::load(&self.snapshot())
    }
}
