//! The trace file format, version 3 (see `docs/trace-format.md`). Pure: no kernel access.
//!
//! ```text
//! file  := magic:"SRLTRACE" version:u16le reserved:u16le frame*
//! frame := sync:"\xA7ST\x5A" len:u32le type:u8 crc32:u32le payload[len]
//!          crc32 over len, type and payload (versions 1–2: no sync, crc32 over type and payload)
//! ```
//! The first frame is the JSON [`Header`]; then EVENTS, SYMBOLS and LOSS frames in any order;
//! a clean stop ends with a JSON [`Trailer`] frame.

mod counters;
mod events;
mod port_setup;
mod port_timing;
mod reader;
mod setup;
mod varint;
mod writer;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use counters::{Counters, PortSnapshot};

pub use events::trim_nul;
pub use port_setup::{Parity, PortHolder, PortSetup, Termios, flags as termios_flags};
pub use port_timing::{Buckets, IrqTotals, LdiscTotals, PortTimingTotals};
pub use reader::{Frame, OwnedFrame, ReadEnd, TraceReader};
pub use setup::{SystemSetup, UnstableClocksource, sysfs_choice};
pub use writer::{TraceWriter, encode_frame, file_start, loss_frame, trailer_frame};

#[cfg(test)]
pub(crate) use events::tests::sample_event;

// The header's `wake_functions` and `task_callbacks` hold these functions' addresses (0 where
// the kernel has none), in this order.

/// Callbacks that wake the task that armed the timer: sleeps (`nanosleep`, `poll`/`epoll`
/// timeouts, futex waits) and timerfd reads.
pub const WAKE_CALLBACKS: &[&str] = &["hrtimer_wakeup", "timerfd_tmrproc"];

/// Callbacks of the timers a task arms for itself, in its own context: its sleeps and timerfds,
/// POSIX timers, `setitimer`, alarm timers (their hrtimer) and `schedule_timeout` (timer
/// wheel). Any other callback is a kernel timer, often re-armed in interrupt context on behalf
/// of whichever task was interrupted (`Filter::ARM_BY_CALLBACK`).
pub const TASK_CALLBACKS: &[&str] = &[
    "hrtimer_wakeup",
    "timerfd_tmrproc",
    "posix_timer_fn",
    "it_real_fn",
    "alarmtimer_fired",
    "process_timeout",
];

pub const MAGIC: [u8; 8] = *b"SRLTRACE";
/// 4: event frames code argument slots as differences (`EVENTS_DELTA_LZ4`); 3: every frame
/// starts with [`SYNC`] and its checksum covers its length, so a reader skips a damaged frame
/// and goes on; 2: event frames are LZ4-compressed (`EVENTS_LZ4`). Versions 1 to 3 still
/// read.
pub const VERSION: u16 = 4;
/// Largest payload a reader accepts; the writer stays far below it.
pub const MAX_FRAME_LEN: u32 = 64 << 20;
/// The marker in front of every frame (version 3): after a damaged frame the reader looks for
/// the next one, and a frame found there must pass its checksum to count.
pub const SYNC: [u8; 4] = [0xA7, b'S', b'T', 0x5A];
/// Size of `sync + len + type + crc32` in front of each payload (version 3).
pub const FRAME_HEAD_LEN: usize = 13;
/// Size of `len + type + crc32` in front of each payload (versions 1 and 2).
pub const FRAME_HEAD_LEN_V2: usize = 9;

/// Frame type ids.
pub mod frame_type {
    pub const HEADER: u8 = 1;
    pub const EVENTS: u8 = 2;
    pub const SYMBOLS: u8 = 3;
    pub const LOSS: u8 = 4;
    pub const TRAILER: u8 = 5;
    /// An `EVENTS` payload as one LZ4 block: `uncompressed_len:u32le block` (version 2).
    pub const EVENTS_LZ4: u8 = 6;
    /// `EVENTS_LZ4` with argument slots delta-coded per kind (version 4).
    pub const EVENTS_DELTA_LZ4: u8 = 7;
}

/// CLOCK_MONOTONIC, CLOCK_BOOTTIME and CLOCK_REALTIME read at one moment (see
/// `kernel::sysinfo::clock_anchor`); maps event stamps to
/// wall time and measures time spent suspended between two anchors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockAnchor {
    pub mono_ns: u64,
    pub boot_ns: u64,
    pub realtime_ns: u64,
}

