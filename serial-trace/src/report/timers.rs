//! Timer lateness: each `hrtimer_start` paired with the next `hrtimer_expire_entry` of the same
//! timer. Lateness = the clock-base time when expiry processing began − the requested (soft)
//! expiry, both on the timer's own clock, so it is exact whatever that clock is.

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;
use serde::Serialize;
use serial_trace_common::{Event, arg, kind};

use crate::trace::trim_nul;

/// Percentiles of a lateness distribution, in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
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
}

/// A wake callback fired; its task has not run yet.
#[derive(Clone, Copy)]
struct PendingWake {
    timer_late: i64,
    expire_mono: u64,
    expire_boot: u64,
    clockid_plus1: u64,
    softexpires: i64,
    /// The task was switched in inside a freeze window (it ran only to freeze).
    frozen: bool,
}

/// One task-visible wakeup (`report --wakeups`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WakeRecord {
    pub tid: u32,
    /// Clock of the timer: `monotonic`, `boottime`, `realtime`, `tai`, or `unknown`.
    pub clock: &'static str,
    /// The requested (soft) expiry, on that clock.
    pub requested_ns: i64,
    /// Expiry processing began − requested.
    pub timer_late_ns: i64,
    /// The task got the CPU (outside any freeze window) − requested, on the timer's clock.
    pub wake_late_ns: i64,
    /// The task was held by the suspend freezer between the expiry and its wakeup.
    pub frozen: bool,
    pub wake_boot_ns: u64,
}

fn clock_name(clockid_plus1: u64) -> &'static str {
    match clockid_plus1 {
        1 => "realtime",
        2 => "monotonic",
        8 => "boottime",
        12 => "tai",
        _ => "unknown",
    }
}

const CLOCK_MONOTONIC_PLUS1: u64 = 1 + 1;

/// Per-group (callback or task) accumulator.
struct Group {
    hist: Histogram<u64>,
    name: String,
    pid: Option<u32>,
    tid: Option<u32>,
}

impl Group {
    fn new(name: String, pid: Option<u32>, tid: Option<u32>) -> Self {
        Self {
            hist: new_hist(2),
            name,
            pid,
            tid,
        }
    }

    fn row(self) -> GroupRow {
        GroupRow {
            count: self.hist.len(),
            lateness_ns: Percentiles::of(&self.hist),
            name: self.name,
            pid: self.pid,
            tid: self.tid,
        }
    }
}

fn new_hist(sigfig: u8) -> Histogram<u64> {
    Histogram::new(sigfig).expect("valid sigfig")
}

/// Streaming lateness accumulator: memory grows with distinct timers/callbacks/tasks, not with
/// the number of events.
pub struct TimerStats {
    armed: HashMap<u64, Armed>,
    /// Callbacks that wake the task that armed the timer (empty: all).
    wake_functions: Vec<u64>,
    pending: HashMap<u32, PendingWake>,
    wakeups: Histogram<u64>,
    /// From `freeze_processes` begin to `thaw_processes` begin user tasks cannot run.
    freezing: bool,
    /// Every wakeup, when asked for (`report --wakeups`).
    pub wake_log: Option<Vec<WakeRecord>>,
    overall: Histogram<u64>,
    by_callback: HashMap<u64, Group>,
    by_task: HashMap<u32, Group>,
    /// Expiries whose clock-base time was before the requested expiry (should not happen).
    early: u64,
    min_ns: i64,
}

impl Default for TimerStats {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl TimerStats {
    pub fn new(wake_functions: Vec<u64>) -> Self {
        Self {
            armed: HashMap::new(),
            wake_functions,
            pending: HashMap::new(),
            wakeups: new_hist(3),
            freezing: false,
            wake_log: None,
            overall: new_hist(3),
            by_callback: HashMap::new(),
            by_task: HashMap::new(),
            early: 0,
            min_ns: i64::MAX,
        }
    }
}

/// Task-visible wakeups: timer expiry lateness plus the time until the task got the CPU.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WakeupSummary {
    /// Wake-timer expiries followed to the moment their task ran.
    pub count: u64,
    /// When the task ran − the requested expiry, on the timer's clock.
    pub latency_ns: Percentiles,
}

/// One row of a per-callback or per-task table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupRow {
    pub name: String,
    /// Thread group id (per-task rows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Thread id (per-task rows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<u32>,
    pub count: u64,
    pub lateness_ns: Percentiles,
}

/// The `timers` object of the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TimerSummary {
    /// hrtimer expiries paired with the start that armed them.
    pub count: u64,
    pub lateness_ns: Percentiles,
    /// Smallest lateness seen (negative would mean an expiry before the requested time).
    pub min_lateness_ns: i64,
    pub early: u64,
    pub by_callback: Vec<GroupRow>,
    pub by_task: Vec<GroupRow>,
    pub wakeups: WakeupSummary,
}

