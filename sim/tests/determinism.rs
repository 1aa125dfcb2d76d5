//! One seed reproduces one run exactly: the same seed gives the same trace, byte for byte.

#[test]
fn same_seed_same_trace() {
    for seed in [0u64, 7, 42, 1234, 99_999] {
        let a = silt_sim::run_seed(seed, true);
        let b = silt_sim::run_seed(seed, true);
        assert!(a.trace.len() > 10, "seed {seed} produced a trivial trace");
        assert_eq!(a.trace, b.trace, "seed {seed} is not deterministic");
        assert_eq!(a.violations, b.violations);
    }
}

#[test]
fn different_seeds_explore_different_runs() {
    let a = silt_sim::run_seed(1, true);
    let b = silt_sim::run_seed(2, true);
    assert_ne!(a.trace, b.trace);
}

#[test]
fn the_trace_starts_with_every_option_of_the_seed() {
    let r = silt_sim::run_seed(5, true);
    let banner = &r.trace[0];
    for field in [
        "seed=5",
        "crash=",
        "outside=",
        "chunk_size=",
        "disk_capacity=",
        "ignore_get_if_match=",
    ] {
        assert!(banner.contains(field), "banner lacks {field}: {banner}");
    }
}
