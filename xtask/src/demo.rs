//! `cargo xtask demo`: the README's first command. Sets up what is missing, boots the default
//! Debian kernel under QEMU, records the flood-across-suspend scenario (a reader of ttyS1
//! frozen by a freezer-level cycle and a real S3 cycle while the host keeps sending), checks
//! it against the kernel's counters and prints the report. `--host` records on this machine
//! instead (timers only: no suspend or serial hooks here).

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::util::{self, root, sh};
use crate::vm;

/// Kernel the demo boots.
pub const DEMO_KERNEL: &str = "6.12";
/// Scenario the demo records.
pub const DEMO_SCENARIO: &str = "flood-suspend";

#[derive(Args)]
pub struct DemoArgs {
    /// Record 5 s on this host beside a sleeping workload instead of booting a VM.
    #[arg(long)]
    host: bool,
}

pub fn run(a: DemoArgs) -> Result<()> {
    crate::setup::run()?;
    if a.host {
        return host_demo();
    }
    let results = vm::run_matrix(&vm::VmArgs {
        kernels: vec![DEMO_KERNEL.into()],
        scenarios: vec![DEMO_SCENARIO.into()],
        ..Default::default()
    })?;
    let r = results.first().context("the demo ran no VM")?;
    let report = r.dir.join(format!("{DEMO_SCENARIO}.report.txt"));
    if let Ok(text) = std::fs::read_to_string(&report) {
        print!("{text}");
    }
    eprintln!(
        "xtask: demo: kernel {} ({}), scenario {DEMO_SCENARIO}: {}\n  trace  {}\n  report {} (and .report.json)\n  HTML report with the timeline {}\n  for Perfetto (ui.perfetto.dev) {}\n  guest console {}",
        r.kernel.id,
        r.release,
        if r.passed() {
            "all checks passed"
        } else {
            "CHECKS FAILED (see checks.json)"
        },
        r.dir.join(format!("{DEMO_SCENARIO}.trace")).display(),
        report.display(),
        r.dir.join(format!("{DEMO_SCENARIO}.report.html")).display(),
        r.dir
            .join(format!("{DEMO_SCENARIO}.trace-event.json"))
            .display(),
        r.dir.join("console.log").display(),
    );
    if !r.passed() {
        bail!("demo checks failed");
    }
    Ok(())
}

fn host_demo() -> Result<()> {
    let r = root();
    util::build_release(&[])?;
    if !util::is_root() {
        bail!(
            "recording loads eBPF programs and needs root: run `sudo -E cargo xtask demo --host`"
        );
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
        "xtask: demo done: trace {}, reports in {}",
        trace.display(),
        out.display()
    );
    Ok(())
}
