//! The command line on bad and hostile input, without privileges: every unreadable file gets a
//! clear error and exit status 2, and kernel-supplied strings (comm, port, device names) with
//! HTML, ANSI and control characters come out neutralised from every renderer.
//!
//! The hostile trace is `fuzz/seeds/synthetic.trace`, written by `tests/html_browser.rs`
//! (`SERIAL_TRACE_KEEP_TRACE=…`): a port named `<script>alert(1)</script>` with an ANSI escape,
//! hostile comms, hostname, device and driver names.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_serial-trace");

fn hostile_trace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/synthetic.trace")
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("serial-trace-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn unreadable_traces_are_clear_errors_with_status_2() {
    let real = std::fs::read(hostile_trace()).unwrap();
    let mut newer = real.clone();
    newer[8] = 99; // format version
    let mut random = vec![0u8; 4096];
    let mut x: u32 = 12345;
    for b in &mut random {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    let cases: [(&str, PathBuf, &str); 4] = [
        ("empty", tmp("empty.trace", b""), "empty"),
        (
            "random",
            tmp("random.trace", &random),
            "not a serial-trace file",
        ),
        ("newer", tmp("newer.trace", &newer), "newer"),
        (
            "missing",
            PathBuf::from("/nonexistent/x.trace"),
            "No such file",
        ),
    ];
    for (what, path, needle) in cases {
        for cmd in ["report", "dump"] {
            let o = run(&[cmd, path.to_str().unwrap()]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{cmd} {what}: {err}");
            assert!(err.contains(needle), "{cmd} {what}: {err}");
            assert_eq!(err.lines().count(), 1, "{cmd} {what}: one line: {err}");
            assert!(o.stdout.is_empty(), "{cmd} {what}: printed a report");
        }
    }
    // a malformed --check rule is an error too, not a failed check
    let o = run(&[
        "report",
        "--check",
        "bytes_lost=0",
        hostile_trace().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown metric"));
}

fn has_control(s: &str) -> Option<char> {
    s.chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
}

#[test]
fn hostile_names_are_neutralised_in_every_renderer() {
    let t = hostile_trace();
    let t = t.to_str().unwrap();
    for format in ["text", "json", "html", "svg", "trace-event"] {
        let o = run(&["report", "--color", "never", "--format", format, t]);
        assert!(
            o.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8(o.stdout).expect("UTF-8 output");
        assert!(
            out.contains("alert(1)"),
            "{format}: the hostile port is shown"
        );
        assert_eq!(has_control(&out), None, "{format}: raw control character");
        if matches!(format, "html" | "svg") {
            assert!(!out.contains("<script"), "{format}: markup injected");
        }
        if matches!(format, "json" | "trace-event") {
            let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
            assert!(v.is_object());
        }
    }
    for args in [&["dump", t][..], &["dump", "--jsonl", t][..]] {
        let o = run(args);
        assert!(o.status.success());
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(has_control(&out), None, "{args:?}: raw control character");
    }
}

#[test]
fn check_rules_gate_with_exit_status_1() {
    let t = hostile_trace();
    let t = t.to_str().unwrap();
    // the synthetic trace drops bytes and has one lost wakeup
    let o = run(&[
        "report",
        "--check",
        "drops=0",
        "--check",
        "lost_events<=1000000",
        t,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("check failed: drops=0: drops is"), "{err}");
    assert!(
        !err.contains("lost_events"),
        "a passing rule is not reported: {err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("checks: 1 of 2 passed"), "{out}");
    let o = run(&[
        "report",
        "--check",
        "drops<=100000000",
        "--check",
        "probes_alive",
        t,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn jsonl_dump_names_timer_callbacks_only_when_asked() {
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/asyncio-5.10-old.trace");
    let t = trace.to_str().unwrap();
    let lines = |args: &[&str]| -> Vec<serde_json::Value> {
        let o = run(args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON lines"))
            .collect()
    };
    let plain = lines(&["dump", "--jsonl", t]);
    assert!(plain.iter().all(|e| e["kind"] != "symbol"));
    let named = lines(&["dump", "--jsonl", "--symbols", t]);
    let symbols: Vec<_> = named.iter().filter(|e| e["kind"] == "symbol").collect();
    assert_eq!(named.len() - symbols.len(), plain.len(), "the same events");
    // the sleeper callback is named, and the address is one the events carry
    let wakeup = symbols
        .iter()
        .find(|s| s["name"] == "hrtimer_wakeup")
        .expect("hrtimer_wakeup named");
    assert!(plain.iter().any(|e| e["function"] == wakeup["addr"]));
    // --symbols belongs to --jsonl (the text dump always shows them)
    assert_eq!(run(&["dump", "--symbols", t]).status.code(), Some(2));
}

/// Issue 19: completions load in bash (and are generated for zsh and fish); every manual page
/// renders with `man -l` and documents its subcommand's flags.
#[test]
fn completions_load_and_man_pages_render() {
    let script = format!("source <({BIN} completions bash) && complete -p serial-trace");
    let o = Command::new("bash").args(["-c", &script]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("serial-trace"), "{out}");
    for (shell, needle) in [
        ("zsh", "#compdef serial-trace"),
        ("fish", "complete -c serial-trace"),
    ] {
        let o = run(&["completions", shell]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && text.contains(needle),
            "{shell}: {text:.200}"
        );
        // the hook families and report formats are offered as values
        assert!(
            text.contains("alarmtimer") && text.contains("trace-event"),
            "{shell}"
        );
    }
    let dir = std::env::temp_dir().join(format!("serial-trace-man-{}", std::process::id()));
    let o = run(&["man", "--out-dir", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (page, flag) in [
        ("serial-trace", "record"),
        ("serial-trace-record", "--buffer-size"),
        ("serial-trace-report", "--check"),
        ("serial-trace-probe", "--json"),
        ("serial-trace-dump", "--jsonl"),
    ] {
        let o = Command::new("man")
            .arg("-l")
            .arg(dir.join(format!("{page}.1")))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man (man-db, installed by `cargo xtask setup`)");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{page}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(text.contains(flag), "{page} lacks {flag}: {text:.300}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19: `-d` with units, and values checked while parsing (before anything is attached):
/// a bad one is a usage error, status 2, naming the choices.
#[test]
fn record_values_are_usage_errors_naming_the_choices() {
    for (args, needle) in [
        (&["-d", "ten"][..], "90s"),
        (&["--hooks", "timer,tmier"][..], "alarmtimer"),
        (&["--buffer-size", "3M"][..], "power of two"),
    ] {
        let mut all = vec!["record"];
        all.extend(args);
        let o = run(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// Issue 19: `dump --kind` prints events of those kinds only (text and JSON lines), and every
/// one of them; an unknown kind is a usage error listing the kinds.
#[test]
fn dump_kind_keeps_only_those_kinds() {
    let trace = hostile_trace();
    let trace = trace.to_str().unwrap();
    let all = run(&["dump", "--jsonl", "--meta", trace]);
    let kinds_of = |o: &Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["kind"].as_str().unwrap().to_string()
            })
            .collect()
    };
    // what the trace says of its completeness comes whatever the kinds asked for
    const COMPLETENESS: [&str; 6] = ["loss", "end", "damage", "cut", "corrupt", "skipped_frame"];
    let every = kinds_of(&all);
    let about_the_trace: Vec<&String> = every
        .iter()
        .filter(|k| COMPLETENESS.contains(&k.as_str()))
        .collect();
    assert_eq!(about_the_trace, ["end"], "the synthetic trace ends cleanly");
    let wanted = ["suspend_resume", "flip_drop"];
    let expected: Vec<&String> = every
        .iter()
        .filter(|k| wanted.contains(&k.as_str()))
        .collect();
    assert!(!expected.is_empty() && expected.len() < every.len());
    let some = run(&[
        "dump",
        "--jsonl",
        "--meta",
        "--kind",
        "suspend_resume,flip_drop",
        trace,
    ]);
    let some = kinds_of(&some);
    let (some_about, some_events): (Vec<&String>, Vec<&String>) = some
        .iter()
        .partition(|k| COMPLETENESS.contains(&k.as_str()));
    assert_eq!(some_events, expected);
    assert_eq!(some_about, about_the_trace);
    let text = run(&[
        "dump",
        "--kind",
        "suspend_resume",
        "--kind",
        "flip_drop",
        trace,
    ]);
    let lines = String::from_utf8_lossy(&text.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    assert_eq!(lines, expected.len());
    // a trace cut short (a crash) says so as its last line, and has no end
    let bytes = std::fs::read(trace).unwrap();
    let cut = tmp("cut.trace", &bytes[..bytes.len() - 100]);
    let cut = cut.to_str().unwrap();
    let with_meta = kinds_of(&run(&["dump", "--jsonl", "--meta", cut]));
    assert_eq!(with_meta.last().map(String::as_str), Some("cut"));
    assert!(!with_meta.iter().any(|k| k == "end"));
    // without --meta every line is an event, and the cut is said on stderr
    let plain = run(&["dump", "--jsonl", cut]);
    assert!(
        kinds_of(&plain)
            .iter()
            .all(|k| !COMPLETENESS.contains(&k.as_str()))
    );
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains("the trace ends cut"),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    let bad = run(&["dump", "--kind", "hrtimer_strat", trace]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("hrtimer_start"));
}

/// Issue 19: `diff` of a recording with drops against one without: the drops go away in text
/// and JSON, `--fail-if drops_increased` passes that way round and fails (exit 1, naming the
/// rule and its numbers) the other way.
#[test]
fn diff_shows_the_drops_going_away_and_gates_on_rules() {
    let with_drops = hostile_trace();
    let without =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/event-loop-6.12-rt.trace");
    let (a, b) = (with_drops.to_str().unwrap(), without.to_str().unwrap());
    let o = run(&["diff", "--format", "json", a, b]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dropped: u64 = d["ports"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p["bytes_dropped"]["before"].as_u64().unwrap())
        .sum();
    assert!(dropped > 0, "{d}");
    assert!(
        d["ports"]
            .as_object()
            .unwrap()
            .values()
            .all(|p| p["bytes_dropped"]["after"] == 0),
        "{d}"
    );
    // the report of each side says the same
    let report = |t: &str| -> serde_json::Value {
        serde_json::from_slice(&run(&["report", "--format", "json", t]).stdout).unwrap()
    };
    let total = |r: &serde_json::Value| -> u64 {
        r["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["bytes_dropped"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(dropped, total(&report(a)));
    assert_eq!(d["events"]["after"], report(b)["events"]["total"]);
    let text = run(&["diff", a, b, "--fail-if", "drops_increased"]);
    assert_eq!(text.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&text.stdout).contains("bytes dropped"));
    let worse = run(&["diff", b, a, "--fail-if", "drops_increased"]);
    let err = String::from_utf8_lossy(&worse.stderr);
    assert_eq!(worse.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("drops_increased: 0 → {dropped}")),
        "{err}"
    );
    let bad = run(&["diff", a, b, "--fail-if", "drops_went_up"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// Issue 19: `report --port` keeps that port's serial sections (and `--check drops=0` gates on
/// them); a port the trace lacks is an error naming the ports it has.
#[test]
fn report_port_scopes_the_serial_sections() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let two = seeds.join("timers-6.12-head.trace");
    let two = two.to_str().unwrap();
    let o = run(&["report", "--format", "json", "--port", "ttyS0", two]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = r["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ttyS0"]);
    let o = run(&["report", "--port", "ttyUSB7", two]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("ttyS0, ttyS1"), "{err}");
    // the gate judges the kept port: this trace's ttyS1 dropped bytes
    let drops = seeds.join("synthetic-v4-delta.trace");
    let drops = drops.to_str().unwrap();
    let o = run(&["report", "--port", "ttyS1", "--check", "drops=0", drops]);
    assert_eq!(o.status.code(), Some(1));
}

/// Issue 19: `report --cycle N` and `--since/--until` cut the lists and say so (text and the
/// JSON's `scope`); a cycle the trace lacks is an error naming the ones it has.
#[test]
fn report_cycle_and_window_cut_the_lists() {
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/event-loop-6.12-rt.trace");
    let trace = trace.to_str().unwrap();
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["report", "--format", "json"];
        all.extend(args);
        all.push(trace);
        let o = run(&all);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let whole = json(&[]);
    assert!(whole.get("scope").is_none());
    let cycles = whole["suspend_cycles"].as_array().unwrap();
    assert!(cycles.len() >= 2);
    let last = cycles.last().unwrap()["index"]
        .as_u64()
        .unwrap()
        .to_string();
    let one = json(&["--cycle", &last]);
    assert_eq!(one["suspend_cycles"].as_array().unwrap().len(), 1);
    assert_eq!(one["scope"]["cycle"].as_u64().unwrap().to_string(), last);
    let blamed = whole["lost_wakeups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["suspend_cycle"].as_u64().map(|c| c.to_string()) == Some(last.clone()))
        .count();
    assert!(blamed > 0 && one["lost_wakeups"].as_array().unwrap().len() >= blamed);
    // totals stay whole
    assert_eq!(one["events"], whole["events"]);
    // a window before the first cycle has none of them
    let first = cycles[0]["start_boot_ns"].as_u64().unwrap()
        - whole["timeline"]["start_boot_ns"].as_u64().unwrap();
    let before = json(&["--until", &format!("{}ns", first / 2)]);
    assert!(before["suspend_cycles"].as_array().unwrap().is_empty());
    let text = run(&["report", "--cycle", &last, trace]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("scope:"));
    let bad = run(&["report", "--cycle", "99", trace]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no suspend cycle 99"));
}

#[test]
fn report_writes_perfetto_natively_by_flag_or_extension() {
    let t = hostile_trace();
    let t = t.to_str().unwrap();
    let by_flag = run(&["report", "--format", "perfetto", t]);
    assert!(by_flag.status.success());
    let out = tmp("native.pftrace", b"");
    let o = run(&["report", "-o", out.to_str().unwrap(), t]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let file = std::fs::read(&out).unwrap();
    assert_eq!(
        file, by_flag.stdout,
        "-o x.pftrace writes what --format perfetto does"
    );
    // a `Trace` message: packets (field 1, length-delimited) one after another
    assert_eq!(file[0], 0x0a);
    let has = |s: &[u8]| file.windows(s.len()).any(|w| w == s);
    assert!(has(b"serial-trace export") && has(b"CLOCK_BOOTTIME"));
    // the same neutralised names as the other renderers
    assert!(has(b"alert(1)") && !has(b"\x1b[1m"));
    let help = run(&["report", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("perfetto"));
}
