"""Checks a `report --format perfetto` file against Perfetto's own trace schema and against the
trace-event JSON export of the same trace (both exports write the same tracks).

Usage: perfetto_check.py NATIVE.pftrace TRACE_EVENT.json REPORT.json

Run by `tests/perfetto_schema.rs` with the Python of the virtual environment `cargo xtask setup`
makes (Perfetto's `perfetto` package, whose compiled protos are the schema). Exits non-zero,
naming every problem, when:
  * a message holds a field Perfetto's protos do not define (wrong number or wire type);
  * the first packet does not clear the sequence's incremental state, an interned name or
    category is used before its definition, a packet using them does not say it needs them;
  * an event's track has no descriptor before it, a counter track gets anything but counter
    values, or a non-counter track gets a counter value;
  * slices, read as trace_processor reads them (packets sorted by timestamp, ties in file
    order; an end closes the innermost open slice of its track), do not nest, or differ from
    the trace-event export's complete events (track, name, start, duration) — likewise the
    instants and the counter samples;
  * the lost wakeups are not on their tasks' own thread tracks (real process and thread ids),
    or the drop windows and suspend cycles differ from the report's.
"""

import json
import sys
from collections import Counter, defaultdict

from google.protobuf import unknown_fields
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

SEQ_INCREMENTAL_STATE_CLEARED = 1
SEQ_NEEDS_INCREMENTAL_STATE = 2

problems = []


def neutralize(s):
    """serial-trace's `fmt::neutralize`: what the native export writes for a name the JSON
    export keeps raw (control characters as their Unicode pictures)."""
    out = []
    for c in s:
        o = ord(c)
        if o <= 0x1F:
            out.append(chr(0x2400 + o))
        elif o == 0x7F:
            out.append("\u2421")
        elif 0x80 <= o <= 0x9F or 0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069 or o in (0x200E, 0x200F):
            out.append("?")
        else:
            out.append(c)
    return "".join(out)


def problem(msg):
    if len(problems) < 50:
        problems.append(msg)


def unknown(msg, path):
    """Every field of `msg` and its sub-messages is one the schema defines."""
    n = len(unknown_fields.UnknownFieldSet(msg))
    if n:
        problem(f"{path}: {n} field(s) not in Perfetto's {msg.DESCRIPTOR.full_name}")
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        items = value if field.is_repeated else [value]
        for i, item in enumerate(items):
            unknown(item, f"{path}.{field.name}[{i}]")


