//! The serial data path of a trace: per port, bytes handed to the line discipline, bytes the
//! flip buffer refused (each drop with its time), UART error characters, who read the port and
//! how long they waited; and the kernel's own counters at start and end beside what the trace
//! observed, with the likely reason wherever they disagree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serial_trace_common::{Event, arg, kind};

use super::pm_state::{CyclePhase, PowerState};
use super::suspend::CycleSerial;
use super::timeline::PortSeries;
use crate::trace::{Counters, PortSnapshot};
use crate::trace::{ProbeRecord, trim_nul};

/// Drops closer together than this on one port are reported as one drop window.
const DROP_GAP_NS: u64 = 10_000_000;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PortReport {
    pub name: String,
    /// `fentry`/`kprobe` (exact, per event) or `poll` (coarse: counter deltas).
    pub method: Option<String>,
    pub coarse: bool,
    /// Bytes the line discipline took from the flip buffer (what readers can get). Polling:
    /// the kernel's `rx` minus `bo`.
    pub bytes_received: u64,
    /// Bytes the flip buffer refused (the kernel's `buf_overrun`).
    pub bytes_dropped: u64,
    pub hw_overruns: u64,
    pub frame_errors: u64,
    pub parity_errors: u64,
    pub breaks: u64,
    /// Most the flip buffer held (bytes allocated) and its limit, where readable.
    pub flip_buffer_peak: u64,
    pub flip_buffer_limit: u64,
    /// Times the line discipline throttled the port: its buffer was nearly full, so flow
    /// control asked the driver to stop receiving (the bytes wait in the device or the sender;
    /// none are lost). Absent in older traces.
    #[serde(default)]
    pub throttles: u64,
    /// Time the port stayed throttled (CLOCK_MONOTONIC), in total and the longest once; a port
    /// still throttled when the recording ended counts until the trace's last event.
    #[serde(default)]
    pub throttled_ns_total: u64,
    #[serde(default)]
    pub throttled_ns_max: u64,
    pub kernel_counters: KernelCounters,
    /// Observed vs kernel disagreements, each with its likely reason.
    pub disagreements: Vec<String>,
    /// How the port was configured when recording began (absent in older traces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<crate::trace::PortSetup>,
    /// Its line settings after each change made while recording, in time order, and as the
    /// recorder read them at the stop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings_changes: Vec<super::port_settings::SettingsChange>,
    /// Its interrupt handler's runs (the `irq:` hooks; absent without them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uart_irq: Option<super::port_timing::IrqTiming>,
    /// Its line discipline work item's runs after each flip buffer push (the `workqueue:`
    /// hooks; absent without them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldisc_work: Option<super::port_timing::LdiscTiming>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelCounters {
    pub start: Option<Counters>,
    pub end: Option<Counters>,
    /// `end − start`, when both exist.
    pub delta: Option<Counters>,
    /// What the counters moved while the hooks were being attached (read before attaching
    /// and once attached): drops in it may predate the serial hooks. Absent in older traces.
    pub during_attach: Option<Counters>,
    /// `proc` or `ioctl`.
    pub source: Option<String>,
}

/// Bytes lost on one port in one window of consecutive drops.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DropWindow {
    pub port: String,
    /// First drop of the window (polling: the sample that saw it).
    pub t_mono_ns: u64,
    pub t_boot_ns: u64,
    /// Last drop of the window.
    pub end_mono_ns: u64,
    pub end_boot_ns: u64,
    pub bytes: u64,
    pub lost_in: LostIn,
    /// Polling: the drop happened somewhere in the `interval_ns` before `t_*`.
    pub coarse: bool,
    pub interval_ns: u64,
    /// Why the bytes were lost (see `causes.rs`).
    pub cause: Option<DropCause>,
    /// The causal chain in one line, from the loss back to its origin.
    pub chain: Option<String>,
}

names! {
    /// Where bytes were lost.
    #[derive(Default)]
    pub enum LostIn {
        /// Refused by the tty layer: counted in `bytes_dropped`, the kernel's `buf_overrun`.
        #[default]
        FlipBuffer = "flip_buffer",
        /// The UART's receive FIFO overran before the driver read it: `bytes` counts overruns,
        /// each at least one byte lost, in `hw_overruns`, the kernel's `overrun`.
        UartFifo = "uart_fifo",
    }
}

names! {
    /// Why bytes were lost (decided in `causes.rs`, in this order).
    #[derive(Default)]
    pub enum DropCause {
        /// No task read the port during the recording.
        #[default]
        NoReader = "no_reader",
        /// The port took data after resuming, before its reader was thawed (flip buffer), or
        /// before the serial driver's resume callback ended (UART FIFO).
        ResumeOrdering = "resume_ordering",
        /// The reader was frozen by a suspend cycle, or thawed but not yet reading again.
        ReaderFrozen = "reader_frozen",
        /// The port had readers, but they did not keep up.
        ReaderSlow = "reader_slow",
        /// The receive interrupt was served too late to empty the UART FIFO.
        HwOverrun = "hw_overrun",
    }
}

