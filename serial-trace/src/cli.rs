//! Command-line interface (clap). Every flag has help text; `--help` is the reference.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::hooks::{SerialMethod, TracepointMethod};
use crate::record::{RecordOptions, parse_buffer_size};

#[derive(Parser)]
#[command(
    name = "serial-trace",
    version,
    about = "Trace why serial bytes are lost and why sleeps wake late around suspend (eBPF)",
    long_about = "Records tty/serial, timer and suspend/resume events with eBPF into a crash-safe \
                  trace file, then explains lost bytes and late wakeups.\n\n\
                  Typical use:\n  sudo serial-trace record --duration 60 -o run.trace\n  \
                  serial-trace report run.trace"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Record events into a trace file (needs root or CAP_BPF+CAP_PERFMON).
    ///
    /// Stops cleanly on Ctrl-C, SIGTERM, SIGHUP or --duration (every hook detached, the ring
    /// buffer drained, a trailer written). A second Ctrl-C or SIGTERM exits at once with status
    /// 130; the file then reads up to its last checkpoint (at most the last second missing).
    Record(RecordArgs),
    /// Record without end into a bounded window in memory, and save the window as a trace
    /// when a trigger fires (a flight recorder for devices left running).
    ///
    /// Keeps the last --keep of events (at most --memory of compressed frames) and nothing
    /// else: memory does not grow with time. When a --trigger rule holds on the window
    /// (evaluated every --check-every, as `report --check` evaluates a rule), it keeps
    /// recording for --post, then writes the window as an ordinary trace,
    /// DIR/serial-trace-<UTC time>-<rule>.trace (mode 0600), removes the oldest such files
    /// past --max-files or --max-disk, and runs --on-trigger. SIGUSR1 saves the window at
    /// once. A trigger is re-armed once its window is saved, on what came after it. Stops
    /// as `record` does (Ctrl-C, SIGTERM, --duration); a trigger still waiting out its
    /// --post is saved then.
    Monitor(MonitorArgs),
    /// Analyse a trace file: events, loss, timer lateness, suspend cycles.
    Report(ReportArgs),
    /// Show every hook the tool knows and how (or why not) it attaches on this kernel.
    Probe(ProbeArgs),
    /// Print every event of a trace as one text line (for grep and for checking the analysis).
    Dump(DumpArgs),
    /// Compare two recordings: per port bytes and drops by cause, lost wakeups by cause,
    /// lateness percentiles, suspend cycles, resume times and the slowest device callbacks,
    /// before and after. With --fail-if, exit 1 when the difference breaks a rule (CI before/
    /// after comparisons).
    Diff(DiffArgs),
    /// Print a shell completion script: `source <(serial-trace completions bash)`, or save it
    /// where the shell looks (e.g. ~/.local/share/bash-completion/completions/serial-trace,
    /// a directory of $fpath as _serial-trace, ~/.config/fish/completions/serial-trace.fish).
    Completions(CompletionsArgs),
    /// Write the manual pages (serial-trace.1 and one per subcommand) into a directory;
    /// read one with `man -l DIR/serial-trace-record.1`.
    Man(ManArgs),
}

#[derive(Args)]
pub struct DiffArgs {
    /// The recording before the change.
    pub before: PathBuf,
    /// The recording after it.
    pub after: PathBuf,
    /// Output format: aligned text, or JSON (schema `serial-trace.diff/1`: every number as
    /// {before, after}).
    #[arg(short, long, value_enum, default_value = "text")]
    pub format: DiffFormat,
    /// A rule the difference must pass (repeatable, comma-separated): exit 1 naming each one
    /// broken, with its numbers. Each is broken when AFTER is worse than BEFORE.
    #[arg(
        long = "fail-if",
        value_name = "RULE",
        value_delimiter = ',',
        value_parser = clap::builder::PossibleValuesParser::new(
            crate::diff::RULES.iter().map(|(r, help)| clap::builder::PossibleValue::new(*r).help(*help))
        )
    )]
    pub fail_if: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
}

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
}

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "serial-trace", out);
}

