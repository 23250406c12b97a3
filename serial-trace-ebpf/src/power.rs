//! Power-management tracepoints (`power:*`): suspend/resume phases, per-device PM callbacks, wakeup sources.

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use serial_trace_common::kind;

use crate::emit::emit;

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
