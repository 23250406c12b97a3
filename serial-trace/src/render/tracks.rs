//! The timeline tracks the trace exports share (`trace_event` writes them as Chrome
//! trace-event JSON, `perfetto` as Perfetto's native protobuf), built here once, and written
//! through a [`TrackSink`]. Every timestamp is CLOCK_BOOTTIME, so a suspend shows as the gap it
//! really was. One group of tracks per subject:
//!
//! * **CPUs**: a track per CPU with the task switched in after a timer wakeup (`sched_switch`
//!   is recorded only for those) as complete slices, timer expiries and flip-buffer drop runs
//!   as instants. A slice ends at the next recorded switch on that CPU when the task is the one
//!   switched out, otherwise at the last event that showed it running (the switch-out itself
//!   was not recorded).
//! * **suspend**: each cycle and its phases as nested slices (partially overlapping phases on
//!   extra lanes), the slowest device PM callbacks.
//! * **serial ports**: cumulative received/dropped byte counters per port (ending exactly at
//!   the report's totals), the flip buffer's use (from the ldisc receives and drop runs,
//!   sampled when it moved by 1/64 of its limit), and an instant per drop window.
//! * **timers**: the largest hrtimer lateness and the task wakeups per timeline bucket as
//!   counters, each lost wakeup as a slice from its deadline to the moment its task ran (and,
//!   where the format has task tracks, an instant on the task's own).
//! * **recording**: the recording itself and the windows in which events were lost.
//!
//! Events are written as they are produced (the per-CPU tracks in one pass over the trace).
//! Held in memory: a comm per thread id, the symbols, timer expiries waiting for their
//! callback's symbol (bounded by [`MAX_PENDING`]) and the report's own tables while they are
//! put on lanes. A track is named before its first event.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};

use serde_json::{Value, json};
use serial_trace_common::{COMM_LEN, Event, arg, kind, kind_info};

use crate::analysis::{Report, SCHEMA};
use crate::trace::{Frame, TraceReader, trim_nul};

/// Process ids of the tracks (never 0: Perfetto treats pid 0 specially).
pub const PID_CPUS: u32 = 1;
pub const PID_SUSPEND: u32 = 2;
pub const PID_SERIAL: u32 = 3;
pub const PID_TIMERS: u32 = 4;
pub const PID_RECORDING: u32 = 5;

/// Thread ids are unique across the whole file (Perfetto's JSON importer keys threads by tid)
/// and never equal a pid: `pid × 100000 + lane + 1`.
pub const fn tid_of(pid: u32, lane: u32) -> u32 {
    pid * 100_000 + lane + 1
}

/// Device-callback lanes of the suspend process start here (phase lanes below).
const DEVICE_LANE0: u32 = 50_000;

/// Timer expiries waiting for their callback's symbol (symbols are written at the recorder's
/// next checkpoint, after the events that use them); past this many they are written with the
/// address as the name.
const MAX_PENDING: usize = 65_536;

/// Where the tracks go. A track is a (`pid`, `tid`) pair: a group (`process`) and a lane in it
/// (`thread`), as trace-event JSON has them; other formats map the pair to their own ids.
pub trait TrackSink {
    /// Boottime of the start of the recording: nothing is drawn before it.
    fn origin(&self) -> u64;
    /// A group of tracks, `sort` its place among the groups.
    fn process(&mut self, pid: u32, name: &str, sort: i64) -> io::Result<()>;
    /// A track of group `pid`, named before its first event.
    fn thread(&mut self, pid: u32, tid: u32, name: &str, sort: i64) -> io::Result<()>;
    /// A slice from `start` to `end` (boottime ns; clamped to the start of the recording,
    /// never negative).
    #[allow(clippy::too_many_arguments)]
    fn slice(
        &mut self,
        pid: u32,
        tid: u32,
        cat: &str,
        name: &str,
        start: u64,
        end: u64,
        args: Value,
    ) -> io::Result<()>;
    /// An instant on a track.
    fn instant(
        &mut self,
        pid: u32,
        tid: u32,
        cat: &str,
        name: &str,
        at: u64,
        args: Value,
    ) -> io::Result<()>;
    /// A sample of the counters of group `pid` named `name`: every value of `args` (an
    /// object) is a number, one counter per key.
    fn counter(&mut self, pid: u32, name: &str, at: u64, args: Value) -> io::Result<()>;
    /// An instant on a task's own track (its real process and thread ids), for formats that
    /// have such tracks; the others leave it out (the same event is on a lane of its group).
    #[allow(clippy::too_many_arguments)]
    fn task_instant(
        &mut self,
        _tgid: u32,
        _tid: u32,
        _comm: &str,
        _cat: &str,
        _name: &str,
        _at: u64,
        _args: Value,
    ) -> io::Result<()> {
        Ok(())
    }
}

