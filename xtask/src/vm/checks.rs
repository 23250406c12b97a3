//! Checks of one guest run against ground truth: what the guest says it did (`@@ST FACT`), what
//! the workload measured itself, and what the kernel counted. Every check has a name and a
//! precise message so a failure says what broke.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::RangeInclusive;

use serde::Deserialize;
use serde_json::Value;
use serial_trace::analysis::{
    CLOCK_STOPPED_MIN_NS, Clock, Drift, DropCause, DropWindow, LostIn, LostWakeup, PortReport,
    Report, RiskRule, SleepState, SuspendCycle, TraceEnd, TraceInfo, WakeCause, WakeSourceKind,
};

/// One check result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

pub fn check(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok,
        detail: detail.into(),
    }
}

/// Every tracepoint hook of the guest's kernel attached as its raw twin (every matrix kernel
/// has BTF): a raw program the verifier refuses falls back to the classic one, or a hook to
/// nothing, and the scenarios' own checks could all still pass.
pub fn raw_hooks_check(probes: &[serial_trace::analysis::ProbeRow]) -> Check {
    // a scenario recording only some families (`--hooks`) leaves the others out on purpose
    let tracepoints: Vec<_> = probes
        .iter()
        .filter(|p| !p.name.starts_with("serial:"))
        .filter(|p| {
            !p.reason
                .as_deref()
                .unwrap_or("")
                .starts_with("not selected")
        })
        .collect();
    let not_raw: Vec<String> = tracepoints
        .iter()
        .filter(|p| !(p.attached && p.method.as_deref() == Some("raw_tracepoint")))
        .map(|p| {
            format!(
                "{} ({}, {})",
                p.name,
                p.method.as_deref().unwrap_or("-"),
                p.reason.as_deref().unwrap_or("attached")
            )
        })
        .collect();
    check(
        "every tracepoint hook attached as a raw tracepoint",
        !tracepoints.is_empty() && not_raw.is_empty(),
        if not_raw.is_empty() {
            format!("{} of {}", tracepoints.len(), tracepoints.len())
        } else {
            not_raw.join("; ")
        },
    )
}

/// `@@ST FACT <scenario> k=v …` lines, merged per scenario.
pub fn facts(console: &[String]) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in console {
        let Some(rest) = line.strip_prefix("@@ST FACT ") else {
            continue;
        };
        let mut it = rest.split_whitespace();
        let Some(sc) = it.next() else { continue };
        let m = out.entry(sc.to_string()).or_default();
        for kv in it {
            if let Some((k, v)) = kv.split_once('=') {
                m.insert(k.to_string(), v.to_string());
            }
        }
    }
    out
}

fn num(facts: &BTreeMap<String, String>, key: &str) -> Option<i64> {
    facts.get(key).and_then(|v| v.parse().ok())
}

/// A model value as its JSON shows it (`"ttyS1"`, `null`, `12`): how the checks' messages
/// quote what the report said.
fn shown<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Checks that need only the report and the guest's facts.
pub fn scenario_checks(sc: &str, report: &Report, facts: &BTreeMap<String, String>) -> Vec<Check> {
    let mut out = vec![recorded_cleanly(sc, report, facts)];
    if let Some(rc) = facts.get("workload_rc") {
        out.push(check(
            format!("{sc}: the workload exited 0"),
            rc == "0",
            format!("exit status {rc}"),
        ));
    }
    let events = &report.events;
    out.push(check(
        format!("{sc}: no lost events"),
        events.lost == 0 && events.lost_complete,
        format!("lost {:?} of {} events", Some(events.lost), events.total),
    ));
    let cycles = &report.suspend_cycles;
    out.push(cycles_performed(sc, cycles, facts));
    out.push(phases_paired(sc, cycles));
    out.push(time_suspended(sc, cycles, &Performed::of(facts)));
    out.push(probes_alive(sc, cycles));
    if !cycles.is_empty() {
        out.extend(cycle_detail_checks(sc, cycles, &Performed::of(facts)));
    }
    if num(facts, "s2idle_cycles").unwrap_or(0) > 0 {
        out.push(s2idle_check(sc, cycles, facts));
    }
    out
}

fn recorded_cleanly(sc: &str, report: &Report, facts: &BTreeMap<String, String>) -> Check {
    let end = report.trace.end;
    let stopped = report.trace.stopped_by.as_deref().unwrap_or("none");
    let rc = num(facts, "recorder_rc");
    check(
        format!("{sc}: recorded cleanly"),
        end == TraceEnd::Clean && stopped == "signal" && rc == Some(0),
        format!("trace end {end}, stopped by {stopped}, recorder exit {rc:?}"),
    )
}

/// The real cycles a scenario performed, by the kind the report must give them.
struct Performed {
    /// `echo mem` cycles woken by the RTC alarm (None: the guest did not say).
    rtc: Option<i64>,
    /// What `echo mem` is on the guest (`deep`: S3; `s2idle`), from its `mem_sleep`.
    mem_sleep: String,
    /// `echo freeze` cycles woken by a byte on the flood port.
    uart_s2idle: i64,
    pm_test: Option<i64>,
    /// The time the kernel injected into CLOCK_BOOTTIME during the scenario, read by the guest
    /// (`clock-offset` before and after; runs saved before it was logged: None).
    asleep_ns: Option<i64>,
}

impl Performed {
    fn of(facts: &BTreeMap<String, String>) -> Self {
        // runs saved before arm64 joined said `s3_cycles` and had no `mem_sleep`: x86's deep
        let rtc = num(facts, "rtc_cycles").or_else(|| num(facts, "s3_cycles"));
        Self {
            rtc,
            mem_sleep: facts.get("mem_sleep").cloned().unwrap_or("deep".into()),
            uart_s2idle: num(facts, "s2idle_cycles").unwrap_or(0),
            pm_test: num(facts, "pm_test_cycles"),
            asleep_ns: num(facts, "asleep_ns"),
        }
    }

    /// (S3, s2idle) cycles the report must show.
    fn by_kind(&self) -> (i64, i64) {
        let rtc = self.rtc.unwrap_or(-1);
        if self.mem_sleep == "s2idle" {
            (0, rtc + self.uart_s2idle)
        } else {
            (rtc, self.uart_s2idle)
        }
    }
}

/// The cycles the report found are the ones the guest performed, kind by kind.
fn cycles_performed(sc: &str, cycles: &[SuspendCycle], facts: &BTreeMap<String, String>) -> Check {
    let p = Performed::of(facts);
    let (s3, s2idle) = p.by_kind();
    let performed = p.rtc.unwrap_or(-1) + p.pm_test.unwrap_or(-1) + p.uart_s2idle;
    let of_kind = |k: &str| cycles.iter().filter(|c| cycle_kind(c) == k).count() as i64;
    let (r_s3, r_s2idle) = (of_kind("S3"), of_kind("s2idle"));
    check(
        format!("{sc}: suspend cycles reported = performed"),
        p.rtc.is_some()
            && p.pm_test.is_some()
            && cycles.len() as i64 == performed
            && r_s3 == s3
            && r_s2idle == s2idle,
        format!(
            "guest performed {:?} RTC-woken `echo mem` cycles (mem_sleep {}) + {} s2idle woken by the port + {:?} pm_test cycles: {s3} S3 + {s2idle} s2idle; report has {} cycles: {r_s3} S3, {r_s2idle} s2idle",
            p.rtc,
            p.mem_sleep,
            p.uart_s2idle,
            p.pm_test,
            cycles.len()
        ),
    )
}

/// Every phase has its end. enter_state() emits no `suspend_enter` end when the cycle stops
/// at the freezer (pm_test=freezer, or suspend_prepare failing): accepted only in a cycle
/// that never reached device suspend.
fn phases_paired(sc: &str, cycles: &[SuspendCycle]) -> Check {
    let mut quirks = 0;
    let mut unpaired: Vec<String> = Vec::new();
    for c in cycles {
        let reached_devices = c.phases.iter().any(|p| p.name.starts_with("dpm_suspend"));
        for p in c.phases.iter().filter(|p| p.end_mono_ns.is_none()) {
            if p.name == "suspend_enter" && !reached_devices {
                quirks += 1;
            } else {
                unpaired.push(format!("cycle {}: {}", c.index, shown(&p.name)));
            }
        }
    }
    let incomplete = cycles.iter().filter(|c| !c.complete).count();
    let phases: usize = cycles.iter().map(|c| c.phases.len()).sum();
    check(
        format!("{sc}: suspend phases paired"),
        unpaired.is_empty() && incomplete == 0,
        if unpaired.is_empty() && incomplete == 0 {
            let note = if quirks > 0 {
                format!(
                    " (but {quirks} suspend_enter of a freezer-level cycle, where the kernel emits no end)"
                )
            } else {
                String::new()
            };
            format!("{phases} phases, all with begin and end{note}")
        } else {
            format!(
                "{incomplete} incomplete cycles; phases without end: {}",
                unpaired.join(", ")
            )
        },
    )
}

/// How far the report's total time suspended may be from the guest's own reading: each is a
/// difference of two clocks read a few µs apart.
const ASLEEP_SLACK_NS: i64 = 1_000_000;

/// The cycles' time suspended (boottime − monotonic) against the kernel's own clocks as the
/// guest read them around the scenario: equal in sum, every S3 cycle stopped the clocks, no
/// pm_test cycle did. A second-resolution persistent clock (x86 CMOS without a nonstop
/// clocksource) makes that sleep differ from the RTC alarm's +3 s by up to a second (seen: an
/// S3 cycle of 0.97 s), so the guest's reading, not the alarm, is the truth. Runs saved before
/// the guest read it: S3 ≥ 1 s. An s2idle cycle the RTC woke lasts ≥ 1 s on the boot clock,
/// whether or not a clock stopped (one a byte on the port woke may end at the first byte).
fn time_suspended(sc: &str, cycles: &[SuspendCycle], performed: &Performed) -> Check {
    let mut bad_sleep: Vec<String> = cycles
        .iter()
        .filter_map(|c| {
            let s = c.suspended_ns;
            let kind = cycle_kind(c);
            // s2idle: timekeeping is suspended only if every CPU reached the deepest idle
            // state with a clocksource that stops, so either amount is right
            let span = c.end_boot_ns.saturating_sub(c.start_boot_ns);
            let ok = match kind {
                "S3" if performed.asleep_ns.is_some() => s >= CLOCK_STOPPED_MIN_NS,
                "S3" => s >= 1_000_000_000,
                "s2idle" => performed.uart_s2idle > 0 || span >= 1_000_000_000,
                _ => s < 500_000_000,
            };
            (!ok).then(|| {
                format!(
                    "cycle {} ({kind}): suspended {s} ns, {span} ns on the boot clock",
                    c.index
                )
            })
        })
        .collect();
    let total: i64 = cycles.iter().map(|c| c.suspended_ns as i64).sum();
    if let Some(asleep) = performed.asleep_ns {
        if (total - asleep).abs() > ASLEEP_SLACK_NS {
            bad_sleep.push(format!(
                "the cycles suspended {total} ns in all, the kernel's clocks {asleep} ns"
            ));
        }
    }
    check(
        format!("{sc}: time suspended (boottime − monotonic)"),
        bad_sleep.is_empty(),
        match (bad_sleep.is_empty(), performed.asleep_ns) {
            (false, _) => bad_sleep.join("; "),
            (true, asleep) => format!(
                "{}, pm_test cycles < 0.5 s, s2idle cycles the RTC woke ≥ 1 s on the boot clock",
                match asleep {
                    Some(a) => format!(
                        "{total} ns in all = {a} ns injected into CLOCK_BOOTTIME as the guest read it; S3 cycles stopped the clocks"
                    ),
                    None => "S3 cycles ≥ 1 s".into(),
                }
            ),
        },
    )
}

fn probes_alive(sc: &str, cycles: &[SuspendCycle]) -> Check {
    let silent: Vec<String> = cycles
        .iter()
        .filter(|c| !c.liveness.silent_after_resume.is_empty())
        .map(|c| {
            format!(
                "cycle {}: {} silent for {} ns",
                c.index,
                shown(&c.liveness.silent_after_resume),
                c.liveness.after_resume_window_ns
            )
        })
        .collect();
    check(
        format!("{sc}: every probe fires after each resume"),
        silent.is_empty(),
        if silent.is_empty() {
            "no probe went silent".into()
        } else {
            silent.join("; ")
        },
    )
}

/// Every s2idle cycle: each platform entry exited, the byte that woke it is among the bytes
/// the report counts on the port while asleep or resuming, and the last exit was caused by the byte
/// the harness sent into the flood port, which the kernel confirms (`/sys/power/pm_wakeup_irq`, read by
/// the guest after resume, is the UART's IRQ).
fn s2idle_check(sc: &str, cycles: &[SuspendCycle], facts: &BTreeMap<String, String>) -> Check {
    let (wake_irq, uart_irq) = (num(facts, "wake_irq"), num(facts, "uart_irq"));
    let port = flood_port(facts);
    let mut bad = Vec::new();
    let mut shown = Vec::new();
    for c in cycles.iter().filter(|c| cycle_kind(c) == "s2idle") {
        let i = c.index;
        let wakes = &c.platform_wakes;
        let entries = u64::from(c.platform_entries);
        let all_exited = wakes.iter().all(|w| w.exited_boot_ns.is_some());
        let last = wakes.last().map(|w| w.evidence.as_deref());
        let source = c.wake_source.as_ref().map_or("none", |w| w.detail.as_str());
        // the UART's wakeup source, or (when its activation was not traced in the cycle, as
        // seen on 5.10 with a slow guest) the kernel's own wake IRQ, which must be the UART's
        let the_uart_irq = uart_irq.is_some_and(|irq| {
            c.wake_source
                .as_ref()
                .is_some_and(|w| w.kind == WakeSourceKind::Irq)
                && source.starts_with(&format!("irq {irq} "))
        });
        let by_port = match last {
            Some(Some(e)) => e.contains(port),
            Some(None) => the_uart_irq,
            None => false,
        };
        // the byte that woke it arrived in the cycle: its interrupt's handler runs asleep, or
        // deferred until the devices resume
        let woke_with = c
            .serial
            .iter()
            .find(|s| s.port == port)
            .map_or(0, |s| s.received_asleep + s.received_resuming);
        if entries == 0 || wakes.len() as u64 != entries || !all_exited || !by_port {
            bad.push(format!(
                "cycle {i}: {entries} entries, {} exits recorded, last evidence {last:?}, wake source {source}",
                wakes.len()
            ));
        } else if !source.contains(port) && !the_uart_irq {
            bad.push(format!("cycle {i}: wake source {source}"));
        } else if woke_with == 0 {
            bad.push(format!(
                "cycle {i}: no byte on {port} while asleep or resuming: {}",
                serde_json::to_string(&c.serial).unwrap_or_default()
            ));
        } else {
            shown.push(format!(
                "cycle {i}: entered {entries}×, woken by {source}, {woke_with} bytes on {port} while asleep or resuming"
            ));
        }
    }
    let kernel_agrees = wake_irq.is_some() && wake_irq == uart_irq;
    check(
        format!("{sc}: s2idle cycles: entries, exits and the UART wake"),
        bad.is_empty() && !shown.is_empty() && kernel_agrees,
        format!(
            "{}; kernel pm_wakeup_irq {wake_irq:?}, {port} irq {uart_irq:?}",
            if bad.is_empty() {
                shown.join("; ")
            } else {
                bad.join("; ")
            }
        ),
    )
}

/// The report's kind of a cycle: `S3`, `s2idle`, `standby` or `pm_test` (the platform not
/// entered), from `machine_suspend` and the state `suspend_enter` asked for.
fn cycle_kind(c: &SuspendCycle) -> &'static str {
    if !c.machine_suspend {
        return "pm_test";
    }
    match c.state {
        Some(SleepState::S2idle) => "s2idle",
        Some(SleepState::Standby) => "standby",
        _ => "S3",
    }
}

/// Resume time, device callbacks and wake source of every cycle. The harness wakes its
/// `echo mem` cycles (S3 on x86, s2idle on arm64) with the RTC (`rtc0/wakealarm`), so that
/// must be the wake source the report names; a scenario whose s2idle cycles a byte on the port
/// woke is checked by [`s2idle_check`].
fn cycle_detail_checks(sc: &str, cycles: &[SuspendCycle], performed: &Performed) -> Vec<Check> {
    let rtc_woken = |c: &SuspendCycle| c.machine_suspend && performed.uart_s2idle == 0;
    let mut bad_resume = Vec::new();
    let mut bad_devices = Vec::new();
    let mut bad_wake = Vec::new();
    let mut shown_ok = Vec::new();
    for c in cycles {
        let i = c.index;
        let s3 = rtc_woken(c);
        let span = c.end_mono_ns - c.start_mono_ns;
        match c.resume_ns {
            Some(r) if r > 0 && r <= span => {
                shown_ok.push(format!("#{i} resume {} ms", r / 1_000_000))
            }
            other => bad_resume.push(format!("cycle {i}: resume {other:?} of a {span} ns cycle")),
        }
        let durations: Vec<u64> = c.slowest_devices.iter().map(|d| d.duration_ns).collect();
        let sorted = durations.windows(2).all(|w| w[0] >= w[1]);
        if s3 && (c.device_callbacks == 0 || !sorted || durations.len() > 10) {
            bad_devices.push(format!(
                "cycle {i}: {} callbacks, slowest {durations:?}",
                c.device_callbacks
            ));
        }
        if s3 {
            match &c.wake_source {
                Some(w) if w.kind == WakeSourceKind::RtcAlarm => {
                    shown_ok.push(format!("#{i} woken by {}", shown(&w.detail)))
                }
                other => bad_wake.push(format!(
                    "cycle {i}: {}",
                    other.as_ref().map_or("none", |w| w.kind.as_str())
                )),
            }
        }
    }
    let slowest = |c: &SuspendCycle| match c.slowest_devices.first() {
        Some(d) => format!(
            "{} callbacks, slowest {} ({}) {} {} ns",
            c.device_callbacks,
            shown(&d.device),
            shown(&d.driver),
            shown(&d.event),
            d.duration_ns
        ),
        None => format!(
            "{} callbacks, slowest null (null) null null ns",
            c.device_callbacks
        ),
    };
    vec![
        check(
            format!("{sc}: resume time of every cycle"),
            bad_resume.is_empty(),
            if bad_resume.is_empty() {
                shown_ok.join("; ")
            } else {
                bad_resume.join("; ")
            },
        ),
        check(
            format!("{sc}: device callbacks of the real cycles, slowest first"),
            bad_devices.is_empty(),
            if bad_devices.is_empty() {
                cycles
                    .iter()
                    .find(|c| rtc_woken(c))
                    .map(slowest)
                    .unwrap_or_else(|| "no real cycle".into())
            } else {
                bad_devices.join("; ")
            },
        ),
        check(
            format!("{sc}: real cycles woken by the RTC alarm the harness set"),
            bad_wake.is_empty(),
            if bad_wake.is_empty() {
                "every real cycle: rtc_alarm".to_string()
            } else {
                bad_wake.join("; ")
            },
        ),
    ]
}

/// The port the scenario flooded, as the guest named it (`ttyS1`, `ttyAMA1`; runs saved
/// before arm64 joined name none: theirs was ttyS1).
fn flood_port(facts: &BTreeMap<String, String>) -> &str {
    facts.get("port").map_or("ttyS1", String::as_str)
}

/// The flooded port's row of the report.
fn flood_row<'r>(report: &'r Report, facts: &BTreeMap<String, String>) -> Option<&'r PortReport> {
    let name = flood_port(facts);
    report.ports.iter().find(|p| p.name == name)
}

/// A recording killed with SIGKILL seconds after a flood's drops stopped (`flood-kill`): the
/// trace is readable without a trailer, and its drops on ttyS1 equal what the kernel counted
/// (the guest's `/proc/tty/driver/serial` delta over the flood): every drop older than the
/// last checkpoint survives the kill. No trailer means no end counters, so the guest's delta
/// is the only ground truth.
pub fn killed_checks(
    sc: &str,
    report: &Report,
    facts: &BTreeMap<String, String>,
    method: &str,
) -> Vec<Check> {
    let killed = num(facts, "killed_rc");
    let stopped = &report.trace.stopped_by;
    let dropped = flood_row(report, facts).map(|p| p.bytes_dropped as i64);
    let bo = num(facts, "bo");
    let name = flood_port(facts);
    vec![
        check(
            format!("{sc}: killed recorder left a readable trace"),
            killed == Some(137) && stopped.is_none(),
            format!(
                "recorder exit {killed:?} (137 = SIGKILL); trace end {}, stopped by {}",
                shown(&report.trace.end),
                shown(stopped)
            ),
        ),
        check(
            format!(
                "{sc}: {name} bytes dropped = kernel buf_overrun after the kill{}",
                kprobe_note(method)
            ),
            bo.is_some_and(|b| b > 0)
                && dropped.zip(bo).is_some_and(|(d, b)| {
                    d == b || method == "kprobe" && d < b && b - d <= drop_hook_skips(report)
                }),
            format!(
                "trace {dropped:?}, guest's /proc delta {bo:?} (sent {:?}, received {:?}); drop-hook calls the kernel skipped: {}",
                num(facts, "sent"),
                num(facts, "rx"),
                drop_hook_skips(report)
            ),
        ),
        check(
            format!("{sc}: no lost events up to the kill"),
            report.events.lost == 0,
            format!(
                "lost {} of {} events",
                report.events.lost, report.events.total
            ),
        ),
    ]
}