/// Writes `serial-trace.1` and `serial-trace-SUBCOMMAND.1` into `dir`; returns their paths.
pub fn man_pages(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    use anyhow::Context;
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cmd = Cli::command();
    let mut pages = vec![("serial-trace".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("serial-trace-{}", sub.get_name());
        let bin = format!("serial-trace {}", sub.get_name());
        pages.push((name.clone(), sub.clone().display_name(name).bin_name(bin)));
    }
    let mut written = Vec::new();
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut out)
            .with_context(|| format!("rendering {name}.1"))?;
        std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[derive(Args)]
pub struct RecordArgs {
    /// Trace file to write (created with mode 0600). An existing file is kept as FILE.old,
    /// replacing an older FILE.old, as perf keeps perf.data.old.
    #[arg(short, long, default_value = "serial-trace.trace")]
    pub output: PathBuf,
    /// Overwrite the output file if it exists, keeping no FILE.old.
    #[arg(long)]
    pub force: bool,
    /// Stop after this long (default: until Ctrl-C or SIGTERM): seconds (`60`, `0.5`) or a
    /// duration with units (`90s`, `500ms`, `1m30s`, `2h`). Counted on CLOCK_MONOTONIC, i.e.
    /// time awake: time suspended does not count, so `-d 60` across a 10 s suspend ends 70 s
    /// of wall-clock time after it began.
    #[arg(short, long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    #[command(flatten)]
    pub tracing: HookArgs,
    /// Exit 0 even when events were lost (by default `record` exits 1 then, after writing
    /// the whole trace: a CI job should not pass on an incomplete recording).
    #[arg(long)]
    pub allow_loss: bool,
    /// A command to run once every hook records (`record -- CMD ARGS`, as `perf record --
    /// CMD`): recording stops when it exits, and `record` exits with its status. It runs as
    /// `record` does (root under sudo), with the terminal. Timers are recorded for CMD and
    /// every process it forks (its process tree, followed in the kernel) unless --all-tasks;
    /// serial and suspend events are always system-wide. --pid/--comm narrow it further.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
    /// With -- CMD: record every task's timers, not only those of CMD's process tree.
    #[arg(long)]
    pub all_tasks: bool,
}

#[derive(Args)]
pub struct MonitorArgs {
    /// Directory the saved windows go to (created if missing).
    #[arg(short = 'o', long, value_name = "DIR", default_value = ".")]
    pub output_dir: PathBuf,
    /// How much of the recent past the window holds (`60s`, `5m`); older events are dropped
    /// a second's frame at a time.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub keep: Duration,
    /// The most the window may hold, compressed (suffixes K, M, G): under a heavier load it
    /// holds less than --keep. The recorder's own memory (~10-25 MB while loading, less once
    /// running) and the ring buffer come on top.
    #[arg(long, value_name = "SIZE", default_value = "32M", value_parser = size)]
    pub memory: u64,
    /// A rule that saves the window when it holds (repeatable): the grammar of `report
    /// --check`, e.g. `drops>0`, `drops[ttyS1]>0`, `hw_overruns>0`, `lost_wakeups>0`,
    /// `wakeup_late>50ms`, `timer_max>10ms`, `resume>2s`, `lost_events>0`,
    /// `silent_probes>0`. Evaluated on the window, re-armed on what comes after its save.
    #[arg(long = "trigger", value_name = "RULE", value_parser = trigger_rule)]
    pub triggers: Vec<crate::check::Rule>,
    /// How long to keep recording after a trigger fires before saving, so the window shows
    /// what followed.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub post: Duration,
    /// How often the triggers are evaluated on the window.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub check_every: Duration,
    /// Keep at most this many saved windows in DIR (the oldest go first).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_files: u32,
    /// Keep the saved windows in DIR under this size together (suffixes K, M, G; at least
    /// --memory, the largest one window can be, and a little more).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = size)]
    pub max_disk: u64,
    /// A command run by `sh -c` after each save, with the file's path as $1 (also in
    /// SERIAL_TRACE_FILE) and the rule in SERIAL_TRACE_RULE: upload it, page someone. It runs
    /// in the background; its exit status is logged.
    #[arg(long, value_name = "CMD")]
    pub on_trigger: Option<String>,
    /// Serve metrics for Prometheus at http://ADDR:PORT/metrics (OpenMetrics text): bytes
    /// received and dropped per port, hardware overruns, drop windows by cause, lost wakeups
    /// by cause, suspend cycles and resume times, wakeup lateness, events and loss, triggers
    /// fired. E.g. `127.0.0.1:9465`, or `0.0.0.0:9465` for a fleet's Prometheus.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Stop after this long awake (default: until Ctrl-C or SIGTERM), as `record --duration`.
    #[arg(short, long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    #[command(flatten)]
    pub tracing: HookArgs,
}

/// `--trigger`: a rule that can fire (a named rule says what must hold: it would fire on
/// every healthy window).
fn trigger_rule(s: &str) -> Result<crate::check::Rule, String> {
    let rule = crate::check::Rule::parse(s).map_err(|e| format!("{e:#}"))?;
    if rule.is_named() {
        return Err(format!(
            "{s:?} names what must hold; a trigger fires when its rule holds: use its metric, \
             e.g. silent_probes>0, disagreements>0 or risks>0"
        ));
    }
    Ok(rule)
}

/// `--memory`, `--max-disk`: bytes, with an optional K, M or G suffix.
fn size(s: &str) -> Result<u64, String> {
    crate::record::parse_size(s).map_err(|e| format!("{e:#}"))
}

impl MonitorArgs {
    pub fn into_options(self) -> (RecordOptions, crate::monitor::MonitorOptions) {
        let monitor = crate::monitor::MonitorOptions {
            output_dir: self.output_dir.clone(),
            keep: self.keep,
            memory: self.memory,
            triggers: self.triggers,
            post: self.post,
            check_every: self.check_every,
            max_files: self.max_files,
            max_disk: self.max_disk,
            on_trigger: self.on_trigger,
            metrics: self.metrics,
        };
        let record = RecordOptions {
            // a monitor that lost events says so in its saved windows and metrics; it keeps going
            allow_loss: true,
            ..self.tracing.into_options(self.output_dir, self.duration)
        };
        (record, monitor)
    }
}

/// What to hook and how: the same for `record` and `monitor`.
#[derive(Args)]
pub struct HookArgs {
    /// Ring buffer size in bytes, a power of two from the page size to 1G (suffixes K, M, G:
    /// `256K`, `4M`, `64M`). Raise it if events are lost.
    #[arg(long, value_name = "SIZE", default_value = "4M", value_parser = buffer_size)]
    pub buffer_size: u32,
    /// Record timers armed by this process (tgid) only; repeatable (up to 8) or
    /// comma-separated. System-wide power/RTC events are kept. Filtered in the kernel.
    #[arg(long, value_name = "PID", value_delimiter = ',')]
    pub pid: Vec<u32>,
    /// Record timers armed by tasks whose comm matches this glob only (`my-reader`,
    /// `python*`, `*worker`, `kworker/?:*` is not: one `*` at most; `?` is any one character);
    /// repeatable, up to 4. At most 15 bytes besides the `*`. With --pid, a task must pass
    /// both. Filtered in the kernel.
    #[arg(long, value_name = "GLOB")]
    pub comm: Vec<String>,
    /// No attach table and no status line on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Record this serial port only (name like ttyS1, ttyUSB0, ttyAMA0; repeatable, up to 4).
    /// Filtered in the kernel. Default: every port.
    #[arg(long = "port", value_name = "NAME")]
    pub ports: Vec<String>,
    /// How to hook the serial data path: fentry/fexit, else kprobes, else polling the kernel's
    /// counters (auto); or force one of them; `off` records no serial events.
    #[arg(long, value_enum, default_value_t = SerialMethodArg::Auto)]
    pub serial_method: SerialMethodArg,
    /// How to attach the hot tracepoint hooks (hrtimers, sched_switch, sched_waking): as raw
    /// tracepoints, which read the tracepoint's arguments (cheaper per event; needs kernel
    /// BTF), else as classic tracepoints, which read the record the kernel builds (auto); or
    /// force one. The other hooks are always classic tracepoints.
    #[arg(long, value_enum, default_value_t = TracepointMethodArg::Auto)]
    pub tracepoint_method: TracepointMethodArg,
    /// Hook families to record, comma-separated (default: all). Fewer families cost less;
    /// note that `sched` and `timer` are needed for task wakeups, and `power` for suspend
    /// cycles.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "FAMILIES",
        value_parser = clap::builder::PossibleValuesParser::new(crate::hooks::FAMILIES)
    )]
    pub hooks: Vec<String>,
    /// Also write one event per run of each traced port's interrupt handler and line
    /// discipline (the timeline of the irq: and workqueue: hooks). Their timing is always
    /// kept, aggregated in the kernel (counts, totals, histograms) and read every second;
    /// one event per interrupt can fill the ring under a flood while a suspend freezes the
    /// recorder, so the events are off by default.
    #[arg(long, alias = "port-timing")]
    pub port_timing_events: bool,
    /// Samples per second of the kernel's port counters when polling (the fallback where no
    /// function hook works, or --serial-method poll).
    #[arg(long, value_name = "HZ", default_value_t = 100)]
    pub poll_hz: u32,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TracepointMethodArg {
    Auto,
    Raw,
    Classic,
}

