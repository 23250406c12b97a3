//! `cargo xtask demo`: the README's first command. Sets up, builds, records 5 s on this host
//! beside a workload that sleeps 1 ms in a loop, and writes the report next to the trace.
//! (The virtualized-kernel demo with real suspend and serial traffic replaces this once the
//! VM harness lands.)

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::util::{self, root, sh};

pub fn run() -> Result<()> {
    crate::setup::run()?;
    let r = root();
    sh(Command::new("cargo").current_dir(&r).args([
        "build",
        "--release",
        "--package",
        "serial-trace",
        "--package",
        "serial-trace-workloads",
    ]))?;
    if !util::is_root() {
        bail!("recording loads eBPF programs and needs root: run `sudo -E cargo xtask demo`");
    }
    let bin = r.join("target/release");
    let out = r.join("target/demo");
    std::fs::create_dir_all(&out)?;
    let trace = out.join("host.trace");
    let workload = Command::new(bin.join("timer-workload"))
        .args(["--interval-us", "1000", "--duration-s", "7"])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting timer-workload")?;
    sh(Command::new(bin.join("serial-trace"))
        .args(["record", "--force", "--duration", "5", "-o"])
        .arg(&trace))?;
    let wl = workload.wait_with_output()?;
    eprintln!(
        "xtask: workload measured itself: {}",
        String::from_utf8_lossy(&wl.stdout).trim()
    );
    for (fmt, name) in [("text", "report.txt"), ("json", "report.json")] {
        let o = util::output(
            Command::new(bin.join("serial-trace"))
                .args(["report", "--color", "never", "--format", fmt])
                .arg(&trace),
        )?;
        if !o.status.success() {
            bail!("report failed: {}", String::from_utf8_lossy(&o.stderr));
        }
        std::fs::write(out.join(name), &o.stdout)?;
        if fmt == "text" {
            print!("{}", String::from_utf8_lossy(&o.stdout));
        }
    }
    eprintln!(
        "xtask: demo done: trace {}, reports {} and {}",
        trace.display(),
        out.join("report.txt").display(),
        out.join("report.json").display()
    );
    Ok(())
}
