//! The first million `MetricBuffer::write`s of a fresh process against the
//! same rows warmed: what the page faults of fresh chunk memory cost, and
//! what the spare buffers of acknowledged chunks (`engine::spare`) buy.
//! `cargo bench --bench first_rows [-- --runs N]`
//!
//! A fresh process is the point, so each measurement is a process of its
//! own: the bench spawns itself (`EDGEMETRICS_FIRST_ROWS=recycle` or `off`)
//! `--runs` times per mode (15 by default), the modes alternating so that a
//! slow spell of the machine falls on both, and prints the medians.
//!
//! In each process, castai/metrics' benchmark record is written into one
//! metric's buffer with 1 MiB chunks (the default); every chunk it seals is
//! pushed into a `Pipeline`, which is polled, and the batch acknowledged at
//! once, as a sender would (the batch dropped before the report). With
//! `recycle` the buffer then takes a spare from the pipeline, as the native
//! client does in `after_write`; with `off` the pipeline's spares are freed
//! instead, as every acknowledged chunk was before. The first 1,000,000 rows
//! are timed, then 1,000,000 more warm up, then five rounds of 1,000,000
//! are timed and their median is the warmed figure. Minor page faults are
//! read from /proc/self/stat around each timed part.
//!
//! The machine's noise is the figures' noise: a timed part lasts 30 to 80
//! ms, so another process on the cores (or the VM's host) shows. Read the
//! medians over processes, and the fastest first million of all processes
//! against the fastest warmed figure.

use std::sync::Arc;
use std::time::Instant;

use edgemetrics::engine::buffer::{MetricBuffer, MetricOptions};
use edgemetrics::engine::pipeline::{Action, Pipeline, PipelineConfig};
use edgemetrics::engine::schema::Schema;
use support::{ContainerMetrics, SCHEMA, rows};

mod support;

/// Rows per timed part.
const ROWS: usize = 1_000_000;
/// Distinct rows, written round and round (their memory is warm before the
/// first timed row, so that only the chunks' memory is fresh).
const DISTINCT: usize = 10_000;
/// Timed rounds after the warm-up; their median is the warmed figure.
const WARMED_ROUNDS: usize = 5;
/// The environment variable that makes the bench one measuring process.
const MODE: &str = "EDGEMETRICS_FIRST_ROWS";

/// One process's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    first_ns: f64,
    warmed_ns: f64,
    first_faults: u64,
    warmed_faults: u64,
}

/// The writer of one process: a metric's buffer and the pipeline its chunks go to.
struct Writer {
    buffer: MetricBuffer,
    pipeline: Pipeline,
    recycle: bool,
}

impl Writer {
    fn new(recycle: bool) -> Self {
        let schema = Arc::new(Schema::parse(SCHEMA).expect("the record's schema"));
        Writer {
            buffer: MetricBuffer::new(schema, MetricOptions::default()).expect("buffer"),
            pipeline: Pipeline::new(PipelineConfig::default(), 1, 1).expect("pipeline"),
            recycle,
        }
    }

    /// Writes `ROWS` rows; returns ns/row and the minor page faults meanwhile.
    fn million(&mut self, rows: &[ContainerMetrics]) -> (f64, u64) {
        let faults = minor_faults();
        let started = Instant::now();
        for i in 0..ROWS {
            if let Some(chunk) = self.buffer.write(&rows[i % rows.len()]).expect("write") {
                self.sealed(chunk);
            }
        }
        let ns = started.elapsed().as_nanos() as f64 / ROWS as f64;
        (ns, minor_faults().saturating_sub(faults))
    }

    /// What the native client and its driver do with a sealed chunk, the
    /// collector acknowledging at once.
    fn sealed(&mut self, chunk: edgemetrics::engine::chunk::Chunk) {
        let pipeline = &mut self.pipeline;
        pipeline.push(chunk);
        if self.recycle {
            self.buffer.refill_spare(pipeline);
        }
        while let Action::Send(batch) = pipeline.poll(0) {
            let id = batch.id;
            drop(batch);
            pipeline.ack(id);
        }
        if !self.recycle {
            // Freed at the acknowledgement, as before the spares.
            while pipeline.take_spare(1 << 20).is_some() {}
        }
    }
}

