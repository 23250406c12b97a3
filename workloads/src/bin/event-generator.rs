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
//! (two per round with a plain timerfd: `hrtimer_start`, `hrtimer_cancel`) for S seconds, or
//! as fast as it can when it cannot keep up; `rounds` then says how many it made.
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
    let mut rate: Option<f64> = None;
    let mut seconds = 10.0f64;
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
    let round = || {
        if let Err(e) = settime(fd, 3600).and_then(|()| settime(fd, 0)) {
            eprintln!("event-generator: timerfd_settime: {e}");
            std::process::exit(1);
        }
    };
    let start = clock_ns(libc::CLOCK_BOOTTIME);
    match rate {
        None => (0..rounds).for_each(|_| round()),
        Some(rate) => rounds = paced(rate / 2.0, seconds, start, round),
    }
    let end = clock_ns(libc::CLOCK_BOOTTIME);
    println!(
        "{{\"rounds\":{rounds},\"alarm\":{alarm},\"start_boot_ns\":{start},\"end_boot_ns\":{end}}}"
    );
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

fn usage() -> ! {
    eprintln!(
        "usage: event-generator [--count N | --rate EVENTS_PER_S --seconds S] [--alarm]\n\
         arms and disarms a timerfd N times (default 100000), or paced to a rate of events\n\
         (two per round) for S seconds (default 10); --alarm: a CLOCK_BOOTTIME_ALARM timerfd,\n\
         which makes exactly 3·N + 1 alarmtimer events"
    );
    std::process::exit(2);
}
