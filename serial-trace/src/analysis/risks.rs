//! Risky settings (issue 18): configurations under which the failures this tool explains
//! happen, named from the header's system and port settings, the line settings' changes, and
//! what the recording saw (suspend cycles, the ports in use). Each risk is typed evidence; the
//! words (why it matters, what to check) are the renderers' (`render/summary.rs`).

use serde::{Deserialize, Serialize};

use super::serial::PortReport;
use super::suspend::{SuspendCycle, WakeSourceKind};
use crate::trace::{SystemSetup, Termios};

names! {
    /// A risk rule (`report --check no_risk=RULE`).
    pub enum RiskRule {
        /// A raw read waits for VMIN bytes with no timeout (VMIN > 0, VTIME = 0).
        BlockingReadNoTimeout = "blocking_read_no_timeout",
        /// No flow control that can stop the sender, and the UART's FIFO fills in less than a
        /// timer tick at this speed.
        NoFlowControlFastLine = "no_flow_control_fast_line",
        /// Timekeeping on the jiffies clocksource: time advances in ticks.
        JiffiesClocksource = "jiffies_clocksource",
        /// The kernel marked a clocksource unstable since boot and switched away from it.
        UnstableClocksource = "unstable_clocksource",
        /// No high-resolution timers: every sleep rounds up to the next tick.
        NoHighResTimers = "no_high_res_timers",
        /// `echo mem` gives suspend-to-idle although this machine offers S3 (`deep`).
        MemSleepNotDeep = "mem_sleep_not_deep",
        /// A port in use across a suspend cycle cannot wake the system.
        PortCannotWake = "port_cannot_wake",
        /// Received bytes waited longer than a tick for the line discipline (p99 of the
        /// push-to-run wait), on a port without `low_latency`.
        SlowLdiscWithoutLowLatency = "slow_ldisc_without_low_latency",
    }
}

impl RiskRule {
    pub const ALL: [RiskRule; 8] = [
        RiskRule::BlockingReadNoTimeout,
        RiskRule::NoFlowControlFastLine,
        RiskRule::JiffiesClocksource,
        RiskRule::UnstableClocksource,
        RiskRule::NoHighResTimers,
        RiskRule::MemSleepNotDeep,
        RiskRule::PortCannotWake,
        RiskRule::SlowLdiscWithoutLowLatency,
    ];
}

/// One risk found: the rule, where, since when and by whom, and the numbers behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    pub rule: RiskRule,
    /// The port it concerns (absent for a system setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// When the setting took effect, CLOCK_BOOTTIME (absent: already when recording began).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_boot_ns: Option<u64>,
    /// Who set it (`comm (pid)`), when a recorded change did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    /// The line settings in question (port rules about the line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termios: Option<Termios>,
    /// `no_flow_control_fast_line`: the FIFO's size, how long the line takes to fill it, and
    /// the tick it is held against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fifo_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fifo_fill_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_ns: Option<u64>,
    /// `slow_ldisc_without_low_latency`: the p99 wait from the flip buffer push to the line
    /// discipline's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldisc_delay_ns: Option<u64>,
    /// The system setting in question (clocksource, `mem_sleep`, a port's `power/wakeup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
}

impl Risk {
    fn new(rule: RiskRule) -> Self {
        Risk {
            rule,
            port: None,
            since_boot_ns: None,
            set_by: None,
            termios: None,
            fifo_size: None,
            fifo_fill_ns: None,
            tick_ns: None,
            ldisc_delay_ns: None,
            setting: None,
        }
    }
}

/// Every risk in the recording, system rules first, then per port in name order.
pub fn find(
    system: Option<&SystemSetup>,
    ports: &[PortReport],
    cycles: &[SuspendCycle],
) -> Vec<Risk> {
    let mut out = Vec::new();
    if let Some(s) = system {
        system_risks(s, &mut out);
    }
    let tick_ns = system.and_then(|s| s.tick_ns);
    for p in ports {
        line_risks(p, tick_ns, &mut out);
        ldisc_risk(p, tick_ns, &mut out);
        wake_risk(p, cycles, &mut out);
    }
    out
}

