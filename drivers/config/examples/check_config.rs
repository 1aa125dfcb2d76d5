//! Loads the configuration as silt would (file, `SILT_*` environment, no flags) and prints the
//! result: `cargo run -p silt-config --example check_config [-- FILE]`.

use silt_config::{load, ConfigError, Sources};

fn main() {
    let mut sources = Sources::from_process(vec![]);
    if let Some(file) = std::env::args().nth(1) {
        sources.file = file.into();
    }
    match load(&sources) {
        Ok(settings) => println!("{} is valid:\n{settings:#?}", sources.file.display()),
        Err(e @ ConfigError::Missing { .. }) => println!("{e}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
