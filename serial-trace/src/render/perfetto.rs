//! `report --format perfetto`: Perfetto's native trace format, the tracks `tracks` builds as a
//! `Trace` protobuf (a stream of `TracePacket`s) that ui.perfetto.dev and `trace_processor`
//! read without a JSON importer in between.
//!
//! What the native format adds over trace-event JSON:
//! * real tracks: each group (CPUs, suspend, serial ports, timers, recording) is a track with
//!   child tracks in a fixed order, not a process with a made-up pid;
//! * tasks by their real ids: each task with a lost wakeup gets a thread track (its process
//!   and thread id, its name) carrying an instant per lost wakeup;
//! * counters as counter tracks (one per series), timestamps as integer CLOCK_BOOTTIME
//!   nanoseconds (the clock Perfetto's own traces default to), so a trace taken on the same
//!   machine with Perfetto lines up with this one;
//! * event names and categories interned (written once, then referred to by number), and the
//!   kernel's uname as the trace's `system_info`.
//!
//! Slices are written as a begin and an end packet at the slice's two timestamps, in the order
//! the tracks produce them; `trace_processor` sorts packets by timestamp (stably), and the
//! lanes the slices are put on nest properly, so every end closes its own begin.
//!
//! Every string is neutralised as in the other renderers (control characters shown as their
//! Unicode pictures): a kernel name may hold anything, and trace_processor prints to terminals.
//!
//! The messages below are the subset of Perfetto's protos this export writes, with the same
//! field numbers (`tests/perfetto_check.py` parses the output with Perfetto's own compiled
//! protos and fails on any field they do not know).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufWriter, Read, Write};

use prost::Message;
use serde_json::{Value, json};

use super::tracks::{PID_RECORDING, TrackSink, metadata, tid_of, write_tracks};
use crate::analysis::Report;
use crate::fmt::neutralize;
use crate::trace::TraceReader;

/// Writes `r` and the events of `reader` (a fresh reader over the same trace) as a Perfetto
/// protobuf trace to `out`.
pub fn write_perfetto<R: Read, W: Write>(
    r: &Report,
    reader: TraceReader<R>,
    out: W,
) -> io::Result<()> {
    let mut sink = Sink::new(out, r.timeline.start_boot_ns);
    sink.system_info(r)?;
    write_tracks(&mut sink, r, reader)?;
    sink.finish(r)
}

/// The protobuf messages, as Perfetto's `protos/perfetto/trace/…` define them (subset).
pub mod proto {
    /// `Trace`: the file is this message, its packets written one after another (so it is
    /// only decoded whole, by the tests).
    #[cfg(test)]
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Trace {
        #[prost(message, repeated, tag = "1")]
        pub packet: Vec<TracePacket>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TracePacket {
        #[prost(uint64, optional, tag = "8")]
        pub timestamp: Option<u64>,
        #[prost(uint32, optional, tag = "10")]
        pub trusted_packet_sequence_id: Option<u32>,
        #[prost(message, optional, tag = "11")]
        pub track_event: Option<TrackEvent>,
        #[prost(message, optional, tag = "12")]
        pub interned_data: Option<InternedData>,
        #[prost(uint32, optional, tag = "13")]
        pub sequence_flags: Option<u32>,
        #[prost(message, optional, tag = "45")]
        pub system_info: Option<SystemInfo>,
        #[prost(message, optional, tag = "60")]
        pub track_descriptor: Option<TrackDescriptor>,
        #[prost(bool, optional, tag = "87")]
        pub first_packet_on_sequence: Option<bool>,
    }

    /// `TracePacket.SequenceFlags`.
    pub const SEQ_INCREMENTAL_STATE_CLEARED: u32 = 1;
    pub const SEQ_NEEDS_INCREMENTAL_STATE: u32 = 2;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TrackEvent {
        #[prost(uint64, repeated, packed = "false", tag = "3")]
        pub category_iids: Vec<u64>,
        #[prost(message, repeated, tag = "4")]
        pub debug_annotations: Vec<DebugAnnotation>,
        #[prost(enumeration = "EventType", optional, tag = "9")]
        pub r#type: Option<i32>,
        #[prost(uint64, optional, tag = "10")]
        pub name_iid: Option<u64>,
        #[prost(uint64, optional, tag = "11")]
        pub track_uuid: Option<u64>,
        #[prost(string, repeated, tag = "22")]
        pub categories: Vec<String>,
        #[prost(string, optional, tag = "23")]
        pub name: Option<String>,
        #[prost(int64, optional, tag = "30")]
        pub counter_value: Option<i64>,
        #[prost(double, optional, tag = "44")]
        pub double_counter_value: Option<f64>,
    }

    /// `TrackEvent.Type`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum EventType {
        Unspecified = 0,
        SliceBegin = 1,
        SliceEnd = 2,
        Instant = 3,
        Counter = 4,
    }

