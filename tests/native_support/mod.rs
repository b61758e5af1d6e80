//! The real collector, in process on 127.0.0.1, and ways to read back what
//! it stored: through its query API (as a dashboard would) and its SQLite file.

#![allow(dead_code)]

pub mod process;

use std::net::SocketAddr;

use edgemetrics::ClientBuilder;
use edgemetrics::MetricClient;
use edgemetrics_collector::{Config, Faults, RunningServer, Server};
use serde::{Deserialize, Serialize};

pub const TOKEN: &str = "test-token";
pub const CLUSTER: &str = "cluster-1";

pub const CONTAINER_SCHEMA: &str = r#"{"type":"record","name":"containerMetrics","fields":[
    {"name":"container_id","type":"string"},{"name":"memory_usage","type":"long"},
    {"name":"cpu_usage","type":"long"},{"name":"memory_request","type":"long"},
    {"name":"cpu_request","type":"long"}]}"#;

pub const SAMPLE_SCHEMA: &str =
    r#"{"type":"record","name":"samples","fields":[{"name":"name","type":"string"},{"name":"value","type":"double"}]}"#;

/// castai/metrics' benchmark record.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub container_id: String,
    pub memory_usage: i64,
    pub cpu_usage: i64,
    pub memory_request: i64,
    pub cpu_request: i64,
}

/// `n` distinct rows starting at `start`, with values across the varint sizes.
pub fn containers(start: i64, n: usize) -> Vec<Container> {
    (start..start + n as i64)
        .map(|i| Container {
            container_id: format!("container-{i}-ü"),
            memory_usage: i,
            cpu_usage: -i * 37,
            memory_request: i64::MAX - i,
            cpu_request: i64::MIN + i,
        })
        .collect()
}

pub struct Collector {
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    /// The certificate it serves TLS with (PEM), when it does.
    certificate: Option<String>,
}

impl Collector {
    pub async fn start() -> Self {
        Self::start_config(false).await
    }

    pub async fn start_with_faults() -> Self {
        Self::start_config(true).await
    }

    /// Serving TLS with a self-signed certificate for `localhost`, made for
    /// the test; [`Collector::certificate`] gives it, to trust.
    pub async fn start_tls() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let mut collector = Self::start_with(|config, dir| {
            let (cert, key) = (dir.join("collector.crt"), dir.join("collector.key"));
            std::fs::write(&cert, certified.cert.pem()).unwrap();
            std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
            (config.tls_cert, config.tls_key) = (Some(cert), Some(key));
        })
        .await;
        collector.certificate = Some(certified.cert.pem());
        collector
    }

    async fn start_config(faults: bool) -> Self {
        Self::start_with(|config, _| config.enable_fault_injection = faults).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config, &std::path::Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("collector.db");
        let mut config = Config::for_tests([TOKEN]);
        config.db = db.to_str().unwrap().to_owned();
        config.enable_fault_injection = false;
        tweak(&mut config, dir.path());
        let server = Server::start(config).await.expect("collector starts");
        Collector { server: Some(server), _dir: dir, db, certificate: None }
    }

    /// The PEM certificate the collector serves TLS with.
    pub fn certificate(&self) -> &str {
        self.certificate.as_deref().expect("started with start_tls")
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().local_addr()
    }

    pub fn faults(&self) -> Faults {
        self.server.as_ref().unwrap().faults()
    }

    /// A client builder for this collector, with the test's credentials.
    pub fn client(&self) -> ClientBuilder {
        MetricClient::builder().api_addr(self.addr().to_string()).api_token(TOKEN).cluster_id(CLUSTER).insecure(true)
    }

    /// Rows of containerMetrics from one cluster, through the query API.
    pub async fn rows(&self, collection: &str, cluster: &str) -> Vec<Container> {
        self.json_rows(collection, cluster).await
    }

    /// Rows of a collection from one cluster, through the query API.
    pub async fn json_rows<T: for<'de> Deserialize<'de>>(&self, collection: &str, cluster: &str) -> Vec<T> {
        let mut client = reqwest::Client::builder();
        if let Some(pem) = &self.certificate {
            let certificate = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
            client = client.add_root_certificate(certificate).resolve("localhost", self.addr());
        }
        let base = match self.certificate {
            Some(_) => format!("https://localhost:{}", self.addr().port()),
            None => format!("http://{}", self.addr()),
        };
        let url = format!("{base}/api/collections/{collection}/rows?limit=10000");
        let response =
            client.build().unwrap().get(url).header("authorization", format!("Token {TOKEN}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "query API");
        let body: serde_json::Value = response.json().await.unwrap();
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["_cluster_id"] == cluster)
            .map(|row| serde_json::from_value(row.clone()).unwrap())
            .collect()
    }

    /// `GET path` (with its query) on the plain-HTTP collector, with the
    /// test's token: the status and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let url = format!("http://{}{path}", self.addr());
        let response =
            reqwest::Client::new().get(url).header("authorization", format!("Token {TOKEN}")).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The schema text a collection's catalog entry holds and when it last
    /// changed (ms), from SQLite.
    pub fn catalog(&self, collection: &str) -> (String, i64) {
        let db = rusqlite::Connection::open(&self.db).unwrap();
        db.query_row("SELECT schema, updated_at_ms FROM _collections WHERE name = ?1", [collection], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap()
    }

    /// Every stored chunk's cluster id and row count, from SQLite.
    pub fn chunks(&self) -> Vec<(String, i64)> {
        let db = rusqlite::Connection::open(&self.db).unwrap();
        let mut statement = db.prepare("SELECT cluster_id, rows FROM _chunks").unwrap();
        statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().map(Result::unwrap).collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // Stops with the test's runtime; nothing outlives the test.
            drop(server);
        }
    }
}

/// The same rows, in any order (two batches may be on the wire at once);
/// on failure prints counts and the first difference, not every row.
pub fn assert_same_rows(stored: &[Container], expected: &[Container], context: &str) {
    let (mut stored, mut expected) = (stored.to_vec(), expected.to_vec());
    stored.sort_by_key(|row| row.memory_usage);
    expected.sort_by_key(|row| row.memory_usage);
    if stored != expected {
        let first = stored.iter().zip(&expected).position(|(a, b)| a != b);
        panic!(
            "{context}: stored {} rows, expected {}; first difference at {first:?}: {:?} vs {:?}",
            stored.len(),
            expected.len(),
            first.map(|i| &stored[i]),
            first.map(|i| &expected[i]),
        );
    }
}

/// A client of the collector process at `addr` as the restart tests run it:
/// quick flushes and retries, and time to drain.
pub fn restarting_client(addr: SocketAddr) -> ClientBuilder {
    MetricClient::builder()
        .api_addr(addr.to_string())
        .api_token(TOKEN)
        .cluster_id(CLUSTER)
        .insecure(true)
        .flush_interval(std::time::Duration::from_millis(20))
        .max_retry_interval(std::time::Duration::from_millis(300))
        .drain_timeout(std::time::Duration::from_secs(20))
}

/// A private ClickHouse in a temporary directory and a collector storing in
/// its database `database` (dropped in that order: the collector first).
pub async fn collector_on_clickhouse(
    database: &str,
) -> (Collector, edgemetrics_collector::clickhouse::local::LocalClickHouse, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clickhouse =
        edgemetrics_collector::clickhouse::local::LocalClickHouse::start(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let server = Collector::start_with(|config, _| clickhouse.configure(config, database)).await;
    (server, clickhouse, dir)
}