/// Serial ground truth of a flood scenario (facts `sent`, `bo`, `oe`, and for a scenario whose
/// reader reads everything `read` and `reader_pid`) against the report's `ports`, `drops` and
/// `readers` for ttyS1, whose hooks must have used `method` (`fexit`, `kprobe`, …).
pub fn serial_checks(
    sc: &str,
    report: &Report,
    facts: &BTreeMap<String, String>,
    method: &str,
) -> Vec<Check> {
    let Some(sent) = num(facts, "sent") else {
        return Vec::new();
    };
    let name = flood_port(facts);
    let port = match flooded_port(sc, report, facts) {
        Ok(p) => p,
        Err(missing) => return vec![missing],
    };
    let dropped = port.bytes_dropped as i64;
    let mut out = vec![
        hooked_by(sc, port, method),
        drops_equal_kernel(sc, report, port, facts, method),
    ];
    let windows: i64 = flood_drops(report, name)
        .filter(|w| w.lost_in != LostIn::UartFifo)
        .map(|w| w.bytes as i64)
        .sum();
    out.push(check(
        format!("{sc}: {name} drop windows add up"),
        windows == dropped,
        format!("drop windows hold {windows} bytes, port total {dropped}"),
    ));
    out.push(drops_attributed(sc, report, dropped, facts));
    out.push(own_memory_bounded(sc, &report.trace));
    if num(facts, "soak").is_some() {
        out.push(memory_bounded(sc, &report.trace));
    }
    let oe = num(facts, "oe").unwrap_or(-1);
    out.push(check(
        format!("{sc}: {name} hardware overruns = kernel overrun"),
        port.hw_overruns as i64 == oe,
        format!("trace {}, guest's /proc delta {oe}", port.hw_overruns),
    ));
    if let Some(read) = num(facts, "read") {
        out.extend(reader_checks(sc, report, port, (sent, read), facts, method));
    }
    out
}

/// A USB-serial adapter (`usb-serial`: QEMU's FTDI, the kernel's `ftdi_sio`) held open and
/// unread while the host floods it, then drained by a reader. USB has flow control all the way
/// back to the sender: the line discipline throttles the port, usb-serial stops asking the
/// adapter for data, QEMU stops taking bytes from the host. So the truth is: every byte sent was
/// read and counted by the kernel (`TIOCGICOUNT`, read in the guest by `tty-icount`), the report
/// invents no loss, shows every byte reaching the line discipline, and shows the throttling the
/// unread hold caused (the kernel took only part of the flood during it).
pub fn usb_serial_checks(
    sc: &str,
    report: &Report,
    facts: &BTreeMap<String, String>,
    method: &str,
) -> Vec<Check> {
    let name = flood_port(facts);
    if facts.get("usb").map(String::as_str) != Some("up") {
        return vec![check(
            format!("{sc}: USB-serial port came up"),
            false,
            format!("guest said usb={:?}", facts.get("usb")),
        )];
    }
    let port = match flooded_port(sc, report, facts) {
        Ok(p) => p,
        Err(missing) => return vec![missing],
    };
    let [sent, read, rx, bo, held] =
        ["sent", "read", "rx", "bo", "held"].map(|k| num(facts, k).unwrap_or(-1));
    let received = port.bytes_received as i64;
    let skipped: i64 = report
        .events
        .recursion_misses
        .iter()
        .filter(|(k, _)| k.starts_with("receive_buf_"))
        .map(|(_, &v)| v as i64)
        .sum();
    let received_ok = if method == "kprobe" {
        received <= read && read - received <= skipped
    } else {
        received == read
    };
    let windows = flood_drops(report, name).count();
    let counters = &port.kernel_counters;
    let stored_rx = counters.delta.as_ref().map_or(-1, |d| d.rx as i64);
    let pid = num(facts, "reader_pid").unwrap_or(-1);
    let reader = report
        .readers
        .iter()
        .find(|r| r.port == name && i64::from(r.pid) == pid);
    vec![
        hooked_by(sc, port, method),
        check(
            format!("{sc}: nothing lost: read = sent = kernel rx, kernel buf_overrun 0"),
            read == sent && rx == sent && bo == 0 && sent > 0,
            format!("host sent {sent}, reader read {read}, TIOCGICOUNT rx {rx}, buf_overrun {bo}"),
        ),
        check(
            format!("{sc}: no loss invented: 0 dropped, no drop window, no disagreement"),
            port.bytes_dropped == 0
                && port.hw_overruns == 0
                && windows == 0
                && port.disagreements.is_empty(),
            format!(
                "dropped {}, hardware overruns {}, {windows} drop windows, disagreements {:?}",
                port.bytes_dropped, port.hw_overruns, port.disagreements
            ),
        ),
        check(
            format!(
                "{sc}: {name} bytes to the line discipline = read{}",
                if method == "kprobe" {
                    " (kprobes: every missing byte a counted skipped call)"
                } else {
                    ""
                }
            ),
            received_ok,
            format!(
                "trace {received}, reader read {read}; receive-hook calls the kernel skipped: {skipped}"
            ),
        ),
        check(
            format!("{sc}: the unread hold throttled {name} and the reader released it"),
            held >= 0
                && held < sent
                && port.throttles >= 1
                && port.throttled_ns_max >= 1_000_000_000,
            format!(
                "the kernel took {held} of {sent} bytes during the 5 s hold; the report: {} throttles, longest {} ns, {} ns in total",
                port.throttles, port.throttled_ns_max, port.throttled_ns_total
            ),
        ),
        check(
            format!("{sc}: {name} counters stored by TIOCGICOUNT agree with the guest's"),
            counters.source.as_deref() == Some("ioctl") && stored_rx == rx,
            format!(
                "source {:?}, rx delta in the trace {stored_rx}, the guest's {rx}",
                counters.source
            ),
        ),
        check(
            format!("{sc}: the reading task is reported"),
            reader.is_some_and(|r| r.bytes as i64 == read),
            match reader {
                Some(r) => format!(
                    "pid {pid} ({}): {} reads, {} bytes",
                    shown(&r.comm),
                    r.reads,
                    r.bytes
                ),
                None => format!(
                    "no reader pid {pid} of {name} in {} readers",
                    report.readers.len()
                ),
            },
        ),
    ]
}

/// The flooded port's row, or the failed check that says the report has none.
fn flooded_port<'r>(
    sc: &str,
    report: &'r Report,
    facts: &BTreeMap<String, String>,
) -> Result<&'r PortReport, Check> {
    flood_row(report, facts).ok_or_else(|| {
        let names: Vec<&str> = report.ports.iter().map(|p| p.name.as_str()).collect();
        check(
            format!("{sc}: {} in the report", flood_port(facts)),
            false,
            format!("ports reported: {names:?}"),
        )
    })
}

/// The port's serial hooks used `method` (per event, not the counter-polling fallback).
fn hooked_by(sc: &str, port: &PortReport, method: &str) -> Check {
    let used = port.method.as_deref().unwrap_or("none");
    check(
        format!("{sc}: {} hooked by {method}", port.name),
        used.starts_with(method) && !port.coarse,
        format!("drop hook method {used}, coarse {}", port.coarse),
    )
}

/// The report's drop windows of the flooded port.
fn flood_drops<'r>(report: &'r Report, port: &'r str) -> impl Iterator<Item = &'r DropWindow> {
    report.drops.iter().filter(move |w| w.port == port)
}

/// ttyS1's dropped bytes equal the kernel's `buf_overrun` delta. A kprobe does not run inside
/// another kprobe handler (a UART interrupt arriving while a task-context serial hook runs) nor
/// while another BPF program runs on the CPU: the drop hook skips those calls. The recorder
/// counts each (witness kprobe events, its own call counters) and the report carries the count
/// per program, so there the check is that every byte missing from the trace is covered by a
/// counted skip (each call inserts ≤ 1 byte on the 8250's per-character path); fentry has no
/// such gap and must be exact.
pub(super) fn drops_equal_kernel(
    sc: &str,
    report: &Report,
    port: &PortReport,
    facts: &BTreeMap<String, String>,
    method: &str,
) -> Check {
    let dropped = port.bytes_dropped as i64;
    let kernel_bo = port
        .kernel_counters
        .delta
        .as_ref()
        .map_or(-1, |d| d.buf_overrun as i64);
    let bo = num(facts, "bo").unwrap_or(-2);
    let skipped = drop_hook_skips(report);
    let exact = method != "kprobe";
    let named = port.disagreements.iter().any(|m| m.contains("skip"));
    let ok = kernel_bo == bo
        && bo > 0
        && if exact {
            dropped == bo
        } else {
            dropped <= bo && bo - dropped <= skipped && (dropped == bo || named)
        };
    check(
        format!(
            "{sc}: {} bytes dropped = kernel buf_overrun{}",
            port.name,
            kprobe_note(method)
        ),
        ok,
        format!(
            "trace {dropped}, guest's /proc delta {bo}, counters stored in the trace {kernel_bo}; drop-hook calls the kernel skipped: {skipped}"
        ),
    )
}

/// Calls of the drop hook's kprobes the kernel skipped (it counts them per program): each
/// could have inserted a byte the trace does not show (see [`drops_equal_kernel`]).
pub(super) fn drop_hook_skips(report: &Report) -> i64 {
    report
        .events
        .recursion_misses
        .iter()
        .filter(|(k, _)| k.starts_with("flip_") && k.ends_with("probe"))
        .map(|(_, &v)| v as i64)
        .sum()
}

/// How a byte-count check's name says kprobes are held to it.
fn kprobe_note(method: &str) -> &'static str {
    if method == "kprobe" {
        " (kprobes: every missing byte a counted skipped call, named in the report)"
    } else {
        ""
    }
}

/// Why: with a reader, every byte was lost while the freezer held it; without, because nobody
/// read the port. The report must say so for every dropped byte, naming the reader.
fn drops_attributed(
    sc: &str,
    report: &Report,
    dropped: i64,
    facts: &BTreeMap<String, String>,
) -> Check {
    let (want, who) = match num(facts, "reader_pid") {
        Some(p) => (DropCause::ReaderFrozen, format!("reader pid {p} ")),
        None => (
            DropCause::NoReader,
            format!("no task read {}", flood_port(facts)),
        ),
    };
    let name = flood_port(facts);
    let attributed: i64 = flood_drops(report, name)
        .filter(|w| w.cause == Some(want) && w.chain.as_deref().is_some_and(|c| c.contains(&who)))
        .map(|w| w.bytes as i64)
        .sum();
    let first_chain = flood_drops(report, name)
        .next()
        .map_or("-", |w| w.chain.as_deref().unwrap_or("-"));
    check(
        format!("{sc}: {name} drops attributed ({want})"),
        dropped > 0 && attributed == dropped,
        format!("{attributed} of {dropped} dropped bytes attributed; first: {first_chain}"),
    )
}

/// Through a flood (and its suspend cycles) the recorder's own memory, the ring's mapping
/// apart (`recorder_memory`, from `/proc/self/smaps`), grows by at most 8 MiB from what it
/// held once attached: it grew 0.2–4.2 MiB in the default matrix of 2026-12-05 (what it keeps
/// while recording is names of the callbacks and tasks seen, drop runs and one write-behind
/// batch), so twice the most seen is a leak or a table that stays behind, not noise.
fn own_memory_bounded(sc: &str, t: &TraceInfo) -> Check {
    const SLACK_KB: u64 = 8 * 1024;
    check(
        format!(
            "{sc}: recorder's own memory bounded (most while recording ≤ once attached + 8 MiB)"
        ),
        t.recorder_memory
            .is_some_and(|m| m.own_max_kb <= m.own_start_kb + SLACK_KB),
        t.recorder_memory.map_or_else(
            || "the trailer has no recorder_memory (/proc/self/smaps unreadable?)".to_string(),
            own_memory,
        ),
    )
}

/// The trailer's memory figures, as both memory checks show them.
fn own_memory(m: serial_trace::trace::RecorderMemory) -> String {
    format!(
        "besides the ring: {} KiB once attached, at most {} while recording, {} at the end; set-up's peak {} KiB; the ring {} KiB",
        m.own_start_kb, m.own_max_kb, m.own_end_kb, m.setup_peak_kb, m.ring_kb
    )
}

/// After 20 cycles and millions of bytes the recorder may hold more than once attached only by
/// the ring buffer pages it has read: 32 MiB in the VM runs, mapped twice by the kernel for
/// wrap-around; 16 MiB of slack for the allocator.
fn memory_bounded(sc: &str, t: &TraceInfo) -> Check {
    let (start, end) = (t.recorder_rss_start_kb, t.recorder_rss_end_kb);
    check(
        format!("{sc}: recorder memory bounded (end ≤ start + 2 × ring buffer + 16 MiB)"),
        matches!((start, end), (Some(s), Some(e)) if e <= s + (2 * 32 + 16) * 1024),
        format!(
            "resident once attached {start:?} KiB, at the end {end:?} KiB, peak {} KiB{}",
            shown(&t.recorder_max_rss_kb),
            t.recorder_memory
                .map_or(String::new(), |m| format!("; {}", own_memory(m)))
        ),
    )
}

/// A reader that read everything: what it read and what was dropped add up to what was sent,
/// and the report names that reader with its lag.
/// (Drops a kprobe missed, each a counted skipped call, are what `sent` holds beyond the two.)
fn reader_checks(
    sc: &str,
    report: &Report,
    port: &PortReport,
    (sent, read): (i64, i64),
    facts: &BTreeMap<String, String>,
    method: &str,
) -> Vec<Check> {
    let (received, dropped) = (port.bytes_received as i64, port.bytes_dropped as i64);
    let unseen = sent - received - dropped;
    let bo = num(facts, "bo").unwrap_or(-1);
    let adds_up = unseen == 0
        || method == "kprobe"
            && unseen > 0
            && unseen == bo - dropped
            && unseen <= drop_hook_skips(report);
    let pid = num(facts, "reader_pid").unwrap_or(-1);
    let reader = report
        .readers
        .iter()
        .find(|r| r.port == port.name && i64::from(r.pid) == pid);
    vec![
        check(
            format!(
                "{sc}: {} received + dropped = sent{}",
                port.name,
                kprobe_note(method)
            ),
            adds_up && received == read,
            format!(
                "received {received} + dropped {dropped} = {} of {sent} sent; the reader read {read}; the kernel dropped {bo}; drop-hook calls the kernel skipped: {}",
                received + dropped,
                drop_hook_skips(report)
            ),
        ),
        check(
            format!("{sc}: reader lag reported for the reading task"),
            reader.is_some_and(|r| r.bytes as i64 == read && r.lag_ns_max > 0),
            match reader {
                Some(r) => format!(
                    "pid {pid} ({}): {} reads, {} bytes, blocked max {} ns, lag max {} ns",
                    shown(&r.comm),
                    r.reads,
                    r.bytes,
                    r.blocked_ns_max,
                    r.lag_ns_max
                ),
                None => format!(
                    "no reader pid {pid} of {} in {} readers",
                    port.name,
                    report.readers.len()
                ),
            },
        ),
    ]
}

/// One wakeup as logged by timer-workload.
#[derive(Clone, Deserialize)]
pub struct Wakeup {
    pub tid: u32,
    pub clock: String,
    pub api: String,
    pub deadline_ns: i64,
    pub woke_mono_ns: i64,
    pub woke_boot_ns: i64,
    pub late_ns: i64,
    /// Boottime − monotonic when the sleep was asked, where the program logs it.
    #[serde(default)]
    pub asked_boot_minus_mono_ns: Option<i64>,
    /// The relative sleep asked, logged by programs whose runtime or kernel computes the
    /// kernel's deadline from its own later clock read (asyncio; `epoll_wait`'s timeout in
    /// timer-workload; see [`deadline_window`]).
    #[serde(default)]
    pub asked_ns: Option<i64>,
    /// The sleep asked at the clock read that computed the deadline, where the program logs
    /// it (timer-workload): the tool lists a wakeup only when later than the sleep itself.
    #[serde(default)]
    pub sleep_ns: Option<i64>,
}

/// Picks a wakeup's own clock out of an instant's (mono, boot).
type OnClock = fn((i64, i64)) -> i64;

/// Per task, when the trace shows it held off the CPU while running: an event in its context
/// that it did not cause (an interrupt's timer expiry or wakeup), a switch-out while
/// runnable (preempted), or a switch-out to sleep after it armed a timer of its own since its
/// switch-in (it ran on and waited again before its own clock read: a language runtime's lock,
/// CPython's GIL, is a timed wait; seen 18 ms under TCG), or a switch-in after such an arm
/// (the recorder keeps the switch-out to sleep only of tasks with a wakeup pending: seen on
/// 5.10, a GIL wait's switch-in 20 ms after the heartbeat's own). (mono, boot) of each, in
/// trace order.
/// Also the trace's boottime − monotonic offset over time, for programs that log only one
/// clock (see [`HeldOff::boot_at`]), each task's switch-ins, its timed waits and the
/// freezer's holds.
#[derive(Default)]
pub struct HeldOff {
    by_tid: HashMap<u32, Vec<(i64, i64)>>,
    /// Per task, each timed wait: from its arm of a sleeper timer (callback `hrtimer_wakeup`:
    /// a futex, poll or nanosleep timeout) to that timer's cancel or expiry, (mono, boot) of
    /// each. The recorder keeps no switch-out of a task without a wakeup pending, so a wait
    /// that a signal ends before its timeout (CPython's GIL: a condition variable's 5 ms
    /// timed wait) shows only as that arm and its cancel.
    waits: HashMap<u32, Vec<[(i64, i64); 2]>>,
    /// (mono, boot − mono) where the offset changed by more than 1 ms, in trace order.
    offsets: Vec<(i64, i64)>,
    /// (mono, boot) of each switch-in the trace holds, per task.
    switch_ins: HashMap<u32, Vec<(i64, i64)>>,
    /// (mono, boot) of every hrtimer callback's end (`hrtimer_expire_exit`): the moment a task
    /// woken by that callback and switched in on another CPU meanwhile can go on (the tool's
    /// wakeup then; see `callback_still_running` in the report's timer analysis).
    callback_ends: Vec<(i64, i64)>,
    /// Each task's arms of a sleep of its own (callback `hrtimer_wakeup`; every arm where the
    /// trace names no such symbol), and the monotonic times of every event in its context (it
    /// was on a CPU then), in trace order. Kernel timers re-armed in its context (the nohz
    /// tick, `tick_sched_timer`) are no sleep of the task's: seen on arm64 6.12, asyncio's main
    /// thread busy 26 ms with the tick re-armed in its context, its deadline passed, no sleep.
    arms: HashMap<u32, Vec<Arm>>,
    on_cpu: HashMap<u32, Vec<i64>>,
    /// When user tasks could not run, as the kernel's events bound it: `freeze_processes`
    /// begin to `thaw_processes` end, (mono, boot) of each (a freeze without an end runs to
    /// the trace's end).
    freezes: Vec<[(i64, i64); 2]>,
    /// The most any event's boot − monotonic offset exceeds a later event's, and the
    /// monotonic time of the event that read it (see [`clock_pair_check`]).
    pub offset_fall: (i64, i64),
}

/// A task's arm of a sleep of its own.
#[derive(Clone, Copy, Debug)]
struct Arm {
    /// Monotonic time of the arm.
    at: i64,
    /// The timer's deadline, where its clock is CLOCK_MONOTONIC (`softexpires`; else unknown).
    due_mono: Option<i64>,
}

impl Arm {
    #[cfg(test)]
    fn at(at: i64) -> Self {
        Self { at, due_mono: None }
    }
}

/// How far boot − monotonic may seem to fall between two events: the kernel's offset only
/// grows (by the time suspended), but each event reads its two clocks one after the other, so
/// its offset is high by the time between them: re-read when more than 10 µs
/// (`CLOCK_PAIR_GAP_NS` in the eBPF crate; twice at most, the tightest pair kept). Under TCG
/// all three pairs are sometimes slow: 10–15 µs high in about one event of 4,000, 36 µs once
/// in 60,000 (arm64 6.12, 2026-12-06). Before the re-read, single pairs were 53–411 µs high
/// (most above 100 µs), which this check is for.
const CLOCK_PAIR_SLACK_NS: i64 = 100_000;

/// Every event's two clocks were read at one moment: no event's boot − monotonic offset
/// exceeds a later one's by more than [`CLOCK_PAIR_SLACK_NS`] (seen before the eBPF re-read a
/// slow pair, arm64 6.12 s2idle under TCG: the first event after a long idle 53–411 µs off,
/// and timers spanning a cycle that stopped no clock seemed to have slept 327 µs).
pub fn clock_pair_check(scenario: &str, held_off: &HeldOff) -> Check {
    let (fall, at) = held_off.offset_fall;
    check(
        format!("{scenario}: each event's two clocks read at one moment"),
        fall <= CLOCK_PAIR_SLACK_NS,
        format!(
            "boot − monotonic fell by at most {fall} ns from an event to a later one (allowed {CLOCK_PAIR_SLACK_NS}){}",
            if fall > CLOCK_PAIR_SLACK_NS {
                format!("; the event at monotonic {at} ns read them apart")
            } else {
                String::new()
            }
        ),
    )
}

