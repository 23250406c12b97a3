//! Power-management tracepoints (`power:*`): suspend/resume phases, per-device PM callbacks, wakeup sources.
//!
//! Each has a raw tracepoint twin (`<name>_raw`), which the attach table prefers.

use aya_ebpf::{
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use serial_trace_common::kind;

use crate::emit::{emit, emit_raw};

/// `power:suspend_resume(const char *action, int val, bool start)`
#[tracepoint]
pub fn suspend_resume(ctx: TracePointContext) -> u32 {
    emit::<{ kind::SUSPEND_RESUME }>(&ctx)
}

/// `power:device_pm_callback_start(struct device *dev, const char *pm_ops, int event)`
#[tracepoint]
pub fn device_pm_callback_start(ctx: TracePointContext) -> u32 {
    emit::<{ kind::DEVICE_PM_CALLBACK_START }>(&ctx)
}

/// `power:device_pm_callback_end(struct device *dev, int error)`
#[tracepoint]
pub fn device_pm_callback_end(ctx: TracePointContext) -> u32 {
    emit::<{ kind::DEVICE_PM_CALLBACK_END }>(&ctx)
}

/// `power:wakeup_source_activate(const char *name, unsigned int state)`
#[tracepoint]
pub fn wakeup_source_activate(ctx: TracePointContext) -> u32 {
    emit::<{ kind::WAKEUP_SOURCE_ACTIVATE }>(&ctx)
}

/// `power:wakeup_source_deactivate(const char *name, unsigned int state)`
#[tracepoint]
pub fn wakeup_source_deactivate(ctx: TracePointContext) -> u32 {
    emit::<{ kind::WAKEUP_SOURCE_DEACTIVATE }>(&ctx)
}

/// Raw twin of [`suspend_resume`].
#[raw_tracepoint(tracepoint = "suspend_resume")]
pub fn suspend_resume_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<3, { kind::SUSPEND_RESUME }>(&ctx)
}

/// Raw twin of [`device_pm_callback_start`].
#[raw_tracepoint(tracepoint = "device_pm_callback_start")]
pub fn device_pm_callback_start_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<3, { kind::DEVICE_PM_CALLBACK_START }>(&ctx)
}

/// Raw twin of [`device_pm_callback_end`].
#[raw_tracepoint(tracepoint = "device_pm_callback_end")]
pub fn device_pm_callback_end_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<2, { kind::DEVICE_PM_CALLBACK_END }>(&ctx)
}

/// Raw twin of [`wakeup_source_activate`].
#[raw_tracepoint(tracepoint = "wakeup_source_activate")]
pub fn wakeup_source_activate_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<2, { kind::WAKEUP_SOURCE_ACTIVATE }>(&ctx)
}

/// Raw twin of [`wakeup_source_deactivate`].
#[raw_tracepoint(tracepoint = "wakeup_source_deactivate")]
pub fn wakeup_source_deactivate_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<2, { kind::WAKEUP_SOURCE_DEACTIVATE }>(&ctx)
}
