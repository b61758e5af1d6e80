//! A ClickHouse server of its own for a test, in a temporary directory.

use std::ops::{Deref, DerefMut};

use edgemetrics_collector::clickhouse::local::LocalClickHouse;

pub struct ClickHouse {
    server: LocalClickHouse,
    _dir: tempfile::TempDir,
}

impl ClickHouse {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = LocalClickHouse::start(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        Self { server, _dir: dir }
    }

    pub fn restart(&mut self) {
        self.server.restart().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Runs `sql` and returns ClickHouse's answer as text.
    pub async fn query(&self, sql: &str) -> String {
        let res = super::http().post(self.url()).body(sql.to_owned()).send().await.expect("ClickHouse answers");
        let status = res.status();
        let text = res.text().await.expect("body");
        assert!(status.is_success(), "{sql}: {text}");
        text
    }
}

impl Deref for ClickHouse {
    type Target = LocalClickHouse;
    fn deref(&self) -> &LocalClickHouse {
        &self.server
    }
}

impl DerefMut for ClickHouse {
    fn deref_mut(&mut self) -> &mut LocalClickHouse {
        &mut self.server
    }
}
