//! The analysis behind `serial-trace report`: one streaming pass over a trace hands every event
//! to each analyser (`pm_state`, `suspend`, `timers`, `serial`, `liveness`), then builds the
//! typed [`Report`] (`model.rs`). Pure: no kernel access and no text formatting for humans
//! (renderers live in `crate::render`); tested on synthetic event streams.

/// A closed set of names, serialized as the strings the JSON contract documents
/// (`docs/report-json.md`). Renderers print `as_str()`; comparisons are on the variants.
/// The `#[default]` variant only serves `Default` for building fixtures (xtask's tests):
/// the analysis always sets the value.
macro_rules! names {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $var),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$var => $s),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // pad, not write_str: `{:<10}` in a table must align a name too
                f.pad(self.as_str())
            }
        }
    };
}

pub(crate) mod causes;
mod liveness;
pub mod model;
mod pm_state;
pub(crate) mod port_settings;
pub(crate) mod port_timing;
pub(crate) mod risks;
pub(crate) mod serial;
pub(crate) mod suspend;
pub(crate) mod timeline;
pub(crate) mod timers;

use std::collections::BTreeMap;
use std::io::Read;

use serial_trace_common::{Event, kind_info};

use crate::trace::{Frame, Header, OwnedFrame, ProbeRecord, ReadEnd, TraceReader, Trailer};
pub use model::*;
/// Below this much boottime − monotonic growth a cycle stopped no clock.
pub use timers::CLOCK_STOPPED_MIN_NS;

/// Rows kept in per-callback and per-task tables.
const TOP_ROWS: usize = 20;

/// Turns the sequence of (time, cumulative lost) checkpoints into windows of loss.
fn loss_windows(
    start_boot: u64,
    checkpoints: &[(u64, u64)],
    cycles: &[SuspendCycle],
) -> Vec<LossWindow> {
    let (mut prev_at, mut prev_lost) = (start_boot, 0u64);
    let mut out = Vec::new();
    for &(at, lost) in checkpoints {
        if lost > prev_lost {
            let suspend_cycle = cycles
                .iter()
                .find(|c| c.start_boot_ns <= at && c.end_boot_ns >= prev_at)
                .map(|c| c.index);
            out.push(LossWindow {
                from_boot_ns: prev_at,
                to_boot_ns: at,
                lost: lost - prev_lost,
                suspend_cycle,
            });
            prev_lost = lost;
        }
        prev_at = at;
    }
    out
}

/// Reads a whole trace and analyses it. Fails only if the trace cannot be read at all.
#[cfg(test)]
pub fn analyze<R: Read + Send>(reader: TraceReader<R>) -> std::io::Result<Report> {
    analyze_with_wakeups(reader, false).map(|(r, _)| r)
}

/// [`analyze`], also returning every task-visible wakeup when `want_wakeups` is set (memory
/// then grows with the number of wakeups).
///
/// Reading (LZ4 and the varint decoding, half of the CPU time) runs on a thread of its own, one
/// frame ahead of the analysis: memory grows by those frames, not with the trace.
pub fn analyze_with_wakeups<R: Read + Send>(
    reader: TraceReader<R>,
    want_wakeups: bool,
) -> std::io::Result<(Report, Vec<WakeRecord>)> {
    analyze_with_wakeups_since(reader, want_wakeups.then_some(0))
}

