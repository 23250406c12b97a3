//! `serial-trace diff BEFORE AFTER`: two recordings side by side, as an engineer compares them
//! after a fix ("did the drops go away, did the p99 move?"): per port bytes and drops by cause,
//! lost wakeups by cause, lateness percentiles, suspend cycles and resume times, the slowest
//! device callbacks; and rules on the difference (`--fail-if drops_increased`) for CI.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::Report;

/// One number before and after.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Change {
    pub before: u64,
    pub after: u64,
}

impl Change {
    fn of(before: u64, after: u64) -> Self {
        Self { before, after }
    }

    pub fn increased(&self) -> bool {
        self.after > self.before
    }

    /// `after − before`, signed.
    pub fn delta(&self) -> i128 {
        i128::from(self.after) - i128::from(self.before)
    }
}

/// A named row of changes (a port, a cause, a percentile).
pub type Rows = BTreeMap<String, Change>;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PortDiff {
    pub bytes_received: Change,
    pub bytes_dropped: Change,
    pub hw_overruns: Change,
    pub flip_buffer_peak: Change,
    pub throttles: Change,
}

/// The difference of two reports; every count is before → after.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Diff {
    pub schema: &'static str,
    pub events: Change,
    pub lost_events: Change,
    /// Per port (every port either recording saw).
    pub ports: BTreeMap<String, PortDiff>,
    /// Bytes dropped, by cause (all ports).
    pub dropped_by_cause: Rows,
    /// Lost wakeups, by cause.
    pub lost_wakeups_by_cause: Rows,
    /// Timer lateness (expiry − requested), ns: p50, p90, p99, max.
    pub timer_lateness_ns: Rows,
    /// Wakeup lateness (task ran − requested), ns: p50, p90, p99, max.
    pub wakeup_latency_ns: Rows,
    /// Suspend cycles, by kind (S3, s2idle, freeze, …).
    pub suspend_cycles: Rows,
    /// The slowest resume of a cycle, ns (0: none).
    pub max_resume_ns: Change,
    /// The slowest device callbacks: per `device (driver) event`, the longest call, ns.
    pub slowest_devices: Rows,
}

/// Rows of device callbacks shown: the slowest before or after.
const DEVICES: usize = 8;

pub fn diff(before: &Report, after: &Report) -> Diff {
    let mut ports: BTreeMap<String, PortDiff> = BTreeMap::new();
    for (side, r) in [(0, before), (1, after)] {
        for p in &r.ports {
            let d = ports.entry(p.name.clone()).or_default();
            let set = |c: &mut Change, v: u64| {
                if side == 0 { c.before = v } else { c.after = v }
            };
            set(&mut d.bytes_received, p.bytes_received);
            set(&mut d.bytes_dropped, p.bytes_dropped);
            set(&mut d.hw_overruns, p.hw_overruns);
            set(&mut d.flip_buffer_peak, p.flip_buffer_peak);
            set(&mut d.throttles, p.throttles);
        }
    }
    let dropped_by_cause = both(before, after, |r| {
        let mut m = BTreeMap::new();
        for d in &r.drops {
            let cause = d.cause.map_or("unknown", |c| c.as_str());
            *m.entry(cause.to_string()).or_default() += d.bytes;
        }
        m
    });
    let lost_wakeups_by_cause = both(before, after, |r| {
        let mut m = BTreeMap::new();
        for l in &r.lost_wakeups {
            *m.entry(l.cause.as_str().to_string()).or_default() += 1;
        }
        m
    });
    let percentiles = |p: &crate::analysis::timers::Percentiles| {
        BTreeMap::from([
            ("p50".to_string(), p.p50),
            ("p90".to_string(), p.p90),
            ("p99".to_string(), p.p99),
            ("max".to_string(), p.max),
        ])
    };
    let suspend_cycles = both(before, after, |r| {
        let mut m = BTreeMap::new();
        for c in &r.suspend_cycles {
            *m.entry(c.kind().to_string()).or_default() += 1;
        }
        m
    });
    let max_resume = |r: &Report| {
        r.suspend_cycles
            .iter()
            .filter_map(|c| c.resume_ns)
            .max()
            .unwrap_or(0)
    };
    let devices = |r: &Report| {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for c in &r.suspend_cycles {
            for d in &c.slowest_devices {
                let key = if d.driver.is_empty() {
                    format!("{} {}", d.device, d.event)
                } else {
                    format!("{} ({}) {}", d.device, d.driver, d.event)
                };
                let v = m.entry(key).or_default();
                *v = (*v).max(d.duration_ns);
            }
        }
        m
    };
    let mut slowest_devices = both(before, after, devices);
    // the slowest on either side, not every device of a cycle
    let mut by_speed: Vec<(String, u64)> = slowest_devices
        .iter()
        .map(|(k, c)| (k.clone(), c.before.max(c.after)))
        .collect();
    by_speed.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let keep: Vec<String> = by_speed.into_iter().take(DEVICES).map(|(k, _)| k).collect();
    slowest_devices.retain(|k, _| keep.contains(k));
    Diff {
        schema: "serial-trace.diff/1",
        events: Change::of(before.events.total, after.events.total),
        lost_events: Change::of(before.events.lost, after.events.lost),
        ports,
        dropped_by_cause,
        lost_wakeups_by_cause,
        timer_lateness_ns: both(before, after, |r| percentiles(&r.timers.lateness_ns)),
        wakeup_latency_ns: both(before, after, |r| percentiles(&r.timers.wakeups.latency_ns)),
        suspend_cycles,
        max_resume_ns: Change::of(max_resume(before), max_resume(after)),
        slowest_devices,
    }
}

