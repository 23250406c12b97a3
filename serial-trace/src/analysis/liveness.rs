//! Probe liveness across suspend: kprobes (and other hooks) have been reported to stop firing
//! after a resume on some kernels. For every cycle, the hooks that fired in the window before it
//! but never in the window after it are listed, so a silently dead probe cannot pass unnoticed —
//! when their rate before the cycle makes silence telling: a hook that would have fired
//! [`MIN_EXPECTED`] times in the window after at its rate before. (A quiet arm64 guest's
//! `hrtimer_cancel` fires a few times a second: silent for the 0.23 s between two cycles, it
//! is not dead.)

use serde::{Deserialize, Serialize};
use serial_trace_common::{Event, Filter, kind, kind_info};

use super::pm_state::{Edge, PowerState};

/// Kinds that fire only around suspend or on rare system events: their silence after a
/// resume says nothing about the probe.
fn exempt(k: u16) -> bool {
    match kind_info(k) {
        Some(info) => info.filter == Filter::ALWAYS || info.category == "alarmtimer",
        None => true,
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Liveness {
    /// Hooks that fired before the cycle and never after it (until the next cycle or the end).
    pub silent_after_resume: Vec<String>,
    /// How long the window after the resume was (boottime), so a short one can be judged.
    pub after_resume_window_ns: u64,
}

/// Events a hook must have been expected to fire in the window after a resume, at its rate in
/// the window before the cycle, for its silence to name it (e^-10: a live hook is named once
/// in 20,000 such windows).
pub const MIN_EXPECTED: f64 = 10.0;

/// Events per kind id in one window between cycles, and when the window began.
#[derive(Clone, Copy)]
struct Window {
    counts: [u32; 64],
    start_boot: Option<u64>,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            counts: [0; 64],
            start_boot: None,
        }
    }
}

#[derive(Default)]
pub struct LivenessStats {
    /// Events since the last boundary.
    window: Window,
    /// Cycle boundaries (shared with the other analyses).
    power: PowerState,
    /// Per cycle: the window before it and its length; the after-window is judged when the
    /// next one starts.
    before: Vec<(Window, u64)>,
    results: Vec<Liveness>,
    resumed_at_boot: u64,
    last_boot: u64,
}

impl LivenessStats {
    pub fn event(&mut self, ev: &Event) {
        self.last_boot = self.last_boot.max(ev.boot_ns);
        if ev.kind == kind::SUSPEND_RESUME {
            match self.power.event(ev) {
                Some(Edge::CycleBegan) => {
                    // `power` is in the new cycle already: was the previous one thawed?
                    let previous_thawed = self
                        .power
                        .cycles()
                        .iter()
                        .rev()
                        .nth(1)
                        .is_none_or(|c| c.end.is_some());
                    // the window ends where this cycle begins: an event written out of order
                    // (a drop run's checkpoint the recorder wrote after a freezer cycle, before
                    // draining the events of the cycle before it) must not stretch it (seen on
                    // x86_64 6.12-rt: two freezer cycles 76 ms apart, the window taken as 49 s
                    // and the timer probes named silent in it)
                    self.close_after_window(previous_thawed, ev.boot_ns);
                    let length = self
                        .window
                        .start_boot
                        .map_or(0, |t| ev.boot_ns.saturating_sub(t));
                    self.before.push((self.window, length));
                }
                Some(Edge::CycleEnded) => {
                    self.window = Window {
                        start_boot: Some(ev.boot_ns),
                        ..Window::default()
                    };
                    self.resumed_at_boot = ev.boot_ns;
                }
                None => {}
            }
            return;
        }
        if !self.power.in_cycle() && (ev.kind as usize) < 64 {
            self.window.start_boot.get_or_insert(ev.boot_ns);
            let n = &mut self.window.counts[ev.kind as usize];
            *n = n.saturating_add(1);
        }
    }

    /// Closes the after-resume window of the previous cycle at `end_boot`, if one is open;
    /// `thawed`: that cycle ended.
    fn close_after_window(&mut self, thawed: bool, end_boot: u64) {
        let Some(&(before, before_ns)) = self.before.get(self.results.len()) else {
            return;
        };
        if !thawed {
            // the previous cycle never thawed: no after-window to judge
            self.results.push(Liveness::default());
            return;
        }
        let after_ns = end_boot.saturating_sub(self.resumed_at_boot);
        // at its rate before the cycle (a window of one instant: any rate)
        let expected = |n: u32| {
            if before_ns == 0 {
                f64::INFINITY
            } else {
                f64::from(n) * after_ns as f64 / before_ns as f64
            }
        };
        let silent = (0..64u16)
            .filter(|&k| {
                let n = before.counts[k as usize];
                n > 0
                    && self.window.counts[k as usize] == 0
                    && !exempt(k)
                    && expected(n) >= MIN_EXPECTED
            })
            .filter_map(|k| kind_info(k).map(|i| format!("{}:{}", i.category, i.name)))
            .collect();
        self.results.push(Liveness {
            silent_after_resume: silent,
            after_resume_window_ns: after_ns,
        });
    }