/// [`analyze_with_wakeups`], keeping only the wakeups at or after boot time `since` (`None`:
/// none).
pub fn analyze_with_wakeups_since<R: Read + Send>(
    reader: TraceReader<R>,
    since: Option<u64>,
) -> std::io::Result<(Report, Vec<WakeRecord>)> {
    let header = reader.header().clone();
    let mut pass = Pass::new(&header, since);
    let reader = std::thread::scope(|s| {
        let (frames, decoded) = std::sync::mpsc::sync_channel::<OwnedFrame>(FRAMES_AHEAD);
        let (recycle, spares) = std::sync::mpsc::channel::<Vec<Event>>();
        let reading = s.spawn(move || {
            let mut reader = reader;
            // a send fails only when the analysis is gone, which it is not before the end
            while let Some(f) = reader.next_owned(spares.try_recv().unwrap_or_default())? {
                if frames.send(f).is_err() {
                    break;
                }
            }
            Ok::<_, std::io::Error>(reader)
        });
        for f in decoded {
            match f {
                OwnedFrame::Events(events) => {
                    pass.frame(Frame::Events(&events));
                    let _ = recycle.send(events);
                }
                OwnedFrame::Symbols(s) => pass.frame(Frame::Symbols(s)),
                OwnedFrame::Loss(l) => pass.frame(Frame::Loss(l)),
                OwnedFrame::Trailer(t) => pass.frame(Frame::Trailer(t)),
                OwnedFrame::Unknown(t) => pass.frame(Frame::Unknown(t)),
            }
        }
        reading.join().expect("the trace reading thread panicked")
    })?;
    let damage = reader.damage().clone();
    let (end, unread_bytes) = match reader.end() {
        Some(ReadEnd::Clean) | None => (TraceEnd::Clean, 0),
        Some(ReadEnd::Truncated { cut_bytes, .. }) => (TraceEnd::Truncated, *cut_bytes),
        Some(ReadEnd::Corrupt { unread_bytes, .. }) => (TraceEnd::Corrupt, *unread_bytes),
    };
    let trace_end = TraceEndInfo {
        end,
        unread_bytes,
        damaged_regions: damage.regions,
        damaged_bytes: damage.bytes,
    };
    Ok(pass.finish(header, trace_end))
}

/// Decoded frames waiting between the reading thread and the analysis: none (a hand-over), so
/// at most three frames' events exist at once (one decoding, one analysed, one on its way back).
/// A 1 MiB frame holds ~40,000 events, 7 MB decoded; one more frame in flight bought no speed.
const FRAMES_AHEAD: usize = 0;

/// How reading the file ended, for [`TraceInfo`].
struct TraceEndInfo {
    end: TraceEnd,
    unread_bytes: u64,
    damaged_regions: u64,
    damaged_bytes: u64,
}

/// The one pass over a trace: every event to each analyser, loss and symbol frames kept.
struct Pass {
    start_boot: u64,
    /// Events per kind id (a vector indexed by id: a tree lookup per event cost a tenth of
    /// the analysis).
    by_kind: Vec<u64>,
    total: u64,
    last_boot: u64,
    lost: u64,
    trailer: Option<Trailer>,
    symbols: BTreeMap<u64, String>,
    timers: timers::TimerStats,
    suspend: suspend::SuspendStats,
    liveness: liveness::LivenessStats,
    serial: serial::SerialStats,
    misses: BTreeMap<String, u64>,
    misses_counted: bool,
    unknown_frames: Vec<u8>,
    /// (boottime, cumulative events lost) at each loss checkpoint.
    checkpoints: Vec<(u64, u64)>,
    lateness: Series,
}

impl Pass {
    fn new(header: &Header, wakeups_since: Option<u64>) -> Self {
        let mut timers = timers::TimerStats::new(header.wake_functions.clone())
            .with_task_callbacks(header.task_callbacks.clone());
        if let Some(since) = wakeups_since {
            timers.wake_log = Some(Vec::new());
            timers.wake_log_since = since;
        }
        Pass {
            start_boot: header.start.boot_ns,
            by_kind: Vec::new(),
            total: 0,
            last_boot: header.start.boot_ns,
            lost: 0,
            trailer: None,
            symbols: BTreeMap::new(),
            timers,
            suspend: suspend::SuspendStats::default(),
            liveness: liveness::LivenessStats::default(),
            serial: serial::SerialStats::default()
                .with_ldisc_runs(header.probes.iter().any(|p| {
                    p.attached && p.kind == Some(serial_trace_common::kind::WORKQUEUE_EXECUTE_END)
                }))
                .with_runs_before(&header.drop_runs_before),
            misses: BTreeMap::new(),
            misses_counted: false,
            unknown_frames: Vec::new(),
            checkpoints: Vec::new(),
            lateness: Series::default(),
        }
    }

