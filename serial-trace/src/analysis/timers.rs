//! Timer lateness: each `hrtimer_start` paired with the next `hrtimer_expire_entry` of the same
//! timer. Lateness = the clock-base time when expiry processing began − the requested (soft)
//! expiry, both on the timer's own clock, so it is exact whatever that clock is.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap as HashMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serial_trace_common::{Event, arg, kind};

use super::pm_state::PowerState;
use super::timeline::Series;
use crate::trace::trim_nul;

/// Percentiles of a lateness distribution, in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

#[derive(Clone, Copy)]
struct Armed {
    softexpires: i64,
    function: u64,
    tgid: u32,
    tid: u32,
    comm: [u8; 16],
    clockid_plus1: u64,
    arm_mono: u64,
    arm_boot: u64,
    /// Suspend cycles begun when armed, and whether one was under way.
    cycles_at_arm: u32,
    in_cycle_at_arm: bool,
}

/// Where an expiry lies relative to the suspend cycles of the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Armed and expired before the first cycle.
    Before,
    /// A cycle was under way at some point between arming and expiry.
    Spanning,
    /// Armed and expired after a cycle, none in between.
    After,
}

/// An `hrtimer_cancel` not yet taken as one: decided by the next event on its CPU.
/// Debian's 5.10.0-32 (5.10.223) and other 5.10 point releases trace a cancel
/// (`debug_deactivate` in `__run_hrtimer`) right before every `hrtimer_expire_entry`, with
/// interrupts off in between: a cancel whose CPU's next event is the same timer's expiry is
/// that deactivation, and the timer is still armed for the expiry.
#[derive(Clone, Copy)]
struct HeldCancel {
    timer: u64,
    armed: Armed,
    ev: Event,
    /// The freezer ran when the cancel was traced.
    freezing: bool,
}

/// A wake callback fired; its task has not run yet.
#[derive(Clone, Copy)]
struct PendingWake {
    timer_late: i64,
    expire_mono: u64,
    expire_boot: u64,
    clockid_plus1: u64,
    softexpires: i64,
    /// The task was switched in inside a freeze window, or in its cycle before it (it may have
    /// run only to freeze).
    frozen: bool,
    /// No expiry: the task cancelled its own wake timer while the freezer ran (the freezer's
    /// fake signal ends the sleep; the task freezes and finds its deadline past at thaw).
    /// `expire_*` then hold the deadline itself, `timer_late` is 0.
    cancelled_by_freezer: bool,
    /// (mono, boot) of the task's first switch-in while the freezer ran: its wakeup, if it
    /// then shows it is running on (it is the suspending task, or arms a sleep of its own)
    /// rather than heading into the refrigerator.
    ran_at: Option<(u64, u64)>,
    arm_mono: u64,
    arm_boot: u64,
    tgid: u32,
    comm: [u8; 16],
    /// The expiry never reached the trace (see [`WakeRecord::expiry_unseen`]).
    expiry_unseen: bool,
}

/// A wake timer's callback running on a CPU, as far as its expiry said.
struct ExpiringWake {
    timer: u64,
    armer: u32,
    /// The task in whose context the callback runs (the interrupted one, or `ktimers/N` on
    /// PREEMPT_RT). Only its wakeups are the callback's: on PREEMPT_RT a soft timer's callback
    /// can block on a sleeping lock, and the task that then runs on the CPU, and wakes the
    /// blocked `ktimers/N` when it lets go of the lock, is not woken by the timer (seen on
    /// arm64 6.12-rt: a timerfd's reader, holding its wait-queue lock, "woke" `ktimers/0`).
    context: u32,
    /// Who was given the pending wakeup at the expiry: the armer, or the task the timer last
    /// woke when that was another.
    owner: u32,
    wake: PendingWake,
    /// Another task than `owner` was woken: the pending wakeup went to it.
    moved: bool,
    /// Another task than the armer was woken (counted once per expiry).
    woke_other: bool,
    /// A sleep's callback (`hrtimer_wakeup`): it wakes its sleeper, the armer, and nobody
    /// else.
    sleep: bool,
}

/// One task-visible wakeup (`report --wakeups`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WakeRecord {
    pub tid: u32,
    /// Clock of the timer.
    pub clock: Clock,
    /// The requested (soft) expiry, on that clock.
    pub requested_ns: i64,
    /// Expiry processing began − requested.
    pub timer_late_ns: i64,
    /// The task got the CPU (outside any freeze window) − requested, on the timer's clock.
    pub wake_late_ns: i64,
    /// The task was held by the suspend freezer between the expiry and its wakeup.
    pub frozen: bool,
    pub wake_boot_ns: u64,
    /// The task got the CPU inside the freezer this long after the deadline, then froze:
    /// [`LostWakeup::ran_in_freezer_late_ns`]. Its wakeup is taken at thaw, but it may have
    /// been this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran_in_freezer_late_ns: Option<i64>,
    /// The timer's expiry never reached the trace (kernels before 5.12 skip, uncounted, the
    /// BPF programs of an interrupt that arrives while another runs): the wakeup is placed at
    /// the task's first sign of running after its deadline, the latest moment it can have
    /// woken; it may have woken as early as the deadline.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expiry_unseen: bool,
}

names! {
    /// The clock a timer runs on.
    #[derive(Default)]
    pub enum Clock {
        Realtime = "realtime",
        Monotonic = "monotonic",
        Boottime = "boottime",
        Tai = "tai",
        /// The trace holds no clock id for the timer.
        #[default]
        Unknown = "unknown",
    }
}

/// Boottime − monotonic grows by less than this over a cycle in which no clock stopped: the
/// two clocks are read one after the other, so even then they differ by a few µs (1.4 µs seen
/// on arm64 5.10 under TCG).
pub const CLOCK_STOPPED_MIN_NS: u64 = 1_000_000;

names! {
    /// How the deadlines of timers that spanned a suspend moved, by their clock.
    #[derive(Default)]
    pub enum Drift {
        /// The clock stops in suspend: in elapsed time the deadline moved by the time
        /// suspended, while on its own clock the timer is on time.
        SuspendDrift = "suspend_drift",
        /// The clock counts suspend: a deadline that passed while suspended fires at resume,
        /// late by the rest of the suspend plus the resume (with a wake alarm, the resume alone).
        FiresAtResume = "fires_at_resume",
        /// No clock stopped while these timers were armed (boottime − monotonic grew by less
        /// than [`CLOCK_STOPPED_MIN_NS`]: suspend-to-idle with timekeeping running, as on
        /// arm64 `virt`, a pm_test cycle, or a freezer that ended their sleeps before S3
        /// stopped the clocks): the timer fired on its own clock, and its task ran only after
        /// the thaw, late by the freezer.
        NoClockStopped = "no_clock_stopped",
        /// The trace holds no clock for these timers: their lateness is computed as if
        /// monotonic, the base of most sleeps.
        #[default]
        Unknown = "unknown",
    }
}

names! {
    /// Why a wakeup came far later than asked (`lost_wakeups[].cause`).
    #[derive(Default)]
    pub enum WakeCause {
        /// The deadline passed while suspended, or the clock stopped in suspend.
        #[default]
        Suspend = "suspend",
        /// The deadline passed while devices resumed and tasks were still frozen.
        ResumeLatency = "resume_latency",
        /// The expiry itself came late.
        TimerLate = "timer_late",
        /// The timer fired on time; the task waited for a CPU (seen from the switch-in).
        CpuContention = "cpu_contention",
        /// The expiry never reached the trace and was due before the cycle's freezer began:
        /// the task may have run before the cycle.
        ExpiryUnseen = "expiry_unseen",
    }
}

fn clock_name(clockid_plus1: u64) -> Clock {
    match clockid_plus1 {
        1 => Clock::Realtime,
        2 => Clock::Monotonic,
        8 => Clock::Boottime,
        12 => Clock::Tai,
        _ => Clock::Unknown,
    }
}

/// `p`'s lateness when its task got the CPU inside the freezer after the expiry and then froze
/// (its wakeup taken at thaw): whether it reached user space in between is unknown.
fn ran_in_freezer_late(p: &PendingWake) -> Option<i64> {
    if !p.frozen || p.cancelled_by_freezer {
        return None;
    }
    let (mono, boot) = p.ran_at?;
    Some(match p.clockid_plus1 {
        CLOCK_MONOTONIC_PLUS1 => (mono as i64).saturating_sub(p.softexpires),
        CLOCK_BOOTTIME_PLUS1 => (boot as i64).saturating_sub(p.softexpires),
        _ => p
            .timer_late
            .saturating_add(mono.saturating_sub(p.expire_mono) as i64),
    })
}

const CLOCK_MONOTONIC_PLUS1: u64 = 1 + 1;
const CLOCK_BOOTTIME_PLUS1: u64 = 7 + 1;

/// Monotonic, or unknown (no BTF: treated as monotonic, the base of most sleeps).
fn is_monotonic(clockid_plus1: u64) -> bool {
    clockid_plus1 == CLOCK_MONOTONIC_PLUS1 || clockid_plus1 == 0
}

/// Distinct tasks (and callbacks) given their own histograms; later ones share one
/// "(other …)" group, so memory stays bounded however many short-lived tasks a recording sees
/// (each group holds up to four histograms of tens of KiB).
pub const MAX_GROUPS: usize = 256;
/// Group keys of the shared "(other …)" groups.
const OTHER_TASKS: u32 = u32::MAX;
/// Group key of the timers whose callback no task arms for itself (the tick, scheduler and
/// watchdog timers): re-armed in interrupt context, they belong to no task.
const KERNEL_TIMERS: u32 = u32::MAX - 1;
const OTHER_CALLBACKS: u64 = u64::MAX;

/// Per-group (callback or task) accumulator: one histogram per [`Phase`] (before, spanning,
/// after), each made on first use (most groups only ever see one phase); the group's overall
/// histogram is their sum, made when the row is.
struct Group {
    phases: [Option<Histogram<u64>>; 3],
    name: String,
    pid: Option<u32>,
    tid: Option<u32>,
}

impl Group {
    fn new(name: String, pid: Option<u32>, tid: Option<u32>) -> Self {
        Self {
            phases: [None, None, None],
            name,
            pid,
            tid,
        }
    }

    fn record(&mut self, phase: usize, v: u64) {
        record(self.phases[phase].get_or_insert_with(|| new_hist(2)), v);
    }

    fn row(self) -> GroupRow {
        let mut all = new_hist(2);
        for h in self.phases.iter().flatten() {
            all.add(h).expect("auto-resizing histograms add");
        }
        let [a, b, c] = &self.phases;
        GroupRow {
            count: all.len(),
            lateness_ns: Percentiles::of(&all),
            by_phase: PhaseSplit::of([a.as_ref(), b.as_ref(), c.as_ref()]),
            name: self.name,
            pid: self.pid,
            tid: self.tid,
        }
    }
}

pub(crate) fn new_hist(sigfig: u8) -> Histogram<u64> {
    Histogram::new(sigfig).expect("valid sigfig")
}

pub(crate) fn record(h: &mut Histogram<u64>, v: u64) {
    h.record(v).expect("auto-resizing histogram takes any u64");
}

/// Count and lateness of the expiries of one [`Phase`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseStats {
    pub count: u64,
    pub lateness_ns: Percentiles,
}

/// Lateness split by where the expiry lies relative to the suspend cycles.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseSplit {
    pub before: PhaseStats,
    pub spanning: PhaseStats,
    pub after: PhaseStats,
}

impl PhaseSplit {
    fn of(h: [Option<&Histogram<u64>>; 3]) -> Self {
        let s = |h: Option<&Histogram<u64>>| {
            h.map_or_else(PhaseStats::default, |h| PhaseStats {
                count: h.len(),
                lateness_ns: Percentiles::of(h),
            })
        };
        Self {
            before: s(h[0]),
            spanning: s(h[1]),
            after: s(h[2]),
        }
    }
}

/// Timers that spanned a suspend, per clock: how their deadline drifted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpanningClock {
    pub clock: Clock,
    pub drift: Drift,
    pub count: u64,
    /// Lateness on the timer's own clock.
    pub lateness_ns: Percentiles,
    /// Lateness in elapsed (CLOCK_BOOTTIME) time: own lateness + time suspended in between.
    pub wall_lateness_ns: Percentiles,
    /// Most time suspended between one timer's arming and its expiry.
    pub suspended_ns_max: u64,
}

/// A wakeup that came far later than asked (`lost_wakeups` in the JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LostWakeup {
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    pub clock: Clock,
    /// How long the task asked to sleep (deadline − time of arming).
    pub requested_ns: u64,
    /// When the deadline fell, and when the task got the CPU, on both clocks (a deadline is
    /// converted with the clocks' offset at arming).
    pub expected_boot_ns: u64,
    pub actual_boot_ns: u64,
    pub expected_mono_ns: u64,
    pub actual_mono_ns: u64,
    /// `actual_boot_ns − expected_boot_ns`.
    pub late_ns: u64,
    /// Why (see [`WakeCause`]); with `expiry_unseen`, `actual_*` is the latest moment the
    /// task can have woken (see [`WakeRecord::expiry_unseen`]).
    pub cause: WakeCause,
    /// The suspend cycle involved, if any.
    pub suspend_cycle: Option<u32>,
    /// Set when the task got the CPU inside the freezer after its timer fired (this long after
    /// the deadline, on the timer's clock), or after its cycle began and before the freezer
    /// did, and then went into the refrigerator without showing it ran on. Whether it
    /// returned to user space in between, the trace cannot tell: a sleep the kernel makes
    /// freezable (nanosleep, epoll and poll before 6.1) freezes before the program sees its
    /// wakeup, so it is late as listed; a `read()` of a timerfd returns first unless the
    /// freezer has already marked the task, and the program then woke here, not late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran_in_freezer_late_ns: Option<i64>,
}

/// A sleep the freezer ended, asked again after thaw for a deadline at most this far from the
/// first (a timeout in whole ms computed from the time left), is the same sleep going on.
/// Either way: each call rounds its own remainder up to a whole ms, so the second deadline is
/// up to 1 ms later or earlier than the first. Only later was accepted before, which fits the
/// one CI failure on 5.10 whose trace is not kept: an epoll-timeout sleep across S3 whose
/// wakeup agreed on the program's own clock yet was not listed as lost to the suspend (it
/// was counted from the post-thaw arm).
const CONTINUED_SLEEP_NS: i64 = 2_000_000;

/// A wakeup counts as lost when later than this and later than the sleep it asked for.
pub const LOST_WAKEUP_MIN_NS: u64 = 20_000_000;

/// Streaming lateness accumulator: memory grows with distinct timers/callbacks/tasks, not with
/// the number of events.
pub struct TimerStats {
    armed: HashMap<u64, Armed>,
    /// Per CPU, the cancel traced last when no other event of that CPU followed yet.
    held_cancels: HashMap<u16, HeldCancel>,
    /// Cancels that were the expiry's own deactivation (old 5.10 point releases).
    expiry_deactivations: u64,
    /// Callbacks that wake the task that armed the timer (empty: all).
    wake_functions: Vec<u64>,
    pending: HashMap<u32, PendingWake>,
    wakeups: Histogram<u64>,
    /// Suspend cycles, the freezer and resuming (shared boundaries, `power.rs`).
    power: PowerState,
    /// Every wakeup, when asked for (`report --wakeups`).
    pub wake_log: Option<Vec<WakeRecord>>,
    /// The wake log keeps only wakeups at or after this boot time (`monitor`'s metrics take
    /// a second's worth from each analysis of its window).
    pub wake_log_since: u64,
    overall: Histogram<u64>,
    phases: [Histogram<u64>; 3],
    /// Spanning expiries per clock: (own lateness, wall lateness, most suspended).
    spanning: BTreeMap<u64, (Histogram<u64>, Histogram<u64>, u64)>,
    lost: Vec<LostWakeup>,
    /// Task-visible wakeups over time.
    pub wake_series: Series,
    by_callback: HashMap<u64, Group>,
    by_task: HashMap<u32, Group>,
    /// Callbacks of the timers a task arms for itself (empty: unknown, every timer is its
    /// arming task's).
    task_callbacks: Vec<u64>,
    /// Expiries whose clock-base time was before the requested expiry (should not happen).
    early: u64,
    /// Wakeups placed at the task's first event after its wake, because the trace lacks the
    /// expiry or the switch-in (see `TimerSummary::inferred_wakeups`).
    inferred_wakeups: u64,
    /// Expiries paired from their own deadline (see `TimerSummary::unrecorded_arms`).
    unrecorded_arms: u64,
    /// See `TimerSummary::rearmed_unseen`.
    rearmed_unseen: u64,
    /// See `TimerSummary::continued_sleeps`.
    continued_sleeps: u64,
    /// See `TimerSummary::caught_in_freezer`.
    caught_in_freezer: u64,
    /// See `TimerSummary::restarts`.
    restarts: u64,
    /// See `TimerSummary::unplaced_wakeups`.
    unplaced_wakeups: u64,
    /// Per CPU, the wake timer whose callback is running: `sched_waking` events until its
    /// `hrtimer_expire_exit` are the tasks it woke.
    expiring: HashMap<u16, ExpiringWake>,
    /// Wakeups of tasks switched in on another CPU while the callback that woke them still
    /// ran: (that callback's CPU, the task, its wakeup, the switch-in). They end with the
    /// callback (see `callback_still_running`).
    behind_callback: Vec<(u16, u32, PendingWake, Event)>,
    /// Per task, the sleep it stopped without waking from it, which its next arm for the
    /// same deadline continues (see `continue_sleep`).
    continuing: HashMap<u32, Armed>,
    /// Per CPU, the timers that expired there last, as armed, most recent last: whose a
    /// restart by its callback is (see `restarted_by_callback`). More than one: on PREEMPT_RT
    /// a softirq timer's callback runs in the `ktimers` thread, where a hard-interrupt expiry
    /// on that CPU can come between its expiry and its restart (seen on 6.12-rt: entry,
    /// another timer's entry and exit, exit, restart).
    last_expired: HashMap<u16, Vec<(u64, Armed)>>,
    woke_other_than_armer: u64,
    /// Per wake timer whose callback woke another task than its armer: (armer, that task,
    /// its comm).
    last_woken: HashMap<u64, (u32, u32, [u8; 16])>,
    /// Per task, its last few recorded switch-ins: where a sleep whose expiry the trace lost
    /// ended (see `rearmed_after_resume`).
    recent_switch_ins: HashMap<u32, VecDeque<SwitchIn>>,
    /// Per task, the sleep timer it armed last (see `outlived_sleep`).
    sleeping: HashMap<u32, u64>,
    min_ns: i64,
}

