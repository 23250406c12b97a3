//! Facts about the running system that go into the trace header.

use crate::trace::ClockAnchor;

fn uname() -> libc::utsname {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    unsafe { libc::uname(&mut u) };
    u
}

fn field(f: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = f
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub fn kernel_release() -> String {
    field(&uname().release)
}

pub fn kernel_version() -> String {
    field(&uname().version)
}

pub fn machine() -> String {
    field(&uname().machine)
}

pub fn hostname() -> String {
    field(&uname().nodename)
}

pub fn cpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

/// The three clocks read back to back.
pub fn clock_anchor() -> ClockAnchor {
    ClockAnchor {
        mono_ns: super::clock::clock_ns(libc::CLOCK_MONOTONIC),
        boot_ns: super::clock::clock_ns(libc::CLOCK_BOOTTIME),
        realtime_ns: super::clock::clock_ns(libc::CLOCK_REALTIME),
    }
}

/// The IRQ that woke the system from its last suspend (`/sys/power/pm_wakeup_irq`); `None`
/// where the file is absent or the kernel has none to report (it reads ENODATA then).
pub fn pm_wakeup_irq() -> Option<u32> {
    std::fs::read_to_string("/sys/power/pm_wakeup_irq")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// This process's peak resident set size in KiB (`getrusage(RUSAGE_SELF).ru_maxrss`).
pub fn max_rss_kb() -> Option<u64> {
    // SAFETY: zeroed rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to an rusage.
    (unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0).then_some(ru.ru_maxrss as u64)
}

/// Gives the heap's free memory back to the kernel (glibc keeps freed memory for reuse, so a
/// large structure freed early would otherwise stay resident for the whole recording).
pub fn release_freed_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks glibc's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// This process's resident set size now, in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
