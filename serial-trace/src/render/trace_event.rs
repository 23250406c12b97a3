//! `report --format trace-event`: Chrome trace-event JSON (the format Perfetto's UI and
//! chrome://tracing open), JSON Object Format:
//! `{"traceEvents":[…],"displayTimeUnit":"ns","metadata":{…}}`, of the tracks `tracks` builds.
//!
//! Timestamps are microseconds (fractional) since the start of the recording. Each group of
//! tracks is a "process" with a made-up pid (1–5), each track a "thread" with a made-up tid
//! (see [`tid_of`]): the JSON importer knows no other tracks. `report --format perfetto`
//! writes the same tracks natively.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read, Write};

use serde::Serialize;
use serde_json::{Value, json};

use super::tracks::{TrackSink, metadata, tid_of, write_tracks};
use crate::analysis::Report;
use crate::trace::TraceReader;

/// Writes `r` and the events of `reader` (a fresh reader over the same trace) as trace-event
/// JSON to `out`.
pub fn write_trace_events<R: Read, W: Write>(
    r: &Report,
    reader: TraceReader<R>,
    out: W,
) -> io::Result<()> {
    let mut sink = Sink::new(out, r.timeline.start_boot_ns)?;
    write_tracks(&mut sink, r, reader)?;
    sink.finish(r)
}

/// One trace event. `ts`/`dur` in microseconds.
#[derive(Serialize)]
struct TraceEvent<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cat: Option<&'a str>,
    ph: &'static str,
    ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: u32,
    tid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<Value>,
}

/// Streams events into the `traceEvents` array.
struct Sink<W: Write> {
    w: BufWriter<W>,
    /// Boottime of ts 0 (the start of the recording).
    origin: u64,
    first: bool,
    /// Events written, per `ph`.
    written: BTreeMap<&'static str, u64>,
}

impl<W: Write> Sink<W> {
    fn new(out: W, origin: u64) -> io::Result<Self> {
        let mut w = BufWriter::new(out);
        w.write_all(b"{\"traceEvents\":[\n")?;
        Ok(Self {
            w,
            origin,
            first: true,
            written: BTreeMap::new(),
        })
    }

    /// Boottime ns → µs since the start; an instant before the start is put at the start.
    fn us(&self, boot_ns: u64) -> f64 {
        ns_to_us(boot_ns.saturating_sub(self.origin))
    }

    fn emit(&mut self, ev: &TraceEvent) -> io::Result<()> {
        if !self.first {
            self.w.write_all(b",\n")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.w, ev)?;
        *self.written.entry(ev.ph).or_default() += 1;
        Ok(())
    }

    fn meta(&mut self, pid: u32, tid: u32, name: &'static str, args: Value) -> io::Result<()> {
        self.emit(&TraceEvent {
            name,
            cat: None,
            ph: "M",
            ts: 0.0,
            dur: None,
            pid,
            tid,
            s: None,
            args: Some(args),
        })
    }

    fn finish(mut self, r: &Report) -> io::Result<()> {
        self.w
            .write_all(b"\n],\n\"displayTimeUnit\":\"ns\",\n\"metadata\":")?;
        let mut meta = metadata(r, "us");
        meta.insert("exported_events".into(), json!(self.written));
        serde_json::to_writer(&mut self.w, &meta)?;
        self.w.write_all(b"}\n")?;
        self.w.flush()
    }
}

impl<W: Write> TrackSink for Sink<W> {
    fn origin(&self) -> u64 {
        self.origin
    }

    fn process(&mut self, pid: u32, name: &str, sort: i64) -> io::Result<()> {
        let tid = tid_of(pid, 0);
        self.meta(pid, tid, "process_name", json!({ "name": name }))?;
        self.meta(
            pid,
            tid,
            "process_sort_index",
            json!({ "sort_index": sort }),
        )
    }

    fn thread(&mut self, pid: u32, tid: u32, name: &str, sort: i64) -> io::Result<()> {
        self.meta(pid, tid, "thread_name", json!({ "name": name }))?;
        self.meta(pid, tid, "thread_sort_index", json!({ "sort_index": sort }))
    }