    /// One argument of an event; exactly one value field is set (a `oneof` in the proto).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DebugAnnotation {
        #[prost(bool, optional, tag = "2")]
        pub bool_value: Option<bool>,
        #[prost(uint64, optional, tag = "3")]
        pub uint_value: Option<u64>,
        #[prost(int64, optional, tag = "4")]
        pub int_value: Option<i64>,
        #[prost(double, optional, tag = "5")]
        pub double_value: Option<f64>,
        #[prost(string, optional, tag = "6")]
        pub string_value: Option<String>,
        #[prost(string, optional, tag = "10")]
        pub name: Option<String>,
        #[prost(message, repeated, tag = "11")]
        pub dict_entries: Vec<DebugAnnotation>,
        #[prost(message, repeated, tag = "12")]
        pub array_values: Vec<DebugAnnotation>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InternedData {
        #[prost(message, repeated, tag = "1")]
        pub event_categories: Vec<InternedString>,
        #[prost(message, repeated, tag = "2")]
        pub event_names: Vec<InternedString>,
    }

    /// `EventCategory` and `EventName`: the same two fields.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InternedString {
        #[prost(uint64, optional, tag = "1")]
        pub iid: Option<u64>,
        #[prost(string, optional, tag = "2")]
        pub name: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TrackDescriptor {
        #[prost(uint64, optional, tag = "1")]
        pub uuid: Option<u64>,
        #[prost(string, optional, tag = "2")]
        pub name: Option<String>,
        #[prost(message, optional, tag = "3")]
        pub process: Option<ProcessDescriptor>,
        #[prost(message, optional, tag = "4")]
        pub thread: Option<ThreadDescriptor>,
        #[prost(uint64, optional, tag = "5")]
        pub parent_uuid: Option<u64>,
        #[prost(message, optional, tag = "8")]
        pub counter: Option<CounterDescriptor>,
        #[prost(int32, optional, tag = "11")]
        pub child_ordering: Option<i32>,
        #[prost(int32, optional, tag = "12")]
        pub sibling_order_rank: Option<i32>,
    }

