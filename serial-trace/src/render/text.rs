//! Terminal rendering: aligned tables with units; colour only when asked (a terminal).

use std::fmt::Write;

use crate::analysis::{Drift, Percentiles, PortReport, Report, TraceEnd, WakeCause, total};
use crate::fmt::{fmt_ns, neutralize};

fn bold(s: &str, color: bool) -> String {
    if color {
        format!("\x1b[1m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn warn(s: &str, color: bool) -> String {
    if color {
        format!("\x1b[33m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn pct_cells(p: &Percentiles) -> String {
    format!(
        "{:>10} {:>10} {:>10} {:>10}",
        fmt_ns(p.p50),
        fmt_ns(p.p90),
        fmt_ns(p.p99),
        fmt_ns(p.max)
    )
}

pub fn render_text(r: &Report, color: bool) -> String {
    let mut o = String::new();
    render_header(&mut o, r, color);
    render_summary(&mut o, r, color);
    render_events(&mut o, r, color);
    render_hooks(&mut o, r, color);
    render_system(&mut o, r, color);
    render_serial(&mut o, r, color);
    render_timers(&mut o, r, color);
    render_lost_wakeups(&mut o, r, color);
    render_suspend_cycles(&mut o, r, color);
    o
}

/// The first line, then how the trace ended and whether the recorder failed.
fn render_header(o: &mut String, r: &Report, color: bool) {
    let _ = writeln!(
        o,
        "{} kernel {} ({}) on {}, {:.1} s recorded by {}",
        bold("serial-trace report:", color),
        neutralize(&r.kernel.release),
        neutralize(&r.kernel.machine),
        neutralize(&r.kernel.hostname),
        r.duration_ns as f64 / 1e9,
        neutralize(&r.trace.tool)
    );
    if let Some(line) = super::summary::scope_line(r) {
        let _ = writeln!(o, "{}", warn(&neutralize(&line), color));
    }
    if let Some(line) = super::summary::saved_by_line(r) {
        let _ = writeln!(o, "{}", bold(&neutralize(&line), color));
    }
    match r.trace.end {
        TraceEnd::Clean if r.trace.stopped_by.is_some() => {}
        TraceEnd::Clean => {
            let _ = writeln!(
                o,
                "{}",
                warn("note: no trailer; the recorder did not stop cleanly", color)
            );
        }
        end => {
            let _ = writeln!(
                o,
                "{}",
                warn(
                    &format!(
                        "note: trace {end}; {} bytes at the end could not be read (every complete frame before them was)",
                        r.trace.unread_bytes
                    ),
                    color
                )
            );
        }
    }
    if r.trace.damaged_regions > 0 {
        let _ = writeln!(
            o,
            "{}",
            warn(
                &format!(
                    "note: {} damaged stretch(es) of the trace, {} bytes, were skipped; what they held is missing from every number below",
                    r.trace.damaged_regions, r.trace.damaged_bytes
                ),
                color
            )
        );
    }
    if let Some(e) = &r.trace.recorder_error {
        let _ = writeln!(
            o,
            "{}",
            warn(
                &format!("recorder stopped on error: {}", neutralize(e)),
                color
            )
        );
    }
}

/// Event counts, and every event lost: ring overflow, kernel skips, state-map evictions.
fn render_events(o: &mut String, r: &Report, color: bool) {
    let lost_note = if r.events.lost_complete {
        ""
    } else {
        " (as of the last checkpoint)"
    };
    let _ = writeln!(
        o,
        "\n{} {} total, {} lost{}",
        bold("events:", color),
        r.events.total,
        r.events.lost,
        lost_note
    );
    if r.events.lost > 0 {
        let _ = writeln!(
            o,
            "{}",
            warn(
                "  the ring buffer overflowed: raise --buffer-size or narrow with --pid/--comm",
                color
            )
        );
        for w in &r.events.loss_windows {
            let during = w.suspend_cycle.map_or(String::new(), |c| {
                format!(" (across suspend cycle #{c}: the recorder was frozen too)")
            });
            let line = format!(
                "  {} lost between {} and {}{during}",
                w.lost,
                fmt_ns(w.from_boot_ns),
                fmt_ns(w.to_boot_ns)
            );
            let _ = writeln!(o, "{}", warn(&line, color));
        }
    }
    let missed = r.events.skipped();
    if missed > 0 {
        let per: Vec<String> = r
            .events
            .recursion_misses
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(p, n)| format!("{p} {n}"))
            .collect();
        let line = format!(
            "  {missed} events skipped by the kernel (a BPF program or kprobe handler was already running on that CPU): {}",
            per.join(", ")
        );
        let _ = writeln!(o, "{}", warn(&line, color));
    } else if !r.events.misses_counted {
        let _ = writeln!(
            o,
            "  note: this kernel does not count events it skips while another BPF program runs (5.12+ does)"
        );
    }
    for (map, loss) in &r.events.state_losses {
        let cost = serial_trace_common::state_counts::cost(map);
        let line = format!(
            "  state map {map} full: {} entries evicted, {} inserts refused (each: {cost})",
            loss.evicted, loss.refused
        );
        let _ = writeln!(o, "{}", warn(&line, color));
    }
    for (k, n) in &r.events.by_kind {
        let _ = writeln!(o, "  {k:<28} {n:>12}");
    }
    if let Some(m) = &r.trace.recorder_memory {
        let mb = |kb: u64| kb as f64 / 1024.0;
        let _ = writeln!(
            o,
            "  recorder: {:.1} MB resident besides the ring buffer at the end (at most {:.1} while recording, {:.1} in all while loading); the ring {:.1} MB (the kernel maps its data twice)",
            mb(m.own_end_kb),
            mb(m.own_max_kb),
            mb(m.setup_peak_kb),
            mb(m.ring_kb)
        );
    }
}

/// The attach table.
fn render_hooks(o: &mut String, r: &Report, color: bool) {
    let _ = writeln!(o, "\n{}", bold("hooks:", color));
    for p in &r.probes {
        let _ = writeln!(
            o,
            "  {:<40} {:<9} {:<11} {}",
            neutralize(&p.name),
            if p.attached { "attached" } else { "-" },
            p.method.as_deref().unwrap_or("-"),
            neutralize(p.reason.as_deref().unwrap_or(""))
        );
    }
}

/// The system's timer and power settings when the recording began (traces that keep them).
fn render_system(o: &mut String, r: &Report, color: bool) {
    let Some(s) = &r.system else {
        return;
    };
    let _ = writeln!(o, "\n{}", bold("system:", color));
    for (label, value) in super::summary::system_rows(s) {
        let _ = writeln!(o, "  {label:<16} {}", neutralize(&value));
    }
}

/// Timer lateness: overall, per clock across suspends, per callback and per task.
fn render_timers(o: &mut String, r: &Report, color: bool) {
    let t = &r.timers;
    let _ = writeln!(
        o,
        "\n{} {} hrtimer expiries paired with their start (lateness = expiry − requested soft expiry)",
        bold("timers:", color),
        t.count
    );
    if t.count > 0 {
        let _ = writeln!(
            o,
            "  {:<40} {:>8} {:>10} {:>10} {:>10} {:>10}",
            "", "count", "p50", "p90", "p99", "max"
        );
        let _ = writeln!(
            o,
            "  {:<40} {:>8} {}",
            "all",
            t.count,
            pct_cells(&t.lateness_ns)
        );
        if t.early > 0 {
            let _ = writeln!(
                o,
                "{}",
                warn(
                    &format!("  {} expiries before their requested time", t.early),
                    color
                )
            );
        }
        if t.wakeups.count > 0 {
            let _ = writeln!(
                o,
                "  {:<40} {:>8} {}",
                "task wakeups (ran − requested)",
                t.wakeups.count,
                pct_cells(&t.wakeups.latency_ns)
            );
        }
        for (name, p) in [
            ("before any suspend", &t.by_phase.before),
            ("spanning a suspend", &t.by_phase.spanning),
            ("after a suspend", &t.by_phase.after),
        ] {
            if p.count > 0 {
                let _ = writeln!(
                    o,
                    "  {:<40} {:>8} {}",
                    name,
                    p.count,
                    pct_cells(&p.lateness_ns)
                );
            }
        }
        if !t.spanning_by_clock.is_empty() {
            let _ = writeln!(
                o,
                "  timers spanning a suspend, per clock (own = on the timer's clock, wall = elapsed):"
            );
            for c in &t.spanning_by_clock {
                let what = match c.drift {
                    Drift::SuspendDrift => {
                        "clock stops in suspend: deadline moved by the time suspended"
                    }
                    Drift::Unknown => {
                        "clock not recorded (no BTF for the clock bases): taken as monotonic"
                    }
                    Drift::NoClockStopped => {
                        "no clock stopped while armed: fired on time, task ran after the thaw"
                    }
                    _ => "clock counts suspend: fires at resume",
                };
                let _ = writeln!(
                    o,
                    "  {:<10} {:>5}  own max {:>10}  wall max {:>10}  suspended ≤ {:>10}  {}",
                    c.clock,
                    c.count,
                    fmt_ns(c.lateness_ns.max),
                    fmt_ns(c.wall_lateness_ns.max),
                    fmt_ns(c.suspended_ns_max),
                    what
                );
            }
        }
        let _ = writeln!(o, "  by callback:");
        for g in &t.by_callback {
            let _ = writeln!(
                o,
                "  {:<40} {:>8} {}",
                neutralize(&g.name),
                g.count,
                pct_cells(&g.lateness_ns)
            );
        }
        let _ = writeln!(o, "  by task that armed the timer:");
        for g in &t.by_task {
            let (pid, tid) = (g.pid.unwrap_or(0), g.tid.unwrap_or(0));
            let who = if pid == tid {
                format!("{} ({pid})", neutralize(&g.name))
            } else {
                format!("{} ({pid}/{tid})", neutralize(&g.name))
            };
            let _ = writeln!(
                o,
                "  {:<40} {:>8} {}",
                who,
                g.count,
                pct_cells(&g.lateness_ns)
            );
        }
    }
}

/// The first 20 lost wakeups with their cause.
fn render_lost_wakeups(o: &mut String, r: &Report, color: bool) {
    if !r.lost_wakeups.is_empty() {
        let _ = writeln!(
            o,
            "\n{} {} (later than {} and than the sleep asked for)",
            bold("lost wakeups:", color),
            r.lost_wakeups.len(),
            fmt_ns(crate::analysis::timers::LOST_WAKEUP_MIN_NS)
        );
        let _ = writeln!(
            o,
            "  {:<22} {:<10} {:>10} {:>12} {:>12} {:>10}  cause",
            "task (pid/tid)", "clock", "asked", "due at", "ran at", "late"
        );
        for l in r.lost_wakeups.iter().take(20) {
            let cycle = l
                .suspend_cycle
                .map_or(String::new(), |c| format!(" (cycle #{c})"));
            let _ = writeln!(
                o,
                "  {:<22} {:<10} {:>10} {:>12} {:>12} {:>10}  {}{cycle}",
                format!("{} ({}/{})", neutralize(&l.comm), l.pid, l.tid),
                l.clock,
                fmt_ns(l.requested_ns),
                fmt_ns(l.expected_boot_ns),
                fmt_ns(l.actual_boot_ns),
                fmt_ns(l.late_ns),
                l.cause
            );
            if let Some(ran) = l.ran_in_freezer_late_ns {
                let _ = writeln!(
                    o,
                    "  {:<22} (it had the CPU inside the freezer {} after the deadline, then froze: the trace cannot tell whether the program saw the wakeup then)",
                    "",
                    fmt_ns(ran.max(0) as u64)
                );
            }
            if l.cause == WakeCause::ExpiryUnseen {
                let _ = writeln!(
                    o,
                    "  {:<22} (its timer's expiry never reached the trace: \"ran at\" is the latest it can have woken, its deadline the earliest; kernels before 5.12 skip, uncounted, the BPF programs of an interrupt that comes while another runs)",
                    ""
                );
            }
        }
        if r.lost_wakeups.len() > 20 {
            let _ = writeln!(
                o,
                "  … {} more in the JSON report",
                r.lost_wakeups.len() - 20
            );
        }
    }
}

/// Each suspend cycle: kind, suspended and resume time, wake source, slowest devices.
fn render_suspend_cycles(o: &mut String, r: &Report, color: bool) {
    let _ = writeln!(
        o,
        "\n{} {}",
        bold("suspend cycles:", color),
        r.suspend_cycles.len()
    );
    for c in &r.suspend_cycles {
        let entered = match c.platform_entries {
            _ if !c.machine_suspend => "platform not entered (pm_test or abort)".to_string(),
            0 | 1 => format!("{}: platform entered", c.kind()),
            n => format!(
                "{}: platform entered {n} times (woke {} times and slept again)",
                c.kind(),
                n - 1
            ),
        };
        let _ = writeln!(
            o,
            "  #{:<3} at {:>10} suspended {:>10}  {entered}{}",
            c.index,
            fmt_ns(c.start_boot_ns),
            fmt_ns(c.suspended_ns),
            if c.complete { "" } else { ", incomplete" }
        );
        if let Some(ns) = c.resume_ns {
            let _ = writeln!(o, "       resume (back to tasks thawed) {}", fmt_ns(ns));
        }
        if let Some(w) = &c.wake_source {
            let _ = writeln!(
                o,
                "       woken by {} ({}) at {}",
                w.kind,
                neutralize(&w.detail),
                fmt_ns(w.at_boot_ns)
            );
        }
        for s in &c.serial {
            let _ = writeln!(
                o,
                "       {}: {} bytes arrived while suspending, {} asleep, {} resuming; {} dropped",
                neutralize(&s.port),
                s.received_suspending,
                s.received_asleep,
                s.received_resuming,
                s.dropped
            );
        }
        if !c.slowest_devices.is_empty() {
            let _ = writeln!(
                o,
                "       slowest of {} device callbacks:",
                c.device_callbacks
            );
            for d in c.slowest_devices.iter().take(5) {
                let err = if d.error != 0 {
                    format!("  error {}", d.error)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    o,
                    "       {:>10}  {:<8} {:<20} {:<24} {}{err}",
                    fmt_ns(d.duration_ns),
                    d.event,
                    neutralize(d.phase.as_deref().unwrap_or("-")),
                    neutralize(&d.device),
                    neutralize(&d.driver)
                );
            }
        }
        if !c.liveness.silent_after_resume.is_empty() {
            let _ = writeln!(
                o,
                "{}",
                warn(
                    &format!(
                        "       probes silent for {} after this resume: {}",
                        fmt_ns(c.liveness.after_resume_window_ns),
                        c.liveness.silent_after_resume.join(", ")
                    ),
                    color
                )
            );
        }
    }
}

/// The verdict first: what was lost, why, and what the suspend cycles cost.
fn render_summary(o: &mut String, r: &Report, color: bool) {
    let lines = super::summary::lines(r);
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{}", bold("summary:", color));
    for l in lines {
        let t = neutralize(&l.text);
        let _ = writeln!(o, "  {}", if l.warn { warn(&t, color) } else { t });
    }
}

fn render_serial(o: &mut String, r: &Report, color: bool) {
    if r.ports.is_empty() && r.readers.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n{} received = handed to the line discipline; dropped = refused by the flip buffer",
        bold("serial ports:", color)
    );
    let _ = writeln!(
        o,
        "  {:<10} {:<16} {:>12} {:>12} {:>8} {:>6} {:>6} {:>6} {:>16}",
        "port",
        "method",
        "received",
        "dropped",
        "overrun",
        "frame",
        "parity",
        "break",
        "flip peak/limit"
    );
    for p in &r.ports {
        port_rows(o, p, color);
    }
    drop_lines(o, r, color);
    reader_rows(o, r);
}

/// A port's row, the kernel's own counters under it, and any disagreement between the two.
fn port_rows(o: &mut String, p: &PortReport, color: bool) {
    let method = match (&p.method, p.coarse) {
        (Some(m), true) => format!("{m} (coarse)"),
        (Some(m), false) => m.clone(),
        (None, _) => "-".into(),
    };
    let _ = writeln!(
        o,
        "  {:<10} {:<16} {:>12} {:>12} {:>8} {:>6} {:>6} {:>6} {:>16}",
        neutralize(&p.name),
        method,
        p.bytes_received,
        p.bytes_dropped,
        p.hw_overruns,
        p.frame_errors,
        p.parity_errors,
        p.breaks,
        format!("{}/{}", p.flip_buffer_peak, p.flip_buffer_limit)
    );
    if let Some(t) = super::summary::throttle_clause(p) {
        let _ = writeln!(o, "  {:<10} {t}", "");
    }
    if let Some(s) = &p.setup {
        use super::settings::{device_words, start_words};
        let _ = writeln!(o, "  {:<10} device: {}", "", device_words(s));
        let _ = writeln!(o, "  {:<10} at start: {}", "", start_words(s));
    }
    for c in p
        .settings_changes
        .iter()
        .filter(|c| !(c.at_stop && c.changed.is_empty()))
    {
        let _ = writeln!(o, "  {:<10} {}", "", super::settings::change_words(c));
    }
    if let Some(t) = &p.uart_irq {
        let _ = writeln!(o, "  {:<10} {}", "", super::settings::irq_words(t));
    }
    if let Some(t) = &p.ldisc_work {
        let _ = writeln!(o, "  {:<10} {}", "", super::settings::ldisc_words(t));
    }
    if let Some(d) = &p.kernel_counters.delta {
        let _ = writeln!(
            o,
            "  {:<10} kernel ({}): rx {} bo {} oe {} fe {} pe {} brk {}",
            "",
            p.kernel_counters.source.as_deref().unwrap_or("?"),
            d.rx,
            d.buf_overrun,
            d.overrun,
            d.frame,
            d.parity,
            d.brk
        );
    }
    for d in &p.disagreements {
        let _ = writeln!(
            o,
            "{}",
            warn(&format!("  {:<10} {}", "", neutralize(d)), color)
        );
    }
}

/// The first ten drop windows, each with its causal chain.
fn drop_lines(o: &mut String, r: &Report, color: bool) {
    if !r.drops.is_empty() {
        let total = total(r.drops.iter().map(|d| d.bytes));
        let _ = writeln!(o, "  {} drop windows, {total} bytes:", r.drops.len());
        for d in r.drops.iter().take(10) {
            let line = match (&d.chain, d.coarse) {
                (Some(chain), false) => neutralize(chain),
                (Some(chain), true) => format!(
                    "{} (coarse: within {} before)",
                    neutralize(chain),
                    fmt_ns(d.interval_ns)
                ),
                (None, _) => format!(
                    "{}: {} bytes {} – {}",
                    neutralize(&d.port),
                    d.bytes,
                    fmt_ns(d.t_boot_ns),
                    fmt_ns(d.end_boot_ns)
                ),
            };
            let _ = writeln!(o, "    {}", warn(&line, color));
        }
        if r.drops.len() > 10 {
            let _ = writeln!(o, "    … {} more in the JSON report", r.drops.len() - 10);
        }
    }
}

/// The tasks that read a port: how much, how long they blocked, how far behind they fell.
fn reader_rows(o: &mut String, r: &Report) {
    if !r.readers.is_empty() {
        let _ = writeln!(
            o,
            "  {:<10} {:>7} {:<16} {:>8} {:>12} {:>6} {:>12} {:>12} {:>12}",
            "reader",
            "pid",
            "comm",
            "reads",
            "bytes",
            "empty",
            "blocked max",
            "lag awake",
            "lag elapsed"
        );
        for rd in &r.readers {
            let _ = writeln!(
                o,
                "  {:<10} {:>7} {:<16} {:>8} {:>12} {:>6} {:>12} {:>12} {:>12}",
                neutralize(&rd.port),
                rd.pid,
                neutralize(&rd.comm),
                rd.reads,
                rd.bytes,
                rd.empty_reads,
                fmt_ns(rd.blocked_ns_max),
                fmt_ns(rd.lag_ns_max),
                fmt_ns(rd.lag_elapsed_ns_max)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(fmt_ns(999), "999 ns");
        assert_eq!(fmt_ns(12_345), "12.3 µs");
        assert_eq!(fmt_ns(4_560_000), "4.56 ms");
        assert_eq!(fmt_ns(1_200_000_000), "1.20 s");
    }

    #[test]
    fn a_wakeup_whose_expiry_went_unseen_says_what_its_times_mean() {
        let mut r = crate::render::html::tests::synthetic_report();
        r.lost_wakeups[0].cause = WakeCause::ExpiryUnseen;
        let text = render_text(&r, false);
        assert!(
            text.contains("expiry_unseen")
                && text.contains(
                    "\"ran at\" is the latest it can have woken, its deadline the earliest"
                ),
            "{text}"
        );
    }

    #[test]
    fn kernel_strings_cannot_drive_the_terminal_or_reorder_text() {
        let mut r = crate::render::html::tests::empty_report();
        r.kernel.hostname = "evil\x1b]0;pwned\x07\u{202e}txt.exe".into();
        let text = render_text(&r, false);
        assert!(
            !text.contains('\x1b')
                && !text.contains('\u{202e}')
                && text.contains("evil\u{241b}]0;pwned\u{2407}?txt.exe"),
            "{text}"
        );
    }
}