/// One task reading one port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReaderReport {
    pub port: String,
    pub pid: u32,
    pub comm: String,
    pub reads: u64,
    pub bytes: u64,
    /// Reads that returned 0 bytes (VMIN/VTIME timeout, or end of file).
    pub empty_reads: u64,
    /// Reads that failed (-errno), e.g. interrupted by the freezer.
    pub failed_reads: u64,
    /// Time inside `read()`, on CLOCK_MONOTONIC: time suspended is not included.
    pub blocked_ns_total: u64,
    pub blocked_ns_max: u64,
    /// Longest time bytes waited in the line discipline for this reader: from a receive on the
    /// port to the end of the next read that returned data, in time awake (CLOCK_MONOTONIC:
    /// a suspend in between does not count).
    pub lag_ns_max: u64,
    /// The same wait in elapsed time (CLOCK_BOOTTIME: a suspend in between counts).
    pub lag_elapsed_ns_max: u64,
    /// Per suspend cycle thawed while this task read the port: when `thaw_processes` began
    /// and when this task's first read after it returned data (CLOCK_BOOTTIME). Tasks thaw
    /// one by one and then wait for a CPU, so until that read the reader was still not back
    /// from the freezer (see `causes.rs`).
    #[serde(skip)]
    pub back_after_thaw: Vec<(u64, u64)>,
}

#[derive(Default)]
struct PortAcc {
    report: PortReport,
    /// Oldest receive not yet read (mono ns), for reader lag.
    pending_since: Option<(u64, u64)>,
    open: Option<DropWindow>,
    /// The open window of UART FIFO overruns.
    open_overrun: Option<DropWindow>,
    /// Polling: the kernel's `rx` deltas summed (received = rx − bo over the whole recording;
    /// per sample the two counters may be read between the two increments of one byte).
    polled_rx: u64,
    /// Bytes over time, for the timeline.
    series: PortSeries,
    /// When the port was throttled (mono ns), while it is.
    throttled_since: Option<u64>,
}

#[derive(Default)]
pub struct SerialStats {
    ports: BTreeMap<String, PortAcc>,
    drops: Vec<DropWindow>,
    readers: BTreeMap<(String, u32), ReaderReport>,
    names: PortNames,
    /// Drop runs the recorder saw open at a checkpoint (`flip_drop_open`), by (port, first
    /// drop): counted only if the run's own `flip_drop` never came (the recorder was killed).
    open_runs: BTreeMap<(u64, u64), Event>,
    /// Per port, the first drop of the latest run whose `flip_drop` came: a checkpoint of it
    /// written after (read from the kernel just before the run closed) is stale.
    closed_runs: BTreeMap<u64, u64>,
    /// Per (port, first drop), the bytes a run had dropped before the trace began (a saved
    /// monitor window): its events count them too.
    before: BTreeMap<(u64, u64), u64>,
    /// For each reader's first read after a thaw, and the cycle phase of each receive.
    power: PowerState,
    /// Per (cycle, port): what arrived during suspend cycles.
    in_cycles: BTreeMap<(u32, String), CycleSerial>,
    /// The latest event's time (mono ns): where a throttle still open at the end stops.
    last_mono_ns: u64,
    /// The UART's interrupt and the line discipline's work item.
    timing: super::port_timing::TimingAcc,
}

/// The cycle under way's phase and `port`'s row of it, if a cycle is under way.
fn in_cycle<'a>(
    power: &PowerState,
    rows: &'a mut BTreeMap<(u32, String), CycleSerial>,
    port: &str,
) -> Option<(CyclePhase, &'a mut CycleSerial)> {
    let (index, phase) = power.phase()?;
    let row = rows
        .entry((index, port.to_string()))
        .or_insert_with(|| CycleSerial {
            port: port.to_string(),
            ..Default::default()
        });
    Some((phase, row))
}

/// The row of port `name` in a finished list, added (empty) if it has none yet: the header's
/// ports and the port timing name ports no serial event did.
pub(super) fn port_row<'a>(ports: &'a mut Vec<PortReport>, name: &str) -> &'a mut PortReport {
    let i = match ports.iter().position(|p| p.name == name) {
        Some(i) => i,
        None => {
            ports.push(PortReport {
                name: name.to_string(),
                ..Default::default()
            });
            ports.len() - 1
        }
    };
    &mut ports[i]
}

/// The accumulator of port `name`, allocating its key only the first time.
fn port_acc<'a>(ports: &'a mut BTreeMap<String, PortAcc>, name: &str) -> &'a mut PortAcc {
    if !ports.contains_key(name) {
        ports.insert(name.to_string(), PortAcc::default());
    }
    ports.get_mut(name).expect("inserted above")
}

fn name_of(ev: &Event) -> String {
    String::from_utf8_lossy(trim_nul(&ev.text[0])).into_owned()
}

/// The names seen for each `tty_port` address: an event whose port had no open tty carries
/// no name, so it takes the last one seen (`port@ADDR` before any).
#[derive(Default)]
pub struct PortNames(BTreeMap<u64, String>);

impl PortNames {
    /// `ev`'s port name, learning it when the event carries one.
    pub fn of(&mut self, ev: &Event, port: u64) -> String {
        let n = name_of(ev);
        if !n.is_empty() {
            // per event: store the name only the first time (or when the port's tty changed)
            if self.0.get(&port) != Some(&n) {
                self.0.insert(port, n.clone());
            }
            return n;
        }
        self.0
            .get(&port)
            .cloned()
            .unwrap_or_else(|| format!("port@{port:#x}"))
    }
}