/// A task got the CPU (a recorded `sched_switch` into it).
#[derive(Clone, Copy)]
struct SwitchIn {
    mono: u64,
    boot: u64,
    /// The freezer ran: the task may have run only to freeze.
    freezing: bool,
}

/// Expiries remembered per CPU for restarts by their callbacks: the one whose callback runs and
/// those of interrupts nested in it.
const LAST_EXPIRED_PER_CPU: usize = 4;

/// Switch-ins kept per task: the recorder records at most 4 after each wakeup.
const RECENT_SWITCH_INS: usize = 4;
/// Tasks whose switch-ins are kept at once.
const MAX_SWITCH_IN_TASKS: usize = 16_384;

impl Default for TimerStats {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl TimerStats {
    /// Timers with other callbacks go to one `(kernel timers)` row of `by_task`, not to
    /// whichever task happened to be current when they were re-armed.
    pub fn with_task_callbacks(mut self, task_callbacks: Vec<u64>) -> Self {
        self.task_callbacks = task_callbacks;
        self
    }

    pub fn new(wake_functions: Vec<u64>) -> Self {
        Self {
            armed: HashMap::default(),
            held_cancels: HashMap::default(),
            expiry_deactivations: 0,
            wake_functions,
            pending: HashMap::default(),
            wakeups: new_hist(3),
            power: PowerState::default(),
            wake_log: None,
            wake_log_since: 0,
            overall: new_hist(3),
            phases: [new_hist(3), new_hist(3), new_hist(3)],
            spanning: BTreeMap::new(),
            lost: Vec::new(),
            wake_series: Series::default(),
            by_callback: HashMap::default(),
            by_task: HashMap::default(),
            task_callbacks: Vec::new(),
            early: 0,
            inferred_wakeups: 0,
            unrecorded_arms: 0,
            rearmed_unseen: 0,
            continued_sleeps: 0,
            caught_in_freezer: 0,
            unplaced_wakeups: 0,
            restarts: 0,
            expiring: HashMap::default(),
            behind_callback: Vec::new(),
            continuing: HashMap::default(),
            last_expired: HashMap::default(),
            woke_other_than_armer: 0,
            last_woken: HashMap::default(),
            recent_switch_ins: HashMap::default(),
            sleeping: HashMap::default(),
            min_ns: i64::MAX,
        }
    }
}

/// Task-visible wakeups: timer expiry lateness plus the time until the task got the CPU.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WakeupSummary {
    /// Wake-timer expiries followed to the moment their task ran.
    pub count: u64,
    /// When the task ran − the requested expiry, on the timer's clock.
    pub latency_ns: Percentiles,
    /// Wake-timer expiries that woke a task other than the one that armed the timer, seen by
    /// `sched_waking` inside the callback (a timerfd wakes whoever waits on it: typically an
    /// event loop on another thread): the wakeup is the woken task's.
    pub woke_other_than_armer: u64,
}

/// One row of a per-callback or per-task table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupRow {
    pub name: String,
    /// Thread group id (per-task rows only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Thread id (per-task rows only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<u32>,
    pub count: u64,
    pub lateness_ns: Percentiles,
    pub by_phase: PhaseSplit,
}

/// The `timers` object of the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimerSummary {
    /// hrtimer expiries paired with the start that armed them.
    pub count: u64,
    pub lateness_ns: Percentiles,
    /// Smallest lateness seen (negative would mean an expiry before the requested time).
    pub min_lateness_ns: i64,
    pub early: u64,
    /// Wakeups the trace shows only by their effect, placed at the task's first own event
    /// after the wake (the latest moment it can have woken): a task seen running (any event in
    /// its context) after its wake timer expired, with no switch-in recorded (the timer fired
    /// before it left the CPU, or the switch-in was not recorded; inside the freezer, only by
    /// arming a sleep of its own or being the suspending task), and a task re-arming its
    /// own wake timer after a resume, past the deadline, with no expiry recorded. Kernels
    /// before 5.12 do not count the events their BPF recursion guard skips.
    pub inferred_wakeups: u64,
    /// `hrtimer_cancel` events that were an expiry's own deactivation, traced right before
    /// it on the same CPU (Debian 5.10.0-32 and other 5.10 point releases): not cancels.
    pub expiry_deactivations: u64,
    /// Expiries counted from the deadline they carry, their arm not in the trace: kernel
    /// timers (the recorder samples their arms: the nohz tick alone is re-armed several times
    /// per interrupt) and timers re-armed without a recorded arm (a periodic callback
    /// forwarded them). Classed by the moment of their expiry, never as spanning a suspend.
    pub unrecorded_arms: u64,
    /// A task's timer armed again while the trace still had it armed: the cancel or expiry in
    /// between never reached the trace. Kernels before 5.12 do not count the events their BPF
    /// recursion guard skips; this counts the timer events among them that the trace shows
    /// were skipped (an expiry interrupting another BPF program, e.g. during device PM).
    pub rearmed_unseen: u64,
    /// Sleeps a task stopped before their deadline and asked again for the same deadline
    /// (the kernel's restart of a sleep a signal or the suspend freezer interrupted, or an
    /// event loop's wait asked again for the time left): one sleep, from its first arm.
    pub continued_sleeps: u64,
    /// Wakeups whose task got the CPU inside the freezer after its timer fired and then froze:
    /// taken at thaw, though the program may have run before the freezer caught it (each
    /// carries `ran_in_freezer_late_ns`).
    pub caught_in_freezer: u64,
    /// Timers re-armed by their own callback in interrupt context, whose arm the trace marks
    /// (`restart`): kernel timers such as the tick, and task timers such as a POSIX or alarm
    /// timer whose signal is ignored, kept as their owner's, not the interrupted task's.
    pub restarts: u64,
    /// Wakeups an expiry gave a task that the trace never shows running before the next
    /// wakeup for it: no switch-in, no event in its context (their events lost, or the
    /// expiry woke nobody). Counted, not placed in `wakeups` or `lost_wakeups`.
    #[serde(default)]
    pub unplaced_wakeups: u64,
    pub by_callback: Vec<GroupRow>,
    pub by_task: Vec<GroupRow>,
    pub wakeups: WakeupSummary,
    /// Lateness of all expiries split before / spanning / after suspend cycles.
    pub by_phase: PhaseSplit,
    /// Expiries that spanned a suspend, per clock, with the drift class of the clock.
    pub spanning_by_clock: Vec<SpanningClock>,
}

impl TimerStats {
    /// A callback that is not one a task arms for itself (with no list, every timer is a
    /// task's): the tick, scheduler and watchdog timers, whose arms the recorder samples.
    fn is_kernel_timer(&self, function: u64) -> bool {
        !self.task_callbacks.is_empty() && !self.task_callbacks.contains(&function)
    }

    /// The callback of a sleep in its own task's context (`hrtimer_wakeup`: nanosleep, poll
    /// and epoll timeouts, futex waits), first of the wake callbacks the recorder resolved.
    /// A callback that wakes a task (a sleep's or a timerfd's; every one when unknown).
    fn wakes(&self, function: u64) -> bool {
        self.wake_functions.is_empty() || self.wake_functions.contains(&function)
    }

    fn is_sleep(&self, function: u64) -> bool {
        // unresolved callbacks are left out of the list: then which is which is unknown
        self.wake_functions.len() == crate::trace::WAKE_CALLBACKS.len()
            && self.wake_functions.first() == Some(&function)
    }

    /// Takes one event; returns the lateness (own clock) of an hrtimer expiry it paired.
    pub fn event(&mut self, ev: &Event) -> Option<i64> {
        self.settle_held_cancel(ev);
        self.seen_running(ev);
        match ev.kind {
            kind::HRTIMER_START => self.on_start(ev),
            kind::HRTIMER_CANCEL => self.on_cancel(ev),
            kind::HRTIMER_EXPIRE_ENTRY => return self.on_expire_entry(ev),
            kind::HRTIMER_EXPIRE_EXIT
                if self
                    .expiring
                    .get(&ev.cpu)
                    .is_some_and(|e| e.timer == ev.args[0]) =>
            {
                self.expiring.remove(&ev.cpu);
                self.release_behind_callback(ev.cpu, Some(ev));
            }
            kind::SCHED_WAKING => self.woken_by_expiry(ev),
            kind::SCHED_SWITCH => self.on_switch(ev),
            kind::SUSPEND_RESUME => {
                self.power.event(ev);
            }
            _ => {}
        }
        None
    }

    /// A timer armed: a restart by its callback, a task's sleep going on, or a new arming
    /// (a timer still armed here lost its cancel or expiry).
    fn on_start(&mut self, ev: &Event) {
        use arg::hrtimer_start as a;
        if ev.args[a::RESTART] != 0 {
            self.restarted_by_callback(ev);
            return;
        }
        self.outlived_sleep(ev);
        if let Some(prev) = self.armed.get(&ev.args[a::HRTIMER]).copied() {
            // The kernel traces a cancel before re-arming a queued timer, and an
            // expiry before a callback re-arms it: a task's timer still armed here
            // lost one of them (the BPF recursion guard, uncounted before 5.12).
            // Kernel timers' arms and cancels are sampled: theirs say nothing.
            if !self.is_kernel_timer(prev.function) {
                self.rearmed_unseen += 1;
            }
            self.rearmed_after_resume(&prev, ev);
        }
        let mut armed = Armed {
            softexpires: ev.args[a::SOFTEXPIRES] as i64,
            function: ev.args[a::FUNCTION],
            tgid: ev.tgid(),
            tid: ev.tid(),
            comm: ev.comm,
            clockid_plus1: ev.args[a::CLOCKID_PLUS1],
            arm_mono: ev.mono_ns,
            arm_boot: ev.boot_ns,
            cycles_at_arm: self.power.cycles().len() as u32,
            in_cycle_at_arm: self.power.in_cycle(),
        };
        // the task runs and sleeps again: the sleep it cancelled ended otherwise —
        // unless this is that sleep going on
        if let Some(p) = self
            .pending
            .get(&ev.tid())
            .copied()
            .filter(|p| p.cancelled_by_freezer && !p.frozen)
        {
            self.pending.remove(&ev.tid());
            self.stopped_in_freezer(ev.tid(), &p);
        }
        self.continue_sleep(&mut armed);
        if self.is_sleep(armed.function) && armed.tid != 0 {
            self.sleeping.insert(armed.tid, ev.args[a::HRTIMER]);
        }
        self.armed.insert(ev.args[a::HRTIMER], armed);
    }

    /// A cancel of an armed timer, held until the next event on its CPU settles what it was
    /// (see `settle_held_cancel`).
    fn on_cancel(&mut self, ev: &Event) {
        if let Some(armed) = self.armed.remove(&ev.args[0]) {
            // A cancel still held at the end of the trace is dropped: on its own it
            // could only leave a wakeup pending that no later event completes.
            self.held_cancels.insert(
                ev.cpu,
                HeldCancel {
                    timer: ev.args[0],
                    armed,
                    ev: *ev,
                    freezing: self.power.freezing(),
                },
            );
        }
    }

    /// An expiry: its lateness, and for a wake callback the wakeup now pending for the task it
    /// wakes. Returns the lateness.
    fn on_expire_entry(&mut self, ev: &Event) -> Option<i64> {
        use arg::hrtimer_expire_entry as a;
        let own = ev.args[a::SOFTEXPIRES] as i64;
        let armed = match self.armed.remove(&ev.args[a::HRTIMER]) {
            Some(armed) if own == 0 || armed.softexpires == own => armed,
            recorded => self.unrecorded_arm(ev, recorded)?,
        };
        let late = (ev.args[a::NOW] as i64).saturating_sub(armed.softexpires);
        self.record(&armed, late, ev);
        let recent = self.last_expired.entry(ev.cpu).or_default();
        if recent.len() >= LAST_EXPIRED_PER_CPU {
            recent.remove(0);
        }
        recent.push((ev.args[a::HRTIMER], armed));
        let function = ev.args[a::FUNCTION];
        if self.wakes(function) {
            let wake = PendingWake {
                timer_late: late,
                expire_mono: ev.mono_ns,
                expire_boot: ev.boot_ns,
                clockid_plus1: armed.clockid_plus1,
                softexpires: armed.softexpires,
                frozen: self.power.freezing(),
                cancelled_by_freezer: false,
                ran_at: None,
                arm_mono: armed.arm_mono,
                arm_boot: armed.arm_boot,
                tgid: armed.tgid,
                comm: armed.comm,
                expiry_unseen: false,
            };
            // The armer, unless the timer's callback woke another task before (an
            // event loop's thread waiting on a timerfd): an expiry that finds nobody
            // waiting, because the freezer took the waiter out of its wait, is found
            // by that task when it waits again.
            let timer = ev.args[a::HRTIMER];
            let (owner, mut wake) = match self.last_woken.get(&timer) {
                Some(&(armer, woken, comm)) if armer == armed.tid => {
                    (woken, PendingWake { comm, ..wake })
                }
                _ => (armed.tid, wake),
            };
            // The expiry interrupted its own task, between its arm and its `schedule()`: the
            // task never leaves the CPU, so no switch-in will come. Inside the freezer (or
            // its cycle before it) that is as a switch-in there: its wakeup if it runs on,
            // else at thaw (seen on arm64 6.12 under TCG: cyclictest's sleep expired 2 ms
            // late in its own context 1.7 ms into `freeze_processes`, and it armed its next
            // sleep; without this that wakeup was never reported).
            if ev.tid() == owner && (self.power.freezing() || self.power.before_freeze()) {
                wake.frozen = true;
                wake.ran_at = Some((ev.mono_ns, ev.boot_ns));
            }
            self.expect_wakeup(owner, wake);
            self.release_behind_callback(ev.cpu, None);
            self.expiring.insert(
                ev.cpu,
                ExpiringWake {
                    timer,
                    armer: armed.tid,
                    context: ev.tid(),
                    owner,
                    wake,
                    moved: false,
                    woke_other: false,
                    sleep: self.is_sleep(function),
                },
            );
        }
        Some(late)
    }

    /// A context switch: the task switched in may be a pending wakeup's (or, inside the
    /// freezer, only enter the refrigerator).
    fn on_switch(&mut self, ev: &Event) {
        use arg::sched_switch as a;
        self.switched_out(ev.args[a::PREV_PID] as u32, ev.args[a::PREV_STATE], ev);
        let tid = ev.args[a::NEXT_PID] as u32;
        self.remember_switch_in(tid, ev);
        // A task switched in while the freezer runs may only enter the refrigerator; one
        // switched in after its cycle began but before the freezer did may still be taken by
        // it on its way back to user space (seen on arm64 5.10 under TCG: switched in 4 ms
        // after `suspend_enter`, on the CPU in the kernel for 9 ms, frozen in D; the program
        // read its clock after thaw, 3 s late). Either way its wakeup is that switch-in only
        // once it shows it ran on (`switched_out`, `seen_running`), else at thaw.
        if self.power.freezing() || self.power.before_freeze() {
            if let Some(p) = self.pending.get_mut(&tid) {
                p.frozen = true;
                p.ran_at.get_or_insert((ev.mono_ns, ev.boot_ns));
            }
        } else if let Some(p) = self.pending.remove(&tid) {
            // a sleep the freezer interrupted goes on after thaw (re-armed for the
            // same deadline) unless the deadline has passed: then this is its wakeup
            let now = if is_monotonic(p.clockid_plus1) {
                ev.mono_ns
            } else {
                ev.boot_ns
            };
            if !p.cancelled_by_freezer || now as i64 >= p.softexpires {
                match self.callback_still_running(&p, ev.cpu) {
                    Some(cpu) => self.behind_callback.push((cpu, tid, p, *ev)),
                    None => self.wake(tid, &p, ev),
                }
            } else {
                self.stopped_in_freezer(tid, &p);
            }
        }
    }

