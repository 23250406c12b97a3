//! Scheduler tracepoint: the moment a task whose wake timer fired gets the CPU, which turns a
//! timer's expiry lateness into the lateness the task itself sees.

//!
//! Both also exist as raw tracepoint programs (`<name>_raw`), preferred by the attach table:
//! `sched_switch` runs at every context switch, and its classic program makes the kernel fill
//! a record (two comms among it) only to discard almost all of them.

use aya_ebpf::{
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use serial_trace_common::kind;

use crate::emit::{emit, emit_raw};

/// `sched:sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next, …)`
/// Filtered in the kernel: only switches to a task with a pending timer wakeup are recorded.
#[tracepoint]
pub fn sched_switch(ctx: TracePointContext) -> u32 {
    emit::<{ kind::SCHED_SWITCH }>(&ctx)
}

/// `sched:sched_waking(char comm[16], pid_t pid, int prio, int target_cpu)`
/// Filtered in the kernel: only wakeups inside a wake timer's callback are recorded.
#[tracepoint]
pub fn sched_waking(ctx: TracePointContext) -> u32 {
    emit::<{ kind::SCHED_WAKING }>(&ctx)
}

/// Raw twin of [`sched_switch`] from 5.18 (`preempt, prev, next, prev_state`).
#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn sched_switch_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<4, { kind::SCHED_SWITCH }>(&ctx)
}

/// Raw twin of [`sched_switch`] before 5.18 (`preempt, prev, next`: the state is read from
/// the task, as those kernels' tracepoint did).
#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn sched_switch_raw3(ctx: RawTracePointContext) -> i32 {
    emit_raw::<3, { kind::SCHED_SWITCH }>(&ctx)
}

/// Raw twin of [`sched_waking`] (`p`).
#[raw_tracepoint(tracepoint = "sched_waking")]
pub fn sched_waking_raw(ctx: RawTracePointContext) -> i32 {
    emit_raw::<1, { kind::SCHED_WAKING }>(&ctx)
}

/// `task:task_rename` (every `comm` change: `prctl(PR_SET_NAME)`, a thread named through
/// `/proc`, every exec): counts renames, so that the hot programs stop leaving a `comm` out
/// that may have changed (see `emit::comm_sent`). Records nothing itself.
#[raw_tracepoint(tracepoint = "task_rename")]
pub fn task_rename_raw(_ctx: RawTracePointContext) -> i32 {
    crate::emit::count_rename();
    0
}

/// `sched:sched_process_fork(struct task_struct *parent, struct task_struct *child)`, attached
/// only for `record -- CMD`: follows CMD's process tree (records nothing itself).
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn process_fork_raw(ctx: RawTracePointContext) -> i32 {
    crate::emit::follow_fork(&ctx);
    0
}
