//! Loads the eBPF object with the load-time globals, attaches every hook the plan allows and
//! fills in the attach table with what actually happened.

use std::sync::Arc;

use anyhow::{Context, Result};
use aya::{
    Ebpf, EbpfLoader,
    programs::{RawTracePoint, TracePoint},
};
use serial_trace_common::{
    COMM_LEN, DEVICE_GLOBAL, EVENTS_MAP, FILTER_GLOBAL, RAW_SPECS_GLOBAL, SERIAL_GLOBAL,
    SPECS_GLOBAL, TaskFilter, WAKE_GLOBAL, WAKEUP_GLOBAL, WakeConfig,
};

use super::serial_attach::{attach_serial, serial_config};
use crate::hooks::{
    self, FunctionHookSupport, Plan, RAW_TRACEPOINT_METHOD, SerialMethod, TracepointMethod,
    TracepointPlan,
};
use crate::kernel::btf::Btf;
use crate::kernel::kallsyms::Kallsyms;
use crate::kernel::{bpf_syscall, btf_format, tracefs};
use crate::trace::ProbeRecord;

/// The eBPF object built by `build.rs` (aya-build) from `serial-trace-ebpf`.
static EBPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/serial-trace-ebpf"));

/// What to load and how.
pub struct LoadOptions {
    pub buffer_size: u32,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// Ports to record (`--port`, names like `ttyS1`); empty = every port.
    pub ports: Vec<String>,
    pub serial_method: SerialMethod,
    /// `--tracepoint-method`.
    pub tracepoint_method: TracepointMethod,
    /// `--hooks` families; empty = all.
    pub hooks: Vec<String>,
}

