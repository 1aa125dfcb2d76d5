//! Parsers for the value syntaxes the configuration accepts. Each returns the rule broken,
//! in words, on bad input.

use std::time::Duration;

/// A byte size: a whole number with an optional unit. `KiB MiB GiB TiB` and `K M G T` are
/// binary, `KB MB GB TB` decimal, `B` or no unit is bytes. `default_unit` multiplies a bare
/// number (1 for bytes, 1 MiB for `memory_limit`, which counts MiB like `--memory-limit`).
/// Splits `"64 MiB"` into `("64", "MiB")` (unit trimmed; either may be empty).
fn number_and_unit(text: &str) -> (&str, &str) {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    (digits, unit.trim())
}

pub(crate) fn size(text: &str, default_unit: u64) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = number_and_unit(text);
    let rule = || format!("must be a size such as 1048576, 512KiB, 64MiB or 4GiB (got {text:?})");
    if digits.is_empty() {
        return Err(rule());
    }
    let n: u64 = digits.parse().map_err(|_| rule())?;
    let mult: u64 = match unit {
        "" => default_unit,
        "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return Err(rule()),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("is too large (got {text:?})"))
}

/// A duration: a whole number with `ms`, `s`, `m` or `h`; a bare number is seconds.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = number_and_unit(text);
    let rule = || format!("must be a duration such as 500ms, 5s, 2m or 1h (got {text:?})");
    if digits.is_empty() {
        return Err(rule());
    }
    let n: u64 = digits.parse().map_err(|_| rule())?;
    let ms: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(rule()),
    };
    n.checked_mul(ms)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("is too large (got {text:?})"))
}

/// A boolean: `true` or `false` (YAML 1.2; `yes`/`no` are refused as ambiguous).
pub(crate) fn boolean(text: &str) -> Result<bool, String> {
    match text.trim() {
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        other => Err(format!("must be true or false (got {other:?})")),
    }
}

/// A whole number in `lo..=hi`.
pub(crate) fn integer(text: &str, lo: u64, hi: u64) -> Result<u64, String> {
    let rule = || {
        format!(
            "must be a whole number from {lo} to {hi} (got {:?})",
            text.trim()
        )
    };
    let n: u64 = text.trim().parse().map_err(|_| rule())?;
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(rule())
    }
}

/// A number of GiB (decimals allowed), returned in bytes, at least 64 MiB.
pub(crate) fn gibibytes(text: &str) -> Result<u64, String> {
    let rule = || {
        format!(
            "must be a number of GiB of at least 0.0625 (64 MiB), such as 10 or 0.5 (got {:?})",
            text.trim()
        )
    };
    let gb: f64 = text.trim().parse().map_err(|_| rule())?;
    // 1 EiB is far beyond any disk; it also keeps the conversion below exact enough.
    if !gb.is_finite() || !(0.0625..=1_073_741_824.0).contains(&gb) {
        return Err(rule());
    }
    Ok((gb * (1u64 << 30) as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(size("4096", 1), Ok(4096));
        assert_eq!(size("64KiB", 1), Ok(65536));
        assert_eq!(size("1 MiB", 1), Ok(1 << 20));
        assert_eq!(size("2G", 1), Ok(2 << 30));
        assert_eq!(size("1MB", 1), Ok(1_000_000));
        assert_eq!(size("1024", 1 << 20), Ok(1 << 30));
        assert!(size("1.5GiB", 1).is_err());
        assert!(size("MiB", 1).is_err());
        assert!(size("-1", 1).is_err());
        assert!(size("99999999999TiB", 1).is_err());
    }

    #[test]
    fn durations_take_ms_s_m_h() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(duration("1d").is_err());
        assert!(duration("soon").is_err());
    }

    #[test]
    fn booleans_are_strict() {
        assert_eq!(boolean("true"), Ok(true));
        assert_eq!(boolean("false"), Ok(false));
        assert!(boolean("yes").is_err());
    }

    #[test]
    fn gibibytes_allow_fractions_and_refuse_tiny_or_negative() {
        assert_eq!(gibibytes("10"), Ok(10 << 30));
        assert_eq!(gibibytes("0.5"), Ok(512 << 20));
        assert!(gibibytes("0.01").is_err());
        assert!(gibibytes("-3").is_err());
        assert!(gibibytes("NaN").is_err());
    }
}