impl From<TracepointMethodArg> for TracepointMethod {
    fn from(m: TracepointMethodArg) -> Self {
        match m {
            TracepointMethodArg::Auto => TracepointMethod::Auto,
            TracepointMethodArg::Raw => TracepointMethod::Raw,
            TracepointMethodArg::Classic => TracepointMethod::Classic,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SerialMethodArg {
    Auto,
    Fentry,
    Kprobe,
    Poll,
    Off,
}

impl From<SerialMethodArg> for SerialMethod {
    fn from(m: SerialMethodArg) -> Self {
        match m {
            SerialMethodArg::Auto => SerialMethod::Auto,
            SerialMethodArg::Fentry => SerialMethod::Fentry,
            SerialMethodArg::Kprobe => SerialMethod::Kprobe,
            SerialMethodArg::Poll => SerialMethod::Poll,
            SerialMethodArg::Off => SerialMethod::Off,
        }
    }
}

impl HookArgs {
    /// `record`'s options with these hooks: the rest as a plain `record` to FILE sets them.
    fn into_options(self, output: PathBuf, duration: Option<Duration>) -> RecordOptions {
        RecordOptions {
            output,
            force: false,
            duration,
            buffer_size: self.buffer_size,
            pid: self.pid,
            comm: self.comm,
            quiet: self.quiet,
            ports: self.ports,
            serial_method: self.serial_method.into(),
            tracepoint_method: self.tracepoint_method.into(),
            poll_hz: self.poll_hz,
            hooks: self.hooks,
            allow_loss: false,
            command_tree: false,
            port_timing_events: self.port_timing_events,
            command: Vec::new(),
        }
    }
}

impl RecordArgs {
    pub fn into_options(self) -> Result<RecordOptions> {
        Ok(RecordOptions {
            force: self.force,
            allow_loss: self.allow_loss,
            command_tree: !self.command.is_empty() && !self.all_tasks,
            command: self.command,
            ..self.tracing.into_options(self.output, self.duration)
        })
    }
}

/// A duration: plain seconds (`60`, `0.5`) or with units (`90s`, `500ms`, `1m30s`); more than
/// zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => {
            Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is too long"))?
        }
        Ok(_) => return Err(format!("{s:?}: must be more than zero")),
        Err(_) => humantime::parse_duration(s.trim())
            .map_err(|e| format!("{s:?} is not a duration like 60, 90s, 500ms or 1m30s ({e})"))?,
    };
    if d.is_zero() {
        return Err(format!("{s:?}: must be more than zero"));
    }
    Ok(d)
}