/// Writes every track of `r` and of the events of `reader` (a fresh reader over the same
/// trace) to `sink`.
pub fn write_tracks<R: Read, S: TrackSink>(
    sink: &mut S,
    r: &Report,
    mut reader: TraceReader<R>,
) -> io::Result<()> {
    for (pid, name, sort) in [
        (PID_SUSPEND, "suspend", 1),
        (PID_SERIAL, "serial ports", 2),
        (PID_TIMERS, "timers", 3),
        (PID_CPUS, "CPUs", 4),
        (PID_RECORDING, "recording", 5),
    ] {
        sink.process(pid, name, sort)?;
    }

    let mut cpus = CpuTracks::new();
    for cpu in 0..reader.header().cpus.min(u32::from(u16::MAX)) {
        cpus.track(sink, cpu as u16)?;
    }
    while let Some(frame) = reader.next_frame()? {
        match frame {
            Frame::Events(events) => {
                for ev in events {
                    cpus.event(sink, ev)?;
                }
            }
            Frame::Symbols(s) => {
                cpus.symbols.extend(s.into_iter().map(|s| (s.addr, s.name)));
                cpus.flush_pending(sink, false)?;
            }
            // written at each checkpoint right after the symbols of every event before it
            Frame::Loss(_) | Frame::Trailer(_) => cpus.flush_pending(sink, true)?,
            Frame::Unknown(_) => {}
        }
    }
    cpus.finish(sink)?;

    suspend(sink, r)?;
    serial(sink, r)?;
    timers(sink, r)?;
    recording(sink, r)?;
    Ok(())
}

/// Assigns slices to lanes on which they nest properly: fed in order of start (longer first
/// at equal starts), a slice goes to the first lane where it starts after, or ends within,
/// every slice still open there.
#[derive(Default)]
struct Lanes {
    /// Per lane, the ends of the slices open at the last start.
    open: Vec<Vec<u64>>,
}

impl Lanes {
    fn place(&mut self, start: u64, end: u64) -> usize {
        for (i, ends) in self.open.iter_mut().enumerate() {
            while ends.last().is_some_and(|&e| e <= start) {
                ends.pop();
            }
            if ends.last().is_none_or(|&e| end <= e) {
                ends.push(end);
                return i;
            }
        }
        self.open.push(vec![end]);
        self.open.len() - 1
    }

    fn len(&self) -> usize {
        self.open.len()
    }
}

/// A slice of a summary table, before its lane is known.
struct Span {
    start: u64,
    end: u64,
    cat: &'static str,
    name: String,
    args: Value,
}

/// Writes `spans` on lanes `first_lane..` of `pid`, each lane named first by `lane_name`
/// (from its index among these lanes: its name and sort key).
fn spans_on_lanes<S: TrackSink>(
    sink: &mut S,
    pid: u32,
    first_lane: u32,
    mut spans: Vec<Span>,
    lane_name: impl Fn(u32) -> (String, i64),
) -> io::Result<()> {
    let origin = sink.origin();
    for s in &mut spans {
        s.start = s.start.max(origin);
        s.end = s.end.max(s.start);
    }
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut lanes = Lanes::default();
    let placed: Vec<u32> = spans
        .iter()
        .map(|s| lanes.place(s.start, s.end) as u32)
        .collect();
    for lane in 0..lanes.len() as u32 {
        let (name, sort) = lane_name(lane);
        sink.thread(pid, tid_of(pid, first_lane + lane), &name, sort)?;
    }
    for (s, lane) in spans.into_iter().zip(placed) {
        let tid = tid_of(pid, first_lane + lane);
        sink.slice(pid, tid, s.cat, &s.name, s.start, s.end, s.args)?;
    }
    Ok(())
}

/// The task a CPU runs, since a recorded switch.
struct Running {
    tid: u32,
    start: u64,
    /// Last event that showed it running.
    last: u64,
}

