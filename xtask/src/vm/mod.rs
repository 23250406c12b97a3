//! `cargo xtask vm`: proves serial-trace on real kernels booted under QEMU, against what the
//! guest did and what the kernel counted. Kernels come from Debian (cached), the guest runs the
//! static serial-trace and the scenarios, results land in `target/vm/<kernel>/`.

mod arch;
mod asyncio;
mod checks;
mod cpio;
mod cyclictest;
mod guest;
mod kernels;
mod monitor;
mod pm_witness;
mod port_settings;
mod qemu;
mod scenarios;
mod userland;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;
use serial_trace::analysis::{ProbeRow, Report};

use crate::util::root;
pub use arch::Arch;
use checks::Check;
use scenarios::{SCENARIOS, Scenario};

#[derive(Args, Clone)]
pub struct VmArgs {
    /// Guest architecture: x86_64 (PC board, 16550 UARTs, S3) or arm64 (`virt` board, PL011
    /// UARTs, PL031 RTC, s2idle).
    #[arg(long, value_enum, default_value_t = Arch::X86_64)]
    pub arch: Arch,
    /// Kernel ids to boot (default: all of the architecture's: x86_64 5.10, 5.10-old, 6.1,
    /// 6.12, 6.12-rt; arm64 5.10, 6.1, 6.12, 6.12-rt; `arm64-6.12` also names an arm64 one).
    #[arg(long = "kernel", value_name = "ID")]
    pub kernels: Vec<String>,
    /// Boot this kernel image (of --arch) instead of the Debian ones (it needs BPF, BTF, the
    /// UARTs and the RTC built in).
    #[arg(long, value_name = "PATH")]
    pub vmlinuz: Option<PathBuf>,
    /// Scenarios to run, on every kernel booted (default: the matrix: suspend, timers,
    /// event-loop, cyclictest, asyncio, flood, flood-kprobe (where the serial hooks do not
    /// already default to kprobes), flood-pci, flood-kill, flood-suspend, s2idle, usb-serial
    /// (x86_64 6.12 and arm64 5.10), flood-read (x86_64 and arm64 6.12); `soak` and the
    /// benchmark's `serial-cost`,
    /// `serial-cost-unhooked` only when named).
    #[arg(long = "scenario", value_name = "ID")]
    pub scenarios: Vec<String>,
    /// Run every matrix scenario on every kernel booted, also those that by default run only
    /// where they add coverage (usb-serial, flood-kprobe).
    #[arg(long, conflicts_with = "scenarios")]
    pub full: bool,
    /// Re-resolve and download the newest kernels even when cached.
    #[arg(long)]
    pub refresh: bool,
    /// Wall-clock limit per VM, in seconds; a hung guest fails with its console log (with
    /// --full the default is half as much again, with --host-load twice as much).
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_S)]
    pub timeout: u64,
    /// Echo guest console lines while they arrive.
    #[arg(long)]
    pub echo: bool,
    /// Virtual CPUs of the guest. Under TCG, bringing the second CPU back at resume
    /// occasionally oopses in jump-label patching (a QEMU TCG artefact, retried once); long
    /// runs of many S3 cycles (`soak`) use 1.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub cpus: u8,
    /// Boot nothing: evaluate the checks again on the files the last run of each kernel left
    /// in target/vm/<kernel>/ (after changing a check, or on a failing run's copy: pass its
    /// directory with --recheck-dir).
    #[arg(long)]
    pub recheck: bool,
    /// With --recheck, the directory of one kernel's saved run instead of target/vm/<kernel>/
    /// (exactly one --kernel).
    #[arg(long, value_name = "DIR", requires = "recheck")]
    pub recheck_dir: Option<PathBuf>,
    /// Keep N host CPUs busy while the guests run, as a loaded CI machine does: the guest's
    /// vCPUs then stall at any moment (inside the freezer, between an arm and a sleep), which
    /// is how rare orderings are found before CI finds them. Checks must pass as they are.
    /// The default --timeout doubles.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        conflicts_with = "recheck"
    )]
    pub host_load: u16,
}