/// The process's minor page faults so far (field 10 of /proc/self/stat);
/// 0 where it cannot be read.
fn minor_faults() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    after_name.split_whitespace().nth(7).and_then(|field| field.parse().ok()).unwrap_or(0)
}

/// The measuring process: prints its figures on one line.
fn measure(recycle: bool) {
    let rows = rows(DISTINCT);
    let mut writer = Writer::new(recycle);
    let (first_ns, first_faults) = writer.million(&rows);
    writer.million(&rows);
    let mut warmed: Vec<(f64, u64)> = (0..WARMED_ROUNDS).map(|_| writer.million(&rows)).collect();
    warmed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (warmed_ns, warmed_faults) = warmed[WARMED_ROUNDS / 2];
    println!(
        "first_ns={first_ns} warmed_ns={warmed_ns} \
         first_faults={first_faults} warmed_faults={warmed_faults}"
    );
}

/// Runs one measuring process and reads its line.
fn spawn(mode: &str) -> Figures {
    let exe = std::env::current_exe().expect("the bench's own path");
    let output = std::process::Command::new(exe).env(MODE, mode).output().expect("spawning the bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{mode} process failed: {}", String::from_utf8_lossy(&output.stderr));
    let field = |name: &str| -> f64 {
        stdout
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in the {mode} process's output: {stdout}"))
    };
    Figures {
        first_ns: field("first_ns"),
        warmed_ns: field("warmed_ns"),
        first_faults: field("first_faults") as u64,
        warmed_faults: field("warmed_faults") as u64,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn fastest(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(f64::MAX, f64::min)
}

fn main() {
    if let Ok(mode) = std::env::var(MODE) {
        measure(mode == "recycle");
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let runs = match args.iter().position(|arg| arg == "--runs") {
        Some(at) => args.get(at + 1).and_then(|n| n.parse().ok()).expect("--runs takes a number of runs"),
        None => 15,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "MetricBuffer::write, first {ROWS} rows of a fresh process against the same rows warmed \
         (1 MiB chunks acknowledged at once; {runs} processes per mode, {cores} cores)"
    );
    println!(
        "{:>8} {:>4} {:>14} {:>14} {:>7} {:>13} {:>13}",
        "mode", "run", "first ns/row", "warmed ns/row", "ratio", "faults first", "faults warm"
    );
    let modes = ["recycle", "off"];
    let mut figures: Vec<Vec<Figures>> = vec![Vec::new(); modes.len()];
    for run in 1..=runs {
        for (mode, all) in modes.iter().zip(&mut figures) {
            let f = spawn(mode);
            println!(
                "{mode:>8} {run:>4} {:>14.1} {:>14.1} {:>7.3} {:>13} {:>13}",
                f.first_ns,
                f.warmed_ns,
                f.first_ns / f.warmed_ns,
                f.first_faults,
                f.warmed_faults
            );
            all.push(f);
        }
    }
    println!("medians of {runs} processes:");
    for (mode, all) in modes.iter().zip(&figures) {
        let ratios: Vec<f64> = all.iter().map(|f| f.first_ns / f.warmed_ns).collect();
        let (low, high) = ratios.iter().fold((f64::MAX, 0.0f64), |(l, h), r| (l.min(*r), h.max(*r)));
        println!(
            "{mode:>8}: first {:.1} ns/row, warmed {:.1} ns/row, first/warmed {:.3} (runs {low:.3}..{high:.3}); \
             minor faults first {:.0}, warmed {:.0}",
            median(all.iter().map(|f| f.first_ns).collect()),
            median(all.iter().map(|f| f.warmed_ns).collect()),
            median(ratios),
            median(all.iter().map(|f| f.first_faults as f64).collect()),
            median(all.iter().map(|f| f.warmed_faults as f64).collect()),
        );
        // Interference only slows a run down: the fastest of each is the
        // other estimate (the encode bench's).
        let (first, warmed) = (fastest(all.iter().map(|f| f.first_ns)), fastest(all.iter().map(|f| f.warmed_ns)));
        println!(
            "{:>8}  fastest: first {first:.1} ns/row, warmed {warmed:.1} ns/row, first/warmed {:.3}",
            "",
            first / warmed
        );
    }
}
