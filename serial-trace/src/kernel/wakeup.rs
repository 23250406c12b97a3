//! Load-time facts for following a timer expiry to the moment its task runs: which callbacks
//! wake the task that armed the timer (kallsyms) and where an hrtimer keeps its clock id (BTF).
//! aya-ebpf has no CO-RE relocations, so the offsets are resolved here and passed as a global.

use crate::kernel::btf::offset_of;
use serial_trace_common::WakeConfig;

use crate::kernel::kallsyms::Kallsyms;
pub use crate::trace::{TASK_CALLBACKS, WAKE_CALLBACKS};

/// The callbacks' addresses in `cfg` (see [`wake_layout`] for the rest).
pub fn add_callbacks(cfg: &mut WakeConfig, syms: &Kallsyms) {
    for (slot, name) in cfg.wake_functions.iter_mut().zip(WAKE_CALLBACKS) {
        *slot = syms.address_of(name).unwrap_or(0);
    }
    for (slot, name) in cfg.task_callbacks.iter_mut().zip(TASK_CALLBACKS) {
        *slot = syms.address_of(name).unwrap_or(0);
    }
}

/// The struct offsets of the config, from BTF (the callbacks come from kallsyms, read once the
/// BTF is freed: [`add_callbacks`]); with why the clock id cannot be recorded, when it cannot.
pub fn wake_layout() -> (WakeConfig, Option<String>) {
    let mut cfg = WakeConfig::default();
    let btf = match crate::kernel::btf::layouts() {
        Ok(b) => b,
        Err(e) => return (cfg, Some(format!("{e}: timer clock ids not recorded"))),
    };
    let btf = &*btf;
    // `node` (a timerqueue_node) comes first, so 0 is never these members' offset.
    cfg.hrtimer_softexpires_offset = offset_of(btf, "hrtimer", "_softexpires").unwrap_or(0);
    cfg.hrtimer_function_offset = offset_of(btf, "hrtimer", "function").unwrap_or(0);
    // 0 leaves the eBPF side's 8-byte default (every 64-bit kernel)
    cfg.ptr_size = crate::kernel::btf::pointer_size(btf).unwrap_or(0);
    cfg.hrtimer_window_offset = hrtimer_window(btf).unwrap_or(0);
    match (
        offset_of(btf, "hrtimer", "base"),
        offset_of(btf, "hrtimer_clock_base", "clockid"),
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

/// Where `node.expires`, `_softexpires`, `function` and `base` of `struct hrtimer` start,
/// when they lie back to back and are 8 bytes each (see `WakeConfig::hrtimer_window_offset`).
fn hrtimer_window(btf: &crate::kernel::btf::Btf) -> Option<u32> {
    let at = |path: &str| offset_of(btf, "hrtimer", path);
    let start = at("node.expires")?;
    let wide = crate::kernel::btf::pointer_size(btf) == Some(8);
    let back_to_back = [at("_softexpires")?, at("function")?, at("base")?]
        .iter()
        .enumerate()
        .all(|(i, &off)| off == start + 8 * (i as u32 + 1));
    (wide && back_to_back && start > 0).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_this_kernels_hrtimer_layout() {
        // Every kernel the project supports has BTF; the layout is the running one's.
        let btf = &*crate::kernel::btf::layouts().expect("this machine has kernel BTF");
        let base = offset_of(btf, "hrtimer", "base").expect("hrtimer.base");
        // node (timerqueue_node, 32 bytes) + _softexpires (8) + function (8) come first
        assert_eq!(base, 48);
        assert_eq!(offset_of(btf, "hrtimer", "_softexpires"), Some(32));
        assert_eq!(offset_of(btf, "hrtimer", "function"), Some(40));
        assert!(offset_of(btf, "hrtimer_clock_base", "clockid").is_some());
        // node (rb_node 24 bytes, then expires), _softexpires, function, base: back to back
        assert_eq!(hrtimer_window(btf), Some(24));
        assert_eq!(offset_of(btf, "hrtimer", "no_such_member"), None);
    }
}
