//! Per-seed options. One PRNG derives every parameter from the seed, so seeds explore a
//! swarm of configurations (tiny caches, flaky servers, many crashes, none) rather than one.

use silt_core::{CoreConfig, Rng};
use std::fmt;
use std::time::Duration;

/// Everything one run is parameterised by; printed in the trace banner.
#[derive(Clone, Debug)]
pub struct Options {
    /// The seed.
    pub seed: u64,
    /// Workload operations in the faulty (safety) phase.
    pub ops: u32,
    /// Keys the workload uses.
    pub keys: u32,
    /// Keys that exist remotely before the run.
    pub preexisting: u32,
    /// Largest write, bytes.
    pub write_max: u64,
    /// Largest file size the workload aims for, bytes.
    pub file_max: u64,
    /// Crash probability per workload operation, per mille.
    pub crash_per_mille: u32,
    /// Outside-writer probability per workload operation, per mille.
    pub outside_per_mille: u32,
    /// Remote transient-error probability, per mille.
    pub remote_error_per_mille: u32,
    /// Remote timeout probability (applied or not, then an error), per mille.
    pub remote_timeout_per_mille: u32,
    /// Remote latency bounds, ms.
    pub remote_latency_ms_max: u64,
    /// Disk capacity, bytes (ENOSPC beyond).
    pub disk_capacity: u64,
    /// The server ignores `If-Match` on GET (like s3s-fs).
    pub ignore_get_if_match: bool,
    /// The server ignores conditions on CompleteMultipartUpload (like moto).
    pub ignore_complete_condition: bool,
    /// The server ignores conditions on every write.
    pub ignore_write_conditions: bool,
    /// At the first restart the server starts refusing gaps in part numbers, and the cache
    /// comes back with `coalesce_copies` off (as a mount whose probe got the new answer):
    /// uploads begun with coalesced copies must still finish.
    pub gaps_refused_after_restart: bool,
    /// The core's configuration.
    pub core: CoreConfig,
    /// Concurrent readers beside the main client.
    pub readers: u32,
}

