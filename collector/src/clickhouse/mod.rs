//! The ClickHouse sink (`--sink clickhouse`): several collectors, stateless
//! behind a load balancer, storing into one ClickHouse over its HTTP
//! interface.
//!
//! Tables, in `--clickhouse-database`:
//! - `_collections(name, schema, updated_at_ms)` and `_columns(collection,
//!   name, position, column)`: the catalog every collector reads, so that
//!   one collector sees the collections and columns another made. Both are
//!   ReplacingMergeTrees read with `FINAL`; columns are rows of their own so
//!   that two collectors adding different columns at once lose neither.
//! - one table per collection: the field columns (every one `Nullable`, as
//!   every SQLite column may be NULL; see [`column_type`]), `_cluster_id`,
//!   `_chunk_id` (lowercase hex, empty for a chunk sent without one),
//!   `_batch`, `_row` (the row's place in its chunk), `_received_at_ms`,
//!   `_version` and the server timestamp column.
//!
//! **Duplicates.** A collection's table is a `ReplacingMergeTree(_version)`
//! ordered by `(_cluster_id, _chunk_id, _batch, _row)`: a chunk stored twice,
//! by two collectors or by one after a lost acknowledgement, has the same key
//! for each of its rows, and ClickHouse keeps one of them. `_version` is
//! larger for an earlier receive time, so the copy kept is the one with the
//! earliest `_received_at_ms` (each collector stamps its own clock's time).
//! Every query of the collector reads with `FINAL`, so it sees each row
//! once at once; a reader with its own SQL sees both copies until
//! ClickHouse merges them, and should add `FINAL` (or group by the key).
//! Before an insert the sink also asks which of the request's chunk ids are
//! stored whole and answers those as duplicates without storing them again
//! (the usual retry to the same or another collector costs no second copy).
//! A chunk without an id gets a random `_batch`, so its rows are never
//! merged with another's (at-least-once).
//!
//! **Atomicity.** SQLite stores a request's chunks in one transaction.
//! ClickHouse has no transaction across inserts: a request's chunks go into
//! the inserts of one round of the [`batcher`] (one per table and column
//! list, shared with other requests), and when one fails the collector
//! answers UNAVAILABLE, so the client sends the whole request again and the
//! chunks stored the first time are merged away as above.

mod batcher;
mod client;
mod instruments;
pub mod local;
mod read;
mod rowbinary;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use client::{CallError, Http, redacted};
pub use instruments::{MAX_ANSWER_BYTES, for_each_row};
pub use read::{Cursor, Filter};

use crate::evolve::{Evolution, check_collection_count, plan, reject};
use crate::schema_map::{Column, ColumnKind, hex};
use crate::store::{CollectionMeta, StoreError, StoreLimits, Stored, now_ms};
use crate::validate::ValidChunk;
use batcher::{Batcher, Job};
use client::{COLUMN_EXISTS, ident, literal};
use rowbinary::{Reader, Writer};

/// True when storing a chunk of this schema changes no column.
fn adds_nothing(evolution: &Evolution) -> bool {
    match evolution {
        Evolution::Unchanged => true,
        Evolution::Change { added, .. } => added.is_empty(),
        Evolution::Create(_) => false,
    }
}

/// The ClickHouse type of a field column of `kind`.
///
/// | column kind (see [`crate::schema_map`]) | ClickHouse |
/// | --- | --- |
/// | boolean | `Nullable(UInt8)` 0/1 |
/// | int, long, date, time-*, timestamp-* (as their Avro numbers) | `Nullable(Int64)` |
/// | float, double (NaN stored as NULL, as SQLite does) | `Nullable(Float64)` |
/// | string, uuid, enum, big-decimal; record, array, map, other unions (JSON text) | `Nullable(String)` |
/// | bytes, fixed, decimal, duration | `Nullable(String)` holding the bytes |
///
/// Timestamps stay numbers: 18.16 has no `DateTime64`, and a `DateTime`
/// would drop the milliseconds.
pub fn column_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Bool => "Nullable(UInt8)",
        ColumnKind::Int => "Nullable(Int64)",
        ColumnKind::Real => "Nullable(Float64)",
        ColumnKind::Text | ColumnKind::Json | ColumnKind::Blob => "Nullable(String)",
    }
}

