//! Seeds that once failed, each run through the simulator and required to be clean. A seed
//! here names the case its fix is about; see the commit that added it for what went wrong.

fn assert_clean(seed: u64) {
    let r = silt_sim::run_seed(seed, false);
    let found: Vec<String> = r.violations.iter().map(|v| v.to_string()).collect();
    assert!(
        found.is_empty(),
        "seed {seed}: {found:?}\nreproduce with: cargo run --release -p silt-sim -- --seed {seed} --trace",
    );
}

/// An upload's 412 at a key the entry was renamed away from while it ran is no conflict for
/// the entry: a fresh upload goes to its current key.
#[test]
fn conflict_at_a_key_the_entry_left() {
    for seed in [108_472, 112_755] {
        assert_clean(seed);
    }
}

/// An entry renamed away from a key and back keeps its claim on what it left there: the
/// journaled delete of the key is taken over by its next upload there, which keeps the token of
/// an earlier attempt that may have landed unseen (112503). If an upload elsewhere lands while
/// it is back, its base has moved: the delete runs again and the upload to the key waits for
/// it (7193, fixed before by another route, now by this one).
#[test]
fn back_at_a_key_it_left() {
    for seed in [112_503, 7_193] {
        assert_clean(seed);
    }
}

/// The model's view of a key the cache never held, replaced by an outside writer: the
/// version the cache looks up next is the lineage a rename moves and a conflict copy starts
/// from (a model fix; the core was right).
#[test]
fn outside_write_to_a_key_the_cache_never_held() {
    assert_clean(17_170);
}

/// Dirty extents committed as deltas: a truncate that removes a recorded extent right after
/// a write ending where it starts (same generation) deletes its record too.
#[test]
fn extent_record_removed_next_to_a_rewritten_one() {
    for seed in [33_544, 53_119] {
        assert_clean(seed);
    }
}

/// An entry back at a key it left after its base moved elsewhere: an earlier attempt's
/// version there (another base) is deleted, not taken for the entry's new upload.
#[test]
fn back_at_a_key_after_the_base_moved() {
    assert_clean(97_541);
}

/// A concurrent reader may see a file extended to where a write past its end starts, before
/// the write's bytes land (a model fix: the core was right).
#[test]
fn reader_sees_a_write_past_the_end_extend_the_file_first() {
    for seed in [6_211, 6_470] {
        assert_clean(seed);
    }
}

/// A source version is deleted only once no entry depends on it in the index either: an
/// upload that copied from a key the entry left lands, and the delete of that key waits for
/// the landed upload to be committed (a crash before would bring back the dependency on a
/// deleted version, and a rename back would take it for the entry's home).
#[test]
fn source_deleted_only_after_the_landed_upload_is_committed() {
    assert_clean(76_744);
}

/// An attempt that landed unseen (a crash took the answer) before the entry left its key and
/// came back is recognised by the token its claim keeps: the entry's base becomes that
/// version, and no conflict copy with missing bytes is made of the entry's own upload.
#[test]
fn own_version_found_back_at_a_key_is_no_conflict() {
    assert_clean(58_580);
}

/// An entry unlinked and closed while fetches of its base were out (readahead), whose own
/// unlink then deleted the object: the fetches' "not found" does not invalidate the dropped
/// entry (it kept dirty bytes past the size an invalidation sets).
#[test]
fn dropped_entry_is_not_invalidated() {
    assert_clean(113_027);
}

/// Model fixes around conflicts during a rename: the conflict of the entry a rename replaces
/// is that entry's own (143384), the rename's source keeps an outside writer's version when
/// the conflict moves the lineage (157453), and an upload's intent is its upload record, not
/// a delete record that keeps its token (845).
#[test]
fn conflicts_and_renames_in_the_model() {
    for seed in [143_384, 157_453, 845] {
        assert_clean(seed);
    }
}

/// A version recognised by its token may be an earlier attempt's (even one sent before a
/// crash, with bytes the entry no longer knows of): the chunks the answered attempt copied
/// server-side say nothing about it, so they are fetched again, not kept (29864, under a
/// tight memory budget). The memory check allows one body as large as the largest file
/// (133796).
#[test]
fn chunks_copied_by_an_attempt_not_answered_are_not_kept() {
    for seed in [29_864, 133_796] {
        assert_clean(seed);
    }
}

/// A multipart upload that waited for memory, woken after its attempt failed and the next
/// one had asked the server for its parts, asked a second time; the second answer threw
/// away a part recorded since and the upload completed without it. A waiter now wakes only
/// its own attempt, and a listing answered twice is taken once (71244).
#[test]
fn a_parts_listing_asked_twice_is_taken_once() {
    assert_clean(71_244);
}

/// Swaps of two files through a third name (each target key then holds the other's source):
/// one entry of the cycle materializes, one chunk at a time, pinned against eviction while it
/// does (103256); a chunk held in memory on a full disk makes it wait for space as writers do,
/// instead of being fetched and dropped again and again ahead of the reads behind it (7040,
/// 4160, 6364, 105218).
#[test]
fn swaps_by_renames_settle() {
    for seed in [103_256, 7_040, 4_160, 6_364, 105_218] {
        assert_clean(seed);
    }
}

/// A failed write makes the model learn the file again; what it reads then is not durable:
/// a crash may still bring back the size of the last fsync (a model fix, 4724).
#[test]
fn a_file_learnt_again_after_a_failed_write_keeps_its_durable_sizes() {
    assert_clean(4_724);
}

/// Stat of a key the cache never held, then an unlink of it: what the stat learnt was kept
/// after the delete ran, so a later stat showed the deleted file (1472, 1624, 3615, 4001).
#[test]
fn a_stat_after_an_unlink_of_a_key_never_held_says_not_found() {
    for seed in [1_472, 1_624, 3_615, 4_001] {
        assert_clean(seed);
    }
}

/// An upload record whose attempt may have landed unseen (it has a token) is kept when the
/// entry comes back to its base's content (a truncate-on-open to the base's size), in the
/// running core (26770, 11578, 26423) and at recovery (37984, 37205): otherwise the version that
/// attempt stored stays at the key, unknown, and a later unlink or upload takes it for
/// another writer's.
#[test]
fn an_attempted_upload_is_kept_when_the_entry_returns_to_its_base() {
    for seed in [26_770, 11_578, 26_423, 37_984, 37_205] {
        assert_clean(seed);
    }
}

/// A multipart upload whose last part's end was noticed twice sent two Completes; the second
/// landed after the key's journaled delete had run, leaving the unlinked file in the bucket.
#[test]
fn complete_is_sent_once_per_attempt() {
    assert_clean(12_081);
}

/// An open with truncate waits for its truncate; the entry became a conflict copy meanwhile:
/// the open (its handle and its truncate) follows the entry to the copy, as open handles do
/// (a model fix; the core was consistent).
#[test]
fn an_open_with_truncate_follows_its_entry_into_a_conflict_copy() {
    assert_clean(42_669);
}

/// A checker false positive: an upload's success marks clean, with the CRC it sent, a chunk a
/// failed write (ENOSPC, a prefix landed) has overwritten in part since. The core checks such
/// a chunk by its CRC before using it; the disk counts the bytes a failed write left as
/// suspect, as after a crash.
#[test]
fn clean_chunk_over_a_failed_write() {
    assert_clean(18_789);
}
