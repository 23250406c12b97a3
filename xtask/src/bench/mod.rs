//! `cargo xtask bench`: serial-trace against the tools a user would otherwise pick, measured
//! side by side in one run, and the report's throughput. Prints the tables and rewrites
//! `BENCHMARKS.md`. Measurements only: nothing here passes or fails on a number.

mod drain;
mod long_run;
mod loss_rate;
mod markdown;
mod monitor_soak;
mod program_cost;
mod report_speed;
mod serial_vm;
mod tracer;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::util::{self, output};
use tracer::{Outcome, Tool};

#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Repetitions of the overhead workload under each tracer (interleaved, tracer order
    /// rotated each repetition; repetition r runs the workload on CPU r mod the CPU count).
    #[arg(long, default_value_t = 6)]
    pub reps: usize,
    /// Rounds of the overhead workload per repetition: each arms and disarms a timerfd,
    /// two timer events.
    #[arg(long, default_value_t = 500_000)]
    pub rounds: u64,
    /// Seconds each step of the zero-loss rate search lasts.
    #[arg(long, default_value_t = 10.0)]
    pub loss_seconds: f64,
    /// Seconds of the long recording whose peak memory the RSS target is judged on (0 skips
    /// it).
    #[arg(long, default_value_t = 60)]
    pub long_seconds: u64,
    /// Skip the zero-loss rate search (about 3 minutes).
    #[arg(long)]
    pub skip_loss: bool,
    /// Boots of the QEMU guest for the serial path's cost (each floods ttyS1 twice: hooked
    /// and unhooked); 0 skips it.
    #[arg(long, default_value_t = 3)]
    pub vm_boots: usize,
    /// Sizes, in events, of the generated traces the report is timed on.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000_000u64, 10_000_000])]
    pub report_events: Vec<u64>,
    /// Print the tables only; leave BENCHMARKS.md as it is.
    #[arg(long)]
    pub no_write: bool,
    /// Measure only serial-trace, `--reps` times on the last CPU: its overhead per event on
    /// the overhead workload (against the workload alone, run just before) and what each of
    /// its eBPF programs costs a run (the kernel's own accounting,
    /// `kernel.bpf_stats_enabled=1`, in a second run). For A/B comparisons of changes to the
    /// programs or the recorder: alternate two builds. Writes nothing.
    #[arg(long)]
    pub program_costs: bool,
    /// Only soak `serial-trace monitor` for this many minutes at 100 k events/s (a window
    /// saved every minute into a directory that holds fewer, metrics on): its own memory and
    /// the directory sampled every 10 s, judged against its flags and for growth. Writes
    /// nothing.
    #[arg(long, value_name = "MINUTES")]
    pub monitor_soak: Option<u64>,
}

/// One repetition of the overhead workload under one tracer.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Wall time of the workload, as it measured itself.
    pub wall_s: f64,
    /// The CPU the workload ran on.
    pub cpu: usize,
    pub tracer: Outcome,
}

/// Everything one run measured.
pub struct Results {
    pub args: BenchArgs,
    pub overhead: Vec<(Tool, Vec<Sample>)>,
    pub loss: Vec<loss_rate::Search>,
    /// The recorder's drain rate out of a full ring (with the loss search).
    pub drain: Option<drain::Drain>,
    /// The long recording's memory (`--long-seconds`).
    pub long: Option<long_run::LongRun>,
    pub serial: Option<serial_vm::SerialCost>,
    pub report: Vec<report_speed::Measured>,
    /// Wall time of `serial-trace probe`, each run (exec to exit: planning, test loads,
    /// detaching).
    pub probe_s: Vec<f64>,
    pub machine: markdown::Machine,
}

pub fn run(args: BenchArgs) -> Result<()> {
    if !util::is_root() {
        bail!(
            "the benchmark loads eBPF programs (serial-trace, bpftrace, perf): run `sudo -E cargo xtask bench`"
        );
    }
    crate::setup::debian_packages(PEERS)?;
    let root = util::root();
    util::build_release(&[
        "--bin",
        "serial-trace",
        "--bin",
        "event-generator",
        "--example",
        "synthetic-trace",
    ])?;
    let bins = Bins::new(&root.join("target/release"));
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    if args.program_costs {
        return program_cost::measure(args.reps, args.rounds, &bins, &dir);
    }
    if let Some(minutes) = args.monitor_soak {
        return monitor_soak::measure(minutes, &bins, &dir);
    }

    let machine = markdown::Machine::here();
    eprintln!(
        "xtask bench: overhead, {} repetitions of {} rounds per tracer",
        args.reps, args.rounds
    );
    let overhead = overhead(&args, &bins, &dir)?;
    let loss = if args.skip_loss {
        Vec::new()
    } else {
        [Tool::SerialTrace, Tool::Bpftrace]
            .into_iter()
            .map(|t| loss_rate::search(t, args.loss_seconds, &bins, &dir))
            .collect::<Result<_>>()?
    };
    let drain = if args.skip_loss {
        None
    } else {
        Some(drain::measure(&bins, &dir)?)
    };
    let long = if args.long_seconds == 0 {
        None
    } else {
        Some(long_run::measure(args.long_seconds, &bins, &dir)?)
    };
    let serial = if args.vm_boots == 0 {
        None
    } else {
        Some(serial_vm::measure(args.vm_boots)?)
    };
    let report = args
        .report_events
        .iter()
        .map(|&n| report_speed::measure(n, &bins, &dir))
        .collect::<Result<_>>()?;
    let probe_s = probe_times(&bins, 5)?;
    let results = Results {
        args: args.clone(),
        overhead,
        loss,
        drain,
        long,
        serial,
        report,
        probe_s,
        machine,
    };
    let text = markdown::render(&results);
    println!("{text}");
    if !args.no_write {
        let path = root.join("BENCHMARKS.md");
        std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("xtask bench: wrote {}", path.display());
    }
    Ok(())
}

