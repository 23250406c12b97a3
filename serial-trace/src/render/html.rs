//! `report --format html`: one self-contained page (no external resource): the timeline (inline
//! SVG from `timeline_svg.rs`) and every table of the text report. Every kernel-supplied string
//! is escaped.
//!
//! The page has no script, no stylesheet link, no font and no image to fetch: one inline
//! `<style>`, and a Content-Security-Policy that forbids everything else, so even a string that
//! escaped escaping could not run. Numbers are the JSON report's: counts as they are, durations
//! and instants human-readable with the exact nanoseconds in the cell's `title`.

use std::fmt::Write;

use super::svg::render_timeline_svg;
use crate::analysis::{Drift, DropCause, Percentiles, Report, SuspendCycle, TraceEnd, total};
use crate::fmt::{escape, fmt_ns};

/// Width of the inline timeline, in CSS pixels (it scales down with the window).
const SVG_WIDTH: u32 = 1200;
/// Rows shown of the long tables (drop windows, lost wakeups); the JSON has them all.
const MAX_ROWS: usize = 500;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em;color:#222;background:#fff;line-height:1.35}
h1{font-size:1.5em;margin:0 0 .3em}
h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:1px solid #ccc;padding-bottom:.15em}
h3{font-size:1em;margin:1em 0 .3em}
table{border-collapse:collapse;margin:.3em 0 .8em;font-size:.9em}
th,td{border:1px solid #ddd;padding:.2em .55em;vertical-align:top;text-align:left}
th{background:#f3f3f3;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.chain{max-width:60em}
.warn{color:#a33}
.note{color:#666}
.verdict li{margin:.15em 0}
.timeline svg{max-width:100%;height:auto;border:1px solid #ddd}
details{margin:.2em 0 .6em}
summary{cursor:pointer}
code{font-size:.95em}
";

/// One table cell.
enum Cell {
    /// Escaped text.
    Text(String),
    /// A count, right-aligned.
    Num(u64),
    /// A duration in ns: human-readable, exact in the title.
    Ns(u64),
    /// A boottime instant: seconds since the recording started, exact in the title.
    At(u64),
    /// Escaped text in the warning colour.
    Warn(String),
    /// A duration in the warning colour.
    WarnNs(u64),
    /// Empty.
    None,
}

fn text(s: impl AsRef<str>) -> Cell {
    Cell::Text(s.as_ref().to_string())
}

fn opt_text(s: Option<&str>) -> Cell {
    s.map_or(Cell::None, text)
}

struct Page<'a> {
    o: String,
    r: &'a Report,
}

impl Page<'_> {
    fn cell(&self, c: &Cell) -> String {
        match c {
            Cell::Text(s) => format!("<td>{}</td>", escape(s)),
            Cell::Num(n) => format!("<td class=\"n\">{n}</td>"),
            Cell::Ns(ns) => format!("<td class=\"n\" title=\"{ns} ns\">{}</td>", fmt_ns(*ns)),
            Cell::At(boot) => {
                let rel = boot.saturating_sub(self.r.timeline.start_boot_ns) as f64 / 1e9;
                format!("<td class=\"n\" title=\"CLOCK_BOOTTIME {boot} ns\">+{rel:.3} s</td>")
            }
            Cell::Warn(s) => format!("<td class=\"warn\">{}</td>", escape(s)),
            Cell::WarnNs(ns) => format!(
                "<td class=\"n warn\" title=\"{ns} ns\">{}</td>",
                fmt_ns(*ns)
            ),
            Cell::None => "<td></td>".into(),
        }
    }

    fn table(&mut self, head: &[&str], rows: &[Vec<Cell>]) {
        self.o.push_str("<table>\n<thead><tr>");
        for h in head {
            let _ = write!(self.o, "<th>{}</th>", escape(h));
        }
        self.o.push_str("</tr></thead>\n<tbody>\n");
        for row in rows {
            self.o.push_str("<tr>");
            for c in row {
                let cell = self.cell(c);
                self.o.push_str(&cell);
            }
            self.o.push_str("</tr>\n");
        }
        self.o.push_str("</tbody>\n</table>\n");
    }

    /// A two-column table of label and value, without a header row.
    fn kv(&mut self, rows: &[Vec<Cell>]) {
        self.o.push_str("<table>\n<tbody>\n");
        for row in rows {
            self.o.push_str("<tr>");
            for (i, c) in row.iter().enumerate() {
                let cell = self.cell(c);
                if i == 0 {
                    // the label column is a header cell
                    self.o
                        .push_str(&cell.replacen("<td", "<th", 1).replace("</td>", "</th>"));
                } else {
                    self.o.push_str(&cell);
                }
            }
            self.o.push_str("</tr>\n");
        }
        self.o.push_str("</tbody>\n</table>\n");
    }

    /// "… N more in the JSON report" after a table cut at [`MAX_ROWS`].
    fn more(&mut self, total: usize) {
        if total > MAX_ROWS {
            self.p(
                "note",
                &format!("… {} more in the JSON report", total - MAX_ROWS),
            );
        }
    }

    fn h2(&mut self, id: &str, title: &str) {
        let _ = writeln!(self.o, "<h2 id=\"{id}\">{}</h2>", escape(title));
    }

    fn p(&mut self, class: &str, s: &str) {
        let _ = writeln!(self.o, "<p class=\"{class}\">{}</p>", escape(s));
    }
}

fn pct(p: &Percentiles) -> [Cell; 4] {
    [
        Cell::Ns(p.p50),
        Cell::Ns(p.p90),
        Cell::Ns(p.p99),
        Cell::Ns(p.max),
    ]
}

/// The timeline's height for `r`: a band per lane.
fn svg_height(r: &Report) -> u32 {
    let lanes = 3 + r.timeline.ports.len().max(1) as u32;
    70 + lanes * 115
}

pub fn render_html(r: &Report) -> String {
    let mut page = Page {
        o: String::with_capacity(64 * 1024),
        r,
    };
    let title = format!(
        "serial-trace report: {} {}",
        r.kernel.hostname, r.kernel.release
    );
    let _ = write!(
        page.o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    header(&mut page);
    page.p(
        "note",
        "Instants are shown as +seconds since the recording started, the timeline's axis; \
         causal chains, like the text report, give CLOCK_BOOTTIME seconds. Hover a cell for \
         the exact nanoseconds of the JSON report.",
    );
    verdict(&mut page);
    page.h2("timeline", "Timeline");
    page.o.push_str("<div class=\"timeline\">\n");
    page.o
        .push_str(&render_timeline_svg(r, SVG_WIDTH, svg_height(r)));
    page.o.push_str("</div>\n");
    suspend(&mut page);
    serial(&mut page);
    timers(&mut page);
    lost_wakeups(&mut page);
    probes(&mut page);
    system(&mut page);
    events(&mut page);
    let _ = writeln!(
        page.o,
        "<p class=\"note\">{} · the same numbers as <code>report --format json</code></p>\n</body>\n</html>",
        escape(&r.schema)
    );
    page.o
}

fn header(page: &mut Page<'_>) {
    let r = page.r;
    page.o.push_str("<h1>serial-trace report</h1>\n");
    let k = &r.kernel;
    let lost_note = if r.events.lost_complete {
        ""
    } else {
        " (as of the last checkpoint)"
    };
    let misses = r.events.skipped();
    let dropped = total(r.ports.iter().map(|p| p.bytes_dropped));
    let rows = vec![
        vec![
            text("kernel"),
            text(format!("{} {} ({})", k.release, k.version, k.machine)),
        ],
        vec![text("host"), text(&k.hostname)],
        vec![text("recorded by"), text(&r.trace.tool)],
        vec![
            text("started"),
            text(crate::fmt::fmt_utc(r.trace.start_realtime_ns)),
        ],
        vec![text("duration"), Cell::Ns(r.duration_ns)],
        vec![text("events"), Cell::Num(r.events.total)],
        vec![
            text("events lost"),
            if r.events.lost > 0 {
                Cell::Warn(format!("{}{lost_note}", r.events.lost))
            } else {
                Cell::Text(format!("0{lost_note}"))
            },
        ],
        vec![
            text("events skipped (recursion)"),
            if r.events.misses_counted {
                Cell::Num(misses)
            } else {
                text("not counted by this kernel (5.12+ does)")
            },
        ],
        vec![
            text("suspend cycles"),
            Cell::Num(r.suspend_cycles.len() as u64),
        ],
        vec![text("serial bytes dropped"), Cell::Num(dropped)],
        vec![text("lost wakeups"), Cell::Num(r.lost_wakeups.len() as u64)],
    ];
    page.kv(&rows);
    if let Some(line) = super::summary::scope_line(r) {
        page.p("warn", &line);
    }
    match r.trace.end {
        TraceEnd::Clean if r.trace.stopped_by.is_some() => {}
        TraceEnd::Clean => page.p("warn", "note: no trailer; the recorder did not stop cleanly"),
        end => page.p(
            "warn",
            &format!(
                "note: trace {end}; {} bytes at the end could not be read (every complete frame before them was)",
                r.trace.unread_bytes
            ),
        ),
    }
    if r.trace.damaged_regions > 0 {
        page.p(
            "warn",
            &format!(
                "note: {} damaged stretch(es) of the trace, {} bytes, were skipped; what they held is missing from every number",
                r.trace.damaged_regions, r.trace.damaged_bytes
            ),
        );
    }
    if let Some(e) = &r.trace.recorder_error {
        page.p("warn", &format!("recorder stopped on error: {e}"));
    }
}

/// The verdict first, the same lines as the text report's summary.
fn verdict(page: &mut Page<'_>) {
    let lines = super::summary::lines(page.r);
    if lines.is_empty() {
        return;
    }
    page.h2("summary", "Summary");
    page.o.push_str("<ul class=\"verdict\">\n");
    for l in lines {
        let class = if l.warn { " class=\"warn\"" } else { "" };
        let _ = writeln!(page.o, "<li{class}>{}</li>", escape(&l.text));
    }
    page.o.push_str("</ul>\n");
}

fn suspend(page: &mut Page<'_>) {
    let r = page.r;
    page.h2(
        "suspend",
        &format!("Suspend cycles: {}", r.suspend_cycles.len()),
    );
    if r.suspend_cycles.is_empty() {
        page.p("note", "no suspend cycle in this recording");
        return;
    }
    let rows: Vec<Vec<Cell>> = r.suspend_cycles.iter().map(cycle_row).collect();
    page.table(
        &[
            "#",
            "kind",
            "start",
            "end",
            "suspended",
            "resume",
            "complete",
            "woken by",
            "device callbacks",
            "probes",
        ],
        &rows,
    );
    for c in &r.suspend_cycles {
        // a few cycles are shown open; many stay folded
        cycle_details(page, c, r.suspend_cycles.len() <= 3);
    }
}

/// A cycle's row in the table of cycles.
fn cycle_row(c: &SuspendCycle) -> Vec<Cell> {
    vec![
        Cell::Num(u64::from(c.index)),
        text(&if c.machine_suspend {
            format!("{}: platform entered", c.kind())
        } else {
            "pm_test or abort: platform not entered".to_string()
        }),
        Cell::At(c.start_boot_ns),
        Cell::At(c.end_boot_ns),
        Cell::Ns(c.suspended_ns),
        c.resume_ns.map_or(Cell::None, Cell::Ns),
        if c.complete {
            text("yes")
        } else {
            Cell::Warn("incomplete".into())
        },
        c.wake_source
            .as_ref()
            .map_or(Cell::None, |w| text(format!("{} ({})", w.kind, w.detail))),
        Cell::Num(c.device_callbacks),
        if c.liveness.silent_after_resume.is_empty() {
            Cell::None
        } else {
            Cell::Warn(format!(
                "silent for {} after resume: {}",
                fmt_ns(c.liveness.after_resume_window_ns),
                c.liveness.silent_after_resume.join(", ")
            ))
        },
    ]
}

/// A cycle folded out: its phases, what woke it, its slowest device callbacks.
fn cycle_details(page: &mut Page<'_>, c: &SuspendCycle, open: bool) {
    let r = page.r;
    let _ = writeln!(
        page.o,
        "<details{}><summary>cycle #{} ({}): {} phases, {} slowest device callbacks</summary>",
        if open { " open" } else { "" },
        c.index,
        c.kind(),
        c.phases.len(),
        c.slowest_devices.len()
    );
    let rows: Vec<Vec<Cell>> = c
        .phases
        .iter()
        .map(|p| {
            vec![
                text(&p.name),
                text(p.val.to_string()),
                Cell::At(p.begin_boot_ns),
                p.end_boot_ns.map_or(Cell::None, Cell::At),
                p.duration_ns.map_or(Cell::Warn("no end".into()), Cell::Ns),
            ]
        })
        .collect();
    page.table(&["phase", "val", "begin", "end", "duration"], &rows);
    if let Some(w) = &c.wake_source {
        page.p(
            "",
            &format!(
                "woken by {} ({}) at +{:.3} s",
                w.kind,
                w.detail,
                rel_s(r, w.at_boot_ns)
            ),
        );
    }
    if !c.serial.is_empty() {
        let rows: Vec<Vec<Cell>> = c
            .serial
            .iter()
            .map(|s| {
                vec![
                    text(&s.port),
                    Cell::Num(s.received_suspending),
                    Cell::Num(s.received_asleep),
                    Cell::Num(s.received_resuming),
                    if s.dropped > 0 {
                        Cell::Warn(s.dropped.to_string())
                    } else {
                        text("0")
                    },
                ]
            })
            .collect();
        page.table(
            &[
                "port",
                "bytes in while suspending",
                "asleep",
                "resuming",
                "dropped",
            ],
            &rows,
        );
    }
    if !c.slowest_devices.is_empty() {
        let rows: Vec<Vec<Cell>> = c
            .slowest_devices
            .iter()
            .map(|d| {
                vec![
                    Cell::Ns(d.duration_ns),
                    text(&d.event),
                    opt_text(d.phase.as_deref()),
                    text(&d.device),
                    text(&d.driver),
                    Cell::At(d.start_boot_ns),
                    if d.error != 0 {
                        Cell::Warn(d.error.to_string())
                    } else {
                        text("0")
                    },
                ]
            })
            .collect();
        page.table(
            &[
                "duration", "event", "phase", "device", "driver", "start", "error",
            ],
            &rows,
        );
    }
    page.o.push_str("</details>\n");
}

fn rel_s(r: &Report, boot: u64) -> f64 {
    boot.saturating_sub(r.timeline.start_boot_ns) as f64 / 1e9
}

fn serial(page: &mut Page<'_>) {
    let r = page.r;
    page.h2("serial", "Serial ports");
    if r.ports.is_empty() && r.readers.is_empty() {
        page.p("note", "no serial port traced");
        return;
    }
    page.p(
        "note",
        "received = handed to the line discipline; dropped = refused by the flip buffer",
    );
    serial_ports(page);
    serial_drops(page);
    serial_readers(page);
}

/// Per port: what the trace saw, the kernel's own counters, and where they disagree.
fn serial_ports(page: &mut Page<'_>) {
    let r = page.r;
    let rows: Vec<Vec<Cell>> = r
        .ports
        .iter()
        .map(|p| {
            vec![
                text(&p.name),
                match (&p.method, p.coarse) {
                    (Some(m), true) => text(format!("{m} (coarse)")),
                    (Some(m), false) => text(m),
                    (None, _) => Cell::None,
                },
                Cell::Num(p.bytes_received),
                if p.bytes_dropped > 0 {
                    Cell::Warn(p.bytes_dropped.to_string())
                } else {
                    Cell::Num(0)
                },
                Cell::Num(p.hw_overruns),
                Cell::Num(p.frame_errors),
                Cell::Num(p.parity_errors),
                Cell::Num(p.breaks),
                Cell::Num(p.flip_buffer_peak),
                Cell::Num(p.flip_buffer_limit),
            ]
        })
        .collect();
    page.h3("Observed by the trace");
    page.table(
        &[
            "port",
            "method",
            "received",
            "dropped",
            "overrun",
            "frame",
            "parity",
            "break",
            "flip peak",
            "flip limit",
        ],
        &rows,
    );
    let throttled: Vec<Vec<Cell>> = r
        .ports
        .iter()
        .filter_map(|p| {
            Some(vec![
                text(&p.name),
                text(super::summary::throttle_clause(p)?),
            ])
        })
        .collect();
    if !throttled.is_empty() {
        page.h3("Flow control");
        page.table(&["port", "throttling"], &throttled);
    }
    let setups: Vec<Vec<Cell>> = r
        .ports
        .iter()
        .filter_map(|p| {
            let s = p.setup.as_ref()?;
            Some(vec![
                text(&p.name),
                text(super::settings::device_words(s)),
                text(super::settings::start_words(s)),
            ])
        })
        .collect();
    if !setups.is_empty() {
        page.h3("Configuration when recording began");
        page.table(&["port", "device", "line settings"], &setups);
    }
    let changes: Vec<Vec<Cell>> = r
        .ports
        .iter()
        .flat_map(|p| {
            p.settings_changes
                .iter()
                .filter(|c| !(c.at_stop && c.changed.is_empty()))
                .map(|c| vec![text(&p.name), text(super::settings::change_words(c))])
        })
        .collect();
    if !changes.is_empty() {
        page.h3("Line settings changed while recording");
        page.table(&["port", "when, who, what"], &changes);
    }
    let timing: Vec<Vec<Cell>> = r
        .ports
        .iter()
        .flat_map(|p| {
            let irq = p.uart_irq.as_ref().map(super::settings::irq_words);
            let ldisc = p.ldisc_work.as_ref().map(super::settings::ldisc_words);
            irq.into_iter()
                .chain(ldisc)
                .map(|w| vec![text(&p.name), text(w)])
                .collect::<Vec<_>>()
        })
        .collect();
    if !timing.is_empty() {
        page.h3("From the UART's interrupt to the line discipline");
        page.table(&["port", "timing"], &timing);
    }
    let rows: Vec<Vec<Cell>> = r
        .ports
        .iter()
        .filter_map(|p| {
            let d = p.kernel_counters.delta.as_ref()?;
            Some(vec![
                text(&p.name),
                opt_text(p.kernel_counters.source.as_deref()),
                Cell::Num(d.rx),
                Cell::Num(d.tx),
                Cell::Num(d.buf_overrun),
                Cell::Num(d.overrun),
                Cell::Num(d.frame),
                Cell::Num(d.parity),
                Cell::Num(d.brk),
            ])
        })
        .collect();
    if !rows.is_empty() {
        page.h3("The kernel's own counters over the recording (end − start)");
        page.table(
            &["port", "source", "rx", "tx", "bo", "oe", "fe", "pe", "brk"],
            &rows,
        );
    }
    let disagreements: Vec<Vec<Cell>> = r
        .ports
        .iter()
        .flat_map(|p| {
            p.disagreements
                .iter()
                .map(|d| vec![text(&p.name), Cell::Warn(d.clone())])
        })
        .collect();
    if !disagreements.is_empty() {
        page.h3("Where the trace and the kernel's counters disagree");
        page.table(&["port", "disagreement and likely reason"], &disagreements);
    }
}

/// Every drop window with its cause and chain (the first MAX_ROWS).
fn serial_drops(page: &mut Page<'_>) {
    let r = page.r;
    if !r.drops.is_empty() {
        let total = total(r.drops.iter().map(|d| d.bytes));
        page.h3(&format!("Drop windows: {}, {total} bytes", r.drops.len()));
        let rows: Vec<Vec<Cell>> = r
            .drops
            .iter()
            .take(MAX_ROWS)
            .map(|d| {
                vec![
                    text(&d.port),
                    Cell::At(d.t_boot_ns),
                    Cell::At(d.end_boot_ns),
                    Cell::Num(d.bytes),
                    if d.coarse {
                        text(format!("coarse: within {} before", fmt_ns(d.interval_ns)))
                    } else {
                        text("exact")
                    },
                    opt_text(d.cause.map(DropCause::as_str)),
                    d.chain
                        .as_deref()
                        .map_or(Cell::None, |c| Cell::Warn(c.into())),
                ]
            })
            .collect();
        page.table(
            &["port", "from", "to", "bytes", "timing", "cause", "chain"],
            &rows,
        );
        page.more(r.drops.len());
    }
}

/// Every task that read a port.
fn serial_readers(page: &mut Page<'_>) {
    let r = page.r;
    if !r.readers.is_empty() {
        page.h3("Readers");
        let rows: Vec<Vec<Cell>> = r
            .readers
            .iter()
            .map(|rd| {
                vec![
                    text(&rd.port),
                    Cell::Num(u64::from(rd.pid)),
                    text(&rd.comm),
                    Cell::Num(rd.reads),
                    Cell::Num(rd.bytes),
                    Cell::Num(rd.empty_reads),
                    Cell::Num(rd.failed_reads),
                    Cell::Ns(rd.blocked_ns_total),
                    Cell::Ns(rd.blocked_ns_max),
                    Cell::Ns(rd.lag_ns_max),
                    Cell::Ns(rd.lag_elapsed_ns_max),
                ]
            })
            .collect();
        page.table(
            &[
                "port",
                "pid",
                "comm",
                "reads",
                "bytes",
                "empty",
                "failed",
                "blocked total",
                "blocked max",
                "lag max (awake)",
                "lag max (elapsed)",
            ],
            &rows,
        );
    }
}

impl Page<'_> {
    fn h3(&mut self, title: &str) {
        let _ = writeln!(self.o, "<h3>{}</h3>", escape(title));
    }
}

fn timers(page: &mut Page<'_>) {
    let r = page.r;
    let t = &r.timers;
    page.h2(
        "timers",
        &format!(
            "Timers: {} hrtimer expiries paired with their start",
            t.count
        ),
    );
    page.p(
        "note",
        "lateness = expiry − requested soft expiry, on the timer's own clock",
    );
    if t.count == 0 {
        return;
    }
    let head = ["", "count", "p50", "p90", "p99", "max"];
    let row = |name: &str, count: u64, p: &Percentiles| {
        let mut v = vec![text(name), Cell::Num(count)];
        v.extend(pct(p));
        v
    };
    let mut rows = vec![row("all expiries", t.count, &t.lateness_ns)];
    if t.wakeups.count > 0 {
        rows.push(row(
            "task wakeups (ran − requested)",
            t.wakeups.count,
            &t.wakeups.latency_ns,
        ));
    }
    for (name, p) in [
        ("before any suspend", &t.by_phase.before),
        ("spanning a suspend", &t.by_phase.spanning),
        ("after a suspend", &t.by_phase.after),
    ] {
        rows.push(row(name, p.count, &p.lateness_ns));
    }
    page.table(&head, &rows);
    let _ = writeln!(
        page.o,
        "<p>smallest lateness <span title=\"{} ns\">{} ns</span>{}</p>",
        t.min_lateness_ns,
        t.min_lateness_ns,
        if t.early > 0 {
            format!(
                "; <span class=\"warn\">{} expiries before their requested time</span>",
                t.early
            )
        } else {
            String::new()
        }
    );
    timers_spanning(page);
    timers_by_group(page);
}

/// Timers that spanned a suspend, per clock: how their deadlines moved.
fn timers_spanning(page: &mut Page<'_>) {
    let t = &page.r.timers;
    if !t.spanning_by_clock.is_empty() {
        page.h3("Timers spanning a suspend, per clock");
        let rows: Vec<Vec<Cell>> = t
            .spanning_by_clock
            .iter()
            .map(|c| {
                let mut v = vec![
                    text(c.clock.as_str()),
                    text(match c.drift {
                        Drift::SuspendDrift => {
                            "suspend_drift: the clock stops in suspend, the deadline moved by the time suspended"
                        }
                        Drift::FiresAtResume => {
                            "fires_at_resume: the clock counts suspend, the timer fires at resume"
                        }
                        Drift::Unknown => {
                            "unknown: the clock was not recorded (no BTF for the clock bases), taken as monotonic"
                        }
                        Drift::NoClockStopped => {
                            "no_clock_stopped: no clock stopped while these timers were armed (suspend-to-idle with timekeeping running, a pm_test cycle, or a freezer that ended their sleeps before S3); they fired on time, their tasks ran after the thaw"
                        }
                    }),
                    Cell::Num(c.count),
                ];
                v.extend(pct(&c.lateness_ns));
                v.extend(pct(&c.wall_lateness_ns));
                v.push(Cell::Ns(c.suspended_ns_max));
                v
            })
            .collect();
        page.table(
            &[
                "clock",
                "drift",
                "count",
                "own p50",
                "own p90",
                "own p99",
                "own max",
                "wall p50",
                "wall p90",
                "wall p99",
                "wall max",
                "suspended max",
            ],
            &rows,
        );
    }
}

/// Lateness per callback and per task (the top rows).
fn timers_by_group(page: &mut Page<'_>) {
    let t = &page.r.timers;
    let group_head = [
        "count", "p50", "p90", "p99", "max", "before", "spanning", "after",
    ];
    let group = |g: &crate::analysis::timers::GroupRow, first: Vec<Cell>| {
        let mut v = first;
        v.push(Cell::Num(g.count));
        v.extend(pct(&g.lateness_ns));
        v.push(Cell::Num(g.by_phase.before.count));
        v.push(Cell::Num(g.by_phase.spanning.count));
        v.push(Cell::Num(g.by_phase.after.count));
        v
    };
    if !t.by_callback.is_empty() {
        page.h3("By callback");
        let rows: Vec<Vec<Cell>> = t
            .by_callback
            .iter()
            .map(|g| group(g, vec![text(&g.name)]))
            .collect();
        let mut head = vec!["callback"];
        head.extend(group_head);
        page.table(&head, &rows);
    }
    if !t.by_task.is_empty() {
        page.h3("By task that armed the timer");
        let rows: Vec<Vec<Cell>> = t
            .by_task
            .iter()
            .map(|g| {
                group(
                    g,
                    vec![
                        text(&g.name),
                        g.pid.map_or(Cell::None, |p| Cell::Num(u64::from(p))),
                        g.tid.map_or(Cell::None, |p| Cell::Num(u64::from(p))),
                    ],
                )
            })
            .collect();
        let mut head = vec!["comm", "pid", "tid"];
        head.extend(group_head);
        page.table(&head, &rows);
    }
}

fn lost_wakeups(page: &mut Page<'_>) {
    let r = page.r;
    page.h2(
        "lost-wakeups",
        &format!(
            "Lost wakeups: {} (later than {} and than the sleep asked for)",
            r.lost_wakeups.len(),
            fmt_ns(crate::analysis::timers::LOST_WAKEUP_MIN_NS)
        ),
    );
    if r.lost_wakeups.is_empty() {
        return;
    }
    let rows: Vec<Vec<Cell>> = r
        .lost_wakeups
        .iter()
        .take(MAX_ROWS)
        .map(|l| {
            vec![
                text(&l.comm),
                Cell::Num(u64::from(l.pid)),
                Cell::Num(u64::from(l.tid)),
                text(l.clock.as_str()),
                Cell::Ns(l.requested_ns),
                Cell::At(l.expected_boot_ns),
                Cell::At(l.actual_boot_ns),
                Cell::WarnNs(l.late_ns),
                text(l.cause.as_str()),
                l.suspend_cycle
                    .map_or(Cell::None, |c| Cell::Num(u64::from(c))),
            ]
        })
        .collect();
    page.table(
        &[
            "comm", "pid", "tid", "clock", "asked", "due at", "ran at", "late", "cause", "cycle",
        ],
        &rows,
    );
    page.more(r.lost_wakeups.len());
}

/// The system's timer and power settings when the recording began (traces that keep them).
fn system(page: &mut Page<'_>) {
    let Some(s) = &page.r.system else {
        return;
    };
    page.h2("system", "System");
    let rows: Vec<Vec<Cell>> = super::summary::system_rows(s)
        .into_iter()
        .map(|(label, value)| vec![text(label), text(&value)])
        .collect();
    page.kv(&rows);
}

fn probes(page: &mut Page<'_>) {
    let r = page.r;
    page.h2("probes", "Hooks");
    let rows: Vec<Vec<Cell>> = r
        .probes
        .iter()
        .map(|p| {
            vec![
                text(&p.name),
                if p.attached {
                    text("attached")
                } else {
                    Cell::Warn("not attached".into())
                },
                opt_text(p.method.as_deref()),
                opt_text(p.function.as_deref()),
                opt_text(p.reason.as_deref()),
            ]
        })
        .collect();
    page.table(&["hook", "state", "method", "function", "reason"], &rows);
}

fn events(page: &mut Page<'_>) {
    let r = page.r;
    let e = &r.events;
    page.h2("events", "Events and loss");
    let lost_note = if e.lost_complete {
        "whole recording"
    } else {
        "as of the last checkpoint (no trailer)"
    };
    page.kv(&[
        vec![text("events recorded"), Cell::Num(e.total)],
        vec![
            text(format!("lost (ring buffer full), {lost_note}")),
            Cell::Num(e.lost),
        ],
        vec![
            text("recursion misses counted"),
            text(if e.misses_counted {
                "yes"
            } else {
                "no: this kernel does not count them (5.12+ does)"
            }),
        ],
    ]);
    if e.lost > 0 {
        page.p(
            "warn",
            "the ring buffer overflowed: raise --buffer-size or narrow with --pid/--comm",
        );
    }
    loss_tables(page);
    if !e.by_kind.is_empty() {
        page.h3("By kind");
        let rows: Vec<Vec<Cell>> = e
            .by_kind
            .iter()
            .map(|(k, n)| vec![text(k), Cell::Num(*n)])
            .collect();
        page.table(&["kind", "events"], &rows);
    }
    trace_file(page);
}

/// Where events were lost, skipped by the kernel, or state maps overflowed.
fn loss_tables(page: &mut Page<'_>) {
    let r = page.r;
    let e = &r.events;
    if !e.loss_windows.is_empty() {
        page.h3("Loss windows");
        let rows: Vec<Vec<Cell>> = e
            .loss_windows
            .iter()
            .map(|w| {
                vec![
                    Cell::At(w.from_boot_ns),
                    Cell::At(w.to_boot_ns),
                    Cell::Num(w.lost),
                    w.suspend_cycle.map_or(Cell::None, |c| {
                        text(format!("#{c}: the recorder was frozen too"))
                    }),
                ]
            })
            .collect();
        page.table(&["from", "to", "lost", "across suspend cycle"], &rows);
    }
    if e.recursion_misses.values().any(|n| *n > 0) {
        page.h3(
            "Skipped by the kernel (a BPF program or kprobe handler was already running on that CPU)",
        );
        let rows: Vec<Vec<Cell>> = e
            .recursion_misses
            .iter()
            .map(|(p, n)| vec![text(p), Cell::Num(*n)])
            .collect();
        page.table(&["program", "recursion misses"], &rows);
    }
    if !e.state_losses.is_empty() {
        page.h3("State maps that were full (the kernel evicted entries without telling)");
        let rows: Vec<Vec<Cell>> = e
            .state_losses
            .iter()
            .map(|(map, loss)| {
                let cost = serial_trace_common::state_counts::cost(map);
                vec![
                    text(map),
                    Cell::Num(loss.evicted),
                    Cell::Num(loss.refused),
                    text(cost),
                ]
            })
            .collect();
        page.table(
            &[
                "map",
                "entries evicted",
                "inserts refused",
                "each one means",
            ],
            &rows,
        );
    }
}

/// How the trace file ended, and what of it could not be read.
fn trace_file(page: &mut Page<'_>) {
    let r = page.r;
    let t = &r.trace;
    page.h3("Trace file");
    let mut rows = vec![
        vec![text("end"), text(t.end.as_str())],
        vec![text("unread bytes at the end"), Cell::Num(t.unread_bytes)],
        vec![text("stopped by"), opt_text(t.stopped_by.as_deref())],
        vec![
            text("recorder error"),
            t.recorder_error
                .as_deref()
                .map_or(Cell::None, |e| Cell::Warn(e.into())),
        ],
    ];
    if let Some(line) = super::summary::saved_by_line(r) {
        rows.push(vec![text("saved by serial-trace monitor"), text(line)]);
    }
    if !t.unknown_frame_types.is_empty() {
        rows.push(vec![
            text("frame types skipped (written by a newer serial-trace)"),
            text(
                t.unknown_frame_types
                    .iter()
                    .map(u8::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ]);
    }
    page.kv(&rows);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::serial::tests::snap;
    use crate::analysis::suspend::tests::sr;
    use crate::analysis::timers::tests::{expire, start};
    use crate::analysis::{LostWakeup, analyze};
    use crate::trace::{ClockAnchor, LossRecord, Symbol, TraceReader, TraceWriter, Trailer};
    use serial_trace_common::{Event, kind};

    pub const XSS: &str = "<script>alert(1)</script>";
    const S: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    /// A serial event on port `name` (address `port`) at boottime `boot` (monotonic `boot -
    /// off`).
    fn serial(k: u16, boot: u64, off: u64, port: u64, name: &str, args: &[u64]) -> Event {
        let mut e = Event::ZERO;
        e.kind = k;
        e.boot_ns = boot;
        e.mono_ns = boot - off;
        e.args[0] = port;
        e.args[1..=args.len()].copy_from_slice(args);
        let n = name.len().min(32);
        e.text[0][..n].copy_from_slice(&name.as_bytes()[..n]);
        e.pid_tgid = (812u64 << 32) | 812;
        e.comm[..3].copy_from_slice(b"cat");
        e
    }

    /// A 60 s recording: ttyS1 received at 11.5 kB/s and read by `cat`, a pm_test freezer
    /// cycle (20–30 s) during which the flip buffer overflows, an S3 cycle at 40 s asleep 5 s,
    /// timers every 50 ms, and a second port whose name, like several other kernel strings,
    /// is hostile markup with terminal escapes and control characters.
    pub fn synthetic_report() -> Report {
        let evil_port = "<script>alert(1)</script>\x1b[1m\x07";
        let mut h = crate::trace::sample_header();
        h.start = ClockAnchor {
            mono_ns: S,
            boot_ns: S,
            realtime_ns: 1_750_000_000 * S,
        };
        h.hostname = format!("box{XSS}\x1b[2J");
        h.kernel_release = "6.12.0-\x1b[31mred\u{202e}".into();
        h.probes.push(crate::trace::ProbeRecord {
            name: "serial:flip_buffer_insert".into(),
            kind: None,
            attached: true,
            method: Some("fexit".into()),
            reason: None,
            fields: vec![],
            function: Some("__tty_insert_flip_string_flags".into()),
        });
        h.probes.push(crate::trace::ProbeRecord {
            name: "rtc:rtc_timer_fired".into(),
            kind: Some(18),
            attached: false,
            method: None,
            reason: Some(format!("tracepoint missing: {XSS} \"quoted\" & 'single'")),
            fields: vec![],
            function: None,
        });
        h.ports_start = vec![snap("ttyS1", 0, 0), snap(evil_port, 0, 0)];
        let mut w = TraceWriter::new(Vec::new(), &h).unwrap();
        let mut evs: Vec<Event> = Vec::new();
        // boot − mono: grows by 5 s across the S3 cycle
        let off = |boot: u64| if boot >= 45 * S { 5 * S } else { 0 };
        // suspend cycles: pm_test (freezer) 20–30 s, S3 40–45 s
        let cycle = [
            ("suspend_enter", 3, true, 20 * S),
            ("sync_filesystems", 0, true, 20 * S + MS),
            ("sync_filesystems", 0, false, 20 * S + 30 * MS),
            ("freeze_processes", 0, true, 20 * S + 31 * MS),
            ("freeze_processes", 0, false, 20 * S + 60 * MS),
            ("thaw_processes", 0, true, 30 * S),
            ("thaw_processes", 0, false, 30 * S + 20 * MS),
            ("suspend_enter", 3, false, 30 * S + 21 * MS),
            ("suspend_enter", 3, true, 40 * S),
            ("sync_filesystems", 0, true, 40 * S + MS),
            ("sync_filesystems", 0, false, 40 * S + 20 * MS),
            ("freeze_processes", 0, true, 40 * S + 21 * MS),
            ("freeze_processes", 0, false, 40 * S + 50 * MS),
            ("dpm_suspend", 2, true, 40 * S + 51 * MS),
            ("dpm_suspend", 2, false, 40 * S + 300 * MS),
            ("suspend_enter", 3, false, 40 * S + 301 * MS),
            ("machine_suspend", 3, true, 40 * S + 302 * MS),
            ("machine_suspend", 3, false, 45 * S + 302 * MS),
            ("dpm_resume", 16, true, 45 * S + 303 * MS),
            ("dpm_resume", 16, false, 45 * S + 700 * MS),
            ("thaw_processes", 0, true, 45 * S + 701 * MS),
            ("thaw_processes", 0, false, 45 * S + 720 * MS),
        ];
        for (a, v, b, t) in cycle {
            evs.push(sr(a, v, b, t - off(t), t));
        }
        // timers every 50 ms from tid 77 ("work"): ~25 µs late, one 6 ms spike at 15 s
        let mut t = 2 * S;
        let mut i = 0u64;
        while t < 60 * S {
            if !(40 * S..46 * S).contains(&t) {
                let soft = (t - off(t)) as i64;
                let mut s = start(0x1000 + i % 5, soft, 0xf1, 77);
                (s.mono_ns, s.boot_ns) = (t - off(t) - 10 * MS, t - 10 * MS);
                s.args[6] = 2; // CLOCK_MONOTONIC + 1
                evs.push(s);
                let late = if t == 15 * S {
                    6 * MS
                } else {
                    20_000 + i % 10 * 1_000
                };
                let mut e = expire(0x1000 + i % 5, soft + late as i64, 0xf1);
                (e.mono_ns, e.boot_ns) = (t - off(t) + late, t + late);
                evs.push(e);
                let mut sw = Event::ZERO;
                sw.kind = kind::SCHED_SWITCH;
                sw.args[0] = 77;
                (sw.mono_ns, sw.boot_ns) = (t - off(t) + late + 30_000, t + late + 30_000);
                if !(20 * S..30 * S).contains(&t) {
                    evs.push(sw);
                }
            }
            t += 50 * MS;
            i += 1;
        }
        // ttyS1: 115 bytes every 10 ms; read by cat except while frozen; flip buffer full
        // from 22 s until the thaw
        let mut t = 2 * S;
        while t < 60 * S {
            let asleep = (40 * S..46 * S).contains(&t);
            let frozen = (20 * S..30 * S).contains(&t) || asleep;
            if asleep {
                t += 10 * MS;
                continue;
            }
            let full = (22 * S..30 * S).contains(&t);
            let accepted = if full { 0 } else { 115 };
            evs.push(serial(
                kind::SERIAL_RECEIVE,
                t,
                off(t),
                0xa0,
                "ttyS1",
                &[115, accepted, 4096, 65536],
            ));
            if full {
                evs.push(serial(
                    kind::SERIAL_FLIP_DROP,
                    t + 1000,
                    off(t),
                    0xa0,
                    "ttyS1",
                    &[115, 0, 65536, 65536, 1],
                ));
            }
            if !frozen {
                evs.push(serial(
                    kind::SERIAL_READ,
                    t + 2 * MS,
                    off(t),
                    0xb0,
                    "ttyS1",
                    &[4096, 115, 1_900_000, t - off(t)],
                ));
            }
            t += 10 * MS;
        }
        // the hostile port: a burst at 50–52 s nobody reads, the last 200 ms refused
        let mut t = 50 * S;
        while t < 52 * S {
            evs.push(serial(
                kind::SERIAL_RECEIVE,
                t,
                off(t),
                0xc0,
                evil_port,
                &[64, 64, 1024, 4096],
            ));
            if t >= 51_800 * MS {
                evs.push(serial(
                    kind::SERIAL_FLIP_DROP,
                    t + 500,
                    off(t),
                    0xc0,
                    evil_port,
                    &[64, 0, 4096, 4096, 1],
                ));
            }
            t += 20 * MS;
        }
        evs.sort_by_key(|e| e.boot_ns);
        for e in &evs {
            w.push(e).unwrap();
        }
        w.write_symbols(&[Symbol {
            addr: 0xf1,
            name: "hrtimer_wakeup".into(),
        }])
        .unwrap();
        w.write_loss(&LossRecord {
            at: ClockAnchor {
                mono_ns: 44 * S,
                boot_ns: 49 * S,
                realtime_ns: 0,
            },
            lost_total: 7,
            misses_counted: true,
            ..Default::default()
        })
        .unwrap();
        let rx1: u64 = 115 * 5200;
        let bytes = w
            .finish(&Trailer {
                end: ClockAnchor {
                    mono_ns: 56 * S,
                    boot_ns: 61 * S,
                    realtime_ns: 0,
                },
                events_written: evs.len() as u64,
                lost_total: 7,
                lost_per_cpu: vec![7, 0],
                stopped_by: "duration".into(),
                ports_end: vec![snap("ttyS1", rx1, 92_000), snap(evil_port, 6400, 700)],
                recursion_misses: [("hrtimer_start".to_string(), 2)].into(),
                misses_counted: true,
                ..Default::default()
            })
            .unwrap();
        let mut r = analyze(TraceReader::new(&bytes[..]).unwrap()).unwrap();
        // strings the synthetic trace cannot carry (comm is 16 bytes) or features it does not
        // produce, set directly
        if let Some(rd) = r.readers.first_mut() {
            rd.comm = format!("{XSS}\x1b[31m\u{0}");
        }
        if let Some(g) = r.timers.by_task.first_mut() {
            g.name = format!("w{XSS}\x08");
        }
        r.lost_wakeups.push(LostWakeup {
            pid: 77,
            tid: 78,
            comm: format!("sleeper{XSS}\x1b]0;title\x07"),
            clock: crate::analysis::Clock::Monotonic,
            requested_ns: 10 * MS,
            expected_boot_ns: 40 * S + 100 * MS,
            actual_boot_ns: 45 * S + 730 * MS,
            expected_mono_ns: 40 * S + 100 * MS,
            actual_mono_ns: 40 * S + 730 * MS,
            late_ns: 5 * S + 630 * MS,
            cause: crate::analysis::WakeCause::Suspend,
            suspend_cycle: Some(2),
            ran_in_freezer_late_ns: None,
        });
        if let Some(c) = r.suspend_cycles.get_mut(1) {
            c.slowest_devices
                .push(crate::analysis::suspend::DeviceCallback {
                    device: format!("serial8250{XSS}"),
                    driver: "\x1b[5mblink".into(),
                    event: "resume".into(),
                    phase: Some("dpm_resume".into()),
                    start_boot_ns: 45 * S + 310 * MS,
                    duration_ns: 180 * MS,
                    error: -16,
                });
            c.device_callbacks = c.device_callbacks.max(1);
        }
        r
    }

    #[test]
    fn html_has_every_section_and_the_json_numbers() {
        let r = synthetic_report();
        let html = render_html(&r);
        if let Some(path) = std::env::var_os("SERIAL_TRACE_HTML_OUT") {
            std::fs::write(&path, &html).unwrap();
        }
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        for id in [
            "summary",
            "timeline",
            "suspend",
            "serial",
            "timers",
            "lost-wakeups",
            "probes",
            "events",
        ] {
            assert!(html.contains(&format!("<h2 id=\"{id}\">")), "section {id}");
        }
        assert_eq!(html.matches("<svg").count(), 1, "one inline timeline");
        // the report has what the page is meant to show
        assert_eq!(r.suspend_cycles.len(), 2);
        assert!(r.drops.len() >= 2, "{:?}", r.drops);
        assert!(r.readers.len() == 1 && r.timers.count > 1000);
        assert!(!r.timers.spanning_by_clock.is_empty() || r.timers.by_phase.spanning.count == 0);
        // numbers as in the JSON
        let json: serde_json::Value =
            serde_json::from_str(&crate::render::render_json(&r)).unwrap();
        let num = |v: &serde_json::Value| v.as_u64().unwrap().to_string();
        let mut expect = vec![
            num(&json["events"]["total"]),
            num(&json["events"]["lost"]),
            num(&json["timers"]["count"]),
            format!("{} ns", num(&json["timers"]["lateness_ns"]["p99"])),
            format!("{} ns", num(&json["duration_ns"])),
        ];
        for p in json["ports"].as_array().unwrap() {
            expect.push(num(&p["bytes_received"]));
            expect.push(num(&p["bytes_dropped"]));
            expect.push(num(&p["kernel_counters"]["delta"]["rx"]));
        }
        for d in json["drops"].as_array().unwrap() {
            expect.push(num(&d["bytes"]));
            expect.push(format!("CLOCK_BOOTTIME {} ns", num(&d["t_boot_ns"])));
            if let Some(c) = d["cause"].as_str() {
                expect.push(c.to_string());
            }
        }
        for c in json["suspend_cycles"].as_array().unwrap() {
            expect.push(format!("{} ns", num(&c["suspended_ns"])));
            if let Some(ns) = c["resume_ns"].as_u64() {
                expect.push(format!("{ns} ns"));
            }
            for p in c["phases"].as_array().unwrap() {
                expect.push(format!("CLOCK_BOOTTIME {} ns", num(&p["begin_boot_ns"])));
            }
        }
        for rd in json["readers"].as_array().unwrap() {
            expect.push(num(&rd["reads"]));
            expect.push(format!("{} ns", num(&rd["lag_ns_max"])));
        }
        for w in json["events"]["loss_windows"].as_array().unwrap() {
            expect.push(num(&w["lost"]));
        }
        for l in json["lost_wakeups"].as_array().unwrap() {
            expect.push(format!("{} ns", num(&l["late_ns"])));
        }
        for e in &expect {
            assert!(html.contains(e.as_str()), "{e} missing from the HTML");
        }
        assert!(html.contains("reader_frozen"), "cause of the freezer drops");
        assert!(html.contains("hrtimer_wakeup"));
        assert!(html.contains("2025-06-15 15:06:40 UTC"));
    }

    #[test]
    fn html_is_self_contained() {
        let html = render_html(&synthetic_report());
        let lower = html.to_lowercase();
        for banned in [
            "<script",
            "<link",
            "<img",
            "<iframe",
            "<object",
            "<embed",
            "src=",
            "href=",
            "url(",
            "@import",
            "javascript:",
            "onload",
            "onerror",
        ] {
            assert!(!lower.contains(banned), "{banned} in the page");
        }
        // the only URL is the SVG namespace, which is never fetched
        assert_eq!(
            lower.matches("http").count(),
            lower
                .matches("xmlns=\"http://www.w3.org/2000/svg\"")
                .count()
                + 1,
            "http only in the svg namespace and the CSP meta name"
        );
        assert!(html.contains("default-src 'none'"));
    }

    #[test]
    fn html_escapes_every_kernel_string() {
        let r = synthetic_report();
        let html = render_html(&r);
        assert!(!html.contains(XSS));
        assert!(!html.contains("<script"));
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
        // hostname, port (tables and SVG), reader comm, task, lost wakeup, device, probe reason
        assert!(
            html.matches(escaped).count() >= 8,
            "{}",
            html.matches(escaped).count()
        );
        assert!(html.contains("&quot;quoted&quot; &amp; &#39;single&#39;"));
        for c in html.chars() {
            assert!(
                !c.is_control() || c == '\n',
                "control character {c:?} in the page"
            );
        }
        assert!(!html.contains('\u{202e}'), "bidi override neutralised");
        assert!(html.contains("\u{241b}[31m"), "ESC shown as ␛");
    }

    /// The synthetic report with nothing in it.
    pub fn empty_report() -> Report {
        let mut r = synthetic_report();
        r.suspend_cycles.clear();
        r.ports.clear();
        r.drops.clear();
        r.readers.clear();
        r.lost_wakeups.clear();
        r.timeline = Default::default();
        r.duration_ns = 0;
        r
    }

    #[test]
    fn html_of_an_empty_report() {
        let mut r = empty_report();
        r.probes.clear();
        r.timers = Default::default();
        r.events = crate::analysis::EventCounts {
            total: 0,
            lost: 0,
            lost_complete: false,
            recursion_misses: Default::default(),
            misses_counted: false,
            loss_windows: vec![],
            state_losses: Default::default(),
            by_kind: Default::default(),
        };
        r.trace.stopped_by = None;
        let html = render_html(&r);
        assert!(html.contains("no suspend cycle"));
        assert!(html.contains("no serial port traced"));
        assert!(html.contains("no data"));
        assert!(html.contains("did not stop cleanly"));
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn escape_and_dates() {
        assert_eq!(
            escape("<a href='x'>&\"\x1b"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;\u{241b}"
        );
        assert_eq!(crate::fmt::fmt_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            crate::fmt::fmt_utc(951_782_400 * S),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(
            crate::fmt::fmt_utc(1_750_000_000 * S),
            "2025-06-15 15:06:40 UTC"
        );
    }
}
