//! Fuzz targets: every parser of edgemetrics that takes bytes from outside,
//! each as a function of one input that must not panic, hang or allocate
//! past a bound, whatever the bytes; with seeds from the test corpus, and a
//! driver ([`run`]) that mutates them.
//!
//! Why a driver of our own rather than cargo-fuzz: libFuzzer and AFL need
//! nightly Rust's sanitizer flags, and this project builds and tests on the
//! stable toolchain only. The driver is not coverage-guided; it starts from
//! the corpus (valid schemas and rows, so that inputs get past the first
//! checks) and applies the mutations those fuzzers do (bit flips,
//! interesting bytes and varints, inserted, deleted, duplicated and spliced
//! ranges), seeded, so that a finding replays from its seed and index.

pub mod alloc_limit;
mod mutate;
mod targets;

pub use mutate::Mutator;
pub use targets::{Corpus, TARGETS, Target};

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// What went wrong with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The target panicked, with this message.
    Panic(String),
    /// It took this long (past the run's limit).
    Slow(Duration),
    /// It held this many bytes at once (past the run's limit).
    Memory(usize),
}

/// A run's bounds on one input.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Longest an input may take.
    pub time: Duration,
    /// Most heap bytes an input may hold at once (beyond what was held
    /// before it).
    pub memory: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds { time: Duration::from_secs(1), memory: 64 << 20 }
    }
}

/// What one input did.
#[derive(Debug)]
pub struct Outcome {
    /// What went wrong, if anything.
    pub finding: Option<Finding>,
    /// How long it took.
    pub took: Duration,
    /// The most heap it held at once.
    pub held: usize,
}

/// Runs `target` on `input`.
pub fn check(target: &Target, corpus: &Corpus, input: &[u8], bounds: Bounds) -> Outcome {
    alloc_limit::set_current_input(input);
    let base = alloc_limit::reset_peak();
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(corpus, input)));
    let took = started.elapsed();
    let held = alloc_limit::peak().saturating_sub(base);
    let finding = match outcome {
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Some(Finding::Panic(message))
        }
        Ok(()) if took > bounds.time => Some(Finding::Slow(took)),
        Ok(()) if held > bounds.memory => Some(Finding::Memory(held)),
        Ok(()) => None,
    };
    Outcome { finding, took, held }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs run.
    pub inputs: u64,
    /// The findings, with the index of their input and the input.
    pub findings: Vec<(u64, Vec<u8>, Finding)>,
    /// The slowest input.
    pub slowest: Duration,
    /// The most heap one input held.
    pub most_memory: usize,
}

/// Runs `target` on its seeds, then on `inputs` mutations of them drawn
/// from `seed`; stops at the first `max_findings` findings. `progress` is
/// told every million inputs.
pub fn run(
    target: &Target,
    corpus: &Corpus,
    inputs: u64,
    seed: u64,
    bounds: Bounds,
    max_findings: usize,
    mut progress: impl FnMut(u64),
) -> Report {
    let seeds = (target.seeds)(corpus);
    let mut mutator = Mutator::new(seed, seeds.clone());
    let mut report = Report::default();
    let mut input = Vec::new();
    let mut index = 0u64;
    let total = seeds.len() as u64 + inputs;
    while index < total && report.findings.len() < max_findings {
        match seeds.get(index as usize) {
            Some(seed) => input.clone_from(seed),
            None => mutator.next(&mut input),
        }
        let outcome = check(target, corpus, &input, bounds);
        report.slowest = report.slowest.max(outcome.took);
        report.most_memory = report.most_memory.max(outcome.held);
        if let Some(finding) = outcome.finding {
            report.findings.push((index, input.clone(), finding));
        }
        index += 1;
        if index.is_multiple_of(1_000_000) {
            progress(index);
        }
    }
    report.inputs = index;
    report
}

/// Lowercase hex of `bytes`, to print a finding.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lowercase or uppercase `hex`, or None.
pub fn unhex(hex: &str) -> Option<Vec<u8>> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}
