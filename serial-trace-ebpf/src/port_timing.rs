//! The level between the UART's FIFO and the reader that the serial hooks do not time
//! (`irq:`, `workqueue:` tracepoints): how long a traced port's interrupt handler ran, and how
//! long received bytes waited between the flip-buffer push (`flush_to_ldisc` queued) and the
//! line discipline (its run), and how long that run took.
//!
//! Only values in `MATCH` count: the traced ports' IRQ numbers and `flush_to_ldisc`'s
//! address, put there by the loader. Entries and queueings are not events: their times are
//! kept (per CPU for an interrupt, which cannot nest or migrate; per work item for the work),
//! and the exit or end adds the durations to the port's aggregates (per-CPU maps the recorder
//! sums at each checkpoint: counts, totals, maxima, histograms) — and, with `record
//! --port-timing-events` (`Filter::MATCHED_EVENTS`), also writes one event per run. Each
//! hook has a raw twin.

use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, generated::bpf_ktime_get_ns},
    macros::{map, raw_tracepoint, tracepoint},
    maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap},
    programs::{RawTracePointContext, TracePointContext},
};
use serial_trace_common::port_aggregates::{
    IrqAggregate, LDISC_TIMED_KEY, LdiscAggregate, MAX_LDISC_AGGREGATES,
};
use serial_trace_common::{Filter, MAX_MATCH, TEXT_LEN, WorkTimes, arg, kind, state_counts};

use crate::emit::{
    Fields, NEG_EEXIST, RAW_SPECS, RawArgs, Record, SPECS, Spec, Stamp, count_state, lru_entry,
    write_slots,
};
use crate::serial::work_port_name;
use aya_ebpf::bindings::BPF_NOEXIST;

/// The values that count (see the module comment); any value, 1.
#[map]
static MATCH: HashMap<u64, u8> = HashMap::with_max_entries(MAX_MATCH, 0);

/// CLOCK_MONOTONIC at the entry of a matched interrupt handler on this CPU (0: none).
#[map]
static IRQ_ENTERED: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Per `flush_to_ldisc` work item (`&tty_port->buf.work`): when it was queued and started.
/// One entry per port that received since the recording began, kept (an LRU map: a port
/// beyond 256 evicts the oldest, counted).
#[map]
static WORK_TIMES: LruHashMap<u64, WorkTimes> = LruHashMap::with_max_entries(256, 0);

/// Per traced port's IRQ (keys put there by the loader), per CPU: its handler's runs.
#[map]
static IRQ_AGGREGATES: PerCpuHashMap<u64, IrqAggregate> =
    PerCpuHashMap::with_max_entries(MAX_MATCH, 0);

/// Per `flush_to_ldisc` work item (a port), per CPU: its line discipline runs and hand-overs.
#[map]
static LDISC_AGGREGATES: PerCpuHashMap<u64, LdiscAggregate> =
    PerCpuHashMap::with_max_entries(MAX_LDISC_AGGREGATES, 0);

/// One zeroed [`LdiscAggregate`], never written: what a new port's entry starts from (too big
/// for the stack).
#[map]
static LDISC_ZERO: Array<LdiscAggregate> = Array::with_max_entries(1, 0);

/// This CPU's aggregate of work item `work`, added (zeroed, on every CPU) when absent: two
/// CPUs adding it at once both get the one entry.
#[inline(always)]
fn ldisc_aggregate(work: u64) -> Option<&'static mut LdiscAggregate> {
    if let Some(p) = LDISC_AGGREGATES.get_ptr_mut(work) {
        // SAFETY: this CPU's value of a map entry, which is never removed.
        return Some(unsafe { &mut *p });
    }
    let zero = LDISC_ZERO.get(0)?;
    match LDISC_AGGREGATES.insert(work, zero, u64::from(BPF_NOEXIST)) {
        Ok(()) => count_state(state_counts::LDISC_AGGREGATES, state_counts::ADDED),
        Err(NEG_EEXIST) => {}
        Err(_) => {
            count_state(state_counts::LDISC_AGGREGATES, state_counts::FAILED);
            return None;
        }
    }
    // SAFETY: as above.
    LDISC_AGGREGATES
        .get_ptr_mut(work)
        .map(|p| unsafe { &mut *p })
}

/// Bytes handed to the line discipline of the port whose work item is `work` (from the serial
/// receive hook, for a port that passed `record --port`): counted inside or outside a run of
/// that work item, a cross-check of the two hook families kept in the kernel.
#[inline(always)]
pub(crate) fn ldisc_receive(work: u64) {
    if !matched(LDISC_TIMED_KEY) {
        return;
    }
    // SAFETY: a plain read of a map value.
    let inside = unsafe { WORK_TIMES.get(work) }.is_some_and(|t| t.started_ns != 0);
    if let Some(a) = ldisc_aggregate(work) {
        if inside {
            a.counts.receives_in_runs += 1;
        } else {
            a.counts.receives_outside_runs += 1;
        }
    }
}