fn system_risks(s: &SystemSetup, out: &mut Vec<Risk>) {
    if let Some(cs) = s
        .clocksource
        .as_deref()
        .filter(|c| matches!(*c, "jiffies" | "refined-jiffies"))
    {
        out.push(Risk {
            setting: Some(cs.to_string()),
            ..Risk::new(RiskRule::JiffiesClocksource)
        });
    }
    for u in s.clocksources_unstable.iter().flatten() {
        let now = s.clocksource.as_deref().unwrap_or("unknown");
        out.push(Risk {
            setting: Some(format!(
                "{} marked unstable ({}), timekeeping now on {now}",
                u.name,
                if u.reason.is_empty() {
                    "no reason given"
                } else {
                    &u.reason
                }
            )),
            ..Risk::new(RiskRule::UnstableClocksource)
        });
    }
    if s.high_resolution() == Some(false) {
        out.push(Risk {
            tick_ns: s.tick_ns,
            ..Risk::new(RiskRule::NoHighResTimers)
        });
    }
    if s.mem_sleep.as_deref() == Some("s2idle") && s.mem_sleep_available.iter().any(|m| m == "deep")
    {
        out.push(Risk {
            setting: Some("s2idle".into()),
            ..Risk::new(RiskRule::MemSleepNotDeep)
        });
    }
}

/// The port's line settings over the recording: at the start, then after each change. Each
/// rule is named once per port, at the first settings that break it.
fn line_risks(p: &PortReport, tick_ns: Option<u64>, out: &mut Vec<Risk>) {
    let setup = p.setup.as_ref();
    let states = setup
        .and_then(|s| s.termios)
        .map(|t| (t, None, None))
        .into_iter()
        .chain(p.settings_changes.iter().map(|c| {
            let by = c
                .comm
                .as_ref()
                .zip(c.pid)
                .map(|(comm, pid)| format!("{comm} ({pid})"));
            (c.termios, Some(c.t_boot_ns), by)
        }));
    let mut blocking = false;
    let mut fast = false;
    let fifo = setup.and_then(|s| s.fifo_size).filter(|&f| f > 0);
    for (t, since, by) in states {
        let base = Risk {
            port: Some(p.name.clone()),
            since_boot_ns: since,
            set_by: by,
            termios: Some(t),
            ..Risk::new(RiskRule::BlockingReadNoTimeout)
        };
        if !blocking && t.blocking_read_without_timeout() {
            blocking = true;
            out.push(base.clone());
        }
        if fast || t.input_flow_control() || t.baud() == 0 {
            continue;
        }
        let (Some(fifo), Some(tick)) = (fifo, tick_ns) else {
            continue;
        };
        let fill_ns =
            u64::from(fifo) * u64::from(t.bits_per_char()) * 1_000_000_000 / u64::from(t.baud());
        if fill_ns < tick {
            fast = true;
            out.push(Risk {
                rule: RiskRule::NoFlowControlFastLine,
                fifo_size: Some(fifo),
                fifo_fill_ns: Some(fill_ns),
                tick_ns: Some(tick),
                ..base
            });
        }
    }
}

/// The line discipline's work waited longer than a tick at p99, and the port's flags do not
/// ask for low latency (unknown flags: no claim).
fn ldisc_risk(p: &PortReport, tick_ns: Option<u64>, out: &mut Vec<Risk>) {
    let (Some(work), Some(tick)) = (&p.ldisc_work, tick_ns) else {
        return;
    };
    let low_latency = p.setup.as_ref().and_then(|s| s.low_latency());
    if low_latency == Some(false) && work.runs > work.delay_unknown && work.delay_ns.p99 > tick {
        out.push(Risk {
            port: Some(p.name.clone()),
            tick_ns: Some(tick),
            ldisc_delay_ns: Some(work.delay_ns.p99),
            ..Risk::new(RiskRule::SlowLdiscWithoutLowLatency)
        });
    }
}

