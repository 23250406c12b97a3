//! clock-offset: prints CLOCK_BOOTTIME − CLOCK_MONOTONIC in nanoseconds. The two clocks differ
//! only by the time the kernel injected at resume for cycles in which timekeeping stopped, so
//! the difference of two readings around suspend cycles is exactly the time the kernel says it
//! slept (to the µs between the two clock reads): the VM checks hold the report's cycles'
//! `suspended_ns` to it. That sleep is not the wall time the RTC alarm asked for: x86 without a
//! nonstop clocksource injects what its second-resolution CMOS clock measured.

use serial_trace_workloads::clock_ns;

fn main() {
    let mono = clock_ns(libc::CLOCK_MONOTONIC);
    let boot = clock_ns(libc::CLOCK_BOOTTIME);
    println!("{}", boot - mono);
}