/// Every wakeup an expiry gave a task was placed: `timers.unplaced_wakeups` (a wakeup replaced
/// by the task's next one, the trace never showing it running in between) is 0, or covered by
/// skipped events the kernel counted (their events lost). Before the freezer's own-context
/// expiries were taken as switch-ins, one such wakeup vanished on arm64 6.12 under a loaded
/// host, and the workload's log was the only sign.
pub fn placed_check(scenario: &str, unplaced: u64, misses: u64, counted: bool) -> Check {
    check(
        format!("{scenario}: every expiry's wakeup placed"),
        unplaced == 0 || counted && unplaced <= misses,
        format!(
            "{unplaced} wakeups the report could not place (the trace never shows the task running before its next wakeup); the kernel counted {misses} skipped events of the programs they need{}",
            if counted {
                ""
            } else {
                " (this kernel does not count them)"
            }
        ),
    )
}

/// A line of `dump --jsonl` that is an event, not one of the lines about the trace itself.
fn is_event(v: &Value) -> bool {
    !matches!(
        v["kind"].as_str(),
        Some("symbol" | "loss" | "end" | "damage" | "cut" | "corrupt" | "skipped_frame")
    )
}

impl HeldOff {
    /// From `serial-trace dump --jsonl --symbols`.
    pub fn from_dump(jsonl: &str) -> Self {
        let mut held = Self::default();
        let parse = |l: &str| serde_json::from_str::<Value>(l).ok();
        // the recorder names a callback after the first events that carry its address: read
        // the names first (a cheap look for the word, then only those lines parsed), so the
        // events stream through once without being held
        let sleepers: HashSet<u64> = jsonl
            .lines()
            .filter(|l| l.contains("hrtimer_wakeup"))
            .filter_map(parse)
            .filter(|v| v["kind"] == "symbol" && v["name"] == "hrtimer_wakeup")
            .filter_map(|v| v["addr"].as_u64())
            .collect();
        // tasks that armed a timer since their last switch-in, and when
        let mut armed: HashMap<u32, (i64, i64)> = HashMap::new();
        // sleeper timers armed and not yet cancelled or expired: their task and arm
        let mut waiting: HashMap<u64, (u32, (i64, i64))> = HashMap::new();
        let mut pairs = Vec::new();
        for v in jsonl.lines().filter_map(parse).filter(is_event) {
            let at = (
                v["mono_ns"].as_i64().unwrap_or(0),
                v["boot_ns"].as_i64().unwrap_or(0),
            );
            let (mono, boot) = at;
            pairs.push(at);
            if held
                .offsets
                .last()
                .is_none_or(|&(_, o)| (boot - mono - o).abs() > 1_000_000)
            {
                held.offsets.push((mono, boot - mono));
            }
            let tid = v["tid"].as_u64().unwrap_or(0) as u32;
            if tid != 0 {
                held.on_cpu.entry(tid).or_default().push(mono);
            }
            let held_now = match v["kind"].as_str().unwrap_or("") {
                "sched_switch" => {
                    let next = v["next_pid"].as_u64().unwrap_or(0) as u32;
                    if next != 0 {
                        held.switch_ins.entry(next).or_default().push(at);
                        // switched in again after an arm: it slept after arming (its
                        // switch-out unrecorded); the arm is the evidence, so that the arm of
                        // the sleep a wakeup ends falls before that wakeup's switch-in
                        if let Some(armed_at) = armed.remove(&next) {
                            held.by_tid.entry(next).or_default().push(armed_at);
                        }
                    }
                    // runnable: 0, or TASK_REPORT_MAX (0x100) where the kernel reports
                    // preemption; or asleep (1) after arming a timer of its own
                    match v["prev_state"].as_u64() {
                        Some(0 | 0x100) => true,
                        Some(1) => armed.remove(&tid).is_some(),
                        _ => false,
                    }
                }
                "hrtimer_start" => {
                    armed.insert(tid, at);
                    let sleeper = v["function"]
                        .as_u64()
                        .is_some_and(|f| sleepers.contains(&f));
                    if sleeper || sleepers.is_empty() {
                        let due_mono = (v["clockid"].as_i64() == Some(1))
                            .then(|| v["softexpires"].as_i64())
                            .flatten();
                        held.arms
                            .entry(tid)
                            .or_default()
                            .push(Arm { at: mono, due_mono });
                    }
                    if let Some(timer) = v["hrtimer"].as_u64() {
                        if tid != 0 && sleeper {
                            waiting.insert(timer, (tid, at));
                        } else {
                            waiting.remove(&timer);
                        }
                    }
                    false
                }
                "hrtimer_cancel" => {
                    held.end_wait(&mut waiting, &v, at);
                    false
                }
                "hrtimer_expire_entry" => {
                    held.end_wait(&mut waiting, &v, at);
                    true
                }
                "hrtimer_expire_exit" => {
                    held.callback_ends.push(at);
                    false
                }
                "sched_waking" => true,
                "suspend_resume" => {
                    const OPEN: (i64, i64) = (i64::MAX, i64::MAX);
                    match (v["action"].as_str(), v["start"].as_u64()) {
                        (Some("freeze_processes"), Some(1)) => held.freezes.push([at, OPEN]),
                        (Some("thaw_processes"), Some(0)) => {
                            if let Some(f) = held.freezes.last_mut().filter(|f| f[1] == OPEN) {
                                f[1] = at;
                            }
                        }
                        _ => {}
                    }
                    false
                }
                _ => false,
            };
            if held_now && tid != 0 {
                held.by_tid.entry(tid).or_default().push(at);
            }
        }
        // in time order (the ring's may differ by a few µs across CPUs), the highest offset
        // so far against each event's
        pairs.sort_unstable();
        let mut highest = (i64::MIN, 0);
        for (mono, boot) in pairs {
            let offset = boot - mono;
            if offset > highest.0 {
                highest = (offset, mono);
            }
            if highest.0 - offset > held.offset_fall.0 {
                held.offset_fall = (highest.0 - offset, highest.1);
            }
        }
        held
    }

    /// A sleeper timer's cancel or expiry `v` at `at` ends its task's timed wait.
    fn end_wait(
        &mut self,
        waiting: &mut HashMap<u64, (u32, (i64, i64))>,
        v: &Value,
        at: (i64, i64),
    ) {
        if let Some((tid, armed)) = v["hrtimer"].as_u64().and_then(|t| waiting.remove(&t)) {
            self.waits.entry(tid).or_default().push([armed, at]);
        }
    }

    /// How long the trace shows `w`'s task blocked in timed waits it began after the moment
    /// the tool says it got the CPU (`tool_late` after its deadline) and before its own clock
    /// read: time the program spent waiting (for a lock, its runtime's GIL), not its timer.
    /// Only waits armed inside that window count: the arm proves the task ran after the
    /// switch-in, so a tool that named too early a switch-in gains nothing from the sleep it
    /// was still in.
    fn blocked(&self, w: &Wakeup, tool_late: i64) -> i64 {
        let (from, to, on) = Self::window(w, tool_late);
        self.waits.get(&w.tid).map_or(0, |waits| {
            waits
                .iter()
                .filter(|x| (from..=to).contains(&on(x[0])))
                .map(|x| on(x[1]).min(to) - on(x[0]))
                .sum()
        })
    }

    /// CLOCK_BOOTTIME at the monotonic instant `mono`, as the trace's events show it.
    pub fn boot_at(&self, mono: i64) -> i64 {
        let i = self.offsets.partition_point(|&(m, _)| m <= mono);
        mono + i.checked_sub(1).map_or(0, |i| self.offsets[i].1)
    }

    /// From the moment the tool says `w`'s task got the CPU (`tool_late` after its deadline)
    /// to the program's own clock read, on `w`'s clock; and which of (mono, boot) that is.
    fn window(w: &Wakeup, tool_late: i64) -> (i64, i64, OnClock) {
        if w.clock == "boottime" {
            (w.deadline_ns + tool_late, w.woke_boot_ns, |t| t.1)
        } else {
            (w.deadline_ns + tool_late, w.woke_mono_ns, |t| t.0)
        }
    }

    /// Whether `w`'s task was held off between the moment the tool says it got the CPU
    /// (`tool_late` after its deadline) and its own clock read.
    fn between(&self, w: &Wakeup, tool_late: i64) -> bool {
        let (from, to, on) = Self::window(w, tool_late);
        self.by_tid
            .get(&w.tid)
            .is_some_and(|at| at.iter().any(|&t| (from..=to).contains(&on(t))))
    }

    /// Whether the trace explains the program reading its clock `w.late_ns − tool_late`
    /// after the moment the tool says its task got the CPU: held off by an event
    /// ([`HeldOff::between`]; `bounded`: for at most [`STALL_LIMIT_NS`]), or by the freezer:
    /// the trace holds that switch-in before a freeze began, and the clock read came at most
    /// [`STALL_LIMIT_NS`] later than the part of the freeze before it (seen on 5.10: an asyncio timer's task switched in 0.6 ms after
    /// `suspend_enter`, its callback's clock read after the thaw, 98 ms later). A tool that
    /// missed a freeze, saying a task ran whose timer fired inside it, is not excused: its
    /// switch-in is not before the freeze.
    fn explains(&self, w: &Wakeup, tool_late: i64, bounded: bool) -> bool {
        let extra = w.late_ns - tool_late;
        if extra <= 0 {
            return false;
        }
        if self.between(w, tool_late) && (!bounded || extra <= STALL_LIMIT_NS) {
            return true;
        }
        let (from, to, on) = Self::window(w, tool_late);
        let switch_ins = self.switch_ins.get(&w.tid);
        // the tool's moment is a switch-in, or the end of the callback that woke the task
        // while it was switched in on another CPU, waiting for that end (seen on 5.10 under
        // TCG: an asyncio wait switched in 1.3 ms after its deadline, its callback on the
        // other CPU ending 4 ms later; then the freezer took it, and it read its clock after
        // the thaw)
        let switched_in = switch_ins
            .is_some_and(|at| at.iter().any(|&t| (on(t) - from).abs() <= 1_000_000))
            || self
                .callback_ends
                .iter()
                .any(|&e| (on(e) - from).abs() <= 1_000_000)
                && switch_ins.is_some_and(|at| {
                    at.iter()
                        .any(|&t| (w.deadline_ns - 1_000_000..=from).contains(&on(t)))
                });
        // tasks thaw inside thaw_processes: the clock read may come before it ends
        let frozen: i64 = self
            .freezes
            .iter()
            .filter(|f| from <= on(f[0]))
            .map(|f| (on(f[1]).min(to) - on(f[0])).max(0))
            .sum();
        switched_in && frozen > 0 && extra <= frozen + STALL_LIMIT_NS
    }

    /// Whether a runtime's logged wakeup (`asked_ns` logged) was no sleep at all: its thread
    /// armed no timer from the runtime's clock read to its log, and was on a CPU after the
    /// deadline before the log, or was frozen by a cycle before the deadline and woke less than
    /// one timeout after the thaw. The deadline
    /// passed while it was still busy (seen on 5.10 under TCG: asyncio's main loop ran 16 ms
    /// between two timers, its `epoll_wait` timeout 0; 2 of 1,330 wakeups), or while the
    /// freezer held it before it could arm its timer (seen on 6.1: asyncio read its clock at
    /// 103.235 s in the freezer's sweep, was frozen, and after the thaw its 103.245 s deadline
    /// had passed: logged 63 ms late, no timer armed, so none was late).
    fn never_slept(&self, w: &Wakeup) -> bool {
        let Some(asked) = w.asked_ns.filter(|_| w.clock == "monotonic") else {
            return false;
        };
        let (read_at, woke) = (w.deadline_ns - asked, w.woke_mono_ns);
        // a sleep due after the log did not end by its timeout before it (CPython's GIL: a
        // condition variable's 5 ms timed wait, cut short when the GIL came free; seen on
        // x86_64 6.12: asyncio read its clock in the freezer, was frozen before it armed its
        // 200 ms wait, and after the thaw waited for the GIL, then ran the timeout 2.8 s late)
        let none_armed = self.arms.get(&w.tid).is_none_or(|a| {
            !a.iter().any(|a| {
                (read_at..=woke).contains(&a.at) && a.due_mono.is_none_or(|due| due <= woke)
            })
        });
        let ran_after_deadline = self
            .on_cpu
            .get(&w.tid)
            .is_some_and(|a| a.iter().any(|t| (w.deadline_ns..=woke).contains(t)));
        // frozen before the deadline and awake again less than one sleep after the thaw: it
        // cannot have slept a whole timeout on a timer the trace lacks
        let frozen_first = self
            .freezes
            .iter()
            .any(|f| read_at <= f[1].0 && f[0].0 <= w.deadline_ns && woke < f[1].0 + asked);
        none_armed && (ran_after_deadline || frozen_first)
    }

    /// Whether a freeze began at or after `from` and was under way or had begun by `to`
    /// (monotonic): the freezer stopped a task running between the two.
    fn froze_between(&self, from: i64, to: i64) -> bool {
        self.freezes.iter().any(|f| from <= f[1].0 && f[0].0 <= to)
    }
}

/// What the timer checks compare a program's own log with: the tool's wakeups, where the
/// trace shows tasks held off, and the timer events the kernel counted as skipped (`misses`;
/// `counted` false on kernels that do not count them).
pub struct TimerEvidence<'a> {
    pub tool: &'a ToolWakeups,
    pub held_off: &'a HeldOff,
    pub misses: u64,
    pub counted: bool,
}

/// The tool's task-visible wakeups per (tid, requested expiry).
pub type ToolWakeups = HashMap<(u32, i64), ToolWake>;

/// One wakeup as the tool reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToolWake {
    /// The task got the CPU this long after its deadline.
    pub late: i64,
    /// It got the CPU inside the freezer this long after the deadline and then froze; the
    /// tool takes the wakeup at thaw (`late`) and says it cannot tell whether the program
    /// had seen it already (`ran_in_freezer_late_ns`).
    pub ran_in_freezer: Option<i64>,
    /// The expiry never reached the trace (`expiry_unseen`): `late` is the latest the task
    /// can have got the CPU; it may have as early as its deadline.
    pub unseen: bool,
}

impl From<i64> for ToolWake {
    fn from(late: i64) -> Self {
        Self {
            late,
            ran_in_freezer: None,
            unseen: false,
        }
    }
}

impl ToolWake {
    /// The tool's lateness for a wakeup the program measured `own` late: `late`, or where the
    /// tool names two moments, the one the program's own clock read confirms, or where it
    /// names a span (its expiry unseen), the moment in it nearest the program's.
    fn nearest(self, own: i64) -> i64 {
        match self.ran_in_freezer {
            _ if self.unseen => own.clamp(0, self.late.max(0)),
            Some(ran) if (own - ran).abs() < (own - self.late).abs() => ran,
            _ => self.late,
        }
    }
}

/// The tool's task-visible wakeups, from `serial-trace report --wakeups` (one JSON object per
/// wakeup).
pub fn tool_lateness(wakeups_jsonl: &str) -> ToolWakeups {
    wakeups_jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            let tid = v["tid"].as_u64()? as u32;
            Some((
                (tid, v["requested_ns"].as_i64()?),
                ToolWake {
                    late: v["wake_late_ns"].as_i64()?,
                    ran_in_freezer: v["ran_in_freezer_late_ns"].as_i64(),
                    unseen: v["expiry_unseen"] == true,
                },
            ))
        })
        .collect()
}

/// The tool's deadlines that can be `w`'s. A program that passes its deadline to the kernel
/// gets exactly it (1 ms for the clocks' rounding). An `epoll_wait` timeout's deadline is the
/// kernel's own clock read + the timeout, which the program can only approach by reading the
/// clock just before the call: 2 ms either way. A runtime that reads its own clock after the
/// program logged (asyncio's timers, which wait in `epoll_wait` with the time left rounded up
/// to whole ms; CPython's `time.sleep`) can also wait for its own lock in between (the GIL:
/// seen 5.2 ms under TCG between asyncio's clock read and its `epoll_wait`), and a program
/// that logs its `epoll_wait` timeout can be interrupted between its read and the kernel's
/// (seen 2.7 ms): its kernel deadline is later than the logged one by that, never earlier,
/// and earlier than the next sleep's (asked after this one woke, for as long: `asked_ns`).
fn deadline_window(w: &Wakeup) -> RangeInclusive<i64> {
    let d = w.deadline_ns;
    match w.asked_ns {
        Some(asked) => d - 100_000..=d + asked - 1,
        None if w.api == "epoll-timeout" => d - 2_000_000..=d + 2_000_000,
        None => d - 1_000_000..=d + 1_000_000,
    }
}

/// The tool's lateness for a logged wakeup: same tid and requested expiry, or where the
/// program cannot know the kernel's deadline exactly, the tool's nearest of that tid in
/// [`deadline_window`] (the workloads' deadlines are 10 ms or more apart), or the timer a
/// runtime armed later than that ([`armed_late`]); counted from the logged deadline.
pub fn tool_wakeup(tool: &ToolWakeups, w: &Wakeup, held_off: &HeldOff) -> Option<i64> {
    let (requested, t) = tool_match(tool, w)
        .or_else(|| armed_late(tool, w, held_off).map(|a| (a.requested, a.tool)))?;
    Some(t.nearest(w.late_ns + w.deadline_ns - requested) + requested - w.deadline_ns)
}

/// The tool's wakeup of `w`'s sleep by its deadline: its requested expiry and lateness.
fn tool_match(tool: &ToolWakeups, w: &Wakeup) -> Option<(i64, ToolWake)> {
    if let Some(&t) = tool.get(&(w.tid, w.deadline_ns)) {
        return Some((w.deadline_ns, t));
    }
    if w.api != "epoll-timeout" && w.asked_ns.is_none() {
        return None;
    }
    let window = deadline_window(w);
    tool.iter()
        .filter(|((tid, requested), _)| *tid == w.tid && window.contains(requested))
        .min_by_key(|((_, requested), _)| (requested - w.deadline_ns).abs())
        .map(|(&(_, requested), &t)| (requested, t))
}

/// A runtime's sleep armed late: the runtime computes its deadline from its own clock read
/// and arms the kernel's timer after it (`asked_ns` logged), and may run, wait for its lock or
/// be frozen in between. The sleep then begins later than the program asked, and that part of
/// its lateness is no timer's (seen on 5.10: asyncio's `wait_for` read its clock 0.3 ms before
/// `freeze_processes` began and armed epoll's timeout 142 ms later, after the thaw; its main
/// loop computed a 10 ms timeout and entered `epoll_wait` 21 ms later, after 16 ms of Python
/// and a wait for the GIL). The tool's wakeup of that thread armed after the program's clock
/// read that the program logged (the last that woke at most [`LISTED_LATE_NS`] before the
/// program's clock read after it), if the timer was not late enough to list.
/// How much sooner than asked a runtime may compute its timeout after the program's clock
/// read (asyncio: its own clock read and rounding, a GIL wait in between; seen up to 5.2 ms).
const ARM_SLACK_NS: i64 = 6_000_000;

struct ArmedLate {
    requested: i64,
    tool: ToolWake,
    /// How much later than the program's clock read the timer was armed.
    gap: i64,
    /// A freeze lies between the read and the arm.
    frozen: bool,
}

fn armed_late(tool: &ToolWakeups, w: &Wakeup, held_off: &HeldOff) -> Option<ArmedLate> {
    armed_late_any(tool, w, held_off).filter(|a| a.tool.late < LOST_WAKEUP_NS)
}

/// [`armed_late`] however late the timer was (the report lists it at the kernel's deadline).
fn armed_late_any(tool: &ToolWakeups, w: &Wakeup, held_off: &HeldOff) -> Option<ArmedLate> {
    let asked = w.asked_ns?;
    let read_at = w.deadline_ns - asked;
    let (requested, t) = tool
        .iter()
        .filter(|((tid, requested), t)| {
            let woke = requested + t.late;
            *tid == w.tid
                && requested - asked >= read_at
                && (w.woke_mono_ns - LISTED_LATE_NS..=w.woke_mono_ns).contains(&woke)
        })
        .max_by_key(|((_, requested), t)| requested + t.late)
        .map(|(&(_, requested), &t)| (requested, t))?;
    let armed_at = requested - asked;
    // the trace holds that arm: the runtime's timeout is the time left from its own clock
    // read, up to a few ms less than asked (a GIL wait's short timer, matched by mistake, has
    // no arm a whole `asked` before its expiry: seen on 6.1, a 5 ms wait 3 s after the read)
    let arm_in_trace = held_off.arms.get(&w.tid).is_some_and(|a| {
        a.iter()
            .any(|a| (armed_at - 100_000..=armed_at + ARM_SLACK_NS).contains(&a.at))
    });
    arm_in_trace.then_some(ArmedLate {
        requested,
        tool: t,
        gap: armed_at - read_at,
        frozen: held_off.froze_between(read_at, armed_at),
    })
}