    /// A task woken inside a wake timer's callback: the wakeup is its own. When it is not
    /// the task that armed the timer (a timerfd's waiter on another thread), the wakeup the
    /// expiry gave the armer moves to it; every further task it woke gets one too.
    fn woken_by_expiry(&mut self, ev: &Event) {
        use arg::sched_waking as a;
        let woken = ev.args[a::PID] as u32;
        let Some(e) = self
            .expiring
            .get_mut(&ev.cpu)
            .filter(|e| e.timer == ev.args[a::HRTIMER] && e.context == ev.tid())
        else {
            return;
        };
        if woken == 0 {
            return;
        }
        // On PREEMPT_RT a soft timer's callback runs in `ktimers/N` with interrupts on: an
        // interrupt inside it wakes its own tasks (the tick waking `rcuc/N`, seen on 6.12-rt)
        // in the same window. A sleep's callback wakes its sleeper only: any other is not the
        // timer's.
        if e.sleep && woken != e.armer {
            return;
        }
        let mut comm = [0; 16];
        let name = trim_nul(&ev.text[0]);
        let n = name.len().min(comm.len());
        comm[..n].copy_from_slice(&name[..n]);
        if woken != e.armer {
            if !e.woke_other {
                e.woke_other = true;
                self.woke_other_than_armer += 1;
            }
            self.last_woken.insert(e.timer, (e.armer, woken, comm));
        }
        if woken == e.owner {
            return;
        }
        if !e.moved {
            e.moved = true;
            if self
                .pending
                .get(&e.owner)
                .is_some_and(|p| p.expire_mono == e.wake.expire_mono)
            {
                self.pending.remove(&e.owner);
            }
        }
        let wake = PendingWake { comm, ..e.wake };
        self.expect_wakeup(woken, wake);
    }

    /// `wake` is now pending for `tid`; one still pending for it (of another expiry) was
    /// never placed: counted (`unplaced_wakeups`).
    fn expect_wakeup(&mut self, tid: u32, wake: PendingWake) {
        if let Some(old) = self.pending.insert(tid, wake)
            && (old.expire_mono, old.expire_boot) != (wake.expire_mono, wake.expire_boot)
        {
            self.unplaced_wakeups += 1;
        }
    }

    /// The CPU where the callback that gave `p` still runs, when it is not `cpu`, where its
    /// task was just switched in. The task cannot leave the kernel before that callback
    /// returns: a sleeper's `hrtimer_cancel` waits for a running callback, and a timerfd's
    /// reader (or its epoll waiter, polling it) needs the wait-queue lock the callback holds
    /// while it wakes. Under TCG such a callback ran for up to 15 ms after its wakeup, and
    /// the woken program read its clock only after it: its wakeup is the callback's end.
    fn callback_still_running(&self, p: &PendingWake, cpu: u16) -> Option<u16> {
        self.expiring
            .iter()
            .find(|(c, e)| {
                **c != cpu
                    && e.wake.expire_mono == p.expire_mono
                    && e.wake.expire_boot == p.expire_boot
            })
            .map(|(&c, _)| c)
    }

