//! The level between the UART's FIFO and the reader (issue 18, "IRQ latency jitter"): per
//! port, how long its interrupt handler ran (`irq_handler_exit` events of its IRQ) and how long
//! received bytes waited between the flip buffer push and the line discipline
//! (`workqueue_execute_end` of `flush_to_ldisc`: the wait from queueing to run, and the run).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serial_trace_common::{Event, arg, kind};

use super::serial::{PortReport, port_row};
use super::timers::{Percentiles, new_hist, record};
use crate::trace::{PortSetup, trim_nul};

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

/// Accumulates the timing events of the whole trace, per IRQ and per work item.
#[derive(Default)]
pub struct TimingAcc {
    irqs: BTreeMap<u32, IrqAcc>,
    /// By port name (the event's text: the tty open on the port when the work ran), or
    /// `port@<work item>` while none was.
    works: BTreeMap<String, WorkAcc>,
    /// Per port, the `ldisc_receive` times (mono ns) since its last run ended: the next run's
    /// end decides whether they were inside it.
    receives: BTreeMap<String, Vec<u64>>,
    ldisc_hooked: bool,
}

/// Receives held per port until its next run ends (see [`TimingAcc::receive`]).
const MAX_PENDING_RECEIVES: usize = 4096;

struct IrqAcc {
    runs: u64,
    handled: u64,
    woke_thread: u64,
    total: u64,
    hist: Histogram<u64>,
}

struct WorkAcc {
    runs: u64,
    unknown: u64,
    receives_in: u64,
    receives_out: u64,
    delay: Histogram<u64>,
    run: Histogram<u64>,
}

impl TimingAcc {
    pub fn event(&mut self, ev: &Event) {
        match ev.kind {
            kind::IRQ_HANDLER_EXIT => {
                use arg::irq_handler_exit as a;
                let acc = self
                    .irqs
                    .entry(ev.args[a::IRQ] as u32)
                    .or_insert_with(|| IrqAcc {
                        runs: 0,
                        handled: 0,
                        woke_thread: 0,
                        total: 0,
                        hist: new_hist(3),
                    });
                acc.runs += 1;
                // irqreturn_t: IRQ_HANDLED 1, IRQ_WAKE_THREAD 2
                let ret = ev.args[a::RET];
                acc.handled += u64::from(ret & 1 != 0);
                acc.woke_thread += u64::from(ret & 2 != 0);
                acc.total = acc.total.saturating_add(ev.args[a::HANDLER_NS]);
                record(&mut acc.hist, ev.args[a::HANDLER_NS]);
            }
            kind::WORKQUEUE_EXECUTE_END => {
                use arg::workqueue_execute_end as a;
                // a name is allocated once per port, not per run
                let text = String::from_utf8_lossy(trim_nul(&ev.text[0]));
                let unnamed;
                let name: &str = if text.is_empty() {
                    unnamed = format!("port@{:#x}", ev.args[a::WORK]);
                    &unnamed
                } else {
                    &text
                };
                if !self.works.contains_key(name) {
                    self.works.insert(
                        name.to_string(),
                        WorkAcc {
                            runs: 0,
                            unknown: 0,
                            receives_in: 0,
                            receives_out: 0,
                            delay: new_hist(3),
                            run: new_hist(3),
                        },
                    );
                }
                let acc = self.works.get_mut(name).expect("inserted above");
                acc.runs += 1;
                let start = ev.mono_ns.saturating_sub(ev.args[a::RUN_NS]);
                if let Some(pending) = self.receives.get_mut(name) {
                    let inside = pending.iter().filter(|&&t| t >= start).count() as u64;
                    acc.receives_in += inside;
                    acc.receives_out += pending.len() as u64 - inside;
                    pending.clear();
                }
                if ev.args[a::QUEUED] != 0 {
                    record(&mut acc.delay, ev.args[a::DELAY_NS]);
                } else {
                    acc.unknown += 1;
                }
                record(&mut acc.run, ev.args[a::RUN_NS]);
            }
            _ => {}
        }
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
    pub fn attach(self, ports: &mut Vec<PortReport>, setups: &[PortSetup]) {
        for (irq, acc) in &self.irqs {
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
                    runs: acc.runs,
                    handled: acc.handled,
                    woke_thread: acc.woke_thread,
                    handler_ns: Percentiles::of(&acc.hist),
                    handler_ns_total: acc.total,
                    shared_with: on_it
                        .iter()
                        .filter(|n| *n != name)
                        .map(|n| n.to_string())
                        .collect(),
                });
            }
        }
        for (name, acc) in self.works {
            let timing = LdiscTiming {
                runs: acc.runs,
                delay_ns: Percentiles::of(&acc.delay),
                delay_unknown: acc.unknown,
                run_ns: Percentiles::of(&acc.run),
                receives_in_runs: acc.receives_in,
                receives_outside_runs: acc.receives_out,
            };
            port_row(ports, &name).ldisc_work = Some(timing);
        }
        ports.sort_by(|a, b| a.name.cmp(&b.name));
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
}