/// One guest's wall-clock budget for all its scenarios, in seconds. The slowest kernel,
/// 6.12-rt, ran the whole matrix in 523 s under TCG on 2 cores (2026-12-02; 420 s had become
/// too little once the event-loop scenario and the kprobe witnesses were added); a hung guest
/// is caught at this limit. `host.log` says when each scenario began and ended. 1,080 s since
/// 2026-12-06: on a slow day arm64 5.10 took 691 s with nothing else running, and ran out of
/// 720 s with builds beside it; a hung guest costs 6 minutes more, a slow one no longer fails.
pub const DEFAULT_TIMEOUT_S: u64 = 1_080;

/// The budget of one guest: `--timeout`, but half as much again for `--full` at the default
/// (every scenario everywhere: 6.12-rt arm64 ran out of 720 s in its flood-suspend, after
/// flood-kprobe and usb-serial had been added to its default list).
fn guest_budget(a: &VmArgs) -> u64 {
    if a.timeout != DEFAULT_TIMEOUT_S {
        return a.timeout;
    }
    // a loaded host halves the guest's speed on 2 cores: the x86_64 6.12 matrix ran its
    // floods at 18–33 KB/s with one CPU busy and passed 720 s inside `monitor`
    let load = if a.host_load > 0 { 2 } else { 1 };
    let full = if a.full { 3 } else { 2 };
    DEFAULT_TIMEOUT_S * full / 2 * load
}

impl Default for VmArgs {
    fn default() -> Self {
        Self {
            arch: Arch::X86_64,
            kernels: Vec::new(),
            vmlinuz: None,
            scenarios: Vec::new(),
            full: false,
            refresh: false,
            timeout: DEFAULT_TIMEOUT_S,
            echo: false,
            cpus: 2,
            recheck: false,
            recheck_dir: None,
            host_load: 0,
        }
    }
}

/// Debian packages the VM harness needs (binary, package).
pub const PACKAGES: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    // arm64 guests: the emulator (QEMU 10, whose `virt` board has a second PL011); the cross
    // toolchain of their static binaries is `dist::Target`'s
    ("qemu-system-aarch64", "qemu-system-arm"),
    ("busybox", "busybox-static"),
    // decompresses trixie kernels' modules (`.ko.xz`) for the guest's busybox insmod
    ("xz", "xz-utils"),
    // a timer program this project did not write, in the guest (see `guest::FOREIGN_PROGRAMS`)
    ("cyclictest", "rt-tests"),
    // a language runtime this project did not write, in the guest (see `guest::PYTHON`)
    (guest::PYTHON, "python3"),
];

/// Per-kernel outcome.
pub struct KernelResult {
    pub kernel: kernels::Kernel,
    pub release: String,
    pub checks: Vec<Check>,
    pub probes: Vec<ProbeRow>,
    /// Serial hooks attached in any scenario: `hook: method on function`.
    pub serial_rows: Vec<String>,
    pub dir: PathBuf,
    /// Things worth knowing that are not check failures (a retried hang).
    pub notes: Vec<String>,
}

impl KernelResult {
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }
}

fn selected_scenarios(ids: &[String]) -> Result<Vec<&'static Scenario>> {
    if ids.is_empty() {
        return Ok(SCENARIOS.iter().filter(|s| s.in_matrix).collect());
    }
    ids.iter()
        .map(|id| {
            scenarios::find(id).with_context(|| {
                let all: Vec<_> = SCENARIOS.iter().map(|s| s.id).collect();
                format!("unknown scenario {id}; known: {}", all.join(", "))
            })
        })
        .collect()
}

/// The scenarios kernel `k` runs: all that were named, or with `--full`; else the matrix's
/// that add coverage on it (see [`scenarios::OnKernels`]).
fn kernel_scenarios(
    a: &VmArgs,
    scenarios: &[&'static Scenario],
    k: &kernels::Kernel,
) -> Vec<&'static Scenario> {
    scenarios
        .iter()
        .copied()
        .filter(|s| !a.scenarios.is_empty() || a.full || s.runs_on(a.arch, &k.id, &k.version))
        .collect()
}

