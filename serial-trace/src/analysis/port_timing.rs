//! The level between the UART's FIFO and the reader (issue 18, "IRQ latency jitter"): per
//! port, how long its interrupt handler ran and how long received bytes waited between the
//! flip buffer push and the line discipline (`flush_to_ldisc`: the wait from queueing to run,
//! and the run) — from the kernel's aggregates in the checkpoints, or from per-run events
//! (`irq_handler_exit`, `workqueue_execute_end`) where a trace has no aggregates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serial_trace_common::port_aggregates::{IrqAggregate, LdiscAggregate, hist};
use serial_trace_common::{Event, arg, kind};

use super::serial::{PortReport, port_row};
use super::timers::Percentiles;
use crate::trace::{PortSetup, PortTimingTotals, trim_nul};

/// A port's interrupt: its handler's runs (CLOCK_MONOTONIC, entry to exit).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IrqTiming {
    pub irq: u32,
    /// Handler runs seen, and those that said the interrupt was the device's (`IRQ_HANDLED`).
    pub runs: u64,
    pub handled: u64,
    /// Runs that only woke the IRQ's thread (`IRQ_WAKE_THREAD`: a threaded handler, as every
    /// handler is under PREEMPT_RT): the driver's own work then runs in `irq/<n>-…` and is not
    /// in `handler_ns`.
    #[serde(default)]
    pub woke_thread: u64,
    pub handler_ns: Percentiles,
    pub handler_ns_total: u64,
    /// Other traced ports on the same IRQ (the times are the line's, not one port's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_with: Vec<String>,
}

/// A port's line discipline work item (`flush_to_ldisc`): each run after a flip buffer push.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LdiscTiming {
    pub runs: u64,
    /// From the push (the work queued) to the run's start: how long received bytes waited
    /// for the line discipline; over the runs whose queueing was seen.
    pub delay_ns: Percentiles,
    /// Runs whose queueing was not seen (before the recording, or its state forgotten).
    pub delay_unknown: u64,
    /// How long each run took (moving bytes into the line discipline, waking readers).
    pub run_ns: Percentiles,
    /// The serial hooks' hand-overs to the line discipline (`ldisc_receive`) inside a run, and
    /// outside every run: the line discipline is fed only from this work item, so the second
    /// is 0 wherever both hook families saw the same port (a cross-check of the two).
    #[serde(default)]
    pub receives_in_runs: u64,
    #[serde(default)]
    pub receives_outside_runs: u64,
}

/// Accumulates the port timing of the whole trace: the kernel's aggregates where the trace
/// has them (each checkpoint carries the totals so far), else its per-run events (traces of
/// `record --port-timing` before the kernel aggregated). Both fill the same accumulators.
#[derive(Default)]
pub struct TimingAcc {
    irqs: BTreeMap<u32, Box<IrqAggregate>>,
    /// By port name (the tty open on the port when the work ran), or `port@<work item>` while
    /// none was.
    works: BTreeMap<String, Box<LdiscAggregate>>,
    /// Per port, the `ldisc_receive` times (mono ns) since its last run ended: the next run's
    /// end decides whether they were inside it (events only; the kernel counts this itself).
    receives: BTreeMap<String, Vec<u64>>,
    ldisc_hooked: bool,
    /// The kernel's totals at the last checkpoint that had any.
    kernel: Option<PortTimingTotals>,
}

/// Receives held per port until its next run ends (see [`TimingAcc::receive`]).
const MAX_PENDING_RECEIVES: usize = 4096;

/// The row name of a work item: the port's tty, or `port@<work item>` while none was open.
fn work_name(name: &[u8], work: u64) -> String {
    let text = String::from_utf8_lossy(trim_nul(name));
    if text.is_empty() {
        format!("port@{work:#x}")
    } else {
        text.into_owned()
    }
}

