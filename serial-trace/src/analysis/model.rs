//! The report as a typed value: what every analysis produces and every renderer reads. The JSON
//! output is this value serialized (`docs/report-json.md`); nothing here formats text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

// Every type the model holds, so that a reader of the JSON (the VM checks) can name it.
pub use super::liveness::Liveness;
pub use super::port_settings::{Setting, SettingsChange};
pub use super::port_timing::{IrqTiming, LdiscTiming};
pub use super::risks::{Risk, RiskRule};
pub use super::serial::{DropCause, LostIn};
pub use super::serial::{DropWindow, KernelCounters, PortReport, ReaderReport};
pub use super::suspend::{
    CycleSerial, DeviceCallback, Phase, PlatformWake, SuspendCycle, WakeSource,
};
pub use super::suspend::{SleepState, WakeSourceKind};
pub use super::timeline::{PortSeries, Series, Timeline};
pub use super::timers::{
    Clock, Drift, GroupRow, LostWakeup, Percentiles, PhaseSplit, PhaseStats, SpanningClock,
    TimerSummary, WakeCause, WakeRecord, WakeupSummary,
};
pub use crate::trace::{Counters, Parity, PortHolder, PortSetup, Termios};

names! {
    /// How the trace file ended.
    #[derive(Default)]
    pub enum TraceEnd {
        /// Read to its end (with or without a trailer: see `stopped_by`).
        #[default]
        Clean = "clean",
        /// Cut short: the recorder was killed or the disk filled mid-frame.
        Truncated = "truncated",
        /// A damaged stretch at the end that could not be read past.
        Corrupt = "corrupt",
    }
}

/// Version of the JSON contract; bump on any incompatible change.
pub const SCHEMA: &str = "serial-trace.report/1";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub kernel: KernelInfo,
    /// The system's timer and power settings at the start of the recording (absent in traces
    /// recorded before they were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<crate::trace::SystemSetup>,
    /// Risky settings: system and port configurations under which bytes are lost or sleeps
    /// wake late, each with its evidence (absent when none was found).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risks: Vec<Risk>,
    pub trace: TraceInfo,
    /// From the start of the recording to its end (or last event), on CLOCK_BOOTTIME.
    pub duration_ns: u64,
    pub events: EventCounts,
    pub probes: Vec<ProbeRow>,
    pub timers: TimerSummary,
    /// Wakeups that came far later than asked, with their cause.
    pub lost_wakeups: Vec<LostWakeup>,
    pub suspend_cycles: Vec<SuspendCycle>,
    /// Serial ports: observed bytes and errors beside the kernel's own counters.
    pub ports: Vec<PortReport>,
    /// Windows of bytes the flip buffer refused, in time order.
    pub drops: Vec<DropWindow>,
    /// Tasks that read a port.
    pub readers: Vec<ReaderReport>,
    /// Bytes, drops, timer lateness and wakeups over time, for timelines.
    pub timeline: Timeline,
    /// Set when `report --port/--since/--until/--cycle` cut the lists down (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

/// What `report` kept of the recording: the lists (drops, lost wakeups, suspend cycles,
/// timelines, and the serial sections of the named ports) are cut to it; totals and
/// percentiles stay the whole recording's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    /// The window on CLOCK_BOOTTIME (absolute, as every `*_boot_ns`), when one was asked.
    pub from_boot_ns: Option<u64>,
    pub to_boot_ns: Option<u64>,
    /// `--cycle N`.
    pub cycle: Option<u32>,
    /// `--port` names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelInfo {
    pub release: String,
    pub version: String,
    pub machine: String,
    pub hostname: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceInfo {
    pub tool: String,
    pub end: TraceEnd,
    /// Bytes at the end that could not be read (cut or corrupt).
    pub unread_bytes: u64,
    /// Damaged stretches inside the file that were skipped (format 3: reading went on at the
    /// next good frame), and their bytes. What they held is missing from every number.
    pub damaged_regions: u64,
    pub damaged_bytes: u64,
    /// `duration`, `signal`, `error`, or `null` when the recorder never wrote its trailer.
    pub stopped_by: Option<String>,
    pub recorder_error: Option<String>,
    pub start_realtime_ns: u64,
    /// The recorder's peak resident memory in KiB (from the trailer).
    pub recorder_max_rss_kb: Option<u64>,
    /// Its resident memory when it stopped, in KiB (from the trailer).
    pub recorder_rss_end_kb: Option<u64>,
    /// Its resident memory once attached, in KiB (from the trailer).
    pub recorder_rss_start_kb: Option<u64>,
    /// Its own memory apart from the ring buffer's (from the trailer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder_memory: Option<crate::trace::RecorderMemory>,
    /// `serial-trace monitor` saved this window: the trigger rule (or `SIGUSR1`), when it
    /// fired and its value (from the trailer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_by: Option<crate::trace::SavedBy>,
    /// Frame types written by a newer serial-trace and skipped by this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_frame_types: Vec<u8>,
}

/// The sum of `counts`, stopping at `u64::MAX`: counts come from a trace file, and a damaged
/// one may hold any value (an overflow must not end the report).
pub fn total(counts: impl IntoIterator<Item = u64>) -> u64 {
    counts.into_iter().fold(0, u64::saturating_add)
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventCounts {
    pub total: u64,
    /// Events the kernel could not hand over (failed ring-buffer reserves).
    pub lost: u64,
    /// `true` when `lost` covers the whole recording (trailer present); otherwise it is the
    /// last count checkpointed before the trace was cut.
    pub lost_complete: bool,
    /// Events the kernel skipped because another BPF program was running on the same CPU
    /// (`recursion_misses`), per program. Never recorded, but counted: they are lost too.
    pub recursion_misses: BTreeMap<String, u64>,
    /// False when the kernel does not count recursion misses (before 5.12): then some events
    /// may be missing without any count.
    pub misses_counted: bool,
    /// When the loss happened, to checkpoint precision (about a second; longer while the
    /// recorder itself was frozen by a suspend).
    pub loss_windows: Vec<LossWindow>,
    /// Per LRU state map of the programs, entries the kernel evicted or refused (full map):
    /// not events, but state the analysis then lacks (`state_counts::MAPS` says which).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub state_losses: BTreeMap<String, crate::trace::StateLoss>,
    pub by_kind: BTreeMap<String, u64>,
}

impl EventCounts {
    /// Events lost in all: those the kernel could not hand over and those it skipped.
    pub fn all_lost(&self) -> u64 {
        self.lost.saturating_add(self.skipped())
    }

    /// Events the kernel skipped (`recursion_misses`), all programs.
    pub fn skipped(&self) -> u64 {
        total(self.recursion_misses.values().copied())
    }
}

/// Events lost between two loss checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LossWindow {
    pub from_boot_ns: u64,
    pub to_boot_ns: u64,
    pub lost: u64,
    /// The suspend cycle the window overlaps: the recorder is a user task and is frozen with
    /// the others, so a ring buffer too small for the freeze overflows there.
    pub suspend_cycle: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeRow {
    pub name: String,
    pub attached: bool,
    pub method: Option<String>,
    /// Kernel function of a function hook.
    pub function: Option<String>,
    pub reason: Option<String>,
}