    /// A complete event from `start` to `end` (boottime ns; clamped to the start of the
    /// recording, never negative).
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
    ) -> io::Result<()> {
        let start = start.max(self.origin);
        let end = end.max(start);
        self.emit(&TraceEvent {
            name,
            cat: Some(cat),
            ph: "X",
            ts: self.us(start),
            dur: Some(ns_to_us(end - start)),
            pid,
            tid,
            s: None,
            args: Some(args),
        })
    }

    /// A thread-scoped instant.
    fn instant(
        &mut self,
        pid: u32,
        tid: u32,
        cat: &str,
        name: &str,
        at: u64,
        args: Value,
    ) -> io::Result<()> {
        self.emit(&TraceEvent {
            name,
            cat: Some(cat),
            ph: "i",
            ts: self.us(at),
            dur: None,
            pid,
            tid,
            s: Some("t"),
            args: Some(args),
        })
    }

    /// A counter sample: every value of `args` must be a number.
    fn counter(&mut self, pid: u32, name: &str, at: u64, args: Value) -> io::Result<()> {
        debug_assert!(
            args.as_object()
                .is_some_and(|m| m.values().all(Value::is_number))
        );
        self.emit(&TraceEvent {
            name,
            cat: None,
            ph: "C",
            ts: self.us(at),
            dur: None,
            pid,
            tid: tid_of(pid, 0),
            s: None,
            args: Some(args),
        })
    }
}