    /// `TrackDescriptor.ChildTracksOrdering.EXPLICIT`: children by `sibling_order_rank`.
    pub const CHILD_ORDERING_EXPLICIT: i32 = 3;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ProcessDescriptor {
        #[prost(int32, optional, tag = "1")]
        pub pid: Option<i32>,
        #[prost(string, optional, tag = "6")]
        pub process_name: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ThreadDescriptor {
        #[prost(int32, optional, tag = "1")]
        pub pid: Option<i32>,
        #[prost(int64, optional, tag = "2")]
        pub tid: Option<i64>,
        #[prost(string, optional, tag = "5")]
        pub thread_name: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CounterDescriptor {
        /// `CounterDescriptor.Unit`.
        #[prost(int32, optional, tag = "3")]
        pub unit: Option<i32>,
    }

    /// `CounterDescriptor.Unit.UNIT_COUNT`, `UNIT_SIZE_BYTES`.
    pub const UNIT_COUNT: i32 = 2;
    pub const UNIT_SIZE_BYTES: i32 = 3;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SystemInfo {
        #[prost(message, optional, tag = "1")]
        pub utsname: Option<Utsname>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Utsname {
        #[prost(string, optional, tag = "1")]
        pub sysname: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub version: Option<String>,
        #[prost(string, optional, tag = "3")]
        pub release: Option<String>,
        #[prost(string, optional, tag = "4")]
        pub machine: Option<String>,
    }
}

use proto::{EventType, TracePacket, TrackDescriptor, TrackEvent};

/// The one packet sequence this writer is (any non-zero id).
const SEQUENCE_ID: u32 = 1;

/// Distinct event names interned at most: past this many (names that carry numbers, e.g. a
/// drop's byte count, are mostly distinct) names are written in full, so memory stays bounded
/// by this, not by the trace's length.
const MAX_INTERNED_NAMES: usize = 65_536;

/// `Trace.packet`'s key: field 1, length-delimited.
const PACKET_KEY: u8 = (1 << 3) | 2;

/// Track uuids: a group is `pid << 32`, its lanes `pid << 32 | tid` (tid ≥ 1, see
/// [`tid_of`]), its counters `pid << 32 | COUNTER_BIT | n`; tasks' tracks have the top bits.
const COUNTER_BIT: u64 = 1 << 31;
const TASK_PROCESS: u64 = 1 << 63;
const TASK_THREAD: u64 = 1 << 62;

fn group_uuid(pid: u32) -> u64 {
    u64::from(pid) << 32
}

fn lane_uuid(pid: u32, tid: u32) -> u64 {
    group_uuid(pid) | u64::from(tid)
}

/// Streams packets into the `Trace`.
struct Sink<W: Write> {
    w: BufWriter<W>,
    buf: Vec<u8>,
    /// Boottime of the start of the recording.
    origin: u64,
    /// Whether the first packet (which clears the sequence's incremental state) is out.
    started: bool,
    names: HashMap<String, u64>,
    categories: HashMap<String, u64>,
    /// Counter track per (group, counter name, series).
    counters: HashMap<(u32, String, String), u64>,
    /// Task process and thread tracks written.
    tasks: HashSet<u64>,
    /// Packets written, per event type (and descriptors).
    written: BTreeMap<&'static str, u64>,
}

impl<W: Write> Sink<W> {
    fn new(out: W, origin: u64) -> Self {
        Self {
            w: BufWriter::new(out),
            buf: Vec::with_capacity(256),
            origin,
            started: false,
            names: HashMap::new(),
            categories: HashMap::new(),
            counters: HashMap::new(),
            tasks: HashSet::new(),
            written: Default::default(),
        }
    }

    fn packet(&mut self, mut p: TracePacket) -> io::Result<()> {
        p.trusted_packet_sequence_id = Some(SEQUENCE_ID);
        if !self.started {
            self.started = true;
            p.first_packet_on_sequence = Some(true);
            p.sequence_flags =
                Some(p.sequence_flags.unwrap_or(0) | proto::SEQ_INCREMENTAL_STATE_CLEARED);
        }
        // `Trace.packet`'s key, then the packet with its length: one buffer, reused
        self.buf.clear();
        self.buf.push(PACKET_KEY);
        p.encode_length_delimited(&mut self.buf)
            .map_err(io::Error::other)?;
        self.w.write_all(&self.buf)
    }

    fn descriptor(&mut self, d: TrackDescriptor) -> io::Result<()> {
        *self.written.entry("track_descriptor").or_default() += 1;
        self.packet(TracePacket {
            track_descriptor: Some(d),
            ..Default::default()
        })
    }

    /// The kernel the trace was recorded on, as Perfetto's own traces carry it.
    fn system_info(&mut self, r: &Report) -> io::Result<()> {
        let some = |s: &str| (!s.is_empty()).then(|| neutralize(s));
        self.packet(TracePacket {
            system_info: Some(proto::SystemInfo {
                utsname: Some(proto::Utsname {
                    sysname: Some("Linux".into()),
                    version: some(&r.kernel.version),
                    release: some(&r.kernel.release),
                    machine: some(&r.kernel.machine),
                }),
            }),
            ..Default::default()
        })
    }

    /// Writes `e` at `at`, its name and category interned (new ones defined in this packet).
    fn write_event(
        &mut self,
        mut e: TrackEvent,
        cat: Option<&str>,
        name: Option<&str>,
        at: u64,
    ) -> io::Result<()> {
        let mut interned = proto::InternedData::default();
        if let Some(cat) = cat {
            let cat = &neutralize(cat);
            let next = self.categories.len() as u64 + 1;
            let iid = *self.categories.entry(cat.to_string()).or_insert_with(|| {
                interned.event_categories.push(proto::InternedString {
                    iid: Some(next),
                    name: Some(cat.to_string()),
                });
                next
            });
            e.category_iids.push(iid);
        }
        if let Some(name) = name {
            let name = &neutralize(name);
            match self.names.get(name.as_str()) {
                Some(&iid) => e.name_iid = Some(iid),
                None if self.names.len() < MAX_INTERNED_NAMES => {
                    let iid = self.names.len() as u64 + 1;
                    self.names.insert(name.to_string(), iid);
                    interned.event_names.push(proto::InternedString {
                        iid: Some(iid),
                        name: Some(name.to_string()),
                    });
                    e.name_iid = Some(iid);
                }
                None => e.name = Some(name.to_string()),
            }
        }
        let kind = match EventType::try_from(e.r#type.unwrap_or(0)) {
            Ok(EventType::SliceBegin) => "slice_begin",
            Ok(EventType::SliceEnd) => "slice_end",
            Ok(EventType::Instant) => "instant",
            Ok(EventType::Counter) => "counter",
            _ => "other",
        };
        *self.written.entry(kind).or_default() += 1;
        let has_interned =
            !interned.event_names.is_empty() || !interned.event_categories.is_empty();
        self.packet(TracePacket {
            timestamp: Some(at),
            track_event: Some(e),
            interned_data: has_interned.then_some(interned),
            sequence_flags: Some(proto::SEQ_NEEDS_INCREMENTAL_STATE),
            ..Default::default()
        })
    }

    fn finish(mut self, r: &Report) -> io::Result<()> {
        // what the JSON export keeps in its `metadata`, on the recording's track
        let mut meta = metadata(r, "ns");
        meta.insert("exported_packets".into(), json!(self.written));
        let e = TrackEvent {
            track_uuid: Some(lane_uuid(PID_RECORDING, tid_of(PID_RECORDING, 0))),
            r#type: Some(EventType::Instant as i32),
            debug_annotations: annotations(Value::Object(meta)),
            ..Default::default()
        };
        let origin = self.origin;
        self.write_event(e, Some("recording"), Some("serial-trace export"), origin)?;
        self.w.flush()
    }
}

/// The arguments of an event (a JSON object) as debug annotations.
fn annotations(args: Value) -> Vec<proto::DebugAnnotation> {
    match args {
        Value::Object(m) => m
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                let mut a = annotation(v);
                a.name = Some(neutralize(&k));
                a
            })
            .collect(),
        Value::Null => Vec::new(),
        other => {
            let mut a = annotation(other);
            a.name = Some("value".into());
            vec![a]
        }
    }
}

fn annotation(v: Value) -> proto::DebugAnnotation {
    let mut a = proto::DebugAnnotation::default();
    match v {
        Value::Bool(b) => a.bool_value = Some(b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                a.int_value = Some(i);
            } else if let Some(u) = n.as_u64() {
                a.uint_value = Some(u);
            } else {
                a.double_value = n.as_f64();
            }
        }
        Value::String(s) => a.string_value = Some(neutralize(&s)),
        Value::Null => a.string_value = Some("null".into()),
        Value::Array(items) => a.array_values = items.into_iter().map(annotation).collect(),
        Value::Object(m) => {
            a.dict_entries = m
                .into_iter()
                .map(|(k, v)| {
                    let mut e = annotation(v);
                    e.name = Some(neutralize(&k));
                    e
                })
                .collect()
        }
    }
    a
}

