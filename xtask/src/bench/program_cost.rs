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

use anyhow::{Context, Result, bail};

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

/// The loaded programs' run statistics by id, with their names.
fn snapshot() -> Result<BTreeMap<u32, (String, Runs)>> {
    let mut all = BTreeMap::new();
    let mut id = 0u32;
    while let Some(next) = next_prog_id(id)? {
        id = next;
        // a program unloaded between the two calls is simply not there
        if let Some(info) = prog_info(id)? {
            all.insert(id, info);
        }
    }
    Ok(all)
}

const BPF_PROG_GET_NEXT_ID: libc::c_long = 11;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;

fn sys_bpf(cmd: libc::c_long, attr: &mut [u8]) -> libc::c_long {
    // SAFETY: `attr` is a buffer of its length that the kernel reads and writes within.
    unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) }
}

fn next_prog_id(start: u32) -> Result<Option<u32>> {
    // union bpf_attr { struct { __u32 start_id; __u32 next_id; ... } }
    let mut attr = [0u8; 16];
    attr[0..4].copy_from_slice(&start.to_ne_bytes());
    if sys_bpf(BPF_PROG_GET_NEXT_ID, &mut attr) < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOENT) {
            return Ok(None);
        }
        bail!("BPF_PROG_GET_NEXT_ID: {e}");
    }
    Ok(Some(u32::from_ne_bytes(attr[4..8].try_into()?)))
}

/// `struct bpf_prog_info` offsets (include/uapi/linux/bpf.h, stable UAPI).
const INFO_NAME: usize = 64;
const INFO_RUN_TIME_NS: usize = 192;
const INFO_RUN_CNT: usize = 200;
const INFO_LEN: usize = 216;

fn prog_info(id: u32) -> Result<Option<(String, Runs)>> {
    let mut attr = [0u8; 16];
    attr[0..4].copy_from_slice(&id.to_ne_bytes());
    let fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut attr);
    if fd < 0 {
        return Ok(None);
    }
    let mut info = [0u8; INFO_LEN];
    // struct { __u32 bpf_fd; __u32 info_len; __aligned_u64 info; }
    let mut attr = [0u8; 16];
    attr[0..4].copy_from_slice(&(fd as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(INFO_LEN as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(info.as_mut_ptr() as u64).to_ne_bytes());
    let rc = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr);
    // SAFETY: our own fd from the call above.
    unsafe { libc::close(fd as i32) };
    if rc < 0 {
        return Ok(None);
    }
    let name = &info[INFO_NAME..INFO_NAME + 16];
    let name = String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap_or(16)])
        .into_owned();
    let u64_at = |at: usize| u64::from_ne_bytes(info[at..at + 8].try_into().unwrap_or([0; 8]));
    Ok(Some((
        name,
        Runs {
            count: u64_at(INFO_RUN_CNT),
            time_ns: u64_at(INFO_RUN_TIME_NS),
        },
    )))
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
        let before = snapshot()?;
        generator(bins, &workload)?;
        let after = snapshot()?;
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
