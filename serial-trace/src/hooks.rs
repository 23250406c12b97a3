//! The attach table: every hook serial-trace knows, the methods it may use in order of
//! preference, and how each is checked on the running kernel. Kernel differences live here
//! (and only here) as data: tracepoint field layouts come from tracefs, serial-path targets are
//! chosen by which functions exist.

use std::path::Path;

use serial_trace_common::{FieldSpec, HookSpec, KINDS, KindInfo, MAX_KINDS, TextSpec, text_kind};

use crate::kernel::kallsyms::Kallsyms;
use crate::kernel::tracefs::{self, FormatField};
use crate::raw_tracepoints::{self, RawPlan};
use crate::trace::{FieldOffset, ProbeRecord};

/// A tracepoint hook that can be attached, with the spec its program needs.
pub struct TracepointPlan {
    pub kind: &'static KindInfo,
    pub spec: HookSpec,
    /// Its raw tracepoint twin on this kernel (`Ok(None)`: the hook has none; `Err`: why the
    /// classic program stays).
    pub raw: Result<Option<RawPlan>, String>,
}

/// How `record --tracepoint-method` wants the tracepoint hooks attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TracepointMethod {
    /// The raw twin where a hook has one and the kernel takes it, else the classic program.
    #[default]
    Auto,
    /// Raw twins only where a hook has one (an error if one cannot be used).
    Raw,
    /// Classic tracepoint programs only.
    Classic,
}

/// The `method` of a probe row of a raw tracepoint program.
pub const RAW_TRACEPOINT_METHOD: &str = "raw_tracepoint";

/// The outcome of planning every tracepoint hook.
pub struct Plan {
    pub attachable: Vec<TracepointPlan>,
    /// One record per hook known to the tool, in table order.
    pub probes: Vec<ProbeRecord>,
}

impl Plan {
    /// The `[HookSpec; MAX_KINDS]` global of the classic programs (unused kinds stay empty).
    pub fn specs(&self) -> [HookSpec; MAX_KINDS] {
        let mut specs = [HookSpec::EMPTY; MAX_KINDS];
        for p in &self.attachable {
            specs[p.kind.id as usize] = p.spec;
        }
        specs
    }

    /// The same for the raw programs.
    pub fn raw_specs(&self) -> [HookSpec; MAX_KINDS] {
        let mut specs = [HookSpec::EMPTY; MAX_KINDS];
        for p in &self.attachable {
            if let Ok(Some(raw)) = &p.raw {
                specs[p.kind.id as usize] = raw.spec;
            }
        }
        specs
    }
}

pub fn tracepoint_name(k: &KindInfo) -> String {
    format!("{}:{}", k.category, k.name)
}

/// Plans every tracepoint kind against the formats found under the tracefs `root`, and the
/// raw twins of the hot ones against the kernel's BTF (`Err`: there is none, and why).
pub fn plan_tracepoints(root: &Path, btf: Result<&crate::kernel::btf::Btf, String>) -> Plan {
    let mut attachable = Vec::new();
    let mut probes = Vec::new();
    for kind in KINDS.iter().filter(|k| k.is_tracepoint()) {
        let name = tracepoint_name(kind);
        let record = |attached, reason: Option<String>, fields| ProbeRecord {
            name: name.clone(),
            kind: Some(kind.id),
            attached,
            method: Some("tracepoint".into()),
            reason,
            fields,
            function: None,
        };
        match tracefs::read_format(root, kind.category, kind.name) {
            Ok(None) => probes.push(record(false, Some("tracepoint absent".into()), vec![])),
            Err(e) => probes.push(record(false, Some(format!("{e:#}")), vec![])),
            Ok(Some(format)) => match build_spec(kind, &format) {
                Ok((spec, fields)) => {
                    let raw = match &btf {
                        _ if raw_tracepoints::raw_programs(kind.id).is_empty() => Ok(None),
                        Ok(btf) => raw_tracepoints::plan(btf, kind),
                        Err(e) => Err(e.clone()),
                    };
                    attachable.push(TracepointPlan { kind, spec, raw });
                    probes.push(record(false, None, fields));
                }
                Err(why) => probes.push(record(false, Some(why), vec![])),
            },
        }
    }
    Plan { attachable, probes }
}