/// `serial-trace probe`'s wall time, `runs` times (its output is not kept).
fn probe_times(bins: &Bins, runs: usize) -> Result<Vec<f64>> {
    (0..runs)
        .map(|_| {
            let t = std::time::Instant::now();
            let st = std::process::Command::new(&bins.serial_trace)
                .arg("probe")
                .stdout(std::process::Stdio::null())
                .status()
                .context("running serial-trace probe")?;
            anyhow::ensure!(st.success(), "serial-trace probe failed: {st}");
            Ok(t.elapsed().as_secs_f64())
        })
        .collect()
}

/// The peers, and GNU time for the report's peak memory, by binary and Debian package.
const PEERS: &[(&str, &str)] = &[
    ("bpftrace", "bpftrace"),
    ("perf", "linux-perf"),
    ("time", "time"),
];

/// The binaries under test.
pub struct Bins {
    pub serial_trace: PathBuf,
    pub generator: PathBuf,
    pub synthetic: PathBuf,
}

impl Bins {
    fn new(release: &Path) -> Self {
        Self {
            serial_trace: release.join("serial-trace"),
            generator: release.join("event-generator"),
            synthetic: release.join("examples/synthetic-trace"),
        }
    }
}

/// The overhead workload under every tracer, `reps` times, interleaved: repetition r starts
/// with tracer r (mod 4), so no tracer always runs first or right after another, and runs on
/// CPU r (mod the CPU count): a tracer's cost can differ between CPUs (see `overhead_section`).
fn overhead(args: &BenchArgs, bins: &Bins, dir: &Path) -> Result<Vec<(Tool, Vec<Sample>)>> {
    let mut samples: Vec<(Tool, Vec<Sample>)> =
        Tool::ALL.iter().map(|&t| (t, Vec::new())).collect();
    for rep in 0..args.reps {
        let cpu = rep % loss_rate::generator_threads();
        for i in 0..Tool::ALL.len() {
            let k = (rep + i) % Tool::ALL.len();
            let tool = Tool::ALL[k];
            let (rounds, cpu_arg) = (args.rounds.to_string(), cpu.to_string());
            // the collector (serial-trace's recorder, bpftrace's and perf's readers) runs on the
            // other CPU: on the workload's, its own work (0.17 s a run for serial-trace's) was
            // added to the workload's time whenever the scheduler put it there, a spread of
            // 0.78–0.92 s between runs (its collector cost is section 3's)
            let (run, outcome) = under_away_from(
                tool,
                bins,
                dir,
                &["--count", &rounds, "--cpu", &cpu_arg],
                Some(cpu),
            )?;
            let wall_s = run.seconds();
            eprintln!(
                "xtask bench: rep {} cpu {cpu} {:<13} {:.3} s, {} events recorded, {} lost, collector {:.3} s CPU",
                rep + 1,
                tool.name(),
                wall_s,
                outcome.events,
                outcome.lost,
                outcome.cpu_s
            );
            samples[k].1.push(Sample {
                wall_s,
                cpu,
                tracer: outcome,
            });
        }
    }
    Ok(samples)
}

/// What `event-generator` printed.
#[derive(serde::Deserialize)]
pub struct GeneratorRun {
    pub rounds: u64,
    pub start_boot_ns: u64,
    pub end_boot_ns: u64,
}

impl GeneratorRun {
    pub fn seconds(&self) -> f64 {
        (self.end_boot_ns - self.start_boot_ns) as f64 / 1e9
    }
}

/// `event-generator args` under `tool` (started, its start-up CPU set aside, stopped and read
/// back); `Bare` runs the generator alone.
pub fn under(
    tool: Tool,
    bins: &Bins,
    dir: &Path,
    args: &[&str],
) -> Result<(GeneratorRun, Outcome)> {
    under_away_from(tool, bins, dir, args, None)
}

/// As [`under`], the tracer's own processes kept off CPU `away_from` (where the workload runs).
pub fn under_away_from(
    tool: Tool,
    bins: &Bins,
    dir: &Path,
    args: &[&str],
    away_from: Option<usize>,
) -> Result<(GeneratorRun, Outcome)> {
    let mut session = tracer::start(tool, dir, &bins.serial_trace, away_from)?;
    if let Some(s) = session.as_mut() {
        s.mark_workload();
    }
    let run = generator(bins, args)?;
    let outcome = match session {
        Some(s) => s.stop(&bins.serial_trace)?,
        None => Outcome::default(),
    };
    Ok((run, outcome))
}

pub(super) fn generator(bins: &Bins, args: &[&str]) -> Result<GeneratorRun> {
    let o = output(Command::new(&bins.generator).args(args))?;
    if !o.status.success() {
        bail!(
            "event-generator failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    serde_json::from_slice(&o.stdout).context("event-generator output")
}

/// Waits until `serial-trace record` (`child`) has written the header of `out`: it records
/// from then on (every hook attached). Killed if that takes over a minute.
pub(super) fn wait_for_header(out: &Path, child: &mut std::process::Child) -> Result<()> {
    let t = std::time::Instant::now();
    while std::fs::metadata(out).map_or(true, |m| m.len() == 0) {
        if t.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            bail!("serial-trace did not start recording within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

/// The median of `v` (NaN for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }
}