impl<W: Write> TrackSink for Sink<W> {
    fn origin(&self) -> u64 {
        self.origin
    }

    fn process(&mut self, pid: u32, name: &str, sort: i64) -> io::Result<()> {
        self.descriptor(TrackDescriptor {
            uuid: Some(group_uuid(pid)),
            name: Some(neutralize(name)),
            child_ordering: Some(proto::CHILD_ORDERING_EXPLICIT),
            sibling_order_rank: Some(sort as i32),
            ..Default::default()
        })
    }

    fn thread(&mut self, pid: u32, tid: u32, name: &str, sort: i64) -> io::Result<()> {
        self.descriptor(TrackDescriptor {
            uuid: Some(lane_uuid(pid, tid)),
            parent_uuid: Some(group_uuid(pid)),
            name: Some(neutralize(name)),
            sibling_order_rank: Some(sort.clamp(i32::MIN.into(), i32::MAX.into()) as i32),
            ..Default::default()
        })
    }

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
        let track = lane_uuid(pid, tid);
        let begin = TrackEvent {
            track_uuid: Some(track),
            r#type: Some(EventType::SliceBegin as i32),
            debug_annotations: annotations(args),
            ..Default::default()
        };
        self.write_event(begin, Some(cat), Some(name), start)?;
        let end_event = TrackEvent {
            track_uuid: Some(track),
            r#type: Some(EventType::SliceEnd as i32),
            ..Default::default()
        };
        self.write_event(end_event, None, None, end)
    }

    fn instant(
        &mut self,
        pid: u32,
        tid: u32,
        cat: &str,
        name: &str,
        at: u64,
        args: Value,
    ) -> io::Result<()> {
        let e = TrackEvent {
            track_uuid: Some(lane_uuid(pid, tid)),
            r#type: Some(EventType::Instant as i32),
            debug_annotations: annotations(args),
            ..Default::default()
        };
        self.write_event(e, Some(cat), Some(name), at.max(self.origin))
    }

    fn counter(&mut self, pid: u32, name: &str, at: u64, args: Value) -> io::Result<()> {
        let Value::Object(series) = args else {
            return Ok(());
        };
        let single = series.len() == 1;
        for (key, value) in series {
            let id = (pid, name.to_string(), key.clone());
            let track = match self.counters.get(&id) {
                Some(&t) => t,
                None => {
                    let t = group_uuid(pid) | COUNTER_BIT | self.counters.len() as u64;
                    self.counters.insert(id, t);
                    let unit = if name.ends_with(" bytes") || key.ends_with("_bytes") {
                        proto::UNIT_SIZE_BYTES
                    } else if key == "count" {
                        proto::UNIT_COUNT
                    } else {
                        0
                    };
                    self.descriptor(TrackDescriptor {
                        uuid: Some(t),
                        parent_uuid: Some(group_uuid(pid)),
                        name: Some(neutralize(&if single {
                            name.to_string()
                        } else {
                            format!("{name} {key}")
                        })),
                        counter: Some(proto::CounterDescriptor {
                            unit: (unit != 0).then_some(unit),
                        }),
                        ..Default::default()
                    })?;
                    t
                }
            };
            let mut e = TrackEvent {
                track_uuid: Some(track),
                r#type: Some(EventType::Counter as i32),
                ..Default::default()
            };
            match value.as_i64() {
                Some(i) => e.counter_value = Some(i),
                None => e.double_counter_value = Some(value.as_f64().unwrap_or(0.0)),
            }
            self.write_event(e, None, None, at.max(self.origin))?;
        }
        Ok(())
    }

    fn task_instant(
        &mut self,
        tgid: u32,
        tid: u32,
        comm: &str,
        cat: &str,
        name: &str,
        at: u64,
        args: Value,
    ) -> io::Result<()> {
        let process = TASK_PROCESS | u64::from(tgid);
        if tgid != 0 && self.tasks.insert(process) {
            self.descriptor(TrackDescriptor {
                uuid: Some(process),
                process: Some(proto::ProcessDescriptor {
                    pid: Some(tgid as i32),
                    process_name: None,
                }),
                ..Default::default()
            })?;
        }
        let thread = TASK_THREAD | u64::from(tid);
        if self.tasks.insert(thread) {
            self.descriptor(TrackDescriptor {
                uuid: Some(thread),
                parent_uuid: (tgid != 0).then_some(process),
                thread: Some(proto::ThreadDescriptor {
                    pid: Some(tgid as i32),
                    tid: Some(i64::from(tid)),
                    thread_name: (!comm.is_empty()).then(|| neutralize(comm)),
                }),
                ..Default::default()
            })?;
        }
        let e = TrackEvent {
            track_uuid: Some(thread),
            r#type: Some(EventType::Instant as i32),
            debug_annotations: annotations(args),
            ..Default::default()
        };
        self.write_event(e, Some(cat), Some(name), at.max(self.origin))
    }
}