#[derive(Default)]
struct Cpu {
    running: Option<Running>,
    /// End of the last slice written (slices of one CPU never overlap).
    floor: u64,
}

/// A timer expiry whose callback has no name yet.
struct Expiry {
    cpu: u16,
    boot_ns: u64,
    kind: u16,
    timer: u64,
    function: u64,
    now: i64,
}

/// The per-CPU tracks, built from the raw events in one pass.
struct CpuTracks {
    cpus: BTreeMap<u16, Cpu>,
    /// Last comm seen per thread id (bounded by the threads of the system).
    comms: HashMap<u32, [u8; COMM_LEN]>,
    symbols: HashMap<u64, String>,
    pending: Vec<Expiry>,
    /// Argument slot of `prev_pid` in `sched_switch`.
    prev_pid_slot: Option<usize>,
    /// Per port: the flip buffer's use last written as a counter sample (see
    /// [`Self::flip_use`]).
    flip_written: HashMap<String, u64>,
}

/// A port's flip-buffer use is written as a counter sample when it moved by at least this
/// part of its limit since the last sample (or reached 0 or the limit): a flood's ldisc
/// receives, one every few bytes, would otherwise each be a sample.
const FLIP_STEP_OF_LIMIT: u64 = 64;

impl CpuTracks {
    fn new() -> Self {
        let prev_pid_slot = kind_info(kind::SCHED_SWITCH)
            .and_then(|k| k.args.iter().position(|a| a.name == "prev_pid"));
        Self {
            cpus: BTreeMap::new(),
            comms: HashMap::new(),
            symbols: HashMap::new(),
            pending: Vec::new(),
            prev_pid_slot,
            flip_written: HashMap::new(),
        }
    }

    /// The thread of `cpu`, named the first time it is seen.
    fn track<S: TrackSink>(&mut self, sink: &mut S, cpu: u16) -> io::Result<u32> {
        let tid = tid_of(PID_CPUS, u32::from(cpu));
        if let Entry::Vacant(v) = self.cpus.entry(cpu) {
            v.insert(Cpu::default());
            sink.thread(PID_CPUS, tid, &format!("CPU {cpu}"), i64::from(cpu))?;
        }
        Ok(tid)
    }

    fn task_name(&self, tid: u32) -> String {
        match self.comms.get(&tid) {
            Some(c) => format!("{} {tid}", String::from_utf8_lossy(trim_nul(c))),
            None => format!("pid {tid}"),
        }
    }

    /// Ends the running slice of `cpu` at `end` (`switched`: at a recorded switch-out).
    fn close<S: TrackSink>(&mut self, sink: &mut S, cpu: u16, end: Option<u64>) -> io::Result<()> {
        let Some(c) = self.cpus.get_mut(&cpu) else {
            return Ok(());
        };
        let Some(run) = c.running.take() else {
            return Ok(());
        };
        let start = run.start.max(c.floor);
        let stop = end.unwrap_or(run.last).max(start);
        c.floor = stop;
        let name = self.task_name(run.tid);
        let args = json!({
            "tid": run.tid,
            "end": if end.is_some() { "switched out" } else { "last event seen (switch-out not recorded)" },
        });
        let track = tid_of(PID_CPUS, u32::from(cpu));
        sink.slice(PID_CPUS, track, "sched", &name, start, stop, args)
    }