impl TimingAcc {
    pub fn event(&mut self, ev: &Event) {
        match ev.kind {
            kind::IRQ_HANDLER_EXIT => {
                use arg::irq_handler_exit as a;
                self.irqs
                    .entry(ev.args[a::IRQ] as u32)
                    .or_insert_with(|| Box::new(IrqAggregate::ZERO))
                    .add_run(ev.args[a::RET], ev.args[a::HANDLER_NS]);
            }
            kind::WORKQUEUE_EXECUTE_END => {
                use arg::workqueue_execute_end as a;
                let text = trim_nul(&ev.text[0]);
                // a name is allocated once per port, not per run
                let unnamed;
                let name: &str = match std::str::from_utf8(text) {
                    Ok(t) if !t.is_empty() => t,
                    _ => {
                        unnamed = work_name(text, ev.args[a::WORK]);
                        &unnamed
                    }
                };
                if !self.works.contains_key(name) {
                    self.works
                        .insert(name.to_string(), Box::new(LdiscAggregate::ZERO));
                }
                let acc = self.works.get_mut(name).expect("inserted above");
                let start = ev.mono_ns.saturating_sub(ev.args[a::RUN_NS]);
                if let Some(pending) = self.receives.get_mut(name) {
                    let inside = pending.iter().filter(|&&t| t >= start).count() as u64;
                    acc.counts.receives_in_runs += inside;
                    acc.counts.receives_outside_runs += pending.len() as u64 - inside;
                    pending.clear();
                }
                let queued = ev.args[a::QUEUED] != 0;
                acc.add_run(queued.then_some(ev.args[a::DELAY_NS]), ev.args[a::RUN_NS]);
            }
            _ => {}
        }
    }

    /// A checkpoint's totals from the kernel's aggregates (the last one is the recording's).
    pub fn kernel_totals(&mut self, totals: PortTimingTotals) {
        self.kernel = Some(totals);
    }

    /// The trace has the line discipline's work item (`workqueue_execute_end` attached): only
    /// then are receives held against its runs.
    pub fn with_ldisc_runs(mut self, hooked: bool) -> Self {
        self.ldisc_hooked = hooked;
        self
    }

    /// Bytes handed to the line discipline of `port` at `mono_ns` (an `ldisc_receive`), to be
    /// placed in or outside the port's next line discipline run.
    pub fn receive(&mut self, port: &str, mono_ns: u64) {
        if !self.ldisc_hooked {
            return;
        }
        let pending = match self.receives.get_mut(port) {
            Some(p) => p,
            None => self.receives.entry(port.to_string()).or_default(),
        };
        // a run does a few receives; past this the port's runs are not in the trace (its
        // work item filtered out, or lost): such receives are held against nothing
        if pending.len() < MAX_PENDING_RECEIVES {
            pending.push(mono_ns);
        }
    }

