//! The collector as a separate process, so that it can be killed outright
//! (or stopped the way an operator stops it) and started again on the same
//! port and database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::TOKEN;

pub struct CollectorProcess {
    child: Child,
    pub addr: SocketAddr,
}

fn collector_binary() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps.parent().unwrap().parent().unwrap().join("edgemetrics-collector");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p edgemetrics-collector` (make test does)",
        path.display()
    );
    path
}

impl CollectorProcess {
    /// Starts the collector on `addr` (`127.0.0.1:0` for any port) with
    /// its SQLite database at `db`.
    pub async fn start(db: &Path, addr: &str) -> Self {
        let mut child = Command::new(collector_binary())
            .args(["--addr", addr, "--db", db.to_str().unwrap(), "--token", TOKEN])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await.unwrap().unwrap().unwrap();
        let url = line.strip_prefix("listening on http://").unwrap_or_else(|| panic!("unexpected line {line:?}"));
        CollectorProcess { child, addr: url.parse().unwrap() }
    }

    /// SIGKILL: requests in progress get no answer.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM, as an operator stops it: requests in progress are answered
    /// (or refused), then it exits; waits for the exit.
    pub async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
        assert!(status.success(), "kill -TERM {pid}");
        tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await.expect("stops within 15 s").unwrap();
    }
}

/// Rows stored in `table` of the SQLite database at `db`, and how many
/// distinct values of `memory_usage` they hold (each written row has its own).
pub fn stored_rows(db: &Path, table: &str) -> (i64, i64) {
    let sqlite = rusqlite::Connection::open(db).unwrap();
    let query = format!("SELECT COUNT(*), COUNT(DISTINCT memory_usage) FROM \"{table}\"");
    sqlite.query_row(&query, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()
}

/// De-duplication records the collector keeps (its `_chunks` table).
pub fn dedup_records(db: &Path) -> i64 {
    let sqlite = rusqlite::Connection::open(db).unwrap();
    sqlite.query_row("SELECT COUNT(*) FROM _chunks", [], |r| r.get(0)).unwrap()
}
