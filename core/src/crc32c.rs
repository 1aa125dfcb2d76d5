//! CRC32C (Castagnoli), table-driven. Clean chunks carry it; a chunk whose bytes do not
//! match is treated as absent.

const POLY: u32 = 0x82F6_3B78;

const fn make_table() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
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
        while s < 4 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static TABLE: [[u32; 256]; 4] = make_table();

/// Continues a CRC32C over `data` from a previous value (`0` to start).
pub fn extend(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    let mut chunks = data.chunks_exact(4);
    for w in &mut chunks {
        c ^= u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        c = TABLE[3][(c & 0xff) as usize]
            ^ TABLE[2][((c >> 8) & 0xff) as usize]
            ^ TABLE[1][((c >> 16) & 0xff) as usize]
            ^ TABLE[0][(c >> 24) as usize];
    }
    for &b in chunks.remainder() {
        c = (c >> 8) ^ TABLE[0][((c ^ b as u32) & 0xff) as usize];
    }
    !c
}

/// The CRC32C of `data`.
pub fn checksum(data: &[u8]) -> u32 {
    extend(0, data)
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

    #[test]
    fn extend_equals_whole() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        for split in [0, 1, 3, 4, 5, 500, 999, 1000] {
            let (a, b) = data.split_at(split);
            assert_eq!(extend(extend(0, a), b), checksum(&data));
        }
    }
}