/// One tracepoint field as found in the kernel's tracefs `format` file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldOffset {
    pub name: String,
    pub offset: u16,
    pub size: u8,
    pub signed: bool,
}

/// What happened to one hook at the start of the recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    /// `category:name` for tracepoints, the hook name for the serial path.
    pub name: String,
    /// Event kind id when the hook produces events.
    pub kind: Option<u16>,
    pub attached: bool,
    /// `tracepoint`, `fentry`, `kprobe`, `poll`, … (what it used or would use).
    pub method: Option<String>,
    /// Why it is not attached (or a note on how it is attached).
    pub reason: Option<String>,
    /// Field offsets read from tracefs for this hook.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldOffset>,
    /// The kernel function a function hook attached to (serial data path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
}

/// The self-describing start of every trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// `serial-trace <version>`.
    pub tool: String,
    pub kernel_release: String,
    pub kernel_version: String,
    pub machine: String,
    pub hostname: String,
    pub command_line: Vec<String>,
    pub start: ClockAnchor,
    pub cpus: u32,
    pub buffer_size: u64,
    #[serde(default)]
    pub filter_pid: Option<u32>,
    #[serde(default)]
    pub filter_comm: Option<String>,
    /// Every `--pid` and `--comm` (the two above are their first, for older readers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter_pids: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter_comms: Vec<String>,
    /// `record -- CMD`: timers recorded for CMD's process tree only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub filter_command_tree: bool,
    /// The system settings the recording ran under (absent in traces before they were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemSetup>,
    /// How each traced port was configured when recording began (absent in older traces).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_setups: Vec<PortSetup>,
    pub probes: Vec<ProbeRecord>,
    /// Addresses of the timer callbacks that wake the task that armed the timer.
    #[serde(default)]
    pub wake_functions: Vec<u64>,
    /// Addresses of the timer callbacks a task arms for itself (sleeps, timerfd, POSIX and
    /// interval timers, …); other timers are the kernel's, whichever task was current.
    #[serde(default)]
    pub task_callbacks: Vec<u64>,
    /// The kernel's own counters of every traced port when recording began, read before any
    /// hook was attached: every drop the trace holds happened after them.
    #[serde(default)]
    pub ports_start: Vec<PortSnapshot>,
    /// The same counters read again once every hook was attached: what changed since
    /// `ports_start` happened while the hooks were being attached, partly before the serial
    /// hooks recorded. Absent in older traces.
    #[serde(default)]
    pub ports_attached: Vec<PortSnapshot>,
    /// `record --port` names (empty: every port).
    #[serde(default)]
    pub port_filter: Vec<String>,
    /// Drop runs already under way when this trace begins (a window `serial-trace monitor`
    /// saved): the bytes each had dropped before, which its events in the trace still count
    /// (a run's events carry its whole count). Empty for `record`'s traces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_runs_before: Vec<RunBefore>,
}

/// A drop run under way when a trace begins, and the bytes it had dropped by then.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunBefore {
    /// The `tty_port` address, as the run's events carry it.
    pub port: u64,
    /// The run's first drop (CLOCK_MONOTONIC), its identity with `port`.
    pub first_mono_ns: u64,
    pub bytes: u64,
}

/// One resolved kernel text symbol (timer callbacks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    pub addr: u64,
    pub name: String,
}

/// Ring-buffer loss as known at `at`: failed reserves summed over CPUs since the start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossRecord {
    pub at: ClockAnchor,
    pub lost_total: u64,
    pub lost_per_cpu: Vec<u64>,
    /// Events the kernel did not hand to a program because another BPF program was running on
    /// the same CPU (`bpf_prog_info.recursion_misses`, Linux 5.12+), per program, since start.
    #[serde(default)]
    pub recursion_misses: BTreeMap<String, u64>,
    /// False when this kernel does not count recursion misses (before 5.12).
    #[serde(default)]
    pub misses_counted: bool,
    /// The port timing the kernel aggregated since the start (written when it changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_timing: Option<PortTimingTotals>,
}

/// What one of the programs' LRU state maps lost (see `record/state_maps.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateLoss {
    /// Entries the kernel evicted to make room (the map was full).
    pub evicted: u64,
    /// Inserts the kernel refused: that state was never kept.
    pub refused: u64,
}

