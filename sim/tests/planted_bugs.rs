//! The simulator must catch bugs: each test builds the core with one planted fault and
//! asserts that the simulator reports a violation within a bounded number of seeds.
//! Run with `cargo test -p silt-sim --features planted-bugs`.
#![cfg(feature = "planted-bugs")]

use silt_core::PlantedBug;
use silt_sim::{Options, Violation};

/// Seeds tried per planted fault before the test gives up.
const SEED_BUDGET: u64 = 400;

fn first_catch(bug: PlantedBug, budget: u64) -> Option<(u64, Violation)> {
    (0..budget).find_map(|seed| {
        let mut opts = Options::from_seed(seed);
        opts.core.planted_bug = Some(bug);
        let r = silt_sim::run(opts, false);
        r.violations.into_iter().next().map(|v| (seed, v))
    })
}

fn assert_caught(bug: PlantedBug) {
    assert_caught_within(bug, SEED_BUDGET);
}

fn assert_caught_within(bug: PlantedBug, budget: u64) {
    match first_catch(bug, budget) {
        Some((seed, v)) => eprintln!("{bug:?} caught at seed {seed}: {v}"),
        None => panic!("planted bug {bug:?} went unnoticed for {budget} seeds"),
    }
}

#[test]
fn catches_eviction_of_a_dirty_chunk() {
    assert_caught(PlantedBug::EvictDirtyChunk);
}

#[test]
fn catches_a_chunk_marked_clean_before_its_crc_is_recorded() {
    assert_caught(PlantedBug::CleanBeforeCrc);
}

#[test]
fn catches_an_fsync_answered_before_the_index_commit() {
    assert_caught(PlantedBug::FsyncReplyBeforeCommit);
}

#[test]
fn catches_a_412_retried_as_an_overwrite() {
    assert_caught(PlantedBug::RetryPreconditionAsOverwrite);
}

#[test]
fn catches_bytes_written_during_an_upload_marked_clean() {
    assert_caught(PlantedBug::CleanWritesDuringUpload);
}

#[test]
fn catches_a_read_answered_from_fetched_bytes_over_dirty_ones() {
    assert_caught(PlantedBug::BufferedReadOverDirty);
}

#[test]
fn catches_a_read_run_beside_an_overlapping_write() {
    assert_caught_within(PlantedBug::ReadBesideOverlappingWrite, 4_000);
}

#[test]
fn catches_a_listing_that_shows_a_journaled_delete() {
    assert_caught(PlantedBug::ListShowsJournaledDelete);
}

#[test]
fn catches_an_rmdir_that_ignores_files_created_here() {
    assert_caught(PlantedBug::RmdirIgnoresLocalFiles);
}

#[test]
fn catches_a_new_mtime_that_never_reaches_the_bucket() {
    assert_caught(PlantedBug::SetMtimeQueuesNoUpload);
}

/// Caught by the per-step comparison of the dirty ranges with the model
/// (`checker::dirty_covers_model`), long before the byte would be missing from the bucket.
#[test]
fn catches_a_written_byte_left_out_of_the_dirty_bytes() {
    let bug = PlantedBug::WriteDirtiesShort;
    let (seed, v) = first_catch(bug, SEED_BUDGET).expect("caught");
    eprintln!("{bug:?} caught at seed {seed}: {v}");
    let by_figures = ["that are not dirty", "that no chunk of it accounts for"];
    assert!(
        by_figures.iter().any(|m| v.detail.contains(m)),
        "caught first by another check: {v}"
    );
}

#[test]
fn the_unplanted_core_passes_the_same_seeds() {
    // The planted tests are meaningful only if the correct core passes these seeds.
    let failing: Vec<u64> = (0..SEED_BUDGET)
        .filter(|&seed| {
            !silt_sim::run(Options::from_seed(seed), false)
                .violations
                .is_empty()
        })
        .collect();
    assert!(
        failing.is_empty(),
        "seeds failing without a planted bug: {failing:?}"
    );
}

#[test]
fn catches_passthrough_granted_over_absent_bytes() {
    assert_caught(PlantedBug::PassthroughOfAbsentBytes);
}

#[test]
fn catches_a_passthrough_handle_that_pins_nothing() {
    assert_caught(PlantedBug::PassthroughUnpinned);
}
