//! Arbitrary text as `config.yaml`: the loader returns settings or errors, never panics, and
//! every problem it reports names a line inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silt_config::{parse_str, ConfigError, Origin};
use std::path::Path;

fuzz_target!(|text: &str| {
    match parse_str(text, Path::new("config.yaml")) {
        Ok(settings) => {
            let _ = settings.core_config(0).validate();
        }
        Err(ConfigError::Invalid { problems }) => {
            // YAML breaks lines at \n, \r and \r\n; an error may point just past the end.
            let lines = text.matches(['\n', '\r']).count() + 2;
            for p in problems {
                if let Origin::File { line, .. } = p.origin {
                    assert!(line >= 1 && line <= lines, "line {line} outside the text");
                }
            }
        }
        Err(e) => panic!("parse_str returned {e:?}"),
    }
});