    /// Ends the wakeups held behind the callback on `cpu`: at `exit`, its end, or where their
    /// task was switched in when the end is not in the trace (another expiry began there, or
    /// the trace ended).
    fn release_behind_callback(&mut self, cpu: u16, exit: Option<&Event>) {
        if self.behind_callback.is_empty() {
            return;
        }
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.behind_callback)
            .into_iter()
            .partition(|(c, ..)| *c == cpu);
        self.behind_callback = later;
        for (_, tid, p, switch_in) in now {
            match exit {
                Some(exit) => self.wake_at(tid, &p, exit),
                None => self.wake(tid, &p, &switch_in),
            }
        }
    }

    /// Ends what the trace left open: wakeups held behind a callback whose end it lacks.
    pub fn end_of_trace(&mut self) {
        for (_, tid, p, switch_in) in std::mem::take(&mut self.behind_callback) {
            self.wake(tid, &p, &switch_in);
        }
    }

    /// Decides the cancel held for `ev`'s CPU ([`HeldCancel`]) before `ev` is taken.
    fn settle_held_cancel(&mut self, ev: &Event) {
        if self.held_cancels.is_empty() {
            return;
        }
        let Some(held) = self.held_cancels.remove(&ev.cpu) else {
            return;
        };
        if ev.kind == kind::HRTIMER_EXPIRE_ENTRY
            && ev.args[arg::hrtimer_expire_entry::HRTIMER] == held.timer
        {
            self.armed.insert(held.timer, held.armed);
            self.expiry_deactivations += 1;
        } else if held.freezing {
            self.cancelled_in_freezer(&held.armed, &held.ev, false);
        } else if held.ev.tid() == held.armed.tid
            && held.armed.tid != 0
            && self.wakes(held.armed.function)
        {
            // a task stopping its own timer: a signal ended the sleep (the kernel restarts
            // it for the same deadline), or the program re-arms or gives up its timer
            self.remember_stopped_sleep(held.armed);
        }
    }

    /// `ev` is a timer's own callback re-arming it (`HRTIMER_RESTART`: a POSIX or alarm timer
    /// whose signal is ignored), in interrupt context: the current task was only interrupted.
    /// The arm is the timer's owner's, as armed when it expired here; without that expiry in
    /// the trace, whose it is cannot be known and it stays unpaired.
    fn restarted_by_callback(&mut self, ev: &Event) {
        use arg::hrtimer_start as a;
        let timer = ev.args[a::HRTIMER];
        let Some(recent) = self.last_expired.get_mut(&ev.cpu) else {
            return;
        };
        let Some(i) = recent.iter().rposition(|(expired, _)| *expired == timer) else {
            return;
        };
        let (_, owner) = recent.remove(i);
        self.restarts += 1;
        self.armed.insert(
            timer,
            Armed {
                softexpires: ev.args[a::SOFTEXPIRES] as i64,
                function: ev.args[a::FUNCTION],
                clockid_plus1: ev.args[a::CLOCKID_PLUS1],
                arm_mono: ev.mono_ns,
                arm_boot: ev.boot_ns,
                cycles_at_arm: self.power.cycles().len() as u32,
                in_cycle_at_arm: self.power.in_cycle(),
                ..owner
            },
        );
    }

    /// `armed`, a sleep its task stopped before its deadline, is continued by the task's
    /// next arm if that asks for the same deadline.
    fn remember_stopped_sleep(&mut self, armed: Armed) {
        if self.continuing.len() >= MAX_SWITCH_IN_TASKS {
            self.continuing.clear();
        }
        self.continuing.insert(armed.tid, armed);
    }

    /// `p`, a sleep the freezer interrupted, had not reached its deadline when its task ran
    /// again after thaw: the task's next arm for that deadline continues it, as armed before
    /// the cycle.
    fn stopped_in_freezer(&mut self, tid: u32, p: &PendingWake) {
        let cycles = self.power.cycles().len() as u32;
        self.remember_stopped_sleep(Armed {
            softexpires: p.softexpires,
            // a wake timer's (the pending wakeup was one); continuing does not look at it
            function: 0,
            tgid: p.tgid,
            tid,
            comm: p.comm,
            clockid_plus1: p.clockid_plus1,
            arm_mono: p.arm_mono,
            arm_boot: p.arm_boot,
            cycles_at_arm: cycles.saturating_sub(1),
            in_cycle_at_arm: false,
        });
    }

    /// A sleep asked again for the deadline of the one its task stopped last (the kernel's
    /// restart of `clock_nanosleep` after the freezer's or any signal, or an event loop's
    /// `epoll_wait` asked again for the time left, rounded up to whole ms) is that sleep
    /// going on: it keeps the first arm's moment, so a sleep asked before a suspend and
    /// restarted after it still spans it.
    fn continue_sleep(&mut self, armed: &mut Armed) {
        let Some(stopped) = self.continuing.remove(&armed.tid) else {
            return;
        };
        let gap = armed.softexpires - stopped.softexpires;
        if armed.clockid_plus1 == stopped.clockid_plus1 && gap.abs() <= CONTINUED_SLEEP_NS {
            (armed.arm_mono, armed.arm_boot) = (stopped.arm_mono, stopped.arm_boot);
            armed.cycles_at_arm = stopped.cycles_at_arm;
            armed.in_cycle_at_arm = stopped.in_cycle_at_arm;
            self.continued_sleeps += 1;
        }
    }

    /// A wake timer cancelled in its own task's context while the freezer runs: the freezer
    /// woke the sleeper (sleeps in nanosleep, poll, epoll, futex are freezable), which
    /// cancelled its timer and froze. No expiry will follow; the sleep ends at the task's
    /// first run after thaw if the deadline has passed by then. Kept as a pending wakeup
    /// whose "expiry" is the deadline itself (monotonic and boottime timers: the two clocks
    /// every event carries).
    /// `frozen`: the sleep is known to have spanned the freezer (a re-arm after resume).
    fn cancelled_in_freezer(&mut self, armed: &Armed, ev: &Event, frozen: bool) {
        let wakes = self.wakes(armed.function);
        let monotonic = is_monotonic(armed.clockid_plus1);
        if !wakes
            || ev.tid() != armed.tid
            || ev.tid() == 0
            || !(monotonic || armed.clockid_plus1 == CLOCK_BOOTTIME_PLUS1)
        {
            return;
        }
        let offset = ev.boot_ns.saturating_sub(ev.mono_ns);
        let deadline = armed.softexpires.max(0) as u64;
        let (expire_mono, expire_boot) = if monotonic {
            (deadline, deadline.saturating_add(offset))
        } else {
            (deadline.saturating_sub(offset), deadline)
        };
        self.expect_wakeup(
            armed.tid,
            PendingWake {
                timer_late: 0,
                expire_mono,
                expire_boot,
                clockid_plus1: armed.clockid_plus1,
                softexpires: armed.softexpires,
                frozen,
                cancelled_by_freezer: true,
                ran_at: None,
                arm_mono: armed.arm_mono,
                arm_boot: armed.arm_boot,
                tgid: armed.tgid,
                comm: armed.comm,
                expiry_unseen: false,
            },
        );
    }

    /// Any event in a task's context shows it on a CPU. A task with a pending wakeup seen
    /// running outside the freezer has woken, whether or not its switch-in is in the trace.
    fn seen_running(&mut self, ev: &Event) {
        let tid = ev.tid();
        // runs for every event: most have no pending wakeup at all
        if tid == 0 || self.pending.is_empty() {
            return;
        }
        let Some(p) = self.pending.get(&tid) else {
            return;
        };
        if self.power.freezing() || (p.frozen && self.power.before_freeze()) {
            // switched in while the freezer runs, and now doing what no task on its way into
            // the refrigerator does: it woke at that switch-in
            let running_on = match ev.kind {
                kind::SUSPEND_RESUME => true,
                kind::HRTIMER_START => {
                    let f = ev.args[arg::hrtimer_start::FUNCTION];
                    self.wakes(f)
                }
                _ => false,
            };
            // a sleep the freezer cut short (no expiry) without a switch-in since: `on_start`
            // decides whether this arm continues it
            if running_on && (p.ran_at.is_some() || !p.cancelled_by_freezer) {
                let mut p = self.pending.remove(&tid).expect("looked up above");
                // an expiry's wakeup without a switch-in in the trace (its events lost): it
                // woke by now at the latest
                let (mono, boot) = p.ran_at.unwrap_or_else(|| {
                    self.inferred_wakeups += 1;
                    (ev.mono_ns, ev.boot_ns)
                });
                p.frozen = false;
                let mut at = *ev;
                (at.mono_ns, at.boot_ns) = (mono, boot);
                self.wake_at(tid, &p, &at);
            }
            return;
        }
        let now = if is_monotonic(p.clockid_plus1) {
            ev.mono_ns
        } else {
            ev.boot_ns
        };
        // a sleep the freezer cut short goes on after thaw while its deadline is ahead
        if p.cancelled_by_freezer && (now as i64) < p.softexpires {
            return;
        }
        let mut p = self.pending.remove(&tid).expect("looked up above");
        // a task woken by another's timer carried the armer's process until seen
        p.tgid = ev.tgid();
        self.inferred_wakeups += 1;
        self.wake_at(tid, &p, ev);
    }

    /// A task switched in while the freezer ran, leaving the CPU again: into an ordinary sleep
    /// (S) or preempted, it ran on (it was not taken by the freezer yet), and woke at that
    /// switch-in; into the refrigerator (D before 6.1, 0 from 6.1: `TASK_FROZEN` is not
    /// reported) its wakeup is at thaw.
    fn switched_out(&mut self, tid: u32, state: u64, ev: &Event) {
        /// `TASK_INTERRUPTIBLE`, `TASK_REPORT_IDLE`, `TASK_REPORT_MAX` (preempted).
        const RAN_ON: [u64; 3] = [0x1, 0x80, 0x100];
        if tid == 0 || !RAN_ON.contains(&state) {
            return;
        }
        let Some(&PendingWake {
            frozen: true,
            ran_at: Some((mono, boot)),
            ..
        }) = self.pending.get(&tid)
        else {
            return;
        };
        let mut p = self.pending.remove(&tid).expect("looked up above");
        p.frozen = false;
        let mut at = *ev;
        (at.mono_ns, at.boot_ns) = (mono, boot);
        self.wake_at(tid, &p, &at);
    }

    fn remember_switch_in(&mut self, tid: u32, ev: &Event) {
        if tid == 0 {
            return;
        }
        // bounded memory over thousands of short-lived tasks: old ones matter no more
        if self.recent_switch_ins.len() >= MAX_SWITCH_IN_TASKS
            && !self.recent_switch_ins.contains_key(&tid)
        {
            self.recent_switch_ins.clear();
        }
        let runs = self.recent_switch_ins.entry(tid).or_default();
        if runs.len() == RECENT_SWITCH_INS {
            runs.pop_front();
        }
        runs.push_back(SwitchIn {
            mono: ev.mono_ns,
            boot: ev.boot_ns,
            freezing: self.power.freezing(),
        });
    }

    /// `wake` at the moment of `ev`, an event other than the task's switch-in.
    fn wake_at(&mut self, tid: u32, p: &PendingWake, ev: &Event) {
        let mut at = Event::ZERO;
        at.kind = kind::SCHED_SWITCH;
        at.args[arg::sched_switch::NEXT_PID] = u64::from(tid);
        (at.mono_ns, at.boot_ns) = (ev.mono_ns, ev.boot_ns);
        self.wake(tid, p, &at);
    }

    /// `ev` re-arms `prev`, still armed as far as the trace knows. When its task arms its own
    /// wake timer again after a suspend cycle that began since `prev` was armed, and `prev`'s
    /// deadline has passed, that sleep ended: its expiry (before the freezer, or at resume)
    /// was not recorded. The wakeup is reported at the sleeper's first recorded switch-in after
    /// the deadline outside the freezer, else at the re-arm (the task was running by then),
    /// and counted.
    fn rearmed_after_resume(&mut self, prev: &Armed, ev: &Event) {
        let wakes = self.wakes(prev.function);
        let monotonic = is_monotonic(prev.clockid_plus1);
        // a cycle began since the arm, or the arm was inside one (before its freezer), and it
        // has ended
        // a cycle began since the arm, or the arm was inside one (before its freezer), and
        // its tasks are thawed (they run before `thaw_processes` ends)
        let resumed_since = (self.power.cycles().len() as u32 > prev.cycles_at_arm
            || prev.in_cycle_at_arm)
            && self.power.thawed();
        let now = if monotonic { ev.mono_ns } else { ev.boot_ns };
        if !wakes
            || !resumed_since
            || ev.tid() != prev.tid
            || !(monotonic || prev.clockid_plus1 == CLOCK_BOOTTIME_PLUS1)
            || (now as i64) < prev.softexpires
        {
            return;
        }
        // a timerfd whose callback woke another task (an event loop's waiter) woke that one
        let waiter = self
            .last_woken
            .get(&ev.args[arg::hrtimer_start::HRTIMER])
            .filter(|(armer, _, _)| *armer == prev.tid)
            .map(|&(_, woken, comm)| (woken, comm));
        let owner = waiter.map_or(prev.tid, |(woken, _)| woken);
        if self.pending.contains_key(&owner) {
            return;
        }
        self.cancelled_in_freezer(prev, ev, true);
        let Some(mut p) = self.pending.remove(&prev.tid) else {
            return;
        };
        if let Some((_, comm)) = waiter {
            p.comm = comm;
        }
        p.expiry_unseen = true;
        self.wake_after_lost_expiry(owner, p, ev);
    }

    /// `ev` is its own task arming a timer while the sleep it armed last (a `hrtimer_wakeup`
    /// timer: the task itself sleeps on it) is still armed in the trace with its deadline
    /// past: the task is running, so that sleep ended and its expiry was not recorded (the
    /// kernel skipped the programs; uncounted before 5.12), with or without a suspend in
    /// between. Its next sleep may sit at another stack address, so the re-arm of the same
    /// timer is not the only sign.
    fn outlived_sleep(&mut self, ev: &Event) {
        let tid = ev.tid();
        let Some(timer) = self.sleeping.remove(&tid) else {
            return;
        };
        let Some(armed) = self.armed.get(&timer).copied().filter(|a| a.tid == tid) else {
            return;
        };
        let now = if is_monotonic(armed.clockid_plus1) {
            ev.mono_ns
        } else {
            ev.boot_ns
        };
        if (now as i64) < armed.softexpires || self.pending.contains_key(&tid) {
            return;
        }
        self.armed.remove(&timer);
        self.rearmed_unseen += 1;
        // held by the freezer unless a switch-in shows otherwise: a cycle's tasks were thawed
        // since the arm, or the freezer runs now
        let resumed_since = (self.power.cycles().len() as u32 > armed.cycles_at_arm
            || armed.in_cycle_at_arm)
            && self.power.thawed();
        self.cancelled_in_freezer(&armed, ev, resumed_since || self.power.freezing());
        if let Some(mut p) = self.pending.remove(&tid) {
            p.cancelled_by_freezer = false;
            p.expiry_unseen = true;
            self.wake_after_lost_expiry(tid, p, ev);
        }
    }

    /// Reports `p`, a sleep of `owner` whose expiry the trace lacks, as ended at the owner's
    /// first recorded switch-in after the deadline outside the freezer (the expiry came and
    /// only its events were lost), else at `ev`, where the owner is known to run: a switch-in
    /// inside the freezer may only have led into the refrigerator.
    fn wake_after_lost_expiry(&mut self, owner: u32, mut p: PendingWake, ev: &Event) {
        self.inferred_wakeups += 1;
        let monotonic = is_monotonic(p.clockid_plus1);
        let now = if monotonic { ev.mono_ns } else { ev.boot_ns };
        let first_run = self.recent_switch_ins.get(&owner).and_then(|runs| {
            runs.iter()
                .find(|r| {
                    let at = if monotonic { r.mono } else { r.boot };
                    at as i64 >= p.softexpires && at <= now
                })
                .copied()
        });
        match first_run {
            Some(run) if !run.freezing => {
                (p.frozen, p.cancelled_by_freezer) = (false, false);
                let mut at = *ev;
                (at.mono_ns, at.boot_ns) = (run.mono, run.boot);
                self.wake_at(owner, &p, &at);
            }
            _ => self.wake_at(owner, &p, ev),
        }
    }

    fn phase_of(&self, armed: &Armed) -> Phase {
        if armed.in_cycle_at_arm
            || self.power.in_cycle()
            || self.power.cycles().len() as u32 > armed.cycles_at_arm
        {
            Phase::Spanning
        } else if self.power.cycles().is_empty() {
            Phase::Before
        } else {
            Phase::After
        }
    }

    /// The task of a pending wakeup got the CPU at `ev`.
    fn wake(&mut self, tid: u32, p: &PendingWake, ev: &Event) {
        // Measure the run delay on the timer's own clock: a monotonic timer does not count
        // time suspended, every other base does.
        let delay = if is_monotonic(p.clockid_plus1) {
            ev.mono_ns.saturating_sub(p.expire_mono)
        } else {
            ev.boot_ns.saturating_sub(p.expire_boot)
        };
        // On the two clocks every event carries, the wakeup against the deadline itself. The
        // expiry's `now` is the interrupt's clock read at its start, taken before every
        // callback it runs: at resume, when all that came due in suspend fires in one
        // interrupt, it lags this timer's callback by up to 200 ms (seen under TCG on 5.10),
        // and `timer_late + delay` would lose that lag.
        let wake_late = match p.clockid_plus1 {
            CLOCK_MONOTONIC_PLUS1 => (ev.mono_ns as i64).saturating_sub(p.softexpires),
            CLOCK_BOOTTIME_PLUS1 => (ev.boot_ns as i64).saturating_sub(p.softexpires),
            _ => p.timer_late.saturating_add(delay as i64),
        };
        record(&mut self.wakeups, wake_late.max(0) as u64);
        self.wake_series.add(ev.boot_ns, 1);
        let ran_in_freezer = ran_in_freezer_late(p);
        self.caught_in_freezer += u64::from(ran_in_freezer.is_some());
        self.check_lost(p, delay, ran_in_freezer, ev);
        if let Some(log) = &mut self.wake_log
            && ev.boot_ns >= self.wake_log_since
        {
            log.push(WakeRecord {
                tid,
                clock: clock_name(p.clockid_plus1),
                requested_ns: p.softexpires,
                timer_late_ns: p.timer_late,
                wake_late_ns: wake_late,
                frozen: p.frozen || p.cancelled_by_freezer,
                wake_boot_ns: ev.boot_ns,
                ran_in_freezer_late_ns: ran_in_freezer,
                expiry_unseen: p.expiry_unseen,
            });
        }
    }

    /// Lists the wakeup of `p` (its task got the CPU at `ev`, `delay` after the expiry) when
    /// it came far later than asked, with its cause.
    fn check_lost(&mut self, p: &PendingWake, delay: u64, ran_in_freezer: Option<i64>, ev: &Event) {
        let arm_offset = p.arm_boot.saturating_sub(p.arm_mono);
        let expected_boot = if is_monotonic(p.clockid_plus1) {
            // the deadline in elapsed time as the task saw it when arming
            (p.softexpires.max(0) as u64).saturating_add(arm_offset)
        } else if p.clockid_plus1 == CLOCK_BOOTTIME_PLUS1 {
            // the deadline is on CLOCK_BOOTTIME itself
            p.softexpires.max(0) as u64
        } else {
            // realtime/tai count suspend too, on another epoch: the deadline passed
            // `timer_late` before the expiry (to within the time from the expiry interrupt's
            // clock read to this timer's callback)
            p.expire_boot.saturating_sub(p.timer_late.max(0) as u64)
        };
        let requested = expected_boot.saturating_sub(p.arm_boot);
        let late = ev.boot_ns.saturating_sub(expected_boot);
        if late <= LOST_WAKEUP_MIN_NS.max(requested) {
            return;
        }
        let suspended_between = ev
            .boot_ns
            .saturating_sub(p.arm_boot)
            .saturating_sub(ev.mono_ns.saturating_sub(p.arm_mono));
        let cycle = self
            .power
            .cycle_at(expected_boot)
            .copied()
            .or_else(|| {
                // a monotonic deadline moves with the suspend: blame the cycle that stopped it
                (is_monotonic(p.clockid_plus1) && suspended_between > 0)
                    .then(|| {
                        self.power
                            .cycles()
                            .iter()
                            .rev()
                            .find(|c| c.start >= p.arm_boot && c.start <= ev.boot_ns)
                            .copied()
                    })
                    .flatten()
            })
            .or_else(|| {
                // held by the freezer (cut short by it, or switched in only to freeze): the
                // cycle it froze in, though the deadline came just before it and no time was
                // suspended (a pm_test cycle; seen on 6.12: asyncio's timer due 0.6 ms before
                // suspend_enter, its epoll sleep cut by the freezer, listed as cpu_contention)
                (p.frozen || p.cancelled_by_freezer)
                    .then(|| {
                        self.power
                            .cycles()
                            .iter()
                            .rev()
                            .find(|c| {
                                c.start <= ev.boot_ns && c.end.is_none_or(|e| e >= expected_boot)
                            })
                            .copied()
                    })
                    .flatten()
            });
        // an expiry the trace lacks, due before the freezer began: the task may have run
        // before the cycle, and the trace cannot say (seen on 5.10: due 6.9 ms before
        // suspend_enter, the program's clock read 0.5 ms before freeze_processes)
        let due_before_freeze = cycle.is_none_or(|c| c.freeze.is_none_or(|f| expected_boot < f));
        let cause = match cycle {
            _ if p.expiry_unseen && due_before_freeze => WakeCause::ExpiryUnseen,
            Some(c)
                if c.resumed_mono
                    .is_some_and(|r| expected_boot >= r + c.offset) =>
            {
                WakeCause::ResumeLatency
            }
            Some(_) => WakeCause::Suspend,
            None if (p.timer_late.max(0) as u64) >= delay => WakeCause::TimerLate,
            None => WakeCause::CpuContention,
        };
        self.lost.push(LostWakeup {
            pid: p.tgid,
            tid: ev.args[arg::sched_switch::NEXT_PID] as u32,
            comm: String::from_utf8_lossy(trim_nul(&p.comm)).into_owned(),
            clock: clock_name(p.clockid_plus1),
            requested_ns: requested,
            expected_boot_ns: expected_boot,
            actual_boot_ns: ev.boot_ns,
            expected_mono_ns: expected_boot.saturating_sub(arm_offset),
            actual_mono_ns: ev.mono_ns,
            late_ns: late,
            cause,
            suspend_cycle: cycle.map(|c| c.index),
            ran_in_freezer_late_ns: ran_in_freezer,
        });
    }

    /// The arm of an expiry whose own arm is not in the trace, from what the expiry carries
    /// (its deadline, read from the timer at the expiry): a kernel timer (their arms are
    /// sampled, not all recorded), or a timer whose last recorded arm is for another deadline
    /// (a periodic callback forwarded it, or the re-arm was lost). It counts from the expiry:
    /// the arm's moment is unknown, so it is never taken as spanning a suspend. A task's
    /// timer with no recorded arm at all stays unpaired: whose it is cannot be known.
    fn unrecorded_arm(&mut self, ev: &Event, recorded: Option<Armed>) -> Option<Armed> {
        use arg::hrtimer_expire_entry as a;
        let softexpires = ev.args[a::SOFTEXPIRES] as i64;
        let function = ev.args[a::FUNCTION];
        let kernel_timer = self.is_kernel_timer(function);
        if softexpires == 0 || (recorded.is_none() && !kernel_timer) {
            return None;
        }
        self.unrecorded_arms += 1;
        let (tgid, tid, comm) = recorded.map_or((0, 0, [0; 16]), |r| (r.tgid, r.tid, r.comm));
        Some(Armed {
            softexpires,
            function,
            tgid,
            tid,
            comm,
            clockid_plus1: ev.args[a::CLOCKID_PLUS1],
            arm_mono: ev.mono_ns,
            arm_boot: ev.boot_ns,
            cycles_at_arm: self.power.cycles().len() as u32,
            in_cycle_at_arm: self.power.in_cycle(),
        })
    }

    fn record(&mut self, armed: &Armed, late: i64, ev: &Event) {
        self.min_ns = self.min_ns.min(late);
        if late < 0 {
            self.early += 1;
        }
        let v = late.max(0) as u64;
        let phase = self.phase_of(armed) as usize;
        record(&mut self.overall, v);
        record(&mut self.phases[phase], v);
        if phase == Phase::Spanning as usize {
            // boot − monotonic grown by less than CLOCK_STOPPED_MIN_NS is no time suspended but
            // the two events' clock reads (each pair µs apart, tens under emulation): counted,
            // a timer spanning a cycle that stopped no clock would seem late in elapsed time
            let grown = ev
                .boot_ns
                .saturating_sub(armed.arm_boot)
                .saturating_sub(ev.mono_ns.saturating_sub(armed.arm_mono));
            let suspended = if grown < CLOCK_STOPPED_MIN_NS {
                0
            } else {
                grown
            };
            // a clock that stops in suspend fires `suspended` later in elapsed time
            let wall = if is_monotonic(armed.clockid_plus1) {
                v.saturating_add(suspended)
            } else {
                v
            };
            let e = self
                .spanning
                .entry(armed.clockid_plus1)
                .or_insert_with(|| (new_hist(3), new_hist(3), 0));
            record(&mut e.0, v);
            record(&mut e.1, wall);
            e.2 = e.2.max(suspended);
        }
        let function = if self.by_callback.len() < MAX_GROUPS
            || self.by_callback.contains_key(&armed.function)
        {
            armed.function
        } else {
            OTHER_CALLBACKS
        };
        self.by_callback
            .entry(function)
            .or_insert_with(|| Group::new(String::new(), None, None))
            .record(phase, v);
        let tid = if self.is_kernel_timer(armed.function) {
            KERNEL_TIMERS
        } else if self.by_task.len() < MAX_GROUPS || self.by_task.contains_key(&armed.tid) {
            armed.tid
        } else {
            OTHER_TASKS
        };
        self.by_task
            .entry(tid)
            .or_insert_with(|| {
                if tid == OTHER_TASKS {
                    return Group::new("(other tasks)".into(), None, None);
                }
                if tid == KERNEL_TIMERS {
                    return Group::new("(kernel timers)".into(), None, None);
                }
                let comm = String::from_utf8_lossy(trim_nul(&armed.comm)).into_owned();
                Group::new(comm, Some(armed.tgid), Some(armed.tid))
            })
            .record(phase, v);
    }

    /// Finishes the summary, naming callbacks with `symbols` (address → name).
    /// The lost wakeups, in the order they happened.
    pub fn take_lost(&mut self) -> Vec<LostWakeup> {
        std::mem::take(&mut self.lost)
    }

    pub fn summary(self, symbols: &BTreeMap<u64, String>, top: usize) -> TimerSummary {
        let mut by_callback: Vec<GroupRow> = self
            .by_callback
            .into_iter()
            .map(|(addr, mut g)| {
                g.name = match symbols.get(&addr) {
                    Some(name) => name.clone(),
                    None if addr == OTHER_CALLBACKS => "(other callbacks)".into(),
                    None => format!("{addr:#x}"),
                };
                g.row()
            })
            .collect();
        by_callback.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
        by_callback.truncate(top);
        let mut by_task: Vec<GroupRow> = self.by_task.into_values().map(|g| g.row()).collect();
        // ties broken by thread id: the output must not depend on hash order
        by_task.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(a.name.cmp(&b.name))
                .then(a.tid.cmp(&b.tid))
        });
        by_task.truncate(top);
        TimerSummary {
            wakeups: WakeupSummary {
                count: self.wakeups.len(),
                latency_ns: Percentiles::of(&self.wakeups),
                woke_other_than_armer: self.woke_other_than_armer,
            },
            count: self.overall.len(),
            lateness_ns: Percentiles::of(&self.overall),
            min_lateness_ns: if self.overall.is_empty() {
                0
            } else {
                self.min_ns
            },
            early: self.early,
            inferred_wakeups: self.inferred_wakeups,
            expiry_deactivations: self.expiry_deactivations,
            unrecorded_arms: self.unrecorded_arms,
            rearmed_unseen: self.rearmed_unseen,
            continued_sleeps: self.continued_sleeps,
            caught_in_freezer: self.caught_in_freezer,
            restarts: self.restarts,
            unplaced_wakeups: self.unplaced_wakeups,
            by_callback,
            by_task,
            by_phase: PhaseSplit::of([
                Some(&self.phases[0]),
                Some(&self.phases[1]),
                Some(&self.phases[2]),
            ]),
            spanning_by_clock: self
                .spanning
                .iter()
                .map(|(&clock, (own, wall, suspended))| SpanningClock {
                    clock: clock_name(clock),
                    drift: if clock == 0 {
                        Drift::Unknown
                    } else if *suspended < CLOCK_STOPPED_MIN_NS {
                        Drift::NoClockStopped
                    } else if is_monotonic(clock) {
                        Drift::SuspendDrift
                    } else {
                        Drift::FiresAtResume
                    },
                    count: own.len(),
                    lateness_ns: Percentiles::of(own),
                    wall_lateness_ns: Percentiles::of(wall),
                    suspended_ns_max: *suspended,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serial_trace_common::Event;

    pub fn start(timer: u64, soft: i64, func: u64, tid: u32) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind::HRTIMER_START;
        e.pid_tgid = (u64::from(tid) << 32) | u64::from(tid);
        e.comm[..4].copy_from_slice(b"work");
        e.args[0] = timer;
        e.args[1] = func;
        e.args[2] = (soft + 50_000) as u64;
        e.args[3] = soft as u64;
        e
    }

    pub fn expire(timer: u64, now: i64, func: u64) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind::HRTIMER_EXPIRE_ENTRY;
        e.args[0] = timer;
        e.args[1] = now as u64;
        e.args[2] = func;
        e
    }

    /// An expiry that carries its own deadline, as the recorder writes them (arg 3).
    fn expire_own(timer: u64, now: i64, func: u64, soft: i64) -> Event {
        let mut e = expire(timer, now, func);
        e.args[arg::hrtimer_expire_entry::SOFTEXPIRES] = soft as u64;
        e
    }

    #[test]
    fn expiries_carry_their_deadline_when_the_arm_is_not_recorded() {
        // The tick (0xe0, a kernel timer) expires without any recorded arm: the recorder
        // samples kernel timers' arms. Task 42's sleep (0xf1) was armed for 1 ms, then
        // re-armed for 2 ms in a stretch the ring buffer lost, and expires at 2 ms + 30 µs.
        let mut s = TimerStats::new(vec![0xf1]).with_task_callbacks(vec![0xf1]);
        s.event(&expire_own(0x2, 4_000_000 + 7_000, 0xe0, 4_000_000));
        s.event(&start(0x1, 1_000_000, 0xf1, 42));
        s.event(&expire_own(0x1, 2_000_000 + 30_000, 0xf1, 2_000_000));
        // a task timer with no arm at all cannot be attributed: it stays unpaired
        s.event(&expire_own(0x3, 9_000_000, 0xf1, 8_000_000));
        let sum = s.summary(&BTreeMap::new(), 10);
        assert_eq!((sum.count, sum.unrecorded_arms), (2, 2));
        let rows: Vec<(&str, Option<u32>, u64, u64)> = sum
            .by_task
            .iter()
            .map(|r| (r.name.as_str(), r.tid, r.count, r.lateness_ns.max))
            .collect();
        // lateness from each expiry's own deadline
        assert_eq!(rows[0].0, "(kernel timers)");
        assert_eq!((rows[0].2, rows[0].3 / 1000), (1, 7));
        // the sleep is late by 30 µs from its own deadline, not by 1,030 µs from the one
        // its stale arm asked for; it is still the task's
        assert_eq!(rows[1].0, "work");
        assert_eq!((rows[1].1, rows[1].2, rows[1].3 / 1000), (Some(42), 1, 30));
        assert!(sum.min_lateness_ns >= 7_000, "{}", sum.min_lateness_ns);
    }

    #[test]
    fn a_task_timer_armed_again_without_its_expiry_or_cancel_shows_a_skipped_event() {
        let mut s = TimerStats::new(vec![0xf1]).with_task_callbacks(vec![0xf1]);
        s.event(&start(0x1, 1_000, 0xf1, 42));
        s.event(&start(0x1, 2_000, 0xf1, 42)); // the expiry of the first never arrived
        s.event(&start(0x2, 1_000, 0xe0, 7)); // kernel timers' arms are sampled
        s.event(&start(0x2, 2_000, 0xe0, 7));
        s.event(&start(0x3, 1_000, 0xf1, 43));
        s.event(&expire(0x3, 1_100, 0xf1));
        s.event(&start(0x3, 2_000, 0xf1, 43));
        assert_eq!(s.summary(&BTreeMap::new(), 10).rearmed_unseen, 1);
    }

    #[test]
    fn kernel_timers_go_to_one_row_not_to_the_interrupted_task() {
        // task 42 sleeps (0xf1, a task callback); the tick (0xe0) is re-armed in interrupts
        // that happened to hit task 42 and task 7
        let mut s = TimerStats::new(vec![0xf1]).with_task_callbacks(vec![0xf1]);
        for (i, (timer, func, tid)) in [(0x1, 0xf1, 42), (0x2, 0xe0, 42), (0x2, 0xe0, 7)]
            .into_iter()
            .enumerate()
        {
            let t = i as i64 * 10_000_000;
            s.event(&start(timer, t, func, tid));
            s.event(&expire(timer, t + 5_000, func));
        }
        let sum = s.summary(&BTreeMap::new(), 10);
        let rows: Vec<(&str, Option<u32>, u64)> = sum
            .by_task
            .iter()
            .map(|r| (r.name.as_str(), r.tid, r.count))
            .collect();
        assert_eq!(rows, [("(kernel timers)", None, 2), ("work", Some(42), 1)]);
        // without the list (an older trace) every timer is its arming task's
        let mut old = TimerStats::new(vec![0xf1]);
        old.event(&start(0x2, 0, 0xe0, 7));
        old.event(&expire(0x2, 5_000, 0xe0));
        assert_eq!(old.summary(&BTreeMap::new(), 10).by_task[0].tid, Some(7));
    }

    /// A POSIX timer whose signal is ignored is re-armed by its own callback, in interrupt
    /// context: the arm is traced in whichever task was interrupted (7), and marked a restart
    /// by the recorder. Its expiries stay task 42's.
    #[test]
    fn a_timer_restarted_by_its_callback_stays_its_owners() {
        let mut s = TimerStats::new(vec![0xf1]).with_task_callbacks(vec![0xf1, 0xf3]);
        s.event(&start(0x3, 10_000_000, 0xf3, 42));
        s.event(&expire(0x3, 10_005_000, 0xf3));
        let mut restart = start(0x3, 20_000_000, 0xf3, 7);
        restart.args[arg::hrtimer_start::RESTART] = 1;
        s.event(&restart);
        s.event(&expire(0x3, 20_005_000, 0xf3));
        let sum = s.summary(&BTreeMap::new(), 10);
        let rows: Vec<(Option<u32>, u64)> = sum.by_task.iter().map(|r| (r.tid, r.count)).collect();
        assert_eq!(rows, [(Some(42), 2)]);
        assert_eq!(sum.restarts, 1);
    }

    /// PREEMPT_RT runs a POSIX timer's callback in the `ktimers` thread: a hard-interrupt
    /// timer (task 50's sleep) can expire on that CPU between the callback's expiry and its
    /// restart. The restart is still the owner's, and so is every expiry after it.
    #[test]
    fn a_restart_after_a_nested_expiry_stays_its_owners() {
        let mut s = TimerStats::new(vec![0xf1]).with_task_callbacks(vec![0xf1, 0xf3]);
        s.event(&start(0x3, 10_000_000, 0xf3, 42));
        s.event(&start(0x9, 10_100_000, 0xf1, 50));
        for k in 1..=3 {
            s.event(&expire(0x3, k * 10_000_000 + 5_000, 0xf3));
            if k == 1 {
                s.event(&expire(0x9, 10_105_000, 0xf1));
            }
            let mut restart = start(0x3, (k + 1) * 10_000_000, 0xf3, 18);
            restart.args[arg::hrtimer_start::RESTART] = 1;
            s.event(&restart);
        }
        let sum = s.summary(&BTreeMap::new(), 10);
        let rows: Vec<(Option<u32>, u64)> = sum.by_task.iter().map(|r| (r.tid, r.count)).collect();
        assert_eq!(rows, [(Some(42), 3), (Some(50), 1)]);
        assert_eq!(sum.restarts, 3);
    }

    #[test]
    fn pairs_start_with_expiry_and_ignores_cancelled() {
        let mut s = TimerStats::default();
        for i in 0..100i64 {
            let t = 0x1000 + (i as u64 % 3);
            s.event(&start(t, i * 1_000_000, 0xf1, 42));
            s.event(&expire(t, i * 1_000_000 + 1_000 * (i + 1), 0xf1));
        }
        // armed then cancelled (the CPU went on to other work): no sample
        s.event(&start(0x2000, 5, 0xf2, 43));
        s.event(&cancel(0x2000, 0));
        s.event(&switch_to(44, 0, 0));
        s.event(&expire(0x2000, 99_999_999, 0xf2));
        // expiry without a start: ignored
        s.event(&expire(0x3000, 5, 0xf3));

        let syms = BTreeMap::from([(0xf1, "hrtimer_wakeup".to_string())]);
        let sum = s.summary(&syms, 10);
        assert_eq!(sum.count, 100);
        assert_eq!(sum.min_lateness_ns, 1_000);
        assert_eq!(sum.early, 0);
        // lateness 1..=100 µs: p50 ≈ 50 µs, max = 100 µs (3 significant figures)
        assert!(
            (49_900..=50_100).contains(&sum.lateness_ns.p50),
            "{:?}",
            sum.lateness_ns
        );
        assert!((99_900..=100_100).contains(&sum.lateness_ns.max));
        assert_eq!(sum.by_callback.len(), 1);
        assert_eq!(sum.by_callback[0].name, "hrtimer_wakeup");
        assert_eq!(sum.by_task[0].pid, Some(42));
        assert_eq!(sum.by_task[0].name, "work");
    }

    pub fn cancel(timer: u64, cpu: u16) -> Event {
        let mut c = Event::ZERO;
        c.kind = kind::HRTIMER_CANCEL;
        c.args[0] = timer;
        c.cpu = cpu;
        c
    }

    use crate::analysis::suspend::tests::sr;

    /// A timerfd (callback 0xf2) armed by thread 10 and waited on in epoll by thread 20: the
    /// expiry wakes 20, seen by `sched_waking` inside the callback; the wakeup is 20's.
    #[test]
    fn a_timerfd_wakes_its_waiter_not_its_armer() {
        let mut s = TimerStats::new(vec![0xf1, 0xf2]).with_task_callbacks(vec![0xf1, 0xf2]);
        s.wake_log = Some(Vec::new());
        s.event(&start(0x7, 1_000_000, 0xf2, 10));
        let mut fired = expire(0x7, 1_000_000 + 20_000, 0xf2);
        (fired.mono_ns, fired.boot_ns) = (1_020_000, 1_020_000);
        s.event(&fired);
        let mut waking = Event::ZERO;
        waking.kind = kind::SCHED_WAKING;
        waking.args[arg::sched_waking::PID] = 20;
        waking.args[arg::sched_waking::HRTIMER] = 0x7;
        waking.text[0][..4].copy_from_slice(b"loop");
        s.event(&waking);
        let mut exit = Event::ZERO;
        exit.kind = kind::HRTIMER_EXPIRE_EXIT;
        exit.args[0] = 0x7;
        s.event(&exit);
        // a wakeup outside any expiry callback is not a timer's
        let mut stray = waking;
        stray.args[arg::sched_waking::PID] = 30;
        s.event(&stray);
        s.event(&switch_to(10, 1_050_000, 1_050_000));
        s.event(&switch_to(30, 1_060_000, 1_060_000));
        s.event(&switch_to(20, 1_100_000, 1_100_000));
        // the next period: armed again by 10, woken 20 again (each expiry counts)
        s.event(&start(0x7, 2_000_000, 0xf2, 10));
        (fired.mono_ns, fired.boot_ns) = (2_020_000, 2_020_000);
        fired.args[1] = 2_020_000;
        s.event(&fired);
        s.event(&waking);
        s.event(&exit);
        s.event(&switch_to(20, 2_030_000, 2_030_000));
        let log = s.wake_log.take().unwrap();
        let sum = s.summary(&BTreeMap::new(), 10);
        assert_eq!(sum.wakeups.woke_other_than_armer, 2);
        let late: Vec<(u32, i64)> = log.iter().map(|w| (w.tid, w.wake_late_ns)).collect();
        assert_eq!(late, [(20, 100_000), (20, 30_000)]);
    }

    /// Debian 5.10.0-32 (5.10.223) traces `hrtimer_cancel` right before every
    /// `hrtimer_expire_entry` (`debug_deactivate` in `__run_hrtimer`): the expiry still pairs,
    /// while a cancel followed by anything else on its CPU stays a cancel.
    #[test]
    fn a_cancel_traced_just_before_its_expiry_is_the_expiry() {
        let on = |mut e: Event, cpu: u16| {
            e.cpu = cpu;
            e
        };
        let mut s = TimerStats::new(vec![0xf1]);
        s.wake_log = Some(Vec::new());
        for i in 0..10u64 {
            let t = 0x100 + i;
            let due = i * 10_000_000;
            s.event(&on(start(t, due as i64, 0xf1, 42), 0));
            // the expiry interrupts CPU 1; CPU 0 goes on meanwhile
            s.event(&cancel(t, 1));
            s.event(&on(switch_to(7, due, due), 0));
            let mut fired = on(expire(t, due as i64 + 30_000, 0xf1), 1);
            (fired.mono_ns, fired.boot_ns) = (due + 30_000, due + 30_000);
            s.event(&fired);
            s.event(&on(switch_to(42, due + 80_000, due + 80_000), 1));
        }
        // a real cancel: the CPU's next event is something else
        s.event(&on(start(0x999, 500_000_000, 0xf1, 43), 0));
        s.event(&cancel(0x999, 0));
        s.event(&on(switch_to(9, 1, 1), 0));
        s.event(&on(expire(0x999, 500_000_100, 0xf1), 0));
        let log = s.wake_log.take().unwrap();
        let sum = s.summary(&BTreeMap::new(), 10);
        assert_eq!((sum.count, sum.expiry_deactivations), (10, 10));
        assert_eq!(sum.wakeups.count, 10);
        assert!(log.iter().all(|w| w.tid == 42 && w.wake_late_ns == 80_000));
        // the same expiry deactivation inside the freezer is not a sleep the freezer cut short
        let mut f = TimerStats::new(vec![0xf1]);
        f.event(&on(start(0x1, 1_000, 0xf1, 42), 0));
        f.event(&sr("freeze_processes", 0, true, 500, 500));
        let mut c = cancel(0x1, 0);
        c.pid_tgid = (42 << 32) | 42;
        f.event(&c);
        f.event(&on(expire(0x1, 1_100, 0xf1), 0));
        f.event(&sr("thaw_processes", 0, true, 5_000, 5_000));
        f.event(&switch_to(42, 6_000, 6_000));
        let w = f.summary(&BTreeMap::new(), 10);
        assert_eq!(
            (w.count, w.expiry_deactivations, w.wakeups.count),
            (1, 1, 1)
        );
    }

    fn switch_to(tid: u32, mono: u64, boot: u64) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind::SCHED_SWITCH;
        e.args[0] = u64::from(tid);
        e.mono_ns = mono;
        e.boot_ns = boot;
        e
    }

    #[test]
    fn wakeup_latency_on_the_timers_own_clock() {
        let mut s = TimerStats::new(vec![0xf1]);
        // monotonic sleep (clockid 1): expired 10 µs late, task frozen across a 3 s suspend,
        // ran 40 ms of monotonic time later
        let mut st = start(0x1, 1_000_000, 0xf1, 5);
        st.args[6] = 2;
        s.event(&st);
        let mut ex = expire(0x1, 1_010_000, 0xf1);
        (ex.mono_ns, ex.boot_ns) = (1_010_000, 1_010_000);
        s.event(&ex);
        s.event(&switch_to(5, 41_010_000, 3_041_010_000));
        // boottime sleep (clockid 7): the same path counts the suspended time
        let mut st = start(0x2, 2_000_000, 0xf1, 6);
        st.args[6] = 8;
        s.event(&st);
        let mut ex = expire(0x2, 2_000_000, 0xf1);
        (ex.mono_ns, ex.boot_ns) = (2_000_000, 2_000_000);
        s.event(&ex);
        s.event(&switch_to(6, 42_000_000, 3_042_000_000));
        // a callback that wakes nobody: no wakeup
        s.event(&start(0x3, 0, 0xf9, 7));
        s.event(&expire(0x3, 0, 0xf9));
        s.event(&switch_to(7, 5, 5));
        let w = s.summary(&BTreeMap::new(), 10).wakeups;
        assert_eq!(w.count, 2);
        assert!(
            (40_000_000..40_100_000).contains(&w.latency_ns.p50),
            "{w:?}"
        );
        assert!(
            (3_039_000_000..3_042_000_000).contains(&w.latency_ns.max),
            "{w:?}"
        );
    }

    #[test]
    fn early_expiry_is_counted_not_hidden() {
        let mut s = TimerStats::default();
        s.event(&start(1, 1_000, 0xf1, 1));
        s.event(&expire(1, 900, 0xf1));
        let sum = s.summary(&BTreeMap::new(), 10);
        assert_eq!((sum.count, sum.early, sum.min_lateness_ns), (1, 1, -100));
        assert_eq!(sum.by_callback[0].name, "0xf1");
    }
}

