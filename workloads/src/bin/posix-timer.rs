//! posix-timer: a periodic POSIX timer whose signal is ignored, as a daemon leaves a watchdog
//! timer whose signal it no longer wants. Kernels before 6.13 re-arm such a timer from its own
//! callback (`posix_timer_fn` returns `HRTIMER_RESTART`), in interrupt context, where the
//! current task is whichever was interrupted; later kernels park it until the signal is
//! wanted again. The timer's arms and expiries are this thread's all the same.
//!
//! `--interval-ms N` (10), `--count N` (100): the timer runs for N intervals while the thread
//! sleeps, then is deleted. Prints `{"pid", "tid", "interval_ns", "count"}`.

fn value(args: &[String], name: &str, default: i64) -> i64 {
    args.windows(2).find(|w| w[0] == name).map_or(default, |w| {
        w[1].parse().unwrap_or_else(|_| {
            eprintln!("posix-timer: {name}: cannot parse {:?}", w[1]);
            std::process::exit(2)
        })
    })
}

fn fail(what: &str) -> ! {
    eprintln!("posix-timer: {what}: {}", std::io::Error::last_os_error());
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("usage: posix-timer [--interval-ms N (10)] [--count N (100)]");
        return;
    }
    let interval_ns = value(&args, "--interval-ms", 10) * 1_000_000;
    let count = value(&args, "--count", 100);
    let ts = serial_trace_workloads::timespec;
    // SAFETY: plain syscalls on our own process; the sigevent and itimerspec are valid.
    unsafe {
        if libc::signal(libc::SIGUSR1, libc::SIG_IGN) == libc::SIG_ERR {
            fail("signal");
        }
        let mut sev: libc::sigevent = std::mem::zeroed();
        sev.sigev_notify = libc::SIGEV_SIGNAL;
        sev.sigev_signo = libc::SIGUSR1;
        let mut timer: libc::timer_t = std::ptr::null_mut();
        if libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, &mut timer) != 0 {
            fail("timer_create");
        }
        let spec = libc::itimerspec {
            it_interval: ts(interval_ns),
            it_value: ts(interval_ns),
        };
        if libc::timer_settime(timer, 0, &spec, std::ptr::null_mut()) != 0 {
            fail("timer_settime");
        }
        // one sleep over all the intervals and a little more: the timer fires `count` times
        let sleep = ts(interval_ns * count + interval_ns / 2);
        libc::nanosleep(&sleep, std::ptr::null_mut());
        libc::timer_delete(timer);
        println!(
            "{{\"pid\":{},\"tid\":{},\"interval_ns\":{interval_ns},\"count\":{count}}}",
            libc::getpid(),
            libc::gettid()
        );
    }
}
