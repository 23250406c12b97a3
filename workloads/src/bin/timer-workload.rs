//! timer-workload: sleeps in a loop and measures its own lateness — the ground truth that
//! serial-trace's timer numbers are checked against.
//!
//! One thread per (clock, api) pair. Each iteration asks for an absolute deadline `interval`
//! ahead on its clock, sleeps until it (`clock_nanosleep(TIMER_ABSTIME)` or a `timerfd` armed
//! with `TFD_TIMER_ABSTIME`), reads the clock again and logs lateness = woke − deadline. The
//! kernel arms an hrtimer whose soft expiry is exactly that deadline, so each logged wakeup can
//! be matched with the tracer's `hrtimer_start` by (tid, deadline).
//!
//! stdout: one JSON summary line. `--log FILE`: one JSON line per wakeup.

use serial_trace_workloads::clock_ns;
use std::io::Write;
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Api {
    Nanosleep,
    Timerfd,
}

#[derive(Serialize, Clone)]
struct Wakeup {
    tid: i32,
    clock: &'static str,
    api: &'static str,
    /// Absolute deadline on `clock`.
    deadline_ns: i64,
    /// `clock` read after waking.
    woke_ns: i64,
    woke_mono_ns: i64,
    woke_boot_ns: i64,
    late_ns: i64,
}

#[derive(Serialize)]
struct Quantiles {
    p50: i64,
    p99: i64,
    max: i64,
}

impl Quantiles {
    fn of(mut v: Vec<i64>) -> Self {
        if v.is_empty() {
            return Self {
                p50: 0,
                p99: 0,
                max: 0,
            };
        }
        v.sort_unstable();
        let q = |p: f64| v[((v.len() - 1) as f64 * p) as usize];
        Self {
            p50: q(0.5),
            p99: q(0.99),
            max: v[v.len() - 1],
        }
    }
}

#[derive(Serialize)]
struct ThreadSummary {
    tid: i32,
    clock: &'static str,
    api: &'static str,
    wakeups: usize,
    lateness_ns: Quantiles,
}

#[derive(Serialize)]
struct Summary {
    pid: u32,
    wakeups: usize,
    lateness_ns: Quantiles,
    threads: Vec<ThreadSummary>,
}

fn timespec(ns: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: ns / 1_000_000_000,
        tv_nsec: ns % 1_000_000_000,
    }
}

fn clock_name(c: libc::clockid_t) -> &'static str {
    if c == libc::CLOCK_BOOTTIME {
        "boottime"
    } else {
        "monotonic"
    }
}

fn sleep_nanosleep(clock: libc::clockid_t, deadline: i64) {
    let ts = timespec(deadline);
    // An absolute sleep restarts with the same deadline after EINTR (e.g. the freezer).
    while clock_ns(clock) < deadline {
        // SAFETY: absolute sleep on a valid clock.
        unsafe { libc::clock_nanosleep(clock, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut()) };
    }
}

fn sleep_timerfd(fd: i32, clock: libc::clockid_t, deadline: i64) {
    let spec = libc::itimerspec {
        it_interval: timespec(0),
        it_value: timespec(deadline),
    };
    // SAFETY: fd is a timerfd we own; spec is valid.
    let rc =
        unsafe { libc::timerfd_settime(fd, libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut()) };
    assert_eq!(
        rc,
        0,
        "timerfd_settime: {}",
        std::io::Error::last_os_error()
    );
    let mut expirations = 0u64;
    while clock_ns(clock) < deadline {
        // SAFETY: reading 8 bytes into a u64.
        unsafe { libc::read(fd, (&mut expirations as *mut u64).cast(), 8) };
    }
}

