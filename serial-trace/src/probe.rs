//! `serial-trace probe`: the attach table of this kernel. As root it really loads and attaches
//! every program (then detaches), so the answer is the kernel's, not a guess.

use anyhow::Result;

use crate::hooks::{self, FunctionHookSupport};
use crate::kernel::kallsyms::Kallsyms;
use crate::kernel::privileges;
use crate::kernel::tracefs;
use crate::record::{LoadOptions, load_and_attach};
use crate::trace::ProbeRecord;

pub fn run(json: bool) -> Result<()> {
    let rows = if privileges::can_trace() {
        let loaded = load_and_attach(&LoadOptions {
            buffer_size: 1 << 16,
            pid: None,
            comm: None,
            ports: vec![],
            serial_method: crate::hooks::SerialMethod::Auto,
            tracepoint_method: crate::hooks::TracepointMethod::Auto,
            hooks: vec![],
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
                    "name": r.name, "usable": r.attached || r.reason.is_none(),
                    "method": r.method, "function": r.function, "reason": r.reason,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{:<34} {:<16} {:<7} reason", "hook", "method", "usable");
    for r in &rows {
        println!(
            "{:<34} {:<16} {:<7} {}",
            r.name,
            r.method.as_deref().unwrap_or("-"),
            if r.attached { "yes" } else { "no" },
            r.reason.as_deref().unwrap_or("")
        );
    }
    Ok(())
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
