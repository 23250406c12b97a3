//! timer-workload: sleeps in a loop and measures its own lateness — the ground truth that
//! serial-trace's timer numbers are checked against.
//!
//! One thread per (clock, api) pair. Each iteration asks for an absolute deadline `interval`
//! ahead on its clock, sleeps until it (`clock_nanosleep(TIMER_ABSTIME)` or a `timerfd` armed
//! with `TFD_TIMER_ABSTIME`), reads the clock again and logs lateness = woke − deadline. The
//! kernel arms an hrtimer whose soft expiry is exactly that deadline, so each logged wakeup can
//! be matched with the tracer's `hrtimer_start` by (tid, deadline).
//!
//! `--api epoll-pair` is the event-loop shape: one thread arms a timerfd, another waits for it
//! in `epoll_wait` and logs the wakeup under its own tid (the expiry wakes the waiter, not the
//! thread that armed the timer).
//!
//! stdout: one JSON summary line. `--log FILE`: one JSON line per wakeup.

use serial_trace_workloads::{clock_ns, timespec};
use std::io::Write;
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Api {
    Nanosleep,
    Timerfd,
    /// A timerfd armed by one thread and waited on in `epoll_wait` by another.
    EpollPair,
    /// An event loop's sleep: `epoll_wait` with a timeout in ms on an idle set, called again
    /// for the rest of the time after an early return (EINTR: the suspend freezer ends it).
    EpollTimeout,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::Nanosleep => "nanosleep",
            Api::Timerfd => "timerfd",
            Api::EpollPair => "epoll-pair",
            Api::EpollTimeout => "epoll-timeout",
        }
    }
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
    /// CLOCK_BOOTTIME − CLOCK_MONOTONIC when the sleep was asked (for `epoll-pair`, when the
    /// other thread armed it): more than a second below the same at wakeup, and the sleep
    /// spanned a suspend.
    asked_boot_minus_mono_ns: i64,
    /// `epoll-timeout` only: the relative timeout passed to the kernel, which adds it to its
    /// own, later clock read (a stall between ours and the kernel's moves its deadline later
    /// than `deadline_ns` by as much: seen 2.7 ms under TCG, an interrupt in between).
    #[serde(skip_serializing_if = "Option::is_none")]
    asked_ns: Option<i64>,
    /// The sleep asked at the clock read that computed `deadline_ns` (the interval): a tracer
    /// lists a wakeup as lost only when it came later than the sleep itself, so the checks
    /// expect a 400 ms sleep 100 ms late on its list no more than a 10 ms one 8 ms late.
    sleep_ns: i64,
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
    arm_timerfd(fd, deadline);
    let mut expirations = 0u64;
    while clock_ns(clock) < deadline {
        // SAFETY: reading 8 bytes into a u64.
        unsafe { libc::read(fd, (&mut expirations as *mut u64).cast(), 8) };
    }
}

fn timerfd(clock: libc::clockid_t) -> i32 {
    // SAFETY: plain timerfd_create.
    let fd = unsafe { libc::timerfd_create(clock, 0) };
    assert!(
        fd >= 0,
        "timerfd_create: {}",
        std::io::Error::last_os_error()
    );
    fd
}

fn arm_timerfd(fd: i32, deadline: i64) {
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
}

/// CLOCK_BOOTTIME − CLOCK_MONOTONIC now: grows by the time spent in suspend.
fn boot_minus_mono() -> i64 {
    let mono = clock_ns(libc::CLOCK_MONOTONIC);
    clock_ns(libc::CLOCK_BOOTTIME) - mono
}

fn wakeup(
    tid: i32,
    clock: libc::clockid_t,
    api: Api,
    (deadline, sleep_ns): (i64, i64),
    asked_offset: i64,
) -> Wakeup {
    let woke = clock_ns(clock);
    Wakeup {
        tid,
        clock: clock_name(clock),
        api: api.name(),
        deadline_ns: deadline,
        woke_ns: woke,
        woke_mono_ns: clock_ns(libc::CLOCK_MONOTONIC),
        woke_boot_ns: clock_ns(libc::CLOCK_BOOTTIME),
        late_ns: woke - deadline,
        asked_boot_minus_mono_ns: asked_offset,
        asked_ns: None,
        sleep_ns,
    }
}

