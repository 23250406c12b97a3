//! `serial-trace record`: load, attach, stream the ring buffer into a trace file until Ctrl-C,
//! SIGTERM or `--duration`, then detach and write the trailer.

mod boot_clock;
mod kprobe_witness;
mod loader;
mod output;
mod port_timing;
mod ring_reader;
mod serial_attach;
mod state_maps;
mod status;
mod syncer;
mod task_names;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::BufWriter;
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray};
use serial_trace_common::{
    CLOCKS_ELIDE_BOOT, CLOCKS_MAP, DROP_RUNS_MAP, DropRun, EVENTS_MAP, Event, HOOK_CALLS_MAP,
    LOST_MAP, TASK_NAMES_ENABLED, TASK_NAMES_MAP, WINDOW_MAP, WINDOW_START, WINDOW_STOP, arg, kind,
    wire,
};

pub use loader::{LoadOptions, Loaded, load_and_attach};
pub use output::{parse_buffer_size, parse_size};

use crate::hooks::{POLL_HOOK, SerialMethod};
use crate::kernel::kallsyms::SymbolNames;
use crate::kernel::privileges;
use crate::kernel::prog_stats::prog_stats;
use crate::kernel::sysinfo;
use crate::ports::{self, CounterPoller, PollSample, PortInfo};
use crate::trace::{
    Header, LossRecord, PortSetup, PortSnapshot, ProbeRecord, RecorderMemory, Symbol, TraceWriter,
    Trailer, trim_nul,
};
use ring_reader::RingReader;
pub(crate) use status::say;
use status::{Counters, Status};
use syncer::Syncer;

/// Everything `record` was asked to do.
pub struct RecordOptions {
    pub output: PathBuf,
    pub force: bool,
    pub duration: Option<Duration>,
    pub buffer_size: u32,
    pub pid: Vec<u32>,
    pub comm: Vec<String>,
    pub quiet: bool,
    /// `--port` names; empty = every port.
    pub ports: Vec<String>,
    pub serial_method: SerialMethod,
    pub tracepoint_method: crate::hooks::TracepointMethod,
    /// Counter-polling rate when no function hook works.
    pub poll_hz: u32,
    /// `--hooks` families; empty = all.
    pub hooks: Vec<String>,
    /// Exit 0 even when events were lost.
    pub allow_loss: bool,
    /// `record -- CMD ARGS`: run this once recording, stop when it exits.
    pub command: Vec<std::ffi::OsString>,
    /// Timers of CMD's process tree only (not `--all-tasks`).
    pub command_tree: bool,
    /// `--port-timing-events`: one event per port interrupt and line discipline run.
    pub port_timing_events: bool,
}

/// Text 0 of an event the recorder writes itself: the port's name (cut to fit, NUL-ended).
fn set_port_name(ev: &mut Event, name: &str) {
    let n = name.len().min(ev.text[0].len() - 1);
    ev.text[0][..n].copy_from_slice(&name.as_bytes()[..n]);
}

/// `record -- CMD` ended with CMD's failure: `record` exits with CMD's status (128 + the
/// signal's number when a signal ended it), as `perf record -- CMD` and `time CMD` do.
#[derive(Debug, thiserror::Error)]
#[error("{command} exited with status {code}")]
pub struct CommandFailed {
    pub command: String,
    pub code: u8,
}

/// How often the batch is written out and the status refreshed.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Poll timeout: bounds the latency of noticing a stop request.
const POLL_MS: i32 = 100;
/// Where ring records that did not decode are counted as lost (with the per-program misses).
const MALFORMED_RECORDS: &str = "(malformed ring records)";

/// Events taken from the ring buffer between two looks at the stop flag and the checkpoint
/// clock: at the ~1 µs an event costs to write, a few tens of ms.
const DRAIN_BUDGET: usize = 32_768;

pub fn run(opts: RecordOptions) -> Result<()> {
    run_with(opts, None)
}

/// Where the drained events go: `record`'s file, or `monitor`'s window.
enum Output {
    File(Box<TraceWriter<BufWriter<File>>>),
    Window(Box<crate::monitor::Monitor>),
}

impl Output {
    fn push(&mut self, ev: &Event) -> std::io::Result<()> {
        match self {
            Output::File(w) => w.push(ev),
            Output::Window(m) => m.push(ev),
        }
    }

    fn events_written(&self) -> u64 {
        match self {
            Output::File(w) => w.events_written(),
            Output::Window(m) => m.events_written(),
        }
    }
}

