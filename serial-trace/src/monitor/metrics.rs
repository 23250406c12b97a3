//! `monitor --metrics ADDR:PORT`: an OpenMetrics endpoint (`/metrics`) for a fleet's
//! Prometheus. Counters that every event feeds (bytes in and dropped per port, events per
//! kind, loss) are counted on the draining thread in plain integers and published once a
//! second; what needs the analysis (lost wakeups by cause, suspend cycles and resume times,
//! wakeup lateness, drop windows by cause) comes from the window analyses, each finding
//! counted once (`Settled`). Labels are bounded: port, cause, kind, rule; never a pid.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use serial_trace_common::{Event, arg, kind, kind_info};

use crate::analysis::serial::PortNames;
use crate::analysis::{Report, WakeRecord};
use crate::trace::trim_nul;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PortLabel {
    port: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PortCause {
    port: String,
    cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabel {
    cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabel {
    rule: String,
}

/// `serial_trace_build_info`: a gauge at 1, as Prometheus exporters spell build info (an
/// OpenMetrics `info` metric would not parse as Prometheus text, which `promtool` checks).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    kernel: String,
    machine: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds from 1 ms to ~33 s, doubling: resume times and wakeup lateness both.
fn seconds_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every metric the endpoint serves; cheap to clone (each is shared).
#[derive(Clone)]
struct Published {
    received: Family<PortLabel, Counter>,
    dropped: Family<PortLabel, Counter>,
    hw_overruns: Family<PortLabel, Counter>,
    drop_windows: Family<PortCause, Counter>,
    dropped_by_cause: Family<PortCause, Counter>,
    events: Family<KindLabel, Counter>,
    lost_events: Counter,
    lost_wakeups: Family<CauseLabel, Counter>,
    suspend_cycles: Family<KindLabel, Counter>,
    resume: Histograms<KindLabel>,
    wakeup_late: Histogram,
    triggers: Family<RuleLabel, Counter>,
    windows_saved: Counter,
    window_bytes: Gauge,
    own_memory: Gauge,
}

/// What the draining thread counts between two publications.
#[derive(Default)]
struct Pending {
    by_kind: Vec<u64>,
    received: BTreeMap<String, u64>,
    dropped: BTreeMap<String, u64>,
    hw_overruns: BTreeMap<String, u64>,
}

pub struct Metrics {
    published: Published,
    pending: Pending,
    /// Per port address, its name (events after the first may leave it out).
    names: PortNames,
    drop_runs: super::drop_runs::DropRuns,
    settled: Settled,
    /// The recorder's loss as last published (the counter takes differences).
    lost_published: u64,
    /// The ports published so far.
    ports: BTreeSet<String>,
    /// Per polled port, its counters summed and the bytes published as received.
    polled: BTreeMap<String, Polled>,
}

#[derive(Default)]
struct Polled {
    rx: u64,
    bo: u64,
    published: u64,
}

impl Metrics {
    /// Registers every metric and serves them on `addr` from a thread of its own. Binds
    /// before returning: a taken port is an error before anything is attached.
    pub fn serve(addr: SocketAddr) -> Result<Self> {
        let mut registry = Registry::with_prefix("serial_trace");
        let p = Self::families();
        let r = &mut registry;
        r.register_with_unit(
            "serial_received",
            "Bytes the tty layer took from each port's driver into its flip buffer",
            Unit::Bytes,
            p.received.clone(),
        );
        r.register_with_unit(
            "serial_dropped",
            "Bytes each port's flip buffer refused (the kernel's buf_overrun)",
            Unit::Bytes,
            p.dropped.clone(),
        );
        r.register(
            "serial_hw_overruns",
            "UART FIFO overruns each port's driver flagged (each at least one byte lost)",
            p.hw_overruns.clone(),
        );
        r.register(
            "serial_drop_windows",
            "Drop windows per port by the cause the analysis found (suspend_ordering, \
             frozen_reader, ...; unknown where none)",
            p.drop_windows.clone(),
        );
        r.register_with_unit(
            "serial_dropped_by_cause",
            "Bytes lost per port by the cause the analysis found for their drop window \
             (counted once the window has ended)",
            Unit::Bytes,
            p.dropped_by_cause.clone(),
        );
        r.register("events", "Events recorded, by kind", p.events.clone());
        r.register(
            "events_lost",
            "Events the kernel could not hand over (ring buffer full) or skipped (recursion)",
            p.lost_events.clone(),
        );
        r.register(
            "lost_wakeups",
            "Task wakeups far later than asked, by cause",
            p.lost_wakeups.clone(),
        );
        r.register(
            "suspend_cycles",
            "Suspend cycles ended, by sleep state",
            p.suspend_cycles.clone(),
        );
        r.register_with_unit(
            "resume",
            "Resume time of each suspend cycle: platform back to tasks thawed",
            Unit::Seconds,
            p.resume.clone(),
        );
        r.register_with_unit(
            "wakeup_lateness",
            "How long after it was due each task-visible timer wakeup ran",
            Unit::Seconds,
            p.wakeup_late.clone(),
        );
        r.register(
            "triggers_fired",
            "Times each --trigger rule fired",
            p.triggers.clone(),
        );
        r.register(
            "windows_saved",
            "Windows written to the output directory",
            p.windows_saved.clone(),
        );
        r.register_with_unit(
            "window",
            "Compressed bytes the in-memory window holds",
            Unit::Bytes,
            p.window_bytes.clone(),
        );
        r.register_with_unit(
            "recorder_resident",
            "The recorder's own resident memory, the ring buffer's apart",
            Unit::Bytes,
            p.own_memory.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
                kernel: crate::kernel::sysinfo::kernel_release(),
                machine: crate::kernel::sysinfo::machine(),
            })
            .set(1);
        r.register(
            "build_info",
            "serial-trace's version and the kernel it runs on (always 1)",
            build,
        );
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("--metrics: cannot listen on {addr}"))?;
        listener
            .set_nonblocking(true)
            .context("--metrics: the listening socket")?;
        let registry = Arc::new(registry);
        std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || super::http::serve(listener, registry))
            .context("starting the metrics thread")?;
        Ok(Self {
            published: p,
            pending: Pending::default(),
            names: PortNames::default(),
            drop_runs: super::drop_runs::DropRuns::default(),
            settled: Settled::new(0),
            lost_published: 0,
            ports: BTreeSet::new(),
            polled: BTreeMap::new(),
        })
    }

    /// Every metric, empty and unregistered.
    fn families() -> Published {
        Published {
            received: Family::default(),
            dropped: Family::default(),
            hw_overruns: Family::default(),
            drop_windows: Family::default(),
            dropped_by_cause: Family::default(),
            events: Family::default(),
            lost_events: Counter::default(),
            lost_wakeups: Family::default(),
            suspend_cycles: Family::default(),
            resume: Family::new_with_constructor(seconds_buckets),
            wakeup_late: seconds_buckets(),
            triggers: Family::default(),
            windows_saved: Counter::default(),
            window_bytes: Gauge::default(),
            own_memory: Gauge::default(),
        }
    }

    /// The recording began at `boot_ns`, counting `ports`: findings are counted from then,
    /// and each port's counters show from the start, at 0 until bytes come.
    pub fn start_at(&mut self, boot_ns: u64, ports: &[String]) {
        self.settled = Settled::new(boot_ns);
        for port in ports {
            self.pending.received.entry(port.clone()).or_default();
        }
    }

    /// Every event the monitor records: counted, published at the next checkpoint.
    pub fn event(&mut self, ev: &Event) {
        let k = usize::from(ev.kind);
        if k >= self.pending.by_kind.len() {
            self.pending.by_kind.resize(k + 1, 0);
        }
        self.pending.by_kind[k] += 1;
        match ev.kind {
            kind::SERIAL_RECEIVE => {
                use arg::serial_receive as a;
                let name = self.names.of(ev, ev.args[a::PORT]);
                *self.pending.received.entry(name).or_default() += ev.args[a::ACCEPTED];
            }
            kind::SERIAL_DROP_OPEN | kind::SERIAL_FLIP_DROP => {
                use arg::serial_flip_drop as a;
                let name = self.names.of(ev, ev.args[a::PORT]);
                let grew = self.drop_runs.event(ev);
                if grew > 0 {
                    *self.pending.dropped.entry(name).or_default() += grew;
                }
            }
            kind::SERIAL_RX_ERROR => {
                use arg::serial_rx_error as a;
                let name = self.names.of(ev, ev.args[a::PORT]);
                if ev.args[a::STATUS] & ev.args[a::OVERRUN_MASK] != 0 {
                    *self.pending.hw_overruns.entry(name).or_default() += 1;
                }
            }
            kind::SERIAL_COUNTERS => {
                // the polling fallback: the kernel's own counts, sampled
                use arg::serial_counters as a;
                let name = String::from_utf8_lossy(trim_nul(&ev.text[0])).into_owned();
                let bo = ev.args[a::BUF_OVERRUN];
                *self.pending.dropped.entry(name.clone()).or_default() += bo;
                // received = all rx − all bo, as the analysis takes it: one sample's rx and
                // bo are read a moment apart, so a sample may hold a drop whose rx is in the
                // next, and rx − bo per sample would count it as received too
                let p = self.polled.entry(name.clone()).or_default();
                p.rx += ev.args[a::RX];
                p.bo += bo;
                *self.pending.hw_overruns.entry(name).or_default() += ev.args[a::OVERRUN];
            }
            _ => {}
        }
    }

    /// At each checkpoint: what the draining thread counted, the loss so far (ring and
    /// recursion), the window's size and the recorder's own memory.
    pub fn publish(&mut self, lost_total: u64, window_bytes: u64, own_kb: Option<u64>) {
        let p = &self.published;
        let mut pending = std::mem::take(&mut self.pending);
        for (port, c) in &mut self.polled {
            let accepted = c.rx.saturating_sub(c.bo);
            if accepted > c.published {
                *pending.received.entry(port.clone()).or_default() += accepted - c.published;
                c.published = accepted;
            }
        }
        // every port met shows in each family, at 0 until it drops
        for port in pending
            .received
            .keys()
            .chain(pending.dropped.keys())
            .chain(pending.hw_overruns.keys())
        {
            if !self.ports.contains(port) {
                self.ports.insert(port.clone());
                let l = PortLabel { port: port.clone() };
                let _ = p.received.get_or_create(&l);
                let _ = p.dropped.get_or_create(&l);
                let _ = p.hw_overruns.get_or_create(&l);
            }
        }
        for (k, n) in pending.by_kind.iter().enumerate().filter(|(_, n)| **n > 0) {
            let kind = kind_info(k as u16).map_or_else(|| format!("kind_{k}"), |i| i.name.into());
            p.events.get_or_create(&KindLabel { kind }).inc_by(*n);
        }
        for (family, counts) in [
            (&p.received, pending.received),
            (&p.dropped, pending.dropped),
            (&p.hw_overruns, pending.hw_overruns),
        ] {
            for (port, n) in counts {
                family.get_or_create(&PortLabel { port }).inc_by(n);
            }
        }
        if lost_total > self.lost_published {
            p.lost_events.inc_by(lost_total - self.lost_published);
            self.lost_published = lost_total;
        }
        p.window_bytes.set(window_bytes as i64);
        if let Some(kb) = own_kb {
            p.own_memory.set((kb * 1024) as i64);
        }
    }

    /// The boot time up to which the window's findings are counted: an analysis needs only
    /// the wakeups after it.
    pub fn counted_until(&self) -> u64 {
        self.settled.counted_until
    }

    pub fn trigger_fired(&self, rule: &str) {
        self.published
            .triggers
            .get_or_create(&RuleLabel { rule: rule.into() })
            .inc();
    }

    pub fn window_saved(&self) {
        self.published.windows_saved.inc();
    }

    /// What an analysis of the whole window found, each finding counted once.
    pub fn absorb(&mut self, r: &Report, wakeups: &[WakeRecord]) {
        let p = &self.published;
        let Some(range) = self.settled.next(r) else {
            return;
        };
        for l in r
            .lost_wakeups
            .iter()
            .filter(|l| range.contains(&l.actual_boot_ns))
        {
            p.lost_wakeups
                .get_or_create(&CauseLabel {
                    cause: l.cause.as_str().into(),
                })
                .inc();
        }
        for c in r
            .suspend_cycles
            .iter()
            .filter(|c| c.complete && range.contains(&c.end_boot_ns))
        {
            let kind = KindLabel {
                kind: c.state.map_or("unknown", |s| s.as_str()).into(),
            };
            p.suspend_cycles.get_or_create(&kind).inc();
            if let Some(ns) = c.resume_ns {
                p.resume.get_or_create(&kind).observe(ns as f64 / 1e9);
            }
        }
        for w in wakeups.iter().filter(|w| range.contains(&w.wake_boot_ns)) {
            p.wakeup_late.observe(w.wake_late_ns.max(0) as f64 / 1e9);
        }
        for d in &r.drops {
            if self
                .settled
                .drop_window_new(&d.port, d.t_boot_ns, d.end_boot_ns, range.end)
            {
                let labels = PortCause {
                    port: d.port.clone(),
                    cause: d.cause.map_or("unknown", |c| c.as_str()).into(),
                };
                p.drop_windows.get_or_create(&labels).inc();
                p.dropped_by_cause.get_or_create(&labels).inc_by(d.bytes);
            }
        }
    }
}