#[cfg(test)]
mod suspend_tests {
    use super::tests::{expire, start};
    use super::*;
    use crate::analysis::suspend::tests::{s3_cycle, sr};

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    fn arm(timer: u64, tid: u32, clock_plus1: u64, soft: u64, mono: u64, boot: u64) -> Event {
        let mut e = start(timer, soft as i64, 0xf1, tid);
        e.args[arg::hrtimer_start::CLOCKID_PLUS1] = clock_plus1;
        (e.mono_ns, e.boot_ns) = (mono, boot);
        e
    }

    fn fire(timer: u64, now: u64, mono: u64, boot: u64) -> Event {
        let mut e = expire(timer, now as i64, 0xf1);
        (e.mono_ns, e.boot_ns) = (mono, boot);
        e
    }

    fn run_in(mono: u64, boot: u64, tid: u32) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind::SCHED_SWITCH;
        e.args[arg::sched_switch::NEXT_PID] = u64::from(tid);
        (e.mono_ns, e.boot_ns) = (mono, boot);
        e
    }

    fn switch_out(mono: u64, tid: u32, state: u64, next: u32) -> Event {
        let mut e = run_in(mono, mono, next);
        e.args[arg::sched_switch::PREV_PID] = u64::from(tid);
        e.args[arg::sched_switch::PREV_STATE] = state;
        e
    }

    fn waking(timer: u64, tid: u32, mono: u64) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind::SCHED_WAKING;
        e.args[arg::sched_waking::PID] = u64::from(tid);
        e.args[arg::sched_waking::HRTIMER] = timer;
        (e.mono_ns, e.boot_ns) = (mono, mono);
        e
    }

    fn expiry_exit(timer: u64, mono: u64) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind::HRTIMER_EXPIRE_EXIT;
        e.args[0] = timer;
        (e.mono_ns, e.boot_ns) = (mono, mono);
        e
    }

    /// Per logged wakeup: tid, lateness, whether taken at thaw, and when it had the CPU in the
    /// freezer.
    fn freezer_rows(log: &[WakeRecord]) -> Vec<(u32, i64, bool, Option<i64>)> {
        log.iter()
            .map(|w| (w.tid, w.wake_late_ns, w.frozen, w.ran_in_freezer_late_ns))
            .collect()
    }

    /// Issue 13 item 1: a task woken just after `freeze_processes` began is switched in; how
    /// it leaves the CPU says whether it ran on (an ordinary sleep: it woke at that switch-in)
    /// or froze (the refrigerator: it wakes at thaw). Timer 0x1's task 42 sleeps again (S);
    /// timer 0x2's task 43 enters the refrigerator (reported 0 from 6.1, 2 before).
    #[test]
    fn a_task_switched_in_while_freezing_woke_there_unless_it_froze() {
        for frozen_state in [0, 2] {
            let (_, log) = feed_logged(vec![
                arm(0x1, 42, 2, 100 * MS, 90 * MS, 90 * MS),
                arm(0x2, 43, 2, 100 * MS, 90 * MS, 90 * MS),
                sr("freeze_processes", 0, true, 99 * MS, 99 * MS),
                fire(0x1, 100 * MS, 100 * MS, 100 * MS),
                run_in(101 * MS, 101 * MS, 42),
                switch_out(102 * MS, 42, 1, 0),
                fire(0x2, 103 * MS, 103 * MS, 103 * MS),
                run_in(104 * MS, 104 * MS, 43),
                switch_out(105 * MS, 43, frozen_state, 0),
                sr("thaw_processes", 0, true, 2 * S, 2 * S),
                run_in(2 * S + MS, 2 * S + MS, 43),
            ]);
            assert_eq!(
                freezer_rows(&log),
                [
                    (42, MS as i64, false, None),
                    // it had the CPU at 104 ms before it froze: the program may have seen its
                    // wakeup then, and the report says so
                    (
                        43,
                        (2 * S + MS - 100 * MS) as i64,
                        true,
                        Some(4 * MS as i64)
                    )
                ],
                "refrigerator state {frozen_state}"
            );
        }
    }

    /// Seen on arm64 6.12 under TCG: inside the freezer a sleep expired in its own task's
    /// context (the task armed it and was interrupted before it slept), so no switch-in ever
    /// came. Task 42 then armed its next sleep (it ran on: woke at the expiry); task 43 went
    /// into the refrigerator (woke at thaw, having had the CPU at its expiry). Task 44's
    /// switch-in is not in the trace: its next arm is the latest it can have woken.
    #[test]
    fn a_sleep_expiring_in_its_own_task_inside_the_freezer_is_its_wakeup() {
        let own = |mut e: Event, tid: u32| {
            e.pid_tgid = (u64::from(tid) << 32) | u64::from(tid);
            e
        };
        let (_, log) = feed_logged(vec![
            arm(0x1, 42, 2, 100 * MS, 95 * MS, 95 * MS),
            arm(0x2, 43, 2, 100 * MS, 95 * MS, 95 * MS),
            sr("freeze_processes", 0, true, 99 * MS, 99 * MS),
            own(fire(0x1, 102 * MS, 102 * MS, 102 * MS), 42),
            own(waking(0x1, 42, 102 * MS + 1), 42),
            own(expiry_exit(0x1, 102 * MS + 2), 42),
            arm(0x3, 42, 2, 110 * MS, 103 * MS, 103 * MS),
            switch_out(104 * MS, 42, 1, 0),
            own(fire(0x2, 105 * MS, 105 * MS, 105 * MS), 43),
            switch_out(106 * MS, 43, 0, 0),
            // task 44's switch-in lost: its next arm shows it running by then
            arm(0x4, 44, 2, 100 * MS, 95 * MS, 95 * MS),
            fire(0x4, 100 * MS, 100 * MS, 100 * MS),
            arm(0x5, 44, 2, 120 * MS, 107 * MS, 107 * MS),
            sr("thaw_processes", 0, true, 2 * S, 2 * S),
            run_in(2 * S + MS, 2 * S + MS, 43),
        ]);
        assert_eq!(
            freezer_rows(&log),
            [
                (42, 2 * MS as i64, false, None),
                (44, 7 * MS as i64, false, None),
                (
                    43,
                    (2 * S + MS - 100 * MS) as i64,
                    true,
                    Some(5 * MS as i64)
                )
            ]
        );
    }

    /// Two expiries for one task with nothing of it between (its events lost): the first
    /// wakeup cannot be placed and is counted, not dropped silently.
    #[test]
    fn a_wakeup_the_trace_never_shows_is_counted_unplaced() {
        let (s, log) = feed_logged(vec![
            arm(0x1, 42, 2, 100 * MS, 90 * MS, 90 * MS),
            arm(0x2, 42, 2, 110 * MS, 91 * MS, 91 * MS),
            fire(0x1, 100 * MS, 100 * MS, 100 * MS),
            fire(0x2, 110 * MS, 110 * MS, 110 * MS),
            run_in(111 * MS, 111 * MS, 42),
        ]);
        assert_eq!(log.len(), 1);
        assert_eq!(s.summary(&BTreeMap::new(), 10).unplaced_wakeups, 1);
    }

    /// Seen on 5.10 (a timerfd read, 1 run in 40): the expiry woke the task inside the freezer,
    /// it ran (the program read its clock 0.5 ms after the deadline) and froze 0.4 ms later in
    /// D. Taken at thaw, the lost wakeup carries the moment it had the CPU, and the summary
    /// counts it.
    #[test]
    fn a_wakeup_caught_by_the_freezer_names_when_its_task_had_the_cpu() {
        let mut s = TimerStats::new(vec![]);
        s.wake_log = Some(Vec::new());
        for ev in [
            arm(0x2, 43, 2, 100 * MS, 90 * MS, 90 * MS),
            sr("freeze_processes", 0, true, 99 * MS, 99 * MS),
            fire(0x2, 100 * MS, 100 * MS, 100 * MS),
            run_in(100 * MS + 200_000, 100 * MS + 200_000, 43),
            switch_out(100 * MS + 600_000, 43, 2, 0),
            sr("thaw_processes", 0, true, 300 * MS, 2 * S),
            run_in(301 * MS, 2 * S + MS, 43),
        ] {
            s.event(&ev);
        }
        let lost = s.take_lost();
        assert_eq!(lost.len(), 1, "{lost:#?}");
        assert_eq!(lost[0].ran_in_freezer_late_ns, Some(200_000));
        assert_eq!(lost[0].late_ns, 2 * S + MS - 100 * MS);
        assert_eq!(s.summary(&BTreeMap::new(), 10).caught_in_freezer, 1);
    }

    /// An event loop's `epoll_wait` timeout (deadline 300 ms) is ended by the freezer, its
    /// timer cancelled by the task itself; after a 2 s S3 suspend it waits again for the time
    /// left, rounded up to whole ms (deadline 300.5 ms), and wakes on time on its clock: the
    /// same sleep, 2 s late in elapsed time, a wakeup lost to the suspend.
    #[test]
    fn a_sleep_asked_again_after_thaw_for_the_time_left_is_the_same_sleep() {
        // asked again 0.5 ms later than first, or 0.6 ms earlier (the first timeout's
        // whole-ms rounding added more than the second's)
        for asked_again in [300 * MS + MS / 2, 300 * MS - 600_000] {
            asked_again_after_thaw(asked_again);
        }
    }

    fn asked_again_after_thaw(deadline: u64) {
        let mut c = super::tests::cancel(0x1, 0);
        c.pid_tgid = (42 << 32) | 42;
        (c.mono_ns, c.boot_ns) = (170 * MS, 170 * MS);
        let again = arm(0x2, 42, 2, deadline, 260 * MS, 2 * S + 260 * MS);
        let (mut s, log) = feed_logged(vec![
            arm(0x1, 42, 2, 300 * MS, 100 * MS, 100 * MS),
            sr("suspend_enter", 3, true, 150 * MS, 150 * MS),
            sr("freeze_processes", 0, true, 160 * MS, 160 * MS),
            c,
            sr("thaw_processes", 0, true, 250 * MS, 2 * S + 250 * MS),
            sr("thaw_processes", 0, false, 255 * MS, 2 * S + 255 * MS),
            again,
            fire(0x2, deadline + 10_000, 300 * MS + MS, 2 * S + 300 * MS + MS),
            run_in(300 * MS + 2 * MS, 2 * S + 300 * MS + 2 * MS, 42),
        ]);
        assert_eq!(log.len(), 1, "{log:?}");
        let lost = s.take_lost();
        assert_eq!(lost.len(), 1, "asked again for {deadline}: {lost:?}");
        assert_eq!((lost[0].tid, lost[0].cause.as_str()), (42, "suspend"));
        assert!(lost[0].late_ns > 1_900 * MS, "{}", lost[0].late_ns);
    }

    /// Issue 13 item 3 across the freezer: thread 20 waits in epoll on the timerfd (0xf2)
    /// that thread 10 arms. The freezer takes 20 out of its wait; the expiry then wakes
    /// nobody, and 20 finds the timerfd ready when it waits again after thaw: the late
    /// wakeup is 20's, not the armer's.
    #[test]
    fn a_timerfd_expiry_that_finds_its_waiter_frozen_is_the_waiters_wakeup() {
        let mut s = sleeps_and_timerfds();
        let armed_by_10 = |soft: u64| timerfd_armed(10, soft, soft - 10 * MS);
        let fired = timerfd_fired;
        for e in [
            armed_by_10(100 * MS),
            fired(100 * MS),
            waking(0x7, 20, 100 * MS),
            expiry_exit(0x7, 100 * MS),
            run_in(100 * MS + 50_000, 100 * MS + 50_000, 20),
            armed_by_10(200 * MS),
            sr("suspend_enter", 3, true, 140 * MS, 140 * MS),
            sr("freeze_processes", 0, true, 150 * MS, 150 * MS),
            fired(200 * MS),
            expiry_exit(0x7, 200 * MS),
            sr("thaw_processes", 0, true, 3 * S, 3 * S),
            sr("thaw_processes", 0, false, 3 * S + MS / 2, 3 * S + MS / 2),
            run_in(3 * S + MS, 3 * S + MS, 10),
            run_in(3 * S + 2 * MS, 3 * S + 2 * MS, 20),
        ] {
            s.event(&e);
        }
        let log = s.wake_log.take().unwrap();
        let late: Vec<(u32, i64)> = log.iter().map(|w| (w.tid, w.wake_late_ns)).collect();
        assert_eq!(
            late,
            [(20, 50_000), (20, (3 * S + 2 * MS - 200 * MS) as i64)]
        );
        assert_one_lost_to_suspend(&mut s, 20);
    }

    /// PREEMPT_RT: a soft timer's callback runs in `ktimers/N` and can block on a sleeping lock
    /// (the timerfd's wait-queue lock, held by its reader). The reader then runs on that CPU and
    /// wakes `ktimers/N` as it lets go: not a wakeup by the timer, and the timer's later expiry
    /// that finds its reader frozen is still the reader's wakeup, lost to the suspend (seen on
    /// arm64 6.12-rt: the expiry went to `ktimers/0`, and the 3 s late wakeup was missing).
    #[test]
    fn a_task_that_wakes_a_blocked_timer_callbacks_thread_is_not_woken_by_the_timer() {
        const KTIMERS: u32 = 18;
        let in_task = |mut e: Event, tid: u32| {
            e.pid_tgid = u64::from(tid) << 32 | u64::from(tid);
            e
        };
        let mut s = sleeps_and_timerfds();
        let armed_by_10 = |soft: u64| in_task(timerfd_armed(10, soft, soft - 10 * MS), 10);
        let in_ktimers = |e: Event| in_task(e, KTIMERS);
        for e in [
            armed_by_10(100 * MS),
            in_ktimers(timerfd_fired(100 * MS)),
            // the callback blocks on the lock the reader holds; the reader runs and lets go
            in_ktimers(switch_out(100 * MS + 10_000, KTIMERS, 0x2, 10)),
            in_task(waking(0x7, KTIMERS, 100 * MS + 20_000), 10),
            in_task(switch_out(100 * MS + 30_000, 10, 0x100, KTIMERS), 10),
            in_ktimers(expiry_exit(0x7, 100 * MS + 40_000)),
            armed_by_10(200 * MS),
            sr("suspend_enter", 3, true, 140 * MS, 140 * MS),
            sr("freeze_processes", 0, true, 150 * MS, 150 * MS),
            // the reader is frozen: the callback wakes nobody
            in_ktimers(timerfd_fired(200 * MS)),
            in_ktimers(expiry_exit(0x7, 200 * MS)),
            sr("thaw_processes", 0, true, 3 * S, 3 * S),
            sr("thaw_processes", 0, false, 3 * S + MS / 2, 3 * S + MS / 2),
            // the reader runs again and arms its next tick
            armed_by_10(3 * S + 11 * MS),
        ] {
            s.event(&e);
        }
        let log = s.wake_log.take().unwrap();
        let woken: Vec<(u32, i64)> = log.iter().map(|w| (w.tid, w.requested_ns)).collect();
        assert_eq!(woken, [(10, (100 * MS) as i64), (10, (200 * MS) as i64)]);
        assert_eq!(log[1].wake_late_ns, (3 * S + MS - 200 * MS) as i64);
        assert_one_lost_to_suspend(&mut s, 10);
    }

    /// Both timer events of an expiry lost (the kernel skipped the programs; uncounted before
    /// 5.12), the timer re-armed after a freezer cycle: the sleep ended at the sleeper's first
    /// switch-in after its deadline outside the freezer, else by the re-arm.
    #[test]
    fn a_sleep_whose_expiry_was_lost_ends_at_its_first_run_after_the_deadline() {
        let mut s = sleeps_and_timerfds();
        let armed_by_10 = |soft: u64, at: u64| timerfd_armed(10, soft, at);
        let fired = timerfd_fired;
        for e in [
            // a timerfd armed by 10 wakes its waiter 20 (an event loop)
            armed_by_10(100 * MS, 90 * MS),
            fired(100 * MS),
            waking(0x7, 20, 100 * MS),
            expiry_exit(0x7, 100 * MS),
            run_in(100 * MS + 50_000, 100 * MS + 50_000, 20),
            // its next expiry is lost; the waiter runs 3 ms after the deadline, before the
            // freezer, and once more inside it
            armed_by_10(200 * MS, 190 * MS),
            run_in(203 * MS, 203 * MS, 20),
            sr("suspend_enter", 3, true, 204 * MS, 204 * MS),
            sr("freeze_processes", 0, true, 205 * MS, 205 * MS),
            run_in(206 * MS, 206 * MS, 20),
            sr("thaw_processes", 0, true, 3 * S, 3 * S),
            sr("thaw_processes", 0, false, 3 * S + MS / 2, 3 * S + MS / 2),
            armed_by_10(3 * S + 20 * MS, 3 * S + 10 * MS),
            // a nanosleep of 30's whose expiry is lost, its task frozen: no run recorded
            arm(
                0x9,
                30,
                2,
                3 * S + 100 * MS,
                3 * S + 90 * MS,
                3 * S + 90 * MS,
            ),
            sr("suspend_enter", 3, true, 3 * S + 95 * MS, 3 * S + 95 * MS),
            sr(
                "freeze_processes",
                0,
                true,
                3 * S + 96 * MS,
                3 * S + 96 * MS,
            ),
            sr("thaw_processes", 0, true, 6 * S, 6 * S),
            sr("thaw_processes", 0, false, 6 * S + MS, 6 * S + MS),
            arm(0x9, 30, 2, 6 * S + 12 * MS, 6 * S + 2 * MS, 6 * S + 2 * MS),
        ] {
            s.event(&e);
        }
        let log = s.wake_log.take().unwrap();
        let late: Vec<(u32, i64, bool)> = log
            .iter()
            .map(|w| (w.tid, w.wake_late_ns, w.frozen))
            .collect();
        assert_eq!(
            late,
            [
                (20, 50_000, false),
                (20, (3 * MS) as i64, false),
                (30, (6 * S + 2 * MS - (3 * S + 100 * MS)) as i64, true)
            ]
        );
        assert_eq!(s.rearmed_unseen, 2);
        assert_one_lost_to_suspend(&mut s, 30);
    }

    /// A task arming a new sleep at another address while its last sleep is still armed in
    /// the trace, past its deadline: that sleep ended, its expiry lost (seen on 6.1: an
    /// epoll timeout's expiry skipped, the next `epoll_wait` on another stack frame).
    #[test]
    fn a_task_arming_after_its_sleeps_deadline_woke_from_that_sleep() {
        let mut s = sleeps_and_timerfds();
        for e in [
            arm(0xa, 40, 2, 100 * MS, 90 * MS, 90 * MS),
            // its expiry, waking and switch-in are lost; it runs on and sleeps again
            arm(0xb, 40, 2, 111 * MS, 101 * MS, 101 * MS),
            fire(0xb, 111 * MS, 111 * MS, 111 * MS),
            run_in(111 * MS + 40_000, 111 * MS + 40_000, 40),
            // a sleep seen to its end infers nothing
            arm(0xa, 40, 2, 121 * MS, 112 * MS, 112 * MS),
            fire(0xa, 121 * MS, 121 * MS, 121 * MS),
            run_in(121 * MS + 30_000, 121 * MS + 30_000, 40),
            arm(0xb, 40, 2, 131 * MS, 122 * MS, 122 * MS),
            // lost again; re-armed at the same address 2 ms after its deadline
            arm(0xb, 40, 2, 143 * MS, 133 * MS, 133 * MS),
        ] {
            s.event(&e);
        }
        let log = s.wake_log.take().unwrap();
        let late: Vec<(i64, i64)> = log
            .iter()
            .map(|w| (w.requested_ns, w.wake_late_ns))
            .collect();
        assert_eq!(
            late,
            [
                ((100 * MS) as i64, MS as i64),
                ((111 * MS) as i64, 40_000),
                ((121 * MS) as i64, 30_000),
                ((131 * MS) as i64, (2 * MS) as i64)
            ]
        );
        assert_eq!((s.rearmed_unseen, s.inferred_wakeups), (2, 2));
    }

    fn assert_one_lost_to_suspend(s: &mut TimerStats, tid: u32) {
        let lost = s.take_lost();
        assert_eq!(lost.len(), 1);
        assert_eq!((lost[0].tid, lost[0].cause.as_str()), (tid, "suspend"));
    }

    /// Stats that know sleeps (0xf1) from timerfds (0xf2), with the wake log on.
    fn sleeps_and_timerfds() -> TimerStats {
        let mut s = TimerStats::new(vec![0xf1, 0xf2]).with_task_callbacks(vec![0xf1, 0xf2]);
        s.wake_log = Some(Vec::new());
        s
    }

    /// Timerfd 0x7 armed by `tid` at `at` for `soft` (monotonic).
    fn timerfd_armed(tid: u32, soft: u64, at: u64) -> Event {
        let mut e = arm(0x7, tid, 2, soft, at, at);
        e.args[arg::hrtimer_start::FUNCTION] = 0xf2;
        e
    }

    fn timerfd_fired(at: u64) -> Event {
        let mut e = fire(0x7, at, at, at);
        e.args[arg::hrtimer_expire_entry::FUNCTION] = 0xf2;
        e
    }

    /// As [`feed`], with the wake log on; returns it too.
    fn feed_logged(mut evs: Vec<Event>) -> (TimerStats, Vec<WakeRecord>) {
        evs.sort_by_key(|e| e.boot_ns);
        let mut s = TimerStats::new(vec![0xf1]);
        s.wake_log = Some(Vec::new());
        for e in &evs {
            s.event(e);
        }
        let log = s.wake_log.take().unwrap();
        (s, log)
    }

    /// Feeds events in time order (boottime).
    fn feed(mut evs: Vec<Event>) -> TimerStats {
        evs.sort_by_key(|e| e.boot_ns);
        let mut s = TimerStats::new(vec![0xf1]);
        for e in &evs {
            s.event(e);
        }
        s
    }

    /// Seen on 5.10 under TCG: at resume one interrupt ran everything that came due in
    /// suspend, and a boottime timerfd's callback ran 194 ms after that interrupt's clock read
    /// (the expiry's `now`). The wakeup is measured against the deadline, not from `now`.
    #[test]
    fn a_wakeup_counts_from_the_deadline_when_the_expirys_now_lags_its_callback() {
        let mut evs = s3_cycle(1_500 * MS, 0, 3 * S);
        let soft = 1_600 * MS;
        evs.push(arm(
            1,
            5,
            CLOCK_BOOTTIME_PLUS1,
            soft,
            1_400 * MS,
            1_400 * MS,
        ));
        // resumed at boottime 4.5 s; the interrupt read 4.6 s, the callback ran at 4.8 s
        evs.push(fire(1, 4_600 * MS, 1_800 * MS, 4_800 * MS));
        evs.push(run_in(2_000 * MS, 5_000 * MS, 5));
        let (_, log) = feed_logged(evs);
        let w = log
            .iter()
            .find(|w| w.tid == 5)
            .expect("the sleeper's wakeup");
        assert_eq!(
            w.wake_late_ns,
            (5_000 * MS - soft) as i64,
            "{:?}",
            w.wake_late_ns
        );
    }

    /// Seen on 6.1 under TCG: a timerfd's callback on CPU 0 woke its epoll waiter, which was
    /// switched in on CPU 1 at once, but the callback ran 6 ms more and the waiter read its
    /// clock only after it: the wakeup is the callback's end. Without that end in the trace,
    /// the switch-in stands.
    #[test]
    fn a_task_switched_in_while_its_waking_callback_runs_elsewhere_wakes_at_its_end() {
        let on_cpu1 = |mut e: Event| {
            e.cpu = 1;
            e
        };
        let events = |with_exit: bool| {
            let mut evs = vec![
                arm(1, 5, CLOCK_MONOTONIC_PLUS1, 10 * MS, MS, MS),
                fire(1, 10 * MS, 10 * MS, 10 * MS),
                waking(1, 5, 10 * MS + 100_000),
                on_cpu1(run_in(10 * MS + 300_000, 10 * MS + 300_000, 5)),
            ];
            if with_exit {
                evs.push(expiry_exit(1, 16 * MS));
            }
            evs
        };
        let late = |with_exit: bool| {
            let mut s = TimerStats::new(vec![0xf1]);
            s.wake_log = Some(Vec::new());
            for e in &events(with_exit) {
                s.event(e);
            }
            s.end_of_trace();
            let log = s.wake_log.take().unwrap();
            assert_eq!(log.len(), 1, "one wakeup");
            log[0].wake_late_ns
        };
        assert_eq!(late(true), (6 * MS) as i64);
        assert_eq!(late(false), 300_000);
        // switched in on the callback's own CPU: after it ended
        let mut s = TimerStats::new(vec![0xf1]);
        s.wake_log = Some(Vec::new());
        let mut evs = events(true);
        evs.swap(3, 4);
        evs[4].cpu = 0;
        (evs[4].mono_ns, evs[4].boot_ns) = (17 * MS, 17 * MS);
        for e in &evs {
            s.event(e);
        }
        assert_eq!(s.wake_log.unwrap()[0].wake_late_ns, (7 * MS) as i64);
    }

    /// Seen on 6.12-rt under TCG: a nanosleep's callback in `ktimers/0` was interrupted by the
    /// tick, which woke `rcuc/0` inside the callback's window before the callback woke the
    /// sleeper: the wakeup is the sleeper's, not `rcuc`'s.
    #[test]
    fn a_sleeps_callback_wakes_its_sleeper_whoever_else_wakes_in_its_window() {
        let mut s = TimerStats::new(vec![0xf1, 0xf2]);
        s.wake_log = Some(Vec::new());
        for e in &[
            arm(1, 350, CLOCK_MONOTONIC_PLUS1, 10 * MS, MS, MS),
            fire(1, 10 * MS, 10 * MS, 10 * MS),
            waking(1, 22, 10 * MS + 100_000),
            waking(1, 350, 10 * MS + 200_000),
            expiry_exit(1, 10 * MS + 250_000),
            run_in(10 * MS + 300_000, 10 * MS + 300_000, 22),
            run_in(10 * MS + 500_000, 10 * MS + 500_000, 350),
        ] {
            s.event(e);
        }
        s.end_of_trace();
        let log = s.wake_log.take().unwrap();
        let tids: Vec<u32> = log.iter().map(|w| w.tid).collect();
        assert_eq!(tids, [350]);
        assert_eq!(log[0].wake_late_ns, 500_000);
    }

    /// Seen on 5.10.223 under TCG: a sleep due 6.9 ms before `suspend_enter` whose expiry,
    /// waking and switch-in never reached the trace; the task's next sign was its re-arm after
    /// thaw. The program itself read its clock before the freezer began: the trace cannot say
    /// whether the suspend delayed it, so the wakeup says its expiry went unseen. Due inside
    /// the freezer, the suspend delayed it whatever the lost events.
    #[test]
    fn a_lost_expiry_due_before_the_freezer_is_unseen_not_blamed_on_the_suspend() {
        let cause = |soft: u64| {
            // S3 from 1.5 s: suspend_enter 1.501 s, freeze_processes 1.504 s, thaw 1.509 s
            let mut evs = s3_cycle(1_500 * MS, 0, 3 * S);
            evs.push(arm(
                1,
                5,
                CLOCK_MONOTONIC_PLUS1,
                soft,
                1_400 * MS,
                1_400 * MS,
            ));
            evs.push(arm(
                1,
                5,
                CLOCK_MONOTONIC_PLUS1,
                1_530 * MS,
                1_520 * MS,
                4_520 * MS,
            ));
            let (mut s, log) = feed_logged(evs);
            let w = log
                .iter()
                .find(|w| w.tid == 5)
                .expect("the inferred wakeup");
            assert!(w.expiry_unseen);
            assert_eq!(w.wake_late_ns, (1_520 * MS - soft) as i64, "latest moment");
            let lost = s.take_lost();
            assert_eq!(lost.len(), 1);
            lost[0].cause.as_str()
        };
        assert_eq!(cause(1_495 * MS), "expiry_unseen");
        assert_eq!(
            cause(1_502 * MS),
            "expiry_unseen",
            "due before freeze_processes"
        );
        assert_eq!(cause(1_505 * MS), "suspend");
    }

    #[test]
    fn a_timer_without_a_recorded_clock_is_unknown_not_monotonic() {
        let mut evs = s3_cycle(1_500 * MS, 0, 3 * S);
        evs.push(arm(1, 5, 0, 2 * S, S, S));
        evs.push(fire(1, 2 * S + 10_000, 2 * S + 10_000, 5 * S + 10_000));
        evs.push(run_in(2 * S + 100_000, 5 * S + 100_000, 5));
        let sum = feed(evs).summary(&BTreeMap::new(), 10);
        let c = &sum.spanning_by_clock[0];
        assert_eq!(
            (c.clock.as_str(), c.drift.as_str(), c.count),
            ("unknown", "unknown", 1)
        );
    }

    /// Suspend-to-idle on arm64 `virt`: timekeeping runs through the cycle, so no clock's
    /// deadline moves. The timer fires on time inside the cycle; its task runs after the thaw.
    #[test]
    fn timers_spanning_a_cycle_that_stopped_no_clock_fired_on_time() {
        // the cycle from 1.5 s; the platform sleeps 3 s with the clocks running
        let mut evs = crate::analysis::suspend::tests::s3_cycle(1_500 * MS, 0, 0);
        let resumed = evs
            .iter()
            .position(|e| e.kind == kind::SUSPEND_RESUME && e.mono_ns == 1_508 * MS)
            .expect("machine_suspend end");
        for e in &mut evs[resumed..] {
            e.mono_ns += 3 * S;
            // the two clocks are read one after the other: µs of skew, no stop
            e.boot_ns += 3 * S + 1_440;
        }
        // the monotonic timer's expiry read its boot clock 327 µs after its monotonic one (seen
        // on arm64 6.12 under TCG, s2idle): not a suspend; it fired 14 ms late
        for (timer, tid, clock_plus1, skew) in [(1, 5, 2, 327_000), (2, 6, 8, 0)] {
            evs.push(arm(timer, tid, clock_plus1, 2 * S, S, S));
            let fired = 2 * S + 14 * MS;
            evs.push(fire(timer, fired, fired, fired + skew));
            evs.push(run_in(4_511 * MS, 4_511 * MS, tid));
        }
        evs.sort_by_key(|e| e.mono_ns);
        let mut s = feed(evs);
        let lost = s.take_lost();
        let sum = s.summary(&BTreeMap::new(), 10);
        assert_eq!(
            sum.spanning_by_clock.len(),
            2,
            "{:?}",
            sum.spanning_by_clock
        );
        for c in &sum.spanning_by_clock {
            assert_eq!(c.drift.as_str(), "no_clock_stopped", "{c:?}");
            assert!(c.lateness_ns.max < 15 * MS, "{c:?}");
            assert_eq!(c.lateness_ns.max, c.wall_lateness_ns.max, "{c:?}");
            assert_eq!(c.suspended_ns_max, 0, "{c:?}");
        }
        // both tasks were woken on time and ran only at the thaw: lost to the cycle
        assert_eq!(lost.len(), 2, "{lost:?}");
    }

    #[test]
    fn spanning_timers_drift_by_clock_and_their_wakeups_are_lost_to_the_suspend() {
        // S3 from 1.5 s, asleep 3 s: the platform returns at mono 1.508 / boot 4.508 s,
        // thaw ends at mono 1.510 / boot 4.510 s
        let mut evs = s3_cycle(1_500 * MS, 0, 3 * S);
        // before: a 1 ms sleep, 5 µs late
        evs.push(arm(9, 4, 2, 101 * MS, 100 * MS, 100 * MS));
        evs.push(fire(
            9,
            101 * MS + 5_000,
            101 * MS + 5_000,
            101 * MS + 5_000,
        ));
        evs.push(run_in(101 * MS + 9_000, 101 * MS + 9_000, 4));
        // monotonic sleep armed at 1 s for 1 s: fires 10 µs late on its own clock, 3 s late
        // in elapsed time
        evs.push(arm(1, 5, 2, 2 * S, S, S));
        evs.push(fire(1, 2 * S + 10_000, 2 * S + 10_000, 5 * S + 10_000));
        evs.push(run_in(2 * S + 100_000, 5 * S + 100_000, 5));
        // boottime sleep armed at 1 s for 1 s: deadline in the suspend, fires at resume; its
        // callback runs 4 ms after the expiry interrupt read the clock (many timers expire at
        // resume), which must not move its deadline
        evs.push(arm(2, 6, 8, 2 * S, S, S));
        evs.push(fire(
            2,
            4_508 * MS + 500_000,
            1_512 * MS + 500_000,
            4_512 * MS + 500_000,
        ));
        evs.push(run_in(1_514 * MS + 200_000, 4_514 * MS + 200_000, 6));
        // after: armed and fired after the cycle
        evs.push(arm(3, 7, 2, 3 * S, 2_900 * MS, 5_900 * MS));
        evs.push(fire(3, 3 * S + 1_000, 3 * S + 1_000, 6 * S + 1_000));
        evs.push(run_in(3 * S + 2_000, 6 * S + 2_000, 7));
        let mut s = feed(evs);
        let lost = s.take_lost();
        let sum = s.summary(&BTreeMap::new(), 10);
        let p = &sum.by_phase;
        assert_eq!((p.before.count, p.spanning.count, p.after.count), (1, 2, 1));
        assert_eq!(sum.spanning_by_clock.len(), 2);
        let mono = &sum.spanning_by_clock[0];
        assert_eq!(
            (mono.clock.as_str(), mono.drift.as_str(), mono.count),
            ("monotonic", "suspend_drift", 1)
        );
        assert!(mono.lateness_ns.max < 20_000, "{mono:?}");
        assert!(
            (3 * S..3 * S + 20 * MS).contains(&mono.wall_lateness_ns.max),
            "{mono:?}"
        );
        assert!(
            (3 * S - MS..=3 * S).contains(&mono.suspended_ns_max),
            "{mono:?}"
        );
        let boot = &sum.spanning_by_clock[1];
        assert_eq!(
            (boot.clock.as_str(), boot.drift.as_str()),
            ("boottime", "fires_at_resume")
        );
        assert_eq!(boot.lateness_ns.max, boot.wall_lateness_ns.max);
        assert!(boot.lateness_ns.max > 2_500 * MS, "{boot:?}");
        // per task rows carry the split too
        let t5 = sum.by_task.iter().find(|t| t.tid == Some(5)).unwrap();
        assert_eq!(t5.by_phase.spanning.count, 1);
        // both spanning wakeups lost to the suspend; the others were on time
        assert_eq!(lost.len(), 2, "{lost:?}");
        let m = lost.iter().find(|l| l.tid == 5).unwrap();
        assert_eq!(
            (m.clock.as_str(), m.cause.as_str(), m.suspend_cycle),
            ("monotonic", "suspend", Some(1))
        );
        assert_eq!(m.expected_boot_ns, 2 * S);
        assert_eq!(m.actual_boot_ns, 5 * S + 100_000);
        assert_eq!(m.late_ns, 3 * S + 100_000);
        assert_eq!(m.requested_ns, S);
        let b = lost.iter().find(|l| l.tid == 6).unwrap();
        assert_eq!(
            (b.clock.as_str(), b.cause.as_str()),
            ("boottime", "suspend")
        );
        assert_eq!(b.expected_boot_ns, 2 * S);
    }

    fn cancel_by(timer: u64, tid: u32, mono: u64, boot: u64) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind::HRTIMER_CANCEL;
        e.pid_tgid = (u64::from(tid) << 32) | u64::from(tid);
        e.args[0] = timer;
        (e.mono_ns, e.boot_ns) = (mono, boot);
        e
    }

    /// Seen on 6.1: a thread armed a 200 ms monotonic sleep while the freezer ran (before it
    /// reached the thread), was frozen inside it, and after thaw the kernel restarted the
    /// sleep (a cancel and an arm for the same deadline). It woke on time on its clock, 3 s
    /// late in elapsed time: lost to the suspend, as a sleep armed before it.
    #[test]
    fn a_sleep_restarted_for_its_deadline_after_thaw_spans_the_cycle() {
        let (arm_at, soft) = (1_504 * MS + 500_000, 1_704 * MS + 500_000);
        // armed while freezing, cancelled and asked again for `again` after thaw
        let restarted = |again: u64| {
            let mut evs = s3_cycle(1_500 * MS, 0, 3 * S);
            evs.push(arm(1, 5, CLOCK_MONOTONIC_PLUS1, soft, arm_at, arm_at));
            evs.push(cancel_by(1, 5, 1_509 * MS + 500_000, 4_509 * MS + 500_000));
            let (mono, boot) = (1_509 * MS + 600_000, 4_509 * MS + 600_000);
            evs.push(arm(1, 5, CLOCK_MONOTONIC_PLUS1, again, mono, boot));
            evs.push(fire(
                1,
                again + 100_000,
                again + 100_000,
                3 * S + again + 100_000,
            ));
            evs.push(run_in(again + 500_000, 3 * S + again + 500_000, 5));
            feed(evs)
        };
        let mut s = restarted(soft);
        assert_one_lost_to_suspend(&mut s, 5);
        let sum = s.summary(&BTreeMap::new(), 10);
        assert_eq!(sum.continued_sleeps, 1);
        assert_eq!(sum.spanning_by_clock[0].clock.as_str(), "monotonic");
        // asked again for another deadline: a new sleep, on time
        let mut s = restarted(soft + 50 * MS);
        assert!(s.take_lost().is_empty());
        assert_eq!(s.summary(&BTreeMap::new(), 10).continued_sleeps, 0);
    }

    /// Seen on 6.12 (a `pm_test` freezer cycle, no time suspended): an epoll sleep due 0.6 ms
    /// before `suspend_enter` had not expired when the freezer cut it; its task woke after
    /// thaw, 3.2 s late, and the lost wakeup was blamed on `cpu_contention`.
    #[test]
    fn a_sleep_the_freezer_cut_just_after_its_deadline_is_lost_to_that_cycle() {
        // a cycle from 1.5 s with nothing suspended: suspend_enter 1.501 s, freeze 1.504 s
        let mut evs = s3_cycle(1_500 * MS, 0, 0);
        evs.push(arm(20, 8, 2, 1_500 * MS + 400_000, 1_490 * MS, 1_490 * MS));
        evs.push(cancel_by(20, 8, 1_504 * MS + 200_000, 1_504 * MS + 200_000));
        // thawed from 1.509 s, it got the CPU only at 1.6 s
        evs.push(run_in(1_600 * MS, 1_600 * MS, 8));
        let (mut s, _) = feed_logged(evs);
        let lost = s.take_lost();
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert_eq!(
            (lost[0].cause.as_str(), lost[0].suspend_cycle),
            ("suspend", Some(1))
        );
    }

    #[test]
    fn a_sleep_the_freezer_cancelled_wakes_at_thaw_if_its_deadline_passed() {
        // S3 from 1.5 s: freeze_processes 1.504–1.505 s, asleep 3 s, thaw from mono 1.509 s
        let mut evs = s3_cycle(1_500 * MS, 0, 3 * S);
        // boottime nanosleep due at boot 1.520 s (after the freezer is done): the freezer
        // wakes it at 1.5042 s, it cancels its own timer and freezes; no expiry ever follows
        evs.push(arm(20, 8, 8, 1_520 * MS, 1_320 * MS, 1_320 * MS));
        evs.push(cancel_by(20, 8, 1_504 * MS + 200_000, 1_504 * MS + 200_000));
        evs.push(run_in(1_509 * MS + 500_000, 4_509 * MS + 500_000, 8));
        // monotonic sleep due at mono 5 s, also cut by the freezer: at thaw its deadline is
        // ahead, so the task sleeps on (re-armed, same deadline) and wakes at 5 s
        evs.push(arm(21, 9, 2, 5 * S, S, S));
        evs.push(cancel_by(21, 9, 1_504 * MS + 300_000, 1_504 * MS + 300_000));
        evs.push(run_in(1_509 * MS + 600_000, 4_509 * MS + 600_000, 9));
        evs.push(arm(
            22,
            9,
            2,
            5 * S,
            1_509 * MS + 700_000,
            4_509 * MS + 700_000,
        ));
        evs.push(fire(22, 5 * S + 10_000, 5 * S + 10_000, 8 * S + 10_000));
        evs.push(run_in(5 * S + 20_000, 8 * S + 20_000, 9));
        // woken by data during the freeze: it cancels and sleeps again at once (a new
        // timer), so the cancelled sleep is no wakeup of its own
        evs.push(arm(23, 10, 2, 1_600 * MS, 1_400 * MS, 1_400 * MS));
        evs.push(cancel_by(
            23,
            10,
            1_504 * MS + 400_000,
            1_504 * MS + 400_000,
        ));
        evs.push(arm(
            24,
            10,
            2,
            1_700 * MS,
            1_504 * MS + 410_000,
            1_504 * MS + 410_000,
        ));
        // not the sleeper's own context (an interrupt cancelling it): left alone
        evs.push(arm(25, 11, 8, 1_530 * MS, 1_400 * MS, 1_400 * MS));
        evs.push(cancel_by(25, 0, 1_504 * MS + 500_000, 1_504 * MS + 500_000));
        evs.push(run_in(1_509 * MS + 800_000, 4_509 * MS + 800_000, 11));
        let (mut s, log) = feed_logged(evs);
        let t8: Vec<_> = log.iter().filter(|w| w.tid == 8).collect();
        assert_eq!(t8.len(), 1, "{log:?}");
        assert_eq!((t8[0].clock.as_str(), t8[0].frozen), ("boottime", true));
        assert_eq!(t8[0].requested_ns, (1_520 * MS) as i64);
        assert_eq!(
            t8[0].wake_late_ns,
            (4_509 * MS + 500_000 - 1_520 * MS) as i64
        );
        assert!(log.iter().all(|w| w.tid != 10 && w.tid != 11), "{log:?}");
        let t9: Vec<_> = log.iter().filter(|w| w.tid == 9).collect();
        assert_eq!(t9.len(), 1, "{log:?}");
        assert_eq!(t9[0].wake_late_ns, 20_000);
        let lost = s.take_lost();
        assert_eq!(lost.len(), 1, "{lost:?}");
        let l = &lost[0];
        assert_eq!(
            (l.tid, l.clock.as_str(), l.cause.as_str()),
            (8, "boottime", "suspend")
        );
        assert_eq!(l.suspend_cycle, Some(1));
        assert_eq!(l.expected_boot_ns, 1_520 * MS);
        assert_eq!(l.actual_boot_ns, 4_509 * MS + 500_000);
    }

    /// Seen on arm64 5.10 under TCG: a sleep due 1 ms after `suspend_enter` fires before the
    /// freezer begins, its task is switched in, stays on the CPU in the kernel until the
    /// freezer takes it (switched out in D while `freeze_processes` runs) and runs again at
    /// thaw, where the program read its clock, 3 s late. That switch-in before the freezer was
    /// not its wakeup. A task that arms its next sleep, or leaves the CPU in an ordinary sleep,
    /// before the freezer begins did wake at that switch-in.
    #[test]
    fn a_task_switched_in_before_the_freezer_and_frozen_wakes_at_thaw() {
        // s3_cycle(1 s): suspend_enter 1.001 s, freeze_processes 1.004 s, thaw 1.009 s (+3 s)
        let t0 = 1_000 * MS;
        let thaw = t0 + 9 * MS;
        for (then, woke_at_switch_in) in [
            // frozen in D (before 6.1; 0 from 6.1) while the freezer runs
            (Some(switch_out(t0 + 4 * MS + 500_000, 42, 2, 0)), false),
            (Some(switch_out(t0 + 4 * MS + 500_000, 42, 0, 0)), false),
            // an ordinary sleep before the freezer: it ran on
            (Some(switch_out(t0 + 3 * MS, 42, 1, 0)), true),
            // its next sleep armed before the freezer
            (
                Some(arm(0x2, 42, 2, t0 + 200 * MS, t0 + 3 * MS, t0 + 3 * MS)),
                true,
            ),
        ] {
            let mut evs = s3_cycle(t0, 0, 3 * S);
            evs.push(arm(
                0x1,
                42,
                2,
                t0 + 1_500_000,
                t0 - 200 * MS,
                t0 - 200 * MS,
            ));
            evs.push(fire(0x1, t0 + 1_600_000, t0 + 1_600_000, t0 + 1_600_000));
            evs.push(run_in(t0 + 2_500_000, t0 + 2_500_000, 42));
            let mut then = then.unwrap();
            if then.kind == kind::HRTIMER_START {
                then.pid_tgid = (42 << 32) | 42;
            }
            evs.push(then);
            // after thaw (boottime 3 s ahead)
            evs.push(run_in(thaw + 100_000, thaw + 3 * S + 100_000, 42));
            evs.sort_by_key(|e| e.boot_ns);
            let (_, log) = feed_logged(evs);
            let w: Vec<_> = log.iter().filter(|w| w.tid == 42).collect();
            assert_eq!(w.len(), 1, "{log:?}");
            if woke_at_switch_in {
                assert_eq!(
                    (w[0].wake_late_ns, w[0].frozen),
                    (MS as i64, false),
                    "{w:?}"
                );
            } else {
                assert!(w[0].frozen, "{w:?}");
                assert_eq!(w[0].wake_boot_ns, thaw + 3 * S + 100_000, "{w:?}");
                assert_eq!(w[0].ran_in_freezer_late_ns, Some(MS as i64), "{w:?}");
            }
        }
    }

    #[test]
    fn a_task_that_runs_on_through_the_freezer_woke_when_switched_in() {
        // the suspending task (its freezer loop sleeps in usleep_range) and any task the
        // freezer has not reached yet: woken inside freeze_processes (1.504–1.505 s), it
        // runs and arms its next sleep; that switch-in is its wakeup, not the thaw
        let mut evs = s3_cycle(1_500 * MS, 0, 3 * S);
        evs.push(arm(
            30,
            1,
            2,
            1_504 * MS + 300_000,
            1_504 * MS + 100_000,
            1_504 * MS + 100_000,
        ));
        evs.push(fire(
            30,
            1_504 * MS + 310_000,
            1_504 * MS + 310_000,
            1_504 * MS + 310_000,
        ));
        evs.push(run_in(1_504 * MS + 330_000, 1_504 * MS + 330_000, 1));
        evs.push(arm(
            31,
            1,
            2,
            1_504 * MS + 600_000,
            1_504 * MS + 340_000,
            1_504 * MS + 340_000,
        ));
        // a sleeper whose timer fired before it left the CPU: no switch-in follows; its next
        // own event (arming the next sleep) shows it ran
        evs.push(arm(40, 7, 2, 100 * MS, 90 * MS, 90 * MS));
        let mut f = fire(40, 100 * MS + 20_000, 100 * MS + 20_000, 100 * MS + 20_000);
        f.pid_tgid = (7 << 32) | 7;
        evs.push(f);
        evs.push(arm(
            41,
            7,
            2,
            110 * MS,
            100 * MS + 50_000,
            100 * MS + 50_000,
        ));
        let (mut s, log) = feed_logged(evs);
        let init: Vec<_> = log.iter().filter(|w| w.tid == 1).collect();
        assert_eq!(init.len(), 1, "{log:?}");
        assert!(!init[0].frozen);
        assert_eq!(init[0].wake_late_ns, 30_000);
        let t7: Vec<_> = log.iter().filter(|w| w.tid == 7).collect();
        assert_eq!(t7.len(), 1, "{log:?}");
        assert_eq!(t7[0].wake_late_ns, 50_000);
        assert!(s.take_lost().is_empty());
        assert_eq!(s.inferred_wakeups, 1);
    }

    #[test]
    fn lost_wakeup_causes_outside_and_after_the_platform_resume() {
        let mut evs = vec![
            // a cycle whose platform returns at boot 10 s and thaws at 10.5 s
            sr("suspend_enter", 3, true, 9 * S, 9 * S),
            sr("machine_suspend", 3, true, 9 * S + MS, 9 * S + MS),
            sr("machine_suspend", 3, false, 9 * S + 2 * MS, 10 * S),
            sr("thaw_processes", 0, true, 9 * S + 3 * MS, 10 * S + 400 * MS),
            sr(
                "thaw_processes",
                0,
                false,
                9 * S + 4 * MS,
                10 * S + 500 * MS,
            ),
        ];
        // a kernel thread sleeping 10 ms while devices resume, run 240 ms late
        let off = S - 2 * MS; // boot − mono after the platform returned
        evs.push(arm(1, 20, 8, 10_060 * MS, 10_050 * MS - off, 10_050 * MS));
        evs.push(fire(1, 10_060 * MS, 10_060 * MS - off, 10_060 * MS));
        evs.push(run_in(10_300 * MS - off, 10_300 * MS, 20));
        // fired on time, the task got the CPU 50 ms later: CPU contention
        evs.push(arm(2, 21, 2, 19_990 * MS, 19_980 * MS, 19_980 * MS + off));
        evs.push(fire(
            2,
            19_990 * MS + 10_000,
            19_990 * MS + 10_000,
            19_990 * MS + 10_000 + off,
        ));
        evs.push(run_in(20_040 * MS, 20_040 * MS + off, 21));
        // fired 50 ms late, ran at once: the timer itself was late
        evs.push(arm(3, 22, 2, 29_990 * MS, 29_980 * MS, 29_980 * MS + off));
        evs.push(fire(3, 30_040 * MS, 30_040 * MS, 30_040 * MS + off));
        evs.push(run_in(30_040 * MS + 5_000, 30_040 * MS + 5_000 + off, 22));
        // 30 ms late on a 1 s sleep: not lost (not later than asked)
        evs.push(arm(4, 23, 2, 41 * S, 40 * S, 40 * S + off));
        evs.push(fire(
            4,
            41 * S + 30 * MS,
            41 * S + 30 * MS,
            41 * S + 30 * MS + off,
        ));
        evs.push(run_in(41 * S + 30 * MS, 41 * S + 30 * MS + off, 23));
        let mut s = feed(evs);
        let lost = s.take_lost();
        let causes: Vec<(u32, &str, Option<u32>)> = lost
            .iter()
            .map(|l| (l.tid, l.cause.as_str(), l.suspend_cycle))
            .collect();
        assert_eq!(
            causes,
            [
                (20, "resume_latency", Some(1)),
                (21, "cpu_contention", None),
                (22, "timer_late", None)
            ]
        );
        assert_eq!(lost[1].late_ns, 50 * MS);
        assert_eq!(lost[1].requested_ns, 10 * MS);
        assert_eq!(s.summary(&BTreeMap::new(), 10).by_phase.after.count, 3);
    }
}