def main(native_path, json_path, report_path):
    trace = pb.Trace.FromString(open(native_path, "rb").read())
    doc = json.load(open(json_path))
    report = json.load(open(report_path))
    packets = list(trace.packet)
    if not packets:
        problem("no packets")
        return
    unknown(trace, "trace")
    first = packets[0]
    if not first.sequence_flags & SEQ_INCREMENTAL_STATE_CLEARED:
        problem("the first packet does not clear the incremental state")

    tracks = {}  # uuid -> descriptor
    names, cats = {}, {}
    events = []  # (ts, file index, packet)
    for i, p in enumerate(packets):
        if p.trusted_packet_sequence_id != packets[0].trusted_packet_sequence_id:
            problem(f"packet {i}: another sequence")
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            if d.uuid in tracks:
                problem(f"packet {i}: track {d.uuid} described twice")
            if d.HasField("parent_uuid") and d.parent_uuid not in tracks:
                problem(f"packet {i}: track {d.name!r}'s parent not described before it")
            tracks[d.uuid] = d
        if p.HasField("interned_data"):
            for e in p.interned_data.event_names:
                names[e.iid] = e.name
            for e in p.interned_data.event_categories:
                cats[e.iid] = e.name
        if p.HasField("track_event"):
            e = p.track_event
            uses = e.HasField("name_iid") or len(e.category_iids) > 0
            if uses and not p.sequence_flags & SEQ_NEEDS_INCREMENTAL_STATE:
                problem(f"packet {i}: interned data used without SEQ_NEEDS_INCREMENTAL_STATE")
            if e.HasField("name_iid") and e.name_iid not in names:
                problem(f"packet {i}: name iid {e.name_iid} used before its definition")
            for c in e.category_iids:
                if c not in cats:
                    problem(f"packet {i}: category iid {c} used before its definition")
            if e.track_uuid not in tracks:
                problem(f"packet {i}: track {e.track_uuid} has no descriptor before it")
                continue
            is_counter = tracks[e.track_uuid].HasField("counter")
            if is_counter != (e.type == pb.TrackEvent.TYPE_COUNTER):
                problem(f"packet {i}: {pb.TrackEvent.Type.Name(e.type)} on track "
                        f"{tracks[e.track_uuid].name!r} (counter track: {is_counter})")
            events.append((p.timestamp, i, p))

    def path(uuid):
        d = tracks[uuid]
        if d.HasField("thread"):
            return f"task {d.thread.pid}/{d.thread.tid}"
        parent = tracks.get(d.parent_uuid) if d.HasField("parent_uuid") else None
        return f"{parent.name}/{d.name}" if parent else d.name

    def name_of(e):
        return names.get(e.name_iid) if e.HasField("name_iid") else e.name

    # as trace_processor reads it: sorted by timestamp, ties in file order
    events.sort(key=lambda x: (x[0], x[1]))
    open_slices = defaultdict(list)
    slices, instants, counters = Counter(), Counter(), Counter()
    task_instants = []
    for ts, _, p in events:
        e = p.track_event
        where = path(e.track_uuid)
        if e.type == pb.TrackEvent.TYPE_SLICE_BEGIN:
            open_slices[e.track_uuid].append((ts, name_of(e)))
        elif e.type == pb.TrackEvent.TYPE_SLICE_END:
            if not open_slices[e.track_uuid]:
                problem(f"{where}: a slice end at {ts} with no slice open")
                continue
            start, name = open_slices[e.track_uuid].pop()
            slices[(where, name, start, ts - start)] += 1
        elif e.type == pb.TrackEvent.TYPE_INSTANT:
            if tracks[e.track_uuid].HasField("thread"):
                task_instants.append((tracks[e.track_uuid].thread, ts, e))
            elif name_of(e) != "serial-trace export":
                instants[(where, name_of(e), ts)] += 1
        elif e.type == pb.TrackEvent.TYPE_COUNTER:
            v = e.double_counter_value if e.HasField("double_counter_value") else e.counter_value
            counters[(where, ts, round(float(v), 6))] += 1
    for uuid, stack in open_slices.items():
        if stack:
            problem(f"{path(uuid)}: {len(stack)} slice(s) never ended")

    # the trace-event export of the same tracks
    origin = doc["metadata"]["ts_origin_boot_ns"]
    groups, lanes = {}, {}
    for ev in doc["traceEvents"]:
        if ev["ph"] == "M" and ev["name"] == "process_name":
            groups[ev["pid"]] = neutralize(ev["args"]["name"])
        if ev["ph"] == "M" and ev["name"] == "thread_name":
            lanes[(ev["pid"], ev["tid"])] = neutralize(ev["args"]["name"])

    def ns(us):
        return origin + round(us * 1000)

    want_slices, want_instants, want_counters = Counter(), Counter(), Counter()
    for ev in doc["traceEvents"]:
        where = f"{groups[ev['pid']]}/{lanes.get((ev['pid'], ev['tid']), '')}"
        if ev["ph"] == "X":
            start = ns(ev["ts"])
            want_slices[(where, neutralize(ev["name"]), start, ns(ev["ts"] + ev["dur"]) - start)] += 1
        elif ev["ph"] == "i":
            want_instants[(where, neutralize(ev["name"]), ns(ev["ts"]))] += 1
        elif ev["ph"] == "C":
            keys = list(ev["args"])
            for k, v in ev["args"].items():
                series = neutralize(ev["name"] if len(keys) == 1 else f"{ev['name']} {k}")
                want_counters[(f"{groups[ev['pid']]}/{series}", ns(ev["ts"]), round(float(v), 6))] += 1

    def compare(what, got, want):
        if got == want:
            return
        missing = list((want - got).elements())[:5]
        extra = list((got - want).elements())[:5]
        problem(f"{what}: {sum(got.values())} native vs {sum(want.values())} trace-event; "
                f"missing {missing}, extra {extra}")

    # a slice's duration from JSON's float microseconds may be off by a nanosecond
    def loose(c):
        return Counter({(w, n, s // 10, d // 10): k for (w, n, s, d), k in c.items()})

    compare("slices", loose(slices), loose(want_slices))
    compare("instants", instants, want_instants)
    compare("counter samples", counters, want_counters)

    lost = report["lost_wakeups"]
    if len(task_instants) != len(lost):
        problem(f"{len(task_instants)} task instants, {len(lost)} lost wakeups in the report")
    for thread, ts, e in task_instants:
        match = [w for w in lost if w["tid"] == thread.tid and w["pid"] == thread.pid
                 and w["actual_boot_ns"] == ts]
        if not match:
            problem(f"task instant of {thread.pid}/{thread.tid} at {ts} is no lost wakeup")
        elif match[0]["comm"] and thread.thread_name != neutralize(match[0]["comm"]):
            problem(f"task {thread.tid} named {thread.thread_name!r}, not {match[0]['comm']!r}")

    drops = sum(n for (w, _, _), n in instants.items() if w.startswith("serial ports/"))
    if drops != len(report["drops"]):
        problem(f"{drops} drop instants, {len(report['drops'])} drop windows in the report")
    cycles = sum(n for (w, name, _, _), n in slices.items()
                 if w.startswith("suspend/") and " cycle " in name)
    if cycles != len(report["suspend_cycles"]):
        problem(f"{cycles} cycle slices, {len(report['suspend_cycles'])} cycles in the report")

    print(f"{native_path}: {len(packets)} packets, {len(tracks)} tracks, "
          f"{sum(slices.values())} slices, {sum(instants.values())} instants, "
          f"{sum(counters.values())} counter samples, {len(task_instants)} task instants")


if __name__ == "__main__":
    main(*sys.argv[1:4])
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    sys.exit(1 if problems else 0)
