//! SQLite storage: one table per collection, schema evolution, and chunk
//! de-duplication, each chunk in a transaction with its dedup record.
//!
//! Tables:
//! - `_collections(name PRIMARY KEY, schema, columns, updated_at_ms)`: the
//!   latest schema JSON of each collection and its columns (JSON).
//! - `_chunks(cluster_id, chunk_id, collection, rows, received_at_ms,
//!   PRIMARY KEY(cluster_id, chunk_id))`: chunks stored with a chunk id.
//! - one table per collection: the field columns (see [`crate::schema_map`]),
//!   `_cluster_id TEXT`, `_received_at_ms INTEGER`, `_chunk_id BLOB` and the
//!   server timestamp column(s).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::cells::{Cell, Cells};
use crate::evolve::{Evolution, check_collection_count, plan, reject};
use crate::schema_map::{Column, quote};
use crate::validate::{ParsedSchema, Rejection, ValidChunk};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A chunk is incompatible with what is stored (schema evolution).
    #[error("{0}")]
    Rejected(Rejection),
    /// SQLite failed.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// A lock was poisoned by a panic in another request.
    #[error("database lock poisoned")]
    Poisoned,
    /// The stored catalog could not be read.
    #[error("corrupt _collections entry for {0:?}: {1}")]
    Catalog(String, String),
    /// The store did not answer, or answered with an error that a retry
    /// may not meet (ClickHouse away, overloaded or timed out).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A query ran past `--query-timeout`, or the collector is stopping.
    #[error("the query was stopped: {0}")]
    Interrupted(String),
}

/// What the store accepts, and how long a query may run.
#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    /// Most collections (tables).
    pub max_collections: usize,
    /// Most columns of one collection, meta columns excluded.
    pub max_columns: usize,
    /// Longest a query may run.
    pub query_timeout: Duration,
}

impl From<&crate::config::Limits> for StoreLimits {
    fn from(l: &crate::config::Limits) -> Self {
        Self { max_collections: l.max_collections, max_columns: l.max_columns, query_timeout: l.query_timeout }
    }
}

/// What the collector knows about one collection.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CollectionMeta {
    /// The collection (table) name.
    pub name: String,
    /// The latest schema JSON.
    pub schema_json: String,
    /// Its columns, in creation order (meta columns excluded).
    pub columns: Vec<Column>,
}

/// The outcome of storing one chunk.
#[derive(Debug)]
pub struct Stored {
    /// The collection.
    pub collection: String,
    /// True when the chunk id had been stored before (nothing stored now).
    pub duplicate: bool,
    /// Rows stored now.
    pub rows: u64,
    /// The schema, for subscribers.
    pub schema: Arc<ParsedSchema>,
    /// The Avro datums, for subscribers.
    pub avro: Vec<u8>,
    /// When the chunk was stored, Unix milliseconds.
    pub received_at_ms: i64,
    /// The cluster that wrote it.
    pub cluster_id: String,
}

/// The database: a writer connection, a reader connection (the same one for
/// `:memory:`), and the catalog of collections.
pub struct Store {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    catalog: RwLock<HashMap<String, Arc<CollectionMeta>>>,
    /// Rows of each collection: counted once at open, then added to as
    /// transactions commit, so listing collections does not scan tables.
    row_counts: Mutex<HashMap<String, u64>>,
    limits: StoreLimits,
    /// Set at shutdown: running queries stop.
    stopping: Arc<AtomicBool>,
}