#[inline(always)]
fn matched(v: u64) -> bool {
    unsafe { MATCH.get(v) }.is_some()
}

#[inline(always)]
fn now() -> u64 {
    unsafe { bpf_ktime_get_ns() }
}

/// Where a run ends: now, and the stamp of its event when one is written (`events`, and the
/// recording window open), taken at that same moment so that the event is stamped where the
/// duration ends.
#[inline(always)]
fn run_end(events: bool) -> (Option<Stamp>, u64) {
    let stamp = if events {
        Stamp::if_recording(false)
    } else {
        None
    };
    (stamp, stamp.map_or_else(now, |s| s.mono_ns()))
}

/// Slots 0 and 1 of the hook's event, read as its spec says.
#[inline(always)]
fn slots<F: Fields>(rec: &F, spec: &Spec) -> (u64, u64) {
    (rec.field(spec.field(0)), rec.field(spec.field(1)))
}

#[inline(always)]
fn on_event<F: Fields, const K: u16>(rec: &F, spec: &Spec) {
    if spec.filter != Filter::MATCHED && spec.filter != Filter::MATCHED_EVENTS {
        return;
    }
    let events = spec.filter == Filter::MATCHED_EVENTS;
    let (s0, s1) = slots(rec, spec);
    match K {
        kind::IRQ_HANDLER_ENTRY => {
            if matched(s0) {
                if let Some(p) = IRQ_ENTERED.get_ptr_mut(0) {
                    // SAFETY: this CPU's slot.
                    unsafe { *p = now() };
                }
            }
        }
        kind::IRQ_HANDLER_EXIT => {
            let Some(p) = IRQ_ENTERED.get_ptr_mut(0) else {
                return;
            };
            // SAFETY: this CPU's slot.
            let entered = unsafe { core::mem::replace(&mut *p, 0) };
            if entered == 0 {
                return;
            }
            let Some(agg) = IRQ_AGGREGATES.get_ptr_mut(s0) else {
                return;
            };
            let (stamp, end) = run_end(events);
            let ran = end.saturating_sub(entered);
            // SAFETY: this CPU's value of an entry the loader added, never removed.
            unsafe { &mut *agg }.add_run(s1, ran);
            let Some(stamp) = stamp else {
                return;
            };
            use arg::irq_handler_exit as a;
            const { assert!(a::IRQ == 0 && a::RET == 1 && a::HANDLER_NS == 2) };
            // the interrupted task is no one's business here
            let _ = write_slots::<{ kind::IRQ_HANDLER_EXIT }, 3>(
                stamp,
                0,
                [0; 16],
                [s0, s1, ran],
                &[0; TEXT_LEN],
            );
        }
        kind::WORKQUEUE_QUEUE_WORK if matched(s1) => {
            if let Some(p) = lru_entry(&WORK_TIMES, state_counts::WORK_TIMES, &s0) {
                // SAFETY: map value pointer from a successful lookup.
                unsafe { (*p).queued_ns = now() };
            }
        }
        kind::WORKQUEUE_EXECUTE_START if matched(s1) => {
            if let Some(p) = lru_entry(&WORK_TIMES, state_counts::WORK_TIMES, &s0) {
                // SAFETY: map value pointer from a successful lookup.
                unsafe {
                    (*p).run_queued_ns = (*p).queued_ns;
                    (*p).queued_ns = 0;
                    (*p).started_ns = now();
                }
            }
        }
        kind::WORKQUEUE_EXECUTE_END if matched(s1) => {
            let Some(p) = WORK_TIMES.get_ptr_mut(s0) else {
                return;
            };
            // SAFETY: map value pointer from a successful lookup; copied out, then the run's
            // fields reset. The entry stays for the port's next runs: removed, the next
            // queueing (in an interrupt on one CPU) and start (on another) could both insert
            // it, one overwriting the other's time.
            let t = unsafe { *p };
            unsafe {
                (*p).run_queued_ns = 0;
                (*p).started_ns = 0;
            }
            if t.started_ns == 0 {
                return;
            }
            let (stamp, end) = run_end(events);
            let queued = t.run_queued_ns != 0 && t.run_queued_ns <= t.started_ns;
            let delay = if queued {
                t.started_ns - t.run_queued_ns
            } else {
                0
            };
            let ran = end.saturating_sub(t.started_ns);
            let mut name = [0u8; TEXT_LEN];
            if !work_port_name(s0, &mut name) {
                return;
            }
            if let Some(agg) = ldisc_aggregate(s0) {
                if name[0] != 0 {
                    agg.name = name;
                }
                agg.add_run(queued.then_some(delay), ran);
            }
            let Some(stamp) = stamp else {
                return;
            };
            use arg::workqueue_execute_end as a;
            const {
                assert!(
                    a::WORK == 0
                        && a::FUNCTION == 1
                        && a::DELAY_NS == 2
                        && a::RUN_NS == 3
                        && a::QUEUED == 4
                )
            };
            let comm = bpf_get_current_comm().unwrap_or([0; 16]);
            let _ = write_slots::<{ kind::WORKQUEUE_EXECUTE_END }, 5>(
                stamp,
                bpf_get_current_pid_tgid(),
                comm,
                [s0, s1, delay, ran, u64::from(queued)],
                &name,
            );
        }
        _ => {}
    }
}

