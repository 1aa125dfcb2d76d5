//! The redb adapter (the default): one file, `index.db`, with the tables of
//! [`crate::migrate`]. Every commit is one redb write transaction with immediate durability
//! (redb's two-phase commit fsyncs before `commit` returns).

use crate::codec::{self, table, Write};
use crate::migrate::{self, Plan};
use crate::rows::{Rows, Visit};
use crate::{schema3, CacheIndex, IndexError, Result, SCHEMA_VERSION};
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};
use silt_core::{
    CleanChunk, ConflictRecord, EntryId, EntryRecord, IndexTxn, JournalId, JournalRecord,
    JournalStatus, Meta, Recovered,
};
use std::path::{Path, PathBuf};

type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;

const fn def(name: &'static str) -> Table {
    TableDefinition::new(name)
}

const META: Table = def(table::META);
const ENTRIES: Table = def(table::ENTRIES);
const UPLOADS: Table = def(table::UPLOADS);
const CONFLICTS: Table = def(table::CONFLICTS);
const LRU: Table = def(table::LRU);
const CHUNKS: Table = def(table::CHUNKS);
const EXTENTS: Table = def(table::EXTENTS);
const PARTS: Table = def(table::PARTS);
const ALL: [Table; 8] = [
    META, ENTRIES, UPLOADS, CONFLICTS, LRU, CHUNKS, EXTENTS, PARTS,
];

/// The redb-backed index.
pub struct RedbIndex {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for RedbIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbIndex")
            .field("path", &self.path)
            .finish()
    }
}

impl RedbIndex {
    /// Opens `path`, creating it if it does not exist, and migrates it to [`SCHEMA_VERSION`].
    /// Use [`crate::open`] in production: it refuses to create an index beside cache files.
    pub fn open(path: &Path) -> Result<RedbIndex> {
        let e = |err: redb::Error| map_err(path, err);
        // redb checks its own structures with debug assertions; a damaged file must be an
        // error, never a panic that takes the mount down.
        let db = std::panic::catch_unwind(|| Database::create(path)).map_err(|_| {
            IndexError::Corrupt {
                path: path.to_path_buf(),
                detail: "the database structures are inconsistent".into(),
            }
        })?;
        let db = db.map_err(|err| e(err.into()))?;
        let index = RedbIndex {
            db,
            path: path.to_path_buf(),
        };
        index.prepare()?;
        Ok(index)
    }

    fn err(&self, err: impl Into<redb::Error>) -> IndexError {
        map_err(&self.path, err.into())
    }

    fn corrupt(&self, tbl: &str, key: &[u8], why: String) -> IndexError {
        IndexError::Corrupt {
            path: self.path.clone(),
            detail: crate::rows::corrupt_detail(tbl, key, &why),
        }
    }

    /// Reads the stored version and initialises or migrates.
    fn prepare(&self) -> Result<()> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        let (found, has_records) = {
            let meta = w.open_table(META).map_err(|e| self.err(e))?;
            let found = match meta.get(codec::SCHEMA_KEY).map_err(|e| self.err(e))? {
                Some(v) => Some(migrate::decode_version(&self.path, v.value())?),
                None => None,
            };
            let mut has_records = !meta.is_empty().map_err(|e| self.err(e))?;
            for t in &ALL[1..] {
                let t = w.open_table(*t).map_err(|e| self.err(e))?;
                has_records |= !t.is_empty().map_err(|e| self.err(e))?;
            }
            (found, has_records)
        };
        match migrate::plan(&self.path, found, has_records)? {
            Plan::Current => {
                w.abort().map_err(|e| self.err(e))?;
                Ok(())
            }
            Plan::Initialise => {
                {
                    let mut meta = w.open_table(META).map_err(|e| self.err(e))?;
                    meta.insert(codec::SCHEMA_KEY, &SCHEMA_VERSION.to_le_bytes()[..])
                        .map_err(|e| self.err(e))?;
                }
                w.commit().map_err(|e| self.err(e))
            }
            Plan::Migrate(from) => {
                let writes = migrate::steps(from, &self.rows(&w))?;
                self.apply(&w, writes)?;
                w.commit().map_err(|e| self.err(e))?;
                tracing::info!(path = %self.path.display(), from, to = SCHEMA_VERSION, "migrated index");
                Ok(())
            }
        }
    }

    /// Applies `writes` in the write transaction `w`.
    fn apply(&self, w: &redb::WriteTransaction, writes: Vec<Write>) -> Result<()> {
        let mut tables = Vec::with_capacity(ALL.len());
        for t in ALL {
            tables.push(w.open_table(t).map_err(|e| self.err(e))?);
        }
        let slot = |name: &str| {
            ALL.iter()
                .position(|t| t.name() == name)
                .expect("writes name only the tables in ALL")
        };
        for write in writes {
            match write {
                Write::Put(t, k, v) => {
                    tables[slot(t)]
                        .insert(&k[..], &v[..])
                        .map_err(|e| self.err(e))?;
                }
                Write::Delete(t, k) => {
                    tables[slot(t)].remove(&k[..]).map_err(|e| self.err(e))?;
                }
            }
        }
        Ok(())
    }

    fn rows<'a, T>(&'a self, txn: &'a T) -> RedbRows<'a, T> {
        RedbRows { txn, index: self }
    }

    /// Runs `f` on the rows of a read transaction: one consistent snapshot.
    fn read<R>(
        &self,
        f: impl FnOnce(&RedbRows<'_, redb::ReadTransaction>) -> Result<R>,
    ) -> Result<R> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        f(&self.rows(&r))
    }
}

