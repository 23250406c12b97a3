//! The verdict at the top of every human-readable report (text and HTML): per port what was
//! lost and why, the lost wakeups by cause, what each suspend cycle cost, and tracer loss.
//! Lines are plain text; each renderer escapes and styles them.

use crate::analysis::{DropCause, LostIn, PortReport, Report, SuspendCycle, total};
use crate::fmt::{fmt_ns, thousands};

/// One line of the verdict; `warn` marks a loss.
pub struct Line {
    pub warn: bool,
    pub text: String,
}

/// Why `serial-trace monitor` saved this window, as one line (plain text), or `None` for a
/// `record` trace.
pub fn saved_by_line(r: &Report) -> Option<String> {
    let by = r.trace.saved_by.as_ref()?;
    let start = r.timeline.start_boot_ns;
    let fired_at = by.fired.boot_ns.saturating_sub(start);
    let what = match by.value {
        Some(_) => format!("trigger {} fired", by.rule),
        None => format!("saved on demand ({})", by.rule),
    };
    let value = by.value.map_or(String::new(), |v| format!(" (value {v})"));
    Some(format!(
        "monitor window: {what}{value} at {} ({:.3} s into this window), saved {} later",
        crate::fmt::fmt_utc(by.fired.realtime_ns),
        fired_at as f64 / 1e9,
        fmt_ns(by.post_ns)
    ))
}

/// What `report --port/--since/--until/--cycle` kept, as one line (plain text), or `None` for
/// a whole report.
pub fn scope_line(r: &Report) -> Option<String> {
    let s = r.scope.as_ref()?;
    let start = r.timeline.start_boot_ns;
    let at = |t: Option<u64>| {
        t.map_or("the end".to_string(), |t| {
            format!("{:.3} s", t.saturating_sub(start) as f64 / 1e9)
        })
    };
    let mut parts = Vec::new();
    if s.from_boot_ns.is_some() || s.to_boot_ns.is_some() {
        parts.push(format!(
            "from {} to {}",
            at(s.from_boot_ns.or(Some(start))),
            at(s.to_boot_ns)
        ));
    }
    if let Some(n) = s.cycle {
        parts.push(format!("suspend cycle {n}"));
    }
    if !s.ports.is_empty() {
        parts.push(format!("port {}", s.ports.join(", ")));
    }
    Some(format!(
        "scope: {}; totals and percentiles are the whole recording's",
        parts.join("; ")
    ))
}

/// Sums `(key, value)` pairs per key, in first-seen order.
fn tally<'a>(items: impl Iterator<Item = (&'a str, u64)>) -> Vec<(&'a str, u64)> {
    let mut out: Vec<(&str, u64)> = Vec::new();
    for (k, v) in items {
        match out.iter_mut().find(|(o, _)| *o == k) {
            Some((_, n)) => *n = n.saturating_add(v),
            None => out.push((k, v)),
        }
    }
    out
}

pub fn lines(r: &Report) -> Vec<Line> {
    let mut lines: Vec<Line> = r.ports.iter().filter_map(|p| port_line(r, p)).collect();
    if !r.lost_wakeups.is_empty() {
        let why: Vec<String> = tally(r.lost_wakeups.iter().map(|l| (l.cause.as_str(), 1)))
            .iter()
            .map(|(c, n)| format!("{n} {}", c.replace('_', " ")))
            .collect();
        lines.push(Line {
            warn: true,
            text: format!("{} lost wakeups: {}", r.lost_wakeups.len(), why.join(", ")),
        });
    }
    lines.extend(r.suspend_cycles.iter().map(cycle_line));
    lines.extend(loss_lines(r));
    lines.extend(r.risks.iter().map(|risk| Line {
        warn: true,
        text: super::settings::risk_line(risk),
    }));
    lines
}

/// How often and how long flow control held a port back, in one clause; `None` if it never
/// did. Shared by the verdict and the port tables.
pub fn throttle_clause(p: &PortReport) -> Option<String> {
    (p.throttles > 0).then(|| {
        format!(
            "throttled {}× for {} (longest {}): the line discipline was full, so flow control \
             stopped the driver; the bytes waited, none were lost",
            thousands(p.throttles),
            fmt_ns(p.throttled_ns_total),
            fmt_ns(p.throttled_ns_max)
        )
    })
}