/// Where and as whom to store.
#[derive(Clone, Debug)]
pub struct Target {
    /// The HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// The database (created if missing).
    pub database: String,
    /// The user.
    pub user: String,
    /// The user's password.
    pub password: Option<String>,
    /// Longest wait for one call (an insert included).
    pub timeout: Duration,
}

/// The ClickHouse store.
pub struct ClickHouse {
    http: Http,
    database: String,
    /// What this collector last read or wrote of the catalog.
    catalog: RwLock<HashMap<String, Arc<CollectionMeta>>>,
    limits: StoreLimits,
    /// Schema changes by this collector, one at a time.
    evolving: tokio::sync::Mutex<()>,
    /// Seeds `_batch` of chunks without an id.
    batches: AtomicU64,
    /// Inserts, several requests' at once.
    batcher: Batcher,
}

impl ClickHouse {
    /// Connects, creates the database and the catalog tables if missing,
    /// and reads the catalog.
    pub async fn open(target: &Target, limits: StoreLimits) -> Result<Self, StoreError> {
        let http = Http::new(&target.url, &target.user, target.password.as_deref(), target.timeout)
            .map_err(StoreError::Unavailable)?;
        crate::schema_map::check_name(&target.database)
            .map_err(|e| StoreError::Unavailable(format!("--clickhouse-database: {e}")))?;
        let store = Self {
            batcher: Batcher::start(http.clone()),
            http,
            database: target.database.clone(),
            catalog: RwLock::new(HashMap::new()),
            limits,
            evolving: tokio::sync::Mutex::new(()),
            batches: AtomicU64::new(std::collections::hash_map::RandomState::new().hash_one(now_ms())),
        };
        let db = ident(&target.database);
        store.http.query(&format!("CREATE DATABASE IF NOT EXISTS {db}"), &[]).await?;
        store
            .http
            .query(
                &format!(
                    "CREATE TABLE IF NOT EXISTS {db}.`_collections` (name String, schema String, updated_at_ms Int64) \
                     ENGINE = ReplacingMergeTree(updated_at_ms) ORDER BY name"
                ),
                &[],
            )
            .await?;
        store
            .http
            .query(
                &format!(
                    "CREATE TABLE IF NOT EXISTS {db}.`_columns` (collection String, name String, position UInt32, \
                     column String, _version UInt64) ENGINE = ReplacingMergeTree(_version) ORDER BY (collection, name)"
                ),
                &[],
            )
            .await?;
        store.refresh().await?;
        Ok(store)
    }

    fn table(&self, collection: &str) -> String {
        format!("{}.{}", ident(&self.database), ident(collection))
    }

    /// Reads the catalog (one collection's entry, or all) from ClickHouse.
    async fn load(&self, only: Option<&str>) -> Result<HashMap<String, Arc<CollectionMeta>>, StoreError> {
        let db = ident(&self.database);
        let (names, columns) = match only {
            Some(name) => (format!("WHERE name = {}", literal(name)), format!("WHERE collection = {}", literal(name))),
            None => (String::new(), String::new()),
        };
        let schemas = self
            .http
            .query(&format!("SELECT name, schema FROM {db}.`_collections` FINAL {names} FORMAT RowBinary"), &[])
            .await?;
        let cols = self
            .http
            .query(
                &format!(
                    "SELECT collection, column FROM {db}.`_columns` FINAL {columns} \
                     ORDER BY collection, position, name FORMAT RowBinary"
                ),
                &[],
            )
            .await?;
        let corrupt = |what: &str, e: &dyn std::fmt::Display| StoreError::Catalog(what.to_owned(), e.to_string());
        let mut by_name: HashMap<String, Vec<Column>> = HashMap::new();
        let mut r = Reader::new(&cols);
        while !r.is_empty() {
            let collection = String::from_utf8_lossy(r.string().map_err(|e| corrupt("_columns", &e))?).into_owned();
            let column = r.string().map_err(|e| corrupt(&collection, &e))?;
            let column: Column = serde_json::from_slice(column).map_err(|e| corrupt(&collection, &e))?;
            by_name.entry(collection).or_default().push(column);
        }
        let mut out = HashMap::new();
        let mut r = Reader::new(&schemas);
        while !r.is_empty() {
            let name = String::from_utf8_lossy(r.string().map_err(|e| corrupt("_collections", &e))?).into_owned();
            let schema_json = String::from_utf8_lossy(r.string().map_err(|e| corrupt(&name, &e))?).into_owned();
            let columns = by_name.remove(&name).unwrap_or_default();
            out.insert(name.clone(), Arc::new(CollectionMeta { name, schema_json, columns }));
        }
        Ok(out)
    }