/// Whether each wakeup's deadline fell inside a suspend: a boottime sleep then fires late at
/// resume; a monotonic one is on time on its own clock but the boottime−monotonic offset
/// jumped since the sleep was asked (where the program logs it; else since the thread's
/// previous wakeup, which is the same for a thread that sleeps again at once, but not for a
/// waiter whose next deadline another thread arms after thaw). In a real cycle during which
/// no clock stopped (s2idle with timekeeping running: arm64 `virt`), neither sign exists: there
/// the deadline itself, on CLOCK_MONOTONIC, inside one of `clockless` (the report's windows of
/// such cycles, to their thaw; the guest performed them, as `cycles_performed` checks) with the
/// program's wakeup at or after that thaw says so.
/// Whether a clockless cycle held `w`: due before its thaw, woken after it (see [`spanning`]).
fn held_by_clockless(w: &Wakeup, clockless: &[(i64, i64)]) -> bool {
    let deadline_mono = w.woke_mono_ns - w.late_ns;
    clockless
        .iter()
        .any(|&(_, thaw)| deadline_mono <= thaw && w.woke_mono_ns >= thaw)
}

/// How late `w` woke in elapsed time (boottime), which the report's listing goes by: a
/// monotonic sleep's lateness plus what boottime − monotonic grew by since it was asked.
fn elapsed_late(w: &Wakeup) -> i64 {
    if w.clock == "boottime" {
        return w.late_ns;
    }
    let offset = w.woke_boot_ns - w.woke_mono_ns;
    w.late_ns + (offset - w.asked_boot_minus_mono_ns.unwrap_or(offset)).max(0)
}

fn spanning(wakeups: &[Wakeup], clockless: &[(i64, i64)]) -> Vec<bool> {
    let mut prev_offset: HashMap<u32, i64> = HashMap::new();
    wakeups
        .iter()
        .map(|w| {
            // no clock jumped between the deadline and the wakeup in such a cycle
            // and the cycle held it: a task the freezer had not reached yet woke on time, and
            // read its clock before the thaw began (seen on arm64 6.12: a 200 ms sleep due
            // 2.2 ms after the cycle began, 1 ms late). A sleep due before the cycle began
            // whose task had not run yet when the freezer took it is held as much (seen on
            // arm64 5.10: cyclictest due 3.4 ms before, frozen before it ran, woken at the
            // thaw): due before the thaw, woken after it.
            if held_by_clockless(w, clockless) {
                return true;
            }
            let offset = w.woke_boot_ns - w.woke_mono_ns;
            let before = prev_offset.insert(w.tid, offset);
            let jumped = w
                .asked_boot_minus_mono_ns
                .or(before)
                .is_some_and(|p| offset - p > 1_000_000_000);
            match w.clock.as_str() {
                "boottime" => w.late_ns > 1_000_000_000,
                _ => jumped,
            }
        })
        .collect()
}

/// The HTML page and the trace-event export carry the JSON report's numbers, and
/// `report --check drops=0 --check probes_alive` exits 1 exactly when the JSON shows drops or a
/// silent probe (`gate_rc`).
pub fn renderer_checks(
    sc: &str,
    report: &Report,
    html: &str,
    trace_events: &Value,
    gate_rc: Option<i32>,
) -> Vec<Check> {
    let drops = report.drops.len();
    let cycles = report.suspend_cycles.len();
    let events = trace_events["traceEvents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut bad = Vec::new();
    for p in &report.ports {
        let name = &p.name;
        let last = events
            .iter()
            .filter(|e| e["ph"] == "C" && e["name"] == format!("{name} bytes"))
            .max_by(|a, b| {
                let ts = |e: &Value| e["ts"].as_f64().unwrap_or(0.0);
                ts(a).total_cmp(&ts(b))
            });
        let (rx, dropped) = (p.bytes_received, p.bytes_dropped);
        let ok = match last {
            Some(e) => {
                e["args"]["received"].as_u64() == Some(rx)
                    && e["args"]["dropped"].as_u64() == Some(dropped)
            }
            None => rx == 0 && dropped == 0,
        };
        if !ok {
            bad.push(format!(
                "trace-event {name}: {:?} vs received {rx} dropped {dropped}",
                last.map(|e| &e["args"])
            ));
        }
        if !html.contains(&format!(">{dropped}<")) || !html.contains(&format!(">{rx}<")) {
            bad.push(format!(
                "html {name}: no cell with received {rx} / dropped {dropped}"
            ));
        }
    }
    let instants = events
        .iter()
        .filter(|e| e["ph"] == "i" && e["args"]["chain"].is_string())
        .count();
    if instants != drops {
        bad.push(format!(
            "trace-event: {instants} drop instants, JSON {drops} drop windows"
        ));
    }
    let cycle_slices = events
        .iter()
        .filter(|e| {
            e["ph"] == "X"
                && e["name"]
                    .as_str()
                    .is_some_and(|n| n.contains(" cycle ") && !n.contains("lost"))
        })
        .count();
    if cycle_slices != cycles {
        bad.push(format!(
            "trace-event: {cycle_slices} cycle slices, JSON {cycles} cycles"
        ));
    }
    if !html.contains("<svg") {
        bad.push("html: no inline SVG timeline".into());
    }
    let dropped_any = report.ports.iter().any(|p| p.bytes_dropped > 0);
    let silent_any = report
        .suspend_cycles
        .iter()
        .any(|c| !c.liveness.silent_after_resume.is_empty());
    let want_rc = if dropped_any || silent_any { 1 } else { 0 };
    vec![
        check(
            format!("{sc}: HTML and trace-event carry the JSON's numbers"),
            bad.is_empty() && !events.is_empty(),
            if bad.is_empty() {
                format!(
                    "{} ports, {drops} drop windows, {cycles} cycles; {} trace events",
                    report.ports.len(),
                    events.len()
                )
            } else {
                bad.join("; ")
            },
        ),
        check(
            format!("{sc}: report --check drops=0 --check probes_alive exits {want_rc}"),
            gate_rc == Some(want_rc),
            format!("exit {gate_rc:?} (drops: {dropped_any}, silent probes: {silent_any})"),
        ),
    ]
}

/// Whether a lost wakeup the tool listed as `expiry_unseen` was due before the cycle it names
/// began. Its expiry never reached the trace (a skip 5.10 does not count), so the trace cannot
/// tell whether the task ran in the moments before the freezer: the tool says so instead of
/// blaming the suspend (seen on 5.10 in a fresh run: a boottime timerfd due 3.7 ms before
/// `suspend_enter`, its expiry skipped; that program woke after the cycle, another in session
/// 13 before it). The check still needs the listing, for that task, deadline and cycle.
fn due_before_its_cycle(report: &Report, l: &LostWakeup) -> bool {
    let Some(index) = l.suspend_cycle else {
        return false;
    };
    report
        .suspend_cycles
        .iter()
        .find(|c| c.index == index)
        .is_some_and(|c| l.expected_boot_ns < c.start_boot_ns)
}

/// Whether, by the workload's own log, one of its boottime sleeps was pending when a cycle's
/// clock stopped (`machine_suspend` began): asked after its thread's previous wakeup, which
/// came before that moment, and due after it.
fn boottime_sleep_pending_at_clock_stop(wakeups: &[Wakeup], report: &Report) -> bool {
    let stops: Vec<i64> = report
        .suspend_cycles
        .iter()
        .flat_map(|c| &c.phases)
        .filter(|p| p.name == "machine_suspend")
        .map(|p| p.begin_boot_ns as i64)
        .collect();
    let mut previous: HashMap<u32, i64> = HashMap::new();
    wakeups.iter().any(|w| {
        let asked_after = previous.insert(w.tid, w.woke_boot_ns);
        w.clock == "boottime"
            && stops
                .iter()
                .any(|&stop| w.deadline_ns > stop && asked_after.is_none_or(|p| p < stop))
    })
}

/// The report's lost wakeup of `w`'s thread whose deadline (on `w`'s clock) is `w`'s.
fn listing_of<'r>(report: &'r Report, w: &Wakeup) -> Option<&'r LostWakeup> {
    report.lost_wakeups.iter().find(|l| {
        let due = if w.clock == "boottime" {
            l.expected_boot_ns
        } else {
            l.expected_mono_ns
        };
        l.tid == w.tid && deadline_window(w).contains(&(due as i64))
    })
}

/// Spanning timers classified by their clock, and the workload's wakeups across the suspend
/// listed as lost to it — identified by task and deadline. A wakeup not listed at all must be
/// covered by `misses`, the events the kernel counted as skipped (recursion guard) in the
/// programs a wakeup needs, as in [`timer_checks`].
pub fn spanning_checks(
    wakeups: &[Wakeup],
    report: &Report,
    misses: u64,
    counted: bool,
) -> Vec<Check> {
    let clockless = clockless_cycles(report);
    let spans = spanning(wakeups, &clockless);
    let group = |clock: Clock| {
        report
            .timers
            .spanning_by_clock
            .iter()
            .find(|g| g.clock == clock)
    };
    let s3_suspended = report
        .suspend_cycles
        .iter()
        .filter(|c| cycle_kind(c) == "S3")
        .map(|c| c.suspended_ns)
        .max()
        .unwrap_or(0);
    let mono = group(Clock::Monotonic);
    let boot = group(Clock::Boottime);
    // where no clock stopped (arm64's s2idle), neither clock's deadline moved: both fired on
    // time and their tasks waited for the thaw
    let stopped = s3_suspended > 0;
    let mono_ok = mono.is_some_and(|g| {
        if stopped {
            g.drift == Drift::SuspendDrift && g.wall_lateness_ns.max + 1_000_000 >= s3_suspended
        } else {
            g.drift == Drift::NoClockStopped && g.wall_lateness_ns.max == g.lateness_ns.max
        }
    });
    // a boottime timer fires at resume only if one was still pending when the clock stopped:
    // by the workload's own log, a sleep asked before the machine suspended and due after.
    // Whether one was is timing: on 5.10 (2026-12-04) every boottime sleeper's 200 ms timer
    // fired during the freeze, the last 11 ms before the clock stopped, and none re-armed.
    let boot_pending = stopped && boottime_sleep_pending_at_clock_stop(wakeups, report);
    let boot_ok = boot.is_some_and(|g| {
        g.drift
            == if boot_pending {
                Drift::FiresAtResume
            } else {
                Drift::NoClockStopped
            }
            && g.wall_lateness_ns.max == g.lateness_ns.max
    });
    let (mut across, mut found, mut unlisted, mut hedged, mut brief) = (0, 0, 0u64, 0, 0);
    let mut missing = Vec::new();
    for (w, _) in wakeups.iter().zip(&spans).filter(|(_, s)| **s) {
        // held by a clockless cycle only briefly (due just before its thaw): the report lists
        // a wakeup only when later than 20 ms and than the sleep asked, and may list it or not
        // at the margin
        if held_by_clockless(w, &clockless) && elapsed_late(w) <= listed_late(w) {
            brief += 1;
            continue;
        }
        across += 1;
        match listing_of(report, w) {
            Some(l) if matches!(l.cause, WakeCause::Suspend | WakeCause::ResumeLatency) => {
                found += 1
            }
            Some(l)
                if l.cause == WakeCause::ExpiryUnseen
                    && (!counted || misses > 0)
                    && due_before_its_cycle(report, l) =>
            {
                found += 1;
                hedged += 1;
            }
            Some(l) => missing.push(format!(
                "{} tid {}: cause {}",
                w.clock,
                w.tid,
                shown(&l.cause)
            )),
            None => {
                unlisted += 1;
                missing.push(format!(
                    "{} tid {} deadline {} late {} ms: not listed",
                    w.clock,
                    w.tid,
                    w.deadline_ns,
                    w.late_ns / 1_000_000
                ))
            }
        }
    }
    vec![
        check(
            "timers: spanning timers classified by clock",
            mono_ok && boot_ok,
            format!(
                "monotonic: drift {} wall max {} ns (S3 suspended {s3_suspended} ns); boottime: drift {} own max {} ns = wall max {} ns (a boottime sleep pending when the clock stopped: {boot_pending})",
                shown(&mono.map(|g| g.drift)),
                shown(&mono.map(|g| g.wall_lateness_ns.max)),
                shown(&boot.map(|g| g.drift)),
                shown(&boot.map(|g| g.lateness_ns.max)),
                shown(&boot.map(|g| g.wall_lateness_ns.max)),
            ),
        ),
        check(
            "timers: wakeups across the suspend listed as lost to it",
            across > 0
                && found + unlisted as usize == across
                && (unlisted == 0 || counted && unlisted <= misses),
            format!(
                "{found}/{across} of the workload's wakeups across the suspend in lost_wakeups with cause suspend/resume_latency ({hedged} of them expiry_unseen: expiry skipped, due before the cycle began; {brief} more held by a cycle too briefly to be listed) ({} listed in all){}{}",
                report.lost_wakeups.len(),
                if missing.is_empty() {
                    String::new()
                } else {
                    format!("; {}", missing.join("; "))
                },
                if unlisted == 0 {
                    String::new()
                } else {
                    format!(
                        "; the kernel counted {misses} skipped events of the programs a wakeup needs"
                    )
                }
            ),
        ),
    ]
}

/// The trace header's `system` against the guest (`facts` of the `suspend` scenario: its
/// sysfs `current_clocksource`, `mem_sleep` and how many devices have wakeup enabled) and the
/// kernel's own config (`CONFIG_HZ`, `CONFIG_HIGH_RES_TIMERS`) from its Debian package.
pub fn system_setup_check(
    report: &Report,
    facts: &BTreeMap<String, String>,
    config: &str,
) -> Check {
    const NAME: &str = "suspend: the header's system settings are the guest's";
    let Some(s) = &report.system else {
        return check(NAME, false, "no `system` in the report");
    };
    let config_value = |key: &str| {
        config
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_string)
    };
    let want_hz = config_value("CONFIG_HZ").and_then(|v| v.parse::<u64>().ok());
    let want_hr = config_value("CONFIG_HIGH_RES_TIMERS").map(|v| v == "y");
    let want_mem_sleep = facts.get("mem_sleep").filter(|m| *m != "none");
    let want_wakeup = num(facts, "wakeup_enabled");
    let got = (
        s.clocksource.as_ref(),
        s.mem_sleep.as_ref(),
        s.hz(),
        s.high_resolution(),
        s.wakeup_devices.len() as i64,
    );
    let want = (
        facts.get("clocksource"),
        want_mem_sleep,
        want_hz,
        want_hr,
        want_wakeup.unwrap_or(-1),
    );
    // marked unstable: the header's (read at the start) lie between the kernel log's before
    // the recorder started and its during the scenario
    let names = |v: Option<&String>| -> Option<Vec<String>> {
        let v = v?;
        Some(if v == "none" {
            Vec::new()
        } else {
            v.split(',').map(str::to_string).collect()
        })
    };
    let (before, after) = (
        names(facts.get("unstable_cs_before")),
        names(facts.get("unstable_cs_after")),
    );
    let header: Option<Vec<String>> = s
        .clocksources_unstable
        .as_ref()
        .map(|u| u.iter().map(|c| c.name.clone()).collect());
    let unstable_ok = match (&before, &header, &after) {
        (Some(b), Some(h), Some(a)) => {
            b.iter().all(|n| h.contains(n)) && h.iter().all(|n| a.contains(n))
        }
        _ => false,
    };
    // and the report names the risk exactly when the header lists one (seen: 5.10 guests on
    // an Intel host mark the TSC unstable at boot and run on hpet)
    let risk_named = report
        .risks
        .iter()
        .any(|r| r.rule == RiskRule::UnstableClocksource);
    let risk_ok = risk_named == header.as_ref().is_some_and(|h| !h.is_empty());
    check(
        NAME,
        got == want && want_hz.is_some() && want.0.is_some() && unstable_ok && risk_ok,
        format!(
            "(clocksource, mem_sleep, HZ, high-res, wakeup devices): header {got:?}, guest and config {want:?}; marked unstable: guest before {before:?}, header {header:?}, guest after {after:?}; risk unstable_clocksource named: {risk_named}"
        ),
    )
}

