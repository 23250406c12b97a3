//! Writes a synthetic trace of N events for the report benchmark (`cargo xtask bench`): what a
//! long recording of a busy system looks like to `serial-trace report`.
//!
//! The mix: sleeping tasks arming and firing hrtimers (start, expiry entry and exit, the
//! switch-in of the woken task), a new short-lived task every 2,000 timers (so per-task state
//! is tested against an ever-growing task list), a serial port receiving 64-byte chunks and its
//! reader, a burst of flip-buffer drops every 100,000 chunks, and an S3 suspend cycle (2 s
//! asleep) in the middle of every million events. Deterministic: the same N gives the same file.
//!
//! Usage: `synthetic-trace --events N -o FILE`

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serial_trace::trace::{ClockAnchor, Header, ProbeRecord, Symbol, TraceWriter, Trailer};
use serial_trace_common::{Event, arg, kind, kind_info};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const HRTIMER_WAKEUP: u64 = 0xffff_ffff_8142_04b0;
const PORT: &[u8] = b"ttyS1";

struct Clock {
    mono: u64,
    /// CLOCK_BOOTTIME − CLOCK_MONOTONIC: grows by the time asleep at each suspend.
    asleep: u64,
}

impl Clock {
    fn event(&self, kind: u16, tid: u32, comm: &[u8], cpu: u16) -> Event {
        let mut e = Event::ZERO;
        e.kind = kind;
        e.mono_ns = self.mono;
        e.boot_ns = self.mono + self.asleep;
        e.pid_tgid = (u64::from(tid) << 32) | u64::from(tid);
        e.cpu = cpu;
        e.comm[..comm.len()].copy_from_slice(comm);
        e
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut events, mut out) = (None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => events = args.next().and_then(|v| v.parse::<u64>().ok()),
            "-o" => out = args.next().map(PathBuf::from),
            _ => bail!("usage: synthetic-trace --events N -o FILE"),
        }
    }
    let (Some(total), Some(out)) = (events, out) else {
        bail!("usage: synthetic-trace --events N -o FILE");
    };
    let file = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = TraceWriter::new(BufWriter::with_capacity(1 << 20, file), &header())?;
    let mut clock = Clock { mono: S, asleep: 0 };
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // xorshift64: deterministic jitter
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut timers, mut chunks, mut rx, mut dropped) = (0u64, 0u64, 0, 0);
    while w.events_written() < total {
        let written = w.events_written();
        if (written + 500_000) / 1_000_000 != (written + 500_008) / 1_000_000 {
            suspend_cycle(&mut w, &mut clock)?;
            continue;
        }
        // one sleeping task's timer: armed, fired 50–250 µs late, the task switched in
        let tid = 1000 + (timers % 64) as u32 + (timers / 2000) as u32 * 64;
        let comm = format!("worker-{}", tid % 97);
        let timer = 0xffff_c900_0000_0000 + u64::from(tid) * 0x100;
        let cpu = (timers % 2) as u16;
        let mut st = clock.event(kind::HRTIMER_START, tid, comm.as_bytes(), cpu);
        let deadline = clock.mono + MS;
        st.args[arg::hrtimer_start::HRTIMER] = timer;
        st.args[arg::hrtimer_start::FUNCTION] = HRTIMER_WAKEUP;
        st.args[arg::hrtimer_start::SOFTEXPIRES] = deadline;
        st.args[arg::hrtimer_start::EXPIRES] = deadline + 50_000;
        st.args[arg::hrtimer_start::CLOCKID_PLUS1] = 2;
        w.push(&st)?;
        clock.mono = deadline + 50_000 + next() % 200_000;
        let mut ex = clock.event(kind::HRTIMER_EXPIRE_ENTRY, 0, b"swapper/0", cpu);
        ex.args[arg::hrtimer_expire_entry::HRTIMER] = timer;
        ex.args[arg::hrtimer_expire_entry::NOW] = clock.mono;
        ex.args[arg::hrtimer_expire_entry::FUNCTION] = HRTIMER_WAKEUP;
        w.push(&ex)?;
        clock.mono += 2_000;
        let mut exit = clock.event(kind::HRTIMER_EXPIRE_EXIT, 0, b"swapper/0", cpu);
        exit.args[0] = timer;
        w.push(&exit)?;
        clock.mono += 10_000;
        let mut sw = clock.event(kind::SCHED_SWITCH, 0, b"swapper/0", cpu);
        sw.args[arg::sched_switch::NEXT_PID] = u64::from(tid);
        w.push(&sw)?;
        timers += 1;

        if timers % 4 == 0 {
            let burst = chunks % 100_000 < 50;
            let mut rc = clock.event(kind::SERIAL_RECEIVE, 0, b"swapper/1", 1);
            rc.args[arg::serial_receive::PORT] = 0xffff_8880_0a00_0000;
            rc.args[arg::serial_receive::OFFERED] = 64;
            rc.args[arg::serial_receive::ACCEPTED] = if burst { 0 } else { 64 };
            rc.args[arg::serial_receive::MEM_USED] = if burst { 65536 } else { 4096 };
            rc.args[arg::serial_receive::MEM_LIMIT] = 65536;
            rc.text[0][..PORT.len()].copy_from_slice(PORT);
            w.push(&rc)?;
            rx += 64;
            if burst {
                let mut d = clock.event(kind::SERIAL_FLIP_DROP, 0, b"swapper/1", 1);
                d.args[arg::serial_flip_drop::PORT] = 0xffff_8880_0a00_0000;
                d.args[arg::serial_flip_drop::REQUESTED] = 64;
                d.args[arg::serial_flip_drop::MEM_USED] = 65536;
                d.args[arg::serial_flip_drop::MEM_LIMIT] = 65536;
                d.args[arg::serial_flip_drop::FUNCTION] = 1;
                d.text[0][..PORT.len()].copy_from_slice(PORT);
                w.push(&d)?;
                dropped += 64;
            } else {
                let mut rd = clock.event(kind::SERIAL_READ, 900, b"reader", 1);
                rd.args[arg::serial_read::TTY] = 0xffff_8880_0b00_0000;
                rd.args[arg::serial_read::REQUESTED] = 4096;
                rd.args[arg::serial_read::RETURNED] = 64;
                rd.args[arg::serial_read::BLOCKED_NS] = 900_000;
                rd.args[arg::serial_read::START_MONO_NS] = clock.mono - 900_000;
                rd.text[0][..PORT.len()].copy_from_slice(PORT);
                w.push(&rd)?;
            }
            chunks += 1;
        }
        if w.events_written() % 500_000 < 8 {
            w.flush()?;
        }
    }
    w.write_symbols(&[Symbol {
        addr: HRTIMER_WAKEUP,
        name: "hrtimer_wakeup".into(),
    }])?;
    let trailer = Trailer {
        end: ClockAnchor {
            mono_ns: clock.mono,
            boot_ns: clock.mono + clock.asleep,
            realtime_ns: 0,
        },
        events_written: w.events_written(),
        stopped_by: "duration".into(),
        misses_counted: true,
        ..Trailer::default()
    };
    let written = w.events_written();
    w.finish(&trailer)?;
    println!(
        "{{\"events\":{written},\"timers\":{timers},\"rx_bytes\":{rx},\"dropped_bytes\":{dropped}}}"
    );
    Ok(())
}

