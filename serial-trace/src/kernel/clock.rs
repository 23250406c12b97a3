//! The kernel's clocks, read the way the eBPF programs read them.

pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec; the clocks used here always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// CLOCK_MONOTONIC in nanoseconds (stops during suspend; what bpf_ktime_get_ns returns).
pub fn mono_now_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CLOCK_BOOTTIME in nanoseconds (keeps counting through suspend; bpf_ktime_get_boot_ns).
pub fn boot_now_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME)
}
