//! `BENCHMARKS.md`: the machine, the method and the tables of one `cargo xtask bench` run,
//! the targets against what was measured, and the history of what changed (`history.md`).

use std::fmt::Write;
use std::process::Command;

use super::tracer::{TRACEPOINTS, Tool, available};
use super::{Results, median};
use crate::util::stdout_of;

/// Where and with what the run happened.
pub struct Machine {
    pub date: String,
    pub kernel: String,
    pub cpu: String,
    pub cores: usize,
    pub commit: String,
    pub bpftrace: String,
    pub perf: String,
}

impl Machine {
    pub fn here() -> Self {
        let run = |prog: &str, args: &[&str]| {
            stdout_of(Command::new(prog).args(args)).unwrap_or_else(|| "?".into())
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "?".into());
        Self {
            date: run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            kernel: run("uname", &["-r"]),
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            commit: run("git", &["describe", "--always", "--dirty"]),
            bpftrace: run("bpftrace", &["--version"]),
            perf: run("perf", &["--version"]),
        }
    }
}

fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 && c.is_ascii_digit() {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn render(r: &Results) -> String {
    let mut s = String::new();
    let w = &mut s;
    header(w, r);
    overhead_section(w, r);
    serial_section(w, r);
    loss_section(w, r);
    collector_section(w, r);
    report_section(w, r);
    targets(w, r);
    let _ = writeln!(w, "\n{}", include_str!("history.md").trim_end());
    s
}

/// The title, how the file was made, and the machine.
fn header(w: &mut String, r: &Results) {
    let m = &r.machine;
    let a = &r.args;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "Written by `sudo -E cargo xtask bench` (options: `--reps {} --rounds {} --loss-seconds {}{} --long-seconds {} --vm-boots {}`) \
         on {}; run it again to reproduce every table. Every peer is measured in the same run, \
         interleaved with serial-trace. Nothing here is a test: the numbers vary from run to \
         run, most of all on a VM.\n",
        a.reps,
        a.rounds,
        a.loss_seconds,
        if a.skip_loss { " --skip-loss" } else { "" },
        a.long_seconds,
        a.vm_boots,
        m.date
    );
    let _ = writeln!(w, "| machine | |\n|---|---|");
    let _ = writeln!(w, "| CPU | {} × {} |", m.cores, m.cpu);
    let _ = writeln!(w, "| kernel | {} |", m.kernel);
    let _ = writeln!(w, "| serial-trace | commit {} |", m.commit);
    let _ = writeln!(w, "| peers | {}; {} |\n", m.bpftrace, m.perf);
}

/// A tracer's overhead per recorded event, in ns: its median time over the bare median, per
/// timer event of the workload (2 a round).
fn per_event_ns(r: &Results, t: Tool, cpu: usize) -> f64 {
    let bare = overhead_median(r, Tool::Bare, cpu);
    (overhead_median(r, t, cpu) - bare) / (2.0 * r.args.rounds as f64) * 1e9
}

/// The CPUs the overhead workload ran on, ascending.
fn overhead_cpus(r: &Results) -> Vec<usize> {
    let mut cpus: Vec<usize> = r
        .overhead
        .iter()
        .flat_map(|(_, s)| s.iter().map(|s| s.cpu))
        .collect();
    cpus.sort_unstable();
    cpus.dedup();
    cpus
}

/// serial-trace's overhead per event against `peer`'s on the CPU where the ratio is worst for
/// serial-trace: (CPU, serial-trace ns, peer ns).
fn worst_against(r: &Results, peer: Tool) -> Option<(usize, f64, f64)> {
    overhead_cpus(r)
        .into_iter()
        .map(|c| {
            (
                c,
                per_event_ns(r, Tool::SerialTrace, c),
                per_event_ns(r, peer, c),
            )
        })
        .max_by(|a, b| (a.1 / a.2).total_cmp(&(b.1 / b.2)))
}

/// What bpftrace's `count()` costs per event on CPU 0 beyond the mean of the other CPUs (its
/// perf events live on CPU 0); `None` with one CPU.
fn count_cpu0_surcharge(r: &Results) -> Option<f64> {
    let others: Vec<f64> = overhead_cpus(r)
        .into_iter()
        .filter(|&c| c != 0)
        .map(|c| per_event_ns(r, Tool::BpftraceCount, c))
        .collect();
    (!others.is_empty()).then(|| {
        per_event_ns(r, Tool::BpftraceCount, 0) - others.iter().sum::<f64>() / others.len() as f64
    })
}