    fn frame(&mut self, frame: Frame) {
        match frame {
            Frame::Events(events) => {
                for ev in events {
                    self.total += 1;
                    let k = usize::from(ev.kind);
                    if k >= self.by_kind.len() {
                        self.by_kind.resize(k + 1, 0);
                    }
                    self.by_kind[k] += 1;
                    self.last_boot = self.last_boot.max(ev.boot_ns);
                    if let Some(late) = self.timers.event(ev) {
                        self.lateness.max(ev.boot_ns, late.max(0) as u64);
                    }
                    self.suspend.event(ev);
                    self.liveness.event(ev);
                    self.serial.event(ev);
                }
            }
            Frame::Symbols(s) => self.symbols.extend(s.into_iter().map(|s| (s.addr, s.name))),
            Frame::Loss(l) => {
                if let Some(t) = l.port_timing {
                    self.serial.kernel_timing(t);
                }
                self.lost = self.lost.max(l.lost_total);
                self.checkpoints.push((l.at.boot_ns, l.lost_total));
                self.misses = l.recursion_misses;
                self.misses_counted = l.misses_counted;
            }
            Frame::Trailer(t) => self.trailer = Some(t),
            Frame::Unknown(ty) => self.unknown_frames.push(ty),
        }
    }

    /// The trailer's totals are the last word on loss: it was written after the last event.
    fn take_trailer_totals(&mut self) {
        let Some(t) = &self.trailer else {
            return;
        };
        self.checkpoints.push((t.end.boot_ns, t.lost_total));
        self.lost = self.lost.max(t.lost_total);
        self.last_boot = self.last_boot.max(t.end.boot_ns);
        if t.misses_counted {
            self.misses = t.recursion_misses.clone();
            self.misses_counted = true;
        }
    }

    fn finish(mut self, header: Header, end: TraceEndInfo) -> (Report, Vec<WakeRecord>) {
        self.timers.end_of_trace();
        self.take_trailer_totals();
        let trailer = self.trailer.take();
        let no_end = Vec::new();
        let in_cycles = self.serial.take_in_cycles();
        let timing = self.serial.take_timing();
        let (mut ports, mut drops, readers, port_series) = self.serial.finish(
            &header.probes,
            &header.ports_start,
            &header.ports_attached,
            trailer.as_ref().map_or(&no_end, |t| &t.ports_end),
            &self.misses,
            self.misses_counted,
        );
        port_settings::attach_setups(&mut ports, &header.port_setups);
        timing.attach(&mut ports, &header.port_setups);
        let wake_log = self.timers.wake_log.take().unwrap_or_default();
        let wakeup_series = std::mem::take(&mut self.timers.wake_series);
        let lost_wakeups = self.timers.take_lost();
        let mut suspend_cycles = self.suspend.finish(
            self.liveness.finish(),
            trailer.as_ref().and_then(|t| t.pm_wakeup_irq),
        );
        for (index, row) in in_cycles {
            // the power analysers number cycles alike, from the same events
            if let Some(c) = suspend_cycles.iter_mut().find(|c| c.index == index) {
                c.serial.push(row);
            }
        }
        causes::attribute(&mut drops, &ports, &readers, &suspend_cycles);
        let risks = risks::find(header.system.as_ref(), &ports, &suspend_cycles);
        let report = Report {
            schema: SCHEMA.to_string(),
            kernel: KernelInfo {
                release: header.kernel_release,
                version: header.kernel_version,
                machine: header.machine,
                hostname: header.hostname,
            },
            system: header.system,
            risks,
            trace: trace_info(
                header.tool,
                header.start.realtime_ns,
                &end,
                trailer.as_ref(),
                self.unknown_frames,
            ),
            duration_ns: self.last_boot.saturating_sub(self.start_boot),
            events: EventCounts {
                total: self.total,
                lost: self.lost,
                lost_complete: trailer.is_some(),
                recursion_misses: self.misses,
                misses_counted: self.misses_counted,
                loss_windows: loss_windows(self.start_boot, &self.checkpoints, &suspend_cycles),
                state_losses: trailer
                    .as_ref()
                    .map(|t| t.state_losses.clone())
                    .unwrap_or_default(),
                by_kind: kind_names(self.by_kind),
            },
            probes: header.probes.into_iter().map(ProbeRow::from).collect(),
            timers: self.timers.summary(&self.symbols, TOP_ROWS),
            lost_wakeups,
            suspend_cycles,
            ports,
            drops,
            readers,
            timeline: Timeline {
                bucket_ns: timeline::BUCKET_NS,
                start_boot_ns: self.start_boot,
                end_boot_ns: self.last_boot,
                ports: port_series,
                timer_lateness_max: self.lateness,
                wakeups: wakeup_series,
            },
            scope: None,
        };
        (report, wake_log)
    }
}