/// What the recorder held resident, in KiB: its own memory (every mapping but the BPF maps')
/// apart from the ring buffer's, which the kernel maps whole and its data twice, so that a
/// 4 MiB ring is 8 MiB of the resident set (`kernel::sysinfo::Resident`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecorderMemory {
    /// The peak while loading and attaching, before the ring was mapped (`ru_maxrss` then).
    pub setup_peak_kb: u64,
    /// Own memory once attached.
    pub own_start_kb: u64,
    /// The most own memory seen at a checkpoint (every second) or at the end.
    pub own_max_kb: u64,
    pub own_end_kb: u64,
    /// The ring buffer's mapping at the end.
    pub ring_kb: u64,
}

/// Written at a clean stop.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    pub end: ClockAnchor,
    pub events_written: u64,
    pub lost_total: u64,
    pub lost_per_cpu: Vec<u64>,
    /// `duration`, `signal`, or `error`.
    pub stopped_by: String,
    #[serde(default)]
    pub error: Option<String>,
    /// The kernel's own counters of every traced port when recording ended.
    #[serde(default)]
    pub ports_end: Vec<PortSnapshot>,
    #[serde(default)]
    pub recursion_misses: BTreeMap<String, u64>,
    #[serde(default)]
    pub misses_counted: bool,
    /// `/sys/power/pm_wakeup_irq` when recording ended (the IRQ that woke the last suspend),
    /// where the kernel had one.
    #[serde(default)]
    pub pm_wakeup_irq: Option<u32>,
    /// The recorder's peak resident memory (`getrusage` `ru_maxrss`), in KiB: a recorder's
    /// memory must not grow with the length of the recording.
    #[serde(default)]
    pub recorder_max_rss_kb: Option<u64>,
    /// Its resident memory when it stopped (`VmRSS`), in KiB: the peak is reached while
    /// loading (kernel BTF); this is what a long recording holds.
    #[serde(default)]
    pub recorder_rss_end_kb: Option<u64>,
    /// Its resident memory once attached, before recording began, in KiB.
    #[serde(default)]
    pub recorder_rss_start_kb: Option<u64>,
    /// The same split into the recorder's own memory and the ring's (`None` where
    /// `/proc/self/smaps` was unreadable, and in traces of earlier versions).
    #[serde(default)]
    pub recorder_memory: Option<RecorderMemory>,
    /// Per LRU state map of the programs, entries lost (only maps that lost any).
    #[serde(default)]
    pub state_losses: BTreeMap<String, StateLoss>,
    /// `serial-trace monitor` saved this trace: the window it kept when a trigger fired (or
    /// on demand). Absent in `record`'s traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_by: Option<Box<SavedBy>>,
}

/// Why `serial-trace monitor` saved a window: the rule that fired and when.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedBy {
    /// The `--trigger` rule as given, or `SIGUSR1` for a save on demand, or `stop` for a
    /// trigger whose post window was cut short by the monitor stopping.
    pub rule: String,
    /// When it fired (a save on demand: when the signal was seen).
    pub fired: ClockAnchor,
    /// The rule's metric in the window when it fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<u64>,
    /// How long it kept recording after the rule fired (`--post`; less when it stopped).
    #[serde(default)]
    pub post_ns: u64,
}

#[cfg(test)]
pub(crate) fn sample_header() -> Header {
    Header {
        tool: "serial-trace test".into(),
        kernel_release: "6.18.0-test".into(),
        kernel_version: "#1 SMP".into(),
        machine: "x86_64".into(),
        hostname: "box".into(),
        command_line: vec!["serial-trace".into(), "record".into()],
        start: ClockAnchor {
            mono_ns: 1,
            boot_ns: 2,
            realtime_ns: 3,
        },
        cpus: 2,
        buffer_size: 1 << 22,
        filter_pid: None,
        filter_comm: None,
        filter_pids: vec![],
        filter_comms: vec![],
        filter_command_tree: false,
        system: None,
        port_setups: Vec::new(),
        probes: vec![ProbeRecord {
            name: "timer:hrtimer_start".into(),
            kind: Some(1),
            attached: true,
            method: Some("tracepoint".into()),
            reason: None,
            fields: vec![FieldOffset {
                name: "hrtimer".into(),
                offset: 8,
                size: 8,
                signed: false,
            }],
            function: None,
        }],
        wake_functions: vec![0xf1],
        task_callbacks: vec![0xf1],
        drop_runs_before: vec![],
        ports_start: vec![],
        ports_attached: vec![],
        port_filter: vec![],
    }
}