impl SerialStats {
    /// A drop run: its `flip_drop`, or a checkpoint of it that no `flip_drop` superseded.
    fn drop_run(&mut self, ev: &Event) {
        use arg::serial_flip_drop as a;
        let name = self.names.of(ev, ev.args[a::PORT]);
        let before = self
            .before
            .get(&(ev.args[a::PORT], ev.args[a::FIRST_MONO_NS]))
            .copied()
            .unwrap_or(0);
        let bytes = ev.args[a::REQUESTED]
            .saturating_sub(ev.args[a::INSERTED])
            .saturating_sub(before);
        let acc = port_acc(&mut self.ports, &name);
        acc.report.bytes_dropped = acc.report.bytes_dropped.saturating_add(bytes);
        acc.series.dropped.add(ev.boot_ns, bytes);
        if let Some(c) = in_cycle(&self.power, &mut self.in_cycles, &name) {
            c.1.dropped = c.1.dropped.saturating_add(bytes);
        }
        let acc = port_acc(&mut self.ports, &name);
        note_flip(&mut acc.report, ev.args[a::MEM_USED], ev.args[a::MEM_LIMIT]);
        let first = (ev.args[a::FIRST_MONO_NS], ev.args[a::FIRST_BOOT_NS]);
        // runs recorded before runs existed (or zeroed) start at their own time
        let first = if first.0 == 0 {
            (ev.mono_ns, ev.boot_ns)
        } else {
            first
        };
        add_window(
            &mut acc.open,
            &mut self.drops,
            Window {
                port: &name,
                first,
                ev,
                bytes,
                lost_in: LostIn::FlipBuffer,
                interval_ns: None,
            },
        );
    }

    pub fn event(&mut self, ev: &Event) {
        self.power.event(ev);
        self.last_mono_ns = self.last_mono_ns.max(ev.mono_ns);
        match ev.kind {
            kind::SERIAL_DROP_OPEN => self.on_drop_open(ev),
            kind::SERIAL_FLIP_DROP => self.on_flip_drop(ev),
            kind::SERIAL_RX_ERROR => self.on_rx_error(ev),
            kind::SERIAL_RECEIVE => self.on_receive(ev),
            kind::SERIAL_READ => self.on_read(ev),
            kind::SERIAL_COUNTERS => self.on_counters(ev),
            kind::SERIAL_THROTTLE => self.on_throttle(ev),
            kind::IRQ_HANDLER_EXIT | kind::WORKQUEUE_EXECUTE_END => self.timing.event(ev),
            kind::SERIAL_TERMIOS => {
                let acc = port_acc(&mut self.ports, &name_of(ev));
                acc.report
                    .settings_changes
                    .push(super::port_settings::change_of(ev));
            }
            _ => {}
        }
    }

    /// Flow control: the port's throttle state changed (only changes are recorded).
    fn on_throttle(&mut self, ev: &Event) {
        use arg::serial_throttle as a;
        let acc = port_acc(&mut self.ports, &name_of(ev));
        if ev.args[a::THROTTLED] != 0 {
            if acc.throttled_since.is_none() {
                acc.report.throttles += 1;
                acc.throttled_since = Some(ev.mono_ns);
            }
        } else if let Some(since) = acc.throttled_since.take() {
            end_throttle(&mut acc.report, ev.mono_ns.saturating_sub(since));
        }
    }

    /// A drop run began on a port (its first refused byte): kept open until its close.
    fn on_drop_open(&mut self, ev: &Event) {
        use arg::serial_flip_drop as a;
        let key = (ev.args[a::PORT], ev.args[a::FIRST_MONO_NS]);
        if self.closed_runs.get(&key.0).is_none_or(|&c| c < key.1) {
            self.open_runs.insert(key, *ev);
        }
    }

    /// A drop run closed: one drop window, unless a later close already covered it.
    fn on_flip_drop(&mut self, ev: &Event) {
        use arg::serial_flip_drop as a;
        let (port, first) = (ev.args[a::PORT], ev.args[a::FIRST_MONO_NS]);
        self.open_runs.remove(&(port, first));
        let closed = self.closed_runs.entry(port).or_insert(first);
        *closed = (*closed).max(first);
        self.drop_run(ev);
    }

    /// A line error flagged by the driver: a FIFO overrun opens or extends an overrun window.
    fn on_rx_error(&mut self, ev: &Event) {
        use arg::serial_rx_error as a;
        let name = self.names.of(ev, ev.args[a::PORT]);
        let acc = port_acc(&mut self.ports, &name);
        if ev.args[a::STATUS] & ev.args[a::OVERRUN_MASK] != 0 {
            acc.report.hw_overruns += 1;
            add_window(
                &mut acc.open_overrun,
                &mut self.drops,
                Window {
                    port: &name,
                    first: (ev.mono_ns, ev.boot_ns),
                    ev,
                    bytes: 1,
                    lost_in: LostIn::UartFifo,
                    interval_ns: None,
                },
            );
        }
        let r = &mut acc.report;
        match ev.args[a::FLAG] {
            1 => r.breaks += 1,
            2 => r.frame_errors += 1,
            3 => r.parity_errors += 1,
            _ => {}
        }
    }