    fn event<S: TrackSink>(&mut self, sink: &mut S, ev: &Event) -> io::Result<()> {
        // the recorder's own counter samples and drop-run checkpoints belong to no CPU (the
        // drop windows they add up to come from the report)
        if ev.kind == kind::SERIAL_COUNTERS
            || ev.kind == kind::SERIAL_DROP_OPEN
            || ev.cpu == u16::MAX
        {
            return Ok(());
        }
        // drop runs still open at stop are written by the recorder, not from any CPU
        let from_cpu = !(ev.kind == kind::SERIAL_FLIP_DROP && ev.pid_tgid == 0 && ev.comm[0] == 0);
        if !from_cpu {
            return Ok(());
        }
        let track = self.track(sink, ev.cpu)?;
        let current = ev.tid();
        if current != 0 && ev.comm[0] != 0 && self.comms.get(&current) != Some(&ev.comm) {
            self.comms.insert(current, ev.comm);
        }
        match ev.kind {
            kind::SCHED_SWITCH => {
                let next = ev.args[arg::sched_switch::NEXT_PID] as u32;
                let prev = self.prev_pid_slot.map_or(current, |i| ev.args[i] as u32);
                let switched_out = self.cpus[&ev.cpu]
                    .running
                    .as_ref()
                    .is_some_and(|r| r.tid == prev);
                self.close(sink, ev.cpu, switched_out.then_some(ev.boot_ns))?;
                if let Some(c) = self.cpus.get_mut(&ev.cpu) {
                    c.running = Some(Running {
                        tid: next,
                        start: ev.boot_ns,
                        last: ev.boot_ns,
                    });
                }
                return Ok(());
            }
            kind::HRTIMER_EXPIRE_ENTRY | kind::TIMER_EXPIRE_ENTRY => {
                use arg::hrtimer_expire_entry as a;
                let e = Expiry {
                    cpu: ev.cpu,
                    boot_ns: ev.boot_ns,
                    kind: ev.kind,
                    timer: ev.args[a::HRTIMER],
                    function: ev.args[a::FUNCTION],
                    now: ev.args[a::NOW] as i64,
                };
                if self.symbols.contains_key(&e.function) {
                    self.expiry(sink, &e)?;
                } else {
                    self.pending.push(e);
                    if self.pending.len() >= MAX_PENDING {
                        self.flush_pending(sink, true)?;
                    }
                }
            }
            kind::SERIAL_RECEIVE => {
                use arg::serial_receive as a;
                let port = port_name(ev, ev.args[a::PORT]);
                self.flip_use(sink, &port, ev, ev.args[a::MEM_USED], ev.args[a::MEM_LIMIT])?;
            }
            kind::SERIAL_FLIP_DROP => {
                use arg::serial_flip_drop as a;
                let port = port_name(ev, ev.args[a::PORT]);
                self.flip_use(sink, &port, ev, ev.args[a::MEM_USED], ev.args[a::MEM_LIMIT])?;
                let bytes = ev.args[a::REQUESTED].saturating_sub(ev.args[a::INSERTED]);
                let first = match ev.args[a::FIRST_BOOT_NS] {
                    0 => ev.boot_ns,
                    t => t,
                };
                let args = json!({
                    "port": port,
                    "bytes": bytes,
                    "requested": ev.args[a::REQUESTED],
                    "inserted": ev.args[a::INSERTED],
                    "mem_used": ev.args[a::MEM_USED],
                    "mem_limit": ev.args[a::MEM_LIMIT],
                    "run_start_us": first.saturating_sub(sink.origin()) as f64 / 1e3,
                });
                let name = format!("{port}: {bytes} bytes dropped (flip buffer full)");
                sink.instant(PID_CPUS, track, "serial", &name, ev.boot_ns, args)?;
            }
            _ => {}
        }
        // any event shows which task the CPU is running (the interrupted one in interrupt
        // context, 0 when idle): a different one means the switch-out was not recorded
        let c = self.cpus.get_mut(&ev.cpu).expect("track() inserted it");
        match &mut c.running {
            Some(r) if r.tid == current => {
                r.last = r.last.max(ev.boot_ns);
                Ok(())
            }
            Some(_) => self.close(sink, ev.cpu, None),
            None => Ok(()),
        }
    }

    /// The flip buffer of `port` holds `used` of `limit` bytes (at `ev`): a counter sample of
    /// the serial group, when it moved enough since the last one.
    fn flip_use<S: TrackSink>(
        &mut self,
        sink: &mut S,
        port: &str,
        ev: &Event,
        used: u64,
        limit: u64,
    ) -> io::Result<()> {
        let step = (limit / FLIP_STEP_OF_LIMIT).max(1);
        let last = self.flip_written.get(port).copied();
        let moved = last.is_none_or(|l| l.abs_diff(used) >= step)
            || (last != Some(used) && (used == 0 || used >= limit));
        if !moved {
            return Ok(());
        }
        self.flip_written.insert(port.to_string(), used);
        let name = format!("{port} flip buffer");
        sink.counter(PID_SERIAL, &name, ev.boot_ns, json!({ "used_bytes": used }))
    }