impl Options {
    /// Derives all options from `seed`.
    pub fn from_seed(seed: u64) -> Options {
        let mut r = Rng::new(seed ^ 0x5151_7A7A_0000_0001);
        let mut pick = |n: u64| r.below(n);
        let chunk_size = [64u64, 256, 1024][pick(3) as usize];
        let min_part_size = chunk_size * (1 + pick(3));
        let file_max = chunk_size * (2 + pick(24));
        let write_max = [16u64, 200, chunk_size, 3 * chunk_size][pick(4) as usize];
        let budget = match pick(4) {
            0 => chunk_size * (4 + pick(8)),
            _ => file_max * 64,
        };
        let quirk = pick(6);
        // A quarter of the seeds run with a tight memory budget (a few chunks: fetches, parts
        // and read buffers wait for room), drawn from nothing so that the other options of a
        // seed stay what they were.
        let tight_memory = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) % 4 == 3;
        let memory_limit = if tight_memory {
            chunk_size * (2 + seed % 4)
        } else {
            chunk_size * 256
        };
        // Half the seeds coalesce unchanged parts into one copy (gaps in part numbers, which
        // the simulated store accepts as S3 does), drawn from nothing as above.
        let coalesce_copies = (seed.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 61) % 2 == 1;
        let gaps_refused_after_restart =
            coalesce_copies && (seed.wrapping_mul(0xC2B2_AE3D_27D4_EB4F) >> 60) % 4 == 0;
        // How long an open file's upload waits for a pause in its writes: none for a third of
        // the seeds, up to 600 ms for the rest, drawn from nothing as above.
        let pause_draw = seed.wrapping_mul(0xA24B_AED4_963E_E407) >> 40;
        let open_upload_pause = Duration::from_millis(match pause_draw % 3 {
            0 => 0,
            _ => (pause_draw >> 2) % 600,
        });
        let core = CoreConfig {
            chunk_size,
            min_part_size,
            multipart_threshold: min_part_size * (1 + pick(3)),
            coalesce_copies,
            max_concurrent_uploads: 1 + pick(4) as usize,
            max_parts_in_flight: 1 + pick(3) as usize,
            max_concurrent_fetches: 1 + pick(8) as usize,
            // Readahead scaled to the small chunks, drawn from nothing so that the other
            // options of a seed stay what they were.
            readahead_initial: chunk_size + chunk_size / 8,
            readahead_max: chunk_size * 8,
            read_buffer_limit: (chunk_size * 12).min(memory_limit / 2),
            memory_limit,
            stat_ttl: Duration::from_millis(1000),
            // Small, so that some renames of a directory answer EXDEV.
            dir_rename_limit: 6,
            write_back_delay: Duration::from_millis(pick(400)),
            open_upload_pause,
            commit_interval: Duration::from_millis(50 + pick(1000)),
            retry_initial: Duration::from_millis(10 + pick(100)),
            retry_max: Duration::from_millis(1000 + pick(5000)),
            cache_budget: budget,
            high_watermark_pct: 90,
            low_watermark_pct: 70,
            dirty_limit: budget / 4 * 3,
            write_wait_timeout: Duration::from_millis(500 + pick(3000)),
            min_free_space: 0,
            conditional_put: quirk != 0,
            conditional_complete: quirk > 1,
            seed: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            instance_id: seed | 1 << 63,
            checksum: Default::default(),
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        };
        Options {
            seed,
            ops: 150 + pick(250) as u32,
            keys: 2 + pick(5) as u32,
            preexisting: pick(4) as u32,
            write_max,
            file_max,
            crash_per_mille: [0, 5, 15, 40][pick(4) as usize],
            outside_per_mille: [0, 0, 5, 20][pick(4) as usize],
            remote_error_per_mille: [0, 20, 100][pick(3) as usize],
            remote_timeout_per_mille: [0, 10, 50][pick(3) as usize],
            remote_latency_ms_max: [5, 50, 300][pick(3) as usize],
            disk_capacity: match pick(4) {
                0 => file_max * 3,
                _ => u64::MAX / 4,
            },
            ignore_get_if_match: pick(2) == 0,
            ignore_complete_condition: quirk == 1,
            ignore_write_conditions: quirk == 0,
            gaps_refused_after_restart,
            readers: pick(3) as u32,
            core,
        }
    }
}

impl fmt::Display for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.core;
        write!(
            f,
            "seed={} ops={} keys={} preexisting={} write_max={} file_max={} crash={}‰ outside={}‰ \
             remote_error={}‰ remote_timeout={}‰ remote_latency_ms_max={} disk_capacity={} \
             ignore_get_if_match={} ignore_complete_condition={} ignore_write_conditions={} gaps_refused_after_restart={} readers={} \
             chunk_size={} min_part_size={} multipart_threshold={} coalesce_copies={} uploads={} parts={} fetches={} \
             write_back_delay_ms={} open_upload_pause_ms={} commit_interval_ms={} retry_ms={}..{} budget={} dirty_limit={} memory_limit={}",
            self.seed,
            self.ops,
            self.keys,
            self.preexisting,
            self.write_max,
            self.file_max,
            self.crash_per_mille,
            self.outside_per_mille,
            self.remote_error_per_mille,
            self.remote_timeout_per_mille,
            self.remote_latency_ms_max,
            self.disk_capacity,
            self.ignore_get_if_match,
            self.ignore_complete_condition,
            self.ignore_write_conditions,
            self.gaps_refused_after_restart,
            self.readers,
            c.chunk_size,
            c.min_part_size,
            c.multipart_threshold,
            c.coalesce_copies,
            c.max_concurrent_uploads,
            c.max_parts_in_flight,
            c.max_concurrent_fetches,
            c.write_back_delay.as_millis(),
            c.open_upload_pause.as_millis(),
            c.commit_interval.as_millis(),
            c.retry_initial.as_millis(),
            c.retry_max.as_millis(),
            c.cache_budget,
            c.dirty_limit,
            c.memory_limit,
        )
    }
}
