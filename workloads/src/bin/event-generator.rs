//! A deterministic event source for loss accounting: `--count N` arms a timerfd one hour ahead
//! and disarms it again, N times; the timer never expires.
//!
//! With `--alarm` the timerfd is a CLOCK_BOOTTIME_ALARM one (needs CAP_WAKE_ALARM): each
//! `timerfd_settime` first tries to cancel the alarm (`alarmtimer_cancel`, traced on every try),
//! arming adds `alarmtimer_start`, and closing the timerfd cancels once more. Nothing else on an
//! ordinary system uses alarm timers, so a recorder of the `alarmtimer` hooks alone (no task
//! filter) sees exactly these events and no other: `3·N + 1`. (Plain hrtimers are no good for
//! this: a scheduler tick re-armed in interrupt context is traced as `hrtimer_start` of
//! whichever task it interrupted.)
//!
//! With `--rate R --seconds S` (the benchmark's loss test) it paces itself to R events a second
//! for S seconds, or as fast as it can when it cannot keep up; `rounds` then says how many it
//! made. A round there is one `timerfd_settime` that moves the armed timer between an hour
//! and an hour and a second ahead: the kernel cancels the queued timer and starts it again,
//! two events (`hrtimer_cancel`, `hrtimer_start`) for one system call, where arming and
//! disarming takes two. The generator's own work per event is halved, so that on a small
//! machine the search reaches the tracer's limit before the generator's (plus one arm at the
//! start and one cancel at the close).
//!
//! With `--timers N` it arms N timerfds one hour ahead, all open at once (N distinct kernel
//! timers: more than a state map of the recorder holds), in child processes of at most 4,000
//! each, then closes them; `timers` says how many.
//!
//! With `--threads T` the rounds (or the rate) are shared among T threads, each with a timerfd
//! of its own: one thread on a 2-CPU machine makes about 1.7 M events/s under a tracer, less
//! than a tracer's ring may take, so the benchmark's zero-loss search runs one per CPU.
//!
//! With `--cpu C` it runs on CPU C only: a tracer's cost per event can depend on the CPU (a
//! classic tracepoint's perf event, opened on CPU 0 by bpftrace and aya, adds perf's own work
//! to every hit there), so the benchmark runs its repetitions on each CPU in turn.
//!
//! Prints `{"rounds": N, "alarm": bool, "timers": N, "threads": T, "start_boot_ns", "end_boot_ns"}`.

use std::io::Error;

use serial_trace_workloads::{clock_ns, timespec};

