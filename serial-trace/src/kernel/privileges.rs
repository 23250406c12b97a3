//! What the process may do: capabilities for BPF, and the memlock limit.

use anyhow::{Result, bail};

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Effective capability mask from `/proc/self/status`.
fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

fn has(caps: u64, cap: u32) -> bool {
    caps & (1 << cap) != 0
}

/// True when this process can load and attach tracing programs.
pub fn can_trace() -> bool {
    let caps = effective_caps();
    has(caps, CAP_SYS_ADMIN) || (has(caps, CAP_BPF) && has(caps, CAP_PERFMON))
}

/// Fails with one clear line when the process cannot load BPF tracing programs.
pub fn require_tracing(what: &str) -> Result<()> {
    if can_trace() {
        return Ok(());
    }
    bail!(
        "{what} needs root, or the capabilities CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8) plus read access to tracefs; run it with sudo"
    )
}

/// Raises RLIMIT_MEMLOCK where possible. Kernels since 5.11 charge BPF memory to the memory
/// cgroup and ignore the limit, so failing to raise it is only worth a warning on older ones.
pub fn raise_memlock() -> Option<String> {
    let rlim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) } == 0 {
        return None;
    }
    let err = std::io::Error::last_os_error();
    let release = crate::kernel::sysinfo::kernel_release();
    if kernel_at_least(&release, 5, 11) {
        return None;
    }
    Some(format!(
        "could not raise RLIMIT_MEMLOCK ({err}); kernel {release} may refuse large BPF maps — try a smaller --buffer-size or `ulimit -l unlimited`"
    ))
}

/// `major.minor` of a release string like `6.12.41+deb13-amd64` is at least `(maj, min)`.
pub fn kernel_at_least(release: &str, maj: u32, min: u32) -> bool {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (a, b) >= (maj, min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_versions() {
        assert!(kernel_at_least("6.12.41+deb13-amd64", 5, 11));
        assert!(kernel_at_least("5.11.0", 5, 11));
        assert!(!kernel_at_least("5.10.0-35-amd64", 5, 11));
        assert!(!kernel_at_least("garbage", 5, 11));
    }
}
