//! Scheduler tracepoint: the moment a task whose wake timer fired gets the CPU, which turns a
//! timer's expiry lateness into the lateness the task itself sees.

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use serial_trace_common::kind;

use crate::emit::emit;

/// `sched:sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next, …)`
/// Filtered in the kernel: only switches to a task with a pending timer wakeup are recorded.
#[tracepoint]
pub fn sched_switch(ctx: TracePointContext) -> u32 {
    emit(&ctx, kind::SCHED_SWITCH)
}

/// `sched:sched_waking(char comm[16], pid_t pid, int prio, int target_cpu)`
/// Filtered in the kernel: only wakeups inside a wake timer's callback are recorded.
#[tracepoint]
pub fn sched_waking(ctx: TracePointContext) -> u32 {
    emit(&ctx, kind::SCHED_WAKING)
}
