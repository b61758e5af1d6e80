//! A ClickHouse server of its own for a test, as a user would run one:
//! Debian's `clickhouse-server` started from a two-file config on
//! 127.0.0.1, its data in a temporary directory, stopped when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edgemetrics_collector::Config;
use edgemetrics_collector::sink::SinkKind;

pub struct ClickHouse {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub http_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `clickhouse-server`: `$CLICKHOUSE_SERVER`, else on the PATH or in
/// /usr/sbin (where Debian puts it, off a normal user's PATH).
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CLICKHOUSE_SERVER") {
        return path.into();
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("clickhouse-server")).find(|p| p.is_file()))
        .unwrap_or_default();
    let found = on_path.or_else(|| Some(PathBuf::from("/usr/sbin/clickhouse-server")).filter(|p| p.is_file()));
    found.expect(
        "clickhouse-server is not installed: `make test` installs it (Debian's package: apt-get install \
         clickhouse-server), or set CLICKHOUSE_SERVER to its path",
    )
}

impl ClickHouse {
    /// Starts a server and waits until it answers.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (http_port, tcp_port) = (free_port(), free_port());
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("config.xml"),
            format!(
                r#"<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/server.err.log</errorlog></logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <path>{d}/data/</path>
    <tmp_path>{d}/data/tmp/</tmp_path>
    <user_files_path>{d}/data/user_files/</user_files_path>
    <format_schema_path>{d}/data/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
</yandex>
"#
            ),
        )
        .expect("config.xml");
        std::fs::write(
            dir.path().join("users.xml"),
            r#"<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
        <profile>default</profile><quota>default</quota></default></users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"#,
        )
        .expect("users.xml");
        let mut ch = Self { child: None, dir, http_port };
        ch.run();
        ch
    }

    fn run(&mut self) {
        let child = Command::new(binary())
            .arg(format!("--config-file={}", self.dir.path().join("config.xml").display()))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clickhouse-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let ping = format!("127.0.0.1:{}", self.http_port);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(&ping) {
                use std::io::{Read, Write};
                let _ = s.write_all(b"GET /ping HTTP/1.0\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if answer.ends_with("Ok.\n") {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(self.dir.path().join("server.err.log")).unwrap_or_default();
                panic!("clickhouse-server exited with {status}: {log}");
            }
            assert!(Instant::now() < deadline, "clickhouse-server did not answer /ping in 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Kills the server (as a crash would) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same data and ports.
    pub fn restart(&mut self) {
        self.kill();
        self.run();
    }

    /// Runs `sql` and returns ClickHouse's answer as text.
    pub async fn query(&self, sql: &str) -> String {
        let res =
            reqwest::Client::new().post(self.url()).body(sql.to_owned()).send().await.expect("ClickHouse answers");
        let status = res.status();
        let text = res.text().await.expect("body");
        assert!(status.is_success(), "{sql}: {text}");
        text
    }

    /// Points `config` at this server and its database `database`.
    pub fn configure(&self, config: &mut Config, database: &str) {
        config.sink.sink = SinkKind::Clickhouse;
        config.sink.clickhouse_url = self.url();
        config.sink.clickhouse_database = database.to_owned();
        config.sink.clickhouse_timeout = Duration::from_secs(10);
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.kill();
    }
}
