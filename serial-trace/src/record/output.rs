//! The trace file on disk: created before anything is attached (so a bad path fails early),
//! mode 0600. An existing file is kept as `FILE.old`, as perf keeps `perf.data.old` (an older
//! `FILE.old` is replaced); `--force` overwrites it instead.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The new trace file, and where the previous one at its path was kept, if there was one.
pub fn create(path: &Path, force: bool) -> Result<(File, Option<PathBuf>)> {
    if path.is_dir() {
        bail!("output {} is a directory; give a file name", path.display());
    }
    let mut kept = None;
    if !force && std::fs::symlink_metadata(path).is_ok() {
        let old = old_path(path);
        if old.is_dir() {
            bail!(
                "{} exists and {} is a directory, so the previous recording cannot be kept; \
                 choose another -o or pass --force to overwrite it",
                path.display(),
                old.display()
            );
        }
        std::fs::rename(path, &old).with_context(|| {
            format!(
                "{} exists and cannot be kept as {}; choose another -o or pass --force to \
                 overwrite it",
                path.display(),
                old.display()
            )
        })?;
        kept = Some(old);
    }
    let mut o = OpenOptions::new();
    o.write(true).mode(0o600);
    if force {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    let file = o
        .open(path)
        .with_context(|| format!("cannot create output {}", path.display()))?;
    Ok((file, kept))
}

/// `FILE.old` for `FILE`.
pub fn old_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".old");
    PathBuf::from(name)
}

/// Bytes with an optional K/M/G suffix (powers of 1024), more than zero.
pub fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .with_context(|| format!("{s:?} is not a size like 4194304, 256K or 4M"))?;
    let bytes = n
        .checked_mul(mul)
        .with_context(|| format!("{s:?} is too large"))?;
    anyhow::ensure!(bytes > 0, "{s:?}: must be more than zero");
    Ok(bytes)
}

/// Parses `--buffer-size`: bytes with an optional K/M/G suffix; the kernel wants a power of two
/// multiple of the page size.
pub fn parse_buffer_size(s: &str) -> Result<u32> {
    let bytes = parse_size(s).context("--buffer-size")?;
    let page = page_size();
    if bytes < page || !bytes.is_power_of_two() || bytes > 1 << 30 {
        bail!(
            "--buffer-size must be a power of two between the page size ({page}) and 1G, got {bytes}; try {}",
            bytes.clamp(page, 1 << 30).next_power_of_two()
        );
    }
    Ok(bytes as u32)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_sizes() {
        assert_eq!(parse_buffer_size("4M").unwrap(), 4 << 20);
        assert_eq!(parse_buffer_size("256k").unwrap(), 256 << 10);
        assert_eq!(parse_buffer_size("65536").unwrap(), 65536);
        let e = parse_buffer_size("3000000").unwrap_err().to_string();
        assert!(e.contains("power of two") && e.contains("4194304"), "{e}");
        assert!(parse_buffer_size("lots").is_err());
        assert!(parse_buffer_size("16").is_err());
    }

    #[test]
    fn keeps_the_previous_recording_as_old_unless_forced() {
        let dir = std::env::temp_dir().join(format!("st-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.trace");
        let old = dir.join("t.trace.old");
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_file(&old);
        let (_, kept) = create(&p, false).unwrap();
        assert_eq!(kept, None);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&p, b"first").unwrap();
        let (_, kept) = create(&p, false).unwrap();
        assert_eq!(kept.as_deref(), Some(old.as_path()));
        assert_eq!(std::fs::read(&old).unwrap(), b"first");
        assert_eq!(std::fs::read(&p).unwrap(), b"");
        // a third run replaces the older .old, as perf does
        std::fs::write(&p, b"second").unwrap();
        create(&p, false).unwrap();
        assert_eq!(std::fs::read(&old).unwrap(), b"second");
        // --force overwrites and keeps nothing
        std::fs::write(&p, b"third").unwrap();
        let (_, kept) = create(&p, true).unwrap();
        assert_eq!(kept, None);
        assert_eq!(std::fs::read(&old).unwrap(), b"second");
        assert!(create(&dir, false).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