    fn expiry<S: TrackSink>(&self, sink: &mut S, e: &Expiry) -> io::Result<()> {
        let what = if e.kind == kind::HRTIMER_EXPIRE_ENTRY {
            "hrtimer"
        } else {
            "timer"
        };
        let name = match self.symbols.get(&e.function) {
            Some(s) => s.clone(),
            None => format!("{what} {:#x}", e.function),
        };
        // a timer-wheel expiry's `now` is in jiffies (the tick count; HZ is not in the trace)
        let now_key = if e.kind == kind::HRTIMER_EXPIRE_ENTRY {
            "now_ns"
        } else {
            "now_jiffies"
        };
        let args = json!({
            what: format!("{:#x}", e.timer),
            "function": format!("{:#x}", e.function),
            now_key: e.now,
        });
        let track = tid_of(PID_CPUS, u32::from(e.cpu));
        sink.instant(PID_CPUS, track, "timer", &name, e.boot_ns, args)
    }

    /// Writes the pending expiries whose symbol is now known (`all`: every one).
    fn flush_pending<S: TrackSink>(&mut self, sink: &mut S, all: bool) -> io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        for e in pending {
            if all || self.symbols.contains_key(&e.function) {
                self.expiry(sink, &e)?;
            } else {
                self.pending.push(e);
            }
        }
        Ok(())
    }

    fn finish<S: TrackSink>(&mut self, sink: &mut S) -> io::Result<()> {
        self.flush_pending(sink, true)?;
        let cpus: Vec<u16> = self.cpus.keys().copied().collect();
        for cpu in cpus {
            self.close(sink, cpu, None)?;
        }
        Ok(())
    }
}

/// The tty name an event carries (text 0), else its port's address.
fn port_name(ev: &Event, port: u64) -> String {
    match trim_nul(&ev.text[0]) {
        [] => format!("port@{port:#x}"),
        n => String::from_utf8_lossy(n).into_owned(),
    }
}

/// Suspend cycles, their phases and slowest device callbacks.
fn suspend<S: TrackSink>(sink: &mut S, r: &Report) -> io::Result<()> {
    let mut phases = Vec::new();
    let mut devices = Vec::new();
    for c in &r.suspend_cycles {
        let kind = c.kind();
        phases.push(Span {
            start: c.start_boot_ns,
            end: c.end_boot_ns,
            cat: "suspend_cycle",
            name: format!("{kind} cycle {}", c.index),
            args: json!({
                "index": c.index,
                "suspended_ns": c.suspended_ns,
                "complete": c.complete,
                "machine_suspend": c.machine_suspend,
                "platform_entries": c.platform_entries,
                "resume_ns": c.resume_ns,
                "phases": c.phases.len(),
            }),
        });
        for p in &c.phases {
            let end = p.end_boot_ns.unwrap_or(c.end_boot_ns).min(c.end_boot_ns);
            let name = if p.end_boot_ns.is_some() {
                p.name.clone()
            } else {
                format!("{} (no end)", p.name)
            };
            phases.push(Span {
                start: p.begin_boot_ns,
                end,
                cat: "suspend_phase",
                name,
                args: json!({
                    "cycle": c.index,
                    "val": p.val,
                    "begin_mono_ns": p.begin_mono_ns,
                    "end_mono_ns": p.end_mono_ns,
                    "duration_ns": p.duration_ns,
                    "ended": p.end_boot_ns.is_some(),
                }),
            });
        }
        for d in &c.slowest_devices {
            devices.push(Span {
                start: d.start_boot_ns,
                end: d.start_boot_ns.saturating_add(d.duration_ns),
                cat: "device_pm",
                name: format!("{} {}", d.device, d.event),
                args: json!({
                    "cycle": c.index,
                    "device": d.device,
                    "driver": d.driver,
                    "event": d.event,
                    "phase": d.phase,
                    "duration_ns": d.duration_ns,
                    "error": d.error,
                }),
            });
        }
    }
    spans_on_lanes(sink, PID_SUSPEND, 0, phases, |lane| match lane {
        0 => ("cycles and phases".to_string(), 0),
        n => (format!("overlapping phases {n}"), i64::from(n)),
    })?;
    spans_on_lanes(sink, PID_SUSPEND, DEVICE_LANE0, devices, |lane| {
        let name = format!("slowest device callbacks {}", lane + 1);
        (name, i64::from(DEVICE_LANE0 + lane))
    })
}