/// `record`, or with `monitor` set, `serial-trace monitor`: the same start-up, hooks and
/// draining, into a window instead of a file.
pub(crate) fn run_with(
    opts: RecordOptions,
    monitor: Option<crate::monitor::Prepared>,
) -> Result<()> {
    let what = if monitor.is_some() {
        "serial-trace monitor"
    } else {
        "serial-trace record"
    };
    privileges::require_tracing(what)?;
    // Unknown port names are an error before any file is created.
    let chosen = ports::resolve_ports(&opts.ports)?;
    let port_names: Vec<String> = chosen.iter().map(|p| p.name.clone()).collect();
    let counted = counted_ports(chosen);
    // A command that cannot run fails before anything touches the kernel or the output.
    let command = match opts.command.first() {
        Some(program) => Some(executable(program)?),
        None => None,
    };
    // Fail on an unwritable output before anything touches the kernel.
    let file = match &monitor {
        Some(m) => {
            m.prepare_dir()?;
            None
        }
        None => {
            let (file, kept) = output::create(&opts.output, opts.force)?;
            if let Some(old) = kept {
                say(format_args!(
                    "kept the previous {} as {}\n",
                    opts.output.display(),
                    old.display()
                ));
            }
            Some(file)
        }
    };
    if let Some(w) = privileges::raise_memlock() {
        say(format_args!("warning: {w}\n"));
    }
    let stop = stop_on_signals()?;

    // The counters before any hook: every drop the serial hooks record comes after them.
    let ports_start = ports::snapshot(&counted);
    let mut loaded = load_and_attach(&LoadOptions {
        buffer_size: opts.buffer_size,
        pid: opts.pid.clone(),
        comm: opts.comm.clone(),
        ports: port_names.clone(),
        serial_method: if crate::hooks::family_selected(&opts.hooks, "serial") {
            opts.serial_method
        } else {
            SerialMethod::Off
        },
        tracepoint_method: opts.tracepoint_method,
        hooks: opts.hooks.clone(),
        tree: opts.command_tree,
        port_irqs: ports::port_irqs(&counted),
        port_timing_events: opts.port_timing_events,
    })?;
    let poller = start_poller(&mut loaded, &counted, &opts);
    let ports_attached = ports::snapshot(&counted);
    if !opts.quiet {
        print_attach_table(&loaded.probes);
    }
    let attached = loaded.probes.iter().filter(|p| p.attached).count();
    if attached == 0 {
        bail!(
            "no hook could be attached on this kernel; see the table above (`serial-trace probe`)"
        );
    }

    // after the hooks: a later change of a port's settings is then a `serial:termios` event
    let port_setups = ports::port_setups(&counted);
    let header = header(
        &loaded,
        &opts,
        ports_start,
        ports_attached,
        port_names,
        port_setups,
    );
    // With the suspend/resume phases seen, the hot programs may leave the boot clock out
    // (`CLOCKS_MAP`): set before the window opens, so no event of the recording misses it.
    if loaded
        .probes
        .iter()
        .any(|p| p.attached && p.kind == Some(kind::SUSPEND_RESUME))
    {
        let mut clocks: Array<&mut MapData, u64> =
            Array::try_from(loaded.object().map_mut(CLOCKS_MAP).context("CLOCKS map")?)?;
        clocks
            .set(CLOCKS_ELIDE_BOOT, 1, 0)
            .context("allowing the boot clock to be left out")?;
    }
    // Every program is attached: from the header's start on, all of them record. Opened
    // before the header is written, so a workload started once the file appears is recorded
    // from its first event.
    // With renames counted, the hot programs may leave a task's comm out of its events
    if loaded.task_renames_hooked {
        let mut names: Array<&mut MapData, u64> = Array::try_from(
            loaded
                .object()
                .map_mut(TASK_NAMES_MAP)
                .context("TASK_NAMES map")?,
        )?;
        names
            .set(TASK_NAMES_ENABLED, 1, 0)
            .context("allowing comm to be left out")?;
    }
    let mut window: Array<&mut MapData, u64> =
        Array::try_from(loaded.object().map_mut(WINDOW_MAP).context("WINDOW map")?)?;
    window
        .set(WINDOW_START, header.start.mono_ns, 0)
        .context("opening the recording window")?;
    let out = match (file, monitor) {
        (Some(file), _) => Output::File(Box::new(
            TraceWriter::new(BufWriter::with_capacity(1 << 20, file), &header)
                .with_context(|| format!("writing the header to {}", opts.output.display()))?,
        )),
        (None, Some(m)) => {
            // the window's port counters are those /proc has: it reads them every second
            let ports = header
                .ports_attached
                .iter()
                .filter(|p| p.source == "proc")
                .cloned()
                .collect();
            Output::Window(Box::new(crate::monitor::Monitor::new(m, &header, ports)?))
        }
        (None, None) => unreachable!("record always has a file"),
    };
    let boot_clock = boot_clock::BootClock::new(header.start.mono_ns, header.start.boot_ns);
    let mut session = Session::new(loaded, out, &opts, stop, boot_clock)?;
    session.poller = poller;
    session.counted = counted;
    // every hook records and the header is on disk: the command's first event is recorded
    if let Some(program) = command {
        let child = std::process::Command::new(&program)
            .args(&opts.command[1..])
            .spawn()
            .with_context(|| format!("cannot run {}", program.display()));
        match child {
            Ok(c) => session.command = Some(c),
            // the recording is open: end it cleanly (a trailer) rather than drop it
            Err(e) => {
                session.stop.store(true, Ordering::Relaxed);
                let _ = session.run();
                return Err(e);
            }
        }
    }
    session.run()
}

/// `child`'s status once it ends within half a second, else `None`.
fn wait_a_moment(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + Duration::from_millis(500);
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            _ => return None,
        }
    }
}

