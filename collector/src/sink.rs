//! Where the collector stores: SQLite on this machine (the default), or
//! ClickHouse shared by several collectors (`--sink clickhouse`).

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use clap::{Args, ValueEnum};

use crate::clickhouse::{ClickHouse, Target};
use crate::query::ApiError;
use crate::store::{CollectionMeta, Store, StoreError, StoreLimits, Stored};
use crate::validate::ValidChunk;

/// Which store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum SinkKind {
    /// SQLite at `--db`.
    #[default]
    Sqlite,
    /// ClickHouse at `--clickhouse-url`.
    Clickhouse,
}

/// The store's flags.
#[derive(Clone, Debug, Args, PartialEq, Eq)]
pub struct SinkConfig {
    /// Where rows are stored: `sqlite` (at `--db`) or `clickhouse` (at
    /// `--clickhouse-url`, shared by any number of collectors).
    #[arg(long, env = "EDGEMETRICS_SINK", value_enum, default_value = "sqlite")]
    pub sink: SinkKind,
    /// ClickHouse's HTTP interface.
    #[arg(long, env = "EDGEMETRICS_CLICKHOUSE_URL", default_value = "http://127.0.0.1:8123")]
    pub clickhouse_url: String,
    /// The ClickHouse database (created if missing).
    #[arg(long, env = "EDGEMETRICS_CLICKHOUSE_DATABASE", default_value = "edgemetrics")]
    pub clickhouse_database: String,
    /// The ClickHouse user.
    #[arg(long, env = "EDGEMETRICS_CLICKHOUSE_USER", default_value = "default")]
    pub clickhouse_user: String,
    /// The ClickHouse user's password (prefer the environment variable: a
    /// command line is visible to every user of the machine).
    #[arg(long, env = "EDGEMETRICS_CLICKHOUSE_PASSWORD", hide_env_values = true)]
    pub clickhouse_password: Option<String>,
    /// Longest wait for one ClickHouse call; past it the chunk is answered
    /// UNAVAILABLE (and retried by the client), never acknowledged.
    #[arg(long, env = "EDGEMETRICS_CLICKHOUSE_TIMEOUT", default_value = "30s", value_parser = crate::config::parse_duration)]
    pub clickhouse_timeout: Duration,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            sink: SinkKind::Sqlite,
            clickhouse_url: "http://127.0.0.1:8123".into(),
            clickhouse_database: "edgemetrics".into(),
            clickhouse_user: "default".into(),
            clickhouse_password: None,
            clickhouse_timeout: Duration::from_secs(30),
        }
    }
}

/// The store the collector writes to and reads from.
pub enum Sink {
    /// SQLite.
    Sqlite(Store),
    /// ClickHouse.
    ClickHouse(ClickHouse),
}

impl Sink {
    /// Opens the configured store (`db` is SQLite's path).
    pub async fn open(config: &SinkConfig, db: &str, limits: StoreLimits) -> Result<Self, StoreError> {
        match config.sink {
            SinkKind::Sqlite => {
                let db = db.to_owned();
                tokio::task::spawn_blocking(move || Store::open(&db, limits))
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?
                    .map(Sink::Sqlite)
            }
            SinkKind::Clickhouse => {
                let target = Target {
                    url: config.clickhouse_url.clone(),
                    database: config.clickhouse_database.clone(),
                    user: config.clickhouse_user.clone(),
                    password: config.clickhouse_password.clone(),
                    timeout: config.clickhouse_timeout,
                };
                ClickHouse::open(&target, limits).await.map(Sink::ClickHouse)
            }
        }
    }

    /// Stores a request's chunks, answering once they are stored.
    pub async fn store(
        self: &Arc<Self>,
        cluster_id: &str,
        chunks: Vec<ValidChunk>,
        first_index: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        match &**self {
            Sink::Sqlite(_) => {
                let sink = self.clone();
                let cluster = cluster_id.to_owned();
                tokio::task::spawn_blocking(move || match &*sink {
                    Sink::Sqlite(store) => store.store(&cluster, chunks, first_index),
                    Sink::ClickHouse(_) => unreachable!("matched as SQLite above"),
                })
                .await
                .map_err(|e| StoreError::Unavailable(format!("storage task failed: {e}")))?
            }
            Sink::ClickHouse(ch) => ch.store(cluster_id, chunks, first_index).await,
        }
    }

    /// The collection as this collector knows it (for ClickHouse, read
    /// again from ClickHouse: another collector may have changed it).
    pub async fn collection(&self, name: &str) -> Result<Option<Arc<CollectionMeta>>, StoreError> {
        match self {
            Sink::Sqlite(store) => Ok(store.collection(name)),
            Sink::ClickHouse(ch) => ch.refresh_one(name).await,
        }
    }

    /// Every collection, by name (for ClickHouse, read again).
    pub async fn collections(&self) -> Result<Vec<Arc<CollectionMeta>>, StoreError> {
        match self {
            Sink::Sqlite(store) => Ok(store.collections()),
            Sink::ClickHouse(ch) => {
                ch.refresh().await?;
                Ok(ch.collections())
            }
        }
    }

    /// The collection as this collector last saw it, without asking the
    /// store (the instruments' exposition checks names with it).
    pub fn known_collection(&self, name: &str) -> Option<Arc<CollectionMeta>> {
        match self {
            Sink::Sqlite(store) => store.collection(name),
            Sink::ClickHouse(ch) => ch.collection(name),
        }
    }

    /// Rows stored in the collection.
    pub async fn row_count(&self, name: &str) -> Result<u64, StoreError> {
        match self {
            Sink::Sqlite(store) => Ok(store.row_count(name)),
            Sink::ClickHouse(ch) => ch.row_count(name).await,
        }
    }

    /// How many chunks of one gRPC stream may be stored at once: one for
    /// SQLite (one writer, in order); for ClickHouse enough that a stream of
    /// small chunks fills an insert rather than making one each.
    pub fn stream_depth(&self) -> usize {
        match self {
            Sink::Sqlite(_) => 1,
            Sink::ClickHouse(_) => 16,
        }
    }

    /// Stops running queries (at shutdown).
    pub fn interrupt(&self) {
        if let Sink::Sqlite(store) = self {
            store.interrupt();
        }
    }

    /// The SQLite store, for the SQLite half of the endpoints both stores
    /// answer.
    pub fn sqlite(&self, endpoint: &str) -> Result<&Store, ApiError> {
        match self {
            Sink::Sqlite(store) => Ok(store),
            Sink::ClickHouse(_) => Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                format!("{endpoint} is answered only with --sink sqlite; this collector stores in ClickHouse"),
            )),
        }
    }
}