/// Per port: cumulative byte counters and the drop windows.
fn serial<S: TrackSink>(sink: &mut S, r: &Report) -> io::Result<()> {
    let tl = &r.timeline;
    for (i, p) in r.ports.iter().enumerate() {
        let tid = tid_of(PID_SERIAL, i as u32);
        sink.thread(PID_SERIAL, tid, &format!("{} drops", p.name), i as i64)?;
        let name = format!("{} bytes", p.name);
        let mut buckets: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        if let Some(s) = tl.ports.iter().find(|s| s.name == p.name) {
            for (t, v) in s.received.points() {
                let b = buckets.entry(t).or_default();
                b.0 = b.0.saturating_add(v);
            }
            for (t, v) in s.dropped.points() {
                let b = buckets.entry(t).or_default();
                b.1 = b.1.saturating_add(v);
            }
        }
        sink.counter(
            PID_SERIAL,
            &name,
            tl.start_boot_ns,
            json!({ "received": 0, "dropped": 0 }),
        )?;
        // a polled port's buckets hold max(rx − bo, 0) per sample, which can sum to more
        // than its total (rx − bo over the whole recording): never show more than the total
        let (mut rx, mut dropped) = (0u64, 0u64);
        for (t, (r_add, d_add)) in buckets {
            rx = rx.saturating_add(r_add).min(p.bytes_received);
            dropped = dropped.saturating_add(d_add).min(p.bytes_dropped);
            // a bucket's bytes are all in by its end
            let at = t.saturating_add(tl.bucket_ns).min(tl.end_boot_ns).max(t);
            sink.counter(
                PID_SERIAL,
                &name,
                at,
                json!({ "received": rx, "dropped": dropped }),
            )?;
        }
        // the report's totals
        sink.counter(
            PID_SERIAL,
            &name,
            tl.end_boot_ns,
            json!({ "received": p.bytes_received, "dropped": p.bytes_dropped }),
        )?;
    }
    for d in &r.drops {
        let Some(i) = r.ports.iter().position(|p| p.name == d.port) else {
            continue;
        };
        let args = json!({
            "bytes": d.bytes,
            "cause": d.cause,
            "chain": d.chain,
            "coarse": d.coarse,
            "interval_ns": d.interval_ns,
            "first_drop_boot_ns": d.t_boot_ns,
            "last_drop_boot_ns": d.end_boot_ns,
            "window_ns": d.end_boot_ns.saturating_sub(d.t_boot_ns),
        });
        let name = format!("{}: {} bytes lost", d.port, d.bytes);
        sink.instant(
            PID_SERIAL,
            tid_of(PID_SERIAL, i as u32),
            "serial",
            &name,
            d.t_boot_ns,
            args,
        )?;
    }
    Ok(())
}

/// Timer lateness and wakeup counters, lost wakeups.
fn timers<S: TrackSink>(sink: &mut S, r: &Report) -> io::Result<()> {
    let tl = &r.timeline;
    let bucket = tl.bucket_ns.max(1);
    // sparse series: a bucket without samples reads 0 (no expiry / no wakeup)
    for (name, key, series, ns_to_us) in [
        (
            "hrtimer lateness, max per bucket (µs)",
            "max_us",
            &tl.timer_lateness_max,
            true,
        ),
        ("timer wakeups per bucket", "count", &tl.wakeups, false),
    ] {
        let points: Vec<(u64, u64)> = series.points().collect();
        for (i, &(t, v)) in points.iter().enumerate() {
            let value = if ns_to_us {
                json!(v as f64 / 1e3)
            } else {
                json!(v)
            };
            sink.counter(PID_TIMERS, name, t, json!({ key: value }))?;
            let next = points.get(i + 1).map(|p| p.0);
            let end = t.saturating_add(bucket);
            if next != Some(end) {
                sink.counter(PID_TIMERS, name, end, json!({ key: 0 }))?;
            }
        }
    }
    let instants = tid_of(PID_TIMERS, 0);
    sink.thread(PID_TIMERS, instants, "lost wakeups", 0)?;
    let mut spans = Vec::new();
    for l in &r.lost_wakeups {
        let name = format!("lost wakeup pid {} ({})", l.pid, l.comm);
        let mut args = serde_json::to_value(l)?;
        args["late_ms"] = json!(l.late_ns as f64 / 1e6);
        sink.instant(
            PID_TIMERS,
            instants,
            "wakeup",
            &name,
            l.actual_boot_ns,
            args.clone(),
        )?;
        let late = format!(
            "lost wakeup: {} late ({})",
            crate::fmt::fmt_ns(l.late_ns),
            l.cause
        );
        sink.task_instant(
            l.pid,
            l.tid,
            &l.comm,
            "wakeup",
            &late,
            l.actual_boot_ns,
            args.clone(),
        )?;
        spans.push(Span {
            start: l.expected_boot_ns,
            end: l.actual_boot_ns,
            cat: "wakeup",
            name: format!("late wakeup tid {} ({}): {}", l.tid, l.comm, l.cause),
            args,
        });
    }
    spans_on_lanes(sink, PID_TIMERS, 1, spans, |lane| {
        let name = format!("deadline → task ran {}", lane + 1);
        (name, i64::from(lane + 1))
    })
}