/// A loaded object with its programs attached.
pub struct Loaded {
    pub ebpf: Ebpf,
    /// Wake callbacks and hrtimer offsets passed to the programs.
    pub wake: WakeConfig,
    /// Every hook the tool knows, with what happened to it.
    pub probes: Vec<ProbeRecord>,
    pub kallsyms: Kallsyms,
    /// Names of the attached programs (tracepoints and serial hooks), for their kernel-side
    /// miss counters.
    pub programs: Vec<String>,
    /// The flip-buffer drop hook is attached (no counter polling needed).
    pub drops_hooked: bool,
    /// Kprobe entry programs attached, with their function (see `kprobe_witness`).
    pub kprobe_entries: Vec<(&'static str, String)>,
}

pub fn task_filter(pid: Option<u32>, comm: Option<&str>) -> Result<TaskFilter> {
    let mut f = TaskFilter {
        exclude_tgid: std::process::id(),
        ..TaskFilter::default()
    };
    if let Some(pid) = pid {
        f.active = 1;
        f.by_tgid = 1;
        f.tgid = pid;
    }
    if let Some(comm) = comm {
        let bytes = comm.as_bytes();
        anyhow::ensure!(
            !bytes.is_empty() && bytes.len() < COMM_LEN,
            "--comm must be 1 to {} bytes (the kernel's TASK_COMM_LEN - 1), got {:?}",
            COMM_LEN - 1,
            comm
        );
        f.active = 1;
        f.by_comm = 1;
        f.comm[..bytes.len()].copy_from_slice(bytes);
    }
    Ok(f)
}

pub fn load_and_attach(opts: &LoadOptions) -> Result<Loaded> {
    if EBPF_OBJECT.is_empty() {
        anyhow::bail!(
            "this serial-trace was built without its eBPF programs (the `ebpf` feature, or a fuzz \
             build): it can read and report traces, not record them"
        );
    }
    // aya 0.14's `EbpfLoader::new` parses the whole kernel BTF into 16 MB of objects, needed
    // or not (aya 0.16 defers it, but needs rustc 1.98). aya-ebpf programs carry no CO-RE
    // relocations, so it is not: the loader is made first, while nothing else is held, its
    // BTF dropped at once (`.btf(None)`; fentry loads read their own, `for_aya`) and the heap
    // it took given back, so that it is not on top of everything set-up holds next.
    let mut loader = EbpfLoader::new();
    loader.btf(None);
    crate::kernel::sysinfo::release_freed_heap();
    let root = tracefs::ensure_mounted()?;
    // Held through set-up (every reader below shares this one parse), dropped before the
    // programs load.
    let btf = crate::kernel::btf::layouts();
    let raw_btf = match opts.tracepoint_method {
        TracepointMethod::Classic => Err("not asked for (--tracepoint-method classic)".into()),
        _ => btf
            .as_deref()
            .map_err(|e| format!("the raw programs need the layouts BTF gives: {e}")),
    };
    let plan: Plan = hooks::plan_tracepoints(&root, raw_btf);
    let specs = plan.specs();
    let raw_specs = plan.raw_specs();
    let filter = task_filter(opts.pid, opts.comm.as_deref())?;
    // Wake the reader at a quarter full; between wakeups it polls every 100 ms anyway.
    let wakeup_bytes = u64::from(opts.buffer_size / 4);

    let kallsyms = Kallsyms::load();
    let (wake, wake_note) = crate::kernel::wakeup::wake_config(&kallsyms);
    let serial = serial_config(&opts.ports);
    // asked with the BTF still held (the fentry programs themselves load later, through aya)
    let fentry = fentry_allowed(&btf, &kallsyms);
    // unknown (all zero) where the BTF lacks a member: then no device PM hook was planned raw
    let device = btf
        .as_deref()
        .ok()
        .and_then(|b| crate::raw_tracepoints::device_layout(b).ok())
        .unwrap_or_default();
    drop(btf);
    let mut ebpf = loader
        .override_global(SERIAL_GLOBAL, &serial.clone().unwrap_or_default(), true)
        .override_global(SPECS_GLOBAL, &specs, true)
        .override_global(RAW_SPECS_GLOBAL, &raw_specs, true)
        .override_global(FILTER_GLOBAL, &filter, true)
        .override_global(WAKEUP_GLOBAL, &wakeup_bytes, true)
        .override_global(WAKE_GLOBAL, &wake, true)
        .override_global(DEVICE_GLOBAL, &device, true)
        .map_max_entries(EVENTS_MAP, opts.buffer_size)
        .load(EBPF_OBJECT)
        .context("loading the eBPF object into the kernel")?;

    let mut probes = plan.probes;
    let mut programs = Vec::new();
    for p in &plan.attachable {
        let row = probes
            .iter_mut()
            .find(|r| r.kind == Some(p.kind.id))
            .expect("every planned kind has a row");
        if !hooks::family_selected(&opts.hooks, p.kind.category) {
            row.reason = Some("not selected (--hooks)".into());
            continue;
        }
        match attach_planned(&mut ebpf, p, opts.tracepoint_method) {
            Ok((program, method, note)) => {
                row.attached = true;
                row.method = Some(method.into());
                row.reason = note;
                programs.push(program.to_string());
            }
            Err(e) => row.reason = Some(format!("{e:#}")),
        }
    }

    if let Some(note) = wake_note {
        if let Some(row) = probes.iter_mut().find(|r| r.name == "timer:hrtimer_start") {
            row.reason = Some(match row.reason.take() {
                Some(before) => format!("{before}; {note}"),
                None => note,
            });
        }
    }
    let support = FunctionHookSupport {
        fentry,
        kprobe: FunctionHookSupport::kprobe_from_sysfs(),
    };
    let serial = attach_serial(&mut ebpf, &kallsyms, &support, opts.serial_method, &serial);
    if matches!(
        opts.serial_method,
        SerialMethod::Fentry | SerialMethod::Kprobe
    ) && !serial.rows.iter().any(|r| r.attached)
    {
        // asked for by name: recording without it would not be what was asked
        let why: Vec<String> = serial
            .rows
            .iter()
            .map(|r| format!("{}: {}", r.name, r.reason.as_deref().unwrap_or("?")))
            .collect();
        anyhow::bail!(
            "--serial-method {} attached no serial hook on this kernel (`--serial-method auto` picks what works):\n  {}",
            format!("{:?}", opts.serial_method).to_lowercase(),
            why.join("\n  ")
        );
    }
    probes.extend(serial.rows);
    programs.extend(serial.programs.iter().map(|p| p.to_string()));
    Ok(Loaded {
        ebpf,
        wake,
        probes,
        kallsyms,
        programs,
        drops_hooked: serial.drops_hooked,
        kprobe_entries: serial.kprobe_entries,
    })
}

/// Attaches a planned tracepoint hook by the method asked for: its raw twin where it has one
/// the kernel takes, else its classic program. Returns the program, the method, and a note
/// saying why a hook with a raw twin runs the classic program.
fn attach_planned(
    ebpf: &mut Ebpf,
    p: &TracepointPlan,
    method: TracepointMethod,
) -> Result<(&'static str, &'static str, Option<String>)> {
    let k = p.kind;
    let why_classic = match (&p.raw, method) {
        (_, TracepointMethod::Classic) | (Ok(None), _) => None,
        (Ok(Some(raw)), _) => match attach_raw(ebpf, raw.program, k.name) {
            Ok(()) => return Ok((raw.program, RAW_TRACEPOINT_METHOD, None)),
            Err(e) => Some(format!("{e:#}")),
        },
        (Err(why), _) => Some(why.clone()),
    };
    if let (Some(why), TracepointMethod::Raw) = (&why_classic, method) {
        anyhow::bail!("raw tracepoint impossible (--tracepoint-method raw): {why}");
    }
    attach_tracepoint(ebpf, k.name, k.category)?;
    let note = why_classic.map(|why| format!("raw tracepoint not used: {why}"));
    Ok((k.name, "tracepoint", note))
}

fn attach_raw(ebpf: &mut Ebpf, program: &str, tracepoint: &str) -> Result<()> {
    let prog: &mut RawTracePoint = ebpf
        .program_mut(program)
        .with_context(|| format!("program {program} missing from the eBPF object"))?
        .try_into()?;
    prog.load()
        .with_context(|| format!("verifier rejected {program}"))?;
    if let Err(e) = prog.attach(tracepoint) {
        let _ = prog.unload();
        return Err(e).with_context(|| format!("attaching raw tracepoint {tracepoint}"));
    }
    Ok(())
}

fn attach_tracepoint(ebpf: &mut Ebpf, program: &str, category: &str) -> Result<()> {
    let prog: &mut TracePoint = ebpf
        .program_mut(program)
        .with_context(|| format!("program {program} missing from the eBPF object"))?
        .try_into()?;
    prog.load()
        .with_context(|| format!("verifier rejected {program}"))?;
    prog.attach(category, program)
        .with_context(|| format!("attaching {category}:{program}"))?;
    Ok(())
}

/// Asks the kernel whether fentry programs load and attach, against the first serial target
/// that exists (a program that returns 0, attached and detached at once).
fn fentry_allowed(btf: &Result<Arc<Btf>, String>, syms: &Kallsyms) -> Result<(), String> {
    let target = hooks::SERIAL_HOOKS
        .iter()
        .flat_map(|h| h.targets.iter().map(|t| t.function))
        .find(|t| syms.has_function(t))
        .ok_or("no serial-path function exists to test fentry against")?;
    let btf = btf
        .as_ref()
        .map_err(|e| format!("fentry impossible: {e}"))?;
    let id = btf
        .by_name(target)
        .find(|t| t.kind == btf_format::kind::FUNC)
        .ok_or_else(|| format!("fentry impossible: kernel BTF has no function {target}"))?
        .id;
    bpf_syscall::fentry_attaches(id).map_err(|e| {
        let code = e.raw_os_error();
        let named = code.map_or_else(|| e.to_string(), crate::kernel::errno::short_name);
        format!("fentry refused: {}", explain_fentry_errno(named, code))
    })
}

/// `named` (an error's errno name), with the reason where the errno alone says little.
fn explain_fentry_errno(named: String, code: Option<i32>) -> String {
    if code == Some(crate::kernel::errno::ENOTSUPP) {
        format!(
            "{named}: this kernel cannot attach fentry/fexit programs (no ftrace direct calls: arm64 before 6.4)"
        )
    } else {
        named
    }
}

/// The errno inside an aya program error, if any.
fn os_error(e: &aya::programs::ProgramError) -> Option<i32> {
    use std::error::Error;
    let mut src: Option<&dyn Error> = Some(e);
    while let Some(s) = src {
        if let Some(code) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.raw_os_error())
        {
            return Some(code);
        }
        src = s.source();
    }
    None
}

/// The errno behind an aya program error, spelled like the kernel (EPERM, …), when there is one.
pub(super) fn describe_program_error(e: &aya::programs::ProgramError) -> String {
    match os_error(e) {
        Some(code) => crate::kernel::errno::short_name(code),
        None => e.to_string(),
    }
}
