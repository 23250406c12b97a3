//! The recorder's drain rate: how many events a second it takes out of its ring and writes to
//! the trace when nothing else limits it. The zero-loss search (`loss_rate`) ends where the
//! generator cannot go faster under the tracer; on a small machine that comes before the ring
//! fills, and the search alone cannot say where loss would begin. So: the recorder is stopped
//! (SIGSTOP) with a ring large enough to hold a burst, the generator runs flat out into it,
//! and the recorder is let go and asked to stop at once (SIGCONT, SIGINT): its clean stop
//! drains the whole ring. Events recorded / time from SIGCONT to its exit is the rate at which
//! it consumes; loss begins where the kernel side produces faster than that for longer than
//! the ring holds.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Bins, generator, tracer};

/// The ring for the burst: room for the events below (a timer event takes ~90 bytes of ring:
/// 512 MiB held 5.8 M of them), with margin.
pub const RING: &str = "512M";
/// Rounds of the generator (two events each) for the burst.
const ROUNDS: u64 = 2_000_000;

#[derive(Clone, Copy, Debug)]
pub struct Drain {
    /// Events in the trace (the burst and the little recorded before it).
    pub events: u64,
    pub lost: u64,
    /// From SIGCONT to the recorder's exit.
    pub seconds: f64,
}

impl Drain {
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.seconds
    }
}

pub fn measure(bins: &Bins, dir: &Path) -> Result<Drain> {
    let out = dir.join("drain.trace");
    let _ = std::fs::remove_file(&out);
    let mut child = Command::new(&bins.serial_trace)
        .args([
            "record",
            "--quiet",
            "--force",
            "--hooks",
            "timer,alarmtimer,power",
        ])
        .args(["--buffer-size", RING, "--allow-loss", "-o"])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("drain.err"))?)
        .spawn()
        .context("starting serial-trace record")?;
    let pid = child.id() as libc::pid_t;
    let signal = |sig| {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, sig) }
    };
    super::wait_for_header(&out, &mut child)?;
    std::thread::sleep(Duration::from_millis(300));
    signal(libc::SIGSTOP);
    let threads = super::loss_rate::generator_threads().to_string();
    let burst = generator(
        bins,
        &["--count", &ROUNDS.to_string(), "--threads", &threads],
    );
    let let_go = Instant::now();
    signal(libc::SIGCONT);
    signal(libc::SIGINT);
    let status = child.wait()?;
    let seconds = let_go.elapsed().as_secs_f64();
    burst?;
    if !status.success() {
        bail!(
            "serial-trace record exited {status}: {}",
            std::fs::read_to_string(dir.join("drain.err")).unwrap_or_default()
        );
    }
    let (events, lost) = tracer::serial_trace_counts(&bins.serial_trace, &out)?;
    let _ = std::fs::remove_file(&out);
    let d = Drain {
        events,
        lost,
        seconds,
    };
    eprintln!(
        "xtask bench: drain: {events} events ({lost} lost) out of a stopped recorder's {RING} ring in {seconds:.2} s: {:.2} M events/s",
        d.events_per_s() / 1e6
    );
    Ok(d)
}