/// A port's line: nothing lost, or how many bytes and why; none for a port without traffic.
fn port_line(r: &Report, p: &PortReport) -> Option<Line> {
    if p.bytes_received == 0 && p.bytes_dropped == 0 && p.hw_overruns == 0 {
        return None;
    }
    if p.bytes_dropped == 0 && p.hw_overruns == 0 {
        let mut text = format!(
            "{}: no bytes lost ({} received)",
            p.name,
            thousands(p.bytes_received)
        );
        if let Some(t) = throttle_clause(p) {
            text.push_str(&format!("; {t}"));
        }
        return Some(Line { warn: false, text });
    }
    let mut causes = tally(
        r.drops
            .iter()
            .filter(|d| d.port == p.name && d.lost_in == LostIn::FlipBuffer)
            .map(|d| (d.cause.map_or("unknown", DropCause::as_str), d.bytes)),
    );
    causes.sort_by_key(|c| std::cmp::Reverse(c.1));
    let seen = p.bytes_received.saturating_add(p.bytes_dropped);
    let mut text = format!(
        "{}: {} of {} bytes lost ({:.1} %)",
        p.name,
        thousands(p.bytes_dropped),
        thousands(seen),
        p.bytes_dropped as f64 * 100.0 / seen.max(1) as f64
    );
    if !causes.is_empty() {
        let why: Vec<String> = causes
            .iter()
            .map(|(c, n)| format!("{} {}", thousands(*n), c.replace('_', " ")))
            .collect();
        text.push_str(&format!(" — {}", why.join(", ")));
    }
    if p.hw_overruns > 0 {
        text.push_str(&format!(
            "; {} UART FIFO overruns (bytes lost before the driver read them)",
            p.hw_overruns
        ));
    }
    if let Some(t) = throttle_clause(p) {
        text.push_str(&format!("; {t}"));
    }
    Some(Line { warn: true, text })
}

/// A suspend cycle's line: how long, how slow to resume, the slowest device, what woke it.
fn cycle_line(c: &SuspendCycle) -> Line {
    let mut text = format!(
        "{} cycle #{}: suspended {}",
        c.kind(),
        c.index,
        fmt_ns(c.suspended_ns)
    );
    if let Some(ns) = c.resume_ns {
        text.push_str(&format!(", resume {}", fmt_ns(ns)));
    }
    if let Some(d) = c.slowest_devices.first() {
        text.push_str(&format!(
            ", slowest device {} {} {}",
            d.device,
            d.event,
            fmt_ns(d.duration_ns)
        ));
    }
    if let Some(w) = &c.wake_source {
        text.push_str(&format!(", woken by {}", w.kind));
    }
    let silent = c.liveness.silent_after_resume.len();
    if silent > 0 {
        text.push_str(&format!(", {silent} probes silent after resume"));
    }
    Line {
        warn: silent > 0,
        text,
    }
}

