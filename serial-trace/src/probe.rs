//! `serial-trace probe`: the attach table of this kernel. As root it really loads and attaches
//! every program (then detaches), so the answer is the kernel's, not a guess.

use anyhow::Result;

use crate::hooks::{self, FunctionHookSupport};
use crate::kallsyms::Kallsyms;
use crate::privileges;
use crate::record::{LoadOptions, load_and_attach};
use crate::trace::ProbeRecord;
use crate::tracefs;

pub fn run(json: bool) -> Result<()> {
    let rows = if privileges::can_trace() {
        load_and_attach(&LoadOptions {
            buffer_size: 1 << 16,
            pid: None,
            comm: None,
        })?
        .probes
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
                    "method": r.method, "reason": r.reason,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{:<40} {:<11} {:<7} reason", "hook", "method", "usable");
    for r in &rows {
        println!(
            "{:<40} {:<11} {:<7} {}",
            r.name,
            r.method.as_deref().unwrap_or("-"),
            if r.attached { "yes" } else { "no" },
            r.reason.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

fn unprivileged_rows() -> Vec<ProbeRecord> {
    let mut rows = match tracefs::find() {
        Some(root) => hooks::plan_tracepoints(&root).probes,
        None => Vec::new(),
    };
    let support = FunctionHookSupport {
        fentry: Err("fentry not tested (needs root)".into()),
        kprobe: FunctionHookSupport::kprobe_from_sysfs(),
    };
    rows.extend(hooks::plan_serial(&Kallsyms::load(), &support));
    rows
}
