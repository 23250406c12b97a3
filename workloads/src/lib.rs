//! What the workloads (and the host tests that drive them) share: reading a clock.

/// `clock_gettime(clock)` in nanoseconds.
pub fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out pointer; an invalid clock id leaves it zero.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    // `time_t` and `long` are 32-bit on 32-bit ARM (a no-op conversion on 64-bit)
    #[allow(clippy::useless_conversion)]
    let ns = i64::from(ts.tv_sec) * 1_000_000_000 + i64::from(ts.tv_nsec);
    ns
}

/// A `timespec` of `ns` nanoseconds. `time_t` and `long` are 32-bit on 32-bit ARM (the casts
/// are no-ops on 64-bit).
#[allow(clippy::unnecessary_cast)]
pub fn timespec(ns: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    }
}
