//! The HTML report in a real browser: headless Chromium loads the page `serial-trace report
//! --format html` wrote for a synthetic trace and must render it without a console error, with
//! the inline SVG timeline in its DOM and every hostile kernel string inert.
//!
//! The trace is written here, frame by frame, from the format specification
//! (`docs/trace-format.md`; kinds and argument slots from `serial-trace-common`, the one wire
//! definition), so the test needs neither root nor eBPF and goes through the binary exactly as a
//! user does. It has a pm_test and an S3 cycle, timers, wakeups, and a serial port whose name —
//! like the hostname, the kernel release, a task's comm and a probe's reason — is markup with
//! terminal escapes and control characters.
//!
//! `#[ignore]`d because it needs `/usr/bin/chromium` (Debian's `chromium`, installed by `cargo
//! xtask setup`); `cargo xtask test` runs it with the other ignored tests. Alone:
//! `cargo test -p serial-trace --test html_browser -- --ignored`. Without Chromium it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use serial_trace_common::{arg, kind};

const BIN: &str = env!("CARGO_BIN_EXE_serial-trace");
const CHROMIUM: &str = "/usr/bin/chromium";
const S: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

const EVIL_PORT: &str = "<script>alert(1)</script>\x1b[1m";
const EVIL_COMM: &str = "<i>\x1b[2Jcat\x07";
const EVIL_TIMER_COMM: &str = "<b>\x1b[31mw\x07";
const ESCAPED_SCRIPT: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