/// SQLite calls the progress handler every this many virtual machine
/// instructions (about a millisecond's work).
const PROGRESS_STEPS: i32 = 100_000;

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) the database at `path`, or an in-memory
    /// one for `:memory:`.
    pub fn open(path: &str, limits: StoreLimits) -> Result<Self, StoreError> {
        let memory = path == ":memory:";
        let writer = if memory { Connection::open_in_memory()? } else { Connection::open(path)? };
        writer.busy_timeout(std::time::Duration::from_secs(5))?;
        if !memory {
            writer.pragma_update(None, "journal_mode", "WAL")?;
            writer.pragma_update(None, "synchronous", "NORMAL")?;
        }
        writer.set_prepared_statement_cache_capacity(64);
        writer.execute_batch(
            "CREATE TABLE IF NOT EXISTS _collections (
                name TEXT PRIMARY KEY NOT NULL,
                schema TEXT NOT NULL,
                columns TEXT NOT NULL,
                updated_at_ms INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS _chunks (
                cluster_id TEXT NOT NULL,
                chunk_id BLOB NOT NULL,
                collection TEXT NOT NULL,
                rows INTEGER NOT NULL,
                received_at_ms INTEGER NOT NULL,
                PRIMARY KEY (cluster_id, chunk_id)
            ) WITHOUT ROWID;",
        )?;
        let catalog = load_catalog(&writer)?;
        let mut row_counts = HashMap::new();
        for name in catalog.keys() {
            let rows: i64 = writer.query_row(&format!("SELECT COUNT(*) FROM {}", quote(name)), [], |r| r.get(0))?;
            row_counts.insert(name.clone(), rows as u64);
        }
        let writer = Arc::new(Mutex::new(writer));
        let reader = if memory {
            writer.clone()
        } else {
            let r = Connection::open(path)?;
            r.busy_timeout(std::time::Duration::from_secs(5))?;
            r.pragma_update(None, "query_only", true)?;
            Arc::new(Mutex::new(r))
        };
        Ok(Self {
            writer,
            reader,
            catalog: RwLock::new(catalog),
            row_counts: Mutex::new(row_counts),
            limits,
            stopping: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Stops running queries and refuses new ones (at shutdown).
    pub fn interrupt(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Rows stored in the collection, without scanning its table.
    pub fn row_count(&self, name: &str) -> u64 {
        self.row_counts.lock().map(|counts| counts.get(name).copied().unwrap_or(0)).unwrap_or(0)
    }

    /// The collection's metadata, if it exists.
    pub fn collection(&self, name: &str) -> Option<Arc<CollectionMeta>> {
        self.catalog.read().ok()?.get(name).cloned()
    }

    /// All collections, sorted by name.
    pub fn collections(&self) -> Vec<Arc<CollectionMeta>> {
        let mut v: Vec<_> = self.catalog.read().map(|c| c.values().cloned().collect()).unwrap_or_default();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Runs `f` with the read connection (blocking), stopped with
    /// [`StoreError::Interrupted`] past `--query-timeout` or at shutdown.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>) -> Result<T, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::Poisoned)?;
        let timeout = self.limits.query_timeout;
        let deadline = Instant::now() + timeout;
        let stopping = self.stopping.clone();
        conn.progress_handler(
            PROGRESS_STEPS,
            Some(move || stopping.load(Ordering::Relaxed) || Instant::now() > deadline),
        );
        let result = f(&conn);
        conn.progress_handler(PROGRESS_STEPS, None::<fn() -> bool>);
        result.map_err(|e| match e {
            rusqlite::Error::SqliteFailure(err, _) if err.code == rusqlite::ErrorCode::OperationInterrupted => {
                if self.stopping.load(Ordering::Relaxed) {
                    StoreError::Interrupted("the collector is shutting down".into())
                } else {
                    StoreError::Interrupted(format!("it ran longer than {timeout:?} (--query-timeout)"))
                }
            }
            e => e.into(),
        })
    }

    /// Stores chunks in ONE transaction: all of them or, on any error, none
    /// (blocking). Errors are prefixed with `chunk <first_index + i>`.
    pub fn store(
        &self,
        cluster_id: &str,
        chunks: Vec<ValidChunk>,
        first_index: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let mut conn: MutexGuard<'_, Connection> = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let received_at_ms = now_ms();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut pending: HashMap<String, Arc<CollectionMeta>> = HashMap::new();
        let mut out = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.into_iter().enumerate() {
            let stored = self.store_one(&tx, &mut pending, cluster_id, chunk, received_at_ms).map_err(|e| match e {
                StoreError::Rejected(r) => StoreError::Rejected(r.in_chunk(first_index + i)),
                e => e,
            })?;
            out.push(stored);
        }
        tx.commit()?;
        if !pending.is_empty() {
            let mut catalog = self.catalog.write().map_err(|_| StoreError::Poisoned)?;
            catalog.extend(pending);
        }
        let mut counts = self.row_counts.lock().map_err(|_| StoreError::Poisoned)?;
        for stored in &out {
            *counts.entry(stored.collection.clone()).or_default() += stored.rows;
        }
        Ok(out)
    }

    fn store_one(
        &self,
        tx: &Connection,
        pending: &mut HashMap<String, Arc<CollectionMeta>>,
        cluster_id: &str,
        chunk: ValidChunk,
        received_at_ms: i64,
    ) -> Result<Stored, StoreError> {
        // `_held` (what the chunk holds of the in-flight budget) lives until
        // the rows are inserted.
        let ValidChunk { collection, schema, cells, avro, timestamp_column, chunk_id, _held } = chunk;
        let row_count = cells.rows();
        if let Some(id) = &chunk_id {
            let inserted = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO _chunks (cluster_id, chunk_id, collection, rows, received_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![cluster_id, &id[..], &collection, row_count as i64, received_at_ms])?;
            if inserted == 0 {
                return Ok(Stored {
                    collection,
                    duplicate: true,
                    rows: 0,
                    schema,
                    avro,
                    received_at_ms,
                    cluster_id: cluster_id.to_owned(),
                });
            }
        }
        let current = pending.get(&collection).cloned().or_else(|| self.collection(&collection));
        if current.is_none() {
            let catalog = self.catalog.read().map_err(|_| StoreError::Poisoned)?;
            let known = catalog.len() + pending.keys().filter(|name| !catalog.contains_key(*name)).count();
            drop(catalog);
            check_collection_count(&collection, known, self.limits.max_collections)?;
        }
        let meta = evolve(tx, current, &collection, &schema, timestamp_column.as_ref(), self.limits.max_columns)?;
        if let Some(meta) = meta {
            pending.insert(collection.clone(), meta);
        }
        insert_rows(
            tx,
            &collection,
            &schema,
            &cells,
            cluster_id,
            received_at_ms,
            chunk_id.as_ref().map(|id| &id[..]),
            timestamp_column.as_ref().map(|c| c.name.as_str()),
        )?;
        Ok(Stored {
            collection,
            duplicate: false,
            rows: row_count,
            schema,
            avro,
            received_at_ms,
            cluster_id: cluster_id.to_owned(),
        })
    }
}

fn load_catalog(conn: &Connection) -> Result<HashMap<String, Arc<CollectionMeta>>, StoreError> {
    let mut stmt = conn.prepare("SELECT name, schema, columns FROM _collections")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
    let mut map = HashMap::new();
    for row in rows {
        let (name, schema_json, columns) = row?;
        let columns: Vec<Column> =
            serde_json::from_str(&columns).map_err(|e| StoreError::Catalog(name.clone(), e.to_string()))?;
        map.insert(name.clone(), Arc::new(CollectionMeta { name, schema_json, columns }));
    }
    Ok(map)
}

/// Creates or evolves the collection's table for this schema (see
/// [`crate::evolve`]). Returns the new metadata when anything changed.
fn evolve(
    tx: &Connection,
    current: Option<Arc<CollectionMeta>>,
    collection: &str,
    schema: &ParsedSchema,
    timestamp: Option<&Column>,
    max_columns: usize,
) -> Result<Option<Arc<CollectionMeta>>, StoreError> {
    let table = quote(collection);
    if current.is_none() {
        // SQLite table names ignore case: "Foo" and "foo" would share a table.
        let exists: Option<String> = tx
            .query_row("SELECT name FROM sqlite_master WHERE name = ?1 COLLATE NOCASE", [collection], |r| r.get(0))
            .optional()?;
        if let Some(existing) = exists {
            return Err(reject(format!(
                "collection {collection:?} clashes with the existing table {existing:?} \
                 (SQLite table names ignore case)"
            )));
        }
    }
    match plan(current.as_deref(), collection, schema, timestamp, max_columns)? {
        Evolution::Unchanged => Ok(None),
        Evolution::Create(meta) => {
            let mut ddl = format!("CREATE TABLE {table} (");
            for c in &meta.columns {
                ddl.push_str(&format!("{} {}, ", quote(&c.name), c.kind.sql_type()));
            }
            ddl.push_str("\"_cluster_id\" TEXT NOT NULL, \"_received_at_ms\" INTEGER NOT NULL, \"_chunk_id\" BLOB)");
            tx.execute_batch(&ddl)?;
            tx.execute_batch(&format!(
                "CREATE INDEX {} ON {table} (\"_received_at_ms\")",
                quote(&format!("_received_{collection}"))
            ))?;
            save_meta(tx, &meta)?;
            Ok(Some(Arc::new(meta)))
        }
        Evolution::Change { meta, added } => {
            for c in &added {
                tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {} {}", quote(&c.name), c.kind.sql_type()))?;
            }
            save_meta(tx, &meta)?;
            Ok(Some(Arc::new(meta)))
        }
    }
}

fn save_meta(tx: &Connection, meta: &CollectionMeta) -> Result<(), StoreError> {
    let columns =
        serde_json::to_string(&meta.columns).map_err(|e| StoreError::Catalog(meta.name.clone(), e.to_string()))?;
    tx.execute(
        "INSERT INTO _collections (name, schema, columns, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO UPDATE SET schema = excluded.schema, columns = excluded.columns,
         updated_at_ms = excluded.updated_at_ms",
        params![meta.name, meta.schema_json, columns, now_ms()],
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn insert_rows(
    tx: &Connection,
    collection: &str,
    schema: &ParsedSchema,
    cells: &Cells,
    cluster_id: &str,
    received_at_ms: i64,
    chunk_id: Option<&[u8]>,
    timestamp_column: Option<&str>,
) -> Result<(), StoreError> {
    let mut names: Vec<String> = schema.columns.iter().map(|c| quote(&c.name)).collect();
    names.extend(["_cluster_id", "_received_at_ms", "_chunk_id"].iter().map(|n| quote(n)));
    names.extend(timestamp_column.map(quote));
    let placeholders = vec!["?"; names.len()].join(", ");
    let sql = format!("INSERT INTO {} ({}) VALUES ({placeholders})", quote(collection), names.join(", "));
    let mut stmt = tx.prepare_cached(&sql)?;
    let n = schema.columns.len();
    if stmt.parameter_count() != names.len() {
        return Err(reject("internal: insert statement has an unexpected parameter count".into()));
    }
    // The meta columns are the same for every row of the chunk: bind them
    // once (SQLite keeps bindings across executions); bind fields per row.
    stmt.raw_bind_parameter(n + 1, cluster_id)?;
    stmt.raw_bind_parameter(n + 2, received_at_ms)?;
    stmt.raw_bind_parameter(n + 3, chunk_id)?;
    if timestamp_column.is_some() {
        stmt.raw_bind_parameter(n + 4, received_at_ms)?;
    }
    for row in cells.iter() {
        for (i, cell) in row.enumerate() {
            let value = match cell {
                Cell::Null => ValueRef::Null,
                Cell::Int(v) => ValueRef::Integer(v),
                Cell::Real(v) => ValueRef::Real(v),
                Cell::Text(t) => ValueRef::Text(t),
                Cell::Blob(b) => ValueRef::Blob(b),
            };
            stmt.raw_bind_parameter(i + 1, ToSqlOutput::Borrowed(value))?;
        }
        stmt.raw_execute()?;
    }
    Ok(())
}