/// How long after a window's last event its findings are taken as final: a lost wakeup is
/// known when its task runs, a cycle when it ends, but a drop window still grows while drops
/// go on.
const SETTLE_NS: u64 = 5_000_000_000;

/// Which stretch of boot time the window analyses have counted: each analysis counts the
/// findings after the last one's range and up to its own end less [`SETTLE_NS`].
struct Settled {
    counted_until: u64,
    /// Drop windows counted, by (port, start), until they leave every window.
    drops: BTreeSet<(String, u64)>,
}

impl Settled {
    fn new(start_boot_ns: u64) -> Self {
        Self {
            counted_until: start_boot_ns,
            drops: BTreeSet::new(),
        }
    }

    /// The half-open range of boot time this analysis counts, if any is new.
    fn next(&mut self, r: &Report) -> Option<std::ops::Range<u64>> {
        let until = r.timeline.end_boot_ns.saturating_sub(SETTLE_NS);
        if until <= self.counted_until {
            return None;
        }
        let range = self.counted_until..until;
        self.counted_until = until;
        // drop windows that began before every window still held can no longer be seen
        let oldest = r.timeline.start_boot_ns;
        self.drops.retain(|(_, start)| *start >= oldest);
        Some(range)
    }

    /// Whether a drop window ended by `settled` and was not counted yet.
    fn drop_window_new(&mut self, port: &str, start: u64, end: u64, settled: u64) -> bool {
        end < settled && self.drops.insert((port.to_string(), start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn window(start: u64, end: u64) -> Report {
        let mut r = Report::default();
        r.timeline.start_boot_ns = start;
        r.timeline.end_boot_ns = end;
        r
    }

    /// The analyses overlap (each is the whole window, a second later): every moment is
    /// counted by one of them, once it is SETTLE_NS old, and a drop window once.
    #[test]
    fn overlapping_analyses_count_each_finding_once() {
        let mut s = Settled::new(2 * S);
        assert_eq!(s.next(&window(2 * S, 6 * S)), None);
        assert_eq!(s.next(&window(2 * S, 10 * S)), Some(2 * S..5 * S));
        assert_eq!(s.next(&window(2 * S, 10 * S)), None);
        assert_eq!(s.next(&window(3 * S, 11 * S)), Some(5 * S..6 * S));
        assert!(s.drop_window_new("ttyS1", 4 * S, 5 * S, 6 * S));
        assert!(!s.drop_window_new("ttyS1", 4 * S, 5 * S, 6 * S));
        // one still growing (ending after the settled time) waits
        assert!(!s.drop_window_new("ttyS1", 5 * S, 7 * S, 6 * S));
        assert!(s.drop_window_new("ttyS1", 5 * S, 7 * S, 8 * S));
        // windows that began before every window still held are forgotten
        assert_eq!(s.next(&window(5 * S, 20 * S)), Some(6 * S..15 * S));
        assert_eq!(s.drops.len(), 1);
    }

    fn counters(rx: u64, bo: u64) -> Event {
        use arg::serial_counters as a;
        let mut ev = Event::ZERO;
        ev.kind = kind::SERIAL_COUNTERS;
        ev.args[a::RX] = rx;
        ev.args[a::BUF_OVERRUN] = bo;
        ev.text[0][..5].copy_from_slice(b"ttyS0");
        ev
    }

    /// Polled counters: a sample whose bo holds a drop whose rx came in the next one is not a
    /// received byte (seen: one byte too many against the kernel's rx − bo, host test).
    #[test]
    fn polled_bytes_received_are_all_rx_less_all_bo() {
        let mut m = Metrics {
            published: Metrics::families(),
            pending: Pending::default(),
            names: PortNames::default(),
            drop_runs: super::super::drop_runs::DropRuns::default(),
            settled: Settled::new(0),
            lost_published: 0,
            ports: BTreeSet::new(),
            polled: BTreeMap::new(),
        };
        m.event(&counters(10, 0));
        m.event(&counters(5, 6));
        m.publish(0, 0, None);
        m.event(&counters(1, 0));
        m.publish(0, 0, None);
        let label = PortLabel {
            port: "ttyS0".into(),
        };
        assert_eq!(m.published.received.get_or_create(&label).get(), 16 - 6);
        assert_eq!(m.published.dropped.get_or_create(&label).get(), 6);
    }
}