    /// Gives each port its interrupt's timing (by the IRQ its setup names) and its line
    /// discipline's (by the name its events carry; a work item that ran while no tty was open
    /// on its port becomes a row `port@<work item>`).
    pub fn attach(mut self, ports: &mut Vec<PortReport>, setups: &[PortSetup]) {
        if let Some(k) = self.kernel.take() {
            // the same runs the events (if any) describe, counted by the kernel: those alone
            self.irqs = k.irqs.iter().map(|t| (t.irq, t.aggregate())).collect();
            self.works.clear();
            for t in &k.ldisc {
                let acc = self
                    .works
                    .entry(work_name(t.port.as_bytes(), t.work))
                    .or_insert_with(|| Box::new(LdiscAggregate::ZERO));
                acc.merge(&t.aggregate());
            }
        }
        for (irq, acc) in &self.irqs {
            // the loader adds every traced port's IRQ: one that never fired (or whose hooks
            // did not attach) has nothing to say
            if acc.counts.runs == 0 {
                continue;
            }
            let on_it: Vec<&str> = setups
                .iter()
                .filter(|s| s.irq == Some(*irq))
                .map(|s| s.name.as_str())
                .collect();
            for name in &on_it {
                let Some(p) = ports.iter_mut().find(|p| p.name == *name) else {
                    continue;
                };
                p.uart_irq = Some(IrqTiming {
                    irq: *irq,
                    runs: acc.counts.runs,
                    handled: acc.counts.handled,
                    woke_thread: acc.counts.woke_thread,
                    handler_ns: percentiles(&acc.handler_hist, acc.counts.max_ns),
                    handler_ns_total: acc.counts.total_ns,
                    shared_with: on_it
                        .iter()
                        .filter(|n| *n != name)
                        .map(|n| n.to_string())
                        .collect(),
                });
            }
        }
        for (name, acc) in self.works {
            if acc.counts.runs == 0
                && acc.counts.receives_in_runs == 0
                && acc.counts.receives_outside_runs == 0
            {
                continue;
            }
            let timing = LdiscTiming {
                runs: acc.counts.runs,
                delay_ns: percentiles(&acc.delay_hist, acc.counts.delay_max_ns),
                delay_unknown: acc.counts.delay_unknown,
                run_ns: percentiles(&acc.run_hist, acc.counts.run_max_ns),
                receives_in_runs: acc.counts.receives_in_runs,
                receives_outside_runs: acc.counts.receives_outside_runs,
            };
            port_row(ports, &name).ldisc_work = Some(timing);
        }
        ports.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// p50/p90/p99 (each a bucket's upper bound, so within an eighth above the sample) and the
/// exact maximum.
fn percentiles(h: &[u64; hist::BUCKETS], max: u64) -> Percentiles {
    Percentiles {
        p50: hist::quantile(h, max, 500),
        p90: hist::quantile(h, max, 900),
        p99: hist::quantile(h, max, 990),
        max: if h.iter().any(|c| *c != 0) { max } else { 0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn irq_exit(irq: u64, ret: u64, ns: u64) -> Event {
        let mut ev = Event::ZERO;
        ev.kind = kind::IRQ_HANDLER_EXIT;
        ev.args[..3].copy_from_slice(&[irq, ret, ns]);
        ev
    }

    fn work_end(port: &str, work: u64, delay: u64, run: u64, queued: bool) -> Event {
        let mut ev = Event::ZERO;
        ev.kind = kind::WORKQUEUE_EXECUTE_END;
        ev.args[..5].copy_from_slice(&[work, 0xffff_1234, delay, run, u64::from(queued)]);
        ev.text[0][..port.len()].copy_from_slice(port.as_bytes());
        ev
    }

    #[test]
    fn receives_are_held_against_the_runs_of_their_port() {
        let mut acc = TimingAcc::default().with_ldisc_runs(true);
        let end = |acc: &mut TimingAcc, at: u64, run: u64| {
            let mut ev = work_end("ttyS1", 0x1080, 1_000, run, true);
            ev.mono_ns = at;
            acc.event(&ev);
        };
        // a run from 100 to 200 with two receives in it, one receive before it began
        acc.receive("ttyS1", 50);
        acc.receive("ttyS1", 120);
        acc.receive("ttyS1", 180);
        end(&mut acc, 200, 100);
        // a run from 300 to 400: one receive in it
        acc.receive("ttyS1", 350);
        end(&mut acc, 400, 100);
        acc.receive("ttyS1", 450); // the recording ended before its run did: in neither
        let mut ports = Vec::new();
        acc.attach(&mut ports, &[]);
        let w = ports[0].ldisc_work.as_ref().unwrap();
        assert_eq!(
            (w.runs, w.receives_in_runs, w.receives_outside_runs),
            (2, 3, 1)
        );
        // without the workqueue hooks nothing is held
        let mut acc = TimingAcc::default();
        acc.receive("ttyS1", 50);
        assert!(acc.receives.is_empty());
    }

    #[test]
    fn handler_and_ldisc_times_land_on_their_ports() {
        let mut acc = TimingAcc::default();
        for ns in [10_000, 20_000, 30_000] {
            acc.event(&irq_exit(4, 1, ns));
        }
        acc.event(&irq_exit(4, 0, 5_000));
        acc.event(&irq_exit(4, 2, 1_000)); // woke the IRQ's thread
        acc.event(&irq_exit(9, 1, 1_000)); // no traced port on IRQ 9
        for (delay, run, queued) in [
            (50_000, 7_000, true),
            (0, 9_000, false),
            (150_000, 8_000, true),
        ] {
            acc.event(&work_end("ttyS1", 0x1080, delay, run, queued));
        }
        acc.event(&work_end("", 0x5080, 1_000, 1_000, true)); // no tty open on its port
        let setup = |name: &str, irq| PortSetup {
            name: name.into(),
            irq: Some(irq),
            ..Default::default()
        };
        let mut ports = vec![
            PortReport {
                name: "ttyS1".into(),
                ..Default::default()
            },
            PortReport {
                name: "ttyS3".into(),
                ..Default::default()
            },
        ];
        acc.attach(&mut ports, &[setup("ttyS1", 4), setup("ttyS3", 4)]);
        let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["port@0x5080", "ttyS1", "ttyS3"]);
        let irq = ports[1].uart_irq.as_ref().unwrap();
        assert_eq!(
            (
                irq.irq,
                irq.runs,
                irq.handled,
                irq.woke_thread,
                irq.handler_ns_total
            ),
            (4, 5, 3, 1, 66_000)
        );
        // three significant figures' worth of rounding
        assert!((30_000..=30_030).contains(&irq.handler_ns.max), "{irq:?}");
        assert_eq!(irq.shared_with, ["ttyS3"]);
        assert_eq!(ports[2].uart_irq.as_ref().unwrap().shared_with, ["ttyS1"]);
        let w = ports[1].ldisc_work.as_ref().unwrap();
        assert_eq!((w.runs, w.delay_unknown), (3, 1));
        assert!((150_000..=150_150).contains(&w.delay_ns.max), "{w:?}");
        assert!((9_000..=9_009).contains(&w.run_ns.max), "{w:?}");
        assert!(ports[2].ldisc_work.is_none());
    }

    #[test]
    fn the_kernels_totals_replace_the_events_of_the_same_runs() {
        use crate::trace::{IrqTotals, LdiscTotals};
        let mut acc = TimingAcc::default().with_ldisc_runs(true);
        // events of two runs (a trace with --port-timing-events) ...
        acc.event(&irq_exit(4, 1, 10_000));
        acc.event(&work_end("ttyS1", 0x1080, 1_000, 2_000, true));
        // ... and the kernel's totals at the last checkpoint, which count more
        let mut irq = IrqAggregate::ZERO;
        for ns in [10_000, 11_000, 900_000] {
            irq.add_run(1, ns);
        }
        let mut ld = LdiscAggregate::ZERO;
        ld.name[..5].copy_from_slice(b"ttyS1");
        ld.add_run(Some(1_000), 2_000);
        ld.add_run(None, 3_000);
        ld.counts.receives_in_runs = 5;
        // the same port seen on another work item before its tty was open: a row of its own
        let mut unnamed = LdiscAggregate::ZERO;
        unnamed.counts.receives_outside_runs = 1;
        acc.kernel_totals(PortTimingTotals {
            irqs: vec![IrqTotals::of(4, &irq)],
            ldisc: vec![
                LdiscTotals::of(0x1080, &ld),
                LdiscTotals::of(0x2080, &unnamed),
                // nothing counted on it: no row
                LdiscTotals::of(0x3080, &LdiscAggregate::ZERO),
            ],
        });
        let mut ports = vec![PortReport {
            name: "ttyS1".into(),
            ..Default::default()
        }];
        let setup = PortSetup {
            name: "ttyS1".into(),
            irq: Some(4),
            ..Default::default()
        };
        acc.attach(&mut ports, &[setup]);
        let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["port@0x2080", "ttyS1"]);
        let i = ports[1].uart_irq.as_ref().unwrap();
        assert_eq!((i.runs, i.handled, i.handler_ns_total), (3, 3, 921_000));
        assert_eq!(i.handler_ns.max, 900_000);
        // p50 is the 2nd sample's bucket (11 µs), at most an eighth above it
        assert!(
            (11_000..11_000 + 11_000 / 8).contains(&i.handler_ns.p50),
            "{i:?}"
        );
        let w = ports[1].ldisc_work.as_ref().unwrap();
        assert_eq!(
            (w.runs, w.delay_unknown, w.receives_in_runs, w.run_ns.max),
            (2, 1, 5, 3_000)
        );
        let w = ports[0].ldisc_work.as_ref().unwrap();
        assert_eq!((w.runs, w.receives_outside_runs), (0, 1));
    }
}
