//! Loads the eBPF object with the load-time globals, attaches every hook the plan allows and
//! fills in the attach table with what actually happened.

use std::sync::Arc;

use anyhow::{Context, Result};
use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuHashMap, PerCpuValues},
    programs::{RawTracePoint, TracePoint},
};
use serial_trace_common::port_aggregates::{IRQ_AGGREGATES_MAP, IrqAggregate, LDISC_TIMED_KEY};
use serial_trace_common::{
    COMM_LEN, CommPattern, DEVICE_GLOBAL, EVENTS_MAP, FILTER_GLOBAL, Filter, HookSpec, MATCH_MAP,
    MAX_FILTER_COMMS, MAX_FILTER_TGIDS, MAX_KINDS, MAX_MATCH, RAW_SPECS_GLOBAL, SERIAL_GLOBAL,
    SPECS_GLOBAL, TASK_RENAME_PROGRAM, TREE_MAP, TaskFilter, WAKE_GLOBAL, WAKEUP_GLOBAL,
    WakeConfig, kind,
};

use super::serial_attach::{self, attach_serial, serial_config};
use crate::hooks::{
    self, FunctionHookSupport, Plan, RAW_TRACEPOINT_METHOD, SerialMethod, TracepointMethod,
    TracepointPlan,
};
use crate::kernel::btf::{Btf, FunctionIds};
use crate::kernel::kallsyms::{Kallsyms, SymbolNames};
use crate::kernel::{bpf_syscall, tracefs};
use crate::trace::ProbeRecord;

/// The eBPF object built by `build.rs` (aya-build) from `serial-trace-ebpf`.
static EBPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/serial-trace-ebpf"));

/// What to load and how.
pub struct LoadOptions {
    pub buffer_size: u32,
    /// `--pid` values; empty = every process.
    pub pid: Vec<u32>,
    /// `--comm` globs; empty = every task.
    pub comm: Vec<String>,
    /// Ports to record (`--port`, names like `ttyS1`); empty = every port.
    pub ports: Vec<String>,
    pub serial_method: SerialMethod,
    /// `--tracepoint-method`.
    pub tracepoint_method: TracepointMethod,
    /// `--hooks` families; empty = all.
    pub hooks: Vec<String>,
    /// Timers of the recorder's process tree only (`record -- CMD` without `--all-tasks`):
    /// CMD, forked by the recorder, and everything CMD forks.
    pub tree: bool,
    /// The traced ports' IRQ numbers (their interrupt handlers are timed; empty: the `irq:`
    /// hooks stay detached).
    pub port_irqs: Vec<u32>,
    /// `record --port-timing-events`: the irq: and workqueue: hooks also write one event per
    /// run (they always aggregate in the kernel).
    pub port_timing_events: bool,
}

/// The attachments of the programs, owned apart from the `Ebpf` they came from: holding one
/// keeps its program attached (the kernel holds the program through it), dropping it
/// detaches. So the object aya parsed — every program's instructions, some 6 MB, kept by aya
/// for as long as the `Ebpf` lives — is freed once the recording starts
/// ([`Loaded::release_object`]).
#[derive(Default)]
pub struct Links(Vec<Box<dyn std::any::Any>>);

impl Links {
    pub fn keep<L: 'static>(&mut self, link: L) {
        self.0.push(Box::new(link));
    }
}

/// A loaded object with its programs attached.
pub struct Loaded {
    /// The object, until [`Self::release_object`].
    ebpf: Option<Ebpf>,
    /// Every attachment; dropping them detaches the programs.
    pub links: Links,
    /// Each attached program's fd, by name, once the object is released (for its counters).
    pub program_fds: Vec<(String, aya::programs::ProgramFd)>,
    /// Wake callbacks and hrtimer offsets passed to the programs.
    pub wake: WakeConfig,
    /// Every hook the tool knows, with what happened to it.
    pub probes: Vec<ProbeRecord>,
    /// Kernel symbols, in the form that names addresses.
    pub kallsyms: SymbolNames,
    /// Names of the attached programs (tracepoints and serial hooks), for their kernel-side
    /// miss counters.
    pub programs: Vec<String>,
    /// The `task_rename` program is attached: the hot programs may leave `comm` out.
    pub task_renames_hooked: bool,
    /// The flip-buffer drop hook is attached (no counter polling needed).
    pub drops_hooked: bool,
    /// Kprobe entry programs attached, with their function (see `kprobe_witness`).
    pub kprobe_entries: Vec<(&'static str, String)>,
}

impl Loaded {
    /// The object, during set-up (the maps are taken from it).
    pub fn object(&mut self) -> &mut Ebpf {
        self.ebpf
            .as_mut()
            .expect("the object is released only once the recording runs")
    }