#[inline(always)]
fn classic<const K: u16>(ctx: &TracePointContext) -> u32 {
    if let (Some(spec), Some(rec)) = (Spec::of(&SPECS, K), Record::new(ctx)) {
        on_event::<_, K>(&rec, &spec);
    }
    0
}

#[inline(always)]
fn raw<const N: usize, const K: u16>(ctx: &RawTracePointContext) -> i32 {
    if let Some(spec) = Spec::of(&RAW_SPECS, K) {
        on_event::<_, K>(&RawArgs::new::<N>(ctx), &spec);
    }
    0
}

/// `irq:irq_handler_entry(int irq, struct irqaction *action)`
#[tracepoint]
pub fn irq_handler_entry(ctx: TracePointContext) -> u32 {
    classic::<{ kind::IRQ_HANDLER_ENTRY }>(&ctx)
}

/// `irq:irq_handler_exit(int irq, struct irqaction *action, int ret)`
#[tracepoint]
pub fn irq_handler_exit(ctx: TracePointContext) -> u32 {
    classic::<{ kind::IRQ_HANDLER_EXIT }>(&ctx)
}

/// `workqueue:workqueue_queue_work(int req_cpu, struct pool_workqueue *pwq, struct work_struct *work)`
#[tracepoint]
pub fn workqueue_queue_work(ctx: TracePointContext) -> u32 {
    classic::<{ kind::WORKQUEUE_QUEUE_WORK }>(&ctx)
}

/// `workqueue:workqueue_execute_start(struct work_struct *work)`
#[tracepoint]
pub fn workqueue_execute_start(ctx: TracePointContext) -> u32 {
    classic::<{ kind::WORKQUEUE_EXECUTE_START }>(&ctx)
}

/// `workqueue:workqueue_execute_end(struct work_struct *work, work_func_t function)`
#[tracepoint]
pub fn workqueue_execute_end(ctx: TracePointContext) -> u32 {
    classic::<{ kind::WORKQUEUE_EXECUTE_END }>(&ctx)
}

/// Raw twin of [`irq_handler_entry`].
#[raw_tracepoint(tracepoint = "irq_handler_entry")]
pub fn irq_handler_entry_raw(ctx: RawTracePointContext) -> i32 {
    raw::<1, { kind::IRQ_HANDLER_ENTRY }>(&ctx)
}

/// Raw twin of [`irq_handler_exit`].
#[raw_tracepoint(tracepoint = "irq_handler_exit")]
pub fn irq_handler_exit_raw(ctx: RawTracePointContext) -> i32 {
    raw::<3, { kind::IRQ_HANDLER_EXIT }>(&ctx)
}

/// Raw twin of [`workqueue_queue_work`].
#[raw_tracepoint(tracepoint = "workqueue_queue_work")]
pub fn workqueue_queue_work_raw(ctx: RawTracePointContext) -> i32 {
    raw::<3, { kind::WORKQUEUE_QUEUE_WORK }>(&ctx)
}

/// Raw twin of [`workqueue_execute_start`].
#[raw_tracepoint(tracepoint = "workqueue_execute_start")]
pub fn workqueue_execute_start_raw(ctx: RawTracePointContext) -> i32 {
    raw::<1, { kind::WORKQUEUE_EXECUTE_START }>(&ctx)
}

/// Raw twin of [`workqueue_execute_end`].
#[raw_tracepoint(tracepoint = "workqueue_execute_end")]
pub fn workqueue_execute_end_raw(ctx: RawTracePointContext) -> i32 {
    raw::<1, { kind::WORKQUEUE_EXECUTE_END }>(&ctx)
}