/// The recording and the windows in which events were lost.
fn recording<S: TrackSink>(sink: &mut S, r: &Report) -> io::Result<()> {
    let tid = tid_of(PID_RECORDING, 0);
    sink.thread(PID_RECORDING, tid, "recording", 0)?;
    sink.slice(
        PID_RECORDING,
        tid,
        "recording",
        "recording",
        r.timeline.start_boot_ns,
        r.timeline.end_boot_ns,
        json!({
            "end": r.trace.end,
            "stopped_by": r.trace.stopped_by,
            "events": r.events.total,
            "lost": r.events.lost,
        }),
    )?;
    let spans = r
        .events
        .loss_windows
        .iter()
        .map(|w| Span {
            start: w.from_boot_ns,
            end: w.to_boot_ns,
            cat: "loss",
            name: format!("{} events lost", w.lost),
            args: json!({ "lost": w.lost, "suspend_cycle": w.suspend_cycle }),
        })
        .collect();
    spans_on_lanes(sink, PID_RECORDING, 1, spans, |lane| {
        ("event loss".to_string(), i64::from(lane + 1))
    })
}

/// What the exports say about the recording as a whole (`ts_unit`: the unit of their
/// timestamps).
pub fn metadata(r: &Report, ts_unit: &str) -> serde_json::Map<String, Value> {
    let ports: serde_json::Map<String, Value> = r
        .ports
        .iter()
        .map(|p| {
            let v = json!({
                "bytes_received": p.bytes_received,
                "bytes_dropped": p.bytes_dropped,
                "coarse": p.coarse,
            });
            (p.name.clone(), v)
        })
        .collect();
    let meta = json!({
        "tool": r.trace.tool,
        "exporter": concat!("serial-trace ", env!("CARGO_PKG_VERSION")),
        "schema": SCHEMA,
        "kernel_release": r.kernel.release,
        "kernel_version": r.kernel.version,
        "machine": r.kernel.machine,
        "hostname": r.kernel.hostname,
        "clock": "CLOCK_BOOTTIME",
        "ts_origin_boot_ns": r.timeline.start_boot_ns,
        "ts_unit": ts_unit,
        "counter_bucket_ns": r.timeline.bucket_ns,
        "duration_ns": r.duration_ns,
        "trace_end": r.trace.end,
        "stopped_by": r.trace.stopped_by,
        "events_total": r.events.total,
        "events_lost": r.events.lost,
        "events_lost_complete": r.events.lost_complete,
        "ports": ports,
        "bytes_dropped": r.ports.iter().map(|p| (p.name.clone(), p.bytes_dropped))
            .collect::<BTreeMap<_, _>>(),
        "drop_windows": r.drops.len(),
        "suspend_cycles": r.suspend_cycles.len(),
        "suspend_phases": r.suspend_cycles.iter().map(|c| c.phases.len()).sum::<usize>(),
        "lost_wakeups": r.lost_wakeups.len(),
    });
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("a json! object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_keep_slices_nested() {
        let mut l = Lanes::default();
        assert_eq!(l.place(0, 100), 0);
        assert_eq!(l.place(10, 20), 0, "nested");
        assert_eq!(l.place(15, 30), 1, "overlaps [10, 20] partially");
        assert_eq!(l.place(20, 40), 0, "after [10, 20], inside [0, 100]");
        assert_eq!(l.place(90, 120), 1, "overlaps [0, 100]; lane 1 is free");
        assert_eq!(l.place(200, 300), 0);
    }
}