    /// Bytes the tty layer accepted into the flip buffer.
    fn on_receive(&mut self, ev: &Event) {
        use arg::serial_receive as a;
        let name = self.names.of(ev, ev.args[a::PORT]);
        self.timing.receive(&name, ev.mono_ns);
        let acc = port_acc(&mut self.ports, &name);
        acc.report.bytes_received = acc
            .report
            .bytes_received
            .saturating_add(ev.args[a::ACCEPTED]);
        acc.series.received.add(ev.boot_ns, ev.args[a::ACCEPTED]);
        if let Some((phase, c)) = in_cycle(&self.power, &mut self.in_cycles, &name) {
            let n = ev.args[a::ACCEPTED];
            match phase {
                CyclePhase::Suspending => {
                    c.received_suspending = c.received_suspending.saturating_add(n)
                }
                CyclePhase::Asleep => c.received_asleep = c.received_asleep.saturating_add(n),
                CyclePhase::Resuming => c.received_resuming = c.received_resuming.saturating_add(n),
            }
        }
        let acc = port_acc(&mut self.ports, &name);
        note_flip(&mut acc.report, ev.args[a::MEM_USED], ev.args[a::MEM_LIMIT]);
        if ev.args[a::ACCEPTED] > 0 && acc.pending_since.is_none() {
            acc.pending_since = Some((ev.mono_ns, ev.boot_ns));
        }
    }

    /// A read() on a port: the reader's bytes, blocked time and lag behind the data.
    fn on_read(&mut self, ev: &Event) {
        use arg::serial_read as a;
        let name = name_of(ev);
        let returned = ev.args[a::RETURNED] as i64;
        let blocked = ev.args[a::BLOCKED_NS];
        let lag = match self.ports.get_mut(&name) {
            Some(acc) if returned > 0 => acc.pending_since.take().map(|(mono, boot)| {
                (
                    ev.mono_ns.saturating_sub(mono),
                    ev.boot_ns.saturating_sub(boot),
                )
            }),
            _ => None,
        };
        let r = self
            .readers
            .entry((name.clone(), ev.tgid()))
            .or_insert_with(|| ReaderReport {
                port: name,
                pid: ev.tgid(),
                comm: String::from_utf8_lossy(trim_nul(&ev.comm)).into_owned(),
                ..Default::default()
            });
        r.reads += 1;
        match returned {
            n if n > 0 => r.bytes = r.bytes.saturating_add(n as u64),
            0 => r.empty_reads += 1,
            _ => r.failed_reads += 1,
        }
        if let Some(thaw) = self
            .power
            .last_thaw()
            .filter(|&t| returned > 0 && t <= ev.boot_ns)
            && r.back_after_thaw.last().map(|b| b.0) != Some(thaw)
        {
            r.back_after_thaw.push((thaw, ev.boot_ns));
        }
        r.blocked_ns_total = r.blocked_ns_total.saturating_add(blocked);
        r.blocked_ns_max = r.blocked_ns_max.max(blocked);
        if let Some((awake, elapsed)) = lag {
            r.lag_ns_max = r.lag_ns_max.max(awake);
            r.lag_elapsed_ns_max = r.lag_elapsed_ns_max.max(elapsed);
        }
    }

    /// A poll of the kernel's counters (no function hooks): coarse drops and overruns.
    fn on_counters(&mut self, ev: &Event) {
        use arg::serial_counters as a;
        let name = name_of(ev);
        let acc = port_acc(&mut self.ports, &name);
        acc.report.coarse = true;
        let bo = ev.args[a::BUF_OVERRUN];
        acc.polled_rx = acc.polled_rx.saturating_add(ev.args[a::RX]);
        acc.report.bytes_dropped = acc.report.bytes_dropped.saturating_add(bo);
        acc.series.dropped.add(ev.boot_ns, bo);
        acc.series
            .received
            .add(ev.boot_ns, ev.args[a::RX].saturating_sub(bo));
        let r = &mut acc.report;
        r.hw_overruns = r.hw_overruns.saturating_add(ev.args[a::OVERRUN]);
        r.frame_errors = r.frame_errors.saturating_add(ev.args[a::FRAME]);
        r.parity_errors = r.parity_errors.saturating_add(ev.args[a::PARITY]);
        r.breaks = r.breaks.saturating_add(ev.args[a::BRK]);
        let interval_ns = Some(ev.args[a::INTERVAL_NS]);
        let first = (ev.mono_ns, ev.boot_ns);
        if bo > 0 {
            let w = Window {
                port: &name,
                first,
                ev,
                bytes: bo,
                lost_in: LostIn::FlipBuffer,
                interval_ns,
            };
            add_window(&mut acc.open, &mut self.drops, w);
        }
        if ev.args[a::OVERRUN] > 0 {
            let w = Window {
                port: &name,
                first,
                ev,
                bytes: ev.args[a::OVERRUN],
                lost_in: LostIn::UartFifo,
                interval_ns,
            };
            add_window(&mut acc.open_overrun, &mut self.drops, w);
        }
    }

    /// What arrived on each port during each suspend cycle, by cycle index (1-based).
    /// The drop runs under way when the trace began, and what each had dropped by then.
    pub fn with_runs_before(mut self, runs: &[crate::trace::RunBefore]) -> Self {
        self.before = runs
            .iter()
            .map(|r| ((r.port, r.first_mono_ns), r.bytes))
            .collect();
        self
    }

    /// Whether the trace has the line discipline's work item (see `TimingAcc::with_ldisc_runs`).
    pub fn with_ldisc_runs(mut self, hooked: bool) -> Self {
        self.timing = std::mem::take(&mut self.timing).with_ldisc_runs(hooked);
        self
    }

    /// A checkpoint's port timing totals from the kernel (see `TimingAcc::kernel_totals`).
    pub fn kernel_timing(&mut self, totals: crate::trace::PortTimingTotals) {
        self.timing.kernel_totals(totals);
    }

