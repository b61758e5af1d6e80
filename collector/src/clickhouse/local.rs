//! A private ClickHouse server for the demo, the tests and the benches, run
//! as a user would run one: Debian's `clickhouse-server` (18.16 and later)
//! started from a two-file config (`<yandex>` root, users.xml) on
//! 127.0.0.1, its data in a directory of the caller's, stopped when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::sink::SinkKind;

/// A running `clickhouse-server`.
pub struct LocalClickHouse {
    child: Option<Child>,
    dir: PathBuf,
    /// Its HTTP port on 127.0.0.1.
    pub http_port: u16,
}

fn free_port() -> Result<u16, String> {
    let port =
        TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| format!("a free port: {e}"))?;
    Ok(port.port())
}

/// `clickhouse-server`: `$CLICKHOUSE_SERVER`, else on the PATH or in
/// /usr/sbin (where Debian puts it, off a normal user's PATH).
pub fn binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CLICKHOUSE_SERVER") {
        return Ok(path.into());
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("clickhouse-server")).find(|p| p.is_file()))
        .unwrap_or_default();
    let found = on_path.or_else(|| Some(PathBuf::from("/usr/sbin/clickhouse-server")).filter(|p| p.is_file()));
    found.ok_or_else(|| {
        "clickhouse-server is not installed: `make test` and `make demo SINK=clickhouse` install it (Debian's \
         package: apt-get install clickhouse-server), or set CLICKHOUSE_SERVER to its path"
            .to_owned()
    })
}

impl LocalClickHouse {
    /// Starts a server keeping its data and logs in `dir` (created if
    /// missing), and waits until it answers.
    pub fn start(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // ClickHouse takes only absolute paths in its config.
        let dir = &dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
        let (http_port, tcp_port) = (free_port()?, free_port()?);
        let d = dir.display();
        std::fs::write(
            dir.join("config.xml"),
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
        .map_err(|e| format!("config.xml: {e}"))?;
        std::fs::write(
            dir.join("users.xml"),
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
        .map_err(|e| format!("users.xml: {e}"))?;
        let mut ch = Self { child: None, dir: dir.to_owned(), http_port };
        ch.run()?;
        Ok(ch)
    }

    fn run(&mut self) -> Result<(), String> {
        let binary = binary()?;
        let child = Command::new(&binary)
            .arg(format!("--config-file={}", self.dir.join("config.xml").display()))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("stderr.log")).map_err(|e| format!("stderr.log: {e}"))?)
            .spawn()
            .map_err(|e| format!("{}: {e}", binary.display()))?;
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
                    return Ok(());
                }
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = ["stderr.log", "server.err.log"]
                    .map(|f| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default())
                    .join("");
                return Err(format!("clickhouse-server exited with {status}: {log}"));
            }
            if Instant::now() > deadline {
                return Err("clickhouse-server did not answer /ping in 30 s".into());
            }
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
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.run()
    }

    /// Points `config` at this server and its database `database`.
    pub fn configure(&self, config: &mut Config, database: &str) {
        config.sink.sink = SinkKind::Clickhouse;
        config.sink.clickhouse_url = self.url();
        config.sink.clickhouse_database = database.to_owned();
        config.sink.clickhouse_timeout = Duration::from_secs(10);
    }
}

impl Drop for LocalClickHouse {
    fn drop(&mut self) {
        self.kill();
    }
}