/// `--buffer-size` for clap: the message of [`parse_buffer_size`].
fn buffer_size(s: &str) -> Result<u32, String> {
    parse_buffer_size(s).map_err(|e| format!("{e:#}"))
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum ReportFormat {
    /// Aligned tables for a terminal.
    Text,
    /// The versioned contract of docs/report-json.md.
    Json,
    /// One self-contained page: the timeline and every table.
    Html,
    /// The timeline alone, as an SVG image.
    Svg,
    /// Chrome trace-event JSON: open it in chrome://tracing (or Perfetto).
    TraceEvent,
    /// Perfetto's native protobuf trace: open it in ui.perfetto.dev or trace_processor.
    Perfetto,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Trace file written by `serial-trace record`.
    pub file: PathBuf,
    /// Output format; JSON follows the versioned contract in docs/report-json.md. Default:
    /// from the extension of --output (`.json`, `.html`, `.svg`, `.trace-event.json` or
    /// `.perfetto.json` for trace-event, `.pftrace` or `.perfetto-trace` for perfetto,
    /// anything else text), else text.
    #[arg(short, long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Colour in text output (`auto`: on a terminal, unless the NO_COLOR environment variable
    /// is set and not empty).
    #[arg(long, value_enum, default_value = "auto")]
    pub color: Color,
    /// Also write every task-visible timer wakeup to this file, one JSON object per line
    /// (tid, clock, requested_ns, timer_late_ns, wake_late_ns, frozen).
    #[arg(long, value_name = "FILE")]
    pub wakeups: Option<PathBuf>,
    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Report the serial sections of this port only (repeatable): its counters, drops,
    /// readers and timeline; the timer and suspend sections stay whole. `--check drops=0`
    /// then gates on this port's drops.
    #[arg(long = "port", value_name = "NAME")]
    pub ports: Vec<String>,
    /// Cut the lists (drops, lost wakeups, suspend cycles, timelines) to what came this long
    /// after the recording began (`30s`, `1m`); totals and percentiles stay the whole
    /// recording's.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// As --since, up to this long after the recording began.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub until: Option<Duration>,
    /// Cut the lists to suspend cycle N (as numbered in the report), from its start to 1 s
    /// after its end; the lost wakeups blamed on it stay.
    #[arg(long, value_name = "N")]
    pub cycle: Option<u32>,
    /// A rule the recording must pass, for CI gating (repeatable); exit code 1 names each
    /// rule that failed. Rules: `METRIC OP VALUE`, OP one of `<`, `<=`, `=`, `>`, `>=`:
    /// `drops=0`, `drops<=N`, `drops[ttyS1]=0` (one port's; also `hw_overruns[PORT]`,
    /// `disagreements[PORT]`), `hw_overruns=0`, `lost_events=0`, `lost_wakeups=0`,
    /// `timer_p99<DURATION` (e.g. `timer_p99<2ms`), `timer_max<DURATION`,
    /// `wakeup_p99<DURATION`, `wakeup_late<DURATION` (the latest task wakeup),
    /// `resume<DURATION` (every cycle's resume), `silent_probes=0`, `probes_alive`,
    /// `counters_agree`,
    /// `no_risky_settings` (no risk in the report's summary), or one risk rule by name:
    /// `blocking_read_no_timeout=0`, `no_flow_control_fast_line=0`, `jiffies_clocksource=0`,
    /// `no_high_res_timers=0`, `mem_sleep_not_deep=0`, `port_cannot_wake=0`.
    #[arg(long = "check", value_name = "RULE")]
    pub checks: Vec<String>,
}

impl ReportArgs {
    /// The format asked, else the one --output's extension names, else text.
    pub fn format(&self) -> ReportFormat {
        if let Some(f) = self.format {
            return f;
        }
        let name = self
            .output
            .as_deref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.ends_with(".trace-event.json") || name.ends_with(".perfetto.json") {
            ReportFormat::TraceEvent
        } else if name.ends_with(".pftrace") || name.ends_with(".perfetto-trace") {
            ReportFormat::Perfetto
        } else if name.ends_with(".json") {
            ReportFormat::Json
        } else if name.ends_with(".html") || name.ends_with(".htm") {
            ReportFormat::Html
        } else if name.ends_with(".svg") {
            ReportFormat::Svg
        } else {
            ReportFormat::Text
        }
    }

    /// Whether text output is coloured: `auto` on a terminal unless NO_COLOR is set (see
    /// no-color.org), never into a file.
    pub fn colored(&self, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        self.output.is_none()
            && match self.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
            }
    }
}