/// The calling thread waits in `epoll_wait` on a timerfd that a second thread arms, one
/// deadline at a time (the next only after the waiter reported the last), and logs each wakeup
/// under its own tid.
fn run_epoll_pair(
    clock: libc::clockid_t,
    interval_ns: i64,
    phase_ns: i64,
    duration: Duration,
) -> Vec<Wakeup> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let fd = timerfd(clock);
    // SAFETY: plain epoll_create1; the event names our own fd.
    let epfd = unsafe { libc::epoll_create1(0) };
    assert!(
        epfd >= 0,
        "epoll_create1: {}",
        std::io::Error::last_os_error()
    );
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 0,
    };
    // SAFETY: valid epoll fd, timerfd and event.
    let rc = unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
    assert_eq!(rc, 0, "epoll_ctl: {}", std::io::Error::last_os_error());
    let deadline = Arc::new(AtomicI64::new(i64::MAX));
    let asked_offset = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let armer = {
        let (deadline, asked_offset, stop) = (deadline.clone(), asked_offset.clone(), stop.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            std::thread::sleep(Duration::from_nanos(phase_ns as u64));
            while start.elapsed() < duration {
                asked_offset.store(boot_minus_mono(), Ordering::SeqCst);
                let d = clock_ns(clock) + interval_ns;
                deadline.store(d, Ordering::SeqCst);
                arm_timerfd(fd, d);
                if done_rx.recv().is_err() {
                    return;
                }
            }
            // one last expiry, at once, releases the waiter
            stop.store(true, Ordering::SeqCst);
            arm_timerfd(fd, clock_ns(clock) + 1);
        })
    };
    let mut out = Vec::new();
    loop {
        let mut ready = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: one event slot; -1 waits until the timerfd is readable (EINTR: the freezer).
        let n = unsafe { libc::epoll_wait(epfd, &mut ready, 1, -1) };
        if n <= 0 {
            continue;
        }
        let mut expirations = 0u64;
        // SAFETY: reading 8 bytes into a u64 from our timerfd.
        unsafe { libc::read(fd, (&mut expirations as *mut u64).cast(), 8) };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let d = deadline.load(Ordering::SeqCst);
        let asked = asked_offset.load(Ordering::SeqCst);
        out.push(wakeup(tid, clock, Api::EpollPair, (d, interval_ns), asked));
        if done_tx.send(()).is_err() {
            break;
        }
    }
    armer.join().unwrap();
    // SAFETY: closing our own fds.
    unsafe {
        libc::close(epfd);
        libc::close(fd);
    }
    out
}

/// An event loop's timed wait: `epoll_wait` on a set where nothing becomes ready, with the
/// time left until the deadline rounded up to whole ms, again after an early return. The
/// kernel's deadline is its own clock read + the timeout, so the deadline logged is the last
/// call's clock read + its timeout (always CLOCK_MONOTONIC: epoll's timeout clock), with that
/// timeout (None: the deadline had passed, no wait was needed).
fn sleep_epoll(epfd: i32, deadline: i64) -> (i64, Option<i64>) {
    let mut asked = (deadline, None);
    loop {
        let now = clock_ns(libc::CLOCK_MONOTONIC);
        if now >= deadline {
            return asked;
        }
        let ms = (deadline - now + 999_999) / 1_000_000;
        asked = (now + ms * 1_000_000, Some(ms * 1_000_000));
        let mut ready = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: one event slot on our own epoll fd.
        unsafe { libc::epoll_wait(epfd, &mut ready, 1, ms as i32) };
    }
}

