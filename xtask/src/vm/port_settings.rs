//! The `flood-read` scenario's port settings against the guest (issue 18): what busybox's
//! `stty -g` read back after the guest set them, before the recorder started and after a change
//! by `stty` while it ran; the driver's view against the guest's sysfs; the risks the report
//! names against the ones those settings and the kernel's own `CONFIG_HZ` imply.

use std::collections::BTreeMap;

use serial_trace::analysis::{Report, RiskRule, Setting, Termios};

use super::checks::{Check, check};

/// `stty -g`: `iflag:oflag:cflag:lflag:cc0:cc1:…` in hex (busybox and coreutils alike);
/// `c_cc[VTIME]` is the 6th control character, `c_cc[VMIN]` the 7th (asm-generic).
fn stty_g(s: &str) -> Option<(u32, u32, u32, u32, u8, u8)> {
    let v: Vec<u32> = s
        .split(':')
        .map(|x| u32::from_str_radix(x, 16).ok())
        .collect::<Option<_>>()?;
    (v.len() >= 11).then(|| (v[0], v[1], v[2], v[3], v[4 + 5] as u8, v[4 + 6] as u8))
}

fn flags_of(t: &Termios) -> (u32, u32, u32, u32, u8, u8) {
    (t.iflag, t.oflag, t.cflag, t.lflag, t.vtime, t.vmin)
}

/// Every check of the settings; `config` is the kernel's `config-*` file.
pub fn checks(report: &Report, facts: &BTreeMap<String, String>, config: &str) -> Vec<Check> {
    const SC: &str = "flood-read";
    let port = facts.get("port").map_or("ttyS1", String::as_str);
    let Some(p) = report.ports.iter().find(|p| p.name == port) else {
        return vec![check(
            format!("{SC}: the port's settings"),
            false,
            format!("no row for {port}"),
        )];
    };
    let mut out = Vec::new();
    let start = facts.get("settings_start").and_then(|s| stty_g(s));
    let end = facts.get("settings_end").and_then(|s| stty_g(s));
    let holder: Option<u32> = facts.get("settings_holder").and_then(|v| v.parse().ok());
    let setup = p.setup.as_ref();
    let got_start = setup.and_then(|s| s.termios).map(|t| flags_of(&t));
    let held_by = setup.is_some_and(|s| {
        s.holders
            .iter()
            .any(|h| Some(h.pid) == holder && h.comm == "sleep")
    });
    out.push(check(
        format!("{SC}: the header's line settings are what stty read back in the guest"),
        start.is_some() && got_start == start && held_by,
        format!(
            "(iflag, oflag, cflag, lflag, vtime, vmin): header {got_start:x?}, guest {start:x?}; holder {holder:?} found: {held_by}"
        ),
    ));

    let want_device = (
        facts.get("port_irq").and_then(|v| v.parse::<u32>().ok()),
        facts.get("port_fifo").and_then(|v| v.parse::<u32>().ok()),
        facts.get("port_wakeup").filter(|w| *w != "none").cloned(),
    );
    let got_device = (
        setup.and_then(|s| s.irq),
        setup.and_then(|s| s.fifo_size),
        setup.and_then(|s| s.wakeup.clone()),
    );
    out.push(check(
        format!("{SC}: the driver's view is the guest's sysfs"),
        want_device.0.is_some()
            && got_device == want_device
            && setup.is_some_and(|s| s.driver.is_some()),
        format!(
            "(irq, FIFO, wakeup): header {got_device:?}, guest {want_device:?}; driver {:?}",
            setup.and_then(|s| s.driver.as_deref())
        ),
    ));

    // the change: by the stty process the guest started, to what stty read back after it
    let changer: Option<u32> = facts
        .get("settings_changed_by")
        .and_then(|v| v.parse().ok());
    let hooked = report
        .probes
        .iter()
        .any(|r| r.name == "serial:termios" && r.attached);
    let change = p
        .settings_changes
        .iter()
        .find(|c| !c.at_stop && c.pid.is_some() && c.pid == changer);
    out.push(check(
        format!("{SC}: the change while recording, with the task that made it"),
        hooked
            && end.is_some()
            && change.is_some_and(|c| {
                c.comm.as_deref() == Some("stty")
                    && Some(flags_of(&c.termios)) == end
                    && c.changed == [Setting::Vmin, Setting::Vtime]
            }),
        format!(
            "hook attached: {hooked}; stty pid {changer:?}; guest after it {end:x?}; report: {:x?}",
            change.map(|c| (
                c.comm.as_deref(),
                flags_of(&c.termios),
                c.changed.iter().map(|s| s.as_str()).collect::<Vec<_>>()
            ))
        ),
    ));
    let at_stop = p.settings_changes.iter().rev().find(|c| c.at_stop);
    out.push(check(
        format!("{SC}: the settings read at the stop are the guest's last"),
        end.is_some() && at_stop.map(|c| flags_of(&c.termios)) == end,
        format!(
            "read at the stop {:x?}, guest {end:x?}",
            at_stop.map(|c| flags_of(&c.termios))
        ),
    ));

    // the risks those settings imply: VMIN 1 VTIME 0 from the start; and no flow control at
    // 115200 (10 bits a byte) exactly when the FIFO fills faster than the kernel's tick
    let hz: Option<u64> = config
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_HZ=")?.parse().ok());
    let fast = match (want_device.1, hz) {
        (Some(fifo), Some(hz)) => Some(u64::from(fifo) * 10 * hz < 115_200),
        _ => None,
    };
    let mut want: Vec<RiskRule> = vec![RiskRule::BlockingReadNoTimeout];
    if fast == Some(true) {
        want.push(RiskRule::NoFlowControlFastLine);
    }
    // the line discipline's wait is the trace's own measure; the tick and the port's
    // low_latency flag are the kernel config's and the guest's sysfs
    let low_latency = facts
        .get("port_flags")
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        .map(|f| f & (1 << 13) != 0);
    let slow_ldisc = p.ldisc_work.as_ref().is_some_and(|w| {
        w.runs > w.delay_unknown
            && hz.is_some_and(|hz| w.delay_ns.p99 > 1_000_000_000 / hz)
            && low_latency == Some(false)
    });
    if slow_ldisc {
        want.push(RiskRule::SlowLdiscWithoutLowLatency);
    }
    let got: Vec<(RiskRule, Option<u64>)> = report
        .risks
        .iter()
        .filter(|r| r.port.as_deref() == Some(port))
        .map(|r| (r.rule, r.since_boot_ns))
        .collect();
    let expected: Vec<(RiskRule, Option<u64>)> = want.iter().map(|r| (*r, None)).collect();
    out.push(check(
        format!("{SC}: the risks named are the ones the guest's settings carry"),
        fast.is_some() && got == expected,
        format!(
            "report {:?}, expected {:?} (FIFO {:?}, CONFIG_HZ {hz:?})",
            got.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
            want.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            want_device.1
        ),
    ));
    out
}