#[derive(Args)]
pub struct DumpArgs {
    /// Trace file written by `serial-trace record`.
    pub file: PathBuf,
    /// One JSON object per event (named fields) instead of text lines. Every line is an
    /// event (see --meta); a trace that lost events, is damaged or was cut short says so on
    /// stderr.
    #[arg(long)]
    pub jsonl: bool,
    /// With --jsonl, also print what the trace says of itself as lines: `{"kind":"loss",…}`
    /// when the lost count grew (where in time), `{"kind":"end",…}` (a clean stop's totals),
    /// and `damage`, `cut`, `corrupt`, `skipped_frame` lines.
    #[arg(long, requires = "jsonl")]
    pub meta: bool,
    /// With --jsonl, also print the trace's symbol records as
    /// `{"kind":"symbol","addr":…,"name":…}` lines: the kernel names of the timer callbacks
    /// whose addresses the events' `function` fields hold (the text output always shows them).
    #[arg(long, requires = "jsonl")]
    pub symbols: bool,
    /// Print only events of these kinds (comma-separated or repeated), named as in the
    /// output: `hrtimer_start`, `suspend_resume`, `flip_buffer_insert`, …
    #[arg(
        long = "kind",
        value_name = "KIND",
        value_delimiter = ',',
        value_parser = clap::builder::PossibleValuesParser::new(
            serial_trace_common::KINDS.iter().map(|k| k.name)
        )
    )]
    pub kinds: Vec<String>,
}