impl TimerStats {
    pub fn event(&mut self, ev: &Event) {
        match ev.kind {
            kind::HRTIMER_START => {
                use arg::hrtimer_start as a;
                self.armed.insert(
                    ev.args[a::HRTIMER],
                    Armed {
                        softexpires: ev.args[a::SOFTEXPIRES] as i64,
                        function: ev.args[a::FUNCTION],
                        tgid: ev.tgid(),
                        tid: ev.tid(),
                        comm: ev.comm,
                        clockid_plus1: ev.args[a::CLOCKID_PLUS1],
                    },
                );
            }
            kind::HRTIMER_CANCEL => {
                self.armed.remove(&ev.args[0]);
            }
            kind::HRTIMER_EXPIRE_ENTRY => {
                use arg::hrtimer_expire_entry as a;
                let Some(armed) = self.armed.remove(&ev.args[a::HRTIMER]) else {
                    return;
                };
                let late = (ev.args[a::NOW] as i64).saturating_sub(armed.softexpires);
                self.record(&armed, late);
                let function = ev.args[a::FUNCTION];
                if self.wake_functions.is_empty() || self.wake_functions.contains(&function) {
                    self.pending.insert(
                        armed.tid,
                        PendingWake {
                            timer_late: late,
                            expire_mono: ev.mono_ns,
                            expire_boot: ev.boot_ns,
                            clockid_plus1: armed.clockid_plus1,
                            softexpires: armed.softexpires,
                            frozen: self.freezing,
                        },
                    );
                }
            }
            kind::SCHED_SWITCH => {
                let tid = ev.args[arg::sched_switch::NEXT_PID] as u32;
                if self.freezing {
                    // a task switched in now only enters the freezer: its wakeup is at thaw
                    if let Some(p) = self.pending.get_mut(&tid) {
                        p.frozen = true;
                    }
                } else if let Some(p) = self.pending.remove(&tid) {
                    self.wake(tid, &p, ev);
                }
            }
            kind::SUSPEND_RESUME => {
                let action = trim_nul(&ev.text[0]);
                let begin = ev.args[arg::suspend_resume::START] != 0;
                // tasks are thawed one by one inside the thaw_processes phase: the window
                // in which a switch-in only leads into the freezer ends where it begins
                if begin && action == b"freeze_processes" {
                    self.freezing = true;
                } else if begin && action == b"thaw_processes" {
                    self.freezing = false;
                }
            }
            _ => {}
        }
    }

    /// The task of a pending wakeup got the CPU at `ev`.
    fn wake(&mut self, tid: u32, p: &PendingWake, ev: &Event) {
        // Measure the run delay on the timer's own clock: a monotonic timer does not count
        // time suspended, every other base does.
        let delay = if p.clockid_plus1 == CLOCK_MONOTONIC_PLUS1 || p.clockid_plus1 == 0 {
            ev.mono_ns.saturating_sub(p.expire_mono)
        } else {
            ev.boot_ns.saturating_sub(p.expire_boot)
        };
        let wake_late = p.timer_late.saturating_add(delay as i64);
        self.wakeups
            .record(wake_late.max(0) as u64)
            .expect("auto-resizing histogram takes any u64");
        if let Some(log) = &mut self.wake_log {
            log.push(WakeRecord {
                tid,
                clock: clock_name(p.clockid_plus1),
                requested_ns: p.softexpires,
                timer_late_ns: p.timer_late,
                wake_late_ns: wake_late,
                frozen: p.frozen,
                wake_boot_ns: ev.boot_ns,
            });
        }
    }

    fn record(&mut self, armed: &Armed, late: i64) {
        self.min_ns = self.min_ns.min(late);
        if late < 0 {
            self.early += 1;
        }
        let v = late.max(0) as u64;
        self.overall
            .record(v)
            .expect("auto-resizing histogram takes any u64");
        self.by_callback
            .entry(armed.function)
            .or_insert_with(|| Group::new(String::new(), None, None))
            .hist
            .record(v)
            .expect("auto-resizing histogram takes any u64");
        self.by_task
            .entry(armed.tid)
            .or_insert_with(|| {
                let comm = String::from_utf8_lossy(trim_nul(&armed.comm)).into_owned();
                Group::new(comm, Some(armed.tgid), Some(armed.tid))
            })
            .hist
            .record(v)
            .expect("auto-resizing histogram takes any u64");
    }

    /// Finishes the summary, naming callbacks with `symbols` (address → name).
    pub fn summary(self, symbols: &BTreeMap<u64, String>, top: usize) -> TimerSummary {
        let mut by_callback: Vec<GroupRow> = self
            .by_callback
            .into_iter()
            .map(|(addr, mut g)| {
                g.name = symbols
                    .get(&addr)
                    .cloned()
                    .unwrap_or_else(|| format!("{addr:#x}"));
                g.row()
            })
            .collect();
        by_callback.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
        by_callback.truncate(top);
        let mut by_task: Vec<GroupRow> = self.by_task.into_values().map(|g| g.row()).collect();
        by_task.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
        by_task.truncate(top);
        TimerSummary {
            wakeups: WakeupSummary {
                count: self.wakeups.len(),
                latency_ns: Percentiles::of(&self.wakeups),
            },
            count: self.overall.len(),
            lateness_ns: Percentiles::of(&self.overall),
            min_lateness_ns: if self.overall.is_empty() {
                0
            } else {
                self.min_ns
            },
            early: self.early,
            by_callback,
            by_task,
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

    #[test]
    fn pairs_start_with_expiry_and_ignores_cancelled() {
        let mut s = TimerStats::default();
        for i in 0..100i64 {
            let t = 0x1000 + (i as u64 % 3);
            s.event(&start(t, i * 1_000_000, 0xf1, 42));
            s.event(&expire(t, i * 1_000_000 + 1_000 * (i + 1), 0xf1));
        }
        // armed then cancelled: no sample
        s.event(&start(0x2000, 5, 0xf2, 43));
        let mut c = Event::ZERO;
        c.kind = kind::HRTIMER_CANCEL;
        c.args[0] = 0x2000;
        s.event(&c);
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