/// The rows seen by a redb transaction (read or write).
struct RedbRows<'a, T> {
    txn: &'a T,
    index: &'a RedbIndex,
}

/// The value at `key`, copied out.
fn get_in(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &[u8],
) -> std::result::Result<Option<Vec<u8>>, redb::StorageError> {
    Ok(t.get(key)?.map(|v| v.value().to_vec()))
}

/// Calls `f` on the rows under `prefix`, in key order, until it returns `Ok(false)`.
fn scan_in(
    index: &RedbIndex,
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    f: &mut Visit<'_>,
) -> Result<()> {
    for item in t.range::<&[u8]>(prefix..).map_err(|e| index.err(e))? {
        let (k, v) = item.map_err(|e| index.err(e))?;
        if !k.value().starts_with(prefix) || !f(k.value(), v.value())? {
            break;
        }
    }
    Ok(())
}

macro_rules! redb_rows {
    ($txn:ty) => {
        impl Rows for RedbRows<'_, $txn> {
            fn get(&self, t: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
                let table = self.txn.open_table(def(t)).map_err(|e| self.index.err(e))?;
                get_in(&table, key).map_err(|e| self.index.err(e))
            }

            fn scan(&self, t: &'static str, prefix: &[u8], f: &mut Visit<'_>) -> Result<()> {
                let table = self.txn.open_table(def(t)).map_err(|e| self.index.err(e))?;
                scan_in(self.index, &table, prefix, f)
            }

            fn corrupt(&self, t: &str, key: &[u8], why: String) -> IndexError {
                self.index.corrupt(t, key, why)
            }
        }
    };
}

redb_rows!(redb::ReadTransaction);
redb_rows!(redb::WriteTransaction);

fn map_err(path: &Path, err: redb::Error) -> IndexError {
    let path = path.to_path_buf();
    match err {
        redb::Error::DatabaseAlreadyOpen => IndexError::Locked { path },
        redb::Error::Corrupted(detail) => IndexError::Corrupt { path, detail },
        redb::Error::Io(source) if source.kind() == std::io::ErrorKind::InvalidData => {
            IndexError::Corrupt {
                path,
                detail: format!("not a redb database: {source}"),
            }
        }
        redb::Error::Io(source) => IndexError::Io { path, source },
        other => IndexError::Store {
            path,
            detail: other.to_string(),
        },
    }
}

impl CacheIndex for RedbIndex {
    fn backend(&self) -> &'static str {
        "redb"
    }

    fn commit(&self, txns: &[&IndexTxn]) -> Result<()> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        let writes = schema3::writes(txns, &self.rows(&w))?;
        self.apply(&w, writes)?;
        w.commit().map_err(|e| self.err(e))
    }

    fn get_entry(&self, id: EntryId) -> Result<Option<EntryRecord>> {
        self.read(|r| schema3::get_entry(r, id))
    }

    fn chunks(&self, id: EntryId) -> Result<Option<Vec<CleanChunk>>> {
        self.read(|r| schema3::chunks(r, id))
    }

    fn list_lru(&self, limit: usize) -> Result<Vec<(u64, EntryId)>> {
        self.read(|r| schema3::list_lru(r, limit))
    }

    fn list_uploads(&self) -> Result<Vec<JournalRecord>> {
        self.read(|r| schema3::list_uploads(r))
    }

    fn get_upload(&self, id: JournalId) -> Result<Option<JournalRecord>> {
        self.read(|r| schema3::get_upload(r, id))
    }

    fn list_conflicts(&self) -> Result<Vec<ConflictRecord>> {
        self.read(|r| schema3::list_conflicts(r))
    }

    fn meta(&self) -> Result<Meta> {
        self.read(|r| schema3::meta(r))
    }

    fn update_upload_status(
        &self,
        id: JournalId,
        status: JournalStatus,
        last_error: Option<String>,
    ) -> Result<bool> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        let Some(writes) = schema3::status_writes(&self.rows(&w), id, status, last_error)? else {
            return Ok(false);
        };
        self.apply(&w, writes)?;
        w.commit().map_err(|e| self.err(e))?;
        Ok(true)
    }

    fn load(&self) -> Result<Recovered> {
        self.read(|r| schema3::load(r))
    }
}
