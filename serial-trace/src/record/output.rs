//! The trace file on disk: created before anything is attached (so a bad path fails early),
//! mode 0600, never silently overwritten.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

pub fn create(path: &Path, force: bool) -> Result<File> {
    if path.is_dir() {
        bail!("output {} is a directory; give a file name", path.display());
    }
    let mut o = OpenOptions::new();
    o.write(true).mode(0o600);
    if force {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    o.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} already exists; choose another -o or pass --force to overwrite it",
                path.display()
            )
        } else {
            anyhow::Error::new(e).context(format!("cannot create output {}", path.display()))
        }
    })
}

/// Parses `--buffer-size`: bytes with an optional K/M/G suffix; the kernel wants a power of two
/// multiple of the page size.
pub fn parse_buffer_size(s: &str) -> Result<u32> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .with_context(|| format!("--buffer-size: {s:?} is not a size like 4194304, 256K or 4M"))?;
    let bytes = n.checked_mul(mul).context("--buffer-size is too large")?;
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
    fn refuses_to_overwrite_without_force() {
        let dir = std::env::temp_dir().join(format!("st-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.trace");
        let _ = std::fs::remove_file(&p);
        create(&p, false).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let e = create(&p, false).unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");
        create(&p, true).unwrap();
        assert!(create(&dir, false).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