impl DumpArgs {
    /// The ids of `--kind`'s kinds (empty: every kind).
    pub fn kind_ids(&self) -> Vec<u16> {
        serial_trace_common::KINDS
            .iter()
            .filter(|k| self.kinds.iter().any(|n| n == k.name))
            .map(|k| k.id)
            .collect()
    }
}

#[derive(Args)]
pub struct ProbeArgs {
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 1, naming what is missing and why, unless this kernel has each of these
    /// (comma-separated), for scripts: "can this kernel hook the serial path?" is
    /// `probe --require serial`. Needs root.
    #[arg(long, value_delimiter = ',', value_enum, value_name = "CAPABILITIES")]
    pub require: Vec<crate::probe::Capability>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_take_seconds_or_units() {
        let d = |s: &str| parse_duration(s);
        assert_eq!(d("60"), Ok(Duration::from_secs(60)));
        assert_eq!(d("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(d("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(d("1m30s"), Ok(Duration::from_secs(90)));
        for bad in ["-1", "0", "0s", "nan", "inf", "ten", "5 parsecs", ""] {
            assert!(d(bad).is_err(), "{bad:?} accepted");
        }
        for bad in ["--duration=-1", "--duration=0", "-dfoo"] {
            assert!(Cli::try_parse_from(["serial-trace", "record", bad]).is_err());
        }
    }

    fn report(args: &[&str]) -> ReportArgs {
        let mut v = vec!["serial-trace", "report", "x.trace"];
        v.extend(args);
        match Cli::try_parse_from(v).unwrap().command {
            Command::Report(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_report_format_follows_the_output_name_unless_asked() {
        let f = |args: &[&str]| report(args).format();
        assert_eq!(f(&[]), ReportFormat::Text);
        assert_eq!(f(&["-o", "r.html"]), ReportFormat::Html);
        assert_eq!(f(&["-o", "out/R.HTM"]), ReportFormat::Html);
        assert_eq!(f(&["-o", "r.json"]), ReportFormat::Json);
        assert_eq!(f(&["-o", "r.svg"]), ReportFormat::Svg);
        assert_eq!(f(&["-o", "r.trace-event.json"]), ReportFormat::TraceEvent);
        assert_eq!(f(&["-o", "r.perfetto.json"]), ReportFormat::TraceEvent);
        assert_eq!(f(&["-o", "r.pftrace"]), ReportFormat::Perfetto);
        assert_eq!(f(&["-o", "R.Perfetto-Trace"]), ReportFormat::Perfetto);
        assert_eq!(f(&["-o", "r.txt"]), ReportFormat::Text);
        assert_eq!(f(&["-o", "r.html", "-f", "json"]), ReportFormat::Json);
    }

    #[test]
    fn no_color_turns_auto_colour_off() {
        use std::ffi::OsStr;
        let auto = report(&[]);
        assert!(auto.colored(true, None));
        assert!(auto.colored(true, Some(OsStr::new(""))));
        assert!(!auto.colored(true, Some(OsStr::new("1"))));
        assert!(!auto.colored(false, None));
        assert!(report(&["--color", "always"]).colored(false, Some(OsStr::new("1"))));
        assert!(!report(&["--color", "always", "-o", "r.txt"]).colored(true, None));
    }

    #[test]
    fn sizes_and_families_are_checked_while_parsing() {
        let record = |args: &[&str]| {
            let mut v = vec!["serial-trace", "record"];
            v.extend(args);
            Cli::try_parse_from(v).map(|c| match c.command {
                Command::Record(a) => (a.tracing.buffer_size, a.tracing.hooks),
                _ => unreachable!(),
            })
        };
        assert_eq!(record(&[]).unwrap().0, 4 << 20);
        assert_eq!(record(&["--buffer-size", "64M"]).unwrap().0, 64 << 20);
        assert!(record(&["--buffer-size", "3M"]).is_err());
        assert_eq!(
            record(&["--hooks", "timer,power"]).unwrap().1,
            ["timer", "power"]
        );
        let err = record(&["--hooks", "timer,bogus"]).unwrap_err().to_string();
        assert!(err.contains("bogus") && err.contains("alarmtimer"), "{err}");
    }
}
