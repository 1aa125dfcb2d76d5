//! `silt`: mount a bucket through the crash-safe write-back cache, or try it with
//! `silt demo`. See `docs/mount.md` and `docs/operations.md`.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::args::Cli::parse();
    if let Err(e) = cli::logging::init(cli.log_file()) {
        eprintln!("silt: error: {e:#}");
        return ExitCode::FAILURE;
    }
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("silt: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