    /// The port timing accumulated.
    pub fn take_timing(&mut self) -> super::port_timing::TimingAcc {
        std::mem::take(&mut self.timing)
    }

    pub fn take_in_cycles(&mut self) -> Vec<(u32, CycleSerial)> {
        std::mem::take(&mut self.in_cycles)
            .into_iter()
            .map(|((index, _), row)| (index, row))
            .collect()
    }

    /// Closes open drop windows and sets each port beside the kernel's counters.
    pub fn finish(
        mut self,
        probes: &[ProbeRecord],
        start: &[PortSnapshot],
        attached: &[PortSnapshot],
        end: &[PortSnapshot],
        misses: &BTreeMap<String, u64>,
        misses_counted: bool,
    ) -> (
        Vec<PortReport>,
        Vec<DropWindow>,
        Vec<ReaderReport>,
        Vec<PortSeries>,
    ) {
        // runs still open when the recorder last checkpointed and never closed: it was killed
        for ev in std::mem::take(&mut self.open_runs).into_values() {
            self.drop_run(&ev);
        }
        // calls of the drop hook the kernel skipped: the flip programs' counts add up (a
        // call lost at its entry is not counted again at its return)
        let skipped: u64 = misses
            .iter()
            .filter(|(p, _)| p.starts_with("flip_"))
            .map(|(_, n)| *n)
            .sum();
        for snap in start.iter().chain(end) {
            self.ports.entry(snap.name.clone()).or_default();
        }
        let drop_method = probes
            .iter()
            .find(|p| p.attached && p.name == "serial:flip_buffer_insert")
            .or_else(|| {
                probes
                    .iter()
                    .find(|p| p.attached && p.name == "serial:counters")
            })
            .and_then(|p| p.method.clone());
        let mut ports = Vec::new();
        let mut series = Vec::new();
        for (name, mut acc) in self.ports {
            acc.series.name = name.clone();
            series.push(acc.series);
            self.drops.extend(acc.open.take());
            self.drops.extend(acc.open_overrun.take());
            let mut r = acc.report;
            if let Some(since) = acc.throttled_since {
                end_throttle(&mut r, self.last_mono_ns.saturating_sub(since));
            }
            if r.coarse {
                r.bytes_received = acc.polled_rx.saturating_sub(r.bytes_dropped);
            }
            r.name = name.clone();
            r.method = drop_method.clone();
            if r.method.as_deref() == Some("poll") {
                r.coarse = true;
            }
            let s = start.iter().find(|s| s.name == name);
            let e = end.iter().find(|s| s.name == name);
            r.kernel_counters = KernelCounters {
                start: s.map(|s| s.counters),
                end: e.map(|e| e.counters),
                delta: match (s, e) {
                    (Some(s), Some(e)) => Some(e.counters.delta(&s.counters)),
                    _ => None,
                },
                during_attach: match (s, attached.iter().find(|a| a.name == name)) {
                    (Some(s), Some(a)) => Some(a.counters.delta(&s.counters)),
                    _ => None,
                },
                source: s.or(e).map(|x| x.source.clone()),
            };
            r.disagreements = disagreements(&r, skipped, misses_counted);
            ports.push(r);
        }
        self.drops.sort_by_key(|d| d.t_boot_ns);
        (
            ports,
            self.drops,
            self.readers.into_values().collect(),
            series,
        )
    }
}

fn end_throttle(r: &mut PortReport, ns: u64) {
    r.throttled_ns_total = r.throttled_ns_total.saturating_add(ns);
    r.throttled_ns_max = r.throttled_ns_max.max(ns);
}

fn note_flip(r: &mut PortReport, used: u64, limit: u64) {
    r.flip_buffer_peak = r.flip_buffer_peak.max(used);
    if limit > 0 {
        r.flip_buffer_limit = limit;
    }
}

/// Adds `bytes` lost from `first` (mono, boot) to the time of `ev` to the port's drop windows.
#[allow(clippy::too_many_arguments)]
/// One observed loss, to be merged into its port's open window.
struct Window<'a> {
    port: &'a str,
    /// When the loss began (a kernel drop run's first drop).
    first: (u64, u64),
    /// The event that reported it (its time is the last drop).
    ev: &'a Event,
    bytes: u64,
    lost_in: LostIn,
    /// Polling: the loss happened within this interval before the sample (never merged).
    interval_ns: Option<u64>,
}

/// Extends the `open` window by `w` when it follows within [`DROP_GAP_NS`], else closes it
/// into `drops` and opens a new one.
fn add_window(open: &mut Option<DropWindow>, drops: &mut Vec<DropWindow>, w: Window) {
    let coarse = w.interval_ns.is_some();
    if let Some(o) = open {
        if !coarse && w.first.0.saturating_sub(o.end_mono_ns) <= DROP_GAP_NS {
            o.bytes = o.bytes.saturating_add(w.bytes);
            o.end_mono_ns = w.ev.mono_ns;
            o.end_boot_ns = w.ev.boot_ns;
            return;
        }
    }
    if let Some(o) = open.take() {
        drops.push(o);
    }
    *open = Some(DropWindow {
        port: w.port.to_string(),
        t_mono_ns: w.first.0,
        t_boot_ns: w.first.1,
        end_mono_ns: w.ev.mono_ns,
        end_boot_ns: w.ev.boot_ns,
        bytes: w.bytes,
        lost_in: w.lost_in,
        coarse,
        interval_ns: w.interval_ns.unwrap_or(0),
        cause: None,
        chain: None,
    });
}