fn trace_info(
    tool: String,
    start_realtime_ns: u64,
    end: &TraceEndInfo,
    trailer: Option<&Trailer>,
    unknown_frame_types: Vec<u8>,
) -> TraceInfo {
    TraceInfo {
        tool,
        end: end.end,
        unread_bytes: end.unread_bytes,
        damaged_regions: end.damaged_regions,
        damaged_bytes: end.damaged_bytes,
        stopped_by: trailer.map(|t| t.stopped_by.clone()),
        recorder_error: trailer.and_then(|t| t.error.clone()),
        start_realtime_ns,
        recorder_max_rss_kb: trailer.and_then(|t| t.recorder_max_rss_kb),
        recorder_rss_end_kb: trailer.and_then(|t| t.recorder_rss_end_kb),
        recorder_rss_start_kb: trailer.and_then(|t| t.recorder_rss_start_kb),
        recorder_memory: trailer.and_then(|t| t.recorder_memory),
        saved_by: trailer.and_then(|t| t.saved_by.as_deref().cloned()),
        unknown_frame_types,
    }
}

/// Event counts by kind id, keyed by the kind's name (`kind_N` for one this build lacks).
fn kind_names(by_kind: Vec<u64>) -> BTreeMap<String, u64> {
    (0u16..)
        .zip(by_kind)
        .filter(|&(_, n)| n > 0)
        .map(|(k, n)| {
            let name = kind_info(k).map_or_else(|| format!("kind_{k}"), |i| i.name.into());
            (name, n)
        })
        .collect()
}

