//! The power state at each event of a trace, decided in one place for every analysis (suspend
//! cycles, timers, probe liveness, drop causes): which suspend cycle is under way, whether
//! user tasks can run, and where resuming began.
//!
//! From `power:suspend_resume` alone:
//! * a cycle runs from `suspend_enter` begin to `thaw_processes` end (a cycle that never ends
//!   runs to the next one or the end of the trace);
//! * the freezer holds user tasks from `freeze_processes` begin to `thaw_processes` begin
//!   (tasks are thawed one by one inside the thaw phase, so a switch-in there may be a real
//!   wakeup);
//! * resuming begins at the platform's return (`machine_suspend` end) or, for `pm_test`
//!   levels that never enter the platform, at the first device resume phase or the thaw; an
//!   s2idle cycle that enters the platform again (a wake that found no wakeup event) begins
//!   resuming anew.

use serial_trace_common::{Event, arg, kind};

use crate::trace::trim_nul;

/// One suspend cycle's boundaries. Boottime values unless named `_mono`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CycleSpan {
    /// 1-based, in trace order.
    pub index: u32,
    pub start: u64,
    /// Resuming began, on CLOCK_MONOTONIC: timekeeping is suspended there and CLOCK_BOOTTIME
    /// jumps by the time asleep only later, in `syscore_resume`.
    pub resumed_mono: Option<u64>,
    /// boottime − monotonic at the cycle's latest power event (after the jump, once resumed).
    pub offset: u64,
    /// `freeze_processes` began.
    pub freeze: Option<u64>,
    /// `thaw_processes` began: user tasks may run again.
    pub thaw: Option<u64>,
    /// `thaw_processes` ended.
    pub end: Option<u64>,
}

/// What a power event changed, for the analyses that act on an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// `suspend_enter` began a cycle.
    CycleBegan,
    /// `thaw_processes` ended the current cycle.
    CycleEnded,
}

/// Whether this `suspend_resume` event is where resuming may begin (the first of these in a
/// platform entry counts): the platform's return (`machine_suspend` end) or, for `pm_test`
/// levels that never enter it, the first device resume phase or the thaw.
pub fn is_resume_start(action: &[u8], begin: bool) -> bool {
    if begin {
        action.starts_with(b"dpm_resume") || action == b"thaw_processes"
    } else {
        action == b"machine_suspend"
    }
}

/// Where the cycle under way is, for what happens in it (bytes arriving on a port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CyclePhase {
    /// From `suspend_enter` to the platform's entry (or, for a `pm_test` level, to the
    /// start of resuming).
    Suspending,
    /// Inside the platform's sleep: `machine_suspend` begun and not ended (s2idle: the CPUs
    /// idle; S3: only what runs before the platform sleeps and after it returns).
    Asleep,
    /// From the start of resuming to `thaw_processes` end.
    Resuming,
}

#[derive(Clone, Debug, Default)]
pub struct PowerState {
    cycles: Vec<CycleSpan>,
    freezing: bool,
    thawed: bool,
    /// Inside `machine_suspend` (begun, not ended).
    asleep: bool,
}

impl PowerState {
    /// Takes one event (only `suspend_resume` changes anything); returns the cycle edge it
    /// is, if any.
    pub fn event(&mut self, ev: &Event) -> Option<Edge> {
        if ev.kind != kind::SUSPEND_RESUME {
            return None;
        }
        let action = trim_nul(&ev.text[0]);
        let begin = ev.args[arg::suspend_resume::START] != 0;
        let offset = ev.boot_ns.saturating_sub(ev.mono_ns);
        if action == b"machine_suspend" {
            self.asleep = begin;
        }
        if begin && action == b"suspend_enter" {
            self.thawed = false;
            self.asleep = false;
            self.cycles.push(CycleSpan {
                index: self.cycles.len() as u32 + 1,
                start: ev.boot_ns,
                resumed_mono: None,
                offset,
                freeze: None,
                thaw: None,
                end: None,
            });
            return Some(Edge::CycleBegan);
        }
        if begin && action == b"freeze_processes" {
            self.freezing = true;
        } else if begin && action == b"thaw_processes" {
            self.freezing = false;
            self.thawed = true;
        }
        let c = self.cycles.last_mut().filter(|c| c.end.is_none())?;
        c.offset = offset;
        if begin && action == b"machine_suspend" {
            // s2idle enters again: resuming starts anew with this entry
            c.resumed_mono = None;
        }
        if c.resumed_mono.is_none() && is_resume_start(action, begin) {
            c.resumed_mono = Some(ev.mono_ns);
        }
        match (begin, action) {
            (true, b"freeze_processes") => {
                c.freeze.get_or_insert(ev.boot_ns);
            }
            (true, b"thaw_processes") => {
                c.thaw.get_or_insert(ev.boot_ns);
            }
            (false, b"thaw_processes") => {
                c.end = Some(ev.boot_ns);
                return Some(Edge::CycleEnded);
            }
            _ => {}
        }
        None
    }