/// Section 1: overhead per event, every tracer on the same tracepoints.
fn overhead_section(w: &mut String, r: &Results) {
    let a = &r.args;
    let tps = available(TRACEPOINTS).join("`, `");
    let _ = writeln!(w, "## 1. Overhead per event\n");
    let _ = writeln!(
        w,
        "The workload (`event-generator --count {rounds}`) arms and disarms a timerfd {rounds} times: \
         {events} timer events (`hrtimer_start`, `hrtimer_cancel`) in its own context, so every \
         nanosecond a tracer adds per event lands in the workload's own time, which it measures \
         itself. Each tracer records the same tracepoints, `{tps}`: serial-trace as \
         `record --hooks timer,alarmtimer,power`; bpftrace with a script that prints every field \
         serial-trace keeps (skipping its own timers, as serial-trace does), and with one that \
         only counts each tracepoint's events in a map (`count()`, in the kernel: the least a \
         tracer can do per event); `perf record -a -e …` for each. Overhead per event = (median \
         time under the tracer − median bare time on the same CPU) / {events}.\n\n\
         The workload runs on one CPU per repetition, each CPU in turn (`--cpu`), and every \
         ratio compares tracers on the same CPU: a classic tracepoint's perf event, which \
         bpftrace (and aya, for serial-trace's classic hooks) opens on CPU 0, makes the kernel \
         do perf's own sample work for every hit on that CPU, so bpftrace's `count()` costs \
         {surcharge} ns more per event on CPU 0 than elsewhere in this run. serial-trace's hot hooks are raw \
         tracepoints, which have no perf event. Each tracer's own processes (serial-trace's \
         recorder, bpftrace, perf) run on the other CPUs, so what lands in the workload's time \
         is what the tracer does in its context; what its collector costs is section 3's.\n",
        rounds = thousands(a.rounds as f64),
        events = thousands(2.0 * a.rounds as f64),
        surcharge = count_cpu0_surcharge(r).map_or("—".into(), |ns| format!("{ns:.0}")),
    );
    let _ = writeln!(
        w,
        "| tracer | CPU | runs (s) | median (s) | overhead per event | vs bpftrace printing | vs bpftrace count() |\n|---|---:|---|---|---:|---:|---:|"
    );
    for (tool, samples) in &r.overhead {
        for cpu in overhead_cpus(r) {
            let per_event = |t: Tool| per_event_ns(r, t, cpu);
            let runs: Vec<String> = samples
                .iter()
                .filter(|s| s.cpu == cpu)
                .map(|s| format!("{:.3}", s.wall_s))
                .collect();
            let (ns, ratio, to_count) = if *tool == Tool::Bare {
                ("—".to_string(), "—".to_string(), "—".to_string())
            } else {
                let ns = per_event(*tool);
                (
                    format!("{ns:.0} ns"),
                    format!("{:.2}×", ns / per_event(Tool::Bpftrace)),
                    format!("{:.2}×", ns / per_event(Tool::BpftraceCount)),
                )
            };
            let _ = writeln!(
                w,
                "| {} | {cpu} | {} | {:.3} | {ns} | {ratio} | {to_count} |",
                tool.name(),
                runs.join(" "),
                overhead_median(r, *tool, cpu)
            );
        }
    }
}