/// A scenario that counted its port's interrupts (facts `port_irq`, `irq_while_recording`):
/// the port's interrupt and line discipline timing against the guest's `/proc/interrupts` and
/// the serial hooks. Every interrupt the kernel counted while the scenario ran (the recorder
/// running, frozen or not) has its handler's run in the trace; every hand-over to the line
/// discipline the serial hooks saw (`ldisc_receive`) lies inside a run of the port's work item,
/// which is the only place the kernel makes one.
pub fn timing_checks(sc: &str, report: &Report, facts: &BTreeMap<String, String>) -> Vec<Check> {
    if !facts.contains_key("irq_while_recording") {
        return Vec::new();
    }
    let port = facts.get("port").map_or("ttyS1", String::as_str);
    let p = report.ports.iter().find(|p| p.name == port);
    let irq_fact: Option<u32> = facts.get("port_irq").and_then(|v| v.parse().ok());
    let counted: Option<u64> = facts
        .get("irq_while_recording")
        .and_then(|v| v.parse().ok());
    let around: Option<u64> = facts
        .get("irq_around_recording")
        .and_then(|v| v.parse().ok());
    let irq = p.and_then(|p| p.uart_irq.as_ref());
    let lost = report.events.lost;
    let irq_ok = irq.is_some_and(|t| {
        Some(t.irq) == irq_fact
            && counted.is_some_and(|c| c > 0 && t.runs >= c)
            && t.handled <= t.runs
            && t.handler_ns.p50 <= t.handler_ns.max
    }) && lost == 0;
    vec![
        check(
            format!("{sc}: the UART's handler ran for every interrupt the kernel counted"),
            irq_ok,
            format!(
                "IRQ {irq_fact:?}: /proc/interrupts {counted:?} while the scenario ran, {around:?} from before the recorder started to after it stopped; trace {:?} (lost events {lost})",
                irq.map(|t| (t.irq, t.runs, t.handled, t.handler_ns.p50, t.handler_ns.max))
            ),
        ),
        ldisc_check(sc, report, port),
    ]
}