fn settime(fd: i32, secs: i64) -> Result<(), Error> {
    let its = libc::itimerspec {
        it_interval: timespec(0),
        it_value: timespec(secs * 1_000_000_000),
    };
    // SAFETY: valid fd and itimerspec; the old value is not wanted.
    if unsafe { libc::timerfd_settime(fd, 0, &its, std::ptr::null_mut()) } != 0 {
        return Err(Error::last_os_error());
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut rounds: u64 = 100_000;
    let mut alarm = false;
    let mut rate: Option<f64> = None;
    let mut seconds = 10.0f64;
    let mut timers: usize = 0;
    let mut threads: usize = 1;
    let mut cpu: Option<usize> = None;
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--alarm" => alarm = true,
            "--count" => rounds = value() as u64,
            "--rate" => rate = Some(value()),
            "--seconds" => seconds = value(),
            "--timers" => timers = value() as usize,
            "--threads" => threads = (value() as usize).max(1),
            "--cpu" => cpu = Some(value() as usize),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    if let Some(cpu) = cpu {
        pin_to(cpu);
    }
    let clock = if alarm {
        libc::CLOCK_BOOTTIME_ALARM
    } else {
        libc::CLOCK_MONOTONIC
    };
    let start = clock_ns(libc::CLOCK_BOOTTIME);
    if timers > 0 {
        rounds = 0;
        many_timers(clock, timers);
    } else {
        // each thread its share of the rounds (or of the rate), on a timerfd of its own
        let share =
            |i: usize| rounds / threads as u64 + u64::from((i as u64) < rounds % threads as u64);
        rounds = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|i| {
                    let n = share(i);
                    s.spawn(move || match rate {
                        None => {
                            let round = rounder(clock);
                            (0..n).for_each(|_| round());
                            n
                        }
                        Some(rate) => {
                            paced(rate / 2.0 / threads as f64, seconds, start, rearmer(clock))
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a generator thread panicked"))
                .sum()
        });
    }
    let end = clock_ns(libc::CLOCK_BOOTTIME);
    println!(
        "{{\"rounds\":{rounds},\"alarm\":{alarm},\"timers\":{timers},\"threads\":{threads},\"start_boot_ns\":{start},\"end_boot_ns\":{end}}}"
    );
}

/// A timerfd of `clock` for the caller.
fn timerfd(clock: libc::clockid_t) -> i32 {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::timerfd_create(clock, libc::TFD_CLOEXEC) };
    if fd < 0 {
        eprintln!(
            "event-generator: timerfd_create: {}",
            Error::last_os_error()
        );
        std::process::exit(1);
    }
    fd
}

fn settime_or_exit(fd: i32, secs: i64) {
    if let Err(e) = settime(fd, secs) {
        eprintln!("event-generator: timerfd_settime: {e}");
        std::process::exit(1);
    }
}

/// One round on a timerfd of `clock` created for the caller: arm it an hour ahead, disarm it.
fn rounder(clock: libc::clockid_t) -> impl Fn() {
    let fd = timerfd(clock);
    move || {
        settime_or_exit(fd, 3600);
        settime_or_exit(fd, 0);
    }
}

/// One round on a timerfd of `clock` created for the caller and kept armed: move its deadline
/// between an hour and an hour and a second ahead (a cancel and a start in one call).
fn rearmer(clock: libc::clockid_t) -> impl FnMut() {
    let fd = timerfd(clock);
    let mut later = false;
    move || {
        later = !later;
        settime_or_exit(fd, 3600 + i64::from(later));
    }
}

/// Arms `n` timerfds on `clock` an hour ahead, all open at once (distinct kernel timers), then
/// closes them. The open-file limit may be below `n` (20,000 on some machines, 4,096 in some
/// containers), so the timers are shared among child processes of at most 4,000 each: every
/// child arms its share, says so, and holds it until the parent has heard from all of them.
fn many_timers(clock: libc::clockid_t, n: usize) {
    const SHARE: usize = 4000;
    let pipe = || {
        let mut fds = [0i32; 2];
        // SAFETY: pipe(2) with a valid array.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            eprintln!("event-generator: pipe: {}", Error::last_os_error());
            std::process::exit(1);
        }
        fds
    };
    let (ready, hold) = (pipe(), pipe());
    let mut children = Vec::new();
    let mut left = n;
    while left > 0 {
        let share = left.min(SHARE);
        left -= share;
        // SAFETY: fork(2); the child only makes syscalls and exits.
        match unsafe { libc::fork() } {
            -1 => {
                eprintln!("event-generator: fork: {}", Error::last_os_error());
                std::process::exit(1);
            }
            0 => {
                arm_timers(clock, share);
                // SAFETY: pipe ends of this process.
                unsafe {
                    libc::close(hold[1]);
                    libc::write(ready[1], b"r".as_ptr().cast(), 1);
                    let mut b = 0u8;
                    // blocks until the parent closes its end: all shares are armed then
                    libc::read(hold[0], (&mut b as *mut u8).cast(), 1);
                    libc::_exit(0);
                }
            }
            pid => children.push(pid),
        }
    }
    // SAFETY: pipe ends and children of this process.
    unsafe {
        libc::close(ready[1]);
        libc::close(hold[0]);
        let mut b = 0u8;
        for _ in &children {
            if libc::read(ready[0], (&mut b as *mut u8).cast(), 1) != 1 {
                eprintln!("event-generator: a child failed to arm its timers");
                std::process::exit(1);
            }
        }
        libc::close(hold[1]);
        for pid in children {
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
        }
    }
}

/// Opens `n` timerfds (raising the open-file limit to fit) and arms each an hour ahead; they
/// close when the process exits.
fn arm_timers(clock: libc::clockid_t, n: usize) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        let want = (n as libc::rlim_t + 64).min(lim.rlim_max);
        if lim.rlim_cur < want {
            lim.rlim_cur = want;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    for i in 0..n {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::timerfd_create(clock, libc::TFD_CLOEXEC) };
        if fd < 0 {
            eprintln!(
                "event-generator: timerfd_create #{}: {}",
                i + 1,
                Error::last_os_error()
            );
            // SAFETY: leaving the child without unwinding.
            unsafe { libc::_exit(1) };
        }
        if let Err(e) = settime(fd, 3600) {
            eprintln!("event-generator: timerfd_settime: {e}");
            // SAFETY: as above.
            unsafe { libc::_exit(1) };
        }
    }
}

/// Runs `round` at `per_sec` rounds a second for `seconds`, from `start` (CLOCK_BOOTTIME):
/// rounds are made in small bursts whenever the schedule is ahead of them, and the generator
/// sleeps 50 µs when it is ahead (at most 20,000 sleeps a second: a small, known extra).
fn paced(per_sec: f64, seconds: f64, start: i64, mut round: impl FnMut()) -> u64 {
    let end = start + (seconds * 1e9) as i64;
    let mut done = 0u64;
    loop {
        let now = clock_ns(libc::CLOCK_BOOTTIME);
        if now >= end {
            return done;
        }
        let due = ((now - start) as f64 * per_sec / 1e9) as u64;
        if done < due {
            for _ in 0..(due - done).min(64) {
                round();
                done += 1;
            }
        } else {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }
}

/// Pins this process (threads made later inherit it) to `cpu`.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays inside it for cpu < CPU_SETSIZE.
    let ok = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize {
            false
        } else {
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0
        }
    };
    if !ok {
        eprintln!(
            "event-generator: cannot run on CPU {cpu}: {}",
            Error::last_os_error()
        );
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: event-generator [--count N | --rate EVENTS_PER_S --seconds S | --timers N] [--alarm] [--threads T] [--cpu C]\n\
         arms and disarms a timerfd N times (default 100000), or paced to a rate of events\n\
         (two per round: one re-arm of an armed timerfd) for S seconds (default 10), or arms\n\
         N timerfds at once and closes\n\
         them; --alarm: a CLOCK_BOOTTIME_ALARM timerfd, which makes exactly 3·N + 1\n\
         alarmtimer events; --threads: the rounds or the rate shared among T threads;\n\
         --cpu: run on CPU C only"
    );
    std::process::exit(2);
}
