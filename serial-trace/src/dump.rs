//! `serial-trace dump`: every event of a trace as one text line (like `perf script`), for
//! grepping and for checking what the analysis saw.

use std::io::{Read, Write};

use serial_trace_common::{Event, kind_info};

use crate::fmt::neutralize;
use crate::trace::{Frame, ReadEnd, TraceReader, trim_nul};

/// One line per event: boottime seconds, cpu, comm/tgid/tid, kind, named fields.
pub fn format_event(ev: &Event) -> String {
    let comm = String::from_utf8_lossy(trim_nul(&ev.comm));
    let mut line = format!(
        "{:>14.6} [{:03}] {:>16}/{:<7} {:<7} ",
        ev.boot_ns as f64 / 1e9,
        ev.cpu,
        neutralize(&comm),
        ev.tgid(),
        ev.tid()
    );
    match kind_info(ev.kind) {
        Some(k) => {
            line.push_str(k.name);
            for (i, a) in k.args.iter().enumerate() {
                // serial kinds hold counts and times: decimal, except kernel addresses; so do
                // the durations the port timing hooks derive, and an IRQ's number
                let count = a.name.ends_with("_ns") || matches!(a.name, "irq" | "ret" | "queued");
                if (k.is_tracepoint() && !count) || matches!(a.name, "port" | "tty") {
                    line.push_str(&format!(" {}={:#x}", a.name, ev.args[i]));
                } else {
                    line.push_str(&format!(" {}={}", a.name, ev.args[i]));
                }
            }
            for (i, t) in k.texts.iter().enumerate() {
                let s = String::from_utf8_lossy(trim_nul(&ev.text[i]));
                line.push_str(&format!(" {}={:?}", t.name, s));
            }
        }
        None => line.push_str(&format!("kind_{} args={:x?}", ev.kind, ev.args)),
    }
    line
}

/// Argument slots that hold kernel addresses (printed unsigned); every other slot is signed.
fn is_address(field: &str) -> bool {
    matches!(field, "hrtimer" | "function" | "timer" | "alarm")
}

/// One JSON object per event with named fields (numbers as numbers, signed where the slot is).
pub fn json_event(ev: &Event) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    let name = kind_info(ev.kind).map_or_else(|| format!("kind_{}", ev.kind), |k| k.name.into());
    m.insert("kind".into(), name.into());
    m.insert("mono_ns".into(), ev.mono_ns.into());
    m.insert("boot_ns".into(), ev.boot_ns.into());
    m.insert("cpu".into(), ev.cpu.into());
    m.insert("pid".into(), ev.tgid().into());
    m.insert("tid".into(), ev.tid().into());
    m.insert(
        "comm".into(),
        String::from_utf8_lossy(trim_nul(&ev.comm))
            .into_owned()
            .into(),
    );
    if let Some(k) = kind_info(ev.kind) {
        for (i, a) in k.args.iter().enumerate() {
            let v = ev.args[i];
            let value: serde_json::Value = if a.derived && a.name == "clockid" {
                // stored as clockid + 1 so that 0 can mean "unknown"
                v.checked_sub(1).map_or(serde_json::Value::Null, Into::into)
            } else if is_address(a.name) {
                v.into()
            } else {
                // slots hold sign-extended values: ktime_t expiries can be negative
                (v as i64).into()
            };
            m.insert(a.name.into(), value);
        }
        for (i, t) in k.texts.iter().enumerate() {
            let s = String::from_utf8_lossy(trim_nul(&ev.text[i])).into_owned();
            m.insert(t.name.into(), s.into());
        }
    }
    serde_json::Value::Object(m)
}

/// Output style of `dump`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Text,
    /// `symbols`: also the symbol records, as `{"kind":"symbol",…}` lines; `meta`: also what
    /// the trace says of itself (`loss` when the count grew, `end`, `damage`, `cut`,
    /// `corrupt`, `skipped_frame` lines). Without `meta` every line is an event.
    Jsonl {
        symbols: bool,
        meta: bool,
    },
}

/// What the trace said of its own completeness, for a caller that printed events only.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Completeness {
    /// Events the kernel could not hand over, as last counted.
    pub lost: u64,
    /// Damaged stretches skipped.
    pub damaged: u64,
    /// How reading ended when not at a clean end (`cut`, `corrupt`).
    pub ended_early: Option<&'static str>,
}