/// Every hand-over to the line discipline the serial hooks saw on `port` (`ldisc_receive`)
/// lies inside a run of the port's `flush_to_ldisc` work item, which is the only place the
/// kernel makes one, whatever the driver (a UART's interrupt, or USB-serial's URB completion,
/// pushes the flip buffer; the work item hands it over).
pub fn ldisc_check(sc: &str, report: &Report, port: &str) -> Check {
    let work = report
        .ports
        .iter()
        .find(|p| p.name == port)
        .and_then(|p| p.ldisc_work.as_ref());
    let work_ok = work.is_some_and(|w| {
        w.runs > w.delay_unknown
            && w.receives_in_runs > 0
            && w.receives_outside_runs == 0
            && w.delay_ns.p50 <= w.delay_ns.max
            && w.run_ns.p50 <= w.run_ns.max
    });
    check(
        format!("{sc}: every hand-over to the line discipline lies in a run of its work item"),
        work_ok,
        format!(
            "{port} flush_to_ldisc (runs, waits unknown, ldisc_receive in/outside runs, wait p50/max, run p50/max): {:?}",
            work.map(|w| (
                w.runs,
                w.delay_unknown,
                w.receives_in_runs,
                w.receives_outside_runs,
                w.delay_ns.p50,
                w.delay_ns.max,
                w.run_ns.p50,
                w.run_ns.max
            )),
        ),
    )
}

