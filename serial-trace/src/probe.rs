//! `serial-trace probe`: the attach table of this kernel. As root it really loads and attaches
//! every program (then detaches), so the answer is the kernel's, not a guess.

use anyhow::Result;

use crate::hooks::{self, FunctionHookSupport};
use crate::kernel::kallsyms::Kallsyms;
use crate::kernel::privileges;
use crate::kernel::tracefs;
use crate::record::{LoadOptions, load_and_attach};
use crate::trace::ProbeRecord;

/// The serial hook that sees the flip buffer drop bytes.
const FLIP_BUFFER_HOOK: &str = "serial:flip_buffer_insert";

/// What `probe --require` can ask of this kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Capability {
    /// The serial data path hooked in the kernel: `serial:flip_buffer_insert` attached by
    /// fentry or kprobes (polling the counters does not count), so every byte the flip buffer
    /// drops is seen with its cause.
    Serial,
    /// Suspend and resume phases (`power:suspend_resume`).
    Suspend,
    /// Timer arms, expiries and cancels (`timer:hrtimer_*`).
    Timers,
    /// Task wakeups: the timers and `sched:sched_switch`, `sched:sched_waking`.
    Wakeups,
}

impl Capability {
    fn name(self) -> &'static str {
        match self {
            Capability::Serial => "serial",
            Capability::Suspend => "suspend",
            Capability::Timers => "timers",
            Capability::Wakeups => "wakeups",
        }
    }

    /// Why `rows` lack this capability, or `None` when they have it.
    pub fn missing(self, rows: &[ProbeRecord]) -> Option<String> {
        const TIMERS: [&str; 3] = [
            "timer:hrtimer_start",
            "timer:hrtimer_expire_entry",
            "timer:hrtimer_cancel",
        ];
        let need_all = |names: &[&str]| {
            let why: Vec<String> = names
                .iter()
                .filter_map(|n| match rows.iter().find(|r| r.name == *n) {
                    Some(r) if usable(r) => None,
                    Some(r) => Some(format!("{n}: {}", r.reason.as_deref().unwrap_or("no"))),
                    None => Some(format!("{n}: not in this kernel")),
                })
                .collect();
            (!why.is_empty()).then(|| why.join("; "))
        };
        match self {
            Capability::Serial => {
                // the hook that sees drops (one row per kernel function it may use)
                let serial: Vec<&ProbeRecord> =
                    rows.iter().filter(|r| r.name == FLIP_BUFFER_HOOK).collect();
                if serial.iter().any(|r| r.attached) {
                    return None;
                }
                let mut why: Vec<String> = serial
                    .iter()
                    .filter_map(|r| r.reason.as_ref().map(|w| format!("{}: {w}", r.name)))
                    .collect();
                why.dedup();
                Some(if why.is_empty() {
                    format!("{FLIP_BUFFER_HOOK}: not attached")
                } else {
                    why.join("; ")
                })
            }
            Capability::Suspend => need_all(&["power:suspend_resume"]),
            Capability::Timers => need_all(&TIMERS),
            Capability::Wakeups => {
                need_all(&[&TIMERS[..], &["sched:sched_switch", "sched:sched_waking"]].concat())
            }
        }
    }
}

/// Whether a row's hook works here: attached, or (unprivileged) present with nothing against it.
fn usable(r: &ProbeRecord) -> bool {
    r.attached || r.reason.is_none()
}

pub fn run(json: bool, require: &[Capability]) -> Result<()> {
    if !require.is_empty() && !privileges::can_trace() {
        anyhow::bail!(
            "probe --require needs root (or CAP_BPF and CAP_PERFMON): only attaching a hook proves it works"
        );
    }
    let rows = if privileges::can_trace() {
        let loaded = load_and_attach(&LoadOptions {
            buffer_size: 1 << 16,
            pid: vec![],
            comm: vec![],
            ports: vec![],
            serial_method: crate::hooks::SerialMethod::Auto,
            tracepoint_method: crate::hooks::TracepointMethod::Auto,
            hooks: vec![],
            tree: false,
            // what `record` times: every port with a UART
            port_irqs: crate::ports::port_irqs(
                &crate::ports::list_ports()
                    .into_iter()
                    .filter(|p| p.uart.is_some())
                    .collect::<Vec<_>>(),
            ),
            port_timing_events: false,
        })?;
        let mut rows = loaded.probes;
        if !loaded.drops_hooked {
            rows.push(poll_row());
        }
        rows
    } else {
        eprintln!("note: not root: tracepoints checked for existence only, fentry not tested");
        unprivileged_rows()
    };
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name, "usable": usable(r),
                    "method": r.method, "function": r.function, "reason": r.reason,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_table(&rows);
    }
    let missing: Vec<String> = require
        .iter()
        .filter_map(|c| c.missing(&rows).map(|why| format!("{}: {why}", c.name())))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(crate::check::Unmet(format!(
            "this kernel lacks what --require asked for: {}",
            missing.join(" | ")
        ))
        .into())
    }
}