#[cfg(test)]
mod tests {
    use super::proto::{Trace, TrackEvent};
    use super::*;
    use crate::analysis::analyze;
    use crate::render::trace_event::tests::synthetic_trace;
    use crate::render::write_trace_events;
    use std::path::{Path, PathBuf};

    fn export(bytes: &[u8]) -> (Report, Vec<u8>) {
        let r = analyze(TraceReader::new(bytes).unwrap()).unwrap();
        let mut out = Vec::new();
        write_perfetto(&r, TraceReader::new(bytes).unwrap(), &mut out).unwrap();
        (r, out)
    }

    fn events(t: &Trace) -> impl Iterator<Item = (u64, &TrackEvent)> {
        t.packet
            .iter()
            .filter_map(|p| Some((p.timestamp?, p.track_event.as_ref()?)))
    }

    #[test]
    fn the_export_decodes_and_holds_the_reports_tables() {
        let (r, out) = export(&synthetic_trace(true));
        let t = Trace::decode(out.as_slice()).expect("a Trace");
        let first = &t.packet[0];
        assert_eq!(
            first.sequence_flags,
            Some(proto::SEQ_INCREMENTAL_STATE_CLEARED)
        );
        let uname = first
            .system_info
            .as_ref()
            .unwrap()
            .utsname
            .as_ref()
            .unwrap();
        assert_eq!(uname.release.as_deref(), Some("6.18.0-test"));

        // every event's track is described before it, with its group before it
        let mut described = HashSet::new();
        let mut by_uuid = HashMap::new();
        for p in &t.packet {
            if let Some(d) = &p.track_descriptor {
                if let Some(parent) = d.parent_uuid {
                    assert!(described.contains(&parent), "{d:?}");
                }
                assert!(described.insert(d.uuid.unwrap()), "described twice: {d:?}");
                by_uuid.insert(d.uuid.unwrap(), d.clone());
            }
            if let Some(e) = &p.track_event {
                assert!(described.contains(&e.track_uuid.unwrap()), "{e:?}");
            }
        }
        // the slices balance on every track; nothing before the start of the recording
        let mut open: HashMap<u64, i64> = HashMap::new();
        for (at, e) in events(&t) {
            assert!(at >= r.timeline.start_boot_ns, "{e:?} at {at}");
            let n = open.entry(e.track_uuid.unwrap()).or_default();
            match EventType::try_from(e.r#type.unwrap()).unwrap() {
                EventType::SliceBegin => *n += 1,
                EventType::SliceEnd => *n -= 1,
                _ => {}
            }
        }
        assert!(open.values().all(|&n| n == 0), "{open:?}");

        // one instant per drop window on its port's track; each lost wakeup on its task's own
        // thread track, by its real ids
        let drops = events(&t)
            .filter(|(_, e)| {
                e.r#type == Some(EventType::Instant as i32)
                    && by_uuid[&e.track_uuid.unwrap()].parent_uuid
                        == Some(group_uuid(super::super::tracks::PID_SERIAL))
            })
            .count();
        assert!(!r.drops.is_empty());
        assert_eq!(drops, r.drops.len());
        assert!(!r.lost_wakeups.is_empty());
        for l in &r.lost_wakeups {
            let on_task = events(&t).any(|(at, e)| {
                let d = &by_uuid[&e.track_uuid.unwrap()];
                d.thread.as_ref().is_some_and(|th| {
                    th.tid == Some(i64::from(l.tid))
                        && th.pid == Some(l.pid as i32)
                        && th.thread_name.as_deref() == Some(l.comm.as_str())
                }) && at == l.actual_boot_ns
            });
            assert!(on_task, "{l:?}");
        }
        // the byte counters end at the report's totals
        let port = &r.ports[0];
        let received = by_uuid
            .values()
            .find(|d| d.name.as_deref() == Some(&format!("{} bytes received", port.name)))
            .expect("a received-bytes counter track");
        assert_eq!(
            received.counter.as_ref().unwrap().unit,
            Some(proto::UNIT_SIZE_BYTES)
        );
        let last = events(&t)
            .filter(|(_, e)| e.track_uuid == received.uuid)
            .last()
            .unwrap();
        assert_eq!(last.1.counter_value, Some(port.bytes_received as i64));
    }

