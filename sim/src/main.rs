//! `silt-sim`: run simulator seeds.
//!
//! ```text
//! silt-sim --seeds 0..2000          run seeds 0 to 1999, print failures and a summary
//! silt-sim --seed 42 --trace        run one seed and print its trace
//! ```
//!
//! Exit codes: 0 when every seed ran clean; 2 on a usage error; otherwise `10 + N` for the
//! lowest-numbered invariant N violated in the run (11 to 17, see `silt_sim::checker`).

use silt_sim::Invariant;
use std::process::ExitCode;
use std::time::Instant;

fn usage() -> ExitCode {
    help();
    ExitCode::from(2)
}

fn help() {
    eprintln!("usage: silt-sim (--seeds A..B | --seed S) [--trace]");
    eprintln!();
    eprintln!("exit codes: 0 clean; 2 usage error; otherwise that of the lowest-numbered");
    eprintln!("invariant violated in the run (see docs/simulator.md, \"Invariants\"):");
    for inv in Invariant::ALL {
        eprintln!("  {:>3}  {inv}", inv.exit_code());
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut range = None;
    let mut trace = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seeds" => {
                let Some(v) = it.next() else { return usage() };
                let Some((a, b)) = v.split_once("..") else {
                    return usage();
                };
                let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) else {
                    return usage();
                };
                range = Some(a..b);
            }
            "--seed" => {
                let Some(Ok(s)) = it.next().map(|v| v.parse::<u64>()) else {
                    return usage();
                };
                range = Some(s..s + 1);
            }
            "--trace" => trace = true,
            "--help" | "-h" => {
                help();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let Some(range) = range else { return usage() };
    let started = Instant::now();
    let (mut seeds, mut violations, mut sim_ms, mut crashes, mut conflicts) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut from_buffers, mut ahead) = (0u64, 0u64);
    let (mut pt_opens, mut pt_reads) = (0u64, 0u64);
    // The lowest-numbered invariant violated so far.
    let mut worst: Option<Invariant> = None;
    for seed in range {
        let opts = silt_sim::Options::from_seed(seed);
        if trace {
            println!("seed {seed}: {opts}");
        }
        let r = silt_sim::run(opts, trace);
        if trace {
            for line in &r.trace {
                println!("{line}");
            }
        }
        seeds += 1;
        sim_ms += r.sim_ms;
        crashes += u64::from(r.crashes);
        conflicts += u64::from(r.conflicts);
        from_buffers += r.reads_from_buffers;
        ahead += r.fetched_ahead;
        pt_opens += r.passthrough_opens;
        pt_reads += r.passthrough_reads;
        if !r.violations.is_empty() {
            violations += r.violations.len() as u64;
            worst = r.violations.iter().map(|v| v.invariant).chain(worst).min();
            println!("seed {seed}: {} violation(s)", r.violations.len());
            for v in r.violations.iter().take(3) {
                println!("  {v}");
            }
            println!("  reproduce with: cargo run --release -p silt-sim -- --seed {seed} --trace");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "ran {seeds} seeds in {secs:.1} s ({:.0} seeds/s), {:.0} simulated s, {crashes} crashes, {conflicts} conflicts, {ahead} chunks fetched ahead, {from_buffers} reads answered from fetched bytes, {pt_opens} passthrough opens granted, {pt_reads} passthrough reads",
        seeds as f64 / secs.max(1e-9),
        sim_ms as f64 / 1000.0
    );
    println!("seeds: {seeds}, violations: {violations}");
    match worst {
        Some(inv) => {
            println!(
                "exit code {}: {inv} is the lowest-numbered invariant violated",
                inv.exit_code()
            );
            ExitCode::from(inv.exit_code())
        }
        None => ExitCode::SUCCESS,
    }
}
