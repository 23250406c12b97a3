//! A port's configuration in words, shared by the text and HTML reports: the driver's view
//! of the UART, the line settings the way `stty` would say them, and each change with who
//! made it.

use crate::analysis::port_settings::SettingsChange;
use crate::analysis::risks::{Risk, RiskRule};
use crate::fmt::{fmt_ns, neutralize, thousands};
use crate::trace::{Parity, PortSetup, Termios};

/// `921600 8N1, raw (VMIN 1, VTIME 0: blocks until a byte), no flow control`.
pub fn termios_words(t: &Termios) -> String {
    let parity = match t.parity() {
        Parity::None => 'N',
        Parity::Even => 'E',
        Parity::Odd => 'O',
        Parity::Mark => 'M',
        Parity::Space => 'S',
    };
    let mode = if t.canonical() {
        "canonical (line by line)".to_string()
    } else {
        let when = match (t.vmin, t.vtime) {
            (0, 0) => "returns at once".to_string(),
            (0, v) => format!("returns after a byte or {}", tenths(v)),
            (m, 0) => format!("blocks until {m} byte{}", if m == 1 { "" } else { "s" }),
            (m, v) => format!("{m} bytes or {} after a byte", tenths(v)),
        };
        format!("raw (VMIN {}, VTIME {}: {when})", t.vmin, t.vtime)
    };
    let mut flow = Vec::new();
    if t.rtscts() {
        flow.push("RTS/CTS");
    }
    if t.ixoff() {
        flow.push("XOFF on input");
    }
    if t.ixon() {
        flow.push("XON/XOFF on output");
    }
    let flow = if flow.is_empty() {
        "no flow control".to_string()
    } else {
        flow.join(", ")
    };
    format!(
        "{} {}{parity}{}, {mode}, {flow}",
        t.baud(),
        t.char_bits(),
        t.stop_bits()
    )
}

/// VTIME counts tenths of a second.
fn tenths(v: u8) -> String {
    format!("{}.{} s", v / 10, v % 10)
}

/// `serial8250, 16550A, IRQ 4, FIFO 16 (trigger 8), low_latency off, wakeup disabled`.
pub fn device_words(s: &PortSetup) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &s.driver {
        parts.push(neutralize(d));
    }
    if let Some(u) = &s.uart {
        parts.push(neutralize(u));
    }
    if let Some(irq) = s.irq.filter(|&i| i > 0) {
        parts.push(format!("IRQ {irq}"));
    }
    if let Some(f) = s.fifo_size.filter(|&f| f > 0) {
        parts.push(match s.rx_trigger_bytes {
            Some(t) => format!("FIFO {f} (receive trigger {t})"),
            None => format!("FIFO {f}"),
        });
    }
    if let Some(l) = s.low_latency() {
        parts.push(format!("low_latency {}", if l { "on" } else { "off" }));
    }
    match s.dma {
        Some(true) => parts.push("DMA channels given".into()),
        Some(false) => parts.push("no DMA (interrupt-driven)".into()),
        None => {}
    }
    parts.push(match &s.wakeup {
        Some(w) => format!("wakeup {}", neutralize(w)),
        None => "cannot wake the system".into(),
    });
    if s.console {
        parts.push("kernel console".into());
    }
    parts.join(", ")
}

/// Who held the port and its settings then, or why they are unknown.
pub fn start_words(s: &PortSetup) -> String {
    if s.holders.is_empty() {
        return "not open when recording began (settings read only from a port in use)".into();
    }
    let who: Vec<String> = s
        .holders
        .iter()
        .map(|h| format!("{} ({})", neutralize(&h.comm), h.pid))
        .collect();
    match &s.termios {
        Some(t) => format!("{}; held by {}", termios_words(t), who.join(", ")),
        None => format!("held by {}; settings unreadable", who.join(", ")),
    }
}

