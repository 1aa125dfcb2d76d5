//! Explores the simulator's seed space: any seed must run without a violation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut seed = [0u8; 8];
    for (i, b) in data.iter().take(8).enumerate() {
        seed[i] = *b;
    }
    let seed = u64::from_le_bytes(seed);
    let r = silt_sim::run_seed(seed, false);
    assert!(r.violations.is_empty(), "seed {seed}: {:?}", r.violations.first());
});
