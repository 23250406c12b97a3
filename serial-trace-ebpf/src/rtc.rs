//! RTC tracepoints (`rtc:*`): the alarm path that wakes a suspended system.
//!
//! Each has a raw tracepoint twin (`<name>_raw`), which the attach table prefers.

use aya_ebpf::{
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use serial_trace_common::kind;

use crate::emit::{emit, emit_raw};

/// `rtc:rtc_timer_enqueue(struct rtc_timer *timer)`
#[tracepoint]
pub fn rtc_timer_enqueue(ctx: TracePointContext) -> u32 {
    emit::<{ kind::RTC_TIMER_ENQUEUE }>(&ctx)
}

/// `rtc:rtc_timer_fired(struct rtc_timer *timer)`
#[tracepoint]
pub fn rtc_timer_fired(ctx: TracePointContext) -> u32 {
    emit::<{ kind::RTC_TIMER_FIRED }>(&ctx)
}

/// `rtc:rtc_set_alarm(time64_t secs, int err)`
#[tracepoint]
pub fn rtc_set_alarm(ctx: TracePointContext) -> u32 {
    emit::<{ kind::RTC_SET_ALARM }>(&ctx)
}

/// Raw twin of [`rtc_timer_enqueue`].
#[raw_tracepoint(tracepoint = "rtc_timer_enqueue")]
pub fn rtc_timer_enqueue_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<1, { kind::RTC_TIMER_ENQUEUE }>(&ctx)
}

/// Raw twin of [`rtc_timer_fired`].
#[raw_tracepoint(tracepoint = "rtc_timer_fired")]
pub fn rtc_timer_fired_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<1, { kind::RTC_TIMER_FIRED }>(&ctx)
}

/// Raw twin of [`rtc_set_alarm`].
#[raw_tracepoint(tracepoint = "rtc_set_alarm")]
pub fn rtc_set_alarm_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<2, { kind::RTC_SET_ALARM }>(&ctx)
}