/// `kinds`: the event kinds to print (their ids); empty = every kind.
pub fn run<R: Read>(
    mut reader: TraceReader<R>,
    out: &mut impl Write,
    style: Style,
    kinds: &[u16],
) -> anyhow::Result<Completeness> {
    let wanted = |ev: &&Event| kinds.is_empty() || kinds.contains(&ev.kind);
    let mut lost_seen = 0;
    let line = |out: &mut dyn Write, v: serde_json::Value| -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, &v)?;
        out.write_all(b"\n")
    };
    while let Some(frame) = reader.next_frame()? {
        if let Style::Jsonl { symbols, meta } = style {
            match frame {
                Frame::Events(events) => {
                    for ev in events.iter().filter(wanted) {
                        line(out, json_event(ev))?;
                    }
                }
                Frame::Symbols(syms) if symbols => {
                    for s in syms {
                        line(
                            out,
                            serde_json::json!({"kind": "symbol", "addr": s.addr, "name": s.name}),
                        )?;
                    }
                }
                Frame::Loss(l) if l.lost_total > lost_seen => {
                    lost_seen = l.lost_total;
                    if !meta {
                        continue;
                    }
                    line(
                        out,
                        serde_json::json!({"kind": "loss", "mono_ns": l.at.mono_ns,
                            "boot_ns": l.at.boot_ns, "lost_total": l.lost_total,
                            "lost_per_cpu": l.lost_per_cpu}),
                    )?;
                }
                Frame::Trailer(t) => {
                    lost_seen = lost_seen.max(t.lost_total);
                    if meta {
                        line(
                            out,
                            serde_json::json!({"kind": "end", "mono_ns": t.end.mono_ns,
                        "boot_ns": t.end.boot_ns, "events_written": t.events_written,
                        "lost_total": t.lost_total, "stopped_by": t.stopped_by,
                        "error": t.error}),
                        )?
                    }
                }
                Frame::Unknown(ty) if meta => line(
                    out,
                    serde_json::json!({"kind": "skipped_frame", "frame_type": ty}),
                )?,
                _ => {}
            }
            continue;
        }
        match frame {
            Frame::Events(events) => {
                for ev in events.iter().filter(wanted) {
                    writeln!(out, "{}", format_event(ev))?;
                }
            }
            Frame::Symbols(syms) => {
                for s in syms {
                    writeln!(out, "# symbol {:#x} {}", s.addr, neutralize(&s.name))?;
                }
            }
            Frame::Loss(l) => {
                lost_seen = lost_seen.max(l.lost_total);
                writeln!(out, "# lost so far: {}", l.lost_total)?
            }
            Frame::Trailer(t) => {
                lost_seen = lost_seen.max(t.lost_total);
                writeln!(
                    out,
                    "# end: {} events, {} lost, stopped by {}",
                    t.events_written,
                    t.lost_total,
                    neutralize(&t.stopped_by)
                )?
            }
            Frame::Unknown(ty) => writeln!(out, "# skipped frame of unknown type {ty}")?,
        }
    }
    let damage = reader.damage();
    let completeness = Completeness {
        lost: lost_seen,
        damaged: damage.regions,
        ended_early: match reader.end() {
            Some(ReadEnd::Truncated { .. }) => Some("cut"),
            Some(ReadEnd::Corrupt { .. }) => Some("corrupt"),
            _ => None,
        },
    };
    if let Style::Jsonl { meta, .. } = style {
        if !meta {
            return Ok(completeness);
        }
        if damage.regions > 0 {
            let (at, why) = damage.first.clone().unwrap_or_default();
            line(
                out,
                serde_json::json!({"kind": "damage", "regions": damage.regions,
                    "bytes": damage.bytes, "first_at": at, "first_why": why}),
            )?;
        }
        match reader.end() {
            Some(ReadEnd::Truncated { cut_bytes, .. }) => line(
                out,
                serde_json::json!({"kind": "cut", "incomplete_bytes": cut_bytes}),
            )?,
            Some(ReadEnd::Corrupt { at, why, .. }) => line(
                out,
                serde_json::json!({"kind": "corrupt", "at": at, "why": why}),
            )?,
            _ => {}
        }
        return Ok(completeness);
    }
    if damage.regions > 0 {
        let (at, why) = damage.first.clone().unwrap_or_default();
        writeln!(
            out,
            "# skipped {} damaged stretch(es), {} bytes (first at byte {at}: {why})",
            damage.regions, damage.bytes
        )?;
    }
    match reader.end() {
        Some(ReadEnd::Truncated { cut_bytes, .. }) => {
            writeln!(out, "# trace cut: last {cut_bytes} bytes incomplete")?
        }
        Some(ReadEnd::Corrupt { at, why, .. }) => {
            writeln!(out, "# corrupt frame at byte {at} ({why}); stopped")?
        }
        _ => {}
    }
    Ok(completeness)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serial_trace_common::kind;

    #[test]
    fn formats_named_fields_and_escapes_comm() {
        let mut ev = Event::ZERO;
        ev.kind = kind::SUSPEND_RESUME;
        ev.boot_ns = 1_500_000_000;
        ev.comm[..4].copy_from_slice(b"a\x1bb\n");
        ev.args[0] = 3;
        ev.args[1] = 1;
        ev.text[0][..13].copy_from_slice(b"suspend_enter");
        let l = format_event(&ev);
        assert!(
            l.contains("suspend_resume val=0x3 start=0x1 action=\"suspend_enter\""),
            "{l}"
        );
        assert!(l.contains("a␛b␊"), "{l}");
        assert!(l.trim_start().starts_with("1.500000"));
    }

    #[test]
    fn json_has_named_signed_fields() {
        let mut ev = Event::ZERO;
        ev.kind = kind::HRTIMER_START;
        ev.args[0] = 0xffff_8880_0000_1000;
        ev.args[3] = -5i64 as u64;
        let j = json_event(&ev);
        assert_eq!(j["kind"], "hrtimer_start");
        assert_eq!(j["hrtimer"], 0xffff_8880_0000_1000u64);
        assert_eq!(j["softexpires"], -5);
    }

    /// `--jsonl` says what the trace says of its completeness: the loss as it grew (not every
    /// checkpoint), the end, and a cut where a crash left one.
    #[test]
    fn jsonl_carries_loss_end_and_cut() {
        use crate::trace::{LossRecord, TraceWriter, Trailer, sample_header};
        let trace = |clean: bool| {
            let mut w = TraceWriter::new(Vec::new(), &sample_header()).unwrap();
            let mut ev = Event::ZERO;
            ev.kind = kind::HRTIMER_CANCEL;
            w.push(&ev).unwrap();
            for lost in [0, 4, 4, 9] {
                w.write_loss(&LossRecord {
                    lost_total: lost,
                    ..Default::default()
                })
                .unwrap();
            }
            w.push(&ev).unwrap();
            if clean {
                return w
                    .finish(&Trailer {
                        events_written: 2,
                        lost_total: 9,
                        stopped_by: "signal".into(),
                        ..Default::default()
                    })
                    .unwrap();
            }
            w.flush().unwrap();
            let mut bytes = w.get_ref().clone();
            // the last frame half written
            bytes.truncate(bytes.len() - 10);
            bytes
        };
        let lines = |bytes: Vec<u8>| -> Vec<serde_json::Value> {
            let mut out = Vec::new();
            let reader = TraceReader::new(std::io::Cursor::new(bytes)).unwrap();
            run(
                reader,
                &mut out,
                Style::Jsonl {
                    symbols: false,
                    meta: true,
                },
                &[],
            )
            .unwrap();
            String::from_utf8(out)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let clean = lines(trace(true));
        let kinds: Vec<&str> = clean.iter().map(|v| v["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["hrtimer_cancel", "loss", "loss", "hrtimer_cancel", "end"]
        );
        assert_eq!(clean[1]["lost_total"], 4);
        assert_eq!(clean[2]["lost_total"], 9);
        assert_eq!(clean[4]["stopped_by"], "signal");
        // without `meta` only the events, and what is missing comes back to the caller
        let mut out = Vec::new();
        let reader = TraceReader::new(std::io::Cursor::new(trace(true))).unwrap();
        let style = Style::Jsonl {
            symbols: false,
            meta: false,
        };
        let c = run(reader, &mut out, style, &[]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2);
        assert_eq!(
            c,
            Completeness {
                lost: 9,
                damaged: 0,
                ended_early: None
            }
        );
        let cut = lines(trace(false));
        assert_eq!(cut.last().unwrap()["kind"], "cut", "{cut:?}");
        assert!(cut.iter().all(|v| v["kind"] != "end"));
    }
}