/// `serial-trace diff flood.trace flood-read.trace` (`diff`: its JSON) against the kernel's
/// counts of the two floods (`before`, `after`: their facts) and the two reports: the flooded
/// port's bytes dropped on each side are the guest's `/proc` `buf_overrun` deltas and went
/// down; bytes received are each report's. `gate` and `gate_reversed`: the exit statuses of
/// `--fail-if drops_increased` both ways (0, then 1).
pub fn diff_checks(
    diff: &Value,
    before: (&BTreeMap<String, String>, &Value),
    after: (&BTreeMap<String, String>, &Value),
    gate: Option<i32>,
    gate_reversed: Option<i32>,
) -> Vec<Check> {
    let name = flood_port(before.0);
    let side = |metric: &str, which: &str| diff["ports"][name][metric][which].as_i64();
    let received_in = |report: &Value| {
        report["ports"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .and_then(|p| p["bytes_received"].as_i64())
    };
    let dropped = (
        side("bytes_dropped", "before"),
        side("bytes_dropped", "after"),
    );
    let received = (
        side("bytes_received", "before"),
        side("bytes_received", "after"),
    );
    let kernel_dropped = (num(before.0, "bo"), num(after.0, "bo"));
    let reported = (received_in(before.1), received_in(after.1));
    vec![
        check(
            "diff: flood → flood-read, bytes dropped = the kernel's on each side, and fewer",
            dropped == kernel_dropped && matches!(dropped, (Some(b), Some(a)) if b > a),
            format!(
                "{name}: diff says {dropped:?}, the guest's /proc buf_overrun {kernel_dropped:?}"
            ),
        ),
        check(
            "diff: flood → flood-read, bytes received as each report says",
            received == reported && received.0.is_some(),
            format!("{name}: diff says {received:?}, the reports {reported:?}"),
        ),
        check(
            "diff: --fail-if drops_increased passes the fix and fails its reversal",
            gate == Some(0) && gate_reversed == Some(1),
            format!("exit status {gate:?}, reversed {gate_reversed:?}"),
        ),
    ]
}

/// `record -- sh -c 'timer-workload …'` (the `timers` scenario's preparation): the trace's
/// timer arms (`dump` of its `hrtimer_start` events, JSON lines) are all the tree's — the
/// workload's, from several of its threads, or the shell's — and the workload's are there.
pub fn command_tree_check(dump: &str) -> Check {
    const NAME: &str = "timers: record -- CMD keeps the timers of CMD's process tree only";
    let mut workload_tids = BTreeSet::new();
    let (mut workload, mut outside) = (0u64, BTreeMap::<String, u64>::new());
    for e in dump
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(is_event)
    {
        match e["comm"].as_str().unwrap_or("") {
            "timer-workload" => {
                workload += 1;
                workload_tids.insert(e["tid"].as_u64().unwrap_or(0));
            }
            "sh" => {}
            other => *outside.entry(other.to_string()).or_default() += 1,
        }
    }
    check(
        NAME,
        workload >= 40 && workload_tids.len() >= 2 && outside.is_empty(),
        if workload == 0 && outside.is_empty() {
            format!(
                "no arm in the trace: {}",
                dump.trim().chars().take(300).collect::<String>()
            )
        } else {
            format!(
                "{workload} arms by timer-workload from {} threads (≥ 40 from ≥ 2 expected), outside the tree: {outside:?}",
                workload_tids.len()
            )
        },
    )
}

/// A periodic POSIX timer whose signal is ignored (`posix-timer`, its summary line `posix`)
/// is re-armed by its own callback in interrupt context on kernels before 6.13: every expiry
/// must still be its thread's in `timers.by_task` (not the interrupted task's), and the
/// report must count the restarts. `expiries` is the kernel's own count of the timer's
/// expiries (ftrace's `hrtimer_expire_entry` lines for `posix_timer_fn`, recorded beside the
/// tool): an expiry later than the interval makes the kernel skip periods, so the timer fires
/// fewer times than the workload's `count` under TCG. Expiries the kernel skipped in BPF
/// (`skipped`: counted misses and re-arms the trace shows without their expiry) excuse as
/// many missing; a kernel that does not count its skips (`counted` false, before 5.12 for
/// the recursion guard, and 6.1 here) is allowed 2 % uncounted, as in [`timer_checks`]
/// (seen on 6.1: one expiry's entry, exit and restart all skipped while the timer wheel's
/// `timer_expire_entry` program ran on that CPU; ftrace counted 100, the trace 99).
pub fn restart_checks(
    posix: &Value,
    expiries: Option<u64>,
    report: &Report,
    skipped: u64,
    counted: bool,
) -> Vec<Check> {
    const NAME: &str = "timers: a POSIX timer restarted by its callback stays its thread's";
    let Some(tid) = posix["tid"].as_u64() else {
        return vec![check(NAME, false, "no summary line from posix-timer")];
    };
    let Some(expiries) = expiries.filter(|&n| n > 0) else {
        return vec![check(
            NAME,
            false,
            "no expiry of posix_timer_fn in the guest's ftrace (tracefs missing?)",
        )];
    };
    let own = report
        .timers
        .by_task
        .iter()
        .find(|r| r.tid.map(u64::from) == Some(tid))
        .map_or(0, |r| r.count);
    let restarts = report.timers.restarts;
    // 6.13 and later park a timer whose signal is ignored instead of re-arming it: then no
    // restart may be seen (one expiry and the sleep are the thread's)
    let release = report.kernel.release.as_str();
    let mut version = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    if (version.next(), version.next()) >= (Some(6), Some(13)) {
        return vec![check(
            NAME,
            restarts == 0 && own >= 2,
            format!(
                "kernel {release} parks ignored timers: thread {tid} has {own} expiries, {restarts} restarts seen (none expected)"
            ),
        )];
    }
    // the sleep over the intervals is one more expiry of the thread's; every expiry but the
    // last re-arms (the last may be cancelled by timer_delete before or after its restart)
    let expected = expiries + 1;
    let allowed = if counted {
        skipped
    } else {
        skipped.max(uncounted_allowance(expected))
    };
    vec![check(
        NAME,
        restarts + 1 >= expiries.saturating_sub(allowed)
            && own <= expected
            && own + allowed >= expected,
        format!(
            "thread {tid}: {own} of {expected} expiries in its row (ftrace: {expiries} of the timer), {restarts} restarts by the callback (at least {}){}",
            expiries - 1,
            match (skipped, counted) {
                (0, true) => String::new(),
                (n, true) => format!("; {n} timer events skipped by the kernel"),
                (n, false) => format!(
                    "; {n} timer events seen skipped; this kernel does not count its skips ({allowed} allowed)"
                ),
            }
        ),
    )]
}

/// Share of ordinary wakeups that must agree within 1 ms/5 %: under TCG a vCPU stall or a
/// preemption of a few ms can fall between the task getting the CPU and its own clock read,
/// which no in-guest tracer can see (seen: 88–97 % agreement, lowest on PREEMPT_RT).
const ORDINARY_AGREE: f64 = 0.75;
/// Agreement floor for wakeups across a suspend (5 % applies above it).
const ACROSS_FLOOR_NS: i64 = 5_000_000;
/// No ordinary wakeup may be off by more than this, unless the trace shows its task
/// interrupted or preempted between its switch-in and its own clock read.
const STALL_LIMIT_NS: i64 = 20_000_000;

/// Of `n` events a check expects, how many may be missing uncounted on a kernel that does not
/// count the events its BPF recursion guard skips (before 5.12, and 6.1 for these programs):
/// 2 %.
fn uncounted_allowance(n: u64) -> u64 {
    n / 50
}

/// Every wakeup the workload logged must be in the trace with the same lateness (within 1 ms or
/// 5 %): strictly for those whose deadline fell inside a suspend, for at least
/// [`ORDINARY_AGREE`] of the others; and the run must have deadlines inside the suspend on both
/// clocks, or it proved nothing.
/// `misses` is what the kernel counted as skipped by the BPF recursion guard in the programs a
/// wakeup needs (`hrtimer_expire_entry`, `sched_switch`); `counted` is false on kernels before
/// 5.12, which do not count them.
#[cfg(test)]
pub fn timer_checks(
    wakeups: &[Wakeup],
    tool: &ToolWakeups,
    held_off: &HeldOff,
    misses: u64,
    counted: bool,
) -> Vec<Check> {
    timer_checks_in(wakeups, &[], tool, held_off, misses, counted)
}

/// The tool's wakeups against the workload's (see the tests' `timer_checks`), with the report's cycles in which no clock stopped (see [`spanning`]).
pub fn timer_checks_in(
    wakeups: &[Wakeup],
    clockless: &[(i64, i64)],
    tool: &ToolWakeups,
    held_off: &HeldOff,
    misses: u64,
    counted: bool,
) -> Vec<Check> {
    let mut agreement = Agreement::default();
    for (w, &span) in wakeups.iter().zip(&spanning(wakeups, clockless)) {
        match tool_wakeup(tool, w, held_off) {
            Some(t) => agreement.add(w, span, t, held_off),
            // logged by a runtime whose deadline passed before it slept
            None if held_off.never_slept(w) => agreement.not_slept += 1,
            None => {
                agreement.missing += 1;
                agreement.first_missing.get_or_insert_with(|| {
                    format!(
                        "{} {} tid {} deadline {} ns, {} ns late",
                        w.clock, w.api, w.tid, w.deadline_ns, w.late_ns
                    )
                });
            }
        }
    }
    agreement.checks(wakeups.len(), misses, counted)
}

/// The tally of [`timer_checks`]: how each logged wakeup compares with the tool's.
#[derive(Default)]
struct Agreement {
    /// Without a matching timer in the trace.
    missing: usize,
    /// The first of them, named.
    first_missing: Option<String>,
    /// No sleep at all (see [`HeldOff::never_slept`]).
    not_slept: usize,
    ordinary: usize,
    ordinary_ok: usize,
    /// Ordinary wakeups off by more than [`STALL_LIMIT_NS`] with nothing in the trace to say why.
    stalls: usize,
    across: usize,
    across_ok: usize,
    worst_across: Option<String>,
    worst: Option<(i64, String)>,
    /// Wakeups across the suspend per clock.
    per_clock: BTreeMap<&'static str, usize>,
}

impl Agreement {
    /// `w`, which the tool saw `t` late (from `w`'s deadline); `span`: its deadline fell
    /// inside a suspend.
    fn add(&mut self, w: &Wakeup, span: bool, t: i64, held_off: &HeldOff) {
        // The tool's wakeup is the switch-in; waits the task began after it are the
        // program's (CPython's GIL after a sleep: seen 3.5 ms of 5 ms timed waits on 6.12,
        // 6.7 ms in all on one wakeup), and the trace shows each one.
        let blocked = held_off.blocked(w, t);
        let diff = (w.late_ns - t - blocked).abs();
        let what = format!(
            "{} {} tid {}: own {} ns, tool {} ns{}",
            w.clock,
            w.api,
            w.tid,
            w.late_ns,
            t,
            if blocked > 0 {
                format!(" + {blocked} ns in timed waits after its switch-in")
            } else {
                String::new()
            }
        );
        if span {
            // Across a suspend the floor is one TCG vCPU stall (5 ms): a monotonic sleep then
            // is only tens of ms late on its own clock, while a tool that missed the freeze
            // would be off by that much or by seconds.
            // The workload later than the tool by a TCG stall the trace shows (its task
            // interrupted or preempted after the switch-in: seen on 6.1, a 3.9 ms expiry
            // handler run in its context at resume) is no error of the tool; never by more
            // than an ordinary stall, which a tool that missed the freeze would exceed.
            let ok = diff <= (w.late_ns.abs() / 20).max(ACROSS_FLOOR_NS)
                || held_off.explains(w, t, true);
            self.across += 1;
            self.across_ok += usize::from(ok);
            let clock = if w.clock == "boottime" {
                "boottime"
            } else {
                "monotonic"
            };
            *self.per_clock.entry(clock).or_default() += 1;
            if !ok {
                self.worst_across = Some(what);
            }
        } else {
            self.ordinary += 1;
            self.ordinary_ok += usize::from(diff <= (w.late_ns.abs() / 20).max(1_000_000));
            // The tool's wakeup is the switch-in; the workload reads its clock after it. An
            // interrupt or a preemption in between (a TCG vCPU stall: seen 21 ms) makes the
            // workload later, never earlier: shown by the trace, it is no stall of the tool.
            let held = held_off.explains(w, t, false);
            self.stalls += usize::from(diff > STALL_LIMIT_NS && !held);
            if self.worst.as_ref().is_none_or(|(d, _)| diff > *d) {
                self.worst = Some((diff, what));
            }
        }
    }

    /// The checks of [`timer_checks`] on `logged` wakeups; `misses`, `counted` as there.
    fn checks(self, logged: usize, misses: u64, counted: bool) -> Vec<Check> {
        let Self {
            missing,
            first_missing,
            not_slept,
            ordinary,
            ordinary_ok,
            stalls,
            across,
            across_ok,
            worst_across,
            worst,
            per_clock,
        } = self;
        let share = if ordinary == 0 {
            0.0
        } else {
            ordinary_ok as f64 / ordinary as f64
        };
        vec![
            check(
                "timers: every logged wakeup is in the trace",
                // An expiry interrupting a running BPF program on the same CPU is skipped by
                // the kernel's recursion guard (seen under TCG: 2 of 160). The kernel counts
                // those (5.12+) and the trace reports them, so every missing wakeup must be
                // covered by a counted miss; a kernel that does not count them is allowed 2 %.
                logged > 0
                    && (missing as u64 <= misses && (counted || missing == 0)
                        || !counted && missing as u64 <= uncounted_allowance(logged as u64)),
                format!(
                    "{logged} wakeups logged, {not_slept} of them no sleep (the deadline passed while the thread ran or was frozen, no timer armed), {missing} without a matching timer in the trace{}; the kernel counted {misses} skipped events of the programs they need{}",
                    first_missing.map_or(String::new(), |w| format!(" (first: {w})")),
                    if counted {
                        ""
                    } else {
                        " (this kernel does not count them: 2 % allowed)"
                    }
                ),
            ),
            check(
                "timers: wakeups across the suspend agree (5 ms/5 %)",
                across > 0 && across_ok == across,
                format!(
                    "{across_ok}/{across} agree; disagreeing: {}",
                    worst_across.as_deref().unwrap_or("-")
                ),
            ),
            check(
                "timers: other wakeups agree (1 ms/5 %)",
                ordinary > 0 && share >= ORDINARY_AGREE && stalls == 0,
                format!(
                    "{ordinary_ok}/{ordinary} agree ({:.0} %, need {:.0} % under TCG), {stalls} off by > {} ms; worst: {}",
                    share * 100.0,
                    ORDINARY_AGREE * 100.0,
                    STALL_LIMIT_NS / 1_000_000,
                    worst.map_or("-".into(), |w| w.1)
                ),
            ),
            check(
                "timers: deadlines fell inside the suspend on both clocks",
                per_clock.get("boottime").copied().unwrap_or(0) > 0
                    && per_clock.get("monotonic").copied().unwrap_or(0) > 0,
                format!("wakeups across the suspend per clock: {per_clock:?}"),
            ),
        ]
    }
}

/// A logged sleep later than this must be in `lost_wakeups`: the tool lists a wakeup later
/// than 20 ms and than the sleep asked for (a longer sleep: [`listed_late`]), and agrees with
/// the workload within 1 ms/5 % (5 ms across a suspend): 25 ms keeps a listed wakeup clear of
/// the threshold.
const LISTED_LATE_NS: i64 = 25_000_000;
/// The tool lists a wakeup later than this (`LOST_WAKEUP_MIN_NS` in the report).
const LOST_WAKEUP_NS: i64 = 20_000_000;

/// The `event-loop` scenario: the checks of [`timer_checks`] but the one that needs boottime
/// sleepers, and every sleep the workload saw late by more than [`LISTED_LATE_NS`] is in
/// `lost_wakeups` under its own thread — with cause `suspend`/`resume_latency` when its deadline
/// fell inside a suspend cycle (the pm_test freezer cycle as much as the S3 one); and the run
/// had such sleeps, including one of `epoll_wait`'s own timeout (the freezer ends that sleep
/// and cancels its timer: no expiry ever comes) and one of a timerfd waited on by another
/// thread than its armer.
pub fn event_loop_checks(wakeups: &[Wakeup], ev: &TimerEvidence, report: &Report) -> Vec<Check> {
    let (mut out, apis_in_cycle) = late_sleep_checks("event-loop", wakeups, ev, report);
    out.push(check(
        "event-loop: the cycles made epoll timeouts and cross-thread timerfds late",
        apis_in_cycle.contains("epoll-timeout") && apis_in_cycle.contains("epoll-pair"),
        format!("late sleeps inside a cycle by API: {apis_in_cycle:?}"),
    ));
    out
}

/// The report's real cycles during which no clock stopped (boottime − monotonic grew by less
/// than a second: s2idle on arm64 `virt`), (start, thaw) on CLOCK_MONOTONIC: from the cycle's
/// start to the moment `thaw_processes` began (the cycle's end where the trace lacks it).
pub fn clockless_cycles(report: &Report) -> Vec<(i64, i64)> {
    report
        .suspend_cycles
        .iter()
        .filter(|c| c.machine_suspend && c.suspended_ns < 1_000_000_000)
        .map(|c| {
            let thaw = c
                .phases
                .iter()
                .find(|p| p.name == "thaw_processes")
                .map_or(c.end_mono_ns, |p| p.begin_mono_ns);
            (c.start_mono_ns as i64, thaw as i64)
        })
        .collect()
}

/// The report's suspend cycles, (start, end) on CLOCK_MONOTONIC.
pub fn cycles_mono(report: &Report) -> Vec<(i64, i64)> {
    report
        .suspend_cycles
        .iter()
        .map(|c| (c.start_mono_ns as i64, c.end_mono_ns as i64))
        .collect()
}

/// The checks of [`timer_checks`] but the one that needs boottime sleepers, named for
/// `scenario`, and every sleep the program saw late by more than [`LISTED_LATE_NS`] is in
/// `lost_wakeups` under its own thread (see [`event_loop_checks`]). Also returns the APIs of the
/// late sleeps whose deadline fell inside a cycle: what the run proved.
pub fn late_sleep_checks(
    scenario: &str,
    wakeups: &[Wakeup],
    ev: &TimerEvidence,
    report: &Report,
) -> (Vec<Check>, BTreeSet<String>) {
    let &TimerEvidence {
        tool,
        held_off,
        misses,
        counted,
    } = ev;
    let mut out: Vec<Check> = timer_checks_in(
        wakeups,
        &clockless_cycles(report),
        tool,
        held_off,
        misses,
        counted,
    )
    .into_iter()
    .filter(|c| !c.name.contains("on both clocks"))
    .map(|mut c| {
        c.name = c.name.replacen("timers:", &format!("{scenario}:"), 1);
        c
    })
    .collect();
    let cycles = cycles_mono(report);
    let (mut late, mut listed, mut in_cycle, mut unlisted) = (0, 0, 0, 0u64);
    // late only after the task got the CPU (see `HeldOff`): on time as a wakeup
    let mut held = 0;
    // frozen between the clock read and the arm (see `armed_late`): no timer late
    let mut frozen_first = 0;
    // no sleep at all (see `HeldOff::never_slept`)
    let mut not_slept = 0;
    // armed late by the runtime itself, not frozen (see `armed_late`)
    let mut armed_later = 0;
    // timer events the trace shows were skipped count as skips too (see `rearmed_unseen`)
    let rearmed_unseen = report.timers.rearmed_unseen;
    let (misses, counted) = (misses + rearmed_unseen, counted || rearmed_unseen > 0);
    let mut apis_in_cycle = BTreeSet::new();
    let mut wrong = Vec::new();
    for w in wakeups.iter().filter(|w| w.late_ns > listed_late(w)) {
        let matched = tool_wakeup(tool, w, held_off);
        if matched.is_some_and(|t| t < LOST_WAKEUP_NS && held_off.explains(w, t, false)) {
            held += 1;
            continue;
        }
        // no sleep: the deadline passed while the thread still ran
        if matched.is_none() && held_off.never_slept(w) {
            not_slept += 1;
            continue;
        }
        late += 1;
        // made late by a cycle: its deadline inside it, or the cycle between its deadline and
        // its wakeup (a deadline just before the freezer began, its task not yet run: seen on
        // 5.10.223, an asyncio timer 6.8 ms before the cycle, 3.3 s late)
        let during = cycles.iter().any(|&(start, end)| {
            (start..=end).contains(&w.deadline_ns) || w.deadline_ns < start && w.woke_mono_ns > end
        });
        // listed at the program's deadline, or at the kernel's where a stall between the
        // program's clock read and the arm moved it past that window (`armed_late`)
        let kernel = kernel_match(tool, w, held_off);
        let kernel_deadline = kernel.map(|(requested, _)| requested);
        let hit = report.lost_wakeups.iter().find(|l| {
            let expected = l.expected_mono_ns as i64;
            l.tid == w.tid
                && (deadline_window(w).contains(&expected)
                    || kernel_deadline.is_some_and(|k| (expected - k).abs() <= 100_000))
        });
        // or the tool says it cannot know: the expiry never reached the trace, due before
        // the freezer began
        let cause_ok = |l: &LostWakeup| {
            !during
                || matches!(
                    l.cause,
                    WakeCause::Suspend | WakeCause::ResumeLatency | WakeCause::ExpiryUnseen
                )
        };
        match hit {
            Some(l) if cause_ok(l) => {
                listed += 1;
                if during {
                    in_cycle += 1;
                    apis_in_cycle.insert(w.api.clone());
                }
            }
            Some(l) => wrong.push(format!(
                "{} tid {} late {} ms: cause {}",
                w.api,
                w.tid,
                w.late_ns / 1_000_000,
                shown(&l.cause)
            )),
            // not listed: late before its sleep began (frozen, or the runtime's own delay),
            // and without that not late enough to list, or held off after its switch-in as the
            // trace shows (seen on 5.10 under TCG: asyncio frozen 3.09 s between its clock
            // read and its arm, its timer on time, then a preemption kept it 24 ms from its
            // clock read)? Looked at only now: a sleep the report lists is that listing's,
            // whatever else the thread armed after its read
            None if let Some(a) = armed_late(tool, w, held_off).filter(|a| {
                w.late_ns - a.gap <= listed_late(w)
                    || held_off.explains(w, a.requested - w.deadline_ns + a.tool.late, false)
            }) =>
            {
                late -= 1;
                if a.frozen {
                    frozen_first += 1;
                } else {
                    armed_later += 1;
                }
            }
            None => {
                unlisted += 1;
                wrong.push(format!(
                    "{} tid {} deadline {} late {} ms: not listed ({})",
                    w.api,
                    w.tid,
                    w.deadline_ns,
                    w.late_ns / 1_000_000,
                    tool_view(kernel, w, held_off)
                ));
            }
        }
    }
    out.push(check(
        format!("{scenario}: every sleep late by > 25 ms listed as a lost wakeup of its thread"),
        // one the trace lacks must be covered by a skip the kernel counted, as in
        // `spanning_checks`
        late > 0
            && listed + unlisted as usize == late
            && (unlisted == 0 || counted && unlisted <= misses),
        format!(
            "{listed}/{late} listed ({in_cycle} made late by a suspend cycle (deadline inside it, or the cycle between deadline and wakeup), cause suspend/resume_latency; {held} more late only after their switch-in, interrupted, preempted or frozen as the trace shows; {frozen_first} frozen by a cycle before they armed their timer, which was on time: the report does not show those; {armed_later} armed late by the runtime itself, the timer on time; {not_slept} no sleep, the deadline passed while the thread ran or was frozen before it armed a timer){}",
            if wrong.is_empty() {
                String::new()
            } else {
                format!("; {}; the kernel counted {misses} skipped events of the programs a wakeup needs", wrong.join("; "))
            }
        ),
    ));
    (out, apis_in_cycle)
}

/// How late a logged sleep must be for the report to list it: later than [`LISTED_LATE_NS`] and,
/// where the program logs the sleep it asked (`sleep_ns`, or a runtime's relative sleep,
/// `asked_ns`), than that sleep by as much margin (the report lists a wakeup later than
/// [`LOST_WAKEUP_NS`] and than the sleep: a 400 ms `epoll-pair` wait 160 ms late under a loaded
/// host is not a lost wakeup, as the report says; nor, seen on arm64 6.12 in CI, a 200 ms
/// `asyncio.wait_for` timeout whose thread got the CPU 71 ms after it).
fn listed_late(w: &Wakeup) -> i64 {
    let asked = w.sleep_ns.or(w.asked_ns).unwrap_or(0);
    LISTED_LATE_NS.max(asked + LISTED_LATE_NS - LOST_WAKEUP_NS)
}

/// The tool's wakeup of `w`'s sleep at the kernel's deadline, however late: by `w`'s deadline
/// ([`tool_match`]), or armed after a stall ([`armed_late_any`]). Its requested expiry and
/// lateness.
fn kernel_match(tool: &ToolWakeups, w: &Wakeup, held_off: &HeldOff) -> Option<(i64, ToolWake)> {
    tool_match(tool, w).or_else(|| armed_late_any(tool, w, held_off).map(|a| (a.requested, a.tool)))
}

/// What the tool saw of a sleep it did not list (`kernel`: [`kernel_match`]), for the failure's message: the kernel's
/// deadline it matched, how late it says the task got the CPU, and how many of the task's events
/// the trace holds from then to the program's clock read (none: nothing in the guest explains
/// the rest).
fn tool_view(kernel: Option<(i64, ToolWake)>, w: &Wakeup, held_off: &HeldOff) -> String {
    let Some((requested, t)) = kernel else {
        return "the tool has no wakeup of that thread near it".into();
    };
    let late = t.late + requested - w.deadline_ns;
    let (from, to, on) = HeldOff::window(w, late);
    let events = held_off.by_tid.get(&w.tid).map_or(0, |at| {
        at.iter().filter(|&&x| (from..=to).contains(&on(x))).count()
    });
    format!(
        "the tool: kernel deadline {:+} µs from the program's, task on a CPU {} ms after it{}{}; {events} events holding the task off before its clock read",
        (requested - w.deadline_ns) / 1000,
        t.late / 1_000_000,
        if t.unseen { ", expiry unseen" } else { "" },
        t.ran_in_freezer
            .map(|r| format!(", ran in the freezer {} ms after it", r / 1_000_000))
            .unwrap_or_default(),
    )
}

/// A report from a partial JSON fixture: every field the fixture leaves out takes the model's
/// default, at any depth (array elements and optional objects too), and the model's own
/// Deserialize reads the result. A fixture field the model lacks panics, so a renamed field
/// breaks its fixtures as it breaks the checks.
#[cfg(test)]
pub fn typed(partial: &Value) -> Report {
    use serial_trace::analysis::*;
    /// The default of the element (or optional object) a field named `key` holds.
    fn template(key: &str) -> Option<Value> {
        let v = match key {
            "suspend_cycles" => serde_json::to_value(SuspendCycle::default()),
            "lost_wakeups" => serde_json::to_value(LostWakeup::default()),
            "ports" => serde_json::to_value(PortReport::default()),
            "drops" => serde_json::to_value(DropWindow::default()),
            "readers" => serde_json::to_value(ReaderReport::default()),
            "probes" => serde_json::to_value(ProbeRow::default()),
            "by_task" | "by_callback" => serde_json::to_value(GroupRow::default()),
            "spanning_by_clock" => serde_json::to_value(SpanningClock::default()),
            "phases" => serde_json::to_value(Phase::default()),
            "platform_wakes" => serde_json::to_value(PlatformWake::default()),
            "slowest_devices" => serde_json::to_value(DeviceCallback::default()),
            "wake_source" => serde_json::to_value(WakeSource::default()),
            "system" => serde_json::to_value(serial_trace::trace::SystemSetup::default()),
            "start" | "end" | "delta" | "during_attach" => {
                serde_json::to_value(Counters::default())
            }
            _ => return None,
        };
        Some(v.expect("a model default serializes"))
    }
    fn merge(base: Value, partial: &Value, key: &str) -> Value {
        match (base, partial) {
            // a map (`recursion_misses`, `by_kind`): any keys
            (Value::Object(b), Value::Object(_)) if b.is_empty() => partial.clone(),
            (Value::Object(mut b), Value::Object(p)) => {
                // fields the model leaves out of its JSON while empty (`None`, `[]`, `{}`)
                const OMITTED_WHEN_EMPTY: [&str; 14] = [
                    "system",
                    "recorder_memory",
                    "saved_by",
                    "uart_irq",
                    "ldisc_work",
                    "risks",
                    "setup",
                    "settings_changes",
                    "pid",
                    "tid",
                    "ran_in_freezer_late_ns",
                    "unknown_frame_types",
                    "state_losses",
                    "serial",
                ];
                for (k, v) in p {
                    let field = b.remove(k).unwrap_or_else(|| {
                        assert!(
                            OMITTED_WHEN_EMPTY.contains(&k.as_str()),
                            "fixture field {key}.{k} is not in the model"
                        );
                        Value::Null
                    });
                    b.insert(k.clone(), merge(field, v, k));
                }
                Value::Object(b)
            }
            (_, Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|i| match template(key) {
                        Some(t) if i.is_object() => merge(t, i, key),
                        _ => i.clone(),
                    })
                    .collect(),
            ),
            (Value::Null, Value::Object(_)) => match template(key) {
                Some(t) => merge(t, partial, key),
                None => partial.clone(),
            },
            (_, p) => p.clone(),
        }
    }
    let base = serde_json::to_value(Report::default()).expect("the default report serializes");
    serde_json::from_value(merge(base, partial, "report")).expect("the fixture fits the model")
}