/// Turns a parsed format into the load-time spec of `kind`, or says which field is missing.
pub fn build_spec(
    kind: &KindInfo,
    format: &[FormatField],
) -> Result<(HookSpec, Vec<FieldOffset>), String> {
    let mut spec = HookSpec::EMPTY;
    spec.filter = kind.filter;
    spec.role = kind.role;
    let mut used = Vec::new();
    let find = |name: &str| format.iter().find(|f| f.name == name);
    for (i, arg) in kind.args.iter().enumerate() {
        if arg.derived {
            continue; // filled by the program itself
        }
        match find(arg.name) {
            Some(f) if matches!(f.size, 1 | 2 | 4 | 8) => {
                spec.fields[i] = FieldSpec {
                    offset: f.offset,
                    size: f.size as u8,
                    signed: f.signed as u8,
                    ..FieldSpec::default()
                };
                used.push(f.to_offset());
            }
            Some(f) => {
                return Err(format!(
                    "tracepoint field `{}` has size {}, not a number",
                    f.name, f.size
                ));
            }
            None if arg.required => {
                return Err(format!(
                    "tracepoint field `{}` missing on this kernel",
                    arg.name
                ));
            }
            None => {}
        }
    }
    for (i, text) in kind.texts.iter().enumerate() {
        let Some(f) = find(text.name) else {
            if text.required {
                return Err(format!(
                    "tracepoint field `{}` missing on this kernel",
                    text.name
                ));
            }
            continue;
        };
        let tk = if f.c_type.contains("__data_loc") {
            text_kind::DATA_LOC
        } else if f.c_type.contains("char") && f.c_type.ends_with('*') && f.size == 8 {
            text_kind::POINTER
        } else if f.c_type.contains("char") && f.c_type.ends_with('*') && f.size == 4 {
            // a 32-bit kernel's pointer (armhf: `suspend_resume.action`)
            text_kind::POINTER32
        } else if f.c_type.starts_with("char[") {
            text_kind::INLINE
        } else {
            return Err(format!(
                "tracepoint field `{}` has type `{}`, not a string",
                f.name, f.c_type
            ));
        };
        spec.texts[i] = TextSpec {
            offset: f.offset,
            kind: tk,
            arg: 0,
        };
        used.push(f.to_offset());
    }
    Ok((spec, used))
}

