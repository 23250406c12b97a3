//! Report throughput and peak memory on generated traces (`examples/synthetic-trace.rs`): the
//! full analysis (`report --format json`), three runs each, the median time and the largest
//! peak resident size.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use super::{Bins, median};
use crate::util::{output, show};

pub struct Measured {
    pub events: u64,
    pub file_bytes: u64,
    pub seconds: f64,
    pub max_rss_kb: u64,
}

impl Measured {
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.seconds
    }
}

pub fn measure(events: u64, bins: &Bins, dir: &Path) -> Result<Measured> {
    let trace = dir.join(format!("synthetic-{events}.trace"));
    let made = output(
        Command::new(&bins.synthetic)
            .args(["--events", &events.to_string(), "-o"])
            .arg(&trace),
    )?;
    if !made.status.success() {
        bail!("synthetic-trace: {}", String::from_utf8_lossy(&made.stderr));
    }
    let file_bytes = std::fs::metadata(&trace)?.len();
    let mut times = Vec::new();
    let mut max_rss_kb = 0;
    for _ in 0..3 {
        let mut cmd = Command::new(&bins.serial_trace);
        cmd.args(["report", "--format", "json", "-o", "/dev/null"])
            .arg(&trace);
        let (secs, rss) = timed(&mut cmd)?;
        times.push(secs);
        max_rss_kb = max_rss_kb.max(rss);
    }
    let m = Measured {
        events,
        file_bytes,
        seconds: median(times),
        max_rss_kb,
    };
    eprintln!(
        "xtask bench: report of {} events: {:.3} s ({:.1} M events/s), peak {} KiB",
        events,
        m.seconds,
        m.events_per_s() / 1e6,
        m.max_rss_kb
    );
    let _ = std::fs::remove_file(&trace);
    Ok(m)
}

/// Runs `cmd` to completion: its wall time and peak resident size (KiB, `wait4`).
fn timed(cmd: &mut Command) -> Result<(f64, u64)> {
    let t = std::time::Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    std::mem::forget(child);
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid out parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child.
    if unsafe { libc::wait4(pid, &mut status, 0, &mut ru) } < 0 {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    let secs = t.elapsed().as_secs_f64();
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{} failed (status {status})", show(cmd));
    }
    Ok((secs, ru.ru_maxrss as u64))
}