/// Section 2: the highest event rate each tracer records without loss.
fn loss_section(w: &mut String, r: &Results) {
    let a = &r.args;
    let _ = writeln!(w, "\n## 2. Highest rate with zero loss (default buffers)\n");
    if r.loss.is_empty() {
        let _ = writeln!(w, "Not measured in this run (`--skip-loss`).");
    } else {
        let _ = writeln!(
            w,
            "`event-generator --rate R --seconds {}` paces a timerfd workload to R events a second: \
             each round moves an armed timerfd's deadline (one `timerfd_settime`, a cancel and a \
             start), half the system calls per event of the overhead workload's arm and disarm. \
             The generator runs {threads} threads (one per CPU), so that the tracer, not the \
             generator, ends the search. \
             The rate doubles from 250 k/s until a step loses events, then three bisections; \
             a step that cannot reach 95 % of its rate under the tracer ends the search (the \
             tracer slowed the workload before it lost anything). Default buffers: serial-trace's \
             4 MiB ring buffer; bpftrace's perf buffers.\n",
            a.loss_seconds,
            threads = super::loss_rate::generator_threads(),
        );
        let _ = writeln!(
            w,
            "| tracer | best zero-loss rate | loss begins at | ended by | steps: target → made (lost) |\n|---|---:|---:|---|---|"
        );
        for l in &r.loss {
            let steps: Vec<String> = l
                .steps
                .iter()
                .map(|s| {
                    format!(
                        "{}k → {}k ({})",
                        thousands(s.target / 1e3),
                        thousands(s.achieved / 1e3),
                        thousands(s.lost as f64)
                    )
                })
                .collect();
            let _ = writeln!(
                w,
                "| {} | {} events/s | {} | {} | {} |",
                l.tool.name(),
                l.best().map_or("none".into(), thousands),
                l.loss_onset().map_or("not reached".into(), |r| format!(
                    "{} events/s",
                    thousands(r)
                )),
                if l.generator_bound() {
                    "the workload's limit under it"
                } else {
                    "loss"
                },
                steps.join("; ")
            );
        }
        if let Some(d) = r.drain {
            let _ = writeln!(
                w,
                "\nThe ring's limit, where the generator cannot reach it: serial-trace recorded with a \
                 {} ring while stopped (SIGSTOP), `event-generator --count` filled it flat out, then \
                 the recorder was let go and stopped at once (SIGCONT, SIGINT; a clean stop drains \
                 the whole ring, compresses and writes it): {} events ({} lost) in {:.2} s, \
                 **{} events/s** drained by one recorder thread ({:.0} ns an event, against the \
                 {:.0} ns the programs add to the workload per event in section 1). Loss begins \
                 only where the programs produce faster than that for longer than the ring holds.",
                drain_ring(),
                thousands(d.events as f64),
                thousands(d.lost as f64),
                d.seconds,
                thousands(d.events_per_s()),
                1e9 / d.events_per_s(),
                overhead_cpus(r)
                    .into_iter()
                    .map(|c| per_event_ns(r, Tool::SerialTrace, c))
                    .fold(f64::NAN, f64::min),
            );
        }
    }
}

/// The ring the drain measurement used.
fn drain_ring() -> &'static str {
    super::drain::RING
}

/// Section 3: what the collector process costs, and what it writes per event.
fn collector_section(w: &mut String, r: &Results) {
    let _ = writeln!(w, "\n## 3. Collector cost and trace size\n");
    let _ = writeln!(
        w,
        "From the overhead runs: CPU time of the collector process (with its children) from \
         the workload's start to its exit, per million events it recorded (its own noise \
         included: perf records its own timers), the size of its output per event, the time \
         from its exec to recording (serial-trace: its header written after every attach), and \
         its peak resident size (medians).\n"
    );
    let _ = writeln!(
        w,
        "| tracer | events recorded (median) | lost | collector CPU per M events | bytes per event | output | start | peak RSS |\n|---|---:|---:|---:|---:|---|---:|---:|"
    );
    for (tool, samples) in r.overhead.iter().filter(|(t, _)| *t != Tool::Bare) {
        let med = |f: &dyn Fn(&super::Sample) -> f64| median(samples.iter().map(f).collect());
        let events = med(&|s| s.tracer.events as f64);
        let lost: u64 = samples.iter().map(|s| s.tracer.lost).sum();
        let cpu = med(&|s| s.tracer.cpu_s / s.tracer.events.max(1) as f64 * 1e6);
        let bpe = med(&|s| s.tracer.bytes as f64 / s.tracer.events.max(1) as f64);
        let start = med(&|s| s.tracer.ready_s);
        let rss = med(&|s| s.tracer.max_rss_kb as f64) / 1024.0;
        let _ = writeln!(
            w,
            "| {} | {} | {} | {:.3} s | {:.1} | {} | {start:.2} s | {rss:.1} MB |",
            tool.name(),
            thousands(events),
            lost,
            cpu,
            bpe,
            match tool {
                Tool::SerialTrace => "serial-trace trace",
                Tool::Bpftrace => "text lines (`-o`)",
                Tool::BpftraceCount => "a count per tracepoint",
                Tool::Perf => "perf.data",
                Tool::Bare => "",
            }
        );
    }
}

/// Section 4: how fast `report` reads traces of growing size, and in how much memory.
fn report_section(w: &mut String, r: &Results) {
    let _ = writeln!(w, "\n## 4. Report throughput and memory\n");
    let _ = writeln!(
        w,
        "Traces made by `examples/synthetic-trace.rs` (timers of sleeping tasks, a new task \
         every 2,000 timers, serial traffic with drop bursts, an S3 cycle per million events), \
         analysed in full by `serial-trace report --format json`: median of 3 runs, largest \
         peak resident size.\n"
    );
    let _ = writeln!(
        w,
        "| events | trace | bytes per event | time | events/s | peak memory |\n|---:|---:|---:|---:|---:|---:|"
    );
    for m in &r.report {
        let _ = writeln!(
            w,
            "| {} | {:.1} MB | {:.1} | {:.2} s | {:.1} M | {:.1} MB |",
            thousands(m.events as f64),
            m.file_bytes as f64 / 1e6,
            m.file_bytes as f64 / m.events as f64,
            m.seconds,
            m.events_per_s() / 1e6,
            m.max_rss_kb as f64 / 1024.0
        );
    }
}