/// `12.30 s stty (pid 42): changed vmin, vtime → 115200 8N1, raw (…)`.
pub fn change_words(c: &SettingsChange) -> String {
    let who = match (&c.comm, c.pid) {
        (Some(comm), Some(pid)) => format!("{} (pid {pid})", neutralize(comm)),
        _ => "read at the stop".into(),
    };
    let what = match (c.at_stop, c.changed.is_empty()) {
        (true, true) => "unchanged".to_string(),
        (true, false) => format!("{} differ", names(c)),
        (false, true) => "set the same settings again".to_string(),
        (false, false) => format!("changed {}", names(c)),
    };
    format!(
        "{} {who}: {what} → {}",
        fmt_ns(c.t_boot_ns),
        termios_words(&c.termios)
    )
}

fn names(c: &SettingsChange) -> String {
    c.changed
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `IRQ 4: 251,204 handler runs (251,100 handled), p50 12.0 µs, p99 40.1 µs, max 1.20 ms`.
pub fn irq_words(t: &crate::analysis::IrqTiming) -> String {
    let shared = if t.shared_with.is_empty() {
        String::new()
    } else {
        format!(" (shared with {})", neutralize(&t.shared_with.join(", ")))
    };
    let threaded = if t.woke_thread > 0 {
        format!(
            ", {} only woke its thread (threaded handler: the driver's work runs in irq/{} and is not timed here)",
            thousands(t.woke_thread),
            t.irq
        )
    } else {
        String::new()
    };
    format!(
        "interrupt: IRQ {}{shared}: {} handler runs ({} handled{threaded}), p50 {}, p99 {}, max {}, {} in all",
        t.irq,
        thousands(t.runs),
        thousands(t.handled),
        fmt_ns(t.handler_ns.p50),
        fmt_ns(t.handler_ns.p99),
        fmt_ns(t.handler_ns.max),
        fmt_ns(t.handler_ns_total)
    )
}

/// `line discipline: 3,204 runs of flush_to_ldisc; waited after the push p50 …, p99 …, max …; ran …`.
pub fn ldisc_words(t: &crate::analysis::LdiscTiming) -> String {
    let unknown = if t.delay_unknown > 0 {
        format!(
            " ({} runs whose queueing was not seen)",
            thousands(t.delay_unknown)
        )
    } else {
        String::new()
    };
    let outside = if t.receives_outside_runs > 0 {
        format!(
            "; {} hand-overs to the line discipline outside its runs",
            thousands(t.receives_outside_runs)
        )
    } else {
        String::new()
    };
    format!(
        "line discipline: {} runs of flush_to_ldisc; bytes waited after the push p50 {}, p99 {}, max {}{unknown}; a run took p50 {}, p99 {}, max {}{outside}",
        thousands(t.runs),
        fmt_ns(t.delay_ns.p50),
        fmt_ns(t.delay_ns.p99),
        fmt_ns(t.delay_ns.max),
        fmt_ns(t.run_ns.p50),
        fmt_ns(t.run_ns.p99),
        fmt_ns(t.run_ns.max)
    )
}

/// Why a rule matters and what to check, one line each.
pub fn risk_why_and_check(rule: RiskRule) -> (&'static str, &'static str) {
    match rule {
        RiskRule::BlockingReadNoTimeout => (
            "a read waits for VMIN bytes with no timeout: when the device goes quiet the reader blocks forever",
            "set VTIME > 0, or read with poll()/select() and a timeout, or open O_NONBLOCK",
        ),
        RiskRule::NoFlowControlFastLine => (
            "nothing can stop the sender, and the UART's FIFO fills in less than a timer tick: one late interrupt overruns it",
            "enable RTS/CTS (crtscts) if the wiring has it, lower the baud rate, or check the interrupt's latency",
        ),
        RiskRule::JiffiesClocksource => (
            "time advances in ticks: timestamps and timeouts are only as fine as the tick",
            "the clocksource's driver (available_clocksource), and why the kernel fell back to jiffies (dmesg: clocksource)",
        ),
        RiskRule::UnstableClocksource => (
            "the kernel stopped trusting a clocksource (it drifted against the watchdog's): timestamps around the switch may jump, and the fallback may be slower to read or coarser",
            "dmesg (clocksource, tsc), the firmware's and the virtualization's clock settings (e.g. constant TSC, tsc=reliable only if it is), and current_clocksource",
        ),
        RiskRule::NoHighResTimers => (
            "without high-resolution timers every sleep and timeout rounds up to the next tick",
            "CONFIG_HIGH_RES_TIMERS, a clock event device with one-shot mode, and `highres=` on the kernel command line",
        ),
        RiskRule::MemSleepNotDeep => (
            "`echo mem` suspends to idle though S3 (deep) is offered: more power, and devices take other suspend paths",
            "/sys/power/mem_sleep (write deep, or mem_sleep_default=deep on the command line), if S3 is what the product expects",
        ),
        RiskRule::SlowLdiscWithoutLowLatency => (
            "received bytes waited longer than a tick for the line discipline's work item, and the port does not ask for low latency",
            "the load on the workqueue's CPUs (kworker threads), the port's low_latency flag (setserial low_latency), or a reader that wakes on poll() rather than VMIN",
        ),
        RiskRule::PortCannotWake => (
            "the port was in use across a suspend cycle but cannot wake the system: bytes sent while it sleeps wait for another wake source, or are lost",
            "/sys/class/tty/<port>/power/wakeup (write enabled), and whether the UART's interrupt is a wakeup source on this board",
        ),
    }
}

/// A risk in one line: the rule, where and since when, the evidence, why, and what to check.
pub fn risk_line(r: &Risk) -> String {
    let mut at = match &r.port {
        Some(p) => format!("{} on {}", r.rule, neutralize(p)),
        None => r.rule.to_string(),
    };
    match (r.since_boot_ns, &r.set_by) {
        (Some(t), Some(by)) => at += &format!(", set by {} at {}", neutralize(by), fmt_ns(t)),
        (Some(t), None) => at += &format!(", from {}", fmt_ns(t)),
        _ => {}
    }
    let mut evidence = Vec::new();
    if let Some(t) = &r.termios {
        evidence.push(termios_words(t));
    }
    if let (Some(f), Some(fill), Some(tick)) = (r.fifo_size, r.fifo_fill_ns, r.tick_ns) {
        evidence.push(format!(
            "{f}-byte FIFO full in {} < tick {}",
            fmt_ns(fill),
            fmt_ns(tick)
        ));
    } else if let Some(tick) = r.tick_ns {
        evidence.push(format!("tick {}", fmt_ns(tick)));
    }
    if let Some(s) = &r.setting {
        evidence.push(neutralize(s));
    }
    let (why, check) = risk_why_and_check(r.rule);
    format!("risk: {at} ({}): {why}; check {check}", evidence.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{PortHolder, termios_flags as f};

    #[test]
    fn settings_in_words() {
        let t = Termios {
            cflag: f::CSIZE | f::CREAD,
            vmin: 1,
            ispeed: 921_600,
            ..Default::default()
        };
        assert_eq!(
            termios_words(&t),
            "921600 8N1, raw (VMIN 1, VTIME 0: blocks until 1 byte), no flow control"
        );
        let t = Termios {
            cflag: f::CSIZE | f::PARENB | f::CRTSCTS,
            vmin: 0,
            vtime: 5,
            ..t
        };
        assert_eq!(
            termios_words(&t),
            "921600 8E1, raw (VMIN 0, VTIME 5: returns after a byte or 0.5 s), RTS/CTS"
        );
        let s = PortSetup {
            name: "ttyS1".into(),
            driver: Some("serial8250".into()),
            uart: Some("16550A".into()),
            irq: Some(3),
            fifo_size: Some(16),
            rx_trigger_bytes: Some(8),
            port_flags: Some(0),
            wakeup: Some("disabled".into()),
            holders: vec![PortHolder {
                pid: 7,
                comm: "cat".into(),
            }],
            termios: Some(t),
            ..Default::default()
        };
        assert_eq!(
            device_words(&s),
            "serial8250, 16550A, IRQ 3, FIFO 16 (receive trigger 8), low_latency off, wakeup disabled"
        );
        assert!(start_words(&s).ends_with("; held by cat (7)"));
    }
}