    /// Frees the object aya parsed, keeping what the recording needs: the attachments
    /// (`links`), every map already taken out of it, and each attached program's fd.
    pub fn release_object(&mut self) {
        let Some(ebpf) = self.ebpf.take() else {
            return;
        };
        self.program_fds = self
            .programs
            .iter()
            .filter_map(|name| {
                let fd = ebpf.program(name)?.fd().ok()?.try_clone().ok()?;
                Some((name.clone(), fd))
            })
            .collect();
        drop(ebpf);
        crate::kernel::sysinfo::release_freed_heap();
    }
}

pub fn task_filter(pids: &[u32], comms: &[String]) -> Result<TaskFilter> {
    let mut f = TaskFilter {
        exclude_tgid: std::process::id(),
        ..TaskFilter::default()
    };
    anyhow::ensure!(
        pids.len() <= MAX_FILTER_TGIDS,
        "--pid: at most {MAX_FILTER_TGIDS} processes, got {}",
        pids.len()
    );
    anyhow::ensure!(
        comms.len() <= MAX_FILTER_COMMS,
        "--comm: at most {MAX_FILTER_COMMS} patterns, got {}",
        comms.len()
    );
    for (slot, &pid) in f.tgids.iter_mut().zip(pids) {
        *slot = pid;
    }
    for (slot, glob) in f.comms.iter_mut().zip(comms) {
        *slot = comm_pattern(glob)?;
    }
    f.n_tgids = pids.len() as u8;
    f.n_comms = comms.len() as u8;
    f.active = u8::from(!pids.is_empty() || !comms.is_empty());
    Ok(f)
}

/// The fork program (`sched.rs`) that follows `record -- CMD`'s process tree.
const FORK_PROGRAM: &str = "process_fork_raw";

/// Limits the timer filter to the recorder's process tree, which the fork program follows by
/// telling a new process (pid = tgid) from a new thread: the two offsets come from BTF.
fn follow_the_tree(
    filter: &mut TaskFilter,
    btf: &Result<std::sync::Arc<crate::kernel::btf::Btf>, String>,
) -> Result<()> {
    let cannot = |why: String| {
        anyhow::anyhow!(
            "record -- CMD cannot follow CMD's child processes without the kernel's BTF ({why}); \
             --all-tasks records every task's timers instead"
        )
    };
    let btf = btf.as_deref().map_err(|e| cannot(e.clone()))?;
    let offset = |member: &str| {
        crate::kernel::btf::require_offset(btf, "task_struct", member).map_err(cannot)
    };
    filter.task_pid_offset = offset("pid")?;
    filter.task_tgid_offset = offset("tgid")?;
    filter.tree = 1;
    filter.active = 1;
    Ok(())
}

/// A `--comm` glob as the kernel matches it: `prefix*suffix` or an exact name, `?` any one
/// character.
pub fn comm_pattern(glob: &str) -> Result<CommPattern> {
    let bytes = glob.as_bytes();
    let stars = bytes.iter().filter(|&&b| b == b'*').count();
    anyhow::ensure!(
        stars <= 1,
        "--comm {glob:?}: one `*` at most (the kernel matches a prefix and a suffix)"
    );
    let (prefix, suffix) = match glob.split_once('*') {
        Some((p, s)) => (p.as_bytes(), s.as_bytes()),
        None => (bytes, &[][..]),
    };
    anyhow::ensure!(
        !bytes.is_empty() && prefix.len() + suffix.len() < COMM_LEN && bytes != b"*",
        "--comm {glob:?}: 1 to {} characters besides the `*` (the kernel's TASK_COMM_LEN - 1), and not `*` alone",
        COMM_LEN - 1
    );
    let mut p = CommPattern {
        prefix_len: prefix.len() as u8,
        suffix_len: suffix.len() as u8,
        star: u8::from(stars == 1),
        ..CommPattern::default()
    };
    p.prefix[..prefix.len()].copy_from_slice(prefix);
    p.suffix[..suffix.len()].copy_from_slice(suffix);
    Ok(p)
}

/// An `EbpfLoader` that holds no kernel BTF.
///
/// aya 0.14's `EbpfLoader::new` parses the whole kernel BTF (19 MB of objects at its peak,
/// most of the recorder's peak memory), needed or not; aya 0.16 defers it, but needs rustc
/// 1.98. aya-ebpf programs carry no CO-RE relocations, so it is not needed (fentry loads get
/// one holding only their functions, `btf::for_aya_functions`). The loader is therefore made on a thread of its own that first
/// moves into a private mount namespace (`unshare(CLONE_NEWNS)` affects that thread alone)
/// and binds `/dev/null` over `/sys/kernel/btf/vmlinux`: aya reads an empty file, finds no
/// BTF and parses nothing, and the namespace goes with the thread. Where that is not allowed
/// (no CAP_SYS_ADMIN, no `/sys/kernel/btf`), the loader parses it after all and drops it at
/// once, its heap given back before set-up holds anything else.
fn loader_without_kernel_btf<'a>() -> EbpfLoader<'a> {
    let blind = std::thread::spawn(|| -> Option<EbpfLoader<'static>> {
        let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
        let (root, null, vmlinux) = (c("/"), c("/dev/null"), c("/sys/kernel/btf/vmlinux"));
        // SAFETY: plain syscalls on NUL-terminated paths; they change this thread's mount
        // namespace only (unshare gave it its own).
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                || libc::mount(
                    null.as_ptr(),
                    vmlinux.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) != 0
            {
                return None;
            }
        }
        let mut loader = EbpfLoader::new();
        // none was parsed; should the bind not have hidden it, none is kept either
        loader.btf(None);
        Some(loader)
    })
    .join()
    .ok()
    .flatten();
    match blind {
        Some(loader) => loader,
        None => {
            let mut loader = EbpfLoader::new();
            loader.btf(None);
            crate::kernel::sysinfo::release_freed_heap();
            loader
        }
    }
}

