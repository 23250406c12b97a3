//! The raw tracepoint twins of the tracepoint hooks, and how each slot of their events is
//! read from the tracepoint's own arguments.
//!
//! A classic tracepoint program runs after the kernel has built the tracepoint's record for
//! it (and, for `sched_switch`, copied two comms into it at every context switch); a raw
//! tracepoint program gets the `TP_PROTO` arguments as they are and reads only what it keeps.
//! The slots hold the same values as the record's fields, so nothing downstream knows which
//! program wrote an event. Every hook has one: besides its cost per event, a classic program
//! costs the kernel a grace period to detach (`perf_trace_destroy`, one after another under
//! `event_mutex`), ~45 ms a hook on this host, which `probe` and the end of `record` paid 15
//! times. The arguments' types come from the kernel's BTF
//! (`btf_trace_<name>`), as do the offsets of the struct members read through them: a kernel
//! whose prototype differs from what a program reads, or that has no BTF, keeps the classic
//! program, and `probe` says why.

use serial_trace_common::{
    DeviceLayout, FieldSpec, HookSpec, KindInfo, TextSpec, arg, field_source, kind, text_kind,
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
    const ALARM: &[&str] = &["struct alarm *", "ktime_t"];
    const WAKEUP_SOURCE: &[&str] = &["char *", "unsigned int"];
    const RTC_TIMER: &[&str] = &["struct rtc_timer *"];
    // a hook with one raw program (a constant, so the table is `'static`)
    macro_rules! one {
        ($program:literal, $reads:expr $(,)?) => {
            &[RawProgram {
                program: $program,
                reads: $reads,
            }]
        };
    }
    match kind {
        kind::TIMER_START => &[
            // 5.10 passes the expiry and the flags; later kernels the bucket's expiry
            RawProgram {
                program: "timer_start_raw3",
                reads: &["struct timer_list *", "long unsigned int", "unsigned int"],
            },
            RawProgram {
                program: "timer_start_raw",
                reads: &["struct timer_list *", "long unsigned int"],
            },
        ],
        kind::TIMER_EXPIRE_ENTRY => one!(
            "timer_expire_entry_raw",
            &["struct timer_list *", "long unsigned int"],
        ),
        kind::TIMER_CANCEL => one!("timer_cancel_raw", &["struct timer_list *"]),
        kind::ALARMTIMER_START => one!("alarmtimer_start_raw", ALARM),
        kind::ALARMTIMER_FIRED => one!("alarmtimer_fired_raw", ALARM),
        kind::ALARMTIMER_CANCEL => one!("alarmtimer_cancel_raw", ALARM),
        kind::ALARMTIMER_SUSPEND => one!("alarmtimer_suspend_raw", &["ktime_t", "int"]),
        kind::SUSPEND_RESUME => one!("suspend_resume_raw", &["char *", "int", "bool"]),
        kind::DEVICE_PM_CALLBACK_START => one!(
            "device_pm_callback_start_raw",
            &["struct device *", "char *", "int"],
        ),
        kind::DEVICE_PM_CALLBACK_END => {
            one!("device_pm_callback_end_raw", &["struct device *", "int"],)
        }
        kind::WAKEUP_SOURCE_ACTIVATE => one!("wakeup_source_activate_raw", WAKEUP_SOURCE),
        kind::WAKEUP_SOURCE_DEACTIVATE => one!("wakeup_source_deactivate_raw", WAKEUP_SOURCE),
        kind::RTC_TIMER_ENQUEUE => one!("rtc_timer_enqueue_raw", RTC_TIMER),
        kind::RTC_TIMER_FIRED => one!("rtc_timer_fired_raw", RTC_TIMER),
        kind::RTC_SET_ALARM => one!("rtc_set_alarm_raw", &["time64_t", "int"]),
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
        kind::IRQ_HANDLER_ENTRY => one!("irq_handler_entry_raw", &["int"]),
        kind::IRQ_HANDLER_EXIT => one!(
            "irq_handler_exit_raw",
            &["int", "struct irqaction *", "int"],
        ),
        // `req_cpu` is an `unsigned int` on 5.10, an `int` on 6.18
        kind::WORKQUEUE_QUEUE_WORK => &[
            RawProgram {
                program: "workqueue_queue_work_raw",
                reads: &["int", "struct pool_workqueue *", "struct work_struct *"],
            },
            RawProgram {
                program: "workqueue_queue_work_raw",
                reads: &[
                    "unsigned int",
                    "struct pool_workqueue *",
                    "struct work_struct *",
                ],
            },
        ],
        kind::WORKQUEUE_EXECUTE_START => {
            one!("workqueue_execute_start_raw", &["struct work_struct *"])
        }
        kind::WORKQUEUE_EXECUTE_END => {
            one!("workqueue_execute_end_raw", &["struct work_struct *"])
        }
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
    fill(btf, kind, chosen.reads.len(), &mut spec)?;
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

/// The kernel's `jiffies`, read when the program runs (the record's `now`), an
/// `unsigned long`.
fn jiffies(ptr: u32) -> FieldSpec {
    FieldSpec {
        offset: 0,
        size: ptr as u8,
        signed: 0,
        source: field_source::JIFFIES,
        arg: 0,
        _pad: [0; 2],
    }
}

/// Text of argument `arg` read as `kind` (a `text_kind::ARG_*`).
fn text(arg: u8, kind: u8) -> TextSpec {
    TextSpec {
        offset: 0,
        kind,
        arg,
    }
}

/// How the raw device PM programs name a device: the members `dev_name` and
/// `dev_driver_string` read (`Err` when the kernel's BTF lacks one: the classic programs stay).
pub fn device_layout(btf: &Btf) -> Result<DeviceLayout, String> {
    let at = |name: &str, path: &str| -> Result<u16, String> {
        let off = require_offset(btf, name, path)?;
        u16::try_from(off).map_err(|_| format!("{name}.{path} lies beyond 64 KiB"))
    };
    Ok(DeviceLayout {
        init_name: at("device", "init_name")?,
        kobj_name: at("device", "kobj.name")?,
        driver: at("device", "driver")?,
        bus: at("device", "bus")?,
        class: at("device", "class")?,
        driver_name: at("device_driver", "name")?,
        bus_name: at("bus_type", "name")?,
        class_name: at("class", "name")?,
        ptr_size: pointer_size(btf).unwrap_or(8) as u16,
        _pad: [0; 3],
    })
}

/// Fills the slots of `kind` as its tracepoint's record would hold them (same sizes and
/// signedness as the record's fields), for a program reading `nargs` arguments.
fn fill(btf: &Btf, kind: &KindInfo, nargs: usize, spec: &mut HookSpec) -> Result<(), String> {
    let ptr = pointer_size(btf).unwrap_or(8);
    // the slot of the record field `name` (the kinds without `arg::` constants)
    let slot = |name: &str| -> usize {
        kind.args
            .iter()
            .position(|a| a.name == name)
            .unwrap_or_else(|| panic!("{} has no slot {name}", kind.name))
    };
    let f = &mut spec.fields;
    match kind.id {
        kind::TIMER_START => {
            f[slot("timer")] = direct(0, ptr, false);
            f[slot("function")] = member(btf, 0, "timer_list", "function", false)?;
            f[slot("now")] = jiffies(ptr);
            if nargs >= 3 {
                // (timer, expires, flags): no bucket expiry
                f[slot("expires")] = direct(1, ptr, false);
                f[slot("flags")] = direct(2, 4, false);
            } else {
                f[slot("expires")] = member(btf, 0, "timer_list", "expires", false)?;
                f[slot("bucket_expiry")] = direct(1, ptr, false);
                f[slot("flags")] = member(btf, 0, "timer_list", "flags", false)?;
            }
        }
        kind::TIMER_EXPIRE_ENTRY => {
            f[slot("timer")] = direct(0, ptr, false);
            f[slot("now")] = jiffies(ptr);
            f[slot("function")] = member(btf, 0, "timer_list", "function", false)?;
            f[slot("baseclk")] = direct(1, ptr, false);
        }
        kind::TIMER_CANCEL => f[slot("timer")] = direct(0, ptr, false),
        kind::ALARMTIMER_START | kind::ALARMTIMER_FIRED | kind::ALARMTIMER_CANCEL => {
            f[slot("alarm")] = direct(0, ptr, false);
            f[slot("alarm_type")] = member(btf, 0, "alarm", "type", false)?;
            f[slot("expires")] = member(btf, 0, "alarm", "node.expires", true)?;
            f[slot("now")] = direct(1, 8, true);
        }
        kind::ALARMTIMER_SUSPEND => {
            f[slot("expires")] = direct(0, 8, true);
            f[slot("alarm_type")] = direct(1, 4, true);
        }
        kind::SUSPEND_RESUME => {
            use arg::suspend_resume as a;
            f[a::VAL] = direct(1, 4, true);
            f[a::START] = direct(2, 1, false);
            spec.texts[0] = text(0, text_kind::ARG_POINTER);
        }
        kind::DEVICE_PM_CALLBACK_START | kind::DEVICE_PM_CALLBACK_END => {
            device_layout(btf)?;
            if kind.id == kind::DEVICE_PM_CALLBACK_START {
                f[slot("event")] = direct(2, 4, true);
            } else {
                f[slot("error")] = direct(1, 4, true);
            }
            spec.texts[0] = text(0, text_kind::ARG_DEVICE_NAME);
            spec.texts[1] = text(0, text_kind::ARG_DEVICE_DRIVER);
        }
        kind::WAKEUP_SOURCE_ACTIVATE | kind::WAKEUP_SOURCE_DEACTIVATE => {
            f[slot("state")] = direct(1, 4, false);
            spec.texts[0] = text(0, text_kind::ARG_POINTER);
        }
        kind::RTC_TIMER_ENQUEUE | kind::RTC_TIMER_FIRED => {
            f[slot("timer")] = direct(0, ptr, false);
            f[slot("expires")] = member(btf, 0, "rtc_timer", "node.expires", true)?;
            f[slot("period")] = member(btf, 0, "rtc_timer", "period", true)?;
        }
        kind::RTC_SET_ALARM => {
            f[slot("secs")] = direct(0, 8, true);
            f[slot("err")] = direct(1, 4, true);
        }
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
        kind::IRQ_HANDLER_ENTRY => f[0] = direct(0, 4, true),
        kind::IRQ_HANDLER_EXIT => {
            use arg::irq_handler_exit as a;
            f[a::IRQ] = direct(0, 4, true);
            f[a::RET] = direct(2, 4, true);
        }
        kind::WORKQUEUE_QUEUE_WORK => {
            f[slot("work")] = direct(2, ptr, false);
            f[slot("function")] = member(btf, 2, "work_struct", "func", false)?;
        }
        kind::WORKQUEUE_EXECUTE_START | kind::WORKQUEUE_EXECUTE_END => {
            f[slot("work")] = direct(0, ptr, false);
            f[slot("function")] = member(btf, 0, "work_struct", "func", false)?;
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
    fn every_tracepoint_hook_has_a_raw_twin_on_this_kernel() {
        let btf = &*crate::kernel::btf::layouts().expect("this machine has kernel BTF");
        let mut planned = 0;
        for k in KINDS.iter().filter(|k| k.is_tracepoint()) {
            assert!(!raw_programs(k.id).is_empty(), "{} has no raw twin", k.name);
            // this machine's kernel has no suspend and no RTC class: those tracepoints are
            // not in it at all (the VM matrix plans them on the guests' kernels)
            if tracepoint_prototype(btf, k.name).is_err() {
                assert!(
                    k.category == "rtc"
                        || k.name.starts_with("device_pm")
                        || k.name == "alarmtimer_suspend",
                    "{}",
                    k.name
                );
                continue;
            }
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
                Ok(None) => unreachable!("{} has a raw twin", k.name),
                Err(e) => panic!("{}: {e}", k.name),
            }
        }
        assert_eq!(planned, 20);
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
        // 5.10's timer_start passes the expiry and flags; later ones the bucket's expiry
        let timer = raw_programs(kind::TIMER_START);
        let t = "struct timer_list *";
        let ulong = "long unsigned int";
        let old = choose(timer, &proto(&[t, ulong, "unsigned int"])).unwrap();
        assert_eq!(old.program, "timer_start_raw3");
        assert_eq!(
            choose(timer, &proto(&[t, ulong])).unwrap().program,
            "timer_start_raw"
        );
    }
}