/// The file `program` runs: itself when it names a path, else the first executable of that
/// name on PATH, as a shell finds it.
fn executable(program: &std::ffi::OsStr) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let named = Path::new(program);
    if program.as_encoded_bytes().contains(&b'/') {
        anyhow::ensure!(
            runnable(named),
            "cannot run {}: not an executable file",
            named.display()
        );
        return Ok(named.to_path_buf());
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| runnable(p))
        .with_context(|| format!("cannot run {}: not found on PATH", named.display()))
}

/// Ports whose kernel counters are stored at start and end (and polled if need be): the
/// chosen ones, else every port with a UART behind it.
fn counted_ports(chosen: Vec<PortInfo>) -> Vec<PortInfo> {
    if !chosen.is_empty() {
        return chosen;
    }
    ports::list_ports()
        .into_iter()
        .filter(|p| p.uart.is_some())
        .collect()
}

/// The first SIGINT, SIGTERM or SIGHUP (the terminal went away) sets the returned flag: a
/// clean stop. A second one exits at once with status 130: the file then holds every
/// checkpoint (at most the last second missing) and reads without a trailer.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))
            .context("installing signal handler")?;
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing signal handler")?;
    }
    Ok(stop)
}

/// The trace's header: the machine, the options, what attached, and the ports' counters
/// before any hook and once every hook is attached.
fn header(
    loaded: &Loaded,
    opts: &RecordOptions,
    ports_start: Vec<PortSnapshot>,
    ports_attached: Vec<PortSnapshot>,
    port_names: Vec<String>,
    port_setups: Vec<PortSetup>,
) -> Header {
    Header {
        tool: format!("serial-trace {}", env!("CARGO_PKG_VERSION")),
        kernel_release: sysinfo::kernel_release(),
        kernel_version: sysinfo::kernel_version(),
        machine: sysinfo::machine(),
        hostname: sysinfo::hostname(),
        command_line: std::env::args().collect(),
        start: sysinfo::clock_anchor(),
        cpus: sysinfo::cpus(),
        buffer_size: u64::from(opts.buffer_size),
        filter_pid: opts.pid.first().copied(),
        filter_comm: opts.comm.first().cloned(),
        filter_pids: opts.pid.clone(),
        filter_comms: opts.comm.clone(),
        filter_command_tree: opts.command_tree,
        system: Some(crate::kernel::system_setup::system_setup()),
        port_setups,
        probes: loaded.probes.clone(),
        ports_start,
        ports_attached,
        port_filter: port_names,
        // unresolved slots are 0
        wake_functions: loaded
            .wake
            .wake_functions
            .iter()
            .copied()
            .filter(|&a| a != 0)
            .collect(),
        task_callbacks: loaded
            .wake
            .task_callbacks
            .iter()
            .copied()
            .filter(|&a| a != 0)
            .collect(),
        drop_runs_before: Vec::new(),
    }
}

/// Starts counter polling when the flip-buffer hook could not attach (`--serial-method auto`)
/// or when asked to (`--serial-method poll`), and adds its row to the attach table.
fn start_poller(
    loaded: &mut Loaded,
    ports: &[PortInfo],
    opts: &RecordOptions,
) -> Option<CounterPoller> {
    let wanted = match opts.serial_method {
        SerialMethod::Poll => true,
        SerialMethod::Auto => !loaded.drops_hooked,
        _ => false,
    };
    if !wanted {
        return None;
    }
    let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
    let (poller, attached, reason) = if ports.is_empty() {
        (
            None,
            false,
            "no serial port with a UART to poll".to_string(),
        )
    } else {
        match CounterPoller::start(ports.to_vec(), opts.poll_hz) {
            Ok(p) => (
                Some(p),
                true,
                format!(
                    "kernel counters of {} sampled at {} Hz (coarse: a drop is known to within one interval)",
                    names.join(", "),
                    opts.poll_hz
                ),
            ),
            Err(e) => (None, false, format!("{e:#}")),
        }
    };
    loaded.probes.push(ProbeRecord {
        name: POLL_HOOK.into(),
        kind: Some(kind::SERIAL_COUNTERS),
        attached,
        method: Some("poll".into()),
        reason: Some(reason),
        fields: vec![],
        function: None,
    });
    poller
}

fn print_attach_table(probes: &[ProbeRecord]) {
    say(format_args!("hooks:\n"));
    for p in probes {
        let state = if p.attached { "attached" } else { "-" };
        say(format_args!(
            "  {:<40} {:<9} {:<11} {}\n",
            p.name,
            state,
            p.method.as_deref().unwrap_or("-"),
            p.reason.as_deref().unwrap_or("")
        ));
    }
}

