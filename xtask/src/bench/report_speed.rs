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
        let (secs, rss) = timed(&cmd, dir)?;
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

/// Runs `cmd` to completion under GNU time: its wall time and peak resident size (KiB). Not
/// `wait4` from here: a child forked from this (large) process keeps the parent's resident
/// size as its pre-exec peak, and `ru_maxrss` would report that instead of the report's own.
fn timed(cmd: &Command, dir: &Path) -> Result<(f64, u64)> {
    let rss_file = dir.join("report.maxrss");
    let mut timed = Command::new("/usr/bin/time");
    timed.args(["-f", "%M", "-o"]).arg(&rss_file);
    timed.arg(cmd.get_program()).args(cmd.get_args());
    let t = std::time::Instant::now();
    let status = timed.status()?;
    let secs = t.elapsed().as_secs_f64();
    if !status.success() {
        bail!("{} failed ({status})", show(&timed));
    }
    let rss = std::fs::read_to_string(&rss_file)?
        .trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("GNU time's %M: {e}"))?;
    Ok((secs, rss))
}