    #[test]
    fn names_are_interned_once() {
        let (_, out) = export(&synthetic_trace(true));
        let t = Trace::decode(out.as_slice()).unwrap();
        let mut defined = HashMap::new();
        for p in &t.packet {
            for n in p.interned_data.iter().flat_map(|i| &i.event_names) {
                let old = defined.insert(n.iid.unwrap(), n.name.clone());
                assert!(old.is_none(), "iid {} defined twice", n.iid.unwrap());
            }
            if let Some(e) = &p.track_event {
                if let Some(iid) = e.name_iid {
                    assert!(defined.contains_key(&iid), "iid {iid} used before defined");
                    assert_eq!(p.sequence_flags, Some(proto::SEQ_NEEDS_INCREMENTAL_STATE));
                }
            }
        }
        let names: HashSet<_> = defined.values().collect();
        assert_eq!(names.len(), defined.len(), "a name interned twice");
    }

    // ---- against Perfetto's own schema (its Python package), `#[ignore]`d: it needs the
    // virtual environment `cargo xtask setup` makes; `cargo xtask test` runs it ----

    /// The Python of the virtual environment holding Perfetto's package (`cargo xtask setup`).
    fn perfetto_python() -> PathBuf {
        if let Some(p) = std::env::var_os("SERIAL_TRACE_PERFETTO_PYTHON") {
            return PathBuf::from(p);
        }
        let home = std::env::var_os("HOME").expect("HOME");
        Path::new(&home).join(".cache/serial-trace/perfetto-venv/bin/python3")
    }

