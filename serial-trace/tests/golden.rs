//! Every renderer's output on real traces, pinned by hash: a refactor of the analysis or the
//! renderers must leave each output byte-identical, and a change meant to alter one is seen here
//! and re-pinned on purpose.
//!
//! Inputs: the fuzz seeds (`fuzz/seeds/*.trace`) and real VM traces (`tests/golden/*.trace`).
//! Pins: `tests/golden/pins.txt`, one line per (trace, output): its SHA-256 and length.
//!
//! When a pin no longer holds, the outputs as they are now are written to
//! `target/tmp/golden/` so they can be compared with the same outputs built at the previous
//! commit. Re-pin with `GOLDEN_UPDATE=1 cargo test -p serial-trace --test golden`.

use serial_trace::trace::TraceReader;
use serial_trace::{analysis, render};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pins_path() -> PathBuf {
    crate_dir().join("tests/golden/pins.txt")
}

/// The traces the pins cover, as (name, path), sorted by name.
fn traces() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for (prefix, dir) in [
        ("seeds", crate_dir().join("../fuzz/seeds")),
        ("vm", crate_dir().join("tests/golden")),
    ] {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for e in entries {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "trace") {
                let name = format!("{prefix}/{}", path.file_name().unwrap().to_string_lossy());
                out.push((name, path));
            }
        }
    }
    out.sort();
    out
}

/// Every output `serial-trace report` can produce for one trace, by output name, built the way
/// `main.rs` builds it.
fn outputs(path: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let reader = TraceReader::open(path).unwrap();
    let (r, wakeups) = analysis::analyze_with_wakeups(reader, true).unwrap();
    let mut jsonl = String::new();
    for w in &wakeups {
        jsonl.push_str(&serde_json::to_string(w).unwrap());
        jsonl.push('\n');
    }
    let mut trace_events = Vec::new();
    render::write_trace_events(&r, TraceReader::open(path).unwrap(), &mut trace_events).unwrap();
    let mut perfetto = Vec::new();
    render::write_perfetto(&r, TraceReader::open(path).unwrap(), &mut perfetto).unwrap();
    vec![
        ("text", render::render_text(&r, false).into_bytes()),
        ("text-color", render::render_text(&r, true).into_bytes()),
        ("json", render::render_json(&r).into_bytes()),
        ("html", render::render_html(&r).into_bytes()),
        (
            "svg",
            render::render_timeline_svg(&r, 1200, 640).into_bytes(),
        ),
        ("trace-event", trace_events),
        ("perfetto", perfetto),
        ("wakeups", jsonl.into_bytes()),
    ]
}

fn pin(bytes: &[u8]) -> String {
    format!("{:x} {}", Sha256::digest(bytes), bytes.len())
}