struct Session<'o> {
    /// `record -- CMD`: the command, started once recording.
    command: Option<std::process::Child>,
    loaded: Option<Loaded>,
    ring: RingReader,
    lost_map: PerCpuArray<MapData, u64>,
    out: Output,
    opts: &'o RecordOptions,
    stop: Arc<AtomicBool>,
    kallsyms: SymbolNames,
    seen_functions: HashSet<u64>,
    new_symbols: Vec<Symbol>,
    /// Fills in the boot clock the hot programs leave out.
    boot_clock: boot_clock::BootClock,
    /// Fills in the `comm` the hot programs leave out.
    task_names: task_names::TaskNames,
    counters: Counters,
    poller: Option<CounterPoller>,
    /// Ports whose kernel counters go into the trailer.
    counted: Vec<PortInfo>,
    /// Recursion misses per program as last read (kept when the programs are detached).
    misses: BTreeMap<String, u64>,
    misses_counted: bool,
    /// This kernel counts the skips of every program type we attach (decided once, at start).
    kernel_counts_skips: bool,
    /// Drop runs still open in the kernel, emitted once the programs are detached.
    drop_runs: Option<BpfHashMap<MapData, u64, DropRun>>,
    /// Per port, (first drop, bytes asked for) of the open run last written as a checkpoint.
    drop_runs_written: HashMap<u64, (u64, u64)>,
    /// The recording window of the tracepoint programs (`WINDOW_MAP`).
    window: Array<MapData, u64>,
    /// Resident memory once attached, before the loop (for the trailer).
    rss_start_kb: Option<u64>,
    /// Own memory apart from the ring's, sampled at start, every checkpoint and the end.
    memory: Option<RecorderMemory>,
    /// Checkpoint syncs, off this thread so a slow disk does not stop the draining.
    syncer: Option<Syncer>,
    /// What the serial hooks lost: their own call counters, the kernel's (witnesses).
    skips: HookSkips,
    /// The programs' LRU state maps, counted once they are detached.
    state_maps: Option<state_maps::StateMaps>,
    /// The port timing the kernel aggregates, read at each checkpoint.
    port_timing: port_timing::PortTimingMaps,
}

/// The parts that count the serial hooks' lost calls (`kprobe_witness`), with the values read
/// when the witnesses were registered (both count from different moments).
struct HookSkips {
    counters: Option<PerCpuArray<MapData, u64>>,
    witnesses: Option<kprobe_witness::Witnesses>,
    entries: Vec<(&'static str, String)>,
    base_kernel: BTreeMap<String, kprobe_witness::KernelCalls>,
    base_counted: Vec<u64>,
}

impl HookSkips {
    fn new(loaded: &mut Loaded, quiet: bool) -> Self {
        let counters = loaded
            .object()
            .take_map(HOOK_CALLS_MAP)
            .and_then(|m| PerCpuArray::try_from(m).ok());
        let entries = loaded.kprobe_entries.clone();
        let functions: Vec<String> = entries.iter().map(|(_, f)| f.clone()).collect();
        let witnesses = if functions.is_empty() {
            None
        } else {
            let registered = crate::kernel::tracefs::find()
                .ok_or_else(|| "tracefs is not mounted".to_string())
                .and_then(|root| kprobe_witness::Witnesses::register(&root, &functions));
            match registered {
                Ok(w) => {
                    if !quiet {
                        say(format_args!(
                            "kprobe hooks: the calls they skip are counted by {} witness kprobe events in tracefs (serial_trace/w{}_*)\n",
                            functions.len(),
                            std::process::id()
                        ));
                    }
                    Some(w)
                }
                Err(e) => {
                    say(format_args!(
                        "warning: the calls the kprobe hooks skip cannot be counted: {e}\n"
                    ));
                    None
                }
            }
        };
        let mut skips = Self {
            counters,
            witnesses,
            entries,
            base_kernel: BTreeMap::new(),
            base_counted: Vec::new(),
        };
        skips.base_counted = skips.counted();
        skips.base_kernel = skips.kernel();
        skips
    }

    /// Each `HOOK_CALLS` slot summed over the CPUs.
    fn counted(&self) -> Vec<u64> {
        let Some(map) = &self.counters else {
            return Vec::new();
        };
        (0..serial_trace_common::hook_calls::SLOTS)
            .map(|slot| map.get(&slot, 0).map_or(0, |v| v.iter().sum()))
            .collect()
    }

    fn kernel(&self) -> BTreeMap<String, kprobe_witness::KernelCalls> {
        self.witnesses
            .as_ref()
            .and_then(|w| w.read().ok())
            .unwrap_or_default()
    }

