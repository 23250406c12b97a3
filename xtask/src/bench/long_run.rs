//! The recorder's memory over a long recording: the bound (16 MB besides the ring) is
//! for a 60 s recording, and what grows with time (names of tasks and timer callbacks seen, the
//! write-behind batch) shows only over one. `serial-trace record -d 60s` with every hook while
//! the generator makes 100 k events/s; the peak is the trailer's `recorder_max_rss_kb`, and what
//! the recorder held besides the ring its `recorder_memory` (set-up's peak, before the ring
//! was mapped, and the most at any checkpoint after).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::Bins;

#[derive(Clone, Copy, Debug)]
pub struct LongRun {
    pub seconds: u64,
    pub events: u64,
    pub lost: u64,
    pub max_rss_kb: u64,
    /// The most the recorder held besides the ring (set-up's peak or the most while
    /// recording), where the trailer says.
    pub own_peak_kb: Option<u64>,
}

pub fn measure(seconds: u64, bins: &Bins, dir: &Path) -> Result<LongRun> {
    let out = dir.join("long.trace");
    let _ = std::fs::remove_file(&out);
    let duration = format!("{seconds}s");
    let mut recorder = Command::new(&bins.serial_trace)
        .args([
            "record",
            "--quiet",
            "--force",
            "--allow-loss",
            "-d",
            &duration,
            "-o",
        ])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .context("starting serial-trace record")?;
    super::wait_for_header(&out, &mut recorder)?;
    let load = (seconds.saturating_sub(2)).max(1).to_string();
    let generator = Command::new(&bins.generator)
        .args(["--rate", "100000", "--seconds", &load])
        .stdout(Stdio::null())
        .status()
        .context("running event-generator")?;
    let status = recorder.wait()?;
    if !generator.success() || !status.success() {
        bail!("long run: generator {generator}, recorder {status}");
    }
    let o = Command::new(&bins.serial_trace)
        .args(["report", "--format", "json"])
        .arg(&out)
        .output()?;
    let r: serde_json::Value =
        serde_json::from_slice(&o.stdout).context("report of the long run")?;
    let _ = std::fs::remove_file(&out);
    let run = LongRun {
        seconds,
        events: r["events"]["total"].as_u64().unwrap_or(0),
        lost: r["events"]["lost"].as_u64().unwrap_or(0),
        max_rss_kb: r["trace"]["recorder_max_rss_kb"]
            .as_u64()
            .context("no recorder_max_rss_kb in the long run's trailer")?,
        own_peak_kb: {
            let m = &r["trace"]["recorder_memory"];
            m["setup_peak_kb"]
                .as_u64()
                .zip(m["own_max_kb"].as_u64())
                .map(|(a, b)| a.max(b))
        },
    };
    eprintln!(
        "xtask bench: {seconds} s recording: {} events, {} lost, peak RSS {:.1} MB",
        run.events,
        run.lost,
        run.max_rss_kb as f64 / 1024.0
    );
    Ok(run)
}
