//! CRC32C (Castagnoli). Clean chunks carry it; a chunk whose bytes do not match is treated
//! as absent.
//!
//! The software version here is table-driven (slicing by 8). The core computes checksums
//! through [`Checksum`], which a driver may set to a hardware implementation (SSE4.2 or ARMv8
//! CRC instructions compute the same function an order of magnitude faster) without the core
//! taking a dependency. [`combine`] joins the checksums of adjacent pieces, so bytes that
//! were checksummed once, chunk by chunk, need not be read again for the checksum of a span.

use std::fmt;

const POLY: u32 = 0x82F6_3B78;
const SLICES: usize = 8;

const fn make_table() -> [[u32; 256]; SLICES] {
    let mut t = [[0u32; 256]; SLICES];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < SLICES {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static TABLE: [[u32; 256]; SLICES] = make_table();

/// Continues a CRC32C over `data` from a previous value (`0` to start).
pub fn extend(crc: u32, data: &[u8]) -> u32 {
    let t = &TABLE;
    let mut c = !crc;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let lo = c ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        let hi = u32::from_le_bytes([w[4], w[5], w[6], w[7]]);
        c = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in words.remainder() {
        c = (c >> 8) ^ t[0][((c ^ b as u32) & 0xff) as usize];
    }
    !c
}

/// The CRC32C of `data`.
pub fn checksum(data: &[u8]) -> u32 {
    extend(0, data)
}

/// `a * b` modulo the CRC polynomial, in the reflected bit order the CRC uses.
fn mul_mod(a: u32, mut b: u32) -> u32 {
    let mut m = 1u32 << 31;
    let mut p = 0;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
    p
}

/// `x^(8 * len)` modulo the polynomial: the operator that shifts a CRC over `len` zero bytes.
fn shift_operator(len: u64) -> u32 {
    // In the reflected order x^k is bit 31 - k; start from x^8 (one byte), squaring per bit.
    let mut power = 1u32 << 23;
    let mut result = 1u32 << 31; // x^0
    let mut n = len;
    while n != 0 {
        if n & 1 != 0 {
            result = mul_mod(power, result);
        }
        power = mul_mod(power, power);
        n >>= 1;
    }
    result
}

/// The CRC32C of `a ‖ b`, from the CRC32C of `a`, that of `b` and the length of `b`:
/// O(log len) work, no bytes read.
pub fn combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    mul_mod(shift_operator(len_b), crc_a) ^ crc_b
}

/// The checksum function the core uses: CRC32C, continued from a previous value (`0` to
/// start), as [`extend`] computes it. The default is [`extend`]; a driver supplies a hardware
/// implementation of the same function through `CoreConfig::checksum`.
#[derive(Clone, Copy)]
pub struct Checksum(pub fn(u32, &[u8]) -> u32);

impl Checksum {
    /// The CRC32C of `data`.
    pub fn of(&self, data: &[u8]) -> u32 {
        (self.0)(0, data)
    }
}

impl Default for Checksum {
    fn default() -> Self {
        Checksum(extend)
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Checksum(crc32c)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // RFC 3720 B.4 test vectors.
        assert_eq!(checksum(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(checksum(&[0xffu8; 32]), 0x62A8_AB43);
        let inc: Vec<u8> = (0u8..32).collect();
        assert_eq!(checksum(&inc), 0x46DD_794E);
        assert_eq!(checksum(b"123456789"), 0xE306_9283);
    }

    fn sample(n: u32) -> Vec<u8> {
        (0..n)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    }

    /// Slicing by 8 agrees with the bytewise definition at every length and alignment.
    #[test]
    fn sliced_equals_bytewise() {
        let data = sample(300);
        for start in 0..9 {
            for end in start..data.len() {
                let s = &data[start..end];
                let mut c = !0u32;
                for &b in s {
                    c = (c >> 8) ^ TABLE[0][((c ^ b as u32) & 0xff) as usize];
                }
                assert_eq!(checksum(s), !c, "bytes {start}..{end}");
            }
        }
    }

    #[test]
    fn extend_equals_whole() {
        let data = sample(1000);
        for split in [0, 1, 3, 4, 5, 8, 9, 500, 999, 1000] {
            let (a, b) = data.split_at(split);
            assert_eq!(extend(extend(0, a), b), checksum(&data));
        }
    }

    #[test]
    fn combine_equals_whole() {
        let data = sample(70_000);
        for split in [0, 1, 7, 8, 4096, 65_536, 69_999, 70_000] {
            let (a, b) = data.split_at(split);
            assert_eq!(
                combine(checksum(a), checksum(b), b.len() as u64),
                checksum(&data),
                "split at {split}"
            );
        }
    }
}