#[cfg(test)]
pub(crate) mod tests {

    #[test]
    fn every_wakeup_placed_unless_counted_skips_cover_it() {
        assert!(placed_check("cyclictest", 0, 0, false).ok);
        assert!(!placed_check("cyclictest", 1, 0, true).ok);
        assert!(placed_check("cyclictest", 1, 1, true).ok);
        assert!(!placed_check("cyclictest", 1, 5, false).ok);
    }

    use super::*;
    use serde_json::json;

    fn flood_report(dropped: i64, received: i64, kernel_bo: i64, method: &str) -> Value {
        json!({
            "ports": [{"name": "ttyS1", "bytes_dropped": dropped, "bytes_received": received,
                       "hw_overruns": 0, "method": method, "coarse": false,
                       "kernel_counters": {"delta": {"buf_overrun": kernel_bo}}}],
            "drops": [{"port": "ttyS1", "bytes": dropped, "cause": "reader_frozen",
                       "chain": "ttyS1: … ← reader pid 812 (cat) frozen … ← pm_test cycle 1"}],
            "readers": [{"port": "ttyS1", "pid": 812, "comm": "cat", "reads": 900,
                         "bytes": received, "blocked_ns_max": 1, "lag_ns_max": 5}],
            "trace": {"recorder_memory": memory(7000, 10000)},
        })
    }

    #[test]
    fn an_events_clock_pair_read_apart_is_found_and_a_suspend_is_not() {
        let pairs = |offsets: &[(i64, i64)]| {
            let dump: String = offsets
                .iter()
                .map(|&(mono, off)| {
                    json!({"kind": "hrtimer_expire_entry", "tid": 0, "mono_ns": mono,
                           "boot_ns": mono + off})
                    .to_string()
                        + "\n"
                })
                .collect();
            clock_pair_check("timers", &HeldOff::from_dump(&dump))
        };
        // a few µs of jitter, then a cycle that slept 3 s: the offset only grew
        assert!(
            pairs(&[
                (10, 2_000),
                (20, 4_000),
                (30, 3_000_001_000),
                (40, 3_000_003_000)
            ])
            .ok
        );
        // out of ring order by a few µs across CPUs: sorted by time first
        assert!(pairs(&[(20, 3_000_000_000), (10, 1_000)]).ok);
        // the first event after a long s2idle idle, its boot clock read 327 µs late (seen on
        // arm64 6.12 under TCG)
        let c = pairs(&[(10, 2_000), (20, 329_000), (30, 2_100)]);
        assert!(
            !c.ok && c.detail.contains("326900") && c.detail.contains(" 20 ns"),
            "{c:?}"
        );
        // a fall within the slack of pairs re-read under TCG (36 µs seen)
        assert!(pairs(&[(10, 37_000), (20, 1_000)]).ok);
    }

    /// The trailer's memory figures with own memory `start` once attached, `max` at most.
    fn memory(start: u64, max: u64) -> Value {
        json!({"setup_peak_kb": 16000, "own_start_kb": start, "own_max_kb": max,
               "own_end_kb": max, "ring_kb": 65544})
    }

