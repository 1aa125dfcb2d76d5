//! The modification time silt stores with an object: user metadata `x-amz-meta-mtime`, in
//! seconds since the Unix epoch, as s3fs and rclone write and read it. Written with up to
//! three decimals (silt keeps milliseconds); read with any number of decimals (rclone writes
//! nanoseconds), anything else ignored (the object's Last-Modified is used instead).

/// The metadata name (`x-amz-meta-mtime` on the wire).
pub const MTIME_METADATA: &str = "mtime";

/// `ms` as metadata: whole seconds, or seconds with three decimals.
pub fn format(ms: u64) -> String {
    match ms % 1000 {
        0 => (ms / 1000).to_string(),
        frac => format!("{}.{frac:03}", ms / 1000),
    }
}

/// The milliseconds a metadata value names, if it is a plain non-negative decimal number of
/// seconds that fits (digits, optionally a point and more digits); `None` for anything else.
pub fn parse(value: &str) -> Option<u64> {
    let value = value.trim();
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if secs.is_empty() || !digits(secs) || !digits(frac) {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let millis: u64 = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |acc, b| acc * 10 + u64::from(b - b'0'));
    secs.checked_mul(1000)?.checked_add(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_seconds_with_milliseconds_only_when_there_are_any() {
        assert_eq!(format(1_700_000_000_000), "1700000000");
        assert_eq!(format(1_700_000_000_007), "1700000000.007");
        assert_eq!(format(0), "0");
    }

    #[test]
    fn parses_what_s3fs_and_rclone_write_and_round_trips_its_own() {
        assert_eq!(parse("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse("1700000000.5"), Some(1_700_000_000_500));
        assert_eq!(parse("1700000000.123456789"), Some(1_700_000_000_123));
        assert_eq!(parse(" 12 "), Some(12_000));
        for ms in [0, 1, 999, 1000, 1_700_000_000_007, u64::MAX / 1000 * 1000] {
            assert_eq!(parse(&format(ms)), Some(ms), "{ms}");
        }
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            ".",
            ".5",
            "-1",
            "+1",
            "1e9",
            "12:00",
            "1.2.3",
            "0x10",
            "١٢٣",
            "99999999999999999999",
            "18446744073709552",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