fn read_pins() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(pins_path()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_renderer_output_matches_its_pin() {
    let pinned = read_pins();
    let update = std::env::var_os("GOLDEN_UPDATE").is_some();
    let actual_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("golden");
    let _ = std::fs::remove_dir_all(&actual_dir);
    let mut now = BTreeMap::new();
    let mut differ = Vec::new();
    for (name, path) in traces() {
        for (output, bytes) in outputs(&path) {
            let key = format!("{name}:{output}");
            let p = pin(&bytes);
            if pinned.get(&key) != Some(&p) {
                differ.push(format!("{key}: pinned {:?}, now {p}", pinned.get(&key)));
                let file = actual_dir.join(key.replace(['/', ':'], "_"));
                std::fs::create_dir_all(&actual_dir).unwrap();
                std::fs::write(&file, &bytes).unwrap();
            }
            now.insert(key, p);
        }
    }
    let stale: Vec<_> = pinned.keys().filter(|k| !now.contains_key(*k)).collect();
    if update {
        let mut text = String::from(
            "# serial-trace report outputs pinned by tests/golden.rs: trace:output sha256 length\n",
        );
        for (k, v) in &now {
            text.push_str(&format!("{k} {v}\n"));
        }
        std::fs::write(pins_path(), text).unwrap();
        return;
    }
    assert!(
        differ.is_empty() && stale.is_empty(),
        "{} output(s) changed (now written to {}), {} pin(s) without a trace:\n{}\n{:?}\n\
         If the change is meant: GOLDEN_UPDATE=1 cargo test -p serial-trace --test golden",
        differ.len(),
        actual_dir.display(),
        stale.len(),
        differ.join("\n"),
        stale
    );
}

/// The JSON report reads back into the typed model, and writes the same JSON again: tools (and
/// the VM checks) can
/// deserialize `serial_trace::analysis::Report` instead of walking untyped JSON.
#[test]
fn the_json_report_reads_back_into_the_same_model() {
    for (name, path) in traces() {
        let (r, _) =
            analysis::analyze_with_wakeups(TraceReader::open(&path).unwrap(), false).unwrap();
        let json = render::render_json(&r);
        let back: analysis::Report = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("{name}: the JSON report does not read back: {e}"));
        // fields the analysis keeps for itself (`#[serde(skip)]`) are not in the JSON: compare
        // what the JSON holds
        assert!(
            render::render_json(&back) == json,
            "{name}: the JSON report read back writes different JSON"
        );
    }
}

/// Rendering twice gives the same bytes: a pin over an output that depends on the clock, the
/// time zone or hash-map order would fail at random, not on a change.
#[test]
fn every_output_is_the_same_when_rendered_twice() {
    for (name, path) in traces() {
        let a = outputs(&path);
        let b = outputs(&path);
        for ((o, x), (_, y)) in a.iter().zip(&b) {
            assert!(x == y, "{name}:{o} differs between two renderings");
        }
    }
}

/// Rewrites the trace at `path` in the current format: the same frames in the same order
/// (events batched as the recorder batches them, flushed before every other frame).
fn re_encode(path: &Path, out: &Path) {
    use serial_trace::trace::{Frame, TraceWriter};
    let mut reader = TraceReader::open(path).unwrap();
    let file = std::fs::File::create(out).unwrap();
    let mut w = TraceWriter::new(file, &reader.header().clone()).unwrap();
    let mut trailer = None;
    while let Some(frame) = reader.next_frame().unwrap() {
        match frame {
            Frame::Events(evs) => evs.iter().for_each(|e| w.push(e).unwrap()),
            Frame::Symbols(s) => {
                w.flush().unwrap();
                w.write_symbols(&s).unwrap();
            }
            Frame::Loss(l) => {
                w.flush().unwrap();
                w.write_loss(&l).unwrap();
            }
            Frame::Trailer(t) => trailer = Some(t),
            _ => {}
        }
    }
    match trailer {
        Some(t) => drop(w.finish(&t).unwrap()),
        None => w.flush().unwrap(),
    }
}

fn read_to_a_clean_end(path: &Path) -> bool {
    use serial_trace::trace::ReadEnd;
    let mut reader = TraceReader::open(path).unwrap();
    while reader.next_frame().unwrap().is_some() {}
    reader.end() == Some(&ReadEnd::Clean) && reader.damage().regions == 0
}

#[test]
fn every_trace_re_encoded_in_the_current_format_reports_the_same() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("re-encoded");
    std::fs::create_dir_all(&dir).unwrap();
    let mut compared = 0;
    for (name, path) in traces() {
        if !read_to_a_clean_end(&path) {
            // a cut or damaged file says so in its report; its re-encoding is whole
            continue;
        }
        let out = dir.join(name.replace('/', "-"));
        re_encode(&path, &out);
        for ((what, before), (_, after)) in outputs(&path).into_iter().zip(outputs(&out)) {
            assert!(before == after, "{name}: {what} differs once re-encoded");
        }
        compared += 1;
    }
    // the synthetic seeds and the real VM traces, not just whatever happened to be clean
    assert!(compared >= 3, "only {compared} traces compared");
}
