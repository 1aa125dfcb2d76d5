//! The redb adapter (the default): one file, `index.db`, with the tables of
//! [`crate::migrate`]. Every commit is one redb write transaction with immediate durability
//! (redb's two-phase commit fsyncs before `commit` returns).

use crate::codec::{self, table, Write};
use crate::migrate::{self, Plan};
use crate::{apply_status, CacheIndex, IndexError, Result, SCHEMA_VERSION};
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};
use silt_core::{
    ConflictRecord, EntryId, EntryRecord, IndexTxn, JournalId, JournalRecord, JournalStatus, Meta,
    Recovered,
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
const ALL: [Table; 5] = [META, ENTRIES, UPLOADS, CONFLICTS, LRU];

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
            detail: format!("table {tbl}, key {}: {why}", codec::show_key(key)),
        }
    }

    fn unsupported(&self, op: &silt_core::IndexOp) -> IndexError {
        IndexError::Store {
            path: self.path.clone(),
            detail: format!("schema {SCHEMA_VERSION} stores whole records, not {op:?}"),
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
            for t in [ENTRIES, UPLOADS, CONFLICTS, LRU] {
                let t = w.open_table(t).map_err(|e| self.err(e))?;
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
                let entries: Vec<EntryRecord> = {
                    let t = w.open_table(ENTRIES).map_err(|e| self.err(e))?;
                    self.decode_table(&t, ENTRIES)?
                };
                self.apply(&w, migrate::steps(from, &entries))?;
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

    fn read_all<T: serde::de::DeserializeOwned>(&self, t: Table) -> Result<Vec<T>> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = r.open_table(t).map_err(|e| self.err(e))?;
        self.decode_table(&table, t)
    }

    fn decode_table<T: serde::de::DeserializeOwned>(
        &self,
        table: &impl ReadableTable<&'static [u8], &'static [u8]>,
        t: Table,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for item in table.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let rec =
                codec::decode(v.value()).map_err(|why| self.corrupt(t.name(), k.value(), why))?;
            out.push(rec);
        }
        Ok(out)
    }

    fn get<T: serde::de::DeserializeOwned>(&self, t: Table, key: &[u8]) -> Result<Option<T>> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = r.open_table(t).map_err(|e| self.err(e))?;
        let found = table.get(key).map_err(|e| self.err(e))?;
        match found {
            Some(v) => codec::decode(v.value())
                .map(Some)
                .map_err(|why| self.corrupt(t.name(), key, why)),
            None => Ok(None),
        }
    }
}

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
        let writes = {
            let entries = w.open_table(ENTRIES).map_err(|e| self.err(e))?;
            codec::writes(
                txns,
                |id| {
                    let key = codec::entry_key(id);
                    let found = entries.get(&key[..]).map_err(|e| self.err(e))?;
                    match found.map(|v| codec::decode::<EntryRecord>(v.value())) {
                        Some(Ok(e)) => Ok(Some(e.atime)),
                        Some(Err(why)) => Err(self.corrupt(table::ENTRIES, &key, why)),
                        None => Ok(None),
                    }
                },
                |op| self.unsupported(op),
            )?
        };
        self.apply(&w, writes)?;
        w.commit().map_err(|e| self.err(e))
    }

    fn get_entry(&self, id: EntryId) -> Result<Option<EntryRecord>> {
        self.get(ENTRIES, &codec::entry_key(id))
    }

    fn list_lru(&self, limit: usize) -> Result<Vec<(u64, EntryId)>> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(LRU).map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in t.iter().map_err(|e| self.err(e))?.take(limit) {
            let (k, _) = item.map_err(|e| self.err(e))?;
            out.push(
                codec::parse_lru_key(k.value())
                    .map_err(|why| self.corrupt(table::LRU, k.value(), why))?,
            );
        }
        Ok(out)
    }

    fn list_uploads(&self) -> Result<Vec<JournalRecord>> {
        self.read_all(UPLOADS)
    }

    fn get_upload(&self, id: JournalId) -> Result<Option<JournalRecord>> {
        self.get(UPLOADS, &codec::upload_key(id))
    }

    fn list_conflicts(&self) -> Result<Vec<ConflictRecord>> {
        self.read_all(CONFLICTS)
    }

    fn meta(&self) -> Result<Meta> {
        Ok(self.get(META, codec::COUNTERS_KEY)?.unwrap_or_default())
    }

    fn update_upload_status(
        &self,
        id: JournalId,
        status: JournalStatus,
        last_error: Option<String>,
    ) -> Result<bool> {
        let key = codec::upload_key(id);
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = w.open_table(UPLOADS).map_err(|e| self.err(e))?;
            let found = t.get(&key[..]).map_err(|e| self.err(e))?;
            let decoded = found.map(|v| codec::decode::<JournalRecord>(v.value()));
            let mut record = match decoded {
                Some(r) => r.map_err(|why| self.corrupt(table::UPLOADS, &key, why))?,
                None => return Ok(false),
            };
            apply_status(&mut record, status, last_error);
            t.insert(&key[..], &codec::encode(&record)[..])
                .map_err(|e| self.err(e))?;
        }
        w.commit().map_err(|e| self.err(e))?;
        Ok(true)
    }

    fn load(&self) -> Result<Recovered> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let open = |t: Table| r.open_table(t).map_err(|e| self.err(e));
        let meta = open(META)?;
        let meta = match meta.get(codec::COUNTERS_KEY).map_err(|e| self.err(e))? {
            Some(v) => codec::decode(v.value())
                .map_err(|why| self.corrupt(table::META, codec::COUNTERS_KEY, why))?,
            None => Meta::default(),
        };
        Ok(Recovered {
            entries: self.decode_table(&open(ENTRIES)?, ENTRIES)?,
            journal: self.decode_table(&open(UPLOADS)?, UPLOADS)?,
            conflicts: self.decode_table(&open(CONFLICTS)?, CONFLICTS)?,
            meta,
        })
    }
}