/// Events the kernel could not hand over, and state maps that overflowed.
fn loss_lines(r: &Report) -> Vec<Line> {
    let mut lines = Vec::new();
    let lost = r.events.all_lost();
    if lost > 0 {
        lines.push(Line {
            warn: true,
            text: format!("{lost} events the kernel could not hand to the tracer (see events)"),
        });
    }
    let evicted = total(
        r.events
            .state_losses
            .values()
            .map(|l| l.evicted.saturating_add(l.refused)),
    );
    if evicted > 0 {
        let maps: Vec<&str> = r.events.state_losses.keys().map(String::as_str).collect();
        lines.push(Line {
            warn: true,
            text: format!(
                "{evicted} entries of full state maps lost ({}): wakeups and serial calls that needed them may be missing (see events)",
                maps.join(", ")
            ),
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use crate::render::html::tests::empty_report;
    use crate::trace::StateLoss;

    #[test]
    fn evicted_state_is_a_warning_in_the_summary_and_the_html() {
        let mut r = empty_report();
        assert!(
            !super::lines(&r)
                .iter()
                .any(|l| l.text.contains("state maps"))
        );
        r.events.state_losses.insert(
            "OWNER".into(),
            StateLoss {
                evicted: 3830,
                refused: 1,
            },
        );
        let line = super::lines(&r)
            .into_iter()
            .find(|l| l.text.contains("state maps"))
            .expect("a summary line for the evictions");
        assert!(line.warn);
        assert!(line.text.starts_with("3831 entries"), "{}", line.text);
        assert!(line.text.contains("OWNER"), "{}", line.text);
        let html = crate::render::html::render_html(&r);
        assert!(html.contains("entries evicted"));
        assert!(
            html.contains("3,830") || html.contains("3830"),
            "the HTML shows the count"
        );
    }

    /// A throttled port with nothing lost says so in the verdict, the text table and the HTML,
    /// as flow control and not as a loss.
    #[test]
    fn throttling_is_shown_as_flow_control_not_loss() {
        let mut r = empty_report();
        r.ports.push(crate::analysis::PortReport {
            name: "ttyUSB0".into(),
            bytes_received: 65536,
            throttles: 3,
            throttled_ns_total: 1_500_000_000,
            throttled_ns_max: 900_000_000,
            ..Default::default()
        });
        let line = super::lines(&r)
            .into_iter()
            .find(|l| l.text.starts_with("ttyUSB0"))
            .expect("a line for the port");
        assert!(!line.warn, "{}", line.text);
        assert!(
            line.text.contains("no bytes lost (65,536 received)"),
            "{}",
            line.text
        );
        assert!(line.text.contains("throttled 3×"), "{}", line.text);
        let text = crate::render::text::render_text(&r, false);
        assert!(text.contains("throttled 3× for 1.50 s"), "{text}");
        let html = crate::render::html::render_html(&r);
        assert!(html.contains("Flow control") && html.contains("throttled 3×"));
        r.ports[0].throttles = 0;
        assert!(!crate::render::html::render_html(&r).contains("Flow control"));
    }
}

/// The system settings of the recording as (label, value) rows, for the text and HTML reports
/// alike: the timer base, sleep, what may wake the system, idle.
pub fn system_rows(s: &crate::trace::SystemSetup) -> Vec<(&'static str, String)> {
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
    let mut rows = Vec::new();
    let others: Vec<String> = s
        .clocksources_available
        .iter()
        .filter(|c| Some(*c) != s.clocksource.as_ref())
        .cloned()
        .collect();
    rows.push((
        "clocksource",
        format!(
            "{}{}",
            or_unknown(&s.clocksource),
            if others.is_empty() {
                String::new()
            } else {
                format!(" (also available: {})", others.join(", "))
            }
        ),
    ));
    rows.push((
        "timer tick",
        match (s.hz(), s.high_resolution()) {
            (Some(hz), Some(hr)) => format!(
                "HZ {hz}; high-resolution timers {}",
                if hr {
                    "on"
                } else {
                    "OFF (sleeps round up to the tick)"
                }
            ),
            (Some(hz), None) => format!("HZ {hz}"),
            _ => "unknown".into(),
        },
    ));
    if let Some(cpus) = &s.nohz_full {
        let cpus = if cpus.is_empty() {
            "none"
        } else {
            cpus.as_str()
        };
        rows.push(("nohz_full CPUs", cpus.to_string()));
    }
    rows.push((
        "mem_sleep",
        match &s.mem_sleep {
            Some(m) => format!("{m} (of {})", list(&s.mem_sleep_available)),
            None => "unknown".into(),
        },
    ));
    rows.push(("sleep states", list(&s.power_states)));
    if let Some(t) = &s.pm_test {
        rows.push(("pm_test", t.clone()));
    }
    rows.push(("wakeup enabled", list(&s.wakeup_devices)));
    rows.push((
        "RTC",
        match (&s.rtc, s.rtc_wakealarm) {
            (Some(n), Some(true)) => format!("{n}, can wake the system (wakealarm)"),
            (Some(n), _) => format!("{n}, no wakealarm"),
            (None, _) => "none".into(),
        },
    ));
    rows.push((
        "cpuidle",
        format!(
            "driver {}, governor {}",
            or_unknown(&s.cpuidle_driver),
            or_unknown(&s.cpuidle_governor)
        ),
    ));
    rows
}

#[cfg(test)]
mod system_tests {
    use super::system_rows;
    use crate::trace::SystemSetup;

    #[test]
    fn the_system_rows_say_what_the_header_holds_and_unknown_where_it_does_not() {
        let s = SystemSetup {
            clocksource: Some("tsc".into()),
            clocksources_available: vec!["tsc".into(), "hpet".into()],
            monotonic_resolution_ns: Some(4_000_000),
            tick_ns: Some(4_000_000),
            mem_sleep: Some("s2idle".into()),
            mem_sleep_available: vec!["s2idle".into(), "deep".into()],
            wakeup_devices: vec!["ttyS1".into()],
            rtc: Some("rtc_cmos".into()),
            rtc_wakealarm: Some(true),
            ..Default::default()
        };
        let rows = system_rows(&s);
        let get = |l: &str| rows.iter().find(|(k, _)| *k == l).unwrap().1.clone();
        assert_eq!(get("clocksource"), "tsc (also available: hpet)");
        assert_eq!(
            get("timer tick"),
            "HZ 250; high-resolution timers OFF (sleeps round up to the tick)"
        );
        assert_eq!(get("mem_sleep"), "s2idle (of s2idle, deep)");
        assert_eq!(get("wakeup enabled"), "ttyS1");
        assert_eq!(get("RTC"), "rtc_cmos, can wake the system (wakealarm)");
        assert_eq!(get("cpuidle"), "driver unknown, governor unknown");
        assert!(
            rows.iter()
                .all(|(k, _)| *k != "pm_test" && *k != "nohz_full CPUs")
        );
        let empty = system_rows(&SystemSetup::default());
        assert!(
            empty
                .iter()
                .any(|(k, v)| *k == "timer tick" && v == "unknown")
        );
    }
}
