//! Attaches the serial data path: for every hook of `hooks::SERIAL_HOOKS`, every target
//! function that exists, by the first method that works (fentry/fexit, then kprobes), and says
//! in the attach table which function and method each used, or why none did.

use std::collections::HashSet;

use aya::{
    Ebpf,
    programs::{FEntry, FExit, KProbe},
};
use serial_trace_common::{MAX_PORT_FILTER, PORT_NAME_LEN, SerialConfig};

use super::loader::Links;
use crate::hooks::{FnProgram, FunctionHookSupport, SERIAL_HOOKS, SerialMethod};
use crate::kernel::btf::{FunctionIds, pointer_size, require_member_size, require_offset};
use crate::kernel::kallsyms::Kallsyms;
use crate::trace::ProbeRecord;

/// The struct offsets the serial programs read, from the running kernel's BTF, and the
/// `record --port` filter.
pub fn serial_config(ports: &[String]) -> Result<SerialConfig, String> {
    check_port_filter(ports)?;
    let btf = &*crate::kernel::btf::layouts()?;
    let o = |s: &str, m: &str| require_offset(btf, s, m);
    let mut c = SerialConfig {
        tty_port_itty: o("tty_port", "itty")?,
        tty_port_mem_used: o("tty_port", "buf.mem_used")?,
        tty_port_mem_limit: o("tty_port", "buf.mem_limit")?,
        tty_struct_name: o("tty_struct", "name")?,
        tty_struct_flags: o("tty_struct", "flags")?,
        tty_struct_termios: o("tty_struct", "termios")?,
        ktermios_iflag: o("ktermios", "c_iflag")?,
        ktermios_oflag: o("ktermios", "c_oflag")?,
        ktermios_cflag: o("ktermios", "c_cflag")?,
        ktermios_lflag: o("ktermios", "c_lflag")?,
        ktermios_cc: o("ktermios", "c_cc")?,
        ktermios_ispeed: o("ktermios", "c_ispeed")?,
        ktermios_ospeed: o("ktermios", "c_ospeed")?,
        tty_struct_driver: o("tty_struct", "driver")?,
        tty_driver_type: o("tty_driver", "type")?,
        tty_port_buf_work: o("tty_port", "buf.work")?,
        uart_port_state: o("uart_port", "state")?,
        uart_state_port: o("uart_state", "port")?,
        kiocb_filp: o("kiocb", "ki_filp")?,
        file_private_data: o("file", "private_data")?,
        tty_file_private_tty: o("tty_file_private", "tty")?,
        iov_iter_count: o("iov_iter", "count")?,
        // the width of the pointer members (one for all, as the timer programs read it) and
        // of `size_t`
        ptr_size: pointer_size(btf)
            .ok_or("kernel BTF has no `unsigned long`: pointer width unknown")?,
        iov_iter_count_size: require_member_size(btf, "iov_iter", "count")?,
        ..SerialConfig::default()
    };
    c.n_ports = ports.len() as u32;
    for (slot, name) in c.ports.iter_mut().zip(ports) {
        slot[..name.len()].copy_from_slice(name.as_bytes());
    }
    Ok(c)
}

fn check_port_filter(ports: &[String]) -> Result<(), String> {
    if ports.len() > MAX_PORT_FILTER {
        return Err(format!(
            "at most {MAX_PORT_FILTER} --port filters are supported, got {}",
            ports.len()
        ));
    }
    match ports
        .iter()
        .find(|p| p.is_empty() || p.len() >= PORT_NAME_LEN)
    {
        Some(p) => Err(format!(
            "port name {p:?} must be 1 to {} bytes",
            PORT_NAME_LEN - 1
        )),
        None => Ok(()),
    }
}