fn run_thread(
    clock: libc::clockid_t,
    api: Api,
    interval_ns: i64,
    phase_ns: i64,
    duration: Duration,
) -> Vec<Wakeup> {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let fd = if api == Api::Timerfd {
        // SAFETY: plain timerfd_create.
        let fd = unsafe { libc::timerfd_create(clock, 0) };
        assert!(
            fd >= 0,
            "timerfd_create: {}",
            std::io::Error::last_os_error()
        );
        fd
    } else {
        -1
    };
    let start = Instant::now();
    // Threads start out of phase so their wakeups do not collide: a thread switched in and
    // at once preempted by a woken sibling would measure the sibling's run time too.
    std::thread::sleep(Duration::from_nanos(phase_ns as u64));
    let mut out = Vec::new();
    while start.elapsed() < duration {
        let deadline = clock_ns(clock) + interval_ns;
        match api {
            Api::Nanosleep => sleep_nanosleep(clock, deadline),
            Api::Timerfd => sleep_timerfd(fd, clock, deadline),
        }
        let woke = clock_ns(clock);
        out.push(Wakeup {
            tid,
            clock: clock_name(clock),
            api: if api == Api::Timerfd {
                "timerfd"
            } else {
                "nanosleep"
            },
            deadline_ns: deadline,
            woke_ns: woke,
            woke_mono_ns: clock_ns(libc::CLOCK_MONOTONIC),
            woke_boot_ns: clock_ns(libc::CLOCK_BOOTTIME),
            late_ns: woke - deadline,
        });
    }
    if fd >= 0 {
        // SAFETY: closing our own fd.
        unsafe { libc::close(fd) };
    }
    out
}

fn value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.windows(2)
        .find(|w| w[0] == name)
        .map(|w| w[1].as_str())
}

fn parse<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    value(args, name).map_or(default, |v| {
        v.parse().unwrap_or_else(|_| {
            eprintln!("timer-workload: {name}: cannot parse {v:?}");
            std::process::exit(2)
        })
    })
}

const USAGE: &str = "usage: timer-workload [--interval-us N (1000)] [--duration-s S (3)] \
[--clock monotonic|boottime|both] [--api nanosleep|timerfd|both] [--log FILE]";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let interval_ns = parse(&args, "--interval-us", 1000i64) * 1000;
    let duration = Duration::from_secs_f64(parse(&args, "--duration-s", 3.0f64));
    let clocks = match value(&args, "--clock").unwrap_or("monotonic") {
        "monotonic" => vec![libc::CLOCK_MONOTONIC],
        "boottime" => vec![libc::CLOCK_BOOTTIME],
        "both" => vec![libc::CLOCK_MONOTONIC, libc::CLOCK_BOOTTIME],
        other => {
            eprintln!("timer-workload: unknown --clock {other}\n{USAGE}");
            std::process::exit(2)
        }
    };
    let apis = match value(&args, "--api").unwrap_or("nanosleep") {
        "nanosleep" => vec![Api::Nanosleep],
        "timerfd" => vec![Api::Timerfd],
        "both" => vec![Api::Nanosleep, Api::Timerfd],
        other => {
            eprintln!("timer-workload: unknown --api {other}\n{USAGE}");
            std::process::exit(2)
        }
    };
    let pairs: Vec<(libc::clockid_t, Api)> = clocks
        .iter()
        .flat_map(|&c| apis.iter().map(move |&a| (c, a)))
        .collect();
    let n = pairs.len() as i64;
    let handles: Vec<_> = pairs
        .into_iter()
        .enumerate()
        .map(|(i, (c, a))| {
            let phase = interval_ns * i as i64 / n;
            std::thread::spawn(move || run_thread(c, a, interval_ns, phase, duration))
        })
        .collect();
    let per_thread: Vec<Vec<Wakeup>> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    if let Some(path) = value(&args, "--log") {
        let f = std::fs::File::create(path).unwrap_or_else(|e| {
            eprintln!("timer-workload: cannot create {path}: {e}");
            std::process::exit(1)
        });
        let mut w = std::io::BufWriter::new(f);
        for wk in per_thread.iter().flatten() {
            serde_json::to_writer(&mut w, wk).unwrap();
            w.write_all(b"\n").unwrap();
        }
        w.flush().unwrap();
    }
    let all: Vec<i64> = per_thread.iter().flatten().map(|w| w.late_ns).collect();
    let summary = Summary {
        pid: std::process::id(),
        wakeups: all.len(),
        lateness_ns: Quantiles::of(all),
        threads: per_thread
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| ThreadSummary {
                tid: t[0].tid,
                clock: t[0].clock,
                api: t[0].api,
                wakeups: t.len(),
                lateness_ns: Quantiles::of(t.iter().map(|w| w.late_ns).collect()),
            })
            .collect(),
    };
    println!("{}", serde_json::to_string(&summary).unwrap());
}
