//! The collector binary as a process of its own, for what only a process
//! shows: its peak memory (VmHWM) and how it stops on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Collector {
    child: Child,
    pub url: String,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Collector {
    /// Starts the binary on 127.0.0.1 with a temporary database, the test
    /// token, and `args`; returns once it printed its address.
    pub fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("collector.db");
        let mut child = Command::new(env!("CARGO_BIN_EXE_edgemetrics-collector"))
            .args(["--addr", "127.0.0.1:0", "--token", super::TOKEN, "--db"])
            .arg(&db)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("collector binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening line");
        let url =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected line {line:?}")).to_owned();
        let addr = url.trim_start_matches("http://").parse().expect("address");
        Self { child, url, addr, _dir: dir }
    }

    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc status");
        let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} in /proc status"));
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number of kB")
    }

    /// The most memory the process has held (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        self.status_kb("VmHWM:") as f64 / 1024.0
    }

    /// Sends SIGTERM and waits for the process to exit; returns how long it
    /// took and whether it exited successfully.
    pub fn terminate(&mut self, within: Duration) -> (Duration, bool) {
        let start = Instant::now();
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (start.elapsed(), status.success());
            }
            assert!(start.elapsed() < within, "the collector did not stop within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