fn print_table(rows: &[ProbeRecord]) {
    println!("{:<34} {:<16} {:<7} reason", "hook", "method", "usable");
    for r in rows {
        println!(
            "{:<34} {:<16} {:<7} {}",
            r.name,
            r.method.as_deref().unwrap_or("-"),
            if usable(r) { "yes" } else { "no" },
            r.reason.as_deref().unwrap_or("")
        );
    }
}

/// The fallback `record` uses where the flip-buffer hook cannot attach.
fn poll_row() -> ProbeRecord {
    let ports: Vec<String> = crate::ports::list_ports()
        .into_iter()
        .filter(|p| p.uart.is_some())
        .map(|p| p.name)
        .collect();
    let reason = if ports.is_empty() {
        "no serial port with a UART to poll".to_string()
    } else {
        format!(
            "fallback: record samples the kernel counters of {} (--poll-hz, default 100 Hz; coarse)",
            ports.join(", ")
        )
    };
    ProbeRecord {
        name: hooks::POLL_HOOK.into(),
        kind: Some(serial_trace_common::kind::SERIAL_COUNTERS),
        attached: !ports.is_empty(),
        method: Some("poll".into()),
        reason: Some(reason),
        fields: vec![],
        function: None,
    }
}

fn unprivileged_rows() -> Vec<ProbeRecord> {
    let mut rows = match tracefs::find() {
        Some(root) => {
            let btf = crate::kernel::btf::layouts();
            hooks::plan_tracepoints(&root, btf.as_deref().map_err(Clone::clone)).probes
        }
        None => Vec::new(),
    };
    let support = FunctionHookSupport {
        fentry: Err("fentry not tested (needs root)".into()),
        kprobe: FunctionHookSupport::kprobe_from_sysfs(),
    };
    rows.extend(hooks::plan_serial(&Kallsyms::load(), &support));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, attached: bool, reason: Option<&str>) -> ProbeRecord {
        ProbeRecord {
            name: name.into(),
            kind: None,
            attached,
            method: None,
            reason: reason.map(Into::into),
            fields: vec![],
            function: None,
        }
    }

    #[test]
    fn required_capabilities_name_what_is_missing_and_why() {
        let timers = [
            row("timer:hrtimer_start", true, None),
            row("timer:hrtimer_expire_entry", true, None),
            row("timer:hrtimer_cancel", true, None),
        ];
        let mut rows = timers.to_vec();
        rows.extend([
            row("power:suspend_resume", true, None),
            row("sched:sched_switch", true, None),
            row("sched:sched_waking", false, Some("refused: EPERM")),
            // 5.10: one row per function the hook may use; the polled counters do not count
            row(
                "serial:flip_buffer_insert",
                false,
                Some("f1: not in this kernel"),
            ),
            row(
                "serial:flip_buffer_insert",
                false,
                Some("f2: kprobe refused"),
            ),
            row("serial:counters", true, Some("fallback")),
        ]);
        assert_eq!(Capability::Timers.missing(&rows), None);
        assert_eq!(Capability::Suspend.missing(&rows), None);
        assert_eq!(
            Capability::Wakeups.missing(&rows).as_deref(),
            Some("sched:sched_waking: refused: EPERM")
        );
        let serial = Capability::Serial.missing(&rows).unwrap();
        assert!(
            serial.contains("f1: not in") && serial.contains("f2: kprobe"),
            "{serial}"
        );
        rows[6].attached = true;
        assert_eq!(Capability::Serial.missing(&rows), None);
        // a hook the kernel lacks entirely
        assert_eq!(
            Capability::Suspend.missing(&timers).as_deref(),
            Some("power:suspend_resume: not in this kernel")
        );
    }
}