/// The project's performance targets (issue 16), each with what this run measured.
fn targets(w: &mut String, r: &Results) {
    let _ = writeln!(w, "\n## Targets\n");
    let _ = writeln!(w, "| target | measured | met |\n|---|---|---|");
    // on the CPU where serial-trace compares worst
    let (count_cpu, st_ns, count_ns) =
        worst_against(r, Tool::BpftraceCount).unwrap_or((0, f64::NAN, f64::NAN));
    target(
        w,
        "recording every event ≤ 1.0× bpftrace's `count()` per event",
        format!(
            "{st_ns:.0} ns vs {count_ns:.0} ns ({:.2}×, CPU {count_cpu})",
            st_ns / count_ns
        ),
        st_ns <= count_ns,
    );
    let (print_cpu, st_ns, bpftrace_ns) =
        worst_against(r, Tool::Bpftrace).unwrap_or((0, f64::NAN, f64::NAN));
    target(
        w,
        "≤ 0.05× bpftrace printing every event",
        format!(
            "{st_ns:.0} ns vs {bpftrace_ns:.0} ns ({:.2}×, CPU {print_cpu})",
            st_ns / bpftrace_ns
        ),
        st_ns <= 0.05 * bpftrace_ns,
    );
    if let Some(l) = r.loss.iter().find(|l| l.tool == Tool::SerialTrace) {
        let best = l.best().unwrap_or(0.0);
        // where the generator ran out first, the ring's limit is the recorder's drain rate
        let drain = r.drain.filter(|d| d.lost == 0).map(|d| d.events_per_s());
        let limit_beyond = l.generator_bound() && drain.is_some_and(|d| d >= 2_000_000.0);
        target(
            w,
            "zero loss at ≥ 2 M events/s (or the measured ring limit, explained)",
            format!(
                "{} events/s; {}{}",
                thousands(best),
                l.loss_onset().map_or(
                    "no loss at any rate the workload reached under it".into(),
                    |r| format!("loss begins at {} events/s", thousands(r))
                ),
                drain.map_or(String::new(), |d| format!(
                    "; the recorder drains {} events/s out of a full ring (section 2), so loss \
                     cannot begin below that rate whatever the workload",
                    thousands(d)
                ))
            ),
            best >= 2_000_000.0 || limit_beyond,
        );
    }
    // the largest trace: process start-up weighs on the small ones
    if let Some(largest) = r.report.iter().max_by_key(|m| m.events) {
        let rate = largest.events_per_s();
        target(
            w,
            "report ≥ 15 M events/s",
            format!(
                "{:.1} M events/s ({} events)",
                rate / 1e6,
                thousands(largest.events as f64)
            ),
            rate >= 15e6,
        );
    }
    if let Some((_, samples)) = r.overhead.iter().find(|(t, _)| *t == Tool::SerialTrace) {
        let med = |f: &dyn Fn(&super::Sample) -> f64| median(samples.iter().map(f).collect());
        let bpe = med(&|s| s.tracer.bytes as f64 / s.tracer.events.max(1) as f64);
        target(
            w,
            "≤ 6 bytes per event on disk",
            format!("{bpe:.1} (recorded timer events)"),
            bpe <= 6.0,
        );
        let start = med(&|s| s.tracer.ready_s);
        target(
            w,
            "start of `record` (exec → recording) ≤ 0.3 s",
            format!("{start:.2} s"),
            start <= 0.3,
        );
        let mut probe = r.probe_s.clone();
        probe.sort_by(f64::total_cmp);
        let probe_med = probe.get(probe.len() / 2).copied().unwrap_or(f64::NAN);
        target(
            w,
            "`probe` ≤ 0.3 s",
            format!("{probe_med:.2} s (median of {})", probe.len()),
            probe_med <= 0.3,
        );
        // The kernel maps every page of the ring at once, and its data pages twice (so that a
        // record may wrap): the 4 MiB ring is 8 MiB of the resident set. The target counts it
        // once: what the recorder holds besides the ring ≤ 16 MB.
        // judged on the long recording where there is one (the issue's bound is for 60 s)
        let short_mb = med(&|s| s.tracer.max_rss_kb as f64) / 1024.0;
        let own_mb = r
            .long
            .and_then(|l| l.own_peak_kb)
            .map(|kb| kb as f64 / 1024.0);
        let (rss_mb, over) = match r.long {
            Some(l) => (
                (l.max_rss_kb as f64 / 1024.0).max(short_mb),
                format!(
                    "a {} s recording of {} events",
                    l.seconds,
                    thousands(l.events as f64)
                ),
            ),
            None => (short_mb, "the overhead runs".to_string()),
        };
        // the trailer's own figure where it has one: set-up's peak (before the ring was
        // mapped) or the most at a checkpoint after, without the ring's mapping
        let besides = own_mb.unwrap_or(rss_mb - 8.0);
        target(
            w,
            "recorder peak RSS ≤ 16 MB + the 4 MiB ring (counted once)",
            format!(
                "{rss_mb:.1} MB over {over}, the ring in it twice (mapped whole, its data twice): {besides:.1} MB besides it"
            ),
            besides <= 16.0,
        );
    }
}