/// One program of a serial-path hook and how it attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FnProgram {
    FEntry(&'static str),
    FExit(&'static str),
    KProbe(&'static str),
    KRetProbe(&'static str),
}

/// A kernel function a serial-path hook can attach to, with the programs of each method.
pub struct SerialTarget {
    pub function: &'static str,
    /// fentry/fexit variant: each program is loaded against this function's BTF id.
    pub btf: &'static [FnProgram],
    /// kprobe/kretprobe variant (a return probe may be shared by several functions).
    pub kprobe: &'static [FnProgram],
    /// How many of the function's arguments the kprobe variant reads from registers (the
    /// highest index + 1): an architecture that passes fewer in registers cannot run it.
    pub kprobe_args: u8,
}

impl SerialTarget {
    /// `Ok` when a kprobe on an `ebpf_arch` kernel finds every argument its program reads in
    /// a register (aya's `arg(n)` reads register n; past the calling convention's register
    /// arguments it would read an unrelated register, not the stack).
    pub fn kprobe_args_fit(&self, ebpf_arch: &str) -> Result<(), String> {
        let in_registers = match ebpf_arch {
            "x86_64" => 6,
            "aarch64" | "riscv64" => 8,
            // Seen in the armv7 build's object: aya-ebpf 0.2.1 declares a 32-bit kernel's
            // pt_regs with the BPF target's 8-byte `long`, so `arg(3)` reads 8 bytes at
            // offset 24 where the kernel keeps r3 in 4 bytes at 12.
            "arm" | "x86" => {
                return Err(format!(
                    "kprobe unavailable on 32-bit {ebpf_arch}: aya-ebpf 0.2.1 lays out the \
                     kernel's registers as 8-byte slots (the BPF target's `long`), so the \
                     arguments of {} would be read from the wrong place",
                    self.function
                ));
            }
            _ => 0,
        };
        if self.kprobe_args <= in_registers {
            return Ok(());
        }
        Err(format!(
            "kprobe unavailable: its program reads argument {} of {}, which {ebpf_arch} passes on the stack ({in_registers} in registers)",
            self.kprobe_args, self.function
        ))
    }
}

/// A serial-path hook: kernel functions without tracepoints (the tty receive path has none). Every target
/// that exists on the running kernel is hooked (older kernels split the work across several).
pub struct SerialHook {
    pub name: &'static str,
    pub purpose: &'static str,
    pub targets: &'static [SerialTarget],
}

use FnProgram::{FEntry, FExit, KProbe, KRetProbe};

pub const SERIAL_HOOKS: &[SerialHook] = &[
    SerialHook {
        name: "serial:flip_buffer_insert",
        purpose: "bytes the flip buffer refused (drops)",
        targets: &[
            SerialTarget {
                function: "__tty_insert_flip_string_flags",
                btf: &[FExit("flip_string_flags_fexit")],
                kprobe: &[
                    KProbe("flip_string_flags_kprobe"),
                    KRetProbe("flip_kretprobe"),
                ],
                kprobe_args: 5,
            },
            SerialTarget {
                function: "tty_insert_flip_string_fixed_flag",
                btf: &[FExit("flip_fixed_flag_fexit")],
                kprobe: &[
                    KProbe("flip_fixed_flag_kprobe"),
                    KRetProbe("flip_kretprobe"),
                ],
                kprobe_args: 4,
            },
            SerialTarget {
                function: "tty_insert_flip_string_flags",
                btf: &[FExit("flip_flags_fexit")],
                kprobe: &[KProbe("flip_flags_kprobe"), KRetProbe("flip_kretprobe")],
                kprobe_args: 4,
            },
            SerialTarget {
                function: "__tty_insert_flip_char",
                btf: &[FExit("flip_char_fexit")],
                kprobe: &[KProbe("flip_char_kprobe"), KRetProbe("flip_kretprobe")],
                kprobe_args: 1,
            },
        ],
    },
    SerialHook {
        name: "serial:uart_insert_char",
        purpose: "hardware overruns, frame/parity errors, breaks",
        targets: &[SerialTarget {
            function: "uart_insert_char",
            btf: &[FEntry("uart_insert_char_fentry")],
            kprobe: &[KProbe("uart_insert_char_kprobe")],
            kprobe_args: 5,
        }],
    },
    SerialHook {
        name: "serial:ldisc_receive",
        purpose: "bytes handed to the line discipline, per port",
        targets: &[SerialTarget {
            function: "tty_port_default_receive_buf",
            btf: &[FExit("receive_buf_fexit")],
            kprobe: &[
                KProbe("receive_buf_kprobe"),
                KRetProbe("receive_buf_kretprobe"),
            ],
            kprobe_args: 4,
        }],
    },
    SerialHook {
        name: "serial:tty_read",
        purpose: "reader side: who reads, how much, how long it blocked",
        targets: &[SerialTarget {
            function: "tty_read",
            btf: &[FEntry("tty_read_fentry"), FExit("tty_read_fexit")],
            kprobe: &[KProbe("tty_read_kprobe"), KRetProbe("tty_read_kretprobe")],
            kprobe_args: 2,
        }],
    },
    SerialHook {
        name: "serial:throttle",
        purpose: "flow control: the line discipline stopped and resumed the driver (no loss)",
        targets: &[
            SerialTarget {
                function: "tty_throttle_safe",
                btf: &[FEntry("throttle_fentry"), FExit("throttle_fexit")],
                kprobe: &[KProbe("throttle_kprobe"), KRetProbe("throttle_kretprobe")],
                kprobe_args: 1,
            },
            SerialTarget {
                function: "tty_unthrottle_safe",
                btf: &[FEntry("unthrottle_fentry"), FExit("unthrottle_fexit")],
                kprobe: &[KProbe("unthrottle_kprobe"), KRetProbe("throttle_kretprobe")],
                kprobe_args: 1,
            },
        ],
    },
    SerialHook {
        name: "serial:termios",
        purpose: "line settings changed (tcsetattr, stty): by whom, and to what",
        targets: &[SerialTarget {
            function: "tty_set_termios",
            btf: &[FEntry("termios_fentry"), FExit("termios_fexit")],
            kprobe: &[KProbe("termios_kprobe"), KRetProbe("termios_kretprobe")],
            kprobe_args: 1,
        }],
    },
];

/// Hook families `record --hooks` can select: tracepoint categories, and `serial`.
pub const FAMILIES: &[&str] = &["timer", "alarmtimer", "power", "rtc", "sched", "serial"];

/// Whether `family` is selected by a `--hooks` list (empty = all).
pub fn family_selected(selected: &[String], family: &str) -> bool {
    selected.is_empty() || selected.iter().any(|s| s == family)
}

/// The `--hooks` family of a tracepoint category: the UART's interrupt and the line
/// discipline's work item (`irq`, `workqueue`) time the serial path, so `serial` selects them.
pub fn family_of(category: &str) -> &str {
    match category {
        "irq" | "workqueue" => "serial",
        c => c,
    }
}

impl SerialHook {
    /// The targets the running kernel has, or why none is usable.
    /// The targets whose function the kernel has (`exists`: kallsyms says so).
    pub fn existing_targets(
        &self,
        exists: impl Fn(&str) -> bool,
    ) -> Result<Vec<&SerialTarget>, String> {
        let existing: Vec<&SerialTarget> =
            self.targets.iter().filter(|t| exists(t.function)).collect();
        if existing.is_empty() {
            let names: Vec<&str> = self.targets.iter().map(|t| t.function).collect();
            return Err(format!(
                "none of {} exists in this kernel",
                names.join(", ")
            ));
        }
        Ok(existing)
    }

    /// A row of the attach table for this hook.
    pub fn row(
        &self,
        function: Option<&str>,
        attached: bool,
        method: Option<String>,
        reason: String,
    ) -> ProbeRecord {
        ProbeRecord {
            name: self.name.into(),
            kind: None,
            attached,
            method,
            reason: Some(reason),
            fields: vec![],
            function: function.map(Into::into),
        }
    }
}

/// The name of the row for the counter-polling fallback.
pub const POLL_HOOK: &str = "serial:counters";

/// Which method `record --serial-method` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SerialMethod {
    /// fentry/fexit, else kprobes, else counter polling.
    #[default]
    Auto,
    Fentry,
    Kprobe,
    /// Only poll the kernel counters (no function hooks).
    Poll,
    /// No serial data path at all.
    Off,
}

/// The architecture the embedded eBPF object was built for (Rust's `target_arch`, which
/// aya-build passes on as `bpf_target_arch`): its kprobe programs read that one's `pt_regs`.
pub const EBPF_ARCH: &str = env!("SERIAL_TRACE_EBPF_ARCH");

/// `Ok` when kprobe programs built for `ebpf_arch` read the registers of a kernel whose
/// `uname -m` is `machine`.
pub fn kprobe_registers_match(ebpf_arch: &str, machine: &str) -> Result<(), String> {
    let kernel_arch = match machine {
        "x86_64" => "x86_64",
        "aarch64" | "arm64" => "aarch64",
        m if m.starts_with("armv") => "arm",
        "riscv64" => "riscv64",
        m if m.starts_with("i") && m.ends_with("86") => "x86",
        other => other,
    };
    if ebpf_arch == kernel_arch {
        Ok(())
    } else {
        Err(format!(
            "this serial-trace's kprobe programs read {ebpf_arch} registers, but the kernel is {machine}: use the {kernel_arch} build (`cargo xtask dist`)"
        ))
    }
}

/// How the kernel answered the capability checks for function hooks.
pub struct FunctionHookSupport {
    /// `Ok` when an fentry program loaded; otherwise the kernel's refusal.
    pub fentry: Result<(), String>,
    /// `Ok` when the kprobe PMU exists; otherwise why not.
    pub kprobe: Result<(), String>,
}

impl FunctionHookSupport {
    /// Whether kprobes can be used: the kernel has them, and the embedded eBPF object reads
    /// the registers of the kernel's architecture (a 32-bit ARM build on a 64-bit kernel would
    /// read its arguments from the wrong places).
    pub fn kprobe_from_sysfs() -> Result<(), String> {
        kprobe_registers_match(EBPF_ARCH, &crate::kernel::sysinfo::machine())?;
        if Path::new("/sys/bus/event_source/devices/kprobe").exists() {
            Ok(())
        } else {
            Err("kprobes not built into this kernel (no kprobe PMU)".into())
        }
    }

    /// The function-hook methods to try, in order, for `method`; with the reasons the others
    /// are out.
    pub fn methods(&self, method: SerialMethod) -> (Vec<&'static str>, Vec<String>) {
        let mut use_ = Vec::new();
        let mut why_not = Vec::new();
        let want_fentry = matches!(method, SerialMethod::Auto | SerialMethod::Fentry);
        let want_kprobe = matches!(method, SerialMethod::Auto | SerialMethod::Kprobe);
        match (&self.fentry, want_fentry) {
            (Ok(()), true) => use_.push("fentry"),
            (Err(e), true) => why_not.push(e.clone()),
            _ => {}
        }
        match (&self.kprobe, want_kprobe) {
            (Ok(()), true) => use_.push("kprobe"),
            (Err(e), true) => why_not.push(e.clone()),
            _ => {}
        }
        (use_, why_not)
    }

    /// [`Self::methods`] for one target: kprobes dropped, with the reason, where its program
    /// reads an argument this build's architecture passes on the stack.
    pub fn target_methods(
        &self,
        target: &SerialTarget,
        method: SerialMethod,
    ) -> (Vec<&'static str>, Vec<String>) {
        let (mut use_, mut why_not) = self.methods(method);
        if use_.contains(&"kprobe") {
            if let Err(e) = target.kprobe_args_fit(EBPF_ARCH) {
                use_.retain(|m| *m != "kprobe");
                why_not.push(e);
            }
        }
        (use_, why_not)
    }
}

/// The serial-path rows of the attach table as far as they can be known without loading
/// (`serial-trace probe` without root): which function and method each hook would use.
pub fn plan_serial(syms: &Kallsyms, support: &FunctionHookSupport) -> Vec<ProbeRecord> {
    let mut rows = Vec::new();
    for h in SERIAL_HOOKS {
        let existing = match h.existing_targets(|f| syms.has_function(f)) {
            Ok(e) => e,
            Err(why) => {
                rows.push(h.row(None, false, None, format!("{why} ({})", h.purpose)));
                continue;
            }
        };
        for t in existing {
            let (methods, why_not) = support.target_methods(t, SerialMethod::Auto);
            let (method, reason) = match methods.first() {
                Some(m) if why_not.is_empty() => {
                    (Some(*m), format!("would use {m} ({})", h.purpose))
                }
                Some(m) => (
                    Some(*m),
                    format!("would use {m} ({}); {}", h.purpose, why_not.join("; ")),
                ),
                None => (
                    Some("poll"),
                    format!("{}; counters are polled instead", why_not.join("; ")),
                ),
            };
            rows.push(h.row(Some(t.function), false, method.map(Into::into), reason));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::tracefs::parse_format;
    use serial_trace_common::{Filter, kind, kind_info};

    /// The table's `kprobe_args` is what each kprobe program in the eBPF source reads: the
    /// highest `ctx.arg(N)` in its body + 1.
    #[test]
    fn kprobe_argument_counts_match_the_programs() {
        let src = include_str!("../../serial-trace-ebpf/src/serial.rs");
        for t in SERIAL_HOOKS.iter().flat_map(|h| h.targets) {
            let Some(FnProgram::KProbe(name)) = t.kprobe.first() else {
                panic!("{}: no kprobe entry program", t.function);
            };
            let body = src
                .split(&format!("pub fn {name}("))
                .nth(1)
                .and_then(|b| b.split("\n}\n").next())
                .unwrap_or_else(|| panic!("{name} not in serial.rs"));
            let highest = body
                .split("ctx.arg(")
                .skip(1)
                .filter_map(|a| a.split(')').next()?.parse::<u8>().ok())
                .max()
                .expect("reads an argument");
            assert_eq!(t.kprobe_args, highest + 1, "{} ({name})", t.function);
        }
    }

    #[test]
    fn kprobes_reading_stack_arguments_are_unavailable_with_the_reason() {
        let target = |f: &str| {
            SERIAL_HOOKS
                .iter()
                .flat_map(|h| h.targets)
                .find(|t| t.function == f)
                .unwrap()
        };
        for arch in ["x86_64", "aarch64"] {
            assert!(
                SERIAL_HOOKS
                    .iter()
                    .flat_map(|h| h.targets)
                    .all(|t| t.kprobe_args_fit(arch).is_ok())
            );
        }
        // 32-bit kernels: every kprobe refused, with the reason (aya-ebpf's register layout)
        for arch in ["arm", "x86"] {
            let e = target("tty_read").kprobe_args_fit(arch).unwrap_err();
            assert!(
                e.contains(&format!("32-bit {arch}")) && e.contains("8-byte slots"),
                "{e}"
            );
        }
        // an architecture with fewer register arguments than a program reads is refused too
        assert!(target("uart_insert_char").kprobe_args_fit("mips").is_err());
    }

    #[test]
    fn kprobes_need_the_kernels_registers() {
        assert!(kprobe_registers_match("aarch64", "aarch64").is_ok());
        assert!(kprobe_registers_match("x86_64", "x86_64").is_ok());
        assert!(kprobe_registers_match("arm", "armv7l").is_ok());
        // a 32-bit ARM userland on a 64-bit kernel (Raspberry Pi OS 32-bit, 64-bit kernel)
        let e = kprobe_registers_match("arm", "aarch64").unwrap_err();
        assert!(
            e.contains("arm registers") && e.contains("aarch64 build"),
            "{e}"
        );
        assert!(kprobe_registers_match("x86_64", "aarch64").is_err());
    }

    fn fmt(lines: &[(&str, u16, u16, bool)]) -> Vec<FormatField> {
        let text: String = lines
            .iter()
            .map(|(d, o, s, sg)| {
                format!(
                    "\tfield:{d};\toffset:{o};\tsize:{s};\tsigned:{};\n",
                    *sg as u8
                )
            })
            .collect();
        parse_format(&text).unwrap()
    }

    #[test]
    fn hrtimer_start_with_and_without_was_armed() {
        let k = kind_info(kind::HRTIMER_START).unwrap();
        let old = fmt(&[
            ("void * hrtimer", 8, 8, false),
            ("void * function", 16, 8, false),
            ("s64 expires", 24, 8, true),
            ("s64 softexpires", 32, 8, true),
            ("enum hrtimer_mode mode", 40, 4, false),
        ]);
        let (spec, used) = build_spec(k, &old).unwrap();
        assert_eq!(
            spec.fields[3],
            FieldSpec {
                offset: 32,
                size: 8,
                signed: 1,
                ..FieldSpec::default()
            }
        );
        assert_eq!(spec.fields[5].size, 0, "was_armed absent before 6.18");
        assert_eq!(spec.filter, Filter::ARM_BY_CALLBACK);
        assert_eq!(used.len(), 5);
        let mut new = old.clone();
        new.extend(fmt(&[("bool was_armed", 44, 1, false)]));
        let (spec, _) = build_spec(k, &new).unwrap();
        assert_eq!(
            spec.fields[5],
            FieldSpec {
                offset: 44,
                size: 1,
                signed: 0,
                ..FieldSpec::default()
            }
        );
    }

    #[test]
    fn missing_required_field_names_it() {
        let k = kind_info(kind::HRTIMER_START).unwrap();
        let f = fmt(&[("void * hrtimer", 8, 8, false)]);
        let err = build_spec(k, &f).unwrap_err();
        assert!(err.contains("`function` missing"), "{err}");
    }

    #[test]
    fn string_kinds() {
        let k = kind_info(kind::SUSPEND_RESUME).unwrap();
        let f = fmt(&[
            ("const char * action", 8, 8, false),
            ("int val", 16, 4, true),
            ("bool start", 20, 1, false),
        ]);
        let (spec, _) = build_spec(k, &f).unwrap();
        assert_eq!(spec.texts[0].kind, text_kind::POINTER);
        // a 32-bit kernel (Debian armhf 6.12): the pointer is 4 bytes, read as such
        let f32 = fmt(&[
            ("const char * action", 8, 4, false),
            ("int val", 12, 4, true),
            ("bool start", 16, 1, false),
        ]);
        let (spec32, _) = build_spec(k, &f32).unwrap();
        assert_eq!(spec32.texts[0].kind, text_kind::POINTER32);
        assert_eq!(spec32.fields[0].offset, 12);
        assert_eq!(
            spec.fields[0],
            FieldSpec {
                offset: 16,
                size: 4,
                signed: 1,
                ..FieldSpec::default()
            }
        );
        let k = kind_info(kind::WAKEUP_SOURCE_ACTIVATE).unwrap();
        let f = fmt(&[
            ("__data_loc char[] name", 8, 4, false),
            ("u64 state", 16, 8, false),
        ]);
        let (spec, _) = build_spec(k, &f).unwrap();
        assert_eq!(
            spec.texts[0],
            TextSpec {
                offset: 8,
                kind: text_kind::DATA_LOC,
                arg: 0
            }
        );
    }

    #[test]
    fn hook_families() {
        assert!(family_selected(&[], "rtc"));
        assert!(!family_selected(&["serial".into()], "rtc"));
    }

    #[test]
    fn serial_rows_explain_this_host() {
        let syms = Kallsyms::parse("ffffffff81000000 T uart_insert_char\n");
        let support = FunctionHookSupport {
            fentry: Err("fentry refused: EPERM".into()),
            kprobe: Err("kprobes not built into this kernel".into()),
        };
        let rows = plan_serial(&syms, &support);
        assert_eq!(rows.len(), SERIAL_HOOKS.len(), "one row per hook here");
        let uart = rows
            .iter()
            .find(|r| r.name == "serial:uart_insert_char")
            .unwrap();
        assert_eq!(uart.method.as_deref(), Some("poll"));
        let r = uart.reason.as_deref().unwrap();
        assert!(
            r.contains("EPERM") && r.contains("kprobes not built"),
            "{r}"
        );
        let flip = rows
            .iter()
            .find(|r| r.name == "serial:flip_buffer_insert")
            .unwrap();
        assert!(flip.reason.as_deref().unwrap().contains("none of"));
        assert!(rows.iter().all(|r| !r.attached));
    }
}