fn selected_kernels(a: &VmArgs) -> Result<Vec<kernels::Kernel>> {
    if let Some(p) = &a.vmlinuz {
        return Ok(vec![kernels::local(p, a.arch)?]);
    }
    let mut fetcher = kernels::Fetcher::new(a.arch)?;
    let list = kernels::specs(a.arch);
    let specs: Vec<&kernels::KernelSpec> = if a.kernels.is_empty() {
        list.iter().collect()
    } else {
        a.kernels
            .iter()
            .map(|id| {
                list.iter()
                    .find(|k| k.id == id || k.label() == *id)
                    .with_context(|| {
                        let all: Vec<_> = list.iter().map(|k| k.id).collect();
                        format!(
                            "unknown {} kernel {id}; known: {} (or --vmlinuz PATH; --arch picks the architecture)",
                            a.arch.debian(),
                            all.join(", ")
                        )
                    })
            })
            .collect::<Result<_>>()?
    };
    specs
        .into_iter()
        .map(|s| fetcher.ensure(s, a.refresh))
        .collect()
}

/// Runs the matrix and returns one result per kernel (failing checks are results, not errors).
pub fn run_matrix(a: &VmArgs) -> Result<Vec<KernelResult>> {
    crate::setup::debian_packages(PACKAGES)?;
    let scenarios = selected_scenarios(&a.scenarios)?;
    let kernels = selected_kernels(a)?;
    // the guest's binaries, and the host's (static x86_64 ones) to read the traces back
    let (bin_dir, shipped) = guest::build_static_binaries(a.arch)?;
    let host_bin = crate::dist::build_static(crate::dist::Target::X86_64)?.join("serial-trace");
    let out_root = root().join("target/vm");
    if a.recheck {
        let mut results = Vec::new();
        if a.recheck_dir.is_some() && kernels.len() != 1 {
            bail!("--recheck-dir is one kernel's run: name that kernel with one --kernel");
        }
        for k in kernels {
            let dir = a.recheck_dir.clone().unwrap_or(out_root.join(&k.id));
            let run = qemu::load(&dir)?;
            eprintln!(
                "xtask: vm {}: checking the run saved in {}",
                k.id,
                dir.display()
            );
            let mine = kernel_scenarios(a, &scenarios, &k);
            let r = evaluate(k, &run, &mine, &host_bin, &dir)?;
            print_result(&r, &run, &dir);
            results.push(r);
        }
        return Ok(results);
    }
    let initrd = guest::build_initramfs(
        a.arch,
        (&bin_dir, &shipped),
        &scenarios,
        &out_root.join(format!("guest-{}", a.arch.debian())),
    )?;
    if let Some(v) = crate::util::stdout_of(Command::new(a.arch.qemu_binary()).arg("--version")) {
        // TCG's behaviour (and its bugs) differ between releases: every run names its emulator.
        eprintln!("xtask: {}", v.lines().next().unwrap_or(&v));
    }
    for sc in &scenarios {
        eprintln!("xtask: scenario {}: {}", sc.id, sc.about);
    }
    let _load = HostLoad::start(a.host_load);
    let mut results = Vec::new();
    for k in kernels {
        eprintln!("xtask: vm {}: booting {} {}", k.id, k.package, k.version);
        let dir = out_root.join(&k.id);
        let _ = std::fs::remove_dir_all(&dir);
        let mine = kernel_scenarios(a, &scenarios, &k);
        if mine.len() < scenarios.len() {
            let skipped: Vec<&str> = scenarios
                .iter()
                .filter(|s| !mine.iter().any(|m| m.id == s.id))
                .map(|s| s.id)
                .collect();
            eprintln!(
                "xtask: vm {}: not here by default (--full runs them): {}",
                k.id,
                skipped.join(", ")
            );
        }
        let init = scenarios::init_script(a.arch, &mine);
        let kernel_initrd = guest::kernel_initrd(&initrd, &k, &init, &dir)?;
        let config = qemu::VmConfig {
            arch: a.arch,
            vmlinuz: &k.vmlinuz,
            initrd: &kernel_initrd,
            workdir: &dir,
            timeout: Duration::from_secs(guest_budget(a)),
            echo: a.echo,
            cpus: a.cpus,
        };
        let mut run = qemu::run(&config)?;
        let mut retried = Vec::new();
        while let Some(sign) = run.hung.clone() {
            // An emulator-level hang (seen: TCG oopsing while CPU 1 comes back at resume, in
            // `thaw_secondary_cpus`, before any serial-trace code runs) says nothing about
            // serial-trace; retried, each attempt kept and reported.
            if retried.len() == HANG_RETRIES {
                break;
            }
            retried.push(sign.clone());
            eprintln!(
                "xtask: vm {}: guest hung ({sign}); retry {} of {HANG_RETRIES}",
                k.id,
                retried.len()
            );
            qemu::save(&run, &dir.join(format!("hung-attempt-{}", retried.len())))?;
            run = qemu::run(&config)?;
        }
        // the size of the base (tens of MB), rebuilt at every run: not kept with the results
        std::fs::remove_file(&kernel_initrd)?;
        qemu::save(&run, &dir)?;
        let mut r = evaluate(k, &run, &mine, &host_bin, &dir)?;
        for (i, sign) in retried.iter().enumerate() {
            r.notes.push(format!(
                "boot {} hung under TCG ({sign}): see hung-attempt-{}/",
                i + 1,
                i + 1
            ));
        }
        print_result(&r, &run, &dir);
        results.push(r);
    }
    write_matrix(
        &results,
        &out_root.join(format!("matrix-{}.md", a.arch.debian())),
    )?;
    Ok(results)
}

