//! The checksum function handed to the core: CRC32C from the `crc32c` crate, which uses the
//! SSE4.2 or ARMv8 CRC instructions when the CPU has them (detected at run time) and a
//! software fallback otherwise. Same function as the core's table version, faster.

use silt_core::crc32c::Checksum;

/// The production CRC32C for `CoreConfig::checksum`.
pub fn hardware_crc32c() -> Checksum {
    Checksum(crc32c::crc32c_append)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_the_core_table_version() {
        let data: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let hw = hardware_crc32c();
        for (start, end) in [(0, 0), (0, 1), (3, 4100), (7, 100_000)] {
            let s = &data[start..end];
            assert_eq!(hw.of(s), silt_core::crc32c::checksum(s), "{start}..{end}");
            assert_eq!(
                (hw.0)(hw.of(&s[..s.len() / 2]), &s[s.len() / 2..]),
                silt_core::crc32c::checksum(s)
            );
        }
    }
}
