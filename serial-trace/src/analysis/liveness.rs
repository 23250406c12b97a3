//! Probe liveness across suspend: kprobes (and other hooks) have been reported to stop firing
//! after a resume on some kernels. For every cycle, the hooks that fired in the window before it
//! but never in the window after it are listed, so a silently dead probe cannot pass unnoticed.

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

#[derive(Default)]
pub struct LivenessStats {
    /// Kinds seen since the last boundary (bit = kind id).
    window: u64,
    /// Cycle boundaries (shared with the other analyses).
    power: PowerState,
    /// Per cycle: kinds seen before it; the after-window is filled when the next one starts.
    before: Vec<u64>,
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
                    self.close_after_window(previous_thawed);
                    self.before.push(self.window);
                }
                Some(Edge::CycleEnded) => {
                    self.window = 0;
                    self.resumed_at_boot = ev.boot_ns;
                }
                None => {}
            }
            return;
        }
        if !self.power.in_cycle() && (ev.kind as usize) < 64 {
            self.window |= 1 << ev.kind;
        }
    }

    /// Closes the after-resume window of the previous cycle, if one is open; `thawed`: that
    /// cycle ended.
    fn close_after_window(&mut self, thawed: bool) {
        let Some(&before) = self.before.get(self.results.len()) else {
            return;
        };
        if !thawed {
            // the previous cycle never thawed: no after-window to judge
            self.results.push(Liveness::default());
            return;
        }
        let silent = (0..64u16)
            .filter(|&k| before & (1 << k) != 0 && self.window & (1 << k) == 0 && !exempt(k))
            .filter_map(|k| kind_info(k).map(|i| format!("{}:{}", i.category, i.name)))
            .collect();
        self.results.push(Liveness {
            silent_after_resume: silent,
            after_resume_window_ns: self.last_boot.saturating_sub(self.resumed_at_boot),
        });
    }

    /// One entry per cycle, in order.
    pub fn finish(mut self) -> Vec<Liveness> {
        self.close_after_window(!self.power.in_cycle());
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