/// A scenario whose port is read across suspend cycles (`port_wakeup`: its `power/wakeup` when
/// the recorder started): the report names `port_cannot_wake` for it exactly when the guest
/// suspended, the port could not wake the system, and no cycle was woken by the port's own
/// interrupt (the guest's `pm_wakeup_irq` against the port's IRQ, as `s2idle` reports them).
pub fn wake_risk_check(
    sc: &str,
    report: &Report,
    facts: &BTreeMap<String, String>,
) -> Option<Check> {
    let wakeup = facts.get("port_wakeup")?;
    let port = facts.get("port").map_or("ttyS1", String::as_str);
    let n = |k: &str| {
        facts
            .get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let cycles = n("rtc_cycles") + n("pm_test_cycles") + n("s2idle_cycles");
    let woke_by_port = n("s2idle_cycles") > 0
        && facts.get("wake_irq").is_some()
        && facts.get("wake_irq") == facts.get("uart_irq");
    let want = cycles > 0 && wakeup != "enabled" && !woke_by_port;
    let got = report
        .risks
        .iter()
        .any(|r| r.rule == RiskRule::PortCannotWake && r.port.as_deref() == Some(port));
    Some(check(
        format!("{sc}: port_cannot_wake named exactly when the port could not wake a cycle"),
        got == want,
        format!(
            "{port}: power/wakeup {wakeup} at the start, {cycles} cycles, woken by its own IRQ: {woke_by_port}; expected {want}, report {got}"
        ),
    ))
}

/// Every scenario that set its port raw (`serial_raw`: busybox `stty` while the recorder
/// runs, pid in the fact `raw_set_by`): the trace has that change, made by that `stty`, with
/// the settings raw asks for. Every kernel of the matrix, by fentry or kprobes.
pub fn raw_set_check(sc: &str, report: &Report, facts: &BTreeMap<String, String>) -> Option<Check> {
    let by: u32 = facts.get("raw_set_by")?.parse().ok()?;
    let port = facts.get("port").map_or("ttyS1", String::as_str);
    let method = report
        .probes
        .iter()
        .find(|r| r.name == "serial:termios")
        .and_then(|r| r.attached.then(|| r.method.clone()).flatten());
    let change = report
        .ports
        .iter()
        .find(|p| p.name == port)
        .and_then(|p| p.settings_changes.iter().find(|c| c.pid == Some(by)));
    let raw = change.is_some_and(|c| {
        let t = &c.termios;
        c.comm.as_deref() == Some("stty")
            && !t.canonical()
            && t.lflag & serial_trace::trace::termios_flags::ECHO == 0
            && !t.ixon()
            && !t.ixoff()
            && !t.rtscts()
    });
    Some(check(
        format!("{sc}: the port set raw by stty, in the trace with its pid"),
        method.is_some() && raw,
        format!(
            "serial:termios by {method:?}; stty pid {by} on {port}: {:x?}",
            change.map(|c| (c.comm.as_deref(), c.termios))
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stty_g_gives_the_flags_and_vtime_vmin() {
        // busybox `stty -g` after `raw -echo min 1 time 0` at 115200
        let g =
            "0:0:1cb2:0:3:1c:7f:15:4:0:1:0:11:13:1a:0:12:f:17:16:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0";
        assert_eq!(stty_g(g), Some((0, 0, 0x1cb2, 0, 0, 1)));
        assert_eq!(stty_g("0:0:1cb2"), None);
        assert_eq!(stty_g("zz:0:0:0:0:0:0:0:0:0:0"), None);
    }

    /// A report as the flood-read scenario's should be, and the facts beside it.
    fn good() -> (serde_json::Value, BTreeMap<String, String>) {
        use serde_json::json;
        let t = |vtime: u8, vmin: u8| {
            json!({ "iflag": 0, "oflag": 4, "cflag": 0x1cb2, "lflag": 0x8a30, "vmin": vmin,
                    "vtime": vtime, "ispeed": 115200, "ospeed": 115200 })
        };
        let report = json!({
            "probes": [ { "name": "serial:termios", "attached": true, "method": "fentry+fexit" } ],
            "risks": [
                { "rule": "blocking_read_no_timeout", "port": "ttyS1" },
                { "rule": "no_flow_control_fast_line", "port": "ttyS1" } ],
            "ports": [ { "name": "ttyS1",
                "setup": { "name": "ttyS1", "driver": "serial", "irq": 3, "fifo_size": 16,
                           "wakeup": "disabled", "holders": [ { "pid": 376, "comm": "sleep" } ],
                           "termios": t(0, 1) },
                "settings_changes": [
                    { "t_boot_ns": 5, "pid": 600, "tid": 600, "comm": "stty", "termios": t(0, 1), "changed": [] },
                    { "t_boot_ns": 9, "pid": 639, "tid": 639, "comm": "stty", "termios": t(5, 0),
                      "changed": ["vmin", "vtime"] },
                    { "t_boot_ns": 12, "at_stop": true, "termios": t(5, 0), "changed": [] } ],
                "uart_irq": { "irq": 3, "runs": 1200, "handled": 1190,
                              "handler_ns": { "p50": 9000, "p90": 12000, "p99": 20000, "max": 90000 },
                              "handler_ns_total": 12000000 },
                "ldisc_work": { "runs": 800, "delay_unknown": 0, "receives_in_runs": 900, "receives_outside_runs": 0,
                                "delay_ns": { "p50": 200000, "p90": 900000, "p99": 2000000, "max": 3000000 },
                                "run_ns": { "p50": 30000, "p90": 50000, "p99": 90000, "max": 100000 } } } ]
        });
        let g = |vtime: u8, vmin: u8| {
            format!("0:4:1cb2:8a30:3:1c:7f:15:4:{vtime:x}:{vmin:x}:0:11:13:1a:0:12:f:17:16:0")
        };
        let facts = BTreeMap::from(
            [
                ("port", "ttyS1".to_string()),
                ("settings_start", g(0, 1)),
                ("settings_end", g(5, 0)),
                ("settings_holder", "376".into()),
                ("settings_changed_by", "639".into()),
                ("raw_set_by", "600".into()),
                ("port_irq", "3".into()),
                ("port_fifo", "16".into()),
                ("port_wakeup", "disabled".into()),
                ("port_flags", "0x10000000".into()),
                ("irq_while_recording", "1150".into()),
                ("irq_around_recording", "1201".into()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        (report, facts)
    }

    #[test]
    fn the_settings_checks_pass_the_truth_and_fail_each_departure_from_it() {
        use super::super::checks::typed;
        let config = "CONFIG_HZ=250\n";
        let (report, facts) = good();
        let mut all = checks(&typed(&report), &facts, config);
        all.extend(timing_checks("flood-read", &typed(&report), &facts));
        assert_eq!(all.len(), 7);
        assert!(all.iter().all(|c| c.ok), "{all:#?}");
        assert!(
            raw_set_check("flood-read", &typed(&report), &facts)
                .unwrap()
                .ok
        );
        // each of these must fail exactly one check
        let mut bad = Vec::new();
        let mut r = report.clone();
        r["ports"][0]["settings_changes"][1]["pid"] = 640.into();
        bad.push((r, facts.clone(), config));
        let mut r = report.clone();
        r["ports"][0]["setup"]["termios"]["vmin"] = 0.into();
        bad.push((r, facts.clone(), config));
        let mut r = report.clone();
        r["risks"].as_array_mut().unwrap().pop();
        bad.push((r, facts.clone(), config));
        // a 64-byte FIFO takes 5.6 ms at 115200, longer than a 4 ms tick: no fast-line risk due
        let mut r = report.clone();
        r["ports"][0]["setup"]["fifo_size"] = 64.into();
        let mut f = facts.clone();
        f.insert("port_fifo".into(), "64".into());
        bad.push((r, f, config));
        let mut f = facts.clone();
        f.insert("port_fifo".into(), "17".into());
        bad.push((report.clone(), f, config));
        // an interrupt the kernel counted whose handler run is not in the trace
        let mut f = facts.clone();
        f.insert("irq_while_recording".into(), "1201".into());
        bad.push((report.clone(), f, config));
        // a hand-over to the line discipline outside every run of its work item
        let mut r = report.clone();
        r["ports"][0]["ldisc_work"]["receives_outside_runs"] = 1.into();
        bad.push((r, facts.clone(), config));
        // a slow line discipline (p99 5 ms > a 4 ms tick, low_latency off) not named
        let mut r = report.clone();
        r["ports"][0]["ldisc_work"]["delay_ns"]["p99"] = 5_000_000.into();
        bad.push((r, facts.clone(), config));
        for (i, (r, f, c)) in bad.iter().enumerate() {
            let mut all = checks(&typed(r), f, c);
            all.extend(timing_checks("flood-read", &typed(r), f));
            let failed = all.iter().filter(|c| !c.ok).count();
            assert_eq!(failed, 1, "case {i}");
        }
        let mut r = report.clone();
        r["ports"][0]["settings_changes"][0]["termios"]["lflag"] = 0x8a32.into();
        assert!(!raw_set_check("flood-read", &typed(&r), &facts).unwrap().ok);
    }

    #[test]
    fn the_wake_risk_is_expected_only_when_nothing_of_the_port_could_wake_the_cycle() {
        use super::super::checks::typed;
        use serde_json::json;
        let with_risk =
            typed(&json!({ "risks": [ { "rule": "port_cannot_wake", "port": "ttyS1" } ] }));
        let without = typed(&json!({}));
        let facts = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        // read across S3 and a freezer cycle, wakeup disabled: named
        let flood_suspend = facts(&[
            ("port_wakeup", "disabled"),
            ("rtc_cycles", "1"),
            ("pm_test_cycles", "1"),
        ]);
        assert!(wake_risk_check("f", &with_risk, &flood_suspend).unwrap().ok);
        assert!(!wake_risk_check("f", &without, &flood_suspend).unwrap().ok);
        // the port's own interrupt woke the s2idle cycle: not named
        let s2idle = facts(&[
            ("port_wakeup", "disabled"),
            ("s2idle_cycles", "1"),
            ("wake_irq", "3"),
            ("uart_irq", "3"),
        ]);
        assert!(wake_risk_check("s", &without, &s2idle).unwrap().ok);
        assert!(!wake_risk_check("s", &with_risk, &s2idle).unwrap().ok);
        // no port wakeup fact: no check
        assert!(wake_risk_check("x", &without, &facts(&[])).is_none());
    }
}