/// An S3 cycle: suspend_enter, machine_suspend (2 s asleep: boottime moves on, monotonic
/// does not), resume.
fn suspend_cycle<W: std::io::Write>(w: &mut TraceWriter<W>, clock: &mut Clock) -> Result<()> {
    let mut sr = |clock: &Clock, action: &[u8], start: bool| -> Result<()> {
        let mut e = clock.event(kind::SUSPEND_RESUME, 1, b"sh", 0);
        e.args[arg::suspend_resume::VAL] = 3;
        e.args[arg::suspend_resume::START] = u64::from(start);
        e.text[0][..action.len()].copy_from_slice(action);
        w.push(&e)?;
        Ok(())
    };
    sr(clock, b"suspend_enter", true)?;
    clock.mono += 20 * MS;
    sr(clock, b"suspend_enter", false)?;
    sr(clock, b"machine_suspend", true)?;
    clock.asleep += 2 * S;
    clock.mono += MS;
    sr(clock, b"machine_suspend", false)?;
    clock.mono += 30 * MS;
    sr(clock, b"thaw_processes", true)?;
    clock.mono += 5 * MS;
    sr(clock, b"thaw_processes", false)?;
    Ok(())
}

fn header() -> Header {
    let probe = |id: u16| {
        let info = kind_info(id).expect("known kind");
        ProbeRecord {
            name: format!("{}:{}", info.category, info.name),
            kind: Some(id),
            attached: true,
            method: Some("tracepoint".into()),
            reason: None,
            fields: vec![],
            function: None,
        }
    };
    Header {
        tool: "synthetic-trace (serial-trace benchmark)".into(),
        kernel_release: "synthetic".into(),
        kernel_version: String::new(),
        machine: "x86_64".into(),
        hostname: "bench".into(),
        command_line: std::env::args().collect(),
        start: ClockAnchor {
            mono_ns: S,
            boot_ns: S,
            realtime_ns: 1_750_000_000 * S,
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
        probes: [
            kind::HRTIMER_START,
            kind::HRTIMER_EXPIRE_ENTRY,
            kind::HRTIMER_EXPIRE_EXIT,
            kind::SCHED_SWITCH,
            kind::SUSPEND_RESUME,
            kind::SERIAL_RECEIVE,
            kind::SERIAL_FLIP_DROP,
            kind::SERIAL_READ,
        ]
        .into_iter()
        .map(probe)
        .collect(),
        wake_functions: vec![HRTIMER_WAKEUP],
        task_callbacks: vec![HRTIMER_WAKEUP],
        drop_runs_before: vec![],
        ports_start: vec![],
        ports_attached: vec![],
        port_filter: vec![],
    }
}