    /// User tasks are held by the freezer: a task switched in now may only be heading into
    /// the refrigerator.
    pub fn freezing(&self) -> bool {
        self.freezing
    }

    /// A cycle has begun and its freezer has not (`suspend_enter` to `freeze_processes`): a
    /// task switched in now may be taken by the freezer before it gets back to user space.
    pub fn before_freeze(&self) -> bool {
        !self.freezing
            && !self.thawed
            && !self.asleep
            && self
                .current()
                .is_some_and(|c| c.freeze.is_none() && c.resumed_mono.is_none())
    }

    /// The last cycle's tasks are thawed (from `thaw_processes` begin to the next cycle).
    pub fn thawed(&self) -> bool {
        self.thawed
    }

    /// When the latest thaw began (`thaw_processes` begin of the last cycle that had one).
    pub fn last_thaw(&self) -> Option<u64> {
        self.cycles.iter().rev().find_map(|c| c.thaw)
    }

    /// A cycle is under way (begun and not ended).
    pub fn in_cycle(&self) -> bool {
        self.current().is_some()
    }

    /// The cycle under way and where it is.
    pub fn phase(&self) -> Option<(u32, CyclePhase)> {
        let c = self.current()?;
        let phase = if self.asleep {
            CyclePhase::Asleep
        } else if c.resumed_mono.is_some() {
            CyclePhase::Resuming
        } else {
            CyclePhase::Suspending
        };
        Some((c.index, phase))
    }

    /// The cycle under way.
    pub fn current(&self) -> Option<&CycleSpan> {
        self.cycles.last().filter(|c| c.end.is_none())
    }

    /// Every cycle begun so far, in order.
    pub fn cycles(&self) -> &[CycleSpan] {
        &self.cycles
    }

    /// The cycle a boottime instant falls in (from `suspend_enter` begin to `thaw_processes`
    /// end; a cycle without an end runs to the end of the trace).
    pub fn cycle_at(&self, boot: u64) -> Option<&CycleSpan> {
        self.cycles
            .iter()
            .find(|c| c.start <= boot && c.end.is_none_or(|e| boot <= e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::suspend::tests::{s3_cycle, sr};

    #[test]
    fn an_s3_cycle_s_boundaries() {
        const MS: u64 = 1_000_000;
        const ASLEEP: u64 = 5_000 * MS;
        let mut p = PowerState::default();
        let mut edges = Vec::new();
        let mut freezing_seen = Vec::new();
        // one event a millisecond from 1 ms, asleep between the 7th and the 8th
        for e in s3_cycle(0, 0, ASLEEP) {
            edges.extend(p.event(&e));
            freezing_seen.push(p.freezing());
        }
        assert_eq!(edges, [Edge::CycleBegan, Edge::CycleEnded]);
        // freezing from freeze_processes begin (4th event) to thaw_processes begin (9th)
        assert_eq!(
            freezing_seen,
            [
                false, false, false, true, true, true, true, true, false, false
            ]
        );
        let c = p.cycles()[0];
        assert_eq!(
            (c.index, c.start, c.freeze, c.thaw),
            (1, MS, Some(4 * MS), Some(ASLEEP + 9 * MS))
        );
        assert_eq!(
            (c.resumed_mono, c.offset, c.end),
            (Some(8 * MS), ASLEEP, Some(ASLEEP + 10 * MS))
        );
        assert!(p.thawed() && !p.in_cycle());
        assert_eq!(p.cycle_at(3 * MS).map(|c| c.index), Some(1));
        assert_eq!(p.cycle_at(ASLEEP + 11 * MS), None);
    }

    #[test]
    fn an_s2idle_cycle_resumes_from_its_last_platform_entry() {
        let mut p = PowerState::default();
        for e in [
            sr("suspend_enter", 1, true, 0, 0),
            sr("machine_suspend", 1, true, 10, 10),
            sr("machine_suspend", 1, false, 20, 900),
            sr("machine_suspend", 1, true, 30, 910),
            sr("machine_suspend", 1, false, 40, 2_000),
        ] {
            p.event(&e);
        }
        assert_eq!(p.current().and_then(|c| c.resumed_mono), Some(40));
        // a pm_test level never enters the platform: resuming begins with the devices
        let mut p = PowerState::default();
        for e in [
            sr("suspend_enter", 3, true, 0, 0),
            sr("dpm_resume", 16, true, 50, 50),
            sr("thaw_processes", 0, true, 60, 60),
        ] {
            p.event(&e);
        }
        assert_eq!(p.current().and_then(|c| c.resumed_mono), Some(50));
    }
}