/// Section 1b: the serial path in a QEMU guest, hooked against unhooked.
fn serial_section(w: &mut String, r: &Results) {
    let _ = writeln!(w, "\n### 1b. The serial path, in a QEMU guest\n");
    let Some(c) = &r.serial else {
        let _ = writeln!(w, "Not measured in this run (`--vm-boots 0`).");
        return;
    };
    let _ = writeln!(
        w,
        "Debian {} under QEMU/TCG (one vCPU; this machine has no UART traffic and no kprobes): a \
         reader drains 2,000,000 bytes through ttyS1 while serial-trace records every hook \
         (`cargo xtask vm --scenario serial-cost`), and again with the serial path unhooked \
         (`serial-cost-unhooked`: the recorder runs with `--hooks power --serial-method off`). \
         The cost is the guest's busy CPU time over the flood (user, system, irq, softirq: the \
         UART interrupts, the tty layer, the reader, the eBPF programs and the recorder), one \
         pair per boot in alternating order. TCG time is emulated time, so only the ratio of \
         the two means something; bpftrace and perf cannot run in the guest (its initramfs \
         holds static binaries only).\n",
        super::serial_vm::KERNEL
    );
    let _ = writeln!(
        w,
        "| serial path | runs: busy CPU (s) | median ns per byte |\n|---|---|---:|"
    );
    let row = |w: &mut String, name: &str, floods: &[super::serial_vm::Flood]| {
        let runs: Vec<String> = floods.iter().map(|f| format!("{:.2}", f.busy_s)).collect();
        let ns = median(floods.iter().map(|f| f.ns_per_byte()).collect());
        let _ = writeln!(w, "| {name} | {} | {ns:.0} |", runs.join(" "));
        ns
    };
    let unhooked = row(w, "unhooked", &c.unhooked);
    let hooked = row(w, "hooked by serial-trace", &c.hooked);
    let spread = |floods: &[super::serial_vm::Flood]| {
        let ns: Vec<f64> = floods.iter().map(|f| f.ns_per_byte()).collect();
        ns.iter().copied().fold(f64::MIN, f64::max) - ns.iter().copied().fold(f64::MAX, f64::min)
    };
    let noise = spread(&c.unhooked).max(spread(&c.hooked));
    let diff = hooked - unhooked;
    let _ = writeln!(
        w,
        "\nHooked − unhooked: {diff:+.0} ns of guest CPU per byte ({:+.1} %){}.",
        (hooked / unhooked - 1.0) * 100.0,
        if diff.abs() < noise {
            format!(
                "; within the spread between boots ({noise:.0} ns): under TCG the hooks cost less than this can resolve"
            )
        } else {
            String::new()
        }
    );
}

fn target(w: &mut String, name: &str, measured: String, met: bool) {
    let _ = writeln!(
        w,
        "| {name} | {measured} | {} |",
        if met { "yes" } else { "**no**" }
    );
}

/// The median wall time of `tool`'s repetitions on `cpu`.
fn overhead_median(r: &Results, tool: Tool, cpu: usize) -> f64 {
    r.overhead
        .iter()
        .find(|(t, _)| *t == tool)
        .map_or(f64::NAN, |(_, s)| {
            median(
                s.iter()
                    .filter(|s| s.cpu == cpu)
                    .map(|s| s.wall_s)
                    .collect(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.4), "1,234,567");
    }
}