    fn flood_facts(read: bool) -> BTreeMap<String, String> {
        let mut f: BTreeMap<String, String> = [("sent", "3000"), ("bo", "400"), ("oe", "0")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if read {
            f.insert("read".into(), "2600".into());
            f.insert("reader_pid".into(), "812".into());
        }
        f
    }

    fn usb_report(received: i64, dropped: i64, throttles: u64, method: &str) -> Value {
        json!({
            "ports": [{"name": "ttyUSB0", "bytes_dropped": dropped, "bytes_received": received,
                       "method": method, "coarse": false, "throttles": throttles,
                       "throttled_ns_max": 4_200_000_000u64, "throttled_ns_total": 4_300_000_000u64,
                       "kernel_counters": {"source": "ioctl", "delta": {"rx": 131072}}}],
            "readers": [{"port": "ttyUSB0", "pid": 640, "comm": "head", "reads": 40,
                         "bytes": 131072}],
        })
    }

    fn usb_facts(held: &str) -> BTreeMap<String, String> {
        [
            ("usb", "up"),
            ("port", "ttyUSB0"),
            ("sent", "131072"),
            ("read", "131072"),
            ("rx", "131072"),
            ("bo", "0"),
            ("held", held),
            ("reader_pid", "640"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// USB-serial: no loss, every byte to the line discipline, the throttling shown; each
    /// difference fails its own check.
    #[test]
    fn usb_serial_checks_hold_flow_control_to_the_kernel() {
        let ok = usb_serial_checks(
            "u",
            &typed(&usb_report(131072, 0, 2, "fexit")),
            &usb_facts("5120"),
            "fexit",
        );
        assert_eq!(ok.len(), 7);
        assert!(ok.iter().all(|c| c.ok), "{ok:#?}");
        let failed = |r: Value, f: BTreeMap<String, String>, method: &str| -> Vec<String> {
            usb_serial_checks("u", &typed(&r), &f, method)
                .into_iter()
                .filter(|c| !c.ok)
                .map(|c| c.name)
                .collect()
        };
        for (received, dropped, throttles, held, fails) in [
            (131072, 3, 2, "5120", "no loss invented"), // an invented drop
            (131071, 0, 2, "5120", "line discipline"),  // a byte not seen reaching it
            (131072, 0, 0, "5120", "throttled"),        // throttling not shown
            (131072, 0, 2, "131072", "throttled"),      // a hold that held nothing back
        ] {
            let f = failed(
                usb_report(received, dropped, throttles, "fexit"),
                usb_facts(held),
                "fexit",
            );
            assert!(f.len() == 1 && f[0].contains(fails), "{f:?}");
        }
        // the port never came up
        let mut down = usb_facts("5120");
        down.insert("usb".into(), "absent".into());
        let f = failed(usb_report(131072, 0, 2, "fexit"), down, "fexit");
        assert!(f.len() == 1 && f[0].contains("came up"), "{f:?}");
    }

    #[test]
    fn serial_checks_pass_on_exact_counts_and_fail_on_any_difference() {
        let ok = serial_checks(
            "f",
            &typed(&flood_report(400, 2600, 400, "fexit")),
            &flood_facts(true),
            "fexit",
        );
        assert_eq!(ok.len(), 8);
        assert!(ok.iter().all(|c| c.ok), "{ok:#?}");
        // the recorder's own memory grew more than 8 MiB, or the trailer does not say
        for m in [memory(7000, 7000 + 8 * 1024 + 1), Value::Null] {
            let mut r = flood_report(400, 2600, 400, "fexit");
            r["trace"]["recorder_memory"] = m;
            let c = serial_checks("f", &typed(&r), &flood_facts(true), "fexit");
            let failed: Vec<&str> = c
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.name.as_str())
                .collect();
            assert!(
                failed.len() == 1 && failed[0].contains("own memory"),
                "{failed:?}"
            );
        }
        // one drop missed by the tool
        let c = serial_checks(
            "f",
            &typed(&flood_report(399, 2600, 400, "fexit")),
            &flood_facts(true),
            "fexit",
        );
        assert!(
            !c.iter()
                .find(|c| c.name.contains("buf_overrun"))
                .unwrap()
                .ok
        );
        assert!(!c.iter().find(|c| c.name.contains("= sent")).unwrap().ok);
        // a byte the tool thinks arrived that the reader never got
        let c = serial_checks(
            "f",
            &typed(&flood_report(400, 2601, 400, "fexit")),
            &flood_facts(true),
            "fexit",
        );
        assert!(!c.iter().find(|c| c.name.contains("= sent")).unwrap().ok);
        // the wrong method
        let c = serial_checks(
            "f",
            &typed(&flood_report(400, 2600, 400, "fexit")),
            &flood_facts(false),
            "kprobe",
        );
        assert!(!c[0].ok);
        assert_eq!(c.len(), 6, "no reader checks without a reader");
        assert!(
            !c.iter().find(|c| c.name.contains("attributed")).unwrap().ok,
            "without a reader the drops must be attributed to no_reader"
        );
        // a drop window blamed on another cause
        let mut r = flood_report(400, 2600, 400, "fexit");
        r["drops"][0]["cause"] = json!("reader_slow");
        let c = serial_checks("f", &typed(&r), &flood_facts(true), "fexit");
        assert!(!c.iter().find(|c| c.name.contains("attributed")).unwrap().ok);
        // kprobes: a difference is accepted only when every missing byte is a counted skipped
        // call of the drop hook (entry and return programs add up) and the report names it
        let mut r = flood_report(397, 2600, 400, "kprobe+kretprobe");
        let name = |c: &[Check]| {
            c.iter()
                .find(|c| c.name.contains("buf_overrun"))
                .unwrap()
                .ok
        };
        r["events"]["recursion_misses"] = json!({"flip_char_kprobe": 2, "flip_kretprobe": 1});
        assert!(
            !name(&serial_checks(
                "f",
                &typed(&r),
                &flood_facts(false),
                "kprobe"
            )),
            "not named"
        );
        r["ports"][0]["disagreements"] = json!(["… the kernel skipped 3 calls …"]);
        assert!(
            name(&serial_checks(
                "f",
                &typed(&r),
                &flood_facts(false),
                "kprobe"
            )),
            "3 missing bytes, 2 + 1 skipped calls counted, named"
        );
        r["events"]["recursion_misses"] = json!({"flip_char_kprobe": 2, "tty_read_kprobe": 9});
        assert!(
            !name(&serial_checks(
                "f",
                &typed(&r),
                &flood_facts(false),
                "kprobe"
            )),
            "3 missing bytes, only 2 skipped calls of the drop hook counted"
        );
        r["events"]["recursion_misses"] = json!({"flip_char_kprobe": 3});
        assert!(
            !name(&serial_checks(
                "f",
                &typed(&r),
                &flood_facts(false),
                "fexit"
            )),
            "fentry must be exact"
        );
    }

    #[test]
    fn renderers_must_carry_the_json_numbers() {
        let report = json!({
            "ports": [{"name": "ttyS1", "bytes_received": 90, "bytes_dropped": 10}],
            "drops": [{"port": "ttyS1", "bytes": 10}],
            "suspend_cycles": [{"silent_after_resume": []}]
        });
        let te = json!({"traceEvents": [
            {"ph": "C", "name": "ttyS1 bytes", "ts": 1.0, "args": {"received": 5, "dropped": 0}},
            {"ph": "C", "name": "ttyS1 bytes", "ts": 9.0, "args": {"received": 90, "dropped": 10}},
            {"ph": "i", "name": "ttyS1: 10 bytes lost", "ts": 5.0, "args": {"chain": "…"}},
            {"ph": "X", "name": "S3 cycle 1", "ts": 2.0, "dur": 1.0}
        ]});
        let html = "<svg></svg><td>90</td><td>10</td>";
        let ok = renderer_checks("f", &typed(&report), html, &te, Some(1));
        assert!(ok.iter().all(|c| c.ok), "{ok:#?}");
        // the gate must fail a run with drops
        assert!(!renderer_checks("f", &typed(&report), html, &te, Some(0))[1].ok);
        // a renderer that lost a number
        assert!(
            !renderer_checks("f", &typed(&report), "<svg></svg><td>90</td>", &te, Some(1))[0].ok
        );
        let mut short = te.clone();
        short["traceEvents"][1]["args"]["dropped"] = json!(9);
        assert!(!renderer_checks("f", &typed(&report), html, &short, Some(1))[0].ok);
        let mut no_cycle = te;
        no_cycle["traceEvents"].as_array_mut().unwrap().pop();
        assert!(!renderer_checks("f", &typed(&report), html, &no_cycle, Some(1))[0].ok);
    }

    #[test]
    fn spanning_timers_checked_by_clock_and_identity() {
        let w = |tid, clock: &str, deadline, mono, boot, late| Wakeup {
            tid,
            clock: clock.into(),
            api: "nanosleep".into(),
            deadline_ns: deadline,
            woke_mono_ns: mono,
            woke_boot_ns: boot,
            late_ns: late,
            asked_boot_minus_mono_ns: None,
            asked_ns: None,
            sleep_ns: None,
        };
        let s = 1_000_000_000i64;
        let wakeups = vec![
            w(5, "monotonic", s, s, s, 10_000),
            // offset jumped by 3 s: across the suspend
            w(5, "monotonic", 2 * s, 2 * s, 5 * s, 20_000),
            w(6, "boottime", 2 * s, 2 * s, 5 * s, 3 * s),
        ];
        // cycle 1 began before both deadlines (the hedge case below moves it)
        let good = good_with_cycle(s, 0);
        assert!(
            spanning_checks(&wakeups, &typed(&good), 0, true)
                .iter()
                .all(|c| c.ok)
        );
        let mut swapped = good.clone();
        swapped["timers"]["spanning_by_clock"][0]["drift"] = json!("fires_at_resume");
        assert!(!spanning_checks(&wakeups, &typed(&swapped), 0, true)[0].ok);
        // the clock stopped after the boottime sleep was due (it fired in the freeze): no
        // boottime timer was pending then, so the report must not say one fired at resume
        let mut fired_before = good.clone();
        fired_before["suspend_cycles"][0]["phases"][0]["begin_boot_ns"] = json!(3 * s);
        assert!(!spanning_checks(&wakeups, &typed(&fired_before), 0, true)[0].ok);
        fired_before["timers"]["spanning_by_clock"][1]["drift"] = json!("no_clock_stopped");
        assert!(spanning_checks(&wakeups, &typed(&fired_before), 0, true)[0].ok);
        let mut wrong_cause = good.clone();
        wrong_cause["lost_wakeups"][1]["cause"] = json!("cpu_contention");
        assert!(!spanning_checks(&wakeups, &typed(&wrong_cause), 5, true)[1].ok);
        let mut unlisted = good;
        unlisted["lost_wakeups"].as_array_mut().unwrap().remove(0);
        assert!(!spanning_checks(&wakeups, &typed(&unlisted), 0, true)[1].ok);
        // a wakeup the kernel skipped (counted) is accounted for; an uncounted one is not
        assert!(spanning_checks(&wakeups, &typed(&unlisted), 1, true)[1].ok);
        assert!(!spanning_checks(&wakeups, &typed(&unlisted), 1, false)[1].ok);
        // an expiry skipped uncounted (5.10), due before the cycle began: the tool's hedge
        // stands, for that cycle only
        let mut hedged = good_with_cycle(s, 2 * s + 10_000);
        hedged["lost_wakeups"][1]["cause"] = json!("expiry_unseen");
        assert!(spanning_checks(&wakeups, &typed(&hedged), 0, false)[1].ok);
        let mut after_start = good_with_cycle(s, 2 * s - 10_000);
        after_start["lost_wakeups"][1]["cause"] = json!("expiry_unseen");
        assert!(!spanning_checks(&wakeups, &typed(&after_start), 0, false)[1].ok);
        let mut no_cycle = hedged.clone();
        no_cycle["lost_wakeups"][1]["suspend_cycle"] = Value::Null;
        assert!(!spanning_checks(&wakeups, &typed(&no_cycle), 0, false)[1].ok);
        // a kernel that counts its skips must have counted one
        assert!(!spanning_checks(&wakeups, &typed(&hedged), 0, true)[1].ok);
        assert!(spanning_checks(&wakeups, &typed(&hedged), 1, true)[1].ok);
    }

    /// A report for `spanning_timers_checked_by_clock_and_identity`: both clocks classified
    /// right, cycle 1 beginning at `start` (boottime), both wakeups listed as lost to it.
    #[test]
    fn a_sleep_a_clockless_cycle_held_only_briefly_need_not_be_listed() {
        let s = 1_000_000_000i64;
        let ms = 1_000_000i64;
        let w = |tid, deadline: i64, late: i64| Wakeup {
            asked_boot_minus_mono_ns: Some(0),
            sleep_ns: Some(10 * ms),
            ..sleeper(tid, "timerfd", deadline, late)
        };
        // a pm_test cycle from 10 s, its thaw at 15 s, no clock stopped
        let report = |listed: &[(u32, i64)]| {
            let lost: Vec<Value> = listed
                .iter()
                .map(|&(tid, due)| {
                    json!({"tid": tid, "expected_mono_ns": due, "expected_boot_ns": due,
                           "cause": "suspend", "suspend_cycle": 1})
                })
                .collect();
            json!({
                "suspend_cycles": [{"index": 1, "machine_suspend": true, "suspended_ns": 0,
                                    "start_mono_ns": 10 * s, "end_mono_ns": 15 * s + 50 * ms,
                                    "phases": [{"name": "thaw_processes",
                                                "begin_mono_ns": 15 * s}]}],
                "lost_wakeups": lost
            })
        };
        // held from 11 s to the thaw; due 1 ms before the thaw, woken 3 ms after it
        let held = w(5, 11 * s, 4 * s + ms);
        let brief = w(6, 15 * s - ms, 4 * ms);
        let wakeups = [held, brief];
        let listing = |r: &Value| spanning_checks(&wakeups, &typed(r), 0, true)[1].clone();
        let only_held = listing(&report(&[(5, 11 * s)]));
        assert!(only_held.ok, "{only_held:?}");
        assert!(
            only_held
                .detail
                .contains("1 more held by a cycle too briefly")
        );
        assert!(listing(&report(&[(5, 11 * s), (6, 15 * s - ms)])).ok);
        // the long hold must be listed
        assert!(!listing(&report(&[])).ok);
        // as must one held as briefly, but later than the sleep it asked
        let mut long_sleep = wakeups.clone();
        long_sleep[1].late_ns = 40 * ms;
        long_sleep[1].woke_mono_ns = long_sleep[1].deadline_ns + 40 * ms;
        long_sleep[1].woke_boot_ns = long_sleep[1].woke_mono_ns;
        assert!(!spanning_checks(&long_sleep, &typed(&report(&[(5, 11 * s)])), 0, true)[1].ok);
    }

    fn good_with_cycle(s: i64, start: i64) -> Value {
        json!({
            "suspend_cycles": [{"index": 1, "machine_suspend": true, "suspended_ns": 3 * s,
                                "start_boot_ns": start,
                                "phases": [{"name": "machine_suspend",
                                            "begin_boot_ns": start + s / 2}]}],
            "timers": {"spanning_by_clock": [
                {"clock": "monotonic", "drift": "suspend_drift", "lateness_ns": {"max": 20_000},
                 "wall_lateness_ns": {"max": 3 * s + 20_000}},
                {"clock": "boottime", "drift": "fires_at_resume", "lateness_ns": {"max": 3 * s},
                 "wall_lateness_ns": {"max": 3 * s}}]},
            "lost_wakeups": [
                {"tid": 5, "expected_mono_ns": 2 * s, "expected_boot_ns": 2 * s,
                 "cause": "suspend", "suspend_cycle": 1},
                {"tid": 6, "expected_boot_ns": 2 * s + 4_000, "cause": "suspend",
                 "suspend_cycle": 1}]
        })
    }

    #[test]
    fn the_system_settings_are_held_to_the_guest_and_the_config() {
        let facts = BTreeMap::from(
            [
                ("clocksource", "tsc"),
                ("mem_sleep", "deep"),
                ("wakeup_enabled", "2"),
                ("unstable_cs_before", "none"),
                ("unstable_cs_after", "tsc"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let config = "CONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_HIGH_RES_TIMERS=y\n";
        let report = |system: Value| typed(&json!({"system": system}));
        let good = json!({
            "clocksource": "tsc", "mem_sleep": "deep", "tick_ns": 4_000_000,
            "monotonic_resolution_ns": 1, "wakeup_devices": ["00:05", "ttyS1"],
            "clocksources_unstable": [],
        });
        assert!(system_setup_check(&report(good.clone()), &facts, config).ok);
        for (k, v) in [
            ("clocksource", json!("hpet")),
            ("tick_ns", json!(10_000_000)),
            ("monotonic_resolution_ns", json!(4_000_000)),
            ("wakeup_devices", json!(["ttyS1"])),
            // one the guest's log never named, or no reading of the log at all
            (
                "clocksources_unstable",
                json!([{"name": "hpet", "reason": "x"}]),
            ),
            ("clocksources_unstable", json!(null)),
        ] {
            let mut bad = good.clone();
            bad[k] = v;
            assert!(!system_setup_check(&report(bad), &facts, config).ok, "{k}");
        }
        assert!(!system_setup_check(&typed(&json!({})), &facts, config).ok);
        // a clocksource marked unstable: the report names the risk, and only then
        let marked = json!([{"name": "tsc", "reason": "clocksource watchdog"}]);
        let with = |unstable: &Value, risks: Value| {
            let mut system = good.clone();
            system["clocksources_unstable"] = unstable.clone();
            typed(&json!({"system": system, "risks": risks}))
        };
        let named = json!([{"rule": "unstable_clocksource", "setting": "tsc"}]);
        assert!(system_setup_check(&with(&marked, named.clone()), &facts, config).ok);
        assert!(!system_setup_check(&with(&marked, json!([])), &facts, config).ok);
        assert!(!system_setup_check(&with(&json!([]), named), &facts, config).ok);
        assert!(
            !system_setup_check(&report(good), &facts, "").ok,
            "no config: no HZ to hold it to"
        );
    }

    #[test]
    fn the_reader_fix_diff_is_held_to_the_kernels_drops() {
        let facts = |bo: &str| {
            BTreeMap::from([
                ("port".to_string(), "ttyS1".to_string()),
                ("bo".to_string(), bo.to_string()),
            ])
        };
        let report = |rx: u64| json!({"ports": [{"name": "ttyS1", "bytes_received": rx}]});
        let diff = |d: (u64, u64), r: (u64, u64)| {
            json!({"ports": {"ttyS1": {
                "bytes_dropped": {"before": d.0, "after": d.1},
                "bytes_received": {"before": r.0, "after": r.1},
            }}})
        };
        let (b, a) = (
            (facts("1340000"), report(660000)),
            (facts("0"), report(2000000)),
        );
        let ok = |d, g, rev| {
            diff_checks(&d, (&b.0, &b.1), (&a.0, &a.1), g, rev)
                .iter()
                .all(|c| c.ok)
        };
        assert!(ok(diff((1340000, 0), (660000, 2000000)), Some(0), Some(1)));
        assert!(!ok(diff((1339999, 0), (660000, 2000000)), Some(0), Some(1)));
        assert!(!ok(diff((1340000, 0), (660000, 1999999)), Some(0), Some(1)));
        assert!(!ok(diff((1340000, 0), (660000, 2000000)), Some(1), Some(1)));
        assert!(!ok(json!({}), Some(0), Some(1)));
    }

    #[test]
    fn the_command_tree_check_wants_the_workloads_threads_and_nobody_else() {
        let arm = |comm: &str, tid: u64| {
            json!({"kind": "hrtimer_start", "comm": comm, "tid": tid, "pid": 7}).to_string() + "\n"
        };
        let mut dump: String = (0..50).map(|i| arm("timer-workload", 7 + i % 3)).collect();
        dump += &arm("sh", 6);
        // the lines about the trace itself are no task's (the failure of 2026-12-05: a clean
        // stop's `end` line counted as an arm outside the tree)
        dump += "{\"kind\":\"end\",\"events_written\":99,\"lost_total\":0}\n";
        assert!(command_tree_check(&dump).ok);
        assert!(!command_tree_check(&(dump.clone() + &arm("rcu_sched", 9))).ok);
        let one_thread: String = (0..50).map(|_| arm("timer-workload", 7)).collect();
        assert!(!command_tree_check(&one_thread).ok);
        assert!(!command_tree_check("serial-trace dump: no such file").ok);
    }

    #[test]
    fn a_restarted_posix_timer_must_stay_its_threads() {
        let posix = json!({"tid": 90, "count": 100});
        let report = |own: u64, restarts: u64| {
            json!({"timers": {"restarts": restarts, "by_task": [
                {"tid": 0, "count": 5}, {"tid": 90, "count": own}]}})
        };
        let ftrace = Some(100);
        assert!(restart_checks(&posix, ftrace, &typed(&report(101, 99)), 0, true)[0].ok);
        // the restarts taken as the interrupted task's: one expiry left in the row
        assert!(!restart_checks(&posix, ftrace, &typed(&report(1, 0)), 0, true)[0].ok);
        // two expiries the kernel skipped in BPF excuse two missing
        assert!(restart_checks(&posix, ftrace, &typed(&report(99, 97)), 2, true)[0].ok);
        assert!(!restart_checks(&json!({}), ftrace, &typed(&report(101, 99)), 0, true)[0].ok);
        // seen on 5.10 under TCG: two late expiries made the kernel skip two periods, so the
        // timer fired 98 times, as ftrace counted; the workload's count says nothing of that
        assert!(restart_checks(&posix, Some(98), &typed(&report(99, 102)), 0, true)[0].ok);
        assert!(!restart_checks(&posix, Some(100), &typed(&report(99, 102)), 0, true)[0].ok);
        // an expiry more than the kernel had is another task's taken as the thread's
        assert!(!restart_checks(&posix, Some(98), &typed(&report(100, 102)), 0, true)[0].ok);
        // seen on 6.1, which does not count its skips: one whole expiry (entry, exit and
        // restart) skipped while another BPF program ran on the CPU: 2 % allowed there, as
        // for every wakeup; where the kernel counts, only what it counted
        assert!(restart_checks(&posix, ftrace, &typed(&report(100, 103)), 0, false)[0].ok);
        assert!(!restart_checks(&posix, ftrace, &typed(&report(100, 103)), 0, true)[0].ok);
        assert!(!restart_checks(&posix, ftrace, &typed(&report(97, 103)), 0, false)[0].ok);
        // without the kernel's count the check cannot pass
        assert!(!restart_checks(&posix, None, &typed(&report(101, 99)), 0, true)[0].ok);
        // a kernel that parks ignored timers: no restart may be seen
        let parked = |restarts: u64| {
            json!({"kernel": {"release": "6.18.44-fc"}, "timers": {"restarts": restarts,
                   "by_task": [{"tid": 90, "count": 2}]}})
        };
        assert!(restart_checks(&posix, Some(1), &typed(&parked(0)), 0, true)[0].ok);
        assert!(!restart_checks(&posix, Some(1), &typed(&parked(3)), 0, true)[0].ok);
    }

    /// Seen on 5.10: an epoll-pair waiter's first wakeup after resume, on a deadline the
    /// other thread armed after thaw, follows a wakeup before the suspend. The sleep was asked
    /// after the suspend: not across it.
    #[test]
    fn a_sleep_asked_after_the_suspend_does_not_span_it() {
        let s = 1_000_000_000i64;
        let w = |deadline, boot, asked| Wakeup {
            tid: 7,
            clock: "monotonic".into(),
            api: "epoll-pair".into(),
            deadline_ns: deadline,
            woke_mono_ns: deadline + 1_000,
            woke_boot_ns: boot,
            late_ns: 1_000,
            asked_boot_minus_mono_ns: asked,
            asked_ns: None,
            sleep_ns: None,
        };
        let logged = [w(s, s, Some(0)), w(2 * s, 5 * s, Some(3 * s))];
        assert_eq!(spanning(&logged, &[]), [false, false]);
        let across = [w(s, s, Some(0)), w(2 * s, 5 * s, Some(0))];
        assert_eq!(spanning(&across, &[]), [false, true]);
        // without the asked offset, the previous wakeup's stands in
        let unlogged = [w(s, s, None), w(2 * s, 5 * s, None)];
        assert_eq!(spanning(&unlogged, &[]), [false, true]);
    }

    /// Seen on arm64 `virt` (6.12): s2idle stops no clock, so a monotonic sleep whose deadline
    /// fell in the cycle shows no offset jump; only the cycle's window says it spanned it.
    #[test]
    fn a_deadline_inside_a_cycle_that_stopped_no_clock_spans_it() {
        let s = 1_000_000_000i64;
        let w = |deadline: i64, late: i64| Wakeup {
            tid: 7,
            clock: "monotonic".into(),
            api: "timerfd".into(),
            deadline_ns: deadline,
            woke_mono_ns: deadline + late,
            woke_boot_ns: deadline + late,
            late_ns: late,
            asked_boot_minus_mono_ns: Some(0),
            asked_ns: None,
            sleep_ns: None,
        };
        // before the cycle, inside it (woken at its end), after it
        let log = [w(2 * s, 1_000), w(4 * s, 3 * s), w(8 * s, 1_000)];
        assert_eq!(spanning(&log, &[]), [false, false, false]);
        assert_eq!(spanning(&log, &[(3 * s, 7 * s)]), [false, true, false]);
    }

    fn cycle(real: bool, suspended: u64) -> Value {
        json!({"index": 1, "machine_suspend": real, "complete": true, "suspended_ns": suspended,
               "start_mono_ns": 0, "end_mono_ns": 900_000_000u64, "resume_ns": 30_000_000u64,
               "device_callbacks": 3,
               "slowest_devices": [{"device": "00:05", "driver": "rtc_cmos", "duration_ns": 9},
                                   {"device": "serio0", "driver": "i8042", "duration_ns": 4}],
               "wake_source": if real { json!({"kind": "rtc_alarm", "detail": "RTC"}) } else { Value::Null },
               "silent_after_resume": [], "after_resume_window_ns": 2_000_000_000u64,
               "phases": [{"name": "suspend_enter", "end_mono_ns": 5},
                          {"name": "dpm_suspend", "end_mono_ns": 9}]})
    }

    fn report(cycles: Vec<Value>) -> Value {
        json!({"trace": {"end": "clean", "stopped_by": "signal"},
               "events": {"lost": 0, "lost_complete": true, "total": 10},
               "suspend_cycles": cycles})
    }

    fn facts_of(s3: i64, pmt: i64) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("s3_cycles".into(), s3.to_string()),
            ("pm_test_cycles".into(), pmt.to_string()),
            ("recorder_rc".into(), "0".into()),
        ])
    }

    /// The guest's reading of the kernel's clocks decides an S3 cycle's time suspended, not
    /// the RTC alarm's +3 s (seen on 6.12: 0.97 s injected by the CMOS clock).
    #[test]
    fn time_suspended_is_held_to_the_kernels_clocks_as_the_guest_read_them() {
        let run = |suspended: u64, asleep: Option<&str>| {
            let mut facts = facts_of(1, 1);
            if let Some(a) = asleep {
                facts.insert("asleep_ns".into(), a.into());
            }
            let cycles = vec![cycle(false, 0), cycle(true, suspended)];
            let c = scenario_checks("s", &typed(&report(cycles)), &facts);
            c.into_iter()
                .find(|c| c.name.contains("time suspended"))
                .unwrap()
        };
        assert!(run(970_938_040, Some("970938040")).ok);
        assert!(
            run(970_938_040, Some("970940000")).ok,
            "clocks read µs apart"
        );
        let off = run(970_938_040, Some("1970938040"));
        assert!(!off.ok && off.detail.contains("1970938040"), "{off:?}");
        // an S3 cycle that stopped no clock, even if the guest agrees
        assert!(!run(0, Some("0")).ok);
        // runs saved before the guest read its clocks: the alarm's rule
        assert!(!run(970_938_040, None).ok);
        assert!(run(2_000_000_000, None).ok);
    }

    #[test]
    fn a_kill_must_keep_every_drop() {
        let facts: BTreeMap<String, String> =
            [("killed_rc", "137"), ("bo", "190000"), ("sent", "1500000")]
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
        let report = |dropped: u64, stopped: Value| {
            json!({"trace": {"end": "clean", "stopped_by": stopped},
                   "events": {"lost": 0, "total": 9},
                   "ports": [{"name": "ttyS1", "bytes_dropped": dropped}]})
        };
        let c = killed_checks("k", &typed(&report(190_000, Value::Null)), &facts, "fexit");
        assert!(c.iter().all(|c| c.ok), "{c:#?}");
        // the last drop run lost with the kill
        let c = killed_checks("k", &typed(&report(189_352, Value::Null)), &facts, "fexit");
        assert!(!c[1].ok);
        // not killed after all
        let c = killed_checks(
            "k",
            &typed(&report(190_000, json!("signal"))),
            &facts,
            "fexit",
        );
        assert!(!c[0].ok);
    }

    #[test]
    fn s2idle_is_checked_by_kind_and_wake() {
        let mut cy = cycle(true, 0);
        cy["state"] = json!("s2idle");
        cy["platform_entries"] = json!(2);
        cy["platform_wakes"] = json!([
            {"entered_boot_ns": 1, "exited_boot_ns": 2, "evidence": null},
            {"entered_boot_ns": 3, "exited_boot_ns": 4, "evidence": "wakeup source ttyS1"}]);
        cy["wake_source"] = json!({"kind": "wakeup_source", "detail": "wakeup source ttyS1 (tty)"});
        // the wake byte, its interrupt handled once the devices resumed
        let row = |port: &str, asleep: u64, resuming: u64| {
            json!({"port": port, "received_suspending": 0, "received_asleep": asleep,
                   "received_resuming": resuming, "dropped": 0})
        };
        cy["serial"] = json!([row("ttyS1", 0, 1)]);
        let mut facts = facts_of(0, 0);
        for (k, v) in [("s2idle_cycles", "1"), ("wake_irq", "3"), ("uart_irq", "3")] {
            facts.insert(k.into(), v.into());
        }
        let named = |c: &[Check], n: &str| c.iter().find(|c| c.name.contains(n)).unwrap().ok;
        let c = scenario_checks("s", &typed(&report(vec![cy.clone()])), &facts);
        assert!(c.iter().all(|c| c.ok), "{c:#?}");
        // reported as S3 (the kind from machine_suspend alone)
        let mut as_s3 = cy.clone();
        as_s3["state"] = json!("mem");
        let c = scenario_checks("s", &typed(&report(vec![as_s3])), &facts);
        assert!(!named(&c, "reported = performed"));
        // no byte counted on the port in the cycle: the report missed what woke it
        let mut no_byte = cy.clone();
        no_byte["serial"] = json!([row("ttyS0", 5, 0)]);
        let c = scenario_checks("s", &typed(&report(vec![no_byte])), &facts);
        assert!(!named(&c, "s2idle cycles"));
        // a loop not counted, or another wake source
        // the wakeup source not traced: the kernel's wake IRQ must be the UART's
        let mut by_irq = cy.clone();
        by_irq["platform_wakes"][1]["evidence"] = Value::Null;
        by_irq["wake_source"] =
            json!({"kind": "irq", "detail": "irq 3 (/sys/power/pm_wakeup_irq)"});
        let c = scenario_checks("s", &typed(&report(vec![by_irq.clone()])), &facts);
        assert!(named(&c, "s2idle cycles"), "{c:#?}");
        by_irq["wake_source"]["detail"] = json!("irq 4 (/sys/power/pm_wakeup_irq)");
        let c = scenario_checks("s", &typed(&report(vec![by_irq])), &facts);
        assert!(!named(&c, "s2idle cycles"));
        let mut loops = cy.clone();
        loops["platform_entries"] = json!(1);
        let c = scenario_checks("s", &typed(&report(vec![loops])), &facts);
        assert!(!named(&c, "s2idle cycles"));
        facts.insert("wake_irq".into(), "9".into());
        let c = scenario_checks("s", &typed(&report(vec![cy])), &facts);
        assert!(!named(&c, "s2idle cycles"));
    }

    #[test]
    fn good_run_passes() {
        let r = report(vec![cycle(true, 2_500_000_000), cycle(false, 1000)]);
        let c = scenario_checks("s", &typed(&r), &facts_of(1, 1));
        assert!(c.iter().all(|c| c.ok), "{c:#?}");
    }

    #[test]
    fn breakages_fail_their_named_check() {
        // boottime stamp dropped: nothing looks suspended
        let r = report(vec![cycle(true, 0)]);
        let c = scenario_checks("s", &typed(&r), &facts_of(1, 0));
        assert!(
            !c.iter()
                .find(|c| c.name.contains("time suspended"))
                .unwrap()
                .ok
        );
        // a cycle lost
        let c = scenario_checks("s", &typed(&report(vec![])), &facts_of(1, 0));
        assert!(
            !c.iter()
                .find(|c| c.name.contains("reported = performed"))
                .unwrap()
                .ok
        );
        // woken by something else than the harness's RTC alarm; devices out of order; no resume
        for (key, val, name) in [
            (
                "wake_source",
                json!({"kind": "wakeup_source"}),
                "woken by the RTC",
            ),
            (
                "slowest_devices",
                json!([{"duration_ns": 1}, {"duration_ns": 5}]),
                "slowest first",
            ),
            ("resume_ns", Value::Null, "resume time"),
        ] {
            let mut cy = cycle(true, 2_000_000_000);
            cy[key] = val;
            let c = scenario_checks("s", &typed(&report(vec![cy])), &facts_of(1, 0));
            assert!(
                !c.iter().find(|c| c.name.contains(name)).unwrap().ok,
                "{name}"
            );
        }
        // a phase end lost
        let mut cy = cycle(true, 2_000_000_000);
        cy["phases"][0]["end_mono_ns"] = Value::Null;
        let c = scenario_checks("s", &typed(&report(vec![cy])), &facts_of(1, 0));
        assert!(
            !c.iter()
                .find(|c| c.name.contains("phases paired"))
                .unwrap()
                .ok
        );
        // a probe died after resume
        let mut cy = cycle(true, 2_000_000_000);
        cy["silent_after_resume"] = json!(["timer:hrtimer_start"]);
        let c = scenario_checks("s", &typed(&report(vec![cy])), &facts_of(1, 0));
        assert!(
            !c.iter()
                .find(|c| c.name.contains("after each resume"))
                .unwrap()
                .ok
        );
    }

    #[test]
    fn wakeups_are_matched_by_tid_and_deadline() {
        let tool = tool_lateness(
            &json!({"tid": 7, "clock": "boottime", "requested_ns": 100, "timer_late_ns": 50,
                    "wake_late_ns": 3070, "frozen": true, "wake_boot_ns": 1})
            .to_string(),
        );
        assert_eq!(tool[&(7, 100)], 3070.into());
        let w = |late: i64| Wakeup {
            tid: 7,
            clock: "monotonic".into(),
            api: "nanosleep".into(),
            deadline_ns: 100,
            woke_mono_ns: 0,
            woke_boot_ns: 0,
            late_ns: late,
            asked_boot_minus_mono_ns: None,
            asked_ns: None,
            sleep_ns: None,
        };
        let c = timer_checks(&[w(900_000)], &tool, &HeldOff::default(), 0, true);
        assert!(c[0].ok && c[2].ok, "{c:#?}");
        let c = timer_checks(&[w(2_100_000)], &tool, &HeldOff::default(), 0, true);
        assert!(!c[2].ok, "{c:#?}");
        // a wakeup the tool takes at thaw, naming the moment its task had the CPU inside the
        // freezer: the program's clock read decides which, and matches neither → rejected
        let caught = tool_lateness(
            &json!({"tid": 7, "clock": "monotonic", "requested_ns": 100, "timer_late_ns": 50,
                    "wake_late_ns": 193_864_930, "frozen": true, "wake_boot_ns": 1,
                    "ran_in_freezer_late_ns": 384_000})
            .to_string(),
        );
        assert_eq!(
            tool_wakeup(&caught, &w(535_110), &HeldOff::default()),
            Some(384_000)
        );
        assert_eq!(
            tool_wakeup(&caught, &w(193_000_000), &HeldOff::default()),
            Some(193_864_930)
        );
        let c = timer_checks(&[w(535_110)], &caught, &HeldOff::default(), 0, true);
        assert!(c[2].ok, "{c:#?}");
        let c = timer_checks(&[w(60_000_000)], &caught, &HeldOff::default(), 0, true);
        assert!(!c[2].ok, "{c:#?}");
        // a wakeup whose expiry the trace lacks: the tool names the latest moment, and the
        // program's clock read must come between the deadline and it (seen on 5.10: the
        // program 7.7 ms late, the task's next sign 132 ms after the deadline)
        let unseen = tool_lateness(
            &json!({"tid": 7, "clock": "monotonic", "requested_ns": 100, "timer_late_ns": 0,
                    "wake_late_ns": 132_639_340, "frozen": true, "wake_boot_ns": 1,
                    "expiry_unseen": true})
            .to_string(),
        );
        let c = timer_checks(&[w(7_730_740)], &unseen, &HeldOff::default(), 0, true);
        assert!(c[2].ok, "{c:#?}");
        let c = timer_checks(&[w(160_000_000)], &unseen, &HeldOff::default(), 0, true);
        assert!(!c[2].ok, "later than the latest moment: {c:#?}");
        // a runtime's wakeup with no timer at all: its thread ran past the deadline without
        // arming one after its clock read (asyncio polled with timeout 0), so it never slept;
        // with an arm in between it slept, and the trace lacks that sleep
        let busy = Wakeup {
            asked_ns: Some(10_000_000),
            sleep_ns: None,
            deadline_ns: 1_010_000_000,
            woke_mono_ns: 1_015_700_000,
            late_ns: 5_700_000,
            ..w(0)
        };
        let ran =
            |arm_at: Option<i64>| {
                let mut ev = vec![json!({"kind": "hrtimer_expire_entry", "tid": 7,
                                     "mono_ns": 1_012_400_000i64, "boot_ns": 1_012_400_000i64})];
                ev.extend(arm_at.map(
                    |t| json!({"kind": "hrtimer_start", "tid": 7, "mono_ns": t, "boot_ns": t}),
                ));
                HeldOff::from_dump(&ev.iter().map(|e| e.to_string() + "\n").collect::<String>())
            };
        let c = timer_checks(std::slice::from_ref(&busy), &tool, &ran(None), 0, true);
        assert!(c[0].ok, "{c:#?}");
        let c = timer_checks(
            std::slice::from_ref(&busy),
            &tool,
            &ran(Some(1_001_000_000)),
            0,
            true,
        );
        assert!(!c[0].ok, "{c:#?}");
        let c = timer_checks(&[busy], &tool, &HeldOff::default(), 0, true);
        assert!(!c[0].ok, "not seen running after the deadline: {c:#?}");
        // a wakeup the trace does not have
        let mut lone = w(0);
        lone.deadline_ns = 999;
        assert!(!timer_checks(&[lone], &tool, &HeldOff::default(), 0, true)[0].ok);
        // … unless the kernel counted a skipped event of a program the wakeup needs
        let mut lone = w(0);
        lone.deadline_ns = 999;
        let mut log: Vec<Wakeup> = (0..10).map(|_| w(900_000)).collect();
        log.push(lone);
        assert!(timer_checks(&log, &tool, &HeldOff::default(), 1, true)[0].ok);
        let mut lone = w(0);
        lone.deadline_ns = 999;
        assert!(
            !timer_checks(&[lone], &tool, &HeldOff::default(), 0, false)[0].ok,
            "uncounted: 1 of 1 > 2 %"
        );
    }

    /// An `epoll_wait` timeout's kernel deadline is the kernel's clock read + the timeout: an
    /// interrupt between the program's read and the call moves it later (seen on 6.12 under
    /// TCG: a 2.5 ms expiry handler in the thread's context, the kernel's deadline 2.7 ms
    /// after the logged one). With the timeout logged, the thread's tool deadline inside that
    /// sleep matches; without it, only ±2 ms does; the next sleep's never does.
    #[test]
    fn an_epoll_timeout_armed_after_a_stall_matches_within_its_own_timeout() {
        let w = Wakeup {
            tid: 218,
            clock: "monotonic".into(),
            api: "epoll-timeout".into(),
            deadline_ns: 20_865_086_119,
            woke_mono_ns: 20_872_521_015,
            woke_boot_ns: 27_834_380_370,
            late_ns: 7_433_203,
            asked_boot_minus_mono_ns: None,
            asked_ns: Some(200_000_000),
            sleep_ns: None,
        };
        let tool: ToolWakeups = HashMap::from([
            ((218, 20_867_782_197), 4_120_027.into()),
            ((218, 21_072_547_524), 623_558.into()),
        ]);
        let held = HeldOff::default();
        assert_eq!(tool_wakeup(&tool, &w, &held), Some(2_696_078 + 4_120_027));
        let unlogged = Wakeup {
            asked_ns: None,
            sleep_ns: None,
            ..w.clone()
        };
        assert_eq!(tool_wakeup(&tool, &unlogged, &held), None);
        let next_only: ToolWakeups = HashMap::from([((218, 21_072_547_524), 623_558.into())]);
        assert_eq!(tool_wakeup(&next_only, &w, &held), None);
    }

    #[test]
    fn a_workload_later_than_the_switch_in_is_no_stall_only_when_the_trace_shows_why() {
        // switched in 0.6 ms after its deadline, then an interrupt and a preemption: the
        // workload read its clock 21 ms after the deadline (seen on 5.10 under TCG)
        let w = Wakeup {
            tid: 141,
            clock: "monotonic".into(),
            api: "nanosleep".into(),
            deadline_ns: 1_000_000_000,
            woke_mono_ns: 1_021_269_090,
            woke_boot_ns: 3_021_269_090,
            late_ns: 21_269_090,
            asked_boot_minus_mono_ns: None,
            asked_ns: None,
            sleep_ns: None,
        };
        // nine more that agree keep the share above the TCG floor: only the stall decides
        let agreeing = (1..10).map(|i| Wakeup {
            deadline_ns: i,
            late_ns: 500_000,
            ..w.clone()
        });
        let log: Vec<Wakeup> = agreeing.clone().chain([w.clone()]).collect();
        let mut tool: ToolWakeups = (1..10).map(|i| ((141, i), 500_000.into())).collect();
        tool.insert((141, 1_000_000_000), 585_130.into());
        let dump = |kind: &str, mono: i64, prev_state: u64| {
            json!({"kind": kind, "tid": 141, "mono_ns": mono, "boot_ns": mono + 2_000_000_000,
                   "prev_state": prev_state})
            .to_string()
        };
        let stalls = |held: &HeldOff| timer_checks(&log, &tool, held, 0, true)[2].ok;
        assert!(!stalls(&HeldOff::default()), "no evidence: a stall");
        let preempted = HeldOff::from_dump(&dump("sched_switch", 1_015_000_000, 0));
        assert!(stalls(&preempted));
        let interrupted = HeldOff::from_dump(&dump("hrtimer_expire_entry", 1_007_000_000, 0));
        assert!(stalls(&interrupted));
        // going to sleep is no preemption; an interruption outside the window proves nothing
        assert!(!stalls(&HeldOff::from_dump(&dump(
            "sched_switch",
            1_015_000_000,
            1
        ))));
        assert!(!stalls(&HeldOff::from_dump(&dump(
            "hrtimer_expire_entry",
            1_030_000_000,
            0
        ))));
        // … but going to sleep again after arming a timer of its own since the switch-in is
        // (a runtime's timed lock wait: CPython's GIL, seen on 6.12)
        let relocked = [
            json!({"kind": "sched_switch", "tid": 0, "next_pid": 141, "prev_state": 0,
                   "mono_ns": 1_000_585_130i64, "boot_ns": 3_000_585_130i64}),
            json!({"kind": "hrtimer_start", "tid": 141, "mono_ns": 1_000_900_000i64,
                   "boot_ns": 3_000_900_000i64}),
            json!({"kind": "sched_switch", "tid": 141, "next_pid": 0, "prev_state": 1,
                   "mono_ns": 1_001_000_000i64, "boot_ns": 3_001_000_000i64}),
        ];
        let lines = |v: &[Value]| v.iter().map(|e| e.to_string() + "\n").collect::<String>();
        assert!(stalls(&HeldOff::from_dump(&lines(&relocked))));
        // an arm before the switch-in (the sleep's own) is not the task running on after it
        let armed_before = [
            json!({"kind": "hrtimer_start", "tid": 141, "mono_ns": 990_000_000i64,
                   "boot_ns": 2_990_000_000i64}),
            relocked[0].clone(),
            relocked[2].clone(),
        ];
        assert!(!stalls(&HeldOff::from_dump(&lines(&armed_before))));
        // the switch-out to sleep not recorded, the switch-in after the arm is (seen on 5.10)
        let switched_in_again = [
            relocked[0].clone(),
            relocked[1].clone(),
            json!({"kind": "sched_switch", "tid": 0, "next_pid": 141, "prev_state": 0,
                   "mono_ns": 1_020_000_000i64, "boot_ns": 3_020_000_000i64}),
        ];
        assert!(stalls(&HeldOff::from_dump(&lines(&switched_in_again))));
        // the tool later than the workload is never explained by the workload's delays
        let mut late_tool = tool.clone();
        late_tool.insert((141, 1_000_000_000), 45_000_000.into());
        assert!(!timer_checks(&log, &late_tool, &preempted, 0, true)[2].ok);
    }

    #[test]
    fn wakeups_across_the_suspend() {
        // a monotonic sleeper: its second wakeup comes after 3 s suspended (offset jump)
        let w = |deadline: i64, offset: i64, late: i64| Wakeup {
            tid: 9,
            clock: "monotonic".into(),
            api: "timerfd".into(),
            deadline_ns: deadline,
            woke_mono_ns: deadline + late,
            woke_boot_ns: deadline + late + offset,
            late_ns: late,
            asked_boot_minus_mono_ns: None,
            asked_ns: None,
            sleep_ns: None,
        };
        let log = [w(100, 0, 50_000), w(200, 3_000_000_000, 23_658_963)];
        let tool =
            |across: i64| HashMap::from([((9, 100), 50_000.into()), ((9, 200), across.into())]);
        // a 3.3 ms TCG stall after the switch-in: accepted
        let c = timer_checks(&log, &tool(20_392_825), &HeldOff::default(), 0, true);
        assert!(c[1].ok, "{c:#?}");
        // a tool that ignored the freezer (only the timer's own lateness): rejected
        let c = timer_checks(&log, &tool(130_000), &HeldOff::default(), 0, true);
        assert!(!c[1].ok, "{c:#?}");
        // seen on 6.1: the task interrupted by an expiry handler in its context after the
        // switch-in, the workload 6.6 ms later than the tool: accepted with that evidence only
        let interrupted = HeldOff::from_dump(
            &json!({"kind": "hrtimer_expire_entry", "tid": 9, "mono_ns": 200 + 18_000_000,
                    "boot_ns": 3_000_000_200i64 + 18_000_000, "prev_state": 0})
            .to_string(),
        );
        let c = timer_checks(&log, &tool(17_000_000), &HeldOff::default(), 0, true);
        assert!(!c[1].ok, "{c:#?}");
        let c = timer_checks(&log, &tool(17_000_000), &interrupted, 0, true);
        assert!(c[1].ok, "{c:#?}");
        // … but never by more than an ordinary stall: a tool that missed the freeze
        let c = timer_checks(&log, &tool(130_000), &interrupted, 0, true);
        assert!(!c[1].ok, "{c:#?}");
    }

    #[test]
    fn timed_waits_after_the_switch_in_are_the_programs_own() {
        // seen in CI on 6.12: CPython's time.sleep across an S3 cycle, own 132.9 ms, the
        // tool's switch-in 125.9 ms: after it, the thread waited for the GIL in 5 ms timed
        // waits that the GIL's release ended early (each an arm and a cancel in the trace)
        let w = Wakeup {
            tid: 9,
            clock: "monotonic".into(),
            api: "python-time-sleep".into(),
            deadline_ns: 1_000_000_000,
            woke_mono_ns: 1_132_874_852,
            woke_boot_ns: 4_132_874_852,
            late_ns: 132_874_852,
            asked_boot_minus_mono_ns: Some(0),
            asked_ns: None,
            sleep_ns: None,
        };
        let tool: ToolWakeups = HashMap::from([((9, 1_000_000_000), 125_894_094.into())]);
        const SLEEPER: u64 = 0xffff_ffff_8efa_44c0;
        let wait = |timer: u64, function: u64, from: i64, to: i64, end: &str| {
            [
                json!({"kind": "hrtimer_start", "tid": 9, "hrtimer": timer, "function": function,
                       "mono_ns": from, "boot_ns": from + 3_000_000_000i64}),
                json!({"kind": end, "tid": if end == "hrtimer_cancel" { 9 } else { 0 },
                       "hrtimer": timer, "mono_ns": to, "boot_ns": to + 3_000_000_000i64}),
            ]
        };
        let dump = |waits: &[[Value; 2]]| {
            let mut lines: Vec<String> = waits.iter().flatten().map(|e| e.to_string()).collect();
            // the recorder names a callback after the events that carry its address
            lines.push(
                json!({"kind": "symbol", "addr": SLEEPER, "name": "hrtimer_wakeup"}).to_string(),
            );
            lines.join("\n")
        };
        let switch_in = 1_125_894_094;
        let agree =
            |held: &HeldOff| timer_checks(std::slice::from_ref(&w), &tool, held, 0, true)[1].ok;
        assert!(!agree(&HeldOff::default()), "7 ms unexplained");
        let gil = [
            wait(
                0x10,
                SLEEPER,
                switch_in + 100_000,
                switch_in + 3_300_000,
                "hrtimer_cancel",
            ),
            wait(
                0x20,
                SLEEPER,
                switch_in + 3_400_000,
                switch_in + 6_700_000,
                "hrtimer_cancel",
            ),
        ];
        assert!(agree(&HeldOff::from_dump(&dump(&gil))));
        // a wait that timed out ends at its expiry, in another task's context
        let timed_out = [
            gil[0].clone(),
            wait(
                0x20,
                SLEEPER,
                switch_in + 3_400_000,
                switch_in + 6_700_000,
                "hrtimer_expire_entry",
            ),
        ];
        assert!(agree(&HeldOff::from_dump(&dump(&timed_out))));
        // waits of other timers are no sleep (a timerfd re-armed while running), nor is the
        // sleep the tool's switch-in ended: armed before it
        let not_waits = [
            wait(
                0x10,
                0xffff_ffff_8efa_0000,
                switch_in + 100_000,
                switch_in + 6_700_000,
                "hrtimer_cancel",
            ),
            wait(
                0x20,
                SLEEPER,
                switch_in - 7_000_000,
                switch_in + 6_700_000,
                "hrtimer_cancel",
            ),
        ];
        assert!(!agree(&HeldOff::from_dump(&dump(&not_waits))));
        // 0.1 ms of waits leaves 6.9 ms unexplained, over 5 % of 132.9 ms
        let short = [wait(
            0x10,
            SLEEPER,
            switch_in + 100_000,
            switch_in + 200_000,
            "hrtimer_cancel",
        )];
        assert!(!agree(&HeldOff::from_dump(&dump(&short))));
        // the waits never make the tool's lateness exceed the program's
        let early: ToolWakeups = HashMap::from([((9, 1_000_000_000), 131_000_000.into())]);
        let c = timer_checks(
            std::slice::from_ref(&w),
            &early,
            &HeldOff::from_dump(&dump(&gil)),
            0,
            true,
        );
        assert!(c[1].ok, "{c:#?}");
    }
    /// One logged monotonic wakeup for the listing checks.
    pub(crate) fn sleeper(tid: u32, api: &str, deadline: i64, late: i64) -> Wakeup {
        Wakeup {
            tid,
            clock: "monotonic".into(),
            api: api.into(),
            deadline_ns: deadline,
            woke_mono_ns: deadline + late,
            woke_boot_ns: deadline + late,
            late_ns: late,
            asked_boot_minus_mono_ns: None,
            asked_ns: None,
            sleep_ns: None,
        }
    }

    /// The listing check of [`late_sleep_checks`] on `log`, the tool's wakeups and its report.
    fn listing(log: &[Wakeup], tool: &ToolWakeups, held_off: &HeldOff, report: &Value) -> Check {
        let ev = TimerEvidence {
            tool,
            held_off,
            misses: 0,
            counted: true,
        };
        late_sleep_checks("s", log, &ev, &typed(report))
            .0
            .into_iter()
            .find(|c| c.name.contains("listed as a lost wakeup"))
            .expect("the listing check")
    }

    #[test]
    fn a_sleep_due_in_a_clockless_cycle_spans_it_only_if_the_thaw_woke_it() {
        // arm64 s2idle, no clock stopped: the cycle began at 10 s, the thaw at 13 s
        let clockless = [(10_000_000_000, 13_000_000_000)];
        // due 2.2 ms into the cycle, before the freezer reached its task: 1 ms late (seen on
        // arm64 6.12), and one held until the thaw
        let early = sleeper(5, "nanosleep", 10_002_200_000, 1_000_000);
        let held = sleeper(6, "nanosleep", 10_002_200_000, 2_998_000_000);
        // due 3.4 ms before the cycle, its task frozen before it ran: held until the thaw
        // (seen on arm64 5.10); and one due and woken before the cycle
        let frozen_first = sleeper(7, "nanosleep", 9_996_600_000, 3_004_000_000);
        let before = sleeper(8, "nanosleep", 9_990_000_000, 500_000);
        assert_eq!(
            spanning(&[early, held, frozen_first, before], &clockless),
            [false, true, true, false]
        );
    }

    #[test]
    fn a_long_sleep_must_be_listed_only_when_later_than_the_sleep_itself() {
        const CYCLE: (i64, i64) = (10_000_000_000, 13_000_000_000);
        // a 10 ms sleep due inside the cycle, 3 s late, listed
        let across = sleeper(5, "nanosleep", 11_000_000_000, 2_000_000_000);
        let mut tool: ToolWakeups = [((5, 11_000_000_000), 2_000_000_000.into())].into();
        let report = json!({
            "suspend_cycles": [{"start_mono_ns": CYCLE.0, "end_mono_ns": CYCLE.1}],
            "lost_wakeups": [{"tid": 5, "expected_mono_ns": 11_000_000_000i64, "cause": "suspend"}],
        });
        // a cross-thread timerfd's 400 ms wait, 160 ms late on a loaded host: the tool agrees
        // and, as it says, lists only wakeups later than the sleep itself
        let mut pair = sleeper(6, "epoll-pair", 20_000_000_000, 160_000_000);
        tool.insert((6, 20_000_000_000), 160_000_000.into());
        pair.sleep_ns = Some(400_000_000);
        let held = HeldOff::default();
        let c = listing(&[across.clone(), pair.clone()], &tool, &held, &report);
        assert!(c.ok, "{c:#?}");
        // without the sleep logged it must be listed, and the failure says what the tool saw
        pair.sleep_ns = None;
        let c = listing(&[across.clone(), pair.clone()], &tool, &held, &report);
        assert!(!c.ok, "{c:#?}");
        assert!(
            c.detail.contains("task on a CPU 160 ms after it")
                && c.detail.contains("0 events holding the task off"),
            "{}",
            c.detail
        );
        // 10 ms later than its 400 ms sleep: must be listed
        pair.sleep_ns = Some(400_000_000);
        pair.late_ns = 410_000_000;
        pair.woke_mono_ns = pair.deadline_ns + pair.late_ns;
        tool.insert((6, 20_000_000_000), 410_000_000.into());
        assert!(!listing(&[across, pair], &tool, &held, &report).ok);
    }

    #[test]
    fn a_sleep_armed_late_is_found_listed_at_the_kernels_deadline() {
        // an epoll_wait timeout of 10 ms whose arm came 12 ms after the program's clock read
        // (a stall in between), its timer then 22 ms late: the program saw 34 ms, the report
        // lists it 22 ms late at the kernel's deadline, outside the program's window
        let read_at = 30_000_000_000;
        let mut w = sleeper(7, "epoll-timeout", read_at + 10_000_000, 34_000_000);
        w.asked_ns = Some(10_000_000);
        let kernel = read_at + 12_000_000 + 10_000_000;
        let tool: ToolWakeups = [((7, kernel), 22_000_000.into())].into();
        let mut held = HeldOff::default();
        held.arms.insert(7, vec![Arm::at(read_at + 12_000_000)]);
        let listed = json!({"lost_wakeups": [{"tid": 7, "expected_mono_ns": kernel, "cause": "timer_late"}]});
        assert!(listing(&[w.clone()], &tool, &held, &listed).ok);
        // not listed at all: fails
        let not = json!({"lost_wakeups": [{"tid": 7, "expected_mono_ns": kernel + 50_000_000, "cause": "timer_late"}]});
        assert!(!listing(&[w], &tool, &held, &not).ok);
    }
}