impl From<ProbeRecord> for ProbeRow {
    fn from(p: ProbeRecord) -> Self {
        ProbeRow {
            name: p.name,
            attached: p.attached,
            method: p.method,
            function: p.function,
            reason: p.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{render_json, render_text};
    use crate::trace::{LossRecord, Symbol, TraceReader, TraceWriter, Trailer, sample_header};
    use serial_trace_common::Event;

    fn synthetic_trace(with_trailer: bool) -> Vec<u8> {
        let mut w = TraceWriter::new(Vec::new(), &sample_header()).unwrap();
        let base = 5_000_000_000i64;
        for i in 0..1000i64 {
            let mut s =
                timers::tests::start(0xa000 + (i as u64 % 7), base + i * 1_000_000, 0xf1, 77);
            s.mono_ns = (base + i * 1_000_000) as u64;
            s.boot_ns = s.mono_ns + 10;
            w.push(&s).unwrap();
            let mut e = timers::tests::expire(
                0xa000 + (i as u64 % 7),
                base + i * 1_000_000 + 20_000 + i * 10,
                0xf1,
            );
            e.mono_ns = s.mono_ns + 1_000_000;
            e.boot_ns = e.mono_ns + 10;
            w.push(&e).unwrap();
        }
        for e in suspend::tests::s3_cycle(7_000_000_000, 10, 3_000_000_000) {
            w.push(&e).unwrap();
        }
        w.write_symbols(&[Symbol {
            addr: 0xf1,
            name: "hrtimer_wakeup".into(),
        }])
        .unwrap();
        w.write_loss(&LossRecord {
            lost_total: 3,
            ..Default::default()
        })
        .unwrap();
        if !with_trailer {
            // one more event after the loss checkpoint: the frame a kill would cut
            let mut late = Event::ZERO;
            late.kind = serial_trace_common::kind::TIMER_CANCEL;
            w.push(&late).unwrap();
            w.flush().unwrap();
            return w.get_ref().clone();
        }
        let mut end = sample_header().start;
        end.boot_ns = 12_000_000_000;
        w.finish(&Trailer {
            end,
            events_written: 2010,
            lost_total: 5,
            lost_per_cpu: vec![2, 3],
            stopped_by: "duration".into(),
            error: None,
            ..Default::default()
        })
        .unwrap()
    }

    /// A damaged or hand-made trace may hold any count: sums stop at `u64::MAX` instead of
    /// ending the report (found by fuzzing; debug builds panic on overflow).
    #[test]
    fn counts_near_the_limit_do_not_end_the_report() {
        use crate::trace::{Buckets, LdiscTotals, PortTimingTotals};
        use serial_trace_common::port_aggregates::LdiscCounts;
        use serial_trace_common::{arg, kind};
        let port = |kind: u16, mono: u64, args: &[u64]| {
            let mut e = Event::ZERO;
            (e.kind, e.mono_ns, e.boot_ns) = (kind, mono, mono);
            e.args[..args.len()].copy_from_slice(args);
            e.text[0][..5].copy_from_slice(b"ttyS1");
            e
        };
        let mut w = TraceWriter::new(Vec::new(), &sample_header()).unwrap();
        let huge = u64::MAX / 2 + 1;
        for t in 1..=2 {
            w.push(&port(
                kind::SERIAL_RECEIVE,
                t * 1_000,
                &[0xa0, huge, huge, 4096, 655360],
            ))
            .unwrap();
            w.push(&port(
                kind::SERIAL_FLIP_DROP,
                t * 1_000 + 500,
                &[0xa0, huge, 0, 655360, 655360, 1],
            ))
            .unwrap();
            let mut c = port(kind::SERIAL_COUNTERS, t * 2_000_000_000, &[]);
            c.args[arg::serial_counters::RX] = huge;
            c.args[arg::serial_counters::BUF_OVERRUN] = huge;
            c.args[arg::serial_counters::OVERRUN] = huge;
            c.args[arg::serial_counters::INTERVAL_NS] = 10_000_000;
            w.push(&c).unwrap();
        }
        // the same work item twice, a bucket twice: the kernel's totals, merged
        let ldisc = LdiscTotals {
            work: 0xc0,
            port: "ttyS1".into(),
            counts: LdiscCounts {
                runs: huge,
                receives_in_runs: huge,
                ..Default::default()
            },
            delay_ns: Buckets(vec![(3, huge), (3, huge)]),
            run_ns: Buckets(vec![(3, huge), (4, huge)]),
        };
        w.write_loss(&LossRecord {
            port_timing: Some(PortTimingTotals {
                irqs: vec![],
                ldisc: vec![ldisc.clone(), ldisc],
            }),
            ..Default::default()
        })
        .unwrap();
        let trace = w
            .finish(&Trailer {
                lost_total: u64::MAX,
                recursion_misses: [("a".into(), u64::MAX), ("b".into(), 1)].into(),
                stopped_by: "signal".into(),
                ..Default::default()
            })
            .unwrap();
        let (r, _) = analyze_with_wakeups(TraceReader::new(&trace[..]).unwrap(), true).unwrap();
        assert_eq!(r.events.all_lost(), u64::MAX);
        assert_eq!(
            (r.ports[0].bytes_dropped, r.ports[0].hw_overruns),
            (u64::MAX, u64::MAX)
        );
        render_text(&r, true);
        render_json(&r);
        crate::render::render_html(&r);
        crate::render::render_timeline_svg(&r, 640, 480);
        crate::check::run(&r, &["drops=0".into(), "lost_events=0".into()]).unwrap();
        let again = TraceReader::new(&trace[..]).unwrap();
        crate::render::write_trace_events(&r, again, std::io::sink()).unwrap();
    }

    #[test]
    fn loss_windows_point_at_the_freeze() {
        let mut s = suspend::SuspendStats::default();
        for e in suspend::tests::s3_cycle(10_000_000_000, 0, 5_000_000_000) {
            s.event(&e);
        }
        let cycles = s.finish(vec![], None);
        // checkpoints every second, none while frozen; loss appears across the cycle and later
        let cp = [
            (9_000_000_000, 0),
            (10_000_000_000, 0),
            (16_100_000_000, 40),
            (17_000_000_000, 40),
            (18_000_000_000, 45),
        ];
        let w = loss_windows(8_000_000_000, &cp, &cycles);
        assert_eq!(w.len(), 2);
        assert_eq!(
            (
                w[0].from_boot_ns,
                w[0].to_boot_ns,
                w[0].lost,
                w[0].suspend_cycle
            ),
            (10_000_000_000, 16_100_000_000, 40, Some(1))
        );
        assert_eq!((w[1].lost, w[1].suspend_cycle), (5, None));
    }

    #[test]
    fn report_from_synthetic_trace() {
        let bytes = synthetic_trace(true);
        let r = analyze(TraceReader::new(&bytes[..]).unwrap()).unwrap();
        assert_eq!(r.events.total, 2010);
        assert_eq!(r.events.by_kind["hrtimer_start"], 1000);
        assert_eq!(r.events.by_kind["suspend_resume"], 10);
        assert_eq!((r.events.lost, r.events.lost_complete), (5, true));
        assert_eq!(r.timers.count, 1000);
        assert_eq!(r.timers.by_callback[0].name, "hrtimer_wakeup");
        // lateness 20 µs + i·10 ns, i in 0..1000 → max 29.99 µs
        assert!(
            (29_950..=30_010).contains(&r.timers.lateness_ns.max),
            "{:?}",
            r.timers
        );
        assert!(r.timers.lateness_ns.p50 >= 24_900 && r.timers.lateness_ns.p50 <= 25_100);
        assert_eq!(r.suspend_cycles.len(), 1);
        assert_eq!(r.suspend_cycles[0].suspended_ns, 3_000_000_000);
        assert_eq!(r.duration_ns, 12_000_000_000 - 2);
        assert_eq!(r.trace.end, TraceEnd::Clean);
        let json: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
        for key in [
            "schema",
            "kernel",
            "duration_ns",
            "events",
            "probes",
            "timers",
            "suspend_cycles",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert_eq!(json["schema"], SCHEMA);
        assert_eq!(json["events"]["lost"], 5);
        assert_eq!(json["probes"][0]["method"], "tracepoint");
        for p in ["p50", "p90", "p99", "max"] {
            assert!(json["timers"]["lateness_ns"][p].is_u64());
        }
        let text = render_text(&r, false);
        assert!(
            text.contains("hrtimer_wakeup") && text.contains("suspend cycles: 1"),
            "{text}"
        );
    }

    #[test]
    fn a_damaged_middle_is_skipped_and_said() {
        let mut bytes = synthetic_trace(true);
        let whole = analyze(TraceReader::new(&bytes[..]).unwrap()).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x20;
        let r = analyze(TraceReader::new(&bytes[..]).unwrap()).unwrap();
        assert_eq!((r.trace.end, r.trace.damaged_regions), (TraceEnd::Clean, 1));
        assert!(r.trace.damaged_bytes > 0, "{:?}", r.trace);
        assert!(r.events.total < whole.events.total);
        assert!(
            r.trace.stopped_by.is_some(),
            "the trailer after the damage was read"
        );
        assert!(render_text(&r, false).contains("damaged stretch"));
    }

    #[test]
    fn cut_trace_still_reports_with_checkpointed_loss() {
        let bytes = synthetic_trace(false);
        let cut = &bytes[..bytes.len() - 3];
        let r = analyze(TraceReader::new(cut).unwrap()).unwrap();
        assert_eq!(r.trace.end, TraceEnd::Truncated);
        assert!(
            r.trace.unread_bytes > 9 && r.trace.unread_bytes < 64,
            "{:?}",
            r.trace
        );
        assert_eq!((r.events.lost, r.events.lost_complete), (3, false));
        assert_eq!(r.events.total, 2010, "only the cut last frame is lost");
        assert_eq!(r.trace.stopped_by, None);
    }
}

/// `a, b, c`, or `none`: what a trace has, in an error about what it lacks.
fn listed<T: AsRef<str>>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Report {
    /// Keeps the serial sections of the ports named in `names` (ports, drops, readers, each
    /// cycle's per-port rows, the per-port timelines); the timer and suspend sections stay
    /// whole. A name the trace has no port of is an error listing the ports it has.
    pub fn keep_ports(&mut self, names: &[String]) -> Result<(), String> {
        if names.is_empty() {
            return Ok(());
        }
        let known: Vec<&str> = self.ports.iter().map(|p| p.name.as_str()).collect();
        for n in names {
            if !known.contains(&n.as_str()) {
                return Err(format!(
                    "no port {n:?} in this trace; it has {}",
                    listed(&known)
                ));
            }
        }
        let kept = |port: &str| names.iter().any(|n| n == port);
        self.ports.retain(|p| kept(&p.name));
        self.drops.retain(|d| kept(&d.port));
        self.readers.retain(|r| kept(&r.port));
        for c in &mut self.suspend_cycles {
            c.serial.retain(|s| kept(&s.port));
        }
        self.timeline.ports.retain(|p| kept(&p.name));
        self.scope.get_or_insert_with(Scope::default).ports = names.to_vec();
        Ok(())
    }

    /// Cuts the lists to a window: `since`/`until` from the recording's start, and/or suspend
    /// cycle `cycle` (from its start to 1 s after its end, so the wakeups it made late are in):
    /// drops, lost wakeups (by when the task ran, or by the cycle they are blamed on), suspend
    /// cycles and the timelines. Totals and percentiles stay the whole recording's.
    pub fn keep_window(
        &mut self,
        since_ns: Option<u64>,
        until_ns: Option<u64>,
        cycle: Option<u32>,
    ) -> Result<(), String> {
        if since_ns.is_none() && until_ns.is_none() && cycle.is_none() {
            return Ok(());
        }
        let start = self.timeline.start_boot_ns;
        let mut from = since_ns.map_or(0, |s| start.saturating_add(s));
        let mut to = until_ns.map_or(u64::MAX, |u| start.saturating_add(u));
        if let Some(n) = cycle {
            let Some(c) = self.suspend_cycles.iter().find(|c| c.index == n) else {
                let have: Vec<String> = self
                    .suspend_cycles
                    .iter()
                    .map(|c| c.index.to_string())
                    .collect();
                return Err(format!(
                    "no suspend cycle {n} in this trace; it has {}",
                    listed(&have)
                ));
            };
            from = from.max(c.start_boot_ns);
            to = to.min(c.end_boot_ns.saturating_add(1_000_000_000));
        }
        if from > to {
            return Err("the window is empty: --since is after --until (or the cycle)".into());
        }
        let inside = |t: u64| (from..=to).contains(&t);
        let overlaps = |a: u64, b: u64| a <= to && b >= from;
        self.drops.retain(|d| overlaps(d.t_boot_ns, d.end_boot_ns));
        self.lost_wakeups.retain(|l| {
            inside(l.actual_boot_ns) || cycle.is_some_and(|n| l.suspend_cycle == Some(n))
        });
        self.suspend_cycles.retain(|c| {
            overlaps(c.start_boot_ns, c.end_boot_ns) && cycle.is_none_or(|n| c.index == n)
        });
        let t = &mut self.timeline;
        for p in &mut t.ports {
            p.received.crop(from, to);
            p.dropped.crop(from, to);
        }
        t.timer_lateness_max.crop(from, to);
        t.wakeups.crop(from, to);
        let scope = self.scope.get_or_insert_with(Scope::default);
        scope.from_boot_ns = Some(from);
        scope.to_boot_ns = (to != u64::MAX).then_some(to);
        scope.cycle = cycle;
        Ok(())
    }
}

#[cfg(test)]
mod keep_ports_tests {
    use super::*;
    use crate::analysis::serial::{DropWindow, PortReport};

    #[test]
    fn only_the_named_ports_serial_sections_stay() {
        let mut r = Report::default();
        for name in ["ttyS0", "ttyS1"] {
            r.ports.push(PortReport {
                name: name.into(),
                bytes_dropped: 7,
                ..Default::default()
            });
            r.drops.push(DropWindow {
                port: name.into(),
                bytes: 7,
                ..Default::default()
            });
        }
        r.lost_wakeups.push(Default::default());
        let mut one = r.clone();
        one.keep_ports(&["ttyS1".into()]).unwrap();
        assert_eq!(one.ports.len(), 1);
        assert_eq!(one.ports[0].name, "ttyS1");
        assert!(one.drops.iter().all(|d| d.port == "ttyS1") && one.drops.len() == 1);
        // the timer sections stay whole
        assert_eq!(one.lost_wakeups.len(), 1);
        let err = r.clone().keep_ports(&["ttyUSB0".into()]).unwrap_err();
        assert!(err.contains("ttyS0, ttyS1"), "{err}");
        let mut all = r.clone();
        all.keep_ports(&[]).unwrap();
        assert_eq!(all, r);
    }

    #[test]
    fn a_window_keeps_what_falls_in_it_and_a_cycle_its_wakeups() {
        use crate::analysis::suspend::SuspendCycle;
        use crate::analysis::timers::LostWakeup;
        const S: u64 = 1_000_000_000;
        let mut r = Report::default();
        r.timeline.start_boot_ns = 100 * S;
        for (i, at) in [(1, 110), (2, 130)] {
            r.suspend_cycles.push(SuspendCycle {
                index: i,
                start_boot_ns: at * S,
                end_boot_ns: (at + 5) * S,
                ..Default::default()
            });
        }
        for (at, cycle) in [(105, None), (116, Some(1)), (140, Some(2)), (150, Some(2))] {
            r.lost_wakeups.push(LostWakeup {
                actual_boot_ns: at * S,
                suspend_cycle: cycle,
                ..Default::default()
            });
        }
        let mut w = r.clone();
        w.keep_window(Some(4 * S), Some(20 * S), None).unwrap();
        let ran: Vec<u64> = w
            .lost_wakeups
            .iter()
            .map(|l| l.actual_boot_ns / S)
            .collect();
        assert_eq!(ran, [105, 116]);
        assert_eq!(w.suspend_cycles.len(), 1);
        let scope = w.scope.unwrap();
        assert_eq!(
            (scope.from_boot_ns, scope.to_boot_ns),
            (Some(104 * S), Some(120 * S))
        );
        // cycle 2: its window (130–136 s) and every wakeup blamed on it, however late
        let mut c = r.clone();
        c.keep_window(None, None, Some(2)).unwrap();
        let ran: Vec<u64> = c
            .lost_wakeups
            .iter()
            .map(|l| l.actual_boot_ns / S)
            .collect();
        assert_eq!(ran, [140, 150]);
        assert_eq!(
            c.suspend_cycles.iter().map(|c| c.index).collect::<Vec<_>>(),
            [2]
        );
        assert!(
            r.clone()
                .keep_window(None, None, Some(3))
                .unwrap_err()
                .contains("1, 2")
        );
        assert!(
            r.clone()
                .keep_window(Some(20 * S), Some(10 * S), None)
                .is_err()
        );
        let mut none = r.clone();
        none.keep_window(None, None, None).unwrap();
        assert_eq!(none, r);
    }
}
