//! A mount point that something is mounted on already is refused: Linux would stack the
//! new mount over the old one and hide it, which is never what a user meant (a second
//! `silt` on the same directory, a mount left from before).

use anyhow::bail;
use std::path::Path;

/// Fails when `mountpoint` is a mount point now (Linux: `/proc/self/mountinfo`), naming
/// what is mounted there. Elsewhere, and when the table cannot be read, it passes.
pub fn check(mountpoint: &Path) -> anyhow::Result<()> {
    let Ok(path) = std::fs::canonicalize(mountpoint) else {
        return Ok(());
    };
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Ok(());
    };
    if let Some(what) = mounted_at(&table, &path.to_string_lossy()) {
        bail!(
            "mount point {} is busy: {what} is mounted there already; unmount it first (umount {}) or choose another directory",
            mountpoint.display(),
            mountpoint.display()
        );
    }
    Ok(())
}

/// What `table` (mountinfo lines) has mounted at `path`: "TYPE SOURCE" of the last
/// (topmost) mount there.
fn mounted_at(table: &str, path: &str) -> Option<String> {
    table.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let at = unescape(fields.get(4)?);
        let dash = fields.iter().position(|f| *f == "-")?;
        let fstype = fields.get(dash + 1)?;
        let source = unescape(fields.get(dash + 2)?);
        (at == path).then(|| format!("{fstype} {source}"))
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
36 22 0:32 / /mnt/my\\040data rw,nosuid shared:9 - fuse.silt demo rw,user_id=0
37 22 0:33 / /mnt/plain rw - tmpfs tmpfs rw
";

    #[test]
    fn mounts_are_found_by_their_unescaped_path() {
        assert_eq!(
            mounted_at(TABLE, "/mnt/my data"),
            Some("fuse.silt demo".to_string())
        );
        assert_eq!(
            mounted_at(TABLE, "/mnt/plain"),
            Some("tmpfs tmpfs".to_string())
        );
        assert_eq!(mounted_at(TABLE, "/mnt"), None);
        assert_eq!(unescape("a\\134b\\011"), "a\\b\t");
    }

    #[test]
    fn a_plain_directory_is_not_busy() {
        let dir = tempfile::tempdir().expect("tempdir");
        check(dir.path()).expect("not busy");
    }
}