    /// Calls lost per serial program since the witnesses were registered.
    fn lost(&self, loaded: &[String]) -> BTreeMap<String, u64> {
        if self.counters.is_none() {
            return BTreeMap::new();
        }
        // The kernel's calls first, the programs' after: a call made in between is then
        // counted by the programs and not yet by the kernel, so while calls go on the loss is
        // at most under-counted (caught up at the next reading), never over: a monitor's
        // `events_lost_total` is a counter, and the trailer's count at the stop is exact.
        let kernel = self
            .kernel()
            .into_iter()
            .map(|(f, c)| {
                let b = self.base_kernel.get(&f).copied().unwrap_or_default();
                let c = kprobe_witness::KernelCalls {
                    hits: c.hits.saturating_sub(b.hits),
                    missed: c.missed.saturating_sub(b.missed),
                };
                (f, c)
            })
            .collect();
        let counted: Vec<u64> = self
            .counted()
            .iter()
            .enumerate()
            .map(|(i, n)| n.saturating_sub(self.base_counted.get(i).copied().unwrap_or(0)))
            .collect();
        kprobe_witness::lost_calls(&self.entries, &kernel, &counted, loaded)
    }
}

impl<'o> Session<'o> {
    fn new(
        mut loaded: Loaded,
        out: Output,
        opts: &'o RecordOptions,
        stop: Arc<AtomicBool>,
        boot_clock: boot_clock::BootClock,
    ) -> Result<Self> {
        // mapped (8 MB resident at once: the kernel maps every page, the data twice) only once
        // the object is freed below, so the two never add up
        let events = loaded.object().take_map(EVENTS_MAP).context("EVENTS map")?;
        let lost_map =
            PerCpuArray::try_from(loaded.object().take_map(LOST_MAP).context("LOST map")?)?;
        let window = Array::try_from(loaded.object().take_map(WINDOW_MAP).context("WINDOW map")?)?;
        let kallsyms = std::mem::take(&mut loaded.kallsyms);
        let drop_runs = loaded
            .object()
            .take_map(DROP_RUNS_MAP)
            .and_then(|m| BpfHashMap::try_from(m).ok());
        let syncer = match &out {
            Output::File(writer) => {
                Some(Syncer::new(writer.get_ref().get_ref()).with_context(|| {
                    format!("starting the sync thread for {}", opts.output.display())
                })?)
            }
            Output::Window(_) => None,
        };
        let skips = HookSkips::new(&mut loaded, opts.quiet);
        // before the state maps: LDISC_AGGREGATES is read here, its refusals counted there
        let port_timing = port_timing::PortTimingMaps::take(loaded.object());
        let state_maps = Some(state_maps::StateMaps::take(loaded.object()));
        // every map is out of the object: the rest of it (the programs' instructions) goes
        loaded.release_object();
        let aya::maps::Map::RingBuf(events) = events else {
            bail!("the EVENTS map is not a ring buffer");
        };
        // set-up's peak (BTF, kallsyms, the programs), before the ring adds its pages
        let setup_peak_kb = sysinfo::max_rss_kb();
        let ring = RingReader::new(events)?;
        let memory = setup_peak_kb
            .zip(sysinfo::Resident::now())
            .map(|(peak, r)| RecorderMemory {
                setup_peak_kb: peak,
                own_start_kb: r.own_kb(),
                own_max_kb: r.own_kb(),
                own_end_kb: r.own_kb(),
                ring_kb: r.bpf_maps_kb,
            });
        Ok(Self {
            loaded: Some(loaded),
            ring,
            lost_map,
            out,
            opts,
            stop,
            kallsyms,
            seen_functions: HashSet::new(),
            new_symbols: Vec::new(),
            boot_clock,
            task_names: task_names::TaskNames::default(),
            counters: Counters::default(),
            poller: None,
            counted: Vec::new(),
            misses: BTreeMap::new(),
            misses_counted: false,
            kernel_counts_skips: crate::kernel::prog_stats::all_skips_counted(
                &sysinfo::kernel_release(),
            ),
            drop_runs,
            drop_runs_written: HashMap::new(),
            window,
            rss_start_kb: sysinfo::rss_kb(),
            memory,
            command: None,
            syncer,
            skips,
            state_maps,
            port_timing,
        })
    }

    /// Closes the recording window at `mono_ns` (it was opened before the header).
    fn close_window(&mut self, mono_ns: u64) -> Result<()> {
        self.window
            .set(WINDOW_STOP, mono_ns, 0)
            .context("closing the recording window")
    }

