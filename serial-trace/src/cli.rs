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
    /// Analyse a trace file: events, loss, timer lateness, suspend cycles.
    Report(ReportArgs),
    /// Show every hook the tool knows and how (or why not) it attaches on this kernel.
    Probe(ProbeArgs),
    /// Print every event of a trace as one text line (for grep and for checking the analysis).
    Dump(DumpArgs),
}

#[derive(Args)]
pub struct RecordArgs {
    /// Trace file to write (created with mode 0600; never overwritten without --force).
    #[arg(short, long, default_value = "serial-trace.trace")]
    pub output: PathBuf,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Stop after this many seconds (default: until Ctrl-C or SIGTERM). Counted on
    /// CLOCK_MONOTONIC, i.e. time awake: time suspended does not count, so `-d 60` across a
    /// 10 s suspend ends 70 s of wall-clock time after it began.
    #[arg(short, long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Ring buffer size in bytes, a power of two (suffixes K, M, G). Raise it if events are lost.
    #[arg(long, value_name = "BYTES", default_value = "4M")]
    pub buffer_size: String,
    /// Record timers armed by this process (tgid) only; system-wide power/RTC events are kept.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Record timers armed by tasks with this comm only (exact match, at most 15 bytes).
    #[arg(long)]
    pub comm: Option<String>,
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
    /// Hook families to record, comma-separated: timer, alarmtimer, power, rtc, sched, serial
    /// (default: all). Fewer families cost less; note that `sched` and `timer` are needed for
    /// task wakeups, and `power` for suspend cycles.
    #[arg(long, value_delimiter = ',', value_name = "FAMILIES")]
    pub hooks: Vec<String>,
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

impl RecordArgs {
    pub fn into_options(self) -> Result<RecordOptions> {
        let duration = match self.duration {
            Some(d) if !(d > 0.0 && d.is_finite()) => {
                anyhow::bail!("--duration must be a positive number of seconds, got {d}")
            }
            Some(d) => Some(Duration::from_secs_f64(d)),
            None => None,
        };
        Ok(RecordOptions {
            output: self.output,
            force: self.force,
            duration,
            buffer_size: parse_buffer_size(&self.buffer_size)?,
            pid: self.pid,
            comm: self.comm,
            quiet: self.quiet,
            ports: self.ports,
            serial_method: self.serial_method.into(),
            tracepoint_method: self.tracepoint_method.into(),
            poll_hz: self.poll_hz,
            hooks: crate::hooks::parse_families(&self.hooks)?,
        })
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    /// Aligned tables for a terminal.
    Text,
    /// The versioned contract of docs/report-json.md.
    Json,
    /// One self-contained page: the timeline and every table.
    Html,
    /// The timeline alone, as an SVG image.
    Svg,
    /// Chrome trace-event JSON: open it in Perfetto (ui.perfetto.dev) or chrome://tracing.
    TraceEvent,
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
    /// Output format; JSON follows the versioned contract in docs/report-json.md.
    #[arg(short, long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Colour in text output.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: Color,
    /// Also write every task-visible timer wakeup to this file, one JSON object per line
    /// (tid, clock, requested_ns, timer_late_ns, wake_late_ns, frozen).
    #[arg(long, value_name = "FILE")]
    pub wakeups: Option<PathBuf>,
    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// A rule the recording must pass, for CI gating (repeatable); exit code 1 names each
    /// rule that failed. Rules: `drops=0`, `drops<=N`, `lost_events=0`, `lost_wakeups=0`,
    /// `timer_p99<DURATION` (e.g. `timer_p99<2ms`), `wakeup_p99<DURATION`,
    /// `resume<DURATION` (every cycle's resume), `probes_alive`, `counters_agree`.
    #[arg(long = "check", value_name = "RULE")]
    pub checks: Vec<String>,
}

#[derive(Args)]
pub struct DumpArgs {
    /// Trace file written by `serial-trace record`.
    pub file: PathBuf,
    /// One JSON object per event (named fields) instead of text lines.
    #[arg(long)]
    pub jsonl: bool,
    /// With --jsonl, also print the trace's symbol records as
    /// `{"kind":"symbol","addr":…,"name":…}` lines: the kernel names of the timer callbacks
    /// whose addresses the events' `function` fields hold (the text output always shows them).
    #[arg(long, requires = "jsonl")]
    pub symbols: bool,
}

#[derive(Args)]
pub struct ProbeArgs {
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
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
    fn rejects_bad_duration() {
        let cli = Cli::try_parse_from(["serial-trace", "record", "--duration=-1"]).unwrap();
        let Command::Record(a) = cli.command else {
            panic!()
        };
        assert!(a.into_options().is_err());
    }
}
