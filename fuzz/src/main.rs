//! `cargo run --release -p edgemetrics-fuzz -- [TARGET|all] [--inputs N] [--seed S] [--time-ms MS] [--memory-mib MIB]`
//!
//! Runs each target on its seeds and then on N mutations of them (default
//! 1,000,000); prints what each did and every finding as hex (also written
//! to target/fuzz/findings/); exits non-zero on a finding.
//! `--replay TARGET HEX` runs one input. `--list` names the targets.

use std::time::{Duration, Instant};

use edgemetrics_fuzz::{Bounds, Corpus, TARGETS, check, hex, run, unhex};

fn usage() -> ! {
    eprintln!(
        "usage: edgemetrics-fuzz [TARGET|all] [--inputs N] [--seed S] [--time-ms MS] [--memory-mib MIB] | --replay TARGET HEX | --list"
    );
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut which, mut inputs, mut seed, mut bounds) = (String::from("all"), 1_000_000u64, 1u64, Bounds::default());
    let mut replay = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--inputs" => inputs = value().parse().unwrap_or_else(|_| usage()),
            "--seed" => seed = value().parse().unwrap_or_else(|_| usage()),
            "--time-ms" => bounds.time = Duration::from_millis(value().parse().unwrap_or_else(|_| usage())),
            "--memory-mib" => bounds.memory = value().parse::<usize>().unwrap_or_else(|_| usage()) << 20,
            "--replay" => replay = Some((value(), value())),
            "--list" => {
                for t in &TARGETS {
                    println!("{:10} {}", t.name, t.about);
                }
                return;
            }
            name if !name.starts_with('-') => which = name.to_string(),
            _ => usage(),
        }
    }
    let corpus = Corpus::load();
    let find = |name: &str| TARGETS.iter().find(|t| t.name == name).unwrap_or_else(|| usage());
    if let Some((name, input)) = replay {
        let input = unhex(&input).or_else(|| std::fs::read_to_string(&input).ok().and_then(|t| unhex(&t)));
        let outcome = check(find(&name), &corpus, &input.unwrap_or_else(|| usage()), bounds);
        println!("{outcome:?}");
        std::process::exit(i32::from(outcome.finding.is_some()));
    }
    let targets: Vec<_> = if which == "all" { TARGETS.iter().collect() } else { vec![find(&which)] };
    let findings_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz/findings");
    let mut failed = false;
    for target in targets {
        let started = Instant::now();
        let report = run(target, &corpus, inputs, seed, bounds, 10, |n| {
            eprintln!("  {}: {n} inputs, {:.0} s", target.name, started.elapsed().as_secs_f64())
        });
        let took = started.elapsed();
        println!(
            "{}: {} inputs (seed {seed}) in {:.1} s, {:.0} inputs/s; slowest {:.2} ms, most held {:.1} KiB; {} findings",
            target.name,
            report.inputs,
            took.as_secs_f64(),
            report.inputs as f64 / took.as_secs_f64(),
            report.slowest.as_secs_f64() * 1000.0,
            report.most_memory as f64 / 1024.0,
            report.findings.len(),
        );
        for (index, input, finding) in &report.findings {
            failed = true;
            let _ = std::fs::create_dir_all(&findings_dir);
            let path = findings_dir.join(format!("{}-{seed}-{index}.hex", target.name));
            let _ = std::fs::write(&path, hex(input));
            let message = format!("{finding:?}");
            let short: String = message.chars().take(300).collect();
            println!("  input {index} ({} bytes): {short}\n    {}", input.len(), path.display());
        }
    }
    if failed {
        std::process::exit(1);
    }
}
