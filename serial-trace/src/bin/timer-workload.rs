//! timer-workload: a test workload that sleeps in a loop and measures its own lateness, the
//! ground truth the tracer's timer numbers are checked against.
//!
//! `timer-workload [--interval-us N] [--duration-s S] [--clock monotonic|boottime]`
//! Prints one JSON line at the end: pid, clock, wakeups and lateness percentiles (ns), where
//! lateness = the clock read on wakeup − the absolute deadline it asked for.

use std::time::{Duration, Instant};

fn now(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

fn sleep_until(clock: libc::clockid_t, deadline_ns: i64) {
    let ts = libc::timespec {
        tv_sec: deadline_ns / 1_000_000_000,
        tv_nsec: deadline_ns % 1_000_000_000,
    };
    // SAFETY: absolute sleep on a valid clock; EINTR just ends this sleep early.
    unsafe { libc::clock_nanosleep(clock, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut()) };
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.windows(2)
        .find(|w| w[0] == name)
        .map(|w| {
            w[1].parse()
                .unwrap_or_else(|_| panic!("{name}: cannot parse {:?}", w[1]))
        })
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "usage: timer-workload [--interval-us N] [--duration-s S] [--clock monotonic|boottime]"
        );
        return;
    }
    let interval_ns = arg(&args, "--interval-us", 1000i64) * 1000;
    let duration = Duration::from_secs_f64(arg(&args, "--duration-s", 3.0f64));
    let clock_name: String = arg(&args, "--clock", "monotonic".to_string());
    let clock = match clock_name.as_str() {
        "monotonic" => libc::CLOCK_MONOTONIC,
        "boottime" => libc::CLOCK_BOOTTIME,
        other => panic!("unknown --clock {other}"),
    };
    let start = Instant::now();
    let mut late = Vec::new();
    while start.elapsed() < duration {
        let deadline = now(clock) + interval_ns;
        sleep_until(clock, deadline);
        late.push(now(clock) - deadline);
    }
    late.sort_unstable();
    let q = |p: f64| late[((late.len() - 1) as f64 * p) as usize];
    println!(
        "{{\"pid\":{},\"clock\":\"{}\",\"wakeups\":{},\"lateness_ns\":{{\"p50\":{},\"p99\":{},\"max\":{}}}}}",
        std::process::id(),
        clock_name,
        late.len(),
        q(0.5),
        q(0.99),
        late[late.len() - 1]
    );
}
