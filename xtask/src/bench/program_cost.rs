//! `cargo xtask bench --program-costs`: serial-trace alone against the workload alone, and what
//! each of its eBPF programs costs a run, from the kernel's own accounting
//! (`kernel.bpf_stats_enabled=1`: `run_time_ns / run_cnt` of `bpf_prog_info`). For A/B
//! comparisons of changes (alternate two builds, a few repetitions each): the overhead per
//! event is the whole cost the tracer adds to the workload, the per-program figures say which
//! program it lands in. The accounting adds two clock reads a run (an empty program measures
//! ~32 ns on the project's Xeon host), the same for every build, so the two are taken in
//! separate runs.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::tracer::{self, Tool};
use super::{Bins, generator, median};

/// `kernel.bpf_stats_enabled`, restored to what it was when dropped.
struct StatsEnabled {
    before: String,
}

const STATS_SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl StatsEnabled {
    fn on() -> Result<Self> {
        let before =
            fs::read_to_string(STATS_SYSCTL).context("reading kernel.bpf_stats_enabled")?;
        fs::write(STATS_SYSCTL, "1").context("setting kernel.bpf_stats_enabled=1")?;
        Ok(Self { before })
    }
}

impl Drop for StatsEnabled {
    fn drop(&mut self) {
        let _ = fs::write(STATS_SYSCTL, self.before.trim());
    }
}

/// Run count and time of one program.
#[derive(Clone, Copy, Default)]
struct Runs {
    count: u64,
    time_ns: u64,
}

/// The loaded programs' run statistics by id, with their names (aya's `loaded_programs`: the
/// kernel's `bpf_prog_info` of each). A program unloaded meanwhile is simply not there.
fn snapshot() -> BTreeMap<u32, (String, Runs)> {
    let mut all = BTreeMap::new();
    for info in aya::programs::loaded_programs().flatten() {
        let runs = Runs {
            count: info.run_count(),
            time_ns: info.run_time().as_nanos() as u64,
        };
        let name = info.name_as_str().unwrap_or_default().to_string();
        all.insert(info.id(), (name, runs));
    }
    all
}

/// Runs the overhead workload `reps` times on the last CPU: alone, under `serial-trace record`
/// (its recorder kept off that CPU), and again under it with the kernel's accounting on.
/// Prints the overhead per event (the workload's own time, traced − alone, without the
/// accounting) and each program's median ns per run, for the programs that ran at least once
/// per round.
pub fn measure(reps: usize, rounds: u64, bins: &Bins, dir: &Path) -> Result<()> {
    let cpu = super::loss_rate::generator_threads().saturating_sub(1);
    let workload = [
        "--count".to_string(),
        rounds.to_string(),
        "--cpu".to_string(),
        cpu.to_string(),
    ];
    let workload: Vec<&str> = workload.iter().map(String::as_str).collect();
    let mut per_prog: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut overhead = Vec::new();
    for rep in 0..reps {
        let bare = generator(bins, &workload)?.seconds();
        let (traced, outcome) =
            super::under_away_from(Tool::SerialTrace, bins, dir, &workload, Some(cpu))?;
        // the workload's own count (two timer events a round), not what was recorded: a
        // build that records nothing (an ablation) still has its cost per event
        let ns = (traced.seconds() - bare) * 1e9 / (2 * traced.rounds).max(1) as f64;
        overhead.push(ns);
        let stats = StatsEnabled::on()?;
        let session = tracer::start(Tool::SerialTrace, dir, &bins.serial_trace, Some(cpu))?
            .context("serial-trace did not start")?;
        let before = snapshot();
        generator(bins, &workload)?;
        let after = snapshot();
        drop(stats);
        let counted = session.stop(&bins.serial_trace)?;
        let mut line = format!(
            "rep {}: alone {bare:.3} s, traced {:.3} s ({} events, {} lost): {ns:.0} ns an event; with the accounting ({} events, {} lost):",
            rep + 1,
            traced.seconds(),
            outcome.events,
            outcome.lost,
            counted.events,
            counted.lost,
        );
        for (id, (name, a)) in &after {
            let b = before.get(id).map_or(Runs::default(), |(_, r)| *r);
            let count = a.count.saturating_sub(b.count);
            if count < rounds {
                continue;
            }
            let ns = a.time_ns.saturating_sub(b.time_ns) as f64 / count as f64;
            line.push_str(&format!(" {name} {ns:.0}"));
            per_prog.entry(name.clone()).or_default().push(ns);
        }
        eprintln!("xtask bench: {line}");
    }
    let list = |v: &[f64]| {
        v.iter()
            .map(|ns| format!("{ns:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("CPU {cpu}, median of {reps}:");
    println!(
        "{:<16} {:>6.0}   ({})",
        "overhead/event",
        median(overhead.clone()),
        list(&overhead)
    );
    println!("program ns a run (kernel.bpf_stats_enabled=1):");
    for (name, v) in per_prog {
        println!("{name:<16} {:>6.0}   ({})", median(v.clone()), list(&v));
    }
    Ok(())
}
