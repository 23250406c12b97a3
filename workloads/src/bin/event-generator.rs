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
//! Prints `{"rounds": N, "alarm": bool, "start_boot_ns", "end_boot_ns"}`.

use std::io::Error;

use serial_trace_workloads::clock_ns;

fn settime(fd: i32, secs: i64) -> Result<(), Error> {
    let its = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
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
    while let Some(a) = args.next() {
        match a.as_str() {
            "--alarm" => alarm = true,
            "--count" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    // SAFETY: plain syscall.
    let clock = if alarm {
        libc::CLOCK_BOOTTIME_ALARM
    } else {
        libc::CLOCK_MONOTONIC
    };
    let fd = unsafe { libc::timerfd_create(clock, libc::TFD_CLOEXEC) };
    if fd < 0 {
        eprintln!(
            "event-generator: timerfd_create: {}",
            Error::last_os_error()
        );
        std::process::exit(1);
    }
    let start = clock_ns(libc::CLOCK_BOOTTIME);
    for _ in 0..rounds {
        if let Err(e) = settime(fd, 3600).and_then(|()| settime(fd, 0)) {
            eprintln!("event-generator: timerfd_settime: {e}");
            std::process::exit(1);
        }
    }
    let end = clock_ns(libc::CLOCK_BOOTTIME);
    println!(
        "{{\"rounds\":{rounds},\"alarm\":{alarm},\"start_boot_ns\":{start},\"end_boot_ns\":{end}}}"
    );
}

fn usage() -> ! {
    eprintln!(
        "usage: event-generator [--count N] [--alarm]\n\
         arms and disarms a timerfd N times (default 100000); --alarm: a CLOCK_BOOTTIME_ALARM\n\
         timerfd, which makes exactly 3·N + 1 alarmtimer events"
    );
    std::process::exit(2);
}
