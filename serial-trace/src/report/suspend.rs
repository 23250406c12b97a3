//! Suspend cycles from `power:suspend_resume`. A cycle starts at `suspend_enter` begin and
//! runs to the event before the next cycle (or the end of the trace); it is complete when
//! `thaw_processes` ended. Phases pair each begin with the next end of the same action.

use std::collections::HashMap;

use serde::Serialize;
use serial_trace_common::{Event, arg, kind};

use super::liveness::Liveness;
use crate::trace::trim_nul;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Phase {
    pub name: String,
    pub val: i64,
    pub begin_mono_ns: u64,
    pub begin_boot_ns: u64,
    /// `None` when the end never came (aborted cycle or cut trace).
    pub end_mono_ns: Option<u64>,
    pub end_boot_ns: Option<u64>,
    pub duration_ns: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SuspendCycle {
    pub index: u32,
    pub start_mono_ns: u64,
    pub start_boot_ns: u64,
    pub end_mono_ns: u64,
    pub end_boot_ns: u64,
    /// Time the monotonic clock did not see: boottime gap − monotonic gap over the cycle.
    pub suspended_ns: u64,
    /// `thaw_processes` ended: the cycle ran to completion (success or abort).
    pub complete: bool,
    /// The platform was entered (`machine_suspend` seen), not just a pm_test level.
    pub machine_suspend: bool,
    pub phases: Vec<Phase>,
    /// Hooks that fired before this cycle but not after it.
    #[serde(flatten)]
    pub liveness: Liveness,
}

#[derive(Default)]
pub struct SuspendStats {
    cycles: Vec<SuspendCycle>,
    /// (action, val) → index of the open phase in the current cycle.
    open: HashMap<(String, i64), usize>,
}

impl SuspendStats {
    pub fn event(&mut self, ev: &Event) {
        if ev.kind != kind::SUSPEND_RESUME {
            return;
        }
        let action = String::from_utf8_lossy(trim_nul(&ev.text[0])).into_owned();
        let val = ev.args[arg::suspend_resume::VAL] as i64;
        let begin = ev.args[arg::suspend_resume::START] != 0;
        if begin && action == "suspend_enter" {
            self.open.clear();
            self.cycles.push(SuspendCycle {
                index: self.cycles.len() as u32 + 1,
                start_mono_ns: ev.mono_ns,
                start_boot_ns: ev.boot_ns,
                end_mono_ns: ev.mono_ns,
                end_boot_ns: ev.boot_ns,
                suspended_ns: 0,
                complete: false,
                machine_suspend: false,
                phases: Vec::new(),
                liveness: Liveness::default(),
            });
        }
        let Some(cycle) = self.cycles.last_mut() else {
            return; // phases before the first cycle began (recording started mid-cycle)
        };
        cycle.end_mono_ns = ev.mono_ns;
        cycle.end_boot_ns = ev.boot_ns;
        let boot_gap = cycle.end_boot_ns.saturating_sub(cycle.start_boot_ns);
        let mono_gap = cycle.end_mono_ns.saturating_sub(cycle.start_mono_ns);
        cycle.suspended_ns = boot_gap.saturating_sub(mono_gap);
        if action == "machine_suspend" {
            cycle.machine_suspend = true;
        }
        if begin {
            self.open.insert((action.clone(), val), cycle.phases.len());
            cycle.phases.push(Phase {
                name: action,
                val,
                begin_mono_ns: ev.mono_ns,
                begin_boot_ns: ev.boot_ns,
                end_mono_ns: None,
                end_boot_ns: None,
                duration_ns: None,
            });
        } else {
            if action == "thaw_processes" {
                cycle.complete = true;
            }
            if let Some(i) = self.open.remove(&(action, val)) {
                let p = &mut cycle.phases[i];
                p.end_mono_ns = Some(ev.mono_ns);
                p.end_boot_ns = Some(ev.boot_ns);
                p.duration_ns = Some(ev.boot_ns.saturating_sub(p.begin_boot_ns));
            }
        }
    }

    /// The cycles, each with the liveness verdict computed over the same events.
    pub fn finish(mut self, liveness: Vec<Liveness>) -> Vec<SuspendCycle> {
        for (c, l) in self.cycles.iter_mut().zip(liveness) {
            c.liveness = l;
        }
        self.cycles
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sr(action: &str, val: i64, start: bool, mono: u64, boot: u64) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind::SUSPEND_RESUME;
        e.text[0][..action.len()].copy_from_slice(action.as_bytes());
        e.args[0] = val as u64;
        e.args[1] = start as u64;
        e.mono_ns = mono;
        e.boot_ns = boot;
        e
    }

    /// The phase sequence of one S3 cycle as the kernel traces it, suspended for `asleep` ns.
    pub fn s3_cycle(t0: u64, offset: u64, asleep: u64) -> Vec<Event> {
        let mut t = t0;
        let mut off = offset;
        let mut ev = Vec::new();
        let push = |a: &str, v: i64, s: bool, ev: &mut Vec<Event>, t: &mut u64, off: u64| {
            *t += 1_000_000;
            ev.push(sr(a, v, s, *t, *t + off));
        };
        push("suspend_enter", 3, true, &mut ev, &mut t, off);
        push("sync_filesystems", 0, true, &mut ev, &mut t, off);
        push("sync_filesystems", 0, false, &mut ev, &mut t, off);
        push("freeze_processes", 0, true, &mut ev, &mut t, off);
        push("freeze_processes", 0, false, &mut ev, &mut t, off);
        push("suspend_enter", 3, false, &mut ev, &mut t, off);
        push("machine_suspend", 3, true, &mut ev, &mut t, off);
        off += asleep;
        push("machine_suspend", 3, false, &mut ev, &mut t, off);
        push("thaw_processes", 0, true, &mut ev, &mut t, off);
        push("thaw_processes", 0, false, &mut ev, &mut t, off);
        ev
    }

    #[test]
    fn two_cycles_with_suspended_time() {
        let mut s = SuspendStats::default();
        let mut all = s3_cycle(10_000_000_000, 100, 3_000_000_000);
        all.extend(s3_cycle(20_000_000_000, 3_000_000_100, 2_000_000_000));
        for e in &all {
            s.event(e);
        }
        let c = s.finish(vec![]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].suspended_ns, 3_000_000_000);
        assert_eq!(c[1].suspended_ns, 2_000_000_000);
        assert!(c.iter().all(|c| c.complete && c.machine_suspend));
        let ms = c[0]
            .phases
            .iter()
            .find(|p| p.name == "machine_suspend")
            .unwrap();
        assert_eq!(ms.duration_ns, Some(3_001_000_000));
        assert!(c[0].phases.iter().all(|p| p.end_mono_ns.is_some()));
    }

    #[test]
    fn missing_end_is_tolerated() {
        let mut s = SuspendStats::default();
        let ev = s3_cycle(0, 0, 5);
        for e in &ev[..7] {
            s.event(e);
        }
        let c = s.finish(vec![]);
        assert_eq!(c.len(), 1);
        assert!(!c[0].complete);
        let ms = c[0]
            .phases
            .iter()
            .find(|p| p.name == "machine_suspend")
            .unwrap();
        assert_eq!(ms.end_mono_ns, None);
    }
}