pub fn load_and_attach(opts: &LoadOptions) -> Result<Loaded> {
    if EBPF_OBJECT.is_empty() {
        anyhow::bail!(
            "this serial-trace was built without its eBPF programs (the `ebpf` feature, or a fuzz \
             build): it can read and report traces, not record them"
        );
    }
    let mut loader = loader_without_kernel_btf();
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
    let mut specs = plan.specs();
    let mut raw_specs = plan.raw_specs();
    if opts.port_timing_events {
        port_timing_events(&mut specs);
        port_timing_events(&mut raw_specs);
    }
    let mut filter = task_filter(&opts.pid, &opts.comm)?;
    if opts.tree {
        follow_the_tree(&mut filter, &btf)?;
    }
    // Wake the reader at a quarter full; between wakeups it polls every 100 ms anyway.
    let wakeup_bytes = u64::from(opts.buffer_size / 4);

    let (mut wake, wake_note) = crate::kernel::wakeup::wake_layout();
    let serial = serial_config(&opts.ports);
    // asked with the BTF still held (the fentry programs themselves load later, through aya)
    let fentry = fentry_allowed(&btf);
    // unknown (all zero) where the BTF lacks a member: then no device PM hook was planned raw
    let device = btf
        .as_deref()
        .ok()
        .and_then(|b| crate::raw_tracepoints::device_layout(b).ok())
        .unwrap_or_default();
    // kallsyms (9 MB while set-up looks names up) only once the BTF (6 MB) is given back: the
    // two never add up
    drop(btf);
    crate::kernel::sysinfo::release_freed_heap();
    let kallsyms = Kallsyms::load();
    crate::kernel::wakeup::add_callbacks(&mut wake, &kallsyms);
    // Every lookup by name is made here (the wake callbacks above, the serial hooks' functions,
    // `flush_to_ldisc`): then the table shrinks to what the recording keeps for naming timer
    // callbacks (9 MB → ~1.5 on this project's host) before aya parses the object (+6 MB) and,
    // on fentry kernels, its BTF for the serial hooks (+8 MB): the whole table never adds up
    // with either.
    let serial_functions = serial_attach::existing_functions(&kallsyms);
    let flush_to_ldisc = kallsyms.address_of("flush_to_ldisc");
    let kallsyms = kallsyms.into_names();
    crate::kernel::sysinfo::release_freed_heap();
    wake.switch_ins = u32::from(hooks::family_selected(&opts.hooks, "sched"));
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

    let port_timing = PortTiming::fill(&mut ebpf, opts, flush_to_ldisc)?;
    let mut probes = plan.probes;
    let mut programs = Vec::new();
    let mut links = Links::default();
    for p in &plan.attachable {
        let row = probes
            .iter_mut()
            .find(|r| r.kind == Some(p.kind.id))
            .expect("every planned kind has a row");
        if !hooks::family_selected(&opts.hooks, hooks::family_of(p.kind.category)) {
            row.reason = Some("not selected (--hooks)".into());
            continue;
        }
        if let Some(why) = port_timing.detached(p.kind.category) {
            row.reason = Some(why);
            continue;
        }
        match attach_planned(&mut ebpf, &mut links, p, opts.tracepoint_method) {
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
        fentry: fentry.as_ref().map(|_| ()).map_err(Clone::clone),
        kprobe: FunctionHookSupport::kprobe_from_sysfs(),
    };
    let serial = attach_serial(
        &mut ebpf,
        &mut links,
        &serial_functions,
        &support,
        fentry.unwrap_or_default(),
        opts.serial_method,
        &serial,
    );
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
    if opts.tree {
        // the recorder is the tree's root: CMD is its child, and the fork program adds it
        let mut tree: aya::maps::HashMap<&mut aya::maps::MapData, u32, u8> =
            aya::maps::HashMap::try_from(ebpf.map_mut(TREE_MAP).context("TREE map")?)?;
        tree.insert(std::process::id(), 1, 0)
            .context("putting the recorder at the root of the command's tree")?;
        attach_raw(&mut ebpf, &mut links, FORK_PROGRAM, "sched_process_fork")
            .context("following the command's child processes (sched_process_fork)")?;
        programs.push(FORK_PROGRAM.to_string());
    }
    // Renames counted, or every event carries its comm: without the count a record could
    // leave out a name that changed.
    let task_renames_hooked = attach_raw(&mut ebpf, &mut links, TASK_RENAME_PROGRAM, "task_rename")
        .map(|()| programs.push(TASK_RENAME_PROGRAM.to_string()))
        .is_ok();
    probes.extend(serial.rows);
    programs.extend(serial.programs.iter().map(|p| p.to_string()));
    Ok(Loaded {
        ebpf: Some(ebpf),
        links,
        program_fds: Vec::new(),
        wake,
        probes,
        kallsyms,
        programs,
        drops_hooked: serial.drops_hooked,
        task_renames_hooked,
        kprobe_entries: serial.kprobe_entries,
    })
}

/// The port timing hooks' exit and end also write one event per run (`record
/// --port-timing-events`), not only add to the kernel's aggregates.
fn port_timing_events(specs: &mut [HookSpec; MAX_KINDS]) {
    for k in [kind::IRQ_HANDLER_EXIT, kind::WORKQUEUE_EXECUTE_END] {
        let spec = &mut specs[usize::from(k)];
        if spec.filter == Filter::MATCHED {
            spec.filter = Filter::MATCHED_EVENTS;
        }
    }
}

/// What the port timing hooks (`irq:`, `workqueue:`) count, put in the `MATCH` map: the
/// traced ports' IRQs (each with its zeroed aggregate) and `flush_to_ldisc`.
struct PortTiming {
    irqs: usize,
    flush_to_ldisc: bool,
}

impl PortTiming {
    /// `flush_to_ldisc`: the function's address (kallsyms), `None` where it has none.
    fn fill(ebpf: &mut Ebpf, opts: &LoadOptions, flush_to_ldisc: Option<u64>) -> Result<Self> {
        let mut out = PortTiming {
            irqs: 0,
            flush_to_ldisc: false,
        };
        let mut irqs = opts.port_irqs.clone();
        irqs.sort_unstable();
        irqs.dedup();
        irqs.truncate(MAX_MATCH as usize - 2);
        {
            let mut aggregates: PerCpuHashMap<&mut MapData, u64, IrqAggregate> =
                PerCpuHashMap::try_from(
                    ebpf.map_mut(IRQ_AGGREGATES_MAP)
                        .context("IRQ_AGGREGATES map")?,
                )?;
            let cpus = aya::util::nr_cpus().map_err(|(_, e)| e)?;
            for irq in &irqs {
                let zero = PerCpuValues::try_from(vec![IrqAggregate::ZERO; cpus])?;
                aggregates
                    .insert(u64::from(*irq), zero, 0)
                    .context("IRQ_AGGREGATES map")?;
            }
        }
        let mut map: aya::maps::HashMap<&mut MapData, u64, u8> =
            aya::maps::HashMap::try_from(ebpf.map_mut(MATCH_MAP).context("MATCH map")?)?;
        // the function's address and LDISC_TIMED_KEY are the other values; IRQs are small
        // numbers, never one of them
        for irq in &irqs {
            map.insert(u64::from(*irq), 1, 0).context("MATCH map")?;
            out.irqs += 1;
        }
        if let Some(addr) = flush_to_ldisc {
            map.insert(addr, 1, 0).context("MATCH map")?;
            map.insert(LDISC_TIMED_KEY, 1, 0).context("MATCH map")?;
            out.flush_to_ldisc = true;
        }
        Ok(out)
    }

    /// Why a hook of `category` stays detached: nothing to time (`None`: it attaches, or is no
    /// port timing hook).
    fn detached(&self, category: &str) -> Option<String> {
        match category {
            "irq" if self.irqs == 0 => {
                Some("no traced port has an IRQ (none found, or USB-serial only)".into())
            }
            "workqueue" if !self.flush_to_ldisc => Some(
                "flush_to_ldisc is not in kallsyms: the line discipline's work item is unknown"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Attaches a planned tracepoint hook by the method asked for: its raw twin where it has one
/// the kernel takes, else its classic program. Returns the program, the method, and a note
/// saying why a hook with a raw twin runs the classic program.
fn attach_planned(
    ebpf: &mut Ebpf,
    links: &mut Links,
    p: &TracepointPlan,
    method: TracepointMethod,
) -> Result<(&'static str, &'static str, Option<String>)> {
    let k = p.kind;
    let why_classic = match (&p.raw, method) {
        (_, TracepointMethod::Classic) | (Ok(None), _) => None,
        (Ok(Some(raw)), _) => match attach_raw(ebpf, links, raw.program, k.name) {
            Ok(()) => return Ok((raw.program, RAW_TRACEPOINT_METHOD, None)),
            Err(e) => Some(format!("{e:#}")),
        },
        (Err(why), _) => Some(why.clone()),
    };
    if let (Some(why), TracepointMethod::Raw) = (&why_classic, method) {
        anyhow::bail!("raw tracepoint impossible (--tracepoint-method raw): {why}");
    }
    attach_tracepoint(ebpf, links, k.name, k.category)?;
    let note = why_classic.map(|why| format!("raw tracepoint not used: {why}"));
    Ok((k.name, "tracepoint", note))
}

fn attach_raw(ebpf: &mut Ebpf, links: &mut Links, program: &str, tracepoint: &str) -> Result<()> {
    let prog: &mut RawTracePoint = ebpf
        .program_mut(program)
        .with_context(|| format!("program {program} missing from the eBPF object"))?
        .try_into()?;
    prog.load()
        .with_context(|| format!("verifier rejected {program}"))?;
    match prog.attach(tracepoint) {
        Ok(id) => links.keep(prog.take_link(id)?),
        Err(e) => {
            let _ = prog.unload();
            return Err(e).with_context(|| format!("attaching raw tracepoint {tracepoint}"));
        }
    }
    Ok(())
}

fn attach_tracepoint(
    ebpf: &mut Ebpf,
    links: &mut Links,
    program: &str,
    category: &str,
) -> Result<()> {
    let prog: &mut TracePoint = ebpf
        .program_mut(program)
        .with_context(|| format!("program {program} missing from the eBPF object"))?
        .try_into()?;
    prog.load()
        .with_context(|| format!("verifier rejected {program}"))?;
    let id = prog
        .attach(category, program)
        .with_context(|| format!("attaching {category}:{program}"))?;
    links.keep(prog.take_link(id)?);
    Ok(())
}

/// Asks the kernel whether fentry programs load and attach, against the first serial target
/// that exists (a program that returns 0, attached and detached at once).
fn fentry_allowed(btf: &Result<Arc<Btf>, String>) -> Result<FunctionIds, String> {
    let btf = btf
        .as_ref()
        .map_err(|e| format!("fentry impossible: {e}"))?;
    // BTF describes every function the kernel has a symbol for
    let targets = serial_attach::target_functions();
    let ids = crate::kernel::btf::function_ids(btf, &targets);
    // the first serial-path function the kernel has
    let id = targets
        .iter()
        .find_map(|t| ids.get(*t))
        .copied()
        .ok_or("fentry impossible: kernel BTF has none of the serial-path functions")?;
    bpf_syscall::fentry_attaches(id).map_err(|e| {
        let code = e.raw_os_error();
        let named = code.map_or_else(|| e.to_string(), crate::kernel::errno::short_name);
        format!("fentry refused: {}", explain_fentry_errno(named, code))
    })?;
    Ok(ids)
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

#[cfg(test)]
mod filter_tests {
    use super::*;

    #[test]
    fn the_command_tree_needs_btf_and_says_what_to_do_without() {
        let mut f = task_filter(&[], &[]).unwrap();
        let err = follow_the_tree(&mut f, &Err("no /sys/kernel/btf/vmlinux".into())).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("no /sys/kernel/btf/vmlinux") && msg.contains("--all-tasks"),
            "{msg}"
        );
        assert_eq!((f.tree, f.active), (0, 0), "nothing set on failure");
        // this machine's BTF has the two offsets (`pid_t pid; pid_t tgid;` in every kernel)
        let btf = crate::kernel::btf::layouts().expect("this machine's kernel BTF");
        follow_the_tree(&mut f, &Ok(btf)).unwrap();
        assert_eq!((f.tree, f.active), (1, 1));
        assert!(f.task_pid_offset > 0 && f.task_tgid_offset == f.task_pid_offset + 4);
    }

    /// What the kernel's `comm_matches` decides, for tests: `comm` against `p`.
    fn comm_matches(p: &CommPattern, comm: &str) -> bool {
        let c = comm.as_bytes();
        let (plen, slen) = (usize::from(p.prefix_len), usize::from(p.suffix_len));
        let fits =
            |want: &[u8], got: &[u8]| want.iter().zip(got).all(|(&w, &g)| w == g || w == b'?');
        let long_enough = if p.star != 0 {
            c.len() >= plen + slen
        } else {
            c.len() == plen
        };
        c.len() < COMM_LEN
            && long_enough
            && fits(&p.prefix[..plen], &c[..plen])
            && fits(&p.suffix[..slen], &c[c.len() - slen..])
    }

    #[test]
    fn comm_globs_match_as_the_kernel_does() {
        let m = |glob: &str, comm: &str| comm_matches(&comm_pattern(glob).unwrap(), comm);
        assert!(m("my-reader", "my-reader") && !m("my-reader", "my-reader2"));
        assert!(m("python*", "python3") && m("python*", "python") && !m("python*", "pytho"));
        assert!(m("*worker", "kworker") && !m("*worker", "workers"));
        assert!(m("k*/0", "kworker/0") && !m("k*/0", "kworker/1"));
        assert!(m("tty?", "ttyS") && !m("tty?", "tty"));
        // the prefix and suffix may not overlap in the name
        assert!(!m("ab*ba", "aba"));
        for bad in ["", "*", "a*b*c", "sixteen-chars-xx", "fifteen-chars-x*y"] {
            assert!(comm_pattern(bad).is_err(), "{bad:?} accepted");
        }
        assert!(comm_pattern("fifteen-chars-x").is_ok());
        let f = task_filter(&[1, 2], &["a*".into()]).unwrap();
        assert_eq!((f.active, f.n_tgids, f.n_comms, f.tgids[1]), (1, 2, 1, 2));
        assert_eq!(task_filter(&[], &[]).unwrap().active, 0);
        assert!(task_filter(&[1; 9], &[]).is_err());
        assert!(task_filter(&[], &vec!["a".to_string(); 5]).is_err());
    }
}