/// What attaching the serial data path achieved.
pub struct SerialAttach {
    pub rows: Vec<ProbeRecord>,
    /// Names of the loaded serial programs (their recursion misses are read at checkpoints).
    pub programs: Vec<&'static str>,
    /// True when the drop hook (flip buffer inserts) is attached by some method: then the
    /// counter-polling fallback is not needed.
    pub drops_hooked: bool,
    /// Kprobe entry programs attached and the function each watches (for counting the calls
    /// the kernel skipped: `kprobe_witness`).
    pub kprobe_entries: Vec<(&'static str, String)>,
}

pub fn attach_serial(
    ebpf: &mut Ebpf,
    links: &mut Links,
    existing: &HashSet<&'static str>,
    support: &FunctionHookSupport,
    fentry_ids: FunctionIds,
    method: SerialMethod,
    config: &Result<SerialConfig, String>,
) -> SerialAttach {
    let mut out = SerialAttach {
        rows: Vec::new(),
        programs: Vec::new(),
        drops_hooked: false,
        kprobe_entries: Vec::new(),
    };
    let mut loaded: HashSet<&'static str> = HashSet::new();
    let mut aya_btf = AyaBtf {
        ids: fentry_ids,
        built: None,
    };
    for hook in SERIAL_HOOKS {
        if matches!(method, SerialMethod::Off | SerialMethod::Poll) {
            out.rows.push(
                hook.row(
                    None,
                    false,
                    None,
                    format!("not attached: --serial-method {method:?} (or --hooks without serial)")
                        .to_lowercase(),
                ),
            );
            continue;
        }
        if let Err(e) = config {
            out.rows.push(hook.row(None, false, None, e.clone()));
            continue;
        }
        let targets = match hook.existing_targets(|f| existing.contains(f)) {
            Ok(e) => e,
            Err(why) => {
                out.rows.push(hook.row(None, false, None, why));
                continue;
            }
        };
        for target in targets {
            let (methods, mut failures) = support.target_methods(target, method);
            let mut done = false;
            for m in &methods {
                let programs = if *m == "fentry" {
                    target.btf
                } else {
                    target.kprobe
                };
                match attach_target(
                    ebpf,
                    links,
                    target.function,
                    programs,
                    &mut loaded,
                    &mut aya_btf,
                ) {
                    Ok(()) => {
                        // why a preferred method was passed over (arm64 before 6.4: fentry
                        // cannot attach) stays visible beside the one that worked
                        let mut note = format!("on {} ({})", target.function, hook.purpose);
                        if !failures.is_empty() {
                            note += &format!("; {}", failures.join("; "));
                        }
                        out.rows.push(hook.row(
                            Some(target.function),
                            true,
                            Some(method_label(programs)),
                            note,
                        ));
                        for p in programs {
                            let name = program_name(p);
                            if !out.programs.contains(&name) {
                                out.programs.push(name);
                            }
                            if let FnProgram::KProbe(entry) = p {
                                out.kprobe_entries
                                    .push((entry, target.function.to_string()));
                            }
                        }
                        if hook.name == "serial:flip_buffer_insert" {
                            out.drops_hooked = true;
                        }
                        done = true;
                        break;
                    }
                    Err(e) => failures.push(format!("{m}: {e}")),
                }
            }
            if !done {
                out.rows.push(hook.row(
                    Some(target.function),
                    false,
                    None,
                    format!("{}: {}", target.function, failures.join("; ")),
                ));
            }
        }
    }
    // aya's BTF (~8 MB) goes now, not with the recording
    drop(aya_btf);
    crate::kernel::sysinfo::release_freed_heap();
    out
}

/// The BTF aya loads the fentry/fexit programs with, holding only the serial hooks' target
/// functions (`btf::for_aya_functions`): built at the first such load from the ids set-up
/// looked up, dropped when attaching is done.
struct AyaBtf {
    ids: FunctionIds,
    built: Option<Result<aya::Btf, String>>,
}

impl AyaBtf {
    fn get(&mut self) -> Result<&aya::Btf, String> {
        let ids = &self.ids;
        self.built
            .get_or_insert_with(|| crate::kernel::btf::for_aya_functions(ids))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The functions of [`target_functions`] the kernel has: all `attach_serial` needs of kallsyms,
/// so that the table can shrink to its compact form before the hooks load.
pub fn existing_functions(syms: &Kallsyms) -> HashSet<&'static str> {
    target_functions()
        .into_iter()
        .filter(|f| syms.has_function(f))
        .collect()
}

/// Every function a serial hook may attach to.
pub fn target_functions() -> Vec<&'static str> {
    SERIAL_HOOKS
        .iter()
        .flat_map(|h| h.targets.iter().map(|t| t.function))
        .collect()
}

fn program_name(p: &FnProgram) -> &'static str {
    match *p {
        FnProgram::FEntry(n)
        | FnProgram::FExit(n)
        | FnProgram::KProbe(n)
        | FnProgram::KRetProbe(n) => n,
    }
}

