//! A short run of every target (its seeds and a few thousand mutations,
//! a different seed each day so that `make test` keeps exploring), and the
//! inputs that once failed (fuzz/regressions/<target>/*.hex), which must
//! now pass.

use std::time::Duration;

use edgemetrics_fuzz::{Bounds, Corpus, TARGETS, check, hex, run, unhex};

/// Generous bounds: a debug build, and other tests running beside.
const BOUNDS: Bounds = Bounds { time: Duration::from_secs(5), memory: 64 << 20 };

/// One test, not two: the allocator's counters are the process's, so an
/// input's memory is measured right only with nothing else running.
#[test]
fn every_target_passes_its_regressions_then_survives_its_seeds_and_mutations() {
    let corpus = Corpus::load();
    inputs_that_once_failed_pass(&corpus);
    seeds_and_mutations(&corpus);
}

fn seeds_and_mutations(corpus: &Corpus) {
    let day = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400;
    for target in &TARGETS {
        let report = run(target, corpus, 3_000, day, BOUNDS, 1, |_| {});
        if let Some((index, input, finding)) = report.findings.first() {
            panic!(
                "{} (seed {day}, input {index}): {finding:?}\nreplay: cargo run --release -p edgemetrics-fuzz -- --replay {} {}",
                target.name,
                target.name,
                hex(input)
            );
        }
        assert!(report.inputs > 3_000, "{}: the seeds ran too", target.name);
    }
}

fn inputs_that_once_failed_pass(corpus: &Corpus) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut replayed = 0;
    for target in &TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(target.name)) else { continue };
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let input = unhex(&text).unwrap_or_else(|| panic!("{} is not hex", entry.path().display()));
            let outcome = check(target, corpus, &input, BOUNDS);
            assert_eq!(outcome.finding, None, "{}", entry.path().display());
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no regression inputs under {}", dir.display());
}
