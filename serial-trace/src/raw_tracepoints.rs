//! The raw tracepoint twins of the hot tracepoint hooks (hrtimers, `sched_switch`,
//! `sched_waking`), and how each slot of their events is read from the tracepoint's own
//! arguments.
//!
//! A classic tracepoint program runs after the kernel has built the tracepoint's record for
//! it (and, for `sched_switch`, copied two comms into it at every context switch); a raw
//! tracepoint program gets the `TP_PROTO` arguments as they are and reads only what it keeps.
//! The slots hold the same values as the record's fields, so nothing downstream knows which
//! program wrote an event. The arguments' types come from the kernel's BTF
//! (`btf_trace_<name>`), as do the offsets of the struct members read through them: a kernel
//! whose prototype differs from what a program reads, or that has no BTF, keeps the classic
//! program, and `probe` says why.

use serial_trace_common::{
    FieldSpec, HookSpec, KindInfo, TextSpec, arg, field_source, kind, text_kind,
};

use crate::kernel::btf::{
    Btf, offset_of, pointer_size, require_member_size, require_offset, tracepoint_prototype,
};

/// One raw program of a hook: its name in the eBPF object and the leading `TP_PROTO`
/// arguments it reads, by C type (the kernel may pass more after them).
pub struct RawProgram {
    pub program: &'static str,
    pub reads: &'static [&'static str],
}

/// The raw programs of `kind`, in order of preference (the first whose arguments the
/// kernel's prototype starts with is used); empty for hooks that stay classic.
pub fn raw_programs(kind: u16) -> &'static [RawProgram] {
    const HRTIMER: &[&str] = &["struct hrtimer *"];
    match kind {
        kind::HRTIMER_START => &[RawProgram {
            program: "hrtimer_start_raw",
            reads: &["struct hrtimer *", "enum hrtimer_mode"],
        }],
        kind::HRTIMER_EXPIRE_ENTRY => &[RawProgram {
            program: "hrtimer_expire_entry_raw",
            reads: &["struct hrtimer *", "ktime_t *"],
        }],
        kind::HRTIMER_EXPIRE_EXIT => &[RawProgram {
            program: "hrtimer_expire_exit_raw",
            reads: HRTIMER,
        }],
        kind::HRTIMER_CANCEL => &[RawProgram {
            program: "hrtimer_cancel_raw",
            reads: HRTIMER,
        }],
        kind::SCHED_SWITCH => &[
            // 5.18+ pass the state the task left in
            RawProgram {
                program: "sched_switch_raw",
                reads: &[
                    "bool",
                    "struct task_struct *",
                    "struct task_struct *",
                    "unsigned int",
                ],
            },
            RawProgram {
                program: "sched_switch_raw3",
                reads: &["bool", "struct task_struct *", "struct task_struct *"],
            },
        ],
        kind::SCHED_WAKING => &[RawProgram {
            program: "sched_waking_raw",
            reads: &["struct task_struct *"],
        }],
        _ => &[],
    }
}

/// A raw program for `kind` on this kernel and its spec, or why the classic program stays.
pub struct RawPlan {
    pub program: &'static str,
    pub spec: HookSpec,
}

/// Plans the raw twin of `kind` against the kernel's BTF (`Ok(None)`: the hook has none).
pub fn plan(btf: &Btf, kind: &KindInfo) -> Result<Option<RawPlan>, String> {
    let programs = raw_programs(kind.id);
    if programs.is_empty() {
        return Ok(None);
    }
    let proto = tracepoint_prototype(btf, kind.name)?;
    let Some(chosen) = choose(programs, &proto) else {
        return Err(format!(
            "the kernel's {} passes ({}), which no raw program of serial-trace reads ({})",
            kind.name,
            proto.join(", "),
            programs
                .iter()
                .map(|p| p.reads.join(", "))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    };
    let mut spec = HookSpec::EMPTY;
    spec.filter = kind.filter;
    spec.role = kind.role;
    fill(btf, kind.id, chosen.reads.len(), &mut spec)?;
    Ok(Some(RawPlan {
        program: chosen.program,
        spec,
    }))
}

/// The first of `programs` whose arguments the prototype `proto` starts with.
fn choose<'a>(programs: &'a [RawProgram], proto: &[String]) -> Option<&'a RawProgram> {
    programs
        .iter()
        .find(|p| proto.len() >= p.reads.len() && proto[..p.reads.len()] == *p.reads)
}

/// Argument `arg` itself, `size` bytes.
fn direct(arg: u8, size: u32, signed: bool) -> FieldSpec {
    FieldSpec {
        offset: 0,
        size: size as u8,
        signed: u8::from(signed),
        source: field_source::ARG,
        arg,
        _pad: [0; 2],
    }
}

/// The integer at `offset` in what argument `arg` points to.
fn deref(arg: u8, offset: u32, size: u32, signed: bool) -> Result<FieldSpec, String> {
    let offset = u16::try_from(offset)
        .map_err(|_| format!("a member at offset {offset} is beyond what a raw spec holds"))?;
    Ok(FieldSpec {
        offset,
        size: size as u8,
        signed: u8::from(signed),
        source: field_source::ARG_DEREF,
        arg,
        _pad: [0; 2],
    })
}

/// Member `path` of `struct name` behind argument `arg`, its width from BTF.
fn member(btf: &Btf, arg: u8, name: &str, path: &str, signed: bool) -> Result<FieldSpec, String> {
    let offset = require_offset(btf, name, path)?;
    let size = require_member_size(btf, name, path)?;
    deref(arg, offset, size, signed)
}