/// `--host-load`: threads spinning on the host until dropped.
struct HostLoad {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl HostLoad {
    fn start(n: u16) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        if n > 0 {
            eprintln!("xtask: {n} host CPU(s) kept busy beside the guests (--host-load)");
        }
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for HostLoad {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn print_result(r: &KernelResult, run: &qemu::VmRun, dir: &Path) {
    for c in &r.checks {
        eprintln!(
            "  {} {:<55} {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    eprintln!(
        "xtask: vm {}: {} in {:.0} s; files in {}",
        r.kernel.id,
        if r.passed() { "passed" } else { "FAILED" },
        run.elapsed.as_secs_f64(),
        dir.display()
    );
}

/// The `@@ST FACT` lines of the last guest run in `dir`, per scenario.
pub fn facts_in(
    dir: &Path,
) -> Result<std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>> {
    let console = std::fs::read_to_string(dir.join("console.log"))
        .with_context(|| format!("reading {}/console.log", dir.display()))?;
    let lines: Vec<String> = console.lines().map(str::to_string).collect();
    Ok(checks::facts(&lines))
}

/// Boots retried after an emulator-level hang (a lockup or panic line on the console).
const HANG_RETRIES: usize = 2;

/// `cargo xtask vm`: the matrix, failing when any check fails.
pub fn run(a: VmArgs) -> Result<()> {
    verdict(&run_matrix(&a)?)
}

/// The ids of `arch`'s kernels that `cargo xtask test` (CI) boots (see
/// [`kernels::KernelSpec::in_test`]).
pub fn test_kernels(arch: Arch) -> Vec<String> {
    kernels::specs(arch)
        .iter()
        .filter(|k| k.in_test)
        .map(|k| k.id.to_string())
        .collect()
}

/// Fails when any kernel of `results` failed a check, naming every failing check last: CI
/// logs keep the tail, and the matrix printed hundreds of lines since.
pub fn verdict(results: &[KernelResult]) -> Result<()> {
    let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
    if !failed.is_empty() {
        let mut why = String::new();
        for r in &failed {
            if r.checks.is_empty() {
                why += &format!("\n  {} ({}): no checks ran", r.kernel.id, r.release);
            }
            for c in r.checks.iter().filter(|c| !c.ok) {
                why += &format!(
                    "\n  {} ({}): {}: {}",
                    r.kernel.id, r.release, c.name, c.detail
                );
            }
        }
        bail!(
            "VM checks failed on {}; files in {}:{why}",
            failed
                .iter()
                .map(|r| r.kernel.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            failed
                .iter()
                .map(|r| r.dir.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    eprintln!("xtask: VM matrix passed on {} kernels", results.len());
    Ok(())
}

fn serial_trace(bin: &Path, args: &[&str], trace: &Path) -> Result<String> {
    let o = Command::new(bin).args(args).arg(trace).output()?;
    if !o.status.success() {
        bail!(
            "serial-trace {} {}: {}",
            args.join(" "),
            trace.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn evaluate(
    kernel: kernels::Kernel,
    run: &qemu::VmRun,
    scenarios: &[&Scenario],
    bin: &Path,
    dir: &Path,
) -> Result<KernelResult> {
    let release = run
        .console
        .iter()
        .find_map(|l| l.strip_prefix("@@ST BOOT "))
        .unwrap_or("?")
        .trim_matches('"')
        .to_string();
    let mut checks = guest_checks(run, &release);
    let facts = checks::facts(&run.console);
    let mut probes = Vec::new();
    let mut serial_rows: Vec<String> = Vec::new();
    for sc in scenarios {
        let trace = dir.join(format!("{}.trace", sc.id));
        if !trace.exists() {
            checks.push(checks::Check {
                name: format!("{}: trace exported", sc.id),
                ok: false,
                detail: format!("no {} came back from the guest", trace.display()),
            });
            continue;
        }
        let report = render_all(sc, &trace, bin, dir, &mut checks)?;
        if probes.is_empty() {
            probes = report.probes.clone();
        }
        for row in serial_hooks(&report) {
            if !serial_rows.contains(&row) {
                serial_rows.push(row);
            }
        }
        let f = facts.get(sc.id).cloned().unwrap_or_default();
        let method = if sc.record_args.contains("kprobe") {
            "kprobe"
        } else {
            kernel.arch.default_serial_method(&release)
        };
        if sc.id == "flood-kill" {
            // no trailer, no end counters, no clean stop: checked against the guest alone
            checks.extend(checks::killed_checks(sc.id, &report, &f, method));
            checks.extend(port_settings::timing_checks(sc.id, &report, &f));
            continue;
        }
        checks.extend(checks::scenario_checks(sc.id, &report, &f));
        let config =
            || std::fs::read_to_string(kernel.vmlinuz.with_file_name("config")).unwrap_or_default();
        if sc.id == "suspend" {
            checks.push(checks::system_setup_check(&report, &f, &config()));
        }
        if sc.id == "flood-read" {
            checks.extend(port_settings::checks(&report, &f, &config()));
        }
        checks.extend(port_settings::raw_set_check(sc.id, &report, &f));
        checks.extend(port_settings::wake_risk_check(sc.id, &report, &f));
        checks.extend(port_settings::timing_checks(sc.id, &report, &f));
        // The serial ground truth is about drops; the benchmark's floods and `flood-read` are
        // drained by a reader and drop nothing (one records with the serial path off;
        // `flood-read`'s truth is the diff against `flood`, below); USB-serial's is flow
        // control, not loss.
        if sc.id == "usb-serial" {
            checks.extend(checks::usb_serial_checks(sc.id, &report, &f, method));
            checks.push(port_settings::ldisc_check(sc.id, &report, "ttyUSB0"));
        } else if !sc.id.starts_with("serial-cost") && sc.id != "flood-read" {
            checks.extend(checks::serial_checks(sc.id, &report, &f, method));
        }
        if sc.id == "suspend" {
            let dump = serial_trace(bin, &["dump", "--jsonl"], &trace)?;
            let ftrace =
                std::fs::read_to_string(dir.join("suspend.pm-ftrace.log")).unwrap_or_default();
            let misses = report
                .events
                .recursion_misses
                .get("device_pm_callback_start")
                .copied()
                .unwrap_or(0);
            checks.push(pm_witness::check_callbacks(
                sc.id,
                &pm_witness::recorded_callbacks(&dump),
                &pm_witness::ftrace_callbacks(&ftrace),
                f.get("pm_ftrace_overrun").and_then(|v| v.parse().ok()),
                misses,
            ));
        }
        if sc.id == "monitor" {
            let window = dir.join("monitor.window-1.trace");
            let report = if window.exists() {
                let json = serial_trace(bin, &["report", "--format", "json"], &window)?;
                std::fs::write(dir.join("monitor.window-1.report.json"), &json)?;
                serde_json::from_str::<serial_trace::analysis::Report>(&json).ok()
            } else {
                None
            };
            checks.extend(monitor::checks(sc.id, report.as_ref(), &f, method));
        }
        if ["timers", "event-loop", "cyclictest", "asyncio"].contains(&sc.id) {
            checks.extend(timer_scenario_checks(sc.id, &report, &trace, bin, dir)?);
        }
    }
    checks.extend(reader_fix_diff(bin, dir, &facts)?);
    checks.push(checks::raw_hooks_check(&probes));
    std::fs::write(
        dir.join("checks.json"),
        serde_json::to_string_pretty(&checks)?,
    )?;
    Ok(KernelResult {
        notes: Vec::new(),
        kernel,
        release,
        checks,
        probes,
        serial_rows,
        dir: dir.to_path_buf(),
    })
}

/// Where the guest ran both `flood` and `flood-read`: `serial-trace diff` of the two traces
/// (the reader fix) against the kernel's counts ([`checks::diff_checks`]).
fn reader_fix_diff(
    bin: &Path,
    dir: &Path,
    facts: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Vec<Check>> {
    let (before, after) = (dir.join("flood.trace"), dir.join("flood-read.trace"));
    if !before.exists() || !after.exists() {
        return Ok(Vec::new());
    }
    let diff = |args: &[&str], a: &Path, b: &Path| {
        Command::new(bin)
            .arg("diff")
            .args(args)
            .arg(a)
            .arg(b)
            .output()
    };
    let json = diff(&["--format", "json"], &before, &after)?;
    let value: Value = serde_json::from_slice(&json.stdout).unwrap_or_default();
    std::fs::write(dir.join("flood-diff.json"), &json.stdout)?;
    let gate = ["--fail-if", "drops_increased"];
    let fixed = diff(&gate, &before, &after)?.status.code();
    let reversed = diff(&gate, &after, &before)?.status.code();
    let of = |sc: &str| facts.get(sc).cloned().unwrap_or_default();
    let report = |sc: &str| -> Value {
        std::fs::read_to_string(dir.join(format!("{sc}.report.json")))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default()
    };
    let (flood, read) = (of("flood"), of("flood-read"));
    Ok(checks::diff_checks(
        &value,
        (&flood, &report("flood")),
        (&read, &report("flood-read")),
        fixed,
        reversed,
    ))
}

/// That the guest ran every scenario to its end and reported no error of its own.
fn guest_checks(run: &qemu::VmRun, release: &str) -> Vec<Check> {
    let done = run.console.iter().any(|l| l == "@@ST DONE");
    let tail: Vec<&str> = run
        .console
        .iter()
        .rev()
        .take(15)
        .rev()
        .map(String::as_str)
        .collect();
    let secs = run.elapsed.as_secs_f64();
    let ran = checks::check(
        "guest ran every scenario",
        done && !run.timed_out && run.hung.is_none(),
        if let Some(h) = &run.hung {
            format!(
                "guest kernel hung ({h}) after {secs:.0} s; console tail:\n{}",
                tail.join("\n")
            )
        } else if done {
            format!("booted {release}, done in {secs:.0} s")
        } else if run.timed_out {
            format!(
                "timed out after {secs:.0} s; console tail:\n{}",
                tail.join("\n")
            )
        } else {
            format!("guest stopped early; console tail:\n{}", tail.join("\n"))
        },
    );
    let errors: Vec<&str> = run
        .console
        .iter()
        .filter(|l| l.starts_with("@@ST ERROR"))
        .map(String::as_str)
        .collect();
    let clean = checks::check(
        "guest reported no errors",
        errors.is_empty(),
        if errors.is_empty() {
            "none".into()
        } else {
            errors.join("; ")
        },
    );
    vec![ran, clean]
}

/// Every output of `report` for one scenario's trace, kept beside it; the checks that the
/// renderers and `--check` agree with the JSON go into `checks`. Returns the JSON report,
/// read back into the model.
fn render_all(
    sc: &Scenario,
    trace: &Path,
    bin: &Path,
    dir: &Path,
    checks: &mut Vec<Check>,
) -> Result<Report> {
    let tool_wakeups = dir.join(format!("{}.tool-wakeups.jsonl", sc.id));
    let wakeups_arg = tool_wakeups.to_string_lossy().into_owned();
    let json = serial_trace(
        bin,
        &["report", "--format", "json", "--wakeups", &wakeups_arg],
        trace,
    )?;
    std::fs::write(dir.join(format!("{}.report.json", sc.id)), &json)?;
    let text = serial_trace(bin, &["report", "--color", "never"], trace)?;
    std::fs::write(dir.join(format!("{}.report.txt", sc.id)), &text)?;
    let report: Report = serde_json::from_str(&json).with_context(|| {
        format!(
            "{}: the JSON report does not read back into the model",
            trace.display()
        )
    })?;
    // the other renderers must carry the same numbers, and --check must gate on them
    let html = serial_trace(bin, &["report", "--format", "html"], trace)?;
    std::fs::write(dir.join(format!("{}.report.html", sc.id)), &html)?;
    let te = serial_trace(bin, &["report", "--format", "trace-event"], trace)?;
    std::fs::write(dir.join(format!("{}.trace-event.json", sc.id)), &te)?;
    let gate = Command::new(bin)
        .args(["report", "--check", "drops=0", "--check", "probes_alive"])
        .arg(trace)
        .output()?;
    checks.extend(checks::renderer_checks(
        sc.id,
        &report,
        &html,
        &serde_json::from_str(&te).unwrap_or(Value::Null),
        gate.status.code(),
    ));
    Ok(report)
}

/// The serial hooks that attached, as `hook: method on function`, for the support matrix.
fn serial_hooks(report: &Report) -> Vec<String> {
    report
        .probes
        .iter()
        .filter(|p| p.name.starts_with("serial:") && p.attached)
        .map(|p| {
            format!(
                "{}: {} on {}",
                p.name.trim_start_matches("serial:"),
                p.method.as_deref().unwrap_or("-"),
                p.function.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

/// The timer scenarios: the workload's own log of its wakeups against the tool's
/// (`report --wakeups`), with what the trace shows of each task (`dump`).
fn timer_scenario_checks(
    sc: &str,
    report: &Report,
    trace: &Path,
    bin: &Path,
    dir: &Path,
) -> Result<Vec<Check>> {
    let read = |name: &str| std::fs::read_to_string(dir.join(format!("{sc}.{name}")));
    let wakeups: Vec<checks::Wakeup> = read("wakeups.jsonl")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let missed = &report.events.recursion_misses;
    let misses = ["hrtimer_expire_entry", "sched_waking", "sched_switch"]
        .iter()
        .map(|&p| missed.get(p).copied().unwrap_or(0))
        .sum();
    let counted = report.events.misses_counted;
    let tool = checks::tool_lateness(&read("tool-wakeups.jsonl").unwrap_or_default());
    let held_off = checks::HeldOff::from_dump(&serial_trace(
        bin,
        &["dump", "--jsonl", "--symbols"],
        trace,
    )?);
    let evidence = checks::TimerEvidence {
        tool: &tool,
        held_off: &held_off,
        misses,
        counted,
    };
    let json = |name: &str| -> Value {
        read(name)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default()
    };
    let pairs = checks::clock_pair_check(sc, &held_off);
    let placed = checks::placed_check(sc, report.timers.unplaced_wakeups, misses, counted);
    let mut out = match sc {
        "timers" => {
            // Timer events the trace shows were skipped (a task's timer re-armed while
            // still armed in the trace): on kernels that do not count skips, the only count.
            let rearmed_unseen = report.timers.rearmed_unseen;
            let skipped = misses + rearmed_unseen;
            let mut out =
                checks::spanning_checks(&wakeups, report, skipped, counted || rearmed_unseen > 0);
            out.extend(checks::timer_checks_in(
                &wakeups,
                &checks::clockless_cycles(report),
                &tool,
                &held_off,
                misses,
                counted,
            ));
            let expiries = read("posix-ftrace.log")
                .ok()
                .map(|s| s.lines().count() as u64);
            out.extend(checks::restart_checks(
                &json("posix-timer.json"),
                expiries,
                report,
                skipped,
                counted,
            ));
            let tree = dir.join("timers.tree.trace");
            let dump = serial_trace(bin, &["dump", "--jsonl", "--kind", "hrtimer_start"], &tree)
                .unwrap_or_else(|e| format!("{e:#}"));
            out.push(checks::command_tree_check(&dump));
            out
        }
        "event-loop" => checks::event_loop_checks(&wakeups, &evidence, report),
        "asyncio" => asyncio::checks(&wakeups, &json("workload.json"), &evidence, report),
        _ => {
            let out = read("latencies.log").unwrap_or_default();
            cyclictest::checks(
                cyclictest::parse(&out).as_ref(),
                scenarios::CYCLICTEST_LOOPS,
                &evidence,
                report,
            )
        }
    };
    out.extend([pairs, placed]);
    Ok(out)
}

/// `target/vm/matrix-<arch>.md`: the kernel support matrix of this run, for the README.
fn write_matrix(results: &[KernelResult], out: &Path) -> Result<()> {
    let mut md = String::from(
        "| kernel | Debian package | tracepoints attached | not attached | serial path (hook: method on function) | checks |\n|---|---|---|---|---|---|\n",
    );
    for r in results {
        // classic or raw: a hook of a tracepoint either way
        let tracepoint =
            |p: &&ProbeRow| matches!(p.method.as_deref(), Some("tracepoint" | "raw_tracepoint"));
        let attached = r
            .probes
            .iter()
            .filter(tracepoint)
            .filter(|p| p.attached)
            .count();
        let raw = r
            .probes
            .iter()
            .filter(|p| p.attached && p.method.as_deref() == Some("raw_tracepoint"))
            .count();
        let tracepoints = r.probes.iter().filter(tracepoint).count();
        let absent: Vec<String> = r
            .probes
            .iter()
            .filter(tracepoint)
            .filter(|p| !p.attached)
            .map(|p| p.name.clone())
            .collect();
        let serial = &r.serial_rows;
        let passed = r.checks.iter().filter(|c| c.ok).count();
        md.push_str(&format!(
            "| {} ({}) | {} {} | {attached}/{tracepoints} ({raw} raw) | {} | {} | {passed}/{} {} |\n",
            r.kernel.id,
            r.release,
            r.kernel.package,
            r.kernel.version,
            if absent.is_empty() {
                "-".into()
            } else {
                absent.join(", ")
            },
            serial.join("; "),
            r.checks.len(),
            if r.passed() { "pass" } else { "FAIL" }.to_string()
                + &r.notes.iter().map(|n| format!("; {n}")).collect::<String>()
        ));
    }
    std::fs::write(out, &md)?;
    eprintln!("{md}");
    Ok(())
}