fn tmp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("serial-trace-html-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---- a trace written from the format specification ----

struct Ev {
    kind: u16,
    tid: u32,
    comm: &'static str,
    mono: u64,
    boot: u64,
    args: [u64; 8],
    texts: [Vec<u8>; 2],
}

fn ev(kind: u16, boot: u64, off: u64) -> Ev {
    Ev {
        kind,
        tid: 0,
        comm: "swapper/0",
        mono: boot - off,
        boot,
        args: [0; 8],
        texts: [Vec::new(), Vec::new()],
    }
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_zz(out: &mut Vec<u8>, v: i64) {
    put(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// One EVENTS payload (docs/trace-format.md, "EVENTS").
fn encode(events: &[Ev]) -> Vec<u8> {
    let mut comms: Vec<&str> = Vec::new();
    let mut body = Vec::new();
    let (mut prev_mono, mut prev_off) = (events[0].mono, 0i64);
    for e in events {
        let idx = comms.iter().position(|c| *c == e.comm).unwrap_or_else(|| {
            comms.push(e.comm);
            comms.len() - 1
        });
        put(&mut body, u64::from(e.kind));
        put(&mut body, 0); // cpu
        put(&mut body, u64::from(e.tid)); // tgid
        put(&mut body, u64::from(e.tid));
        put(&mut body, idx as u64);
        put_zz(&mut body, e.mono.wrapping_sub(prev_mono) as i64);
        let off = e.boot.wrapping_sub(e.mono) as i64;
        put_zz(&mut body, off - prev_off);
        (prev_mono, prev_off) = (e.mono, off);
        let mut mask = 0u64;
        for (i, a) in e.args.iter().enumerate() {
            if *a != 0 {
                mask |= 1 << i;
            }
        }
        for (i, t) in e.texts.iter().enumerate() {
            if !t.is_empty() {
                mask |= 1 << (8 + i);
            }
        }
        put(&mut body, mask);
        for a in e.args.iter().filter(|a| **a != 0) {
            put(&mut body, *a);
        }
        for t in e.texts.iter().filter(|t| !t.is_empty()) {
            put(&mut body, t.len() as u64);
            body.extend_from_slice(t);
        }
    }
    let mut out = Vec::new();
    put(&mut out, events.len() as u64);
    put(&mut out, comms.len() as u64);
    for c in &comms {
        put(&mut out, c.len() as u64);
        out.extend_from_slice(c.as_bytes());
    }
    out.extend_from_slice(&events[0].mono.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn frame(out: &mut Vec<u8>, ty: u8, payload: &[u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[ty]);
    crc.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.push(ty);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

fn snapshot(name: &str, rx: u64, bo: u64) -> Value {
    json!({ "name": name, "source": "proc", "mono_ns": 0,
        "counters": { "rx": rx, "tx": 0, "frame": 0, "parity": 0, "brk": 0, "overrun": 0,
                      "buf_overrun": bo } })
}

fn probe(name: &str, attached: bool, method: Option<&str>, reason: Option<&str>) -> Value {
    json!({ "name": name, "kind": null, "attached": attached, "method": method,
        "reason": reason })
}

/// 30 s: timers every 100 ms, a pm_test freezer cycle 8–12 s (the port's flip buffer
/// overflows while its reader is frozen), an S3 cycle at 18 s asleep 3 s.
fn write_trace(path: &Path) {
    let mut evs: Vec<Ev> = Vec::new();
    let off = |boot: u64| if boot >= 21 * S { 3 * S } else { 0 };
    let sr = |action: &str, val: u64, begin: bool, boot: u64| {
        let mut e = ev(kind::SUSPEND_RESUME, boot, off(boot));
        e.args[arg::suspend_resume::VAL] = val;
        e.args[arg::suspend_resume::START] = u64::from(begin);
        e.texts[0] = action.as_bytes().to_vec();
        e
    };
    for (a, v, b, t) in [
        ("suspend_enter", 3, true, 8 * S),
        ("freeze_processes", 0, true, 8 * S + 10 * MS),
        ("freeze_processes", 0, false, 8 * S + 40 * MS),
        ("thaw_processes", 0, true, 12 * S),
        ("thaw_processes", 0, false, 12 * S + 15 * MS),
        ("suspend_enter", 3, false, 12 * S + 16 * MS),
        ("suspend_enter", 3, true, 18 * S),
        ("freeze_processes", 0, true, 18 * S + 10 * MS),
        ("freeze_processes", 0, false, 18 * S + 40 * MS),
        ("suspend_enter", 3, false, 18 * S + 100 * MS),
        ("machine_suspend", 3, true, 18 * S + 101 * MS),
        ("machine_suspend", 3, false, 21 * S + 101 * MS),
        ("thaw_processes", 0, true, 21 * S + 300 * MS),
        ("thaw_processes", 0, false, 21 * S + 320 * MS),
    ] {
        evs.push(sr(a, v, b, t));
    }
    let asleep = |t: u64| (18 * S..22 * S).contains(&t);
    let frozen = |t: u64| (8 * S..12 * S).contains(&t) || asleep(t);
    let mut t = S + 100 * MS;
    let mut i = 0u64;
    while t < 30 * S {
        if !asleep(t) {
            use arg::{hrtimer_expire_entry as x, hrtimer_start as st};
            let soft = t - off(t);
            let mut s = ev(kind::HRTIMER_START, t - 10 * MS, off(t));
            (s.tid, s.comm) = (4242, EVIL_TIMER_COMM);
            s.args[st::HRTIMER] = 0xffff_0000 + i % 3;
            s.args[st::FUNCTION] = 0xf1;
            s.args[st::EXPIRES] = soft + 50_000;
            s.args[st::SOFTEXPIRES] = soft;
            s.args[st::CLOCKID_PLUS1] = 2;
            evs.push(s);
            let late = if t == 5 * S {
                8 * MS
            } else {
                30_000 + i % 7 * 1000
            };
            let mut e = ev(kind::HRTIMER_EXPIRE_ENTRY, t + late, off(t));
            e.args[x::HRTIMER] = 0xffff_0000 + i % 3;
            e.args[x::NOW] = soft + late;
            e.args[x::FUNCTION] = 0xf1;
            evs.push(e);
            if !frozen(t) {
                let mut sw = ev(kind::SCHED_SWITCH, t + late + 50_000, off(t));
                sw.args[arg::sched_switch::NEXT_PID] = 4242;
                evs.push(sw);
            }
        }
        t += 100 * MS;
        i += 1;
    }
    let (mut rx, mut bo) = (0u64, 0u64);
    let mut t = 2 * S;
    while t < 29 * S {
        if !asleep(t) {
            use arg::{serial_flip_drop as d, serial_read as rd, serial_receive as rc};
            let full = (9 * S..12 * S).contains(&t);
            let mut e = ev(kind::SERIAL_RECEIVE, t, off(t));
            e.args[rc::PORT] = 0xa0;
            e.args[rc::OFFERED] = 64;
            e.args[rc::ACCEPTED] = if full { 0 } else { 64 };
            e.args[rc::MEM_USED] = 2048;
            e.args[rc::MEM_LIMIT] = 65536;
            e.texts[0] = EVIL_PORT.as_bytes().to_vec();
            evs.push(e);
            rx += 64;
            if full {
                let mut e = ev(kind::SERIAL_FLIP_DROP, t + 1000, off(t));
                e.args[d::PORT] = 0xa0;
                e.args[d::REQUESTED] = 64;
                e.args[d::MEM_USED] = 65536;
                e.args[d::MEM_LIMIT] = 65536;
                e.args[d::FUNCTION] = 1;
                e.texts[0] = EVIL_PORT.as_bytes().to_vec();
                evs.push(e);
                bo += 64;
            }
            if !frozen(t) {
                let mut e = ev(kind::SERIAL_READ, t + 2 * MS, off(t));
                (e.tid, e.comm) = (900, EVIL_COMM);
                e.args[rd::TTY] = 0xb0;
                e.args[rd::REQUESTED] = 4096;
                e.args[rd::RETURNED] = 64;
                e.args[rd::BLOCKED_NS] = 1_900_000;
                e.args[rd::START_MONO_NS] = t - off(t);
                e.texts[0] = EVIL_PORT.as_bytes().to_vec();
                evs.push(e);
            }
        }
        t += 20 * MS;
    }
    evs.sort_by_key(|e| e.boot);

    let header = json!({
        "tool": "serial-trace html_browser test",
        "kernel_release": "6.12.0-\u{1b}[31m<b>red</b>\u{202e}",
        "kernel_version": "#1 SMP \"quoted\" & 'single'",
        "machine": "x86_64",
        "hostname": format!("host<script>alert(1)</script>\u{1b}[2J\u{7}"),
        "command_line": ["serial-trace", "record"],
        "start": { "mono_ns": S, "boot_ns": S, "realtime_ns": 1_750_000_000u64 * S },
        "cpus": 1,
        "buffer_size": 4_194_304,
        "filter_pid": null,
        "filter_comm": null,
        "probes": [
            probe("timer:hrtimer_start", true, Some("tracepoint"), None),
            probe("serial:flip_buffer_insert", true, Some("fexit"), None),
            probe("rtc:rtc_timer_fired", false, None,
                Some("missing: <img src=x onerror=alert(1)> \u{1b}[5m")),
        ],
        "wake_functions": [0xf1],
        "ports_start": [snapshot(EVIL_PORT, 0, 0)],
        "port_filter": [],
    });
    let trailer = json!({
        "end": { "mono_ns": 27 * S, "boot_ns": 30 * S, "realtime_ns": 0 },
        "events_written": evs.len(),
        "lost_total": 0,
        "lost_per_cpu": [0],
        "stopped_by": "duration",
        "error": null,
        "ports_end": [snapshot(EVIL_PORT, rx, bo)],
        "recursion_misses": {},
        "misses_counted": true,
    });
    let mut out = b"SRLTRACE".to_vec();
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    frame(&mut out, 1, &serde_json::to_vec(&header).unwrap());
    frame(&mut out, 2, &encode(&evs));
    frame(
        &mut out,
        3,
        &serde_json::to_vec(&json!([{ "addr": 0xf1, "name": "hrtimer_wakeup" }])).unwrap(),
    );
    frame(&mut out, 5, &serde_json::to_vec(&trailer).unwrap());
    std::fs::write(path, out).unwrap();
}

fn report(trace: &Path, format: &str, out: &Path) {
    let o = Command::new(BIN)
        .args(["report", "--format", format, "-o"])
        .arg(out)
        .arg(trace)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "report --format {format} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

// ---- Chromium ----

struct Run {
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium with a fresh profile on `target` (a file), with `extra` arguments.
fn chromium(dir: &Path, extra: &[String], target: &Path) -> Run {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} not found: the HTML report is checked in headless Chromium. Install it with \
         `sudo -E cargo xtask setup` (Debian package `chromium`) or `sudo apt-get install chromium`"
    );
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let profile = dir.join(format!("profile-{}", RUNS.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&profile).unwrap();
    let (out_path, err_path) = (profile.with_extension("out"), profile.with_extension("err"));
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", target.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("cannot start chromium");
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within 120 s; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let run = Run {
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    };
    assert!(
        status.success(),
        "chromium failed ({status}); stderr:\n{}",
        run.stderr
    );
    run
}

/// Lines of Chromium's log that report a problem with the page: a console message (script
/// error, CSP violation, failed load) or an uncaught exception.
fn page_problems(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Refused to")
                || l.contains("net::ERR_")
        })
        .collect()
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png[..8] == *b"\x89PNG\r\n\x1a\n" && png[12..16] == *b"IHDR",
        "not a PNG"
    );
    let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
    (be(&png[16..20]), be(&png[20..24]))
}

#[test]
#[ignore = "needs /usr/bin/chromium (cargo xtask setup installs it); run by cargo xtask test"]
fn html_report_renders_in_headless_chromium() {
    let dir = tmp_dir("report");
    let trace = dir.join("synthetic.trace");
    write_trace(&trace);
    // the fuzz seeds (fuzz/seeds/) include this trace: every kind, hostile names, two cycles
    if let Some(keep) = std::env::var_os("SERIAL_TRACE_KEEP_TRACE") {
        std::fs::copy(&trace, keep).unwrap();
    }
    let (html_path, svg_path, json_path) = (
        dir.join("report.html"),
        dir.join("timeline.svg"),
        dir.join("report.json"),
    );
    report(&trace, "html", &html_path);
    report(&trace, "svg", &svg_path);
    report(&trace, "json", &json_path);

    // the trace produced what the page is meant to show
    let json: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(json["ports"][0]["name"], EVIL_PORT, "{:#}", json["ports"]);
    assert_eq!(json["suspend_cycles"].as_array().unwrap().len(), 2);
    assert!(json["ports"][0]["bytes_dropped"].as_u64().unwrap() > 0);
    assert!(json["timers"]["count"].as_u64().unwrap() > 200);

    // the page as written: self-contained, every hostile string escaped and neutralised
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "markup got through"
    );
    assert!(html.contains(ESCAPED_SCRIPT));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(
        html.chars().all(|c| !c.is_control() || c == '\n'),
        "control characters in the page"
    );
    for n in [
        json["ports"][0]["bytes_received"].as_u64().unwrap(),
        json["ports"][0]["bytes_dropped"].as_u64().unwrap(),
        json["events"]["total"].as_u64().unwrap(),
    ] {
        assert!(html.contains(&format!(">{n}<")), "{n} not in the page");
    }

    // a page that does log a console error is caught: the check below is not vacuous
    let bad = dir.join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><title>t</title><script>console.error('seen'); undefined_fn();</script>",
    )
    .unwrap();
    let control = chromium(&dir, &["--dump-dom".into()], &bad);
    assert!(
        !page_problems(&control.stderr).is_empty(),
        "chromium's log shows no console error for a page that has one:\n{}",
        control.stderr
    );

    // the screenshot
    let png_path = dir.join("report.png");
    let shot = chromium(
        &dir,
        &[
            format!("--screenshot={}", png_path.display()),
            "--window-size=1280,2000".into(),
        ],
        &html_path,
    );
    let problems = page_problems(&shot.stderr);
    assert!(
        problems.is_empty(),
        "the page logged problems:\n{problems:#?}"
    );
    let png = std::fs::read(&png_path).expect("no screenshot written");
    assert_eq!(png_size(&png), (1280, 2000));
    // a blank 1280×2000 page compresses to a few KB; tables, text and the timeline do not
    assert!(png.len() > 40_000, "screenshot only {} bytes", png.len());
    if let Some(keep) = std::env::var_os("SERIAL_TRACE_SCREENSHOT") {
        std::fs::copy(&png_path, keep).unwrap();
    }

    // the DOM Chromium built: the inline timeline is there and no element came from the data
    let dom = chromium(&dir, &["--dump-dom".into()], &html_path);
    assert!(page_problems(&dom.stderr).is_empty(), "{}", dom.stderr);
    let d = &dom.stdout;
    assert!(d.contains("<svg"), "no SVG timeline in the DOM");
    for lane in [
        "suspend cycles and their phases",
        "hrtimer lateness",
        "wakeups per 100 ms",
    ] {
        assert!(
            d.contains(lane),
            "timeline lane {lane} missing from the DOM"
        );
    }
    assert!(d.contains("pm_test #1") && d.contains("S3 #2"));
    assert!(
        !d.contains("<script") && !d.contains("<img"),
        "data became markup"
    );
    assert!(
        d.contains(ESCAPED_SCRIPT),
        "hostile names are text in the DOM"
    );

    // the standalone SVG is well-formed XML (a parse error shows as <parsererror>)
    let svg = chromium(&dir, &["--dump-dom".into()], &svg_path);
    assert!(svg.stdout.contains("<svg"), "{}", svg.stdout);
    assert!(
        !svg.stdout.contains("parsererror"),
        "timeline.svg is not well-formed: {}",
        svg.stdout
    );
    let _ = std::fs::remove_dir_all(&dir);
}