    /// Reads the whole catalog again (other collectors may have changed it).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let fresh = self.load(None).await?;
        *self.catalog.write().map_err(|_| StoreError::Poisoned)? = fresh;
        Ok(())
    }

    /// One collection as ClickHouse has it now.
    pub async fn refresh_one(&self, name: &str) -> Result<Option<Arc<CollectionMeta>>, StoreError> {
        let fresh = self.load(Some(name)).await?.remove(name);
        let mut catalog = self.catalog.write().map_err(|_| StoreError::Poisoned)?;
        match &fresh {
            Some(meta) => catalog.insert(name.to_owned(), meta.clone()),
            None => catalog.remove(name),
        };
        Ok(fresh)
    }

    /// The collection as this collector last saw it.
    pub fn collection(&self, name: &str) -> Option<Arc<CollectionMeta>> {
        self.catalog.read().ok()?.get(name).cloned()
    }

    /// Every collection as this collector last saw them, by name.
    pub fn collections(&self) -> Vec<Arc<CollectionMeta>> {
        let mut v: Vec<_> = self.catalog.read().map(|c| c.values().cloned().collect()).unwrap_or_default();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Stores a request's chunks (see the module's note on atomicity), and
    /// answers only once ClickHouse has answered every insert. Errors are
    /// prefixed with `chunk <first_index + i>`.
    pub async fn store(
        &self,
        cluster_id: &str,
        chunks: Vec<ValidChunk>,
        first_index: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let received_at_ms = now_ms();
        for (i, chunk) in chunks.iter().enumerate() {
            self.evolve(chunk).await.map_err(|e| match e {
                StoreError::Rejected(r) => StoreError::Rejected(r.in_chunk(first_index + i)),
                e => e,
            })?;
        }
        let version = u64::MAX - u64::try_from(received_at_ms).unwrap_or(0);
        let mut jobs = Vec::with_capacity(chunks.len());
        for chunk in &chunks {
            let mut names: Vec<String> = chunk.schema.columns.iter().map(|c| ident(&c.name)).collect();
            names.extend(["_cluster_id", "_chunk_id", "_batch", "_row", "_received_at_ms", "_version"].map(ident));
            names.extend(chunk.timestamp_column.as_ref().map(|c| ident(&c.name)));
            let (chunk_hex, batch) = match &chunk.chunk_id {
                Some(id) => (hex(id), 0),
                None => (String::new(), self.batches.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)),
            };
            let mut w = Writer::default();
            for (row, cells) in chunk.cells.iter().enumerate() {
                for (cell, column) in cells.zip(&chunk.schema.columns) {
                    w.cell(column.kind, cell).map_err(reject)?;
                }
                w.string(cluster_id.as_bytes());
                w.string(chunk_hex.as_bytes());
                w.u64(batch);
                w.u32(u32::try_from(row).map_err(|_| reject("internal: a chunk of over 2^32 rows".into()))?);
                w.i64(received_at_ms);
                w.u64(version);
                if chunk.timestamp_column.is_some() {
                    w.cell(ColumnKind::Int, crate::cells::Cell::Int(received_at_ms)).map_err(reject)?;
                }
            }
            jobs.push(Job {
                table: self.table(&chunk.collection),
                columns: names.join(", "),
                cluster_id: cluster_id.to_owned(),
                chunk_id: chunk.chunk_id,
                rows: chunk.cells.rows(),
                body: w.buf,
            });
        }
        let outcomes = self.batcher.insert(jobs).await;
        let mut stored = Vec::with_capacity(chunks.len());
        for (chunk, outcome) in chunks.into_iter().zip(outcomes) {
            let duplicate = outcome.map_err(|e| StoreError::Unavailable(e.to_string()))?;
            stored.push(Stored {
                rows: if duplicate { 0 } else { chunk.cells.rows() },
                collection: chunk.collection,
                duplicate,
                schema: chunk.schema,
                avro: chunk.avro,
                received_at_ms,
                cluster_id: cluster_id.to_owned(),
            });
        }
        Ok(stored)
    }

    /// Makes the collection's table take this chunk's schema: nothing to do
    /// when the schema adds no column to what this collector knows, else
    /// under the evolution lock with the catalog read again from ClickHouse.
    /// A schema that only differs in its text (another version's `doc`, a
    /// field dropped) stores nothing: rewriting the catalog for every chunk
    /// of two alternating versions would be an insert each.
    async fn evolve(&self, chunk: &ValidChunk) -> Result<(), StoreError> {
        let (collection, schema, timestamp) = (&chunk.collection, &chunk.schema, chunk.timestamp_column.as_ref());
        let max_columns = self.limits.max_columns;
        if let Some(known) = self.collection(collection)
            && adds_nothing(&plan(Some(&known), collection, schema, timestamp, max_columns)?)
        {
            return Ok(());
        }
        let _one_at_a_time = self.evolving.lock().await;
        let current = self.refresh_one(collection).await?;
        if current.is_none() {
            self.refresh().await?;
            let catalog = self.collections();
            check_collection_count(collection, catalog.len(), self.limits.max_collections)?;
            // Refused as SQLite refuses it, so that both stores take the same
            // collections.
            if let Some(other) = catalog.iter().find(|m| m.name.eq_ignore_ascii_case(collection)) {
                return Err(reject(format!(
                    "collection {collection:?} clashes with the existing table {:?} \
                     (SQLite table names ignore case)",
                    other.name
                )));
            }
        }
        let (meta, added) = match plan(current.as_deref(), collection, schema, timestamp, max_columns)? {
            change if adds_nothing(&change) => return Ok(()),
            Evolution::Create(meta) => {
                let mut ddl = format!("CREATE TABLE IF NOT EXISTS {} (", self.table(collection));
                for c in &meta.columns {
                    ddl.push_str(&format!("{} {}, ", ident(&c.name), column_type(c.kind)));
                }
                ddl.push_str(
                    "_cluster_id String, _chunk_id String, _batch UInt64, _row UInt32, _received_at_ms Int64, \
                     _version UInt64) ENGINE = ReplacingMergeTree(_version) \
                     ORDER BY (_cluster_id, _chunk_id, _batch, _row)",
                );
                self.http.query(&ddl, &[]).await?;
                let added = meta.columns.clone();
                (meta, added)
            }
            Evolution::Change { meta, added } => (meta, added),
            Evolution::Unchanged => return Ok(()),
        };
        // The table may hold more than the catalog says (a collector that
        // stopped between the two, or one changing it at the same time).
        self.add_columns(collection, &added).await?;
        self.save_columns(&meta, &added).await?;
        // Two collectors adding one field as two Avro types that map to one
        // ClickHouse type: the catalog keeps the first (a tie of one
        // millisecond broken by bits of the collector's), the other is
        // refused before it records the schema.
        let stored = self.stored_columns(collection).await?;
        for c in &added {
            if let Some(first) = stored.iter().find(|k| k.name == c.name)
                && first.avro_type != c.avro_type
            {
                return Err(reject(format!(
                    "incompatible schema change: field {:?} of collection {collection:?} changes type from {} to {}",
                    c.name, first.avro_type, c.avro_type
                )));
            }
        }
        self.save_schema(&meta).await?;
        self.refresh_one(collection).await?;
        Ok(())
    }

    /// The columns the catalog keeps for `collection`, whatever its schema
    /// row says (none yet for a collection being made).
    async fn stored_columns(&self, collection: &str) -> Result<Vec<Column>, StoreError> {
        let answer = self
            .http
            .query(
                &format!(
                    "SELECT column FROM {}.`_columns` FINAL WHERE collection = {} FORMAT RowBinary",
                    ident(&self.database),
                    literal(collection)
                ),
                &[],
            )
            .await?;
        let mut columns = Vec::new();
        let mut r = Reader::new(&answer);
        while !r.is_empty() {
            let json = r.string().map_err(|e| StoreError::Catalog(collection.to_owned(), e.to_string()))?;
            columns.push(
                serde_json::from_slice(json).map_err(|e| StoreError::Catalog(collection.to_owned(), e.to_string()))?,
            );
        }
        Ok(columns)
    }

    /// Adds those of `columns` the table lacks; refuses a column the table
    /// has with another type, naming it.
    async fn add_columns(&self, collection: &str, columns: &[Column]) -> Result<(), StoreError> {
        let mut types = self.column_types(collection).await?;
        for c in columns {
            let wanted = column_type(c.kind).as_bytes();
            if !types.contains_key(c.name.as_bytes()) {
                let alter = format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    self.table(collection),
                    ident(&c.name),
                    column_type(c.kind)
                );
                match self.http.query(&alter, &[]).await {
                    Ok(_) => continue,
                    // Added by another collector meanwhile: its type is checked below.
                    Err(e) if e.code() == Some(COLUMN_EXISTS) => types = self.column_types(collection).await?,
                    Err(e) => return Err(e.into()),
                }
            }
            match types.get(c.name.as_bytes()) {
                Some(stored) if stored.as_slice() != wanted => {
                    return Err(reject(format!(
                        "incompatible schema change: field {:?} of collection {collection:?} is stored in ClickHouse \
                         as {}, not {}",
                        c.name,
                        String::from_utf8_lossy(stored),
                        column_type(c.kind)
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The table's columns and their ClickHouse types.
    async fn column_types(&self, collection: &str) -> Result<HashMap<Vec<u8>, Vec<u8>>, StoreError> {
        let answer = self
            .http
            .query(
                &format!(
                    "SELECT name, type FROM system.columns WHERE database = {} AND table = {} FORMAT RowBinary",
                    literal(&self.database),
                    literal(collection)
                ),
                &[],
            )
            .await?;
        let mut types = HashMap::new();
        let mut r = Reader::new(&answer);
        while !r.is_empty() {
            let name = r.string().map_err(read::malformed)?.to_vec();
            types.insert(name, r.string().map_err(read::malformed)?.to_vec());
        }
        Ok(types)
    }

    /// Records `added` columns in the catalog.
    async fn save_columns(&self, meta: &CollectionMeta, added: &[Column]) -> Result<(), StoreError> {
        let db = ident(&self.database);
        // The earliest wins: the version falls with time, and this
        // collector's own bits break a tie of one millisecond.
        let millis = u64::try_from(now_ms()).unwrap_or(0).min((1 << 52) - 1);
        let version = (((1u64 << 52) - millis) << 11) | (self.batches.load(Ordering::Relaxed) >> 53);
        let first = meta.columns.len() - added.len();
        let mut w = Writer::default();
        for (i, c) in added.iter().enumerate() {
            let json = serde_json::to_vec(c).map_err(|e| StoreError::Catalog(meta.name.clone(), e.to_string()))?;
            w.string(meta.name.as_bytes());
            w.string(c.name.as_bytes());
            w.u32(u32::try_from(first + i).unwrap_or(u32::MAX));
            w.string(&json);
            w.u64(version);
        }
        if !added.is_empty() {
            self.http
                .insert(
                    &format!(
                        "INSERT INTO {db}.`_columns` (collection, name, position, column, _version) FORMAT RowBinary"
                    ),
                    w.buf,
                )
                .await?;
        }
        Ok(())
    }

    /// Records the collection's latest schema in the catalog.
    async fn save_schema(&self, meta: &CollectionMeta) -> Result<(), StoreError> {
        let db = ident(&self.database);
        let mut w = Writer::default();
        w.string(meta.name.as_bytes());
        w.string(meta.schema_json.as_bytes());
        w.i64(now_ms());
        self.http
            .insert(&format!("INSERT INTO {db}.`_collections` (name, schema, updated_at_ms) FORMAT RowBinary"), w.buf)
            .await?;
        Ok(())
    }
}
