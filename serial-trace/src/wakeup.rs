//! Load-time facts for following a timer expiry to the moment its task runs: which callbacks
//! wake the task that armed the timer (kallsyms) and where an hrtimer keeps its clock id (BTF).
//! aya-ebpf has no CO-RE relocations, so the offsets are resolved here and passed as a global.

use btf_rs::{Btf, Type};
use serial_trace_common::WakeConfig;

use crate::kallsyms::Kallsyms;

/// Callbacks that wake the task that armed the timer: sleeps (`nanosleep`, `poll`/`epoll`
/// timeouts, futex waits) and timerfd reads.
pub const WAKE_CALLBACKS: &[&str] = &["hrtimer_wakeup", "timerfd_tmrproc"];

/// Byte offset of `member` in `struct name`, from the running kernel's BTF.
fn member_offset(btf: &Btf, name: &str, member: &str) -> Option<u32> {
    let types = btf.resolve_types_by_name(name).ok()?;
    types.iter().find_map(|t| match t {
        Type::Struct(s) => s
            .members
            .iter()
            .find_map(|m| (btf.resolve_name(m).ok()? == member).then(|| m.bit_offset() / 8)),
        _ => None,
    })
}

/// Why the clock id cannot be recorded, when it cannot.
pub fn wake_config(syms: &Kallsyms) -> (WakeConfig, Option<String>) {
    let mut cfg = WakeConfig::default();
    for (slot, name) in cfg.wake_functions.iter_mut().zip(WAKE_CALLBACKS) {
        *slot = syms.address_of(name).unwrap_or(0);
    }
    let btf = match Btf::from_file("/sys/kernel/btf/vmlinux") {
        Ok(b) => b,
        Err(e) => {
            return (
                cfg,
                Some(format!("no kernel BTF ({e}): timer clock ids not recorded")),
            );
        }
    };
    match (
        member_offset(&btf, "hrtimer", "base"),
        member_offset(&btf, "hrtimer_clock_base", "clockid"),
    ) {
        (Some(base), Some(clockid)) if base > 0 => {
            cfg.hrtimer_base_offset = base;
            cfg.clock_base_clockid_offset = clockid;
            (cfg, None)
        }
        _ => (
            cfg,
            Some("BTF lacks hrtimer.base or hrtimer_clock_base.clockid: timer clock ids not recorded".into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_this_kernels_hrtimer_layout() {
        // Every kernel the project supports has BTF; the layout is the running one's.
        let Ok(btf) = Btf::from_file("/sys/kernel/btf/vmlinux") else {
            panic!("no /sys/kernel/btf/vmlinux on this machine");
        };
        let base = member_offset(&btf, "hrtimer", "base").expect("hrtimer.base");
        // node (timerqueue_node, 32 bytes) + _softexpires (8) + function (8) come first
        assert_eq!(base, 48);
        assert!(member_offset(&btf, "hrtimer_clock_base", "clockid").is_some());
        assert_eq!(member_offset(&btf, "hrtimer", "no_such_member"), None);
    }
}