/// Fills the slots of `kind` as its tracepoint's record would hold them (same sizes and
/// signedness as the record's fields), for a program reading `nargs` arguments.
fn fill(btf: &Btf, id: u16, nargs: usize, spec: &mut HookSpec) -> Result<(), String> {
    let ptr = pointer_size(btf).unwrap_or(8);
    let f = &mut spec.fields;
    match id {
        kind::HRTIMER_START => {
            use arg::hrtimer_start as a;
            f[a::HRTIMER] = direct(0, ptr, false);
            f[a::FUNCTION] = member(btf, 0, "hrtimer", "function", false)?;
            f[a::EXPIRES] = member(btf, 0, "hrtimer", "node.expires", true)?;
            f[a::SOFTEXPIRES] = member(btf, 0, "hrtimer", "_softexpires", true)?;
            f[a::MODE] = direct(1, 4, false);
        }
        kind::HRTIMER_EXPIRE_ENTRY => {
            use arg::hrtimer_expire_entry as a;
            f[a::HRTIMER] = direct(0, ptr, false);
            // `ktime_t *now`: the value it points to
            f[a::NOW] = deref(1, 0, 8, true)?;
            f[a::FUNCTION] = member(btf, 0, "hrtimer", "function", false)?;
        }
        kind::HRTIMER_EXPIRE_EXIT | kind::HRTIMER_CANCEL => {
            f[0] = direct(0, ptr, false);
        }
        kind::SCHED_SWITCH => {
            use arg::sched_switch as a;
            f[a::NEXT_PID] = member(btf, 2, "task_struct", "pid", true)?;
            f[a::PREV_PID] = member(btf, 1, "task_struct", "pid", true)?;
            f[a::PREV_STATE] = if nargs >= 4 {
                direct(3, 4, false)
            } else {
                // before 5.18 the tracepoint read the task's own state (`state`, a long;
                // `__state`, an unsigned int, from 5.14)
                let path = if offset_of(btf, "task_struct", "__state").is_some() {
                    "__state"
                } else {
                    "state"
                };
                member(btf, 1, "task_struct", path, false)?
            };
            f[a::RAW_PREEMPT] = direct(0, 1, false);
            f[a::RAW_EXIT_STATE] = member(btf, 1, "task_struct", "exit_state", false)?;
        }
        kind::SCHED_WAKING => {
            use arg::sched_waking as a;
            f[a::PID] = member(btf, 0, "task_struct", "pid", true)?;
            let comm = require_offset(btf, "task_struct", "comm")?;
            spec.texts[0] = TextSpec {
                offset: u16::try_from(comm).map_err(|_| "task_struct.comm beyond 64 KiB")?,
                kind: text_kind::ARG_INLINE,
                arg: 0,
            };
        }
        _ => return Err("no raw program".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serial_trace_common::{KINDS, kind_info};

    #[test]
    fn every_hot_hook_has_a_raw_twin_on_this_kernel() {
        let btf = &*crate::kernel::btf::layouts().expect("this machine has kernel BTF");
        let mut planned = 0;
        for k in KINDS.iter().filter(|k| k.is_tracepoint()) {
            match plan(btf, k) {
                Ok(Some(p)) => {
                    planned += 1;
                    assert!(p.program.ends_with("_raw") || p.program.ends_with("_raw3"));
                    assert_eq!(p.spec.role, k.role);
                    // every slot the record fills is filled from the arguments
                    for (i, a) in k.args.iter().enumerate() {
                        if !a.derived && a.required {
                            assert_ne!(p.spec.fields[i].size, 0, "{}.{}", k.name, a.name);
                        }
                    }
                }
                Ok(None) => assert!(raw_programs(k.id).is_empty()),
                Err(e) => panic!("{}: {e}", k.name),
            }
        }
        assert_eq!(planned, 6);
    }

    #[test]
    fn sched_switch_takes_the_state_argument_where_the_kernel_passes_it() {
        let btf = &*crate::kernel::btf::layouts().expect("this machine has kernel BTF");
        // this machine runs 6.18: four arguments
        let p = plan(btf, kind_info(kind::SCHED_SWITCH).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(p.program, "sched_switch_raw");
        let state = p.spec.fields[arg::sched_switch::PREV_STATE];
        assert_eq!((state.source, state.arg), (field_source::ARG, 3));
        let next = p.spec.fields[arg::sched_switch::NEXT_PID];
        assert_eq!(
            (next.source, next.arg, next.size),
            (field_source::ARG_DEREF, 2, 4)
        );
    }

    #[test]
    fn the_program_follows_the_kernels_prototype() {
        let proto = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let task = "struct task_struct *";
        let switch = raw_programs(kind::SCHED_SWITCH);
        // 5.10: no state argument; 5.18+: one
        let old = choose(switch, &proto(&["bool", task, task])).unwrap();
        assert_eq!(old.program, "sched_switch_raw3");
        let new = choose(switch, &proto(&["bool", task, task, "unsigned int"])).unwrap();
        assert_eq!(new.program, "sched_switch_raw");
        // 6.18 appended `bool was_armed`: the first two are still what the program reads
        let start = raw_programs(kind::HRTIMER_START);
        let with = proto(&["struct hrtimer *", "enum hrtimer_mode", "bool"]);
        assert_eq!(choose(start, &with).unwrap().program, "hrtimer_start_raw");
        // fewer or other arguments: the classic program stays
        assert!(choose(start, &proto(&["struct hrtimer *"])).is_none());
        assert!(choose(start, &proto(&["struct timer_list *", "enum hrtimer_mode"])).is_none());
        assert!(raw_programs(kind::SUSPEND_RESUME).is_empty());
    }
}