fn run_thread(
    clock: libc::clockid_t,
    api: Api,
    interval_ns: i64,
    phase_ns: i64,
    duration: Duration,
) -> Vec<Wakeup> {
    if api == Api::EpollPair {
        return run_epoll_pair(clock, interval_ns, phase_ns, duration);
    }
    let clock = if api == Api::EpollTimeout {
        libc::CLOCK_MONOTONIC
    } else {
        clock
    };
    // SAFETY: plain epoll_create1 (an empty set: only the timeout ends a wait).
    let epfd = if api == Api::EpollTimeout {
        unsafe { libc::epoll_create1(0) }
    } else {
        -1
    };
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let fd = if api == Api::Timerfd {
        timerfd(clock)
    } else {
        -1
    };
    let start = Instant::now();
    // Threads start out of phase so their wakeups do not collide: a thread switched in and
    // at once preempted by a woken sibling would measure the sibling's run time too.
    std::thread::sleep(Duration::from_nanos(phase_ns as u64));
    let mut out = Vec::new();
    while start.elapsed() < duration {
        let asked_offset = boot_minus_mono();
        let mut deadline = clock_ns(clock) + interval_ns;
        let mut asked_ns = None;
        match api {
            Api::Nanosleep => sleep_nanosleep(clock, deadline),
            Api::Timerfd => sleep_timerfd(fd, clock, deadline),
            Api::EpollTimeout => (deadline, asked_ns) = sleep_epoll(epfd, deadline),
            Api::EpollPair => unreachable!("run_epoll_pair"),
        }
        out.push(Wakeup {
            asked_ns,
            ..wakeup(tid, clock, api, (deadline, interval_ns), asked_offset)
        });
    }
    for fd in [fd, epfd] {
        if fd >= 0 {
            // SAFETY: closing our own fd.
            unsafe { libc::close(fd) };
        }
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

const USAGE: &str = "usage: timer-workload [--interval-us N (1000)] [--pair-interval-us N \
(--interval-us)] [--pairs N (1)] [--duration-s S (3)] [--clock monotonic|boottime|both]
[--api nanosleep|timerfd|epoll-pair|epoll-timeout|both|all] [--log FILE]
  both = nanosleep and timerfd; all = both, epoll-pair (a timerfd armed by one thread,
  waited on in epoll_wait by another) and epoll-timeout (epoll_wait's own timeout, in ms,
  always CLOCK_MONOTONIC). --pair-interval-us: the epoll-pair's own interval (an event
  loop's long timer: one armed when a suspend comes, unless its expiry falls into the
  freezer's sweep, and the two threads' round trip then lets the armer freeze first).
  --pairs N: N epoll-pairs per clock, their deadlines --pair-interval-us / N apart, so that
  at most one of them can be in that sweep when a suspend comes";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let interval_ns = parse(&args, "--interval-us", 1000i64) * 1000;
    let pair_interval_ns = parse(&args, "--pair-interval-us", interval_ns / 1000) * 1000;
    let pair_count = parse(&args, "--pairs", 1i64).max(1);
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
        "epoll-pair" => vec![Api::EpollPair],
        "epoll-timeout" => vec![Api::EpollTimeout],
        "both" => vec![Api::Nanosleep, Api::Timerfd],
        "all" => vec![
            Api::Nanosleep,
            Api::Timerfd,
            Api::EpollPair,
            Api::EpollTimeout,
        ],
        other => {
            eprintln!("timer-workload: unknown --api {other}\n{USAGE}");
            std::process::exit(2)
        }
    };
    // (clock, API, k-th of its kind: only epoll-pairs come more than once)
    let pairs: Vec<(libc::clockid_t, Api, i64)> = clocks
        .iter()
        .flat_map(|&c| apis.iter().map(move |&a| (c, a)))
        // epoll's timeout is always CLOCK_MONOTONIC: one such thread, not one per clock
        .filter(|&(c, a)| a != Api::EpollTimeout || c == clocks[0])
        .flat_map(|(c, a)| {
            let copies = if a == Api::EpollPair { pair_count } else { 1 };
            (0..copies).map(move |k| (c, a, k))
        })
        .collect();
    let n = pairs.len() as i64;
    let handles: Vec<_> = pairs
        .into_iter()
        .enumerate()
        .map(|(i, (c, a, k))| {
            let mut phase = interval_ns * i as i64 / n;
            let interval_ns = if a == Api::EpollPair {
                phase += pair_interval_ns * k / pair_count;
                pair_interval_ns
            } else {
                interval_ns
            };
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