#[cfg(test)]
mod bounded_tests {
    use super::tests::{expire, start};
    use super::*;

    #[test]
    fn thousands_of_short_lived_tasks_share_one_group() {
        let mut s = TimerStats::default();
        let n = MAX_GROUPS as u32 + 500;
        for tid in 1..=n {
            let timer = 0x1000 + u64::from(tid);
            s.event(&start(timer, 1_000, 0xf1 + u64::from(tid), tid));
            s.event(&expire(timer, 2_000, 0xf1));
        }
        assert_eq!(s.by_task.len(), MAX_GROUPS + 1);
        assert_eq!(s.by_callback.len(), MAX_GROUPS + 1);
        // one phase seen: the other two phase histograms were never made
        assert!(
            s.by_task
                .values()
                .all(|g| g.phases.iter().flatten().count() == 1)
        );
        let sum = s.summary(&BTreeMap::new(), 5000);
        let other = sum
            .by_task
            .iter()
            .find(|r| r.name == "(other tasks)")
            .unwrap();
        assert_eq!(other.count, 500);
        assert_eq!((other.pid, other.tid), (None, None));
        assert_eq!(
            sum.by_task.iter().map(|r| r.count).sum::<u64>(),
            u64::from(n)
        );
        assert!(
            sum.by_callback
                .iter()
                .any(|r| r.name == "(other callbacks)" && r.count == 500)
        );
    }
}