/// `rows` of both reports, keyed alike (a key one side lacks is 0 there).
fn both(before: &Report, after: &Report, rows: impl Fn(&Report) -> BTreeMap<String, u64>) -> Rows {
    let (b, a) = (rows(before), rows(after));
    let mut out = Rows::new();
    for (k, v) in &b {
        out.entry(k.clone()).or_default().before = *v;
    }
    for (k, v) in &a {
        out.entry(k.clone()).or_default().after = *v;
    }
    out
}

/// What `--fail-if` can ask of the difference, each true when things got worse.
pub const RULES: &[(&str, &str)] = &[
    ("drops_increased", "more bytes dropped, all ports"),
    (
        "hw_overruns_increased",
        "more UART hardware overruns, all ports",
    ),
    (
        "lost_events_increased",
        "more events the kernel could not hand over",
    ),
    ("lost_wakeups_increased", "more lost wakeups, any cause"),
    ("timer_p99_increased", "a higher p99 timer lateness"),
    ("wakeup_p99_increased", "a higher p99 wakeup latency"),
    ("resume_increased", "a slower slowest resume"),
];

impl Diff {
    fn sum(rows: impl Iterator<Item = Change>) -> Change {
        rows.fold(Change::default(), |a, c| {
            Change::of(a.before + c.before, a.after + c.after)
        })
    }

    fn rule(&self, name: &str) -> Option<Change> {
        let row = |rows: &Rows, k: &str| rows.get(k).copied().unwrap_or_default();
        Some(match name {
            "drops_increased" => Self::sum(self.ports.values().map(|p| p.bytes_dropped)),
            "hw_overruns_increased" => Self::sum(self.ports.values().map(|p| p.hw_overruns)),
            "lost_events_increased" => self.lost_events,
            "lost_wakeups_increased" => Self::sum(self.lost_wakeups_by_cause.values().copied()),
            "timer_p99_increased" => row(&self.timer_lateness_ns, "p99"),
            "wakeup_p99_increased" => row(&self.wakeup_latency_ns, "p99"),
            "resume_increased" => self.max_resume_ns,
            _ => return None,
        })
    }

    /// The rules of `names` that the difference breaks, each with its numbers; an unknown rule
    /// is an error naming the rules there are.
    pub fn failed(&self, names: &[String]) -> anyhow::Result<Vec<String>> {
        let mut failed = Vec::new();
        for n in names {
            let Some(c) = self.rule(n) else {
                let known: Vec<&str> = RULES.iter().map(|(r, _)| *r).collect();
                anyhow::bail!(
                    "unknown --fail-if rule {n:?}: choose from {}",
                    known.join(", ")
                );
            };
            if c.increased() {
                failed.push(format!("{n}: {} → {}", c.before, c.after));
            }
        }
        Ok(failed)
    }
}