/// Where the trace and the kernel's own counters disagree, and the likely reason.
fn disagreements(r: &PortReport, skipped: u64, misses_counted: bool) -> Vec<String> {
    let Some(d) = r.kernel_counters.delta else {
        return if r.kernel_counters.start.is_some() {
            vec!["no end counters: the recording did not stop cleanly".into()]
        } else {
            vec![]
        };
    };
    let mut out = Vec::new();
    if r.bytes_dropped != d.buf_overrun {
        let kprobe = r.method.as_deref().is_some_and(|m| m.starts_with("kprobe"));
        let missing = d.buf_overrun.saturating_sub(r.bytes_dropped);
        let before_hooks = r.kernel_counters.during_attach.map_or(0, |a| a.buf_overrun);
        let why = if r.method.is_none() {
            "no drop hook attached on this kernel".to_string()
        } else if missing > 0 && missing <= before_hooks {
            format!(
                "{before_hooks} bytes were dropped while the hooks were being attached (the \
                 kernel's counters moved between the read before attaching and the one after), \
                 before the drop hook recorded"
            )
        } else if missing > 0 && kprobe && skipped >= missing {
            format!(
                "the kernel skipped {skipped} calls of the drop hook (a kprobe does not run \
                 inside another kprobe handler, e.g. a UART interrupt arriving while a \
                 task-context serial hook runs, nor while another BPF program runs on that \
                 CPU; fentry, where the kernel allows it, does not skip)"
            )
        } else if missing > 0 && kprobe {
            format!(
                "kprobes skip calls that interrupt another kprobe handler or BPF program on the \
                 same CPU, and {} (fentry, where the kernel allows it, has no such gap)",
                if skipped > 0 || misses_counted {
                    format!(
                        "only {skipped} of them were counted (a return skipped at the end of \
                         the recording is counted only when its thread calls again)"
                    )
                } else {
                    "they were not counted: the recorder could not register its witness kprobe \
                     events (see its log)"
                        .to_string()
                }
            )
        } else if r.bytes_dropped > d.buf_overrun {
            "the driver does not count buf_overrun for every refused byte (e.g. a DMA driver \
             calling tty_insert_flip_string directly)"
                .to_string()
        } else {
            "events were lost (see loss) or the driver drops bytes outside the flip buffer"
                .to_string()
        };
        out.push(format!(
            "bytes dropped {} vs kernel buf_overrun {}: {why}",
            r.bytes_dropped, d.buf_overrun
        ));
    }
    if r.hw_overruns != d.overrun && r.method.as_deref() != Some("poll") {
        out.push(format!(
            "hardware overruns {} vs kernel overrun {}: the kernel counts an overrun even when \
             the port ignores it (IGNPAR/ignore_status_mask), the trace only those inserted",
            r.hw_overruns, d.overrun
        ));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn ev(kind: u16, mono: u64, name: &str, args: &[u64]) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind;
        e.mono_ns = mono;
        e.boot_ns = mono + 1000;
        e.args[..args.len()].copy_from_slice(args);
        e.text[0][..name.len()].copy_from_slice(name.as_bytes());
        e.pid_tgid = (812u64 << 32) | 812;
        e.comm[..3].copy_from_slice(b"cat");
        e
    }

    /// s2idle woken by a byte on the port: the wakeup interrupt's handler runs while the
    /// platform is still entered, or (deferred while devices sleep) once resuming began;
    /// bytes before and after the cycle belong to none.
    #[test]
    fn bytes_in_a_cycle_are_told_by_where_it_was() {
        use crate::analysis::suspend::tests::s3_cycle;
        const MS: u64 = 1_000_000;
        let mut s = SerialStats::default();
        let recv = |t: u64, n: u64| {
            let mut e = ev(
                kind::SERIAL_RECEIVE,
                t,
                "ttyAMA1",
                &[0xa0, n, n, 64, 655360],
            );
            e.boot_ns = t;
            e
        };
        // cycle events at 1..=10 ms: machine_suspend from 7 ms to 8 ms, thaw ends at 10 ms
        let mut evs = s3_cycle(0, 0, 0);
        evs.extend([
            recv(MS / 2, 5),           // before the cycle
            recv(3 * MS + 1, 2),       // suspending
            recv(7 * MS + 500_000, 1), // asleep: the wake byte
            recv(9 * MS + 1, 3),       // resuming
            recv(11 * MS, 7),          // after the cycle
        ]);
        evs.sort_by_key(|e| e.mono_ns);
        for e in &evs {
            s.event(e);
        }
        let rows = s.take_in_cycles();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let (index, r) = &rows[0];
        assert_eq!(*index, 1);
        assert_eq!(
            (
                r.port.as_str(),
                r.received_suspending,
                r.received_asleep,
                r.received_resuming,
                r.dropped
            ),
            ("ttyAMA1", 2, 1, 3, 0)
        );
    }

    pub fn snap(name: &str, rx: u64, bo: u64) -> PortSnapshot {
        PortSnapshot {
            name: name.into(),
            source: "proc".into(),
            mono_ns: 0,
            counters: Counters {
                rx,
                buf_overrun: bo,
                ..Default::default()
            },
        }
    }

    fn probe(name: &str, method: &str) -> ProbeRecord {
        ProbeRecord {
            name: name.into(),
            kind: None,
            attached: true,
            method: Some(method.into()),
            reason: None,
            fields: vec![],
            function: None,
        }
    }

    #[test]
    fn a_readers_first_data_after_each_thaw_is_kept() {
        use crate::analysis::suspend::tests::sr;
        let mut s = SerialStats::default();
        let read = |mono: u64, returned: u64| {
            ev(
                kind::SERIAL_READ,
                mono,
                "ttyS1",
                &[0xb0, 4096, returned, 1_000, 0],
            )
        };
        s.event(&read(1_000_000, 10));
        s.event(&sr("suspend_enter", 0, true, 1_500_000, 1_501_000));
        s.event(&sr("freeze_processes", 0, true, 2_000_000, 2_001_000));
        s.event(&sr("thaw_processes", 0, true, 8_000_000, 8_001_000));
        // an empty read is not yet back at work; the first read with data is, once
        s.event(&read(9_000_000, 0));
        s.event(&read(9_500_000, 4));
        s.event(&read(9_600_000, 4));
        let (_, _, readers, _) = s.finish(&[], &[], &[], &[], &BTreeMap::new(), true);
        assert_eq!(readers[0].back_after_thaw, [(8_001_000, 9_501_000)]);
    }

    #[test]
    fn drops_receives_reads_and_counters() {
        let mut s = SerialStats::default();
        // 100 bytes received, read 5 ms later by pid 812
        s.event(&ev(
            kind::SERIAL_RECEIVE,
            1_000,
            "ttyS1",
            &[0xa0, 100, 100, 4096, 655360],
        ));
        s.event(&ev(
            kind::SERIAL_READ,
            5_001_000,
            "ttyS1",
            &[0xb0, 4096, 100, 4_000_000, 1_001_000],
        ));
        // three 1-byte drops close together, one far later; the last without a name
        for t in [10_000_000, 10_000_100, 10_000_200] {
            s.event(&ev(
                kind::SERIAL_FLIP_DROP,
                t,
                "ttyS1",
                &[0xa0, 1, 0, 655360, 655360, 1],
            ));
        }
        s.event(&ev(
            kind::SERIAL_FLIP_DROP,
            900_000_000,
            "",
            &[0xa0, 10, 4, 655360, 655360, 4],
        ));
        let (ports, drops, readers, _) = s.finish(
            &[probe("serial:flip_buffer_insert", "fexit")],
            &[snap("ttyS1", 0, 0)],
            &[],
            &[snap("ttyS1", 109, 9)],
            &BTreeMap::new(),
            true,
        );
        assert_eq!(ports.len(), 1);
        let p = &ports[0];
        assert_eq!((p.bytes_received, p.bytes_dropped), (100, 9));
        assert_eq!(p.flip_buffer_limit, 655360);
        assert!(p.disagreements.is_empty(), "{:?}", p.disagreements);
        assert_eq!(drops.len(), 2);
        assert_eq!((drops[0].bytes, drops[1].bytes), (3, 6));
        assert_eq!(
            drops[1].port, "ttyS1",
            "name remembered for the port address"
        );
        assert_eq!(readers.len(), 1);
        let r = &readers[0];
        assert_eq!((r.pid, r.comm.as_str(), r.bytes), (812, "cat", 100));
        assert_eq!(r.lag_ns_max, 5_000_000);
        assert_eq!(r.blocked_ns_max, 4_000_000);
    }

    /// Flow control is not loss: a throttled USB-serial port (ftdi_sio, which never counts
    /// buf_overrun) reports its throttles and time throttled, nothing dropped, no
    /// disagreement; a throttle still open at the end counts until the last event.
    #[test]
    fn throttling_is_counted_and_timed_not_lost() {
        const MS: u64 = 1_000_000;
        let mut s = SerialStats::default();
        let throttle = |t: u64, on: u64| ev(kind::SERIAL_THROTTLE, t, "ttyUSB0", &[0xc0, on]);
        let recv = |t: u64, n: u64| ev(kind::SERIAL_RECEIVE, t, "ttyUSB0", &[0xa0, n, n, 0, 0]);
        s.event(&recv(MS, 4000));
        s.event(&throttle(2 * MS, 1));
        s.event(&throttle(3 * MS, 1)); // a repeat while throttled opens nothing new
        s.event(&throttle(12 * MS, 0));
        s.event(&throttle(13 * MS, 0));
        s.event(&throttle(20 * MS, 1));
        s.event(&recv(50 * MS, 62));
        let (ports, drops, _, _) = s.finish(
            &[probe("serial:flip_buffer_insert", "fexit")],
            &[snap("ttyUSB0", 0, 0)],
            &[],
            &[snap("ttyUSB0", 4062, 0)],
            &BTreeMap::new(),
            true,
        );
        let p = &ports[0];
        assert_eq!((p.bytes_received, p.bytes_dropped), (4062, 0));
        assert_eq!(p.throttles, 2);
        assert_eq!(p.throttled_ns_total, 10 * MS + 30 * MS);
        assert_eq!(p.throttled_ns_max, 30 * MS);
        assert!(drops.is_empty() && p.disagreements.is_empty(), "{drops:?}");
    }

    /// A drop run's event on ttyS1 (port 0xa0): `requested` bytes asked in all since its
    /// `first` drop, 100 of them inserted.
    fn drop_run(kind_id: u16, at: u64, first: u64, requested: u64) -> Event {
        ev(
            kind_id,
            at,
            "ttyS1",
            &[0xa0, requested, 100, 0, 0, 4, first, first + 1000],
        )
    }

    /// The ports and drop windows of `s`, its flip-buffer hook attached by fexit.
    fn finish_fexit(s: SerialStats) -> (Vec<PortReport>, Vec<DropWindow>) {
        let (ports, drops, _, _) = s.finish(
            &[probe("serial:flip_buffer_insert", "fexit")],
            &[],
            &[],
            &[],
            &BTreeMap::new(),
            true,
        );
        (ports, drops)
    }

    /// A drop run's checkpoints (`flip_drop_open`) count only when its `flip_drop` never came:
    /// after `kill -9` the trace still holds the flood's last run.
    #[test]
    fn open_drop_runs_count_once_and_survive_a_kill() {
        let finish = |s: SerialStats| {
            let (ports, drops) = finish_fexit(s);
            (ports[0].bytes_dropped, drops.len())
        };
        // checkpointed twice, then closed, then a stale checkpoint read just before the close
        let mut s = SerialStats::default();
        s.event(&drop_run(kind::SERIAL_DROP_OPEN, 2_000, 1_000, 500));
        s.event(&drop_run(kind::SERIAL_DROP_OPEN, 3_000, 1_000, 900));
        s.event(&drop_run(kind::SERIAL_FLIP_DROP, 3_500, 1_000, 1_000));
        s.event(&drop_run(kind::SERIAL_DROP_OPEN, 3_400, 1_000, 950));
        assert_eq!(finish(s), (900, 1));
        // killed: the last checkpoint of the open run is what the trace has
        let mut s = SerialStats::default();
        s.event(&drop_run(kind::SERIAL_FLIP_DROP, 1_500, 1_000, 300));
        s.event(&drop_run(kind::SERIAL_DROP_OPEN, 9_000, 5_000_000_000, 500));
        s.event(&drop_run(kind::SERIAL_DROP_OPEN, 9_900, 5_000_000_000, 800));
        assert_eq!(finish(s), (200 + 700, 2));
    }

    /// A monitor window begins while a run is under way: its events still carry the run's
    /// whole count, and the bytes before the window are not the window's.
    #[test]
    fn a_run_under_way_when_the_trace_began_counts_from_there() {
        let before = [crate::trace::RunBefore {
            port: 0xa0,
            first_mono_ns: 1_000,
            bytes: 400,
        }];
        let mut s = SerialStats::default().with_runs_before(&before);
        s.event(&drop_run(kind::SERIAL_DROP_OPEN, 5_000, 1_000, 700));
        s.event(&drop_run(kind::SERIAL_FLIP_DROP, 6_000, 1_000, 1_000));
        let (ports, drops) = finish_fexit(s);
        // 900 dropped in all, 400 of them before
        assert_eq!((ports[0].bytes_dropped, drops[0].bytes), (500, 500));
    }

    /// One port that dropped 5 bytes in the trace, set beside the kernel's counters read at
    /// start, once attached and at the end.
    fn five_dropped_beside(
        start: PortSnapshot,
        attached: &[PortSnapshot],
        end: PortSnapshot,
    ) -> PortReport {
        let mut s = SerialStats::default();
        s.event(&ev(
            kind::SERIAL_FLIP_DROP,
            1,
            "ttyS1",
            &[0xa0, 5, 0, 0, 0, 4],
        ));
        let (mut ports, _, _, _) = s.finish(
            &[probe("serial:flip_buffer_insert", "fexit")],
            &[start],
            attached,
            &[end],
            &BTreeMap::new(),
            true,
        );
        ports.remove(0)
    }

    #[test]
    fn disagreement_names_a_reason() {
        let p = five_dropped_beside(snap("ttyS1", 0, 0), &[], snap("ttyS1", 5, 2));
        assert_eq!(p.disagreements.len(), 1);
        assert!(p.disagreements[0].contains("DMA"), "{:?}", p.disagreements);
        // the kernel dropped 3 more than the trace, and 3 while the hooks were attaching
        let p = five_dropped_beside(
            snap("ttyS1", 0, 10),
            &[snap("ttyS1", 0, 13)],
            snap("ttyS1", 5, 17),
        );
        let k = &p.kernel_counters;
        assert_eq!(k.during_attach.map(|c| c.buf_overrun), Some(3));
        assert_eq!(k.delta.map(|c| c.buf_overrun), Some(7));
        assert!(
            p.disagreements[0].contains("while the hooks were being attached"),
            "{:?}",
            p.disagreements
        );
    }

    #[test]
    fn polled_counters_are_coarse_drops() {
        let mut s = SerialStats::default();
        let mut e = ev(kind::SERIAL_COUNTERS, 2_000_000_000, "ttyS0", &[]);
        e.args[arg::serial_counters::RX] = 5000;
        e.args[arg::serial_counters::BUF_OVERRUN] = 1200;
        e.args[arg::serial_counters::INTERVAL_NS] = 10_000_000;
        s.event(&e);
        let (ports, drops, _, _) = s.finish(
            &[probe("serial:counters", "poll")],
            &[snap("ttyS0", 0, 0)],
            &[],
            &[snap("ttyS0", 5000, 1200)],
            &BTreeMap::new(),
            true,
        );
        assert!(ports[0].coarse);
        assert_eq!(
            (ports[0].bytes_received, ports[0].bytes_dropped),
            (3800, 1200)
        );
        assert!(ports[0].disagreements.is_empty());
        assert_eq!(drops.len(), 1);
        assert!(drops[0].coarse);
        assert_eq!(drops[0].interval_ns, 10_000_000);
    }
}
