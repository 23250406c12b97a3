//! RTC tracepoints (`rtc:*`): the alarm path that wakes a suspended system.

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use serial_trace_common::kind;

use crate::emit::emit;

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
