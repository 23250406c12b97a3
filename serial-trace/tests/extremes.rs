//! Every number a trace carries, at the limit, through the whole report pipeline (analysis,
//! every renderer, the check rules, the trace-event export): nothing may panic.
//!
//! A damaged or foreign file can hold any value where a recorder writes a byte count, a time
//! or a histogram bucket. `cargo test` builds with overflow checks, so a sum that would wrap in
//! a release build (and print a wrong total) fails here. Byte-level fuzzing reaches such values
//! only by chance (CI's bounded run hit one in 2026-12; 20 minutes of it here did not); this
//! sweep sets them on purpose: for each fuzz seed, each event kind in it and each argument
//! slot, every event of that kind gets the value at once (so their sums overflow too); and
//! each number in the header, the loss records and the trailer gets it in turn.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serial_trace::trace::{Frame, Header, LossRecord, Symbol, TraceReader, TraceWriter, Trailer};
use serial_trace::{analysis, render};
use serial_trace_common::{Event, MAX_ARGS};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The largest count, the most negative time (`as i64`), the largest positive one.
const EXTREMES: [u64; 3] = [u64::MAX, 1 << 63, (1 << 63) - 1];

/// One seed trace, decoded.
#[derive(Clone)]
struct Seed {
    header: Header,
    events: Vec<Event>,
    symbols: Vec<Symbol>,
    losses: Vec<LossRecord>,
    trailer: Option<Trailer>,
}

fn seeds() -> Vec<(String, Seed)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "trace"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, decode(&std::fs::read(&p).unwrap()))
        })
        .collect()
}

fn decode(bytes: &[u8]) -> Seed {
    let mut r = TraceReader::new(bytes).unwrap();
    let mut seed = Seed {
        header: r.header().clone(),
        events: Vec::new(),
        symbols: Vec::new(),
        losses: Vec::new(),
        trailer: None,
    };
    while let Some(frame) = r.next_frame().unwrap() {
        match frame {
            Frame::Events(e) => seed.events.extend_from_slice(e),
            Frame::Symbols(s) => seed.symbols.extend(s),
            Frame::Loss(l) => seed.losses.push(l),
            Frame::Trailer(t) => seed.trailer = Some(t),
            Frame::Unknown(_) => {}
        }
    }
    seed
}

fn encode(s: &Seed) -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), &s.header).unwrap();
    w.write_symbols(&s.symbols).unwrap();
    for l in &s.losses {
        w.write_loss(l).unwrap();
    }
    for e in &s.events {
        w.push(e).unwrap();
    }
    match &s.trailer {
        Some(t) => w.finish(t).unwrap(),
        None => {
            w.flush().unwrap();
            w.get_ref().clone()
        }
    }
}

/// The whole pipeline, as `serial-trace report` runs it; names the case when it panics.
fn report(case: &str, s: &Seed) {
    let trace = encode(s);
    let run = || {
        let reader = TraceReader::new(&trace[..]).unwrap();
        let (r, _) = analysis::analyze_with_wakeups(reader, true).unwrap();
        render::render_text(&r, true);
        render::render_json(&r);
        render::render_html(&r);
        render::render_timeline_svg(&r, 640, 480);
        let _ = serial_trace::check::run(&r, &["drops=0".into(), "timer_p99<2ms".into()]);
        let again = TraceReader::new(&trace[..]).unwrap();
        render::write_trace_events(&r, again, std::io::sink()).unwrap();
    };
    if std::panic::catch_unwind(run).is_err() {
        panic!("the report panicked on {case}");
    }
}

/// An event's field other than its arguments: both clocks, the task, the CPU.
const FIELDS: [&str; 4] = ["mono_ns", "boot_ns", "pid_tgid", "cpu"];

fn set_field(e: &mut Event, field: &str, v: u64) {
    match field {
        "mono_ns" => e.mono_ns = v,
        "boot_ns" => e.boot_ns = v,
        "pid_tgid" => e.pid_tgid = v,
        _ => e.cpu = v as u16,
    }
}

#[test]
fn every_event_argument_at_the_limit() {
    for_each_kind(|name, seed, kind| {
        for slot in 0..MAX_ARGS {
            for v in EXTREMES {
                let mut s = seed.clone();
                for e in s.events.iter_mut().filter(|e| e.kind == kind) {
                    e.args[slot] = v;
                }
                report(&format!("{name}: kind {kind} argument {slot} = {v:#x}"), &s);
            }
        }
    });
}

/// A time far ahead or at the start of the clock, a task or CPU number no kernel gives.
#[test]
fn every_events_clock_task_and_cpu_at_the_limit() {
    for_each_kind(|name, seed, kind| {
        for field in FIELDS {
            for v in [0, u64::MAX] {
                let mut s = seed.clone();
                for e in s.events.iter_mut().filter(|e| e.kind == kind) {
                    set_field(e, field, v);
                }
                report(&format!("{name}: kind {kind} {field} = {v:#x}"), &s);
            }
        }
    });
}

fn for_each_kind(mut f: impl FnMut(&str, &Seed, u16)) {
    for (name, seed) in seeds() {
        let kinds: BTreeSet<u16> = seed.events.iter().map(|e| e.kind).collect();
        for kind in kinds {
            f(&name, &seed, kind);
        }
    }
}

#[test]
fn every_number_in_the_header_losses_and_trailer_at_the_limit() {
    for (name, seed) in seeds() {
        for v in EXTREMES {
            for i in 0..numbers(&seed.header) {
                let mut s = seed.clone();
                s.header = with_number(&seed.header, i, v);
                report(&format!("{name}: header number {i} = {v:#x}"), &s);
            }
            for (l, loss) in seed.losses.iter().enumerate() {
                for i in 0..numbers(loss) {
                    let mut s = seed.clone();
                    s.losses[l] = with_number(loss, i, v);
                    report(&format!("{name}: loss record {l} number {i} = {v:#x}"), &s);
                }
            }
            if let Some(t) = &seed.trailer {
                for i in 0..numbers(t) {
                    let mut s = seed.clone();
                    s.trailer = Some(with_number(t, i, v));
                    report(&format!("{name}: trailer number {i} = {v:#x}"), &s);
                }
            }
        }
    }
}

/// How many numbers `t`'s JSON form holds.
fn numbers<T: Serialize>(t: &T) -> usize {
    fn count(v: &Value) -> usize {
        match v {
            Value::Number(_) => 1,
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    count(&serde_json::to_value(t).unwrap())
}

/// `t` with its `i`-th number replaced by `v` (unchanged where the field cannot hold `v`).
fn with_number<T: Serialize + DeserializeOwned + Clone>(t: &T, i: usize, v: u64) -> T {
    fn nth<'a>(v: &'a mut Value, i: &mut usize) -> Option<&'a mut Value> {
        match v {
            Value::Number(_) => {
                if *i == 0 {
                    return Some(v);
                }
                *i -= 1;
                None
            }
            Value::Array(a) => a.iter_mut().find_map(|x| nth(x, i)),
            Value::Object(o) => o.values_mut().find_map(|x| nth(x, i)),
            _ => None,
        }
    }
    let mut json = serde_json::to_value(t).unwrap();
    *nth(&mut json, &mut { i }).unwrap() = Value::from(v);
    serde_json::from_value(json).unwrap_or_else(|_| t.clone())
}