    /// One entry per cycle, in order.
    pub fn finish(mut self) -> Vec<Liveness> {
        self.close_after_window(!self.power.in_cycle(), self.last_boot);
        self.results
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::suspend::tests::s3_cycle;

    fn ev(kind: u16, boot: u64) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind;
        e.boot_ns = boot;
        e
    }

    #[test]
    fn an_event_written_out_of_order_does_not_stretch_the_window_after_a_resume() {
        // a freezer cycle, 76 ms of timer events after its thaw, the next cycle; an event
        // stamped in that next cycle's end was written before the first cycle's thaw
        let mut s = LivenessStats::default();
        // 10 a second before the first cycle: none expected in 76 ms, 600 in 60 s
        for t in 0..20 {
            s.event(&ev(kind::HRTIMER_START, 1_000_000 + t * 100_000_000));
        }
        let mut evs = s3_cycle(2_000_000_000, 0, 0);
        evs.insert(3, ev(kind::SERIAL_DROP_OPEN, 60_000_000_000));
        for e in &evs {
            s.event(e);
        }
        let thawed = evs.last().unwrap().boot_ns;
        for e in s3_cycle(thawed + 76_000_000, 0, 0) {
            s.event(&e);
        }
        let r = s.finish();
        assert!(r[0].silent_after_resume.is_empty(), "{r:?}");
        assert!(r[0].after_resume_window_ns < 100_000_000, "{r:?}");
    }

    #[test]
    fn silent_probe_after_resume_is_named() {
        let mut s = LivenessStats::default();
        s.event(&ev(kind::HRTIMER_START, 1));
        s.event(&ev(kind::TIMER_START, 2));
        s.event(&ev(kind::WAKEUP_SOURCE_ACTIVATE, 3));
        for e in s3_cycle(10, 0, 5) {
            s.event(&e);
        }
        // after resume only hrtimers fire
        s.event(&ev(kind::HRTIMER_START, 2_000_000_000));
        let r = s.finish();
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].silent_after_resume,
            vec!["timer:timer_start".to_string()]
        );
        assert!(r[0].after_resume_window_ns > 1_900_000_000);
    }

    /// Seen on arm64 6.1: `hrtimer_cancel` a few times a second in a quiet guest, silent in
    /// the 0.23 s between two cycles. Its rate says nothing was missed; a hook as busy as
    /// `hrtimer_start` that falls silent for as long is named.
    #[test]
    fn a_rare_hook_quiet_in_a_short_window_is_not_named() {
        const MS: u64 = 1_000_000;
        let mut s = LivenessStats::default();
        // 10 s before the cycle: 30 cancels, 2,000 starts
        for i in 0..2_000u64 {
            s.event(&ev(kind::HRTIMER_START, i * 5 * MS));
            if i % 67 == 0 {
                s.event(&ev(kind::HRTIMER_CANCEL, i * 5 * MS + 1));
            }
        }
        for e in s3_cycle(10_000 * MS, 0, 5) {
            s.event(&e);
        }
        // 0.23 s after it, nothing at all, then the trace ends
        s.event(&ev(kind::SCHED_WAKING, 10_250 * MS));
        let r = s.finish();
        assert_eq!(
            r[0].silent_after_resume,
            vec!["timer:hrtimer_start".to_string()]
        );
    }

    #[test]
    fn all_alive_across_two_cycles() {
        let mut s = LivenessStats::default();
        for round in 0..3u64 {
            s.event(&ev(kind::HRTIMER_START, round * 100 + 1));
            s.event(&ev(kind::HRTIMER_EXPIRE_ENTRY, round * 100 + 2));
            if round < 2 {
                for e in s3_cycle(round * 100 + 10, 0, 5) {
                    s.event(&e);
                }
            }
        }
        let r = s.finish();
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|l| l.silent_after_resume.is_empty()), "{r:?}");
    }
}