fn ns_to_us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::analysis::suspend::tests::{s3_cycle, sr};
    use crate::analysis::timers::tests::{expire, start};
    use crate::analysis::{SCHEMA, analyze};
    use crate::render::tracks::{PID_CPUS, PID_SERIAL, PID_SUSPEND};
    use crate::trace::{LossRecord, Symbol, TraceWriter, Trailer, sample_header};
    use serial_trace_common::arg;
    use serial_trace_common::{COMM_LEN, Event, kind};

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    /// boottime − monotonic before the suspend of the synthetic trace.
    const OFF: u64 = 10;

    fn on_cpu(mut e: Event, cpu: u16, mono: u64, tid: u32, comm: &[u8]) -> Event {
        e.cpu = cpu;
        e.mono_ns = mono;
        e.boot_ns = mono + OFF;
        e.pid_tgid = (u64::from(tid) << 32) | u64::from(tid);
        e.comm = [0; COMM_LEN];
        e.comm[..comm.len()].copy_from_slice(comm);
        e
    }

    fn switch(cpu: u16, mono: u64, prev: u32, next: u32) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind::SCHED_SWITCH;
        e.args[arg::sched_switch::NEXT_PID] = u64::from(next);
        e.args[1] = u64::from(prev); // prev_pid
        let comm: &[u8] = if prev == 0 { b"swapper/0" } else { b"work" };
        on_cpu(e, cpu, mono, prev, comm)
    }

    fn serial_ev(kind: u16, mono: u64, port: &str, args: &[u64]) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind;
        e.args[..args.len()].copy_from_slice(args);
        e.text[0][..port.len()].copy_from_slice(port.as_bytes());
        // a kernel comm may hold anything: quotes, control characters, invalid UTF-8
        on_cpu(e, 1, mono, 99, b"irq/\"4\"\n\xff")
    }

    /// Timers and scheduling on two CPUs, an S3 cycle with a partially overlapping and an
    /// unended phase, a pm_test cycle, one port with receives and drops, one polled port whose
    /// buckets sum to more than its total.
    pub(in crate::render) fn synthetic_trace(with_trailer: bool) -> Vec<u8> {
        let mut evs = Vec::new();
        // tid 77 sleeps 1 ms at a time on CPU 0, 200 times, expiring 20 µs late
        for i in 0..200u64 {
            let t = S + i * 5 * MS;
            let mut st = start(0xa000, (t + MS) as i64, 0xf1, 77);
            st.args[arg::hrtimer_start::CLOCKID_PLUS1] = 2;
            evs.push(on_cpu(st, 0, t, 77, b"work"));
            let ex = expire(0xa000, (t + MS + 20_000) as i64, 0xf1);
            evs.push(on_cpu(ex, 0, t + MS + 20_000, 0, b"swapper/0"));
            evs.push(switch(0, t + MS + 30_000, 0, 77));
            // still running 100 µs later, switched out (recorded) at 200 µs for i even
            let busy = on_cpu(Event::ZERO, 0, t + MS + 130_000, 77, b"work");
            let mut busy = busy;
            busy.kind = kind::HRTIMER_CANCEL;
            evs.push(busy);
            if i % 2 == 0 {
                evs.push(switch(0, t + MS + 230_000, 77, 5));
            } else {
                // the CPU is idle again: the switch-out was not recorded
                let mut idle = on_cpu(Event::ZERO, 0, t + MS + 500_000, 0, b"swapper/0");
                idle.kind = kind::HRTIMER_CANCEL;
                evs.push(idle);
            }
        }
        // a 10 ms sleep on CPU 1 that fired on time but whose task ran 50 ms later
        let t = 3 * S;
        let mut st = start(0xb000, (t + 10 * MS) as i64, 0xf1, 88);
        st.args[arg::hrtimer_start::CLOCKID_PLUS1] = 2;
        evs.push(on_cpu(st, 1, t, 88, b"sleepy"));
        evs.push(on_cpu(
            expire(0xb000, (t + 10 * MS) as i64, 0xf1),
            1,
            t + 10 * MS,
            0,
            b"",
        ));
        evs.push(switch(1, t + 60 * MS, 0, 88));
        // the serial interrupt thread (tid 99, comm with quotes, a newline, invalid UTF-8)
        evs.push(switch(1, 1_400 * MS, 0, 99));
        // S3 at 7 s, asleep 3 s, with a phase overlapping freeze_processes and one never ended
        let cycle = s3_cycle(7 * S, OFF, 3 * S);
        let t0 = 7 * S;
        evs.extend(cycle);
        evs.push(sr(
            "dpm_prepare",
            0,
            true,
            t0 + 4 * MS + MS / 2,
            t0 + 4 * MS + MS / 2 + OFF,
        ));
        evs.push(sr(
            "dpm_prepare",
            0,
            false,
            t0 + 5 * MS + MS / 2,
            t0 + 5 * MS + MS / 2 + OFF,
        ));
        let off2 = OFF + 3 * S;
        evs.push(sr(
            "dpm_resume",
            16,
            true,
            t0 + 8 * MS + MS / 2,
            t0 + 8 * MS + MS / 2 + off2,
        ));
        // a pm_test cycle (no machine_suspend) at 11 s
        for (i, (a, begin)) in [
            ("suspend_enter", true),
            ("freeze_processes", true),
            ("freeze_processes", false),
            ("suspend_enter", false),
            ("thaw_processes", true),
            ("thaw_processes", false),
        ]
        .into_iter()
        .enumerate()
        {
            let mono = 8 * S + i as u64 * MS;
            evs.push(sr(a, 0, begin, mono, mono + off2));
        }
        // ttyS1: 100 bytes received every 10 ms for 1 s from 1.5 s, three drop runs
        for i in 0..100u64 {
            let mono = 1_500 * MS + i * 10 * MS;
            evs.push(serial_ev(
                kind::SERIAL_RECEIVE,
                mono,
                "ttyS1",
                &[0xa0, 100, 100, 4096, 65536],
            ));
        }
        for (mono, req, ins) in [
            (2_000 * MS, 30, 0),
            (2_003 * MS, 12, 2),
            (2_700 * MS, 500, 0),
        ] {
            evs.push(serial_ev(
                kind::SERIAL_FLIP_DROP,
                mono,
                "ttyS1",
                &[0xa0, req, ins, 65536, 65536, 1, mono - MS, mono - MS + OFF],
            ));
        }
        // ttyS0 polled: one sample of 5000 rx, 1200 of them overrun
        let mut c = serial_ev(kind::SERIAL_COUNTERS, 4 * S, "ttyS0", &[]);
        c.cpu = u16::MAX;
        c.args[arg::serial_counters::RX] = 5000;
        c.args[arg::serial_counters::BUF_OVERRUN] = 1200;
        c.args[arg::serial_counters::INTERVAL_NS] = 10 * MS;
        evs.push(c);
        // a sample read between the two increments of a byte: more overruns than received
        c.mono_ns = 4_500 * MS;
        c.boot_ns = c.mono_ns + OFF;
        c.args[arg::serial_counters::RX] = 100;
        c.args[arg::serial_counters::BUF_OVERRUN] = 150;
        evs.push(c);
        evs.sort_by_key(|e| e.boot_ns);

        let mut w = TraceWriter::new(Vec::new(), &sample_header()).unwrap();
        for e in &evs {
            w.push(e).unwrap();
        }
        // the symbol comes after the events that use it, as the recorder writes it
        w.write_symbols(&[Symbol {
            addr: 0xf1,
            name: "hrtimer_wakeup".into(),
        }])
        .unwrap();
        let mut at = sample_header().start;
        at.boot_ns = 6 * S;
        w.write_loss(&LossRecord {
            at,
            lost_total: 4,
            ..Default::default()
        })
        .unwrap();
        if !with_trailer {
            w.flush().unwrap();
            return w.get_ref().clone();
        }
        let mut end = sample_header().start;
        end.boot_ns = 12 * S;
        w.finish(&Trailer {
            end,
            events_written: evs.len() as u64,
            lost_total: 4,
            stopped_by: "duration".into(),
            ..Default::default()
        })
        .unwrap()
    }

    fn export(bytes: &[u8]) -> (Report, Value) {
        let r = analyze(TraceReader::new(bytes).unwrap()).unwrap();
        let mut out = Vec::new();
        write_trace_events(&r, TraceReader::new(bytes).unwrap(), &mut out).unwrap();
        let text = String::from_utf8(out).expect("UTF-8");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        (r, v)
    }

    fn num(v: &Value) -> Option<f64> {
        v.as_f64().filter(|x| x.is_finite())
    }

    /// µs → integer ns, as a viewer reads a timestamp.
    fn ns(us: f64) -> i64 {
        (us * 1e3).round() as i64
    }

    /// Every rule of the trace-event format this exporter relies on; returns the violations.
    fn violations(doc: &Value) -> Vec<String> {
        let mut bad = Vec::new();
        let Some(events) = doc["traceEvents"].as_array() else {
            return vec!["no traceEvents array".into()];
        };
        if doc["displayTimeUnit"] != "ns" && doc["displayTimeUnit"] != "ms" {
            bad.push(format!("displayTimeUnit {}", doc["displayTimeUnit"]));
        }
        // (pid, tid) → complete events as (start ns, end ns, name)
        type Slices = BTreeMap<(u64, u64), Vec<(i64, i64, String)>>;
        let mut slices = Slices::new();
        let mut named_threads = std::collections::BTreeSet::new();
        let mut named_processes = std::collections::BTreeSet::new();
        let mut used = std::collections::BTreeSet::new();
        for (i, e) in events.iter().enumerate() {
            let at = format!("event {i} {e}");
            let (Some(name), Some(ph)) = (e["name"].as_str(), e["ph"].as_str()) else {
                bad.push(format!("{at}: name/ph not strings"));
                continue;
            };
            let (Some(pid), Some(tid)) = (e["pid"].as_u64(), e["tid"].as_u64()) else {
                bad.push(format!("{at}: pid/tid not integers"));
                continue;
            };
            if pid == 0 || tid > i32::MAX as u64 {
                bad.push(format!("{at}: pid 0 or tid beyond 32 bits"));
            }
            let Some(ts) = num(&e["ts"]).filter(|ts| *ts >= 0.0) else {
                bad.push(format!("{at}: ts not a number ≥ 0"));
                continue;
            };
            let args = &e["args"];
            match ph {
                "X" => match num(&e["dur"]).filter(|d| *d >= 0.0) {
                    Some(dur) => slices.entry((pid, tid)).or_default().push((
                        ns(ts),
                        ns(ts) + ns(dur),
                        name.to_string(),
                    )),
                    None => bad.push(format!("{at}: X without dur ≥ 0")),
                },
                "C" => match args.as_object() {
                    Some(m) if !m.is_empty() && m.values().all(|v| num(v).is_some()) => {}
                    _ => bad.push(format!("{at}: counter args not all numbers")),
                },
                "i" => {
                    if !matches!(e["s"].as_str(), Some("g" | "p" | "t")) {
                        bad.push(format!("{at}: instant scope"));
                    }
                }
                "M" => match name {
                    "process_name" | "thread_name" if args["name"].is_string() => {
                        if name == "process_name" {
                            named_processes.insert(pid);
                        } else {
                            named_threads.insert((pid, tid));
                        }
                    }
                    "process_sort_index" | "thread_sort_index" if args["sort_index"].is_i64() => {}
                    _ => bad.push(format!("{at}: malformed metadata event")),
                },
                _ => bad.push(format!("{at}: ph {ph:?} not used by this exporter")),
            }
            if ph != "M" && ph != "C" {
                used.insert((pid, tid));
            }
            if ph != "M" && !named_processes.contains(&pid) {
                used.insert((pid, 0));
            }
        }
        for (pid, tid) in used {
            if tid == 0 && !named_processes.contains(&pid) {
                bad.push(format!("process {pid} has no process_name"));
            } else if tid != 0 && !named_threads.contains(&(pid, tid)) {
                bad.push(format!("thread {pid}/{tid} has no thread_name"));
            }
        }
        // complete events of one thread must nest: none may end inside another and start
        // before it
        for ((pid, tid), mut v) in slices {
            v.sort_by_key(|s| (s.0, std::cmp::Reverse(s.1)));
            let mut stack: Vec<&(i64, i64, String)> = Vec::new();
            for s in &v {
                while stack.last().is_some_and(|top| top.1 <= s.0) {
                    stack.pop();
                }
                if let Some(top) = stack.last() {
                    if s.1 > top.1 {
                        bad.push(format!("{pid}/{tid}: {s:?} overlaps {top:?} partially"));
                    }
                }
                stack.push(s);
            }
        }
        bad
    }

    fn events<'a>(doc: &'a Value, ph: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(move |e| e["ph"] == ph)
    }

    #[test]
    fn validator_catches_broken_events() {
        let doc = json!({ "traceEvents": [
            { "name": "a", "ph": "X", "ts": 0.0, "dur": 10.0, "pid": 1, "tid": 2 },
            { "name": "b", "ph": "X", "ts": 5.0, "dur": 10.0, "pid": 1, "tid": 2 },
            { "name": "c", "ph": "C", "ts": 1.0, "pid": 1, "tid": 2, "args": { "x": "7" } },
            { "name": "d", "ph": "i", "ts": 1.0, "pid": 1, "tid": 2, "s": "x" },
            { "name": "e", "ph": "X", "ts": -1.0, "dur": 1.0, "pid": 1, "tid": 2 },
            { "name": "f", "ph": "X", "ts": 1.0, "pid": 1, "tid": 2 },
            { "name": "thread_name", "ph": "M", "ts": 0, "pid": 1, "tid": 2, "args": {} },
            { "name": "g", "ph": "B", "ts": 1.0, "pid": 1, "tid": 2 },
        ], "displayTimeUnit": "ns" });
        let bad = violations(&doc);
        for what in [
            "partially",
            "counter args",
            "instant scope",
            "ts not",
            "X without dur",
            "malformed metadata",
            "not used",
            "no process_name",
            "has no thread_name",
        ] {
            assert!(
                bad.iter().any(|b| b.contains(what)),
                "{what} missed: {bad:#?}"
            );
        }
        // nested and adjacent slices are fine
        let ok = json!({ "traceEvents": [
            { "name": "process_name", "ph": "M", "ts": 0, "pid": 1, "tid": 2, "args": { "name": "p" } },
            { "name": "thread_name", "ph": "M", "ts": 0, "pid": 1, "tid": 2, "args": { "name": "t" } },
            { "name": "a", "ph": "X", "ts": 0.0, "dur": 10.0, "pid": 1, "tid": 2 },
            { "name": "b", "ph": "X", "ts": 2.5, "dur": 7.5, "pid": 1, "tid": 2 },
            { "name": "c", "ph": "X", "ts": 10.0, "dur": 0.0, "pid": 1, "tid": 2 },
        ], "displayTimeUnit": "ns" });
        assert_eq!(violations(&ok), Vec::<String>::new());
    }

    #[test]
    fn export_follows_the_format_and_matches_the_report() {
        let (r, doc) = export(&synthetic_trace(true));
        let bad = violations(&doc);
        assert!(bad.is_empty(), "{bad:#?}");

        // metadata cross-checks the report
        let m = &doc["metadata"];
        assert_eq!(m["schema"], SCHEMA);
        assert_eq!(m["kernel_release"], "6.18.0-test");
        assert_eq!(m["events_lost"], 4);
        assert_eq!(m["clock"], "CLOCK_BOOTTIME");

        // the final counter of every port is the report's total
        assert_eq!(r.ports.len(), 2, "{:?}", r.ports);
        assert!(
            r.ports.iter().any(|p| p.flip_buffer_peak > 0),
            "{:?}",
            r.ports
        );
        for p in &r.ports {
            let name = format!("{} bytes", p.name);
            let last = events(&doc, "C")
                .filter(|e| e["name"] == name.as_str())
                .max_by(|a, b| {
                    a["ts"]
                        .as_f64()
                        .unwrap()
                        .total_cmp(&b["ts"].as_f64().unwrap())
                })
                .unwrap_or_else(|| panic!("no counter {name}"));
            assert_eq!(last["args"]["received"], p.bytes_received, "{name}");
            assert_eq!(last["args"]["dropped"], p.bytes_dropped, "{name}");
            assert_eq!(m["bytes_dropped"][&p.name], p.bytes_dropped);
            assert_eq!(m["ports"][&p.name]["bytes_received"], p.bytes_received);
            // the flip buffer's use, sampled: its largest sample within a step of the peak
            let flip = format!("{} flip buffer", p.name);
            let used: Vec<u64> = events(&doc, "C")
                .filter(|e| e["name"] == flip.as_str())
                .map(|e| e["args"]["used_bytes"].as_u64().unwrap())
                .collect();
            if p.flip_buffer_peak > 0 {
                let max = *used
                    .iter()
                    .max()
                    .unwrap_or_else(|| panic!("no counter {flip}"));
                let step = p.flip_buffer_limit / 64;
                assert!(
                    max <= p.flip_buffer_peak && max + step >= p.flip_buffer_peak,
                    "{flip}: {used:?}, peak {}",
                    p.flip_buffer_peak
                );
            }
            // cumulative: never decreasing in time
            let mut samples: Vec<(f64, u64, u64)> = events(&doc, "C")
                .filter(|e| e["name"] == name.as_str())
                .map(|e| {
                    let a = &e["args"];
                    (
                        e["ts"].as_f64().unwrap(),
                        a["received"].as_u64().unwrap(),
                        a["dropped"].as_u64().unwrap(),
                    )
                })
                .collect();
            samples.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(
                samples
                    .windows(2)
                    .all(|w| w[0].1 <= w[1].1 && w[0].2 <= w[1].2)
            );
        }
        let s1 = r.ports.iter().find(|p| p.name == "ttyS1").unwrap();
        assert_eq!((s1.bytes_received, s1.bytes_dropped), (10_000, 540));
        let s0 = r.ports.iter().find(|p| p.name == "ttyS0").unwrap();
        assert_eq!(
            (s0.bytes_received, s0.bytes_dropped),
            (5_100 - 1_350, 1_350)
        );
        let buckets: u64 = r
            .timeline
            .ports
            .iter()
            .find(|s| s.name == "ttyS0")
            .unwrap()
            .received
            .points()
            .map(|p| p.1)
            .sum();
        assert_eq!(
            buckets, 3_800,
            "the polled buckets sum to more than the total"
        );

        // one instant per drop window, named by port and bytes
        let drops: Vec<&Value> = events(&doc, "i")
            .filter(|e| e["cat"] == "serial" && e["pid"] == PID_SERIAL)
            .collect();
        assert_eq!(drops.len(), r.drops.len());
        assert_eq!(drops[0]["name"], "ttyS1: 40 bytes lost");
        assert!(drops.iter().any(|d| d["name"] == "ttyS0: 1200 bytes lost"));

        // suspend: a slice per phase and per cycle, the overlap on its own lane
        let phases: usize = r.suspend_cycles.iter().map(|c| c.phases.len()).sum();
        assert_eq!(r.suspend_cycles.len(), 2);
        assert_eq!(phases, 6 + 4);
        let x = |cat: &str| events(&doc, "X").filter(|e| e["cat"] == cat).count();
        assert_eq!(x("suspend_phase"), phases);
        assert_eq!(x("suspend_cycle"), 2);
        assert_eq!(m["suspend_phases"], phases);
        let names: Vec<&str> = events(&doc, "X")
            .filter(|e| e["cat"] == "suspend_cycle")
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["S3 cycle 1", "pm_test cycle 2"]);
        let lanes: std::collections::BTreeSet<u64> = events(&doc, "X")
            .filter(|e| e["pid"] == PID_SUSPEND)
            .map(|e| e["tid"].as_u64().unwrap())
            .collect();
        assert_eq!(lanes.len(), 2, "dpm_prepare overlaps freeze_processes");
        let unended = events(&doc, "X")
            .find(|e| e["name"] == "dpm_resume (no end)")
            .expect("a phase without an end ends with its cycle");
        let cycle = &r.suspend_cycles[0];
        let end_us = (cycle.end_boot_ns - r.timeline.start_boot_ns) as f64 / 1e3;
        let got = unended["ts"].as_f64().unwrap() + unended["dur"].as_f64().unwrap();
        assert!((got - end_us).abs() < 1e-3, "{got} vs {end_us}");
        // the machine_suspend slice shows the 3 s the system slept
        let ms = events(&doc, "X")
            .find(|e| e["name"] == "machine_suspend")
            .unwrap();
        assert!(
            (ms["dur"].as_f64().unwrap() - 3_001_000.0).abs() < 1e-3,
            "{ms}"
        );

        // CPU 0: the task after each wakeup, named by its comm; expiries named by symbol
        let cpu0 = tid_of(PID_CPUS, 0);
        let runs: Vec<&Value> = events(&doc, "X")
            .filter(|e| e["pid"] == PID_CPUS && e["tid"] == cpu0)
            .collect();
        assert_eq!(runs.len(), 200 + 100, "200 runs of tid 77, 100 of tid 5");
        assert!(runs.iter().filter(|e| e["name"] == "work 77").count() == 200);
        let first = runs.iter().find(|e| e["name"] == "work 77").unwrap();
        // switched in at 1.001030 s, out (recorded) at 1.001230 s; boottime − start 2 ns
        assert!(
            (first["ts"].as_f64().unwrap() - (1_001_030_000.0 + 10.0 - 2.0) / 1e3).abs() < 1e-6
        );
        assert!(
            (first["dur"].as_f64().unwrap() - 200.0).abs() < 1e-6,
            "{first}"
        );
        assert_eq!(first["args"]["end"], "switched out");
        // odd runs: the switch-out was not recorded; the slice ends where the task was last seen
        let unrecorded = runs
            .iter()
            .filter(|e| e["name"] == "work 77" && e["dur"] == 100.0)
            .count();
        assert_eq!(unrecorded, 100);
        let expiries: Vec<&Value> = events(&doc, "i").filter(|e| e["cat"] == "timer").collect();
        assert_eq!(expiries.len(), 201);
        assert!(
            expiries.iter().all(|e| e["name"] == "hrtimer_wakeup"),
            "{:?}",
            expiries[0]
        );
        assert_eq!(
            events(&doc, "i")
                .filter(|e| e["pid"] == PID_CPUS && e["cat"] == "serial")
                .count(),
            3
        );
        // kernel strings survive escaping: the comm of tid 99, seen on CPU 1, names its run
        let weird = events(&doc, "X")
            .find(|e| e["args"]["tid"] == 99)
            .expect("tid 99 switched in on CPU 1");
        assert_eq!(weird["name"], "irq/\"4\"\n\u{fffd} 99");
        assert_eq!(weird["tid"], tid_of(PID_CPUS, 1));

        // timers: lost wakeups as instants and deadline→run slices, lateness counter
        assert_eq!(r.lost_wakeups.len(), 1, "{:?}", r.lost_wakeups);
        let lw: Vec<&Value> = events(&doc, "i").filter(|e| e["cat"] == "wakeup").collect();
        assert_eq!(lw.len(), 1);
        assert_eq!(lw[0]["name"], "lost wakeup pid 88 (sleepy)");
        assert_eq!(lw[0]["args"]["cause"], "cpu_contention");
        assert_eq!(lw[0]["args"]["late_ns"], r.lost_wakeups[0].late_ns);
        assert_eq!(x("wakeup"), 1);
        let late = events(&doc, "C")
            .filter(|e| e["name"].as_str().unwrap().starts_with("hrtimer lateness"))
            .map(|e| e["args"]["max_us"].as_f64().unwrap())
            .fold(0.0, f64::max);
        assert!((late - 20.0).abs() < 1e-9, "{late}");
    }

    #[test]
    fn cut_trace_exports_valid_json() {
        let bytes = synthetic_trace(false);
        let (r, doc) = export(&bytes[..bytes.len() - 5]);
        assert_eq!(r.trace.end, crate::analysis::TraceEnd::Truncated);
        assert_eq!(violations(&doc), Vec::<String>::new());
        assert_eq!(doc["metadata"]["trace_end"], "truncated");
    }
}