/// The difference as aligned text: a section per subject, a row per number that either side
/// has, with the change.
pub fn render_text(d: &Diff) -> String {
    let mut out = String::new();
    let mut section = |title: &str, rows: Vec<(String, Change, bool)>| {
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|(_, c, _)| c.before != 0 || c.after != 0)
            .collect();
        if rows.is_empty() {
            return;
        }
        out.push_str(&format!(
            "{title}\n  {:<44} {:>14} {:>14} {:>15}\n",
            "", "before", "after", "change"
        ));
        for (name, c, ns) in rows {
            let shown = |v: u64| {
                if ns {
                    crate::fmt::fmt_ns(v)
                } else {
                    v.to_string()
                }
            };
            let change = match c.delta() {
                0 => "=".to_string(),
                x if ns => format!(
                    "{}{}",
                    if x > 0 { "+" } else { "-" },
                    crate::fmt::fmt_ns(x.unsigned_abs() as u64)
                ),
                x => format!("{x:+}"),
            };
            out.push_str(&format!(
                "  {:<44} {:>14} {:>14} {:>15}\n",
                crate::fmt::neutralize(&name),
                shown(c.before),
                shown(c.after),
                change
            ));
        }
        out.push('\n');
    };
    section(
        "Events",
        vec![
            ("recorded".into(), d.events, false),
            ("lost".into(), d.lost_events, false),
        ],
    );
    let mut ports = Vec::new();
    for (name, p) in &d.ports {
        for (what, c) in [
            ("bytes received", p.bytes_received),
            ("bytes dropped", p.bytes_dropped),
            ("hardware overruns", p.hw_overruns),
            ("flip buffer peak", p.flip_buffer_peak),
            ("throttles", p.throttles),
        ] {
            ports.push((format!("{name} {what}"), c, false));
        }
    }
    section("Serial ports", ports);
    let rows = |r: &Rows, ns: bool| -> Vec<(String, Change, bool)> {
        r.iter().map(|(k, c)| (k.clone(), *c, ns)).collect()
    };
    section("Bytes dropped by cause", rows(&d.dropped_by_cause, false));
    section(
        "Lost wakeups by cause",
        rows(&d.lost_wakeups_by_cause, false),
    );
    section("Timer lateness", percentile_rows(&d.timer_lateness_ns));
    section("Wakeup latency", percentile_rows(&d.wakeup_latency_ns));
    let mut suspend = rows(&d.suspend_cycles, false);
    suspend.push(("slowest resume".into(), d.max_resume_ns, true));
    section("Suspend cycles", suspend);
    section("Slowest device callbacks", rows(&d.slowest_devices, true));
    if out.is_empty() {
        out.push_str("Both recordings are empty.\n");
    }
    out
}

/// Percentile rows in their order (p50 before max), not the map's.
fn percentile_rows(r: &Rows) -> Vec<(String, Change, bool)> {
    ["p50", "p90", "p99", "max"]
        .iter()
        .filter_map(|k| r.get(*k).map(|c| (k.to_string(), *c, true)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::*;
    use crate::analysis::serial::{DropCause, DropWindow, PortReport};
    use crate::analysis::timers::{LostWakeup, WakeCause};

    fn report(dropped: u64, lost_wakeups: usize, p99: u64) -> Report {
        let mut r = Report::default();
        r.events.total = 1000;
        r.ports.push(PortReport {
            name: "ttyS1".into(),
            bytes_received: 5000,
            bytes_dropped: dropped,
            ..Default::default()
        });
        if dropped > 0 {
            r.drops.push(DropWindow {
                port: "ttyS1".into(),
                bytes: dropped,
                cause: Some(DropCause::ReaderFrozen),
                ..Default::default()
            });
        }
        for _ in 0..lost_wakeups {
            r.lost_wakeups.push(LostWakeup {
                cause: WakeCause::Suspend,
                ..Default::default()
            });
        }
        r.timers.lateness_ns.p99 = p99;
        r
    }

    #[test]
    fn a_fix_shows_as_fewer_drops_and_rules_fail_only_on_worse() {
        let (before, after) = (report(4096, 2, 2_000_000), report(0, 2, 1_500_000));
        let d = diff(&before, &after);
        assert_eq!(d.ports["ttyS1"].bytes_dropped, Change::of(4096, 0));
        assert_eq!(d.dropped_by_cause["reader_frozen"], Change::of(4096, 0));
        assert_eq!(d.lost_wakeups_by_cause["suspend"], Change::of(2, 2));
        assert_eq!(d.timer_lateness_ns["p99"], Change::of(2_000_000, 1_500_000));
        let rules: Vec<String> = RULES.iter().map(|(r, _)| r.to_string()).collect();
        assert_eq!(d.failed(&rules).unwrap(), Vec::<String>::new());
        // the other way round, drops and p99 got worse
        let worse = diff(&after, &before);
        assert_eq!(
            worse.failed(&rules).unwrap(),
            [
                "drops_increased: 0 → 4096",
                "timer_p99_increased: 1500000 → 2000000"
            ]
        );
        assert!(d.failed(&["drops_went_up".into()]).is_err());
        let text = render_text(&d);
        assert!(text.contains("ttyS1 bytes dropped"), "{text}");
        assert!(text.contains("-4096"), "{text}");
        assert!(text.contains("reader_frozen"), "{text}");
    }

    #[test]
    fn a_port_or_cause_only_one_side_has_is_zero_on_the_other() {
        let mut after = report(0, 0, 0);
        after.ports[0].name = "ttyUSB0".into();
        let d = diff(&report(10, 1, 0), &after);
        assert_eq!(d.ports["ttyS1"].bytes_received, Change::of(5000, 0));
        assert_eq!(d.ports["ttyUSB0"].bytes_received, Change::of(0, 5000));
        assert_eq!(d.lost_wakeups_by_cause["suspend"], Change::of(1, 0));
    }
}