    /// Runs `tests/perfetto_check.py` on the native export, the trace-event export and the
    /// report of `bytes`; returns whether it passed, and what it printed.
    fn check(
        dir: &Path,
        name: &str,
        bytes: &[u8],
        tamper: impl Fn(&mut Vec<u8>),
    ) -> (bool, String) {
        let (r, mut native) = export(bytes);
        tamper(&mut native);
        let mut json = Vec::new();
        write_trace_events(&r, TraceReader::new(bytes).unwrap(), &mut json).unwrap();
        let files = [
            (dir.join(format!("{name}.pftrace")), native),
            (dir.join(format!("{name}.trace-event.json")), json),
            (
                dir.join(format!("{name}.json")),
                serde_json::to_vec(&r).unwrap(),
            ),
        ];
        for (path, data) in &files {
            std::fs::write(path, data).unwrap();
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/perfetto_check.py");
        let python = perfetto_python();
        let out = std::process::Command::new(&python)
            .arg(script)
            .args(files.iter().map(|(p, _)| p))
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (Perfetto's Python package: run `cargo xtask setup`)",
                    python.display()
                )
            });
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    #[test]
    #[ignore = "needs Perfetto's Python package (cargo xtask setup)"]
    fn perfettos_own_schema_reads_the_export_as_the_trace_event_one() {
        let dir =
            std::env::temp_dir().join(format!("serial-trace-perfetto-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        let mut traces = vec![("synthetic".to_string(), synthetic_trace(true))];
        for name in ["event-loop-6.12-rt", "asyncio-5.10-old"] {
            let bytes = std::fs::read(golden.join(format!("{name}.trace"))).unwrap();
            traces.push((name.to_string(), bytes));
        }
        // hostile names (markup, terminal escapes) in every field that carries text
        let seed = golden.join("../../../fuzz/seeds/synthetic.trace");
        traces.push(("hostile".into(), std::fs::read(seed).unwrap()));
        for (name, bytes) in &traces {
            let (ok, out) = check(&dir, name, bytes, |_| {});
            assert!(ok, "{name}:\n{out}");
            eprint!("{out}");
        }
        // the check can fail: a packet with a field Perfetto does not define (200, a varint) …
        let (ok, out) = check(&dir, "unknown-field", &traces[0].1, |native| {
            native.extend_from_slice(&[PACKET_KEY, 3, 0xc0, 0x0c, 1]);
        });
        assert!(!ok && out.contains("not in Perfetto's"), "{out}");
        // … and a slice end moved before its begin
        let (ok, out) = check(&dir, "reordered", &traces[0].1, |native| {
            let t = Trace::decode(native.as_slice()).unwrap();
            let mut packets = t.packet;
            let begin = packets
                .iter()
                .position(|p| {
                    p.track_event
                        .as_ref()
                        .is_some_and(|e| e.r#type == Some(EventType::SliceBegin as i32))
                })
                .unwrap();
            let end = begin + 1;
            assert_eq!(
                packets[end].track_event.as_ref().unwrap().r#type,
                Some(EventType::SliceEnd as i32)
            );
            let t0 = packets[begin].timestamp;
            packets[end].timestamp = t0.map(|t| t - 1);
            *native = Trace { packet: packets }.encode_to_vec();
        });
        assert!(!ok && out.contains("slice"), "{out}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