/// A port in use (held open when recording began, or bytes received, or read) while a suspend
/// cycle ran, whose `power/wakeup` was not enabled when recording began — unless its own
/// interrupt woke a cycle (then it was enabled by the time it mattered).
fn wake_risk(p: &PortReport, cycles: &[SuspendCycle], out: &mut Vec<Risk>) {
    let Some(setup) = &p.setup else {
        return;
    };
    if cycles.is_empty() || setup.wakeup.as_deref() == Some("enabled") {
        return;
    }
    let in_use = !setup.holders.is_empty() || p.bytes_received > 0 || p.bytes_dropped > 0;
    let irq_word = setup.irq.map(|irq| format!("irq {irq}"));
    // the wake source's words (`wakeup source ttyS1 (tty)`) name the port
    let names_port = |text: &str| {
        text.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == p.name)
    };
    let woke_a_cycle = cycles.iter().any(|c| {
        c.wake_source.as_ref().is_some_and(|w| match w.kind {
            WakeSourceKind::Irq => irq_word
                .as_ref()
                .is_some_and(|i| w.detail == *i || w.detail.starts_with(&format!("{i} "))),
            WakeSourceKind::WakeupSource => names_port(&w.detail),
            _ => false,
        }) || c
            .platform_wakes
            .iter()
            .any(|w| w.evidence.as_deref().is_some_and(names_port))
    });
    if in_use && !woke_a_cycle {
        out.push(Risk {
            port: Some(p.name.clone()),
            setting: Some(
                setup
                    .wakeup
                    .clone()
                    .unwrap_or_else(|| "not wakeup-capable".into()),
            ),
            ..Risk::new(RiskRule::PortCannotWake)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::port_settings::SettingsChange;
    use crate::trace::{PortHolder, PortSetup, termios_flags as f};

    fn line(baud: u32, vmin: u8, vtime: u8, cflag: u32) -> Termios {
        Termios {
            cflag: f::CSIZE | f::CREAD | cflag,
            vmin,
            vtime,
            ispeed: baud,
            ospeed: baud,
            ..Default::default()
        }
    }

    fn port(start: Termios, wakeup: Option<&str>) -> PortReport {
        PortReport {
            name: "ttyS1".into(),
            setup: Some(PortSetup {
                name: "ttyS1".into(),
                irq: Some(4),
                fifo_size: Some(16),
                wakeup: wakeup.map(str::to_string),
                holders: vec![PortHolder {
                    pid: 9,
                    comm: "cat".into(),
                }],
                termios: Some(start),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn rules(r: &[Risk]) -> Vec<RiskRule> {
        r.iter().map(|r| r.rule).collect()
    }

    const HZ250: Option<u64> = Some(4_000_000);

    #[test]
    fn a_blocking_read_without_a_timeout_is_named_once_with_who_set_it() {
        let mut out = Vec::new();
        line_risks(&port(line(9600, 0, 5, 0), None), HZ250, &mut out);
        assert!(out.is_empty(), "{out:?}");
        let mut p = port(line(9600, 0, 5, 0), None);
        for (t, vmin) in [(10, 1), (20, 2)] {
            p.settings_changes.push(SettingsChange {
                t_boot_ns: t,
                pid: Some(77),
                tid: Some(77),
                comm: Some("reader".into()),
                at_stop: false,
                termios: line(9600, vmin, 0, 0),
                changed: vec![],
            });
        }
        line_risks(&p, HZ250, &mut out);
        assert_eq!(rules(&out), [RiskRule::BlockingReadNoTimeout]);
        assert_eq!(
            (out[0].since_boot_ns, out[0].set_by.as_deref()),
            (Some(10), Some("reader (77)"))
        );
        // canonical mode waits for a line, not for VMIN
        let mut out = Vec::new();
        let canon = Termios {
            lflag: f::ICANON,
            ..line(9600, 1, 0, 0)
        };
        line_risks(&port(canon, None), HZ250, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_fifo_that_fills_within_a_tick_needs_flow_control() {
        // 115200 8N1: 16 bytes in 1.39 ms, under a 4 ms tick
        let mut out = Vec::new();
        line_risks(&port(line(115_200, 0, 1, 0), None), HZ250, &mut out);
        assert_eq!(rules(&out), [RiskRule::NoFlowControlFastLine]);
        assert_eq!(out[0].fifo_fill_ns, Some(1_388_888));
        // RTS/CTS stops the sender; 9600 takes 16.7 ms; HZ 1000 at 38400 is 4.2 ms > 1 ms
        for (baud, cflag, tick) in [
            (115_200, f::CRTSCTS, HZ250),
            (9600, 0, HZ250),
            (38_400, 0, Some(1_000_000)),
        ] {
            let mut out = Vec::new();
            line_risks(&port(line(baud, 0, 1, cflag), None), tick, &mut out);
            assert!(out.is_empty(), "{baud} {out:?}");
        }
        // no tick known, or no FIFO size: nothing claimed
        let mut out = Vec::new();
        line_risks(&port(line(115_200, 0, 1, 0), None), None, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn system_settings_that_coarsen_time_or_sleep() {
        let mut out = Vec::new();
        system_risks(
            &SystemSetup {
                clocksource: Some("jiffies".into()),
                clocksources_unstable: Some(vec![crate::trace::UnstableClocksource {
                    name: "tsc".into(),
                    reason: "the skew is too large".into(),
                }]),
                monotonic_resolution_ns: Some(4_000_000),
                tick_ns: Some(4_000_000),
                mem_sleep: Some("s2idle".into()),
                mem_sleep_available: vec!["s2idle".into(), "deep".into()],
                ..Default::default()
            },
            &mut out,
        );
        assert_eq!(
            rules(&out),
            [
                RiskRule::JiffiesClocksource,
                RiskRule::UnstableClocksource,
                RiskRule::NoHighResTimers,
                RiskRule::MemSleepNotDeep
            ]
        );
        assert_eq!(
            out[1].setting.as_deref(),
            Some("tsc marked unstable (the skew is too large), timekeeping now on jiffies")
        );
        let mut out = Vec::new();
        system_risks(
            &SystemSetup {
                clocksource: Some("tsc".into()),
                // the log was read and named none
                clocksources_unstable: Some(vec![]),
                monotonic_resolution_ns: Some(1),
                tick_ns: Some(4_000_000),
                // arm64 virt offers no S3: s2idle is all there is
                mem_sleep: Some("s2idle".into()),
                mem_sleep_available: vec!["s2idle".into()],
                ..Default::default()
            },
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn a_slow_line_discipline_on_a_port_without_low_latency() {
        use crate::analysis::{LdiscTiming, timers::Percentiles};
        let with = |p99: u64, flags: Option<u32>| {
            let mut p = port(line(9600, 0, 1, 0), None);
            p.setup.as_mut().unwrap().port_flags = flags;
            p.ldisc_work = Some(LdiscTiming {
                runs: 10,
                delay_ns: Percentiles {
                    p99,
                    ..Default::default()
                },
                ..Default::default()
            });
            let mut out = Vec::new();
            ldisc_risk(&p, HZ250, &mut out);
            out
        };
        let out = with(9_000_000, Some(0));
        assert_eq!(rules(&out), [RiskRule::SlowLdiscWithoutLowLatency]);
        assert_eq!(out[0].ldisc_delay_ns, Some(9_000_000));
        // within a tick, low_latency set, or flags unknown: nothing
        assert!(with(3_000_000, Some(0)).is_empty());
        assert!(with(9_000_000, Some(1 << 13)).is_empty());
        assert!(with(9_000_000, None).is_empty());
    }

    #[test]
    fn a_port_in_use_across_a_suspend_that_cannot_wake_it() {
        use crate::analysis::suspend::WakeSource;
        let cycle = SuspendCycle::default();
        let mut out = Vec::new();
        wake_risk(
            &port(line(9600, 0, 1, 0), Some("disabled")),
            std::slice::from_ref(&cycle),
            &mut out,
        );
        assert_eq!(rules(&out), [RiskRule::PortCannotWake]);
        assert_eq!(out[0].setting.as_deref(), Some("disabled"));
        // no cycle, enabled, or its own interrupt woke the cycle: no risk
        for (cycles, wakeup) in [
            (vec![], Some("disabled")),
            (vec![cycle.clone()], Some("enabled")),
            (
                vec![SuspendCycle {
                    wake_source: Some(WakeSource {
                        kind: WakeSourceKind::WakeupSource,
                        detail: "wakeup source ttyS1 (tty)".into(),
                        at_boot_ns: 0,
                    }),
                    ..Default::default()
                }],
                None,
            ),
            (
                vec![SuspendCycle {
                    wake_source: Some(WakeSource {
                        kind: WakeSourceKind::Irq,
                        detail: "irq 4 (/sys/power/pm_wakeup_irq)".into(),
                        at_boot_ns: 0,
                    }),
                    ..Default::default()
                }],
                None,
            ),
        ] {
            let mut out = Vec::new();
            wake_risk(&port(line(9600, 0, 1, 0), wakeup), &cycles, &mut out);
            assert!(out.is_empty(), "{out:?}");
        }
        // a port nobody used
        let mut idle = port(line(9600, 0, 1, 0), None);
        idle.setup.as_mut().unwrap().holders.clear();
        let mut out = Vec::new();
        wake_risk(&idle, &[cycle], &mut out);
        assert!(out.is_empty());
    }
}