    fn run(mut self) -> Result<()> {
        let started = Instant::now();
        let mut status = Status::new();
        let mut next_flush = started + FLUSH_EVERY;
        let fd = self.ring.as_raw_fd();
        let mut stopped_by = "signal";
        let mut command_status: Option<std::process::ExitStatus> = None;
        let mut failure: Option<anyhow::Error> = None;
        let mut backlog = false;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            // `Instant` is CLOCK_MONOTONIC: time suspended does not count (`--help` says so)
            if let Some(d) = self.opts.duration {
                if started.elapsed() >= d {
                    stopped_by = "duration";
                    break;
                }
            }
            if let Some(child) = self.command.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    command_status = Some(status);
                    stopped_by = "command";
                    break;
                }
            }
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd. EINTR (a signal) just ends this wait. Events left
            // over from a bounded drain: no wait.
            unsafe { libc::poll(&mut pfd, 1, if backlog { 0 } else { POLL_MS }) };
            match self.drain(Some(DRAIN_BUDGET)) {
                Ok(more) => backlog = more,
                Err(e) => {
                    failure = Some(e);
                    stopped_by = "error";
                    break;
                }
            }
            if Instant::now() >= next_flush {
                next_flush += FLUSH_EVERY;
                if let Err(e) = self.checkpoint() {
                    failure = Some(e);
                    stopped_by = "error";
                    break;
                }
                // the command owns the terminal: no status line over its output
                if !self.opts.quiet && self.command.is_none() {
                    status.tick(self.counters);
                }
            }
        }
        // Close the window first: programs detach one by one, tens of ms apart, and each
        // would otherwise stop at a different moment. Then detach, then drain.
        let end = sysinfo::clock_anchor();
        if let Err(e) = self.close_window(end.mono_ns) {
            say(format_args!(
                "warning: {e:#}; the hooks stop one by one as they detach\n"
            ));
        }
        // the witnesses stop counting first: calls made after the hooks' counters are read
        // would otherwise count as skipped
        if let Some(w) = self.skips.witnesses.as_mut() {
            w.freeze();
        }
        self.read_misses();
        drop(self.loaded.take());
        if let Some(p) = self.poller.take() {
            let rounds = p.samples_taken();
            let last = p.stop();
            if !self.opts.quiet {
                say(format_args!(
                    "polled the port counters {rounds} times ({:.0} Hz)\n",
                    rounds as f64 / started.elapsed().as_secs_f64().max(1e-3)
                ));
            }
            if failure.is_none() {
                if let Err(e) = self.write_samples(last) {
                    failure = Some(e);
                    stopped_by = "error";
                }
            }
        }
        let tail = self
            .drain(None)
            .and_then(|_| self.flush_drop_runs())
            .and_then(|_| self.write_termios_at_stop(&end))
            .and_then(|_| self.checkpoint());
        if failure.is_none() {
            if let Err(e) = tail {
                failure = Some(e);
                stopped_by = "error";
            }
        }
        if let Some(syncer) = self.syncer.take() {
            let out = self.opts.output.display().to_string();
            if let Err(e) = syncer.finish() {
                if failure.is_none() {
                    failure = Some(anyhow::Error::new(e).context(format!("syncing {out}")));
                    stopped_by = "error";
                }
            }
        }
        if !self.opts.quiet {
            status.finish();
        }
        let (lost_total, lost_per_cpu) = self.read_lost();
        let state_losses = self
            .state_maps
            .take()
            .map(|m| m.losses())
            .unwrap_or_default();
        let trailer = Trailer {
            end,
            lost_total,
            lost_per_cpu,
            stopped_by: stopped_by.into(),
            error: failure.as_ref().map(|e| format!("{e:#}")),
            state_losses,
            ..self.end_state(true)
        };
        let writer = match self.out {
            Output::File(w) => w,
            Output::Window(m) => {
                let failed_saves = m.finish(trailer);
                if let Some(e) = failure {
                    return Err(e.context("monitoring stopped early"));
                }
                if failed_saves > 0 {
                    anyhow::bail!("{failed_saves} window(s) could not be saved (see above)");
                }
                return Ok(());
            }
        };
        let events = writer.events_written();
        let flushed = writer.events_flushed();
        let finished = writer
            .finish(&trailer)
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .and_then(|f| f.sync_all());
        let path = self.opts.output.display();
        if let Some(e) = failure {
            return Err(e.context(format!(
                "recording stopped early; the {flushed} events recorded before the failure are in {path} (read it with: serial-trace report {path})"
            )));
        }
        finished.with_context(|| format!("finishing {path}"))?;
        say(format_args!(
            "recorded {events} events, {lost_total} lost, to {path}; read it with: serial-trace report {path}\n"
        ));
        if let Some(child) = self.command.as_mut() {
            let shown = self.opts.command[0].to_string_lossy().into_owned();
            let status = match command_status {
                Some(s) => Some(s),
                // stopped by a signal or --duration first. A Ctrl-C reached the command too
                // (one process group): give it a moment to end before saying it goes on.
                None => match wait_a_moment(child) {
                    Some(s) => Some(s),
                    None => {
                        say(format_args!(
                            "{shown} (pid {}) is still running; it was recorded until now\n",
                            child.id()
                        ));
                        None
                    }
                },
            };
            if let Some(s) = status.filter(|s| !s.success()) {
                use std::os::unix::process::ExitStatusExt;
                let code = s
                    .code()
                    .unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
                    .clamp(1, 255) as u8;
                return Err(CommandFailed {
                    command: shown,
                    code,
                }
                .into());
            }
        }
        if lost_total > 0 && !self.opts.allow_loss {
            return Err(crate::check::Unmet(format!(
                "{lost_total} events lost: the kernel's ring was full (the trace is readable and \
                 `serial-trace report` shows when); raise --buffer-size, or pass --allow-loss \
                 to exit 0 anyway"
            ))
            .into());
        }
        Ok(())
    }

    /// Turns counter samples of the polling fallback into `serial:counters` events.
    fn write_samples(&mut self, samples: Vec<PollSample>) -> Result<()> {
        use serial_trace_common::arg::serial_counters as a;
        for s in samples {
            let mut ev = Event::ZERO;
            ev.kind = kind::SERIAL_COUNTERS;
            ev.mono_ns = s.mono_ns;
            ev.boot_ns = s.boot_ns;
            // not from any CPU's eBPF program: the recorder's own reading
            ev.cpu = u16::MAX;
            ev.args[a::RX] = s.delta.rx;
            ev.args[a::TX] = s.delta.tx;
            ev.args[a::FRAME] = s.delta.frame;
            ev.args[a::PARITY] = s.delta.parity;
            ev.args[a::BRK] = s.delta.brk;
            ev.args[a::OVERRUN] = s.delta.overrun;
            ev.args[a::BUF_OVERRUN] = s.delta.buf_overrun;
            ev.args[a::INTERVAL_NS] = s.interval_ns;
            set_port_name(&mut ev, &s.port);
            self.counters.events += 1;
            self.out
                .push(&ev)
                .with_context(|| format!("writing {}", self.opts.output.display()))?;
        }
        Ok(())
    }

    /// The line settings of every traced port somebody holds open now, as `serial:termios`
    /// events stamped with the stop: a change made while recording shows even where the
    /// kernel hook could not attach (then without who made it).
    fn write_termios_at_stop(&mut self, end: &crate::trace::ClockAnchor) -> Result<()> {
        use serial_trace_common::arg::serial_termios as a;
        let names: Vec<String> = self.counted.iter().map(|p| p.name.clone()).collect();
        for (name, t) in ports::held_termios(&names) {
            let mut ev = Event::ZERO;
            ev.kind = kind::SERIAL_TERMIOS;
            ev.mono_ns = end.mono_ns;
            ev.boot_ns = end.boot_ns;
            ev.cpu = u16::MAX;
            t.to_slots(&mut ev.args);
            ev.args[a::SOURCE] = a::SOURCE_AT_STOP;
            set_port_name(&mut ev, &name);
            self.counters.events += 1;
            self.out
                .push(&ev)
                .with_context(|| format!("writing {}", self.opts.output.display()))?;
        }
        Ok(())
    }

    /// Writes the drop runs the kernel still holds open (called after detaching, so nothing
    /// adds to them any more) as `flip_drop` events.
    fn flush_drop_runs(&mut self) -> Result<()> {
        let Some(map) = self.drop_runs.take() else {
            return Ok(());
        };
        for item in map.iter() {
            let Ok((port, run)) = item else { continue };
            if run.wanted == 0 || run.requested == 0 {
                continue;
            }
            let mut ev = Event::ZERO;
            run.fill_event(port, &mut ev);
            self.counters.events += 1;
            self.out
                .push(&ev)
                .with_context(|| format!("writing {}", self.opts.output.display()))?;
        }
        Ok(())
    }

    /// Writes every drop run still open in the kernel that grew since the last checkpoint, as a
    /// `flip_drop_open` event: the run's own `flip_drop` comes only with a later drop on its
    /// port or at the clean stop, so without this a crash long after a flood would lose the
    /// flood's last run (measured: 642,418 of 643,066 dropped bytes in the trace after
    /// `kill -9`).
    fn checkpoint_drop_runs(&mut self) -> Result<()> {
        let Some(map) = self.drop_runs.as_ref() else {
            return Ok(());
        };
        let mut open = Vec::new();
        for item in map.iter() {
            let Ok((port, run)) = item else { continue };
            if run.wanted == 0 || run.requested == 0 {
                continue;
            }
            let key = (run.first_mono_ns, run.requested);
            if self.drop_runs_written.get(&port) != Some(&key) {
                self.drop_runs_written.insert(port, key);
                open.push((port, run));
            }
        }
        for (port, run) in open {
            let mut ev = Event::ZERO;
            run.fill_event(port, &mut ev);
            ev.kind = kind::SERIAL_DROP_OPEN;
            self.counters.events += 1;
            self.out
                .push(&ev)
                .with_context(|| format!("writing {}", self.opts.output.display()))?;
        }
        Ok(())
    }

    /// Reads every attached program's recursion-miss counter (events the kernel skipped).
    fn read_misses(&mut self) {
        let Some(loaded) = self.loaded.as_ref() else {
            return;
        };
        for (name, fd) in &loaded.program_fds {
            if let Ok(st) = prog_stats(fd.as_fd()) {
                self.misses_counted = st.misses_supported && self.kernel_counts_skips;
                if st.misses_supported {
                    self.misses.insert(name.clone(), st.recursion_misses);
                }
            }
        }
        // the serial hooks' own accounting replaces the kernel's per-program count where it
        // has one: it also covers the skips that count is blind to (see `kprobe_witness`)
        let lost = self.skips.lost(&loaded.programs);
        self.misses.extend(lost);
    }

    /// Moves the events waiting in the ring buffer into the writer: all of them, or (`budget`)
    /// at most that many, so that under a sustained flood the loop still checks the stop flag
    /// and checkpoints. Returns whether events were left.
    fn drain(&mut self, budget: Option<usize>) -> Result<bool> {
        if let Some(p) = &self.poller {
            let samples = p.drain();
            self.write_samples(samples)?;
        }
        let mut taken = 0usize;
        loop {
            if budget.is_some_and(|b| taken >= b) {
                self.ring.release();
                return Ok(true);
            }
            taken += 1;
            let (mut ev, comm_omitted): (Event, bool) = {
                let Some(item) = self.ring.next() else { break };
                match wire::decode(item) {
                    Ok(ev) => (ev, wire::omits_comm(item)),
                    Err(_) => {
                        // Never expected (the programs write whole records); counted as
                        // lost with the programs' misses, never skipped silently.
                        *self.misses.entry(MALFORMED_RECORDS.into()).or_default() += 1;
                        continue;
                    }
                }
            };
            self.boot_clock.complete(&mut ev);
            self.task_names.complete(&mut ev, comm_omitted);
            self.note(&ev);
            self.out
                .push(&ev)
                .with_context(|| format!("writing {}", self.opts.output.display()))?;
        }
        Ok(false)
    }

    /// Per-event bookkeeping: symbols of timer callbacks, suspend cycles for the status line.
    fn note(&mut self, ev: &Event) {
        self.counters.events += 1;
        let function = match ev.kind {
            kind::HRTIMER_START | kind::TIMER_START => ev.args[arg::hrtimer_start::FUNCTION],
            kind::HRTIMER_EXPIRE_ENTRY | kind::TIMER_EXPIRE_ENTRY => {
                ev.args[arg::hrtimer_expire_entry::FUNCTION]
            }
            kind::SUSPEND_RESUME => {
                if ev.args[arg::suspend_resume::START] != 0
                    && trim_nul(&ev.text[0]) == b"suspend_enter"
                {
                    self.counters.suspend_cycles += 1;
                }
                return;
            }
            _ => return,
        };
        if function != 0 && self.seen_functions.insert(function) {
            if let Some(name) = self.kallsyms.resolve(function) {
                self.new_symbols.push(Symbol {
                    addr: function,
                    name,
                });
            }
        }
    }

    fn read_lost(&self) -> (u64, Vec<u64>) {
        match self.lost_map.get(&0, 0) {
            Ok(values) => {
                let v: Vec<u64> = values.iter().copied().collect();
                (v.iter().sum(), v)
            }
            Err(_) => (0, Vec::new()),
        }
    }

    /// Writes symbols, loss and the pending batch, and pushes them to the disk.
    /// Takes the recorder's own memory now into account (its most, and at the `end` its
    /// last and the ring's); returns the figures so far.
    fn sample_memory(&mut self, end: bool) -> Option<RecorderMemory> {
        let m = self.memory.as_mut()?;
        if let Some(r) = sysinfo::Resident::now() {
            m.own_max_kb = m.own_max_kb.max(r.own_kb());
            // the latest: a monitor's metrics show it every second; the trailer's at the end
            m.own_end_kb = r.own_kb();
            if end {
                m.ring_kb = r.bpf_maps_kb;
            }
        }
        Some(*m)
    }

    /// The trailer as it would be if recording stopped now (the clock, loss, the ports'
    /// counters, memory): `record`'s at its stop (`end`), `monitor`'s at every checkpoint,
    /// where it ends each segment and a saved window. A monitor opens no port for it.
    fn end_state(&mut self, end: bool) -> Trailer {
        let (lost_total, lost_per_cpu) = self.read_lost();
        let ports_end = match self.out {
            Output::File(_) => ports::snapshot(&self.counted),
            Output::Window(_) => ports::snapshot_without_opening(&self.counted),
        };
        Trailer {
            end: sysinfo::clock_anchor(),
            events_written: self.out.events_written(),
            lost_total,
            lost_per_cpu,
            stopped_by: String::new(),
            error: None,
            ports_end,
            recursion_misses: self.misses.clone(),
            misses_counted: self.misses_counted,
            pm_wakeup_irq: sysinfo::pm_wakeup_irq(),
            recorder_max_rss_kb: sysinfo::max_rss_kb(),
            recorder_rss_end_kb: sysinfo::rss_kb(),
            recorder_rss_start_kb: self.rss_start_kb,
            recorder_memory: self.sample_memory(end),
            state_losses: BTreeMap::new(),
            saved_by: None,
        }
    }

    fn checkpoint(&mut self) -> Result<()> {
        self.sample_memory(false);
        let out = self.opts.output.display().to_string();
        self.checkpoint_drop_runs()?;
        let symbols = std::mem::take(&mut self.new_symbols);
        let (lost_total, lost_per_cpu) = self.read_lost();
        self.read_misses();
        let missed: u64 = self.misses.values().sum();
        self.counters.lost = lost_total + missed;
        // Written at every checkpoint (a few dozen bytes a second), so a loss is placed between
        // two checkpoints a second apart, not since the last time the count changed.
        let loss = LossRecord {
            at: sysinfo::clock_anchor(),
            lost_total,
            lost_per_cpu,
            recursion_misses: self.misses.clone(),
            misses_counted: self.misses_counted,
            port_timing: self.port_timing.read_if_changed(),
        };
        if matches!(self.out, Output::Window(_)) {
            let now = Trailer {
                end: loss.at,
                ..self.end_state(false)
            };
            if let Output::Window(m) = &mut self.out {
                m.add_symbols(&symbols);
                m.seal(loss, now)
                    .context("sealing the monitor's window segment")?;
                m.tick();
                self.counters.bytes = m.window_bytes();
            }
            return Ok(());
        }
        let Output::File(writer) = &mut self.out else {
            unreachable!("a window returned above");
        };
        writer
            .write_symbols(&symbols)
            .and_then(|_| writer.write_loss(&loss))
            .and_then(|_| writer.flush())
            .with_context(|| format!("writing {out}"))?;
        if let Some(syncer) = &mut self.syncer {
            syncer.request().with_context(|| format!("syncing {out}"))?;
        }
        self.counters.bytes = writer.bytes_written();
        Ok(())
    }
}
