//! Timer tracepoints (`timer:*`, `alarmtimer:*`): arming, expiry and cancel of hrtimers, timer-wheel timers and alarm timers.

//!
//! Every hook also exists as a raw tracepoint program (`<name>_raw`, with a digit where
//! kernels pass different argument counts): it reads the tracepoint's arguments instead of a
//! record the kernel first builds for it, and the attach table prefers it.

use aya_ebpf::{
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use serial_trace_common::kind;

use crate::emit::{emit, emit_raw};

/// `timer:hrtimer_start(struct hrtimer *hrtimer, enum hrtimer_mode mode[, bool was_armed])`
#[tracepoint]
pub fn hrtimer_start(ctx: TracePointContext) -> u32 {
    emit::<{ kind::HRTIMER_START }>(&ctx)
}

/// `timer:hrtimer_expire_entry(struct hrtimer *hrtimer, ktime_t *now)`
#[tracepoint]
pub fn hrtimer_expire_entry(ctx: TracePointContext) -> u32 {
    emit::<{ kind::HRTIMER_EXPIRE_ENTRY }>(&ctx)
}

/// `timer:hrtimer_expire_exit(struct hrtimer *hrtimer)`
#[tracepoint]
pub fn hrtimer_expire_exit(ctx: TracePointContext) -> u32 {
    emit::<{ kind::HRTIMER_EXPIRE_EXIT }>(&ctx)
}

/// `timer:hrtimer_cancel(struct hrtimer *hrtimer)`
#[tracepoint]
pub fn hrtimer_cancel(ctx: TracePointContext) -> u32 {
    emit::<{ kind::HRTIMER_CANCEL }>(&ctx)
}

/// Raw twin of [`hrtimer_start`]: its first two arguments (`was_armed`, 6.18+, is not read).
#[raw_tracepoint(tracepoint = "hrtimer_start")]
pub fn hrtimer_start_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<2, { kind::HRTIMER_START }>(&ctx)
}

/// Raw twin of [`hrtimer_expire_entry`].
#[raw_tracepoint(tracepoint = "hrtimer_expire_entry")]
pub fn hrtimer_expire_entry_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<2, { kind::HRTIMER_EXPIRE_ENTRY }>(&ctx)
}

/// Raw twin of [`hrtimer_expire_exit`].
#[raw_tracepoint(tracepoint = "hrtimer_expire_exit")]
pub fn hrtimer_expire_exit_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<1, { kind::HRTIMER_EXPIRE_EXIT }>(&ctx)
}

/// Raw twin of [`hrtimer_cancel`].
#[raw_tracepoint(tracepoint = "hrtimer_cancel")]
pub fn hrtimer_cancel_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<1, { kind::HRTIMER_CANCEL }>(&ctx)
}

/// `timer:timer_start(struct timer_list *timer, unsigned long bucket_expiry)`
#[tracepoint]
pub fn timer_start(ctx: TracePointContext) -> u32 {
    emit::<{ kind::TIMER_START }>(&ctx)
}

/// `timer:timer_expire_entry(struct timer_list *timer, unsigned long baseclk)`
#[tracepoint]
pub fn timer_expire_entry(ctx: TracePointContext) -> u32 {
    emit::<{ kind::TIMER_EXPIRE_ENTRY }>(&ctx)
}

/// `timer:timer_cancel(struct timer_list *timer)`
#[tracepoint]
pub fn timer_cancel(ctx: TracePointContext) -> u32 {
    emit::<{ kind::TIMER_CANCEL }>(&ctx)
}

/// `alarmtimer:alarmtimer_start(struct alarm *alarm, ktime_t now)`
#[tracepoint]
pub fn alarmtimer_start(ctx: TracePointContext) -> u32 {
    emit::<{ kind::ALARMTIMER_START }>(&ctx)
}

/// `alarmtimer:alarmtimer_fired(struct alarm *alarm, ktime_t now)`
#[tracepoint]
pub fn alarmtimer_fired(ctx: TracePointContext) -> u32 {
    emit::<{ kind::ALARMTIMER_FIRED }>(&ctx)
}

/// `alarmtimer:alarmtimer_cancel(struct alarm *alarm, ktime_t now)`
#[tracepoint]
pub fn alarmtimer_cancel(ctx: TracePointContext) -> u32 {
    emit::<{ kind::ALARMTIMER_CANCEL }>(&ctx)
}

/// `alarmtimer:alarmtimer_suspend(ktime_t expires, int alarm_type)`
#[tracepoint]
pub fn alarmtimer_suspend(ctx: TracePointContext) -> u32 {
    emit::<{ kind::ALARMTIMER_SUSPEND }>(&ctx)
}

/// Raw twin of [`timer_start`] on kernels that pass `(timer, expires, flags)` (5.10).
#[raw_tracepoint(tracepoint = "timer_start")]
pub fn timer_start_raw3(ctx: RawTracePointContext) -> i32 {
    emit_raw::<3, { kind::TIMER_START }>(&ctx)
}

/// Raw twin of [`timer_start`] on kernels that pass `(timer, bucket_expiry)`.
#[raw_tracepoint(tracepoint = "timer_start")]
pub fn timer_start_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<2, { kind::TIMER_START }>(&ctx)
}

/// Raw twin of [`timer_expire_entry`].
#[raw_tracepoint(tracepoint = "timer_expire_entry")]
pub fn timer_expire_entry_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<2, { kind::TIMER_EXPIRE_ENTRY }>(&ctx)
}

/// Raw twin of [`timer_cancel`].
#[raw_tracepoint(tracepoint = "timer_cancel")]
pub fn timer_cancel_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<1, { kind::TIMER_CANCEL }>(&ctx)
}

/// Raw twin of [`alarmtimer_start`].
#[raw_tracepoint(tracepoint = "alarmtimer_start")]
pub fn alarmtimer_start_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<2, { kind::ALARMTIMER_START }>(&ctx)
}

/// Raw twin of [`alarmtimer_fired`].
#[raw_tracepoint(tracepoint = "alarmtimer_fired")]
pub fn alarmtimer_fired_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<2, { kind::ALARMTIMER_FIRED }>(&ctx)
}

/// Raw twin of [`alarmtimer_cancel`].
#[raw_tracepoint(tracepoint = "alarmtimer_cancel")]
pub fn alarmtimer_cancel_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<2, { kind::ALARMTIMER_CANCEL }>(&ctx)
}

/// Raw twin of [`alarmtimer_suspend`].
#[raw_tracepoint(tracepoint = "alarmtimer_suspend")]
pub fn alarmtimer_suspend_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<2, { kind::ALARMTIMER_SUSPEND }>(&ctx)
}