/// `fexit`, `fentry+fexit`, `kprobe+kretprobe`, …
fn method_label(programs: &[FnProgram]) -> String {
    programs
        .iter()
        .map(|p| match p {
            FnProgram::FEntry(_) => "fentry",
            FnProgram::FExit(_) => "fexit",
            FnProgram::KProbe(_) => "kprobe",
            FnProgram::KRetProbe(_) => "kretprobe",
        })
        .collect::<Vec<_>>()
        .join("+")
}

/// Loads and attaches every program of one method to `function`. A return probe shared by
/// several functions is loaded once and attached again.
fn attach_target(
    ebpf: &mut Ebpf,
    links: &mut Links,
    function: &str,
    programs: &[FnProgram],
    loaded: &mut HashSet<&'static str>,
    aya_btf: &mut AyaBtf,
) -> Result<(), String> {
    for p in programs {
        let name = program_name(p);
        let prog = ebpf
            .program_mut(name)
            .ok_or_else(|| format!("program {name} missing from the eBPF object"))?;
        let err = |what: &str, e: aya::programs::ProgramError| {
            format!(
                "{what} {name}: {}",
                super::loader::describe_program_error(&e)
            )
        };
        match p {
            FnProgram::FEntry(_) => {
                let btf = aya_btf.get()?;
                let prog: &mut FEntry = prog.try_into().map_err(|e| format!("{e}"))?;
                prog.load(function, btf).map_err(|e| err("loading", e))?;
                let id = prog.attach().map_err(|e| err("attaching", e))?;
                links.keep(prog.take_link(id).map_err(|e| err("keeping", e))?);
            }
            FnProgram::FExit(_) => {
                let btf = aya_btf.get()?;
                let prog: &mut FExit = prog.try_into().map_err(|e| format!("{e}"))?;
                prog.load(function, btf).map_err(|e| err("loading", e))?;
                let id = prog.attach().map_err(|e| err("attaching", e))?;
                links.keep(prog.take_link(id).map_err(|e| err("keeping", e))?);
            }
            FnProgram::KProbe(_) | FnProgram::KRetProbe(_) => {
                let prog: &mut KProbe = prog.try_into().map_err(|e| format!("{e}"))?;
                if loaded.insert(name) {
                    prog.load().map_err(|e| err("loading", e))?;
                }
                let id = prog.attach(function, 0).map_err(|e| err("attaching", e))?;
                links.keep(prog.take_link(id).map_err(|e| err("keeping", e))?);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serial_programs_read_this_kernels_widths() {
        let c = serial_config(&["ttyS1".into()]).expect("this machine has kernel BTF");
        let word = size_of::<usize>() as u32;
        assert_eq!((c.ptr_size, c.iov_iter_count_size), (word, word));
        assert!(c.tty_port_itty > 0 && c.iov_iter_count > 0);
        assert_eq!((c.n_ports, &c.ports[0][..6]), (1, &b"ttyS1\0"[..]));
        assert!(serial_config(&["".into()]).is_err());
    }
}
