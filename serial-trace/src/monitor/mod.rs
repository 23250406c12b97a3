//! `serial-trace monitor`: `record`'s hooks and draining, into a bounded window in memory
//! (`window.rs`) instead of a file; triggers evaluated on the window off the draining thread
//! (`evaluate.rs`); a fired trigger's window saved as an ordinary trace after `--post`, the
//! directory kept within its limits and `--on-trigger` run (`saved.rs`).

mod drop_runs;
mod evaluate;
mod http;
mod metrics;
mod saved;
mod window;

use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use serial_trace_common::Event;

use crate::check::Rule;
use crate::record::{RecordOptions, say};
use crate::trace::{
    ClockAnchor, Header, LossRecord, PortSnapshot, SavedBy, Symbol, TraceWriter, Trailer,
};
use evaluate::{Evaluator, Stretch};
use window::{Counts, Window};

/// What `monitor` adds to `record`'s options.
pub struct MonitorOptions {
    pub output_dir: PathBuf,
    pub keep: Duration,
    pub memory: u64,
    pub triggers: Vec<Rule>,
    pub post: Duration,
    pub check_every: Duration,
    pub max_files: u32,
    pub max_disk: u64,
    pub on_trigger: Option<String>,
    /// `--metrics ADDR:PORT`.
    pub metrics: Option<std::net::SocketAddr>,
}

/// The options, and the metrics endpoint already listening (bound before anything is
/// attached, so a taken port fails early).
pub struct Prepared {
    opts: MonitorOptions,
    metrics: Option<metrics::Metrics>,
    /// Set by SIGUSR1, whose handler is installed first thing: its default action would end
    /// a monitor still loading.
    save_asked: Arc<AtomicBool>,
}

/// Room a saved window takes besides its segments: the header (probes, fields, ports),
/// symbols, a LOSS frame a second and the trailer.
const SAVE_OVERHEAD: u64 = 1 << 20;

pub fn run(record: RecordOptions, monitor: MonitorOptions) -> Result<()> {
    anyhow::ensure!(
        monitor.max_disk >= monitor.memory + SAVE_OVERHEAD,
        "--max-disk ({} bytes) must hold at least one whole window: --memory ({} bytes) and 1 MiB \
         for its header and counters",
        monitor.max_disk,
        monitor.memory
    );
    let save_asked = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&save_asked))
        .context("installing the SIGUSR1 handler")?;
    let metrics = match monitor.metrics {
        Some(addr) => Some(metrics::Metrics::serve(addr)?),
        None => None,
    };
    crate::record::run_with(
        record,
        Some(Prepared {
            opts: monitor,
            metrics,
            save_asked,
        }),
    )
}

impl Prepared {
    /// Makes the output directory and proves it writable, before anything touches the kernel.
    pub fn prepare_dir(&self) -> Result<()> {
        prepare_dir(&self.opts.output_dir)
    }
}

fn prepare_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the output directory {}", dir.display()))?;
    let probe = dir.join(format!(".serial-trace-monitor-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("cannot write in the output directory {}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

enum Arm {
    /// Evaluated on the segments from this one on.
    Armed { from_seq: u64 },
    /// Fired; saved once `save_at` comes.
    Fired {
        at: ClockAnchor,
        value: u64,
        seen: Instant,
        save_at: Instant,
    },
}

/// The window, the triggers and what was saved: `record`'s output when monitoring.
pub struct Monitor {
    opts: MonitorOptions,
    header: Header,
    writer: TraceWriter<Vec<u8>>,
    /// Events the writer had taken when the last segment was sealed.
    sealed_events: u64,
    window: Window,
    /// The counters and clock at the last checkpoint, as a trailer (a save's end).
    now: Trailer,
    arms: Vec<Arm>,
    evaluator: Option<Evaluator>,
    next_check: Instant,
    /// Set by SIGUSR1.
    save_asked: Arc<AtomicBool>,
    hooks: Vec<(Child, PathBuf)>,
    saved: u64,
    save_failures: u64,
    metrics: Option<metrics::Metrics>,
    /// The drop runs open, for the start of each segment.
    runs: drop_runs::DropRuns,
}

impl Monitor {
    /// `ports` are the counters once attached (those `/proc` has: the window reads no others).
    pub fn new(prepared: Prepared, header: &Header, ports: Vec<PortSnapshot>) -> Result<Self> {
        let Prepared {
            opts,
            mut metrics,
            save_asked,
        } = prepared;
        if let Some(m) = metrics.as_mut() {
            let mut ports: Vec<String> = header.port_filter.clone();
            ports.extend(header.ports_attached.iter().map(|p| p.name.clone()));
            ports.sort();
            ports.dedup();
            m.start_at(header.start.boot_ns, &ports);
        }
        let evaluator = if opts.triggers.is_empty() && metrics.is_none() {
            None
        } else {
            Some(Evaluator::start(opts.triggers.clone()).context("starting the trigger thread")?)
        };
        let start = Counts {
            at: header.start,
            ports,
            ..Default::default()
        };
        let window = Window::new(opts.keep.as_nanos() as u64, opts.memory, start);
        let arms = opts
            .triggers
            .iter()
            .map(|_| Arm::Armed { from_seq: 0 })
            .collect();
        let next_check = Instant::now() + opts.check_every;
        let rules: Vec<&str> = opts.triggers.iter().map(Rule::text).collect();
        let served = opts.metrics.map_or(String::new(), |a| {
            format!("; metrics at http://{a}/metrics")
        });
        say(format_args!(
            "monitor: watching (pid {}): the last {} awake in memory (at most {} bytes compressed); triggers: {}; windows saved to {} (SIGUSR1 saves one now){served}\n",
            std::process::id(),
            humantime::format_duration(opts.keep),
            opts.memory,
            if rules.is_empty() {
                "none".to_string()
            } else {
                rules.join(", ")
            },
            opts.output_dir.display()
        ));
        Ok(Self {
            header: header.clone(),
            writer: TraceWriter::frames_only(Vec::new()),
            sealed_events: 0,
            window,
            now: Trailer::default(),
            arms,
            evaluator,
            next_check,
            save_asked,
            hooks: Vec::new(),
            saved: 0,
            save_failures: 0,
            metrics,
            runs: drop_runs::DropRuns::default(),
            opts,
        })
    }

    pub fn push(&mut self, ev: &Event) -> std::io::Result<()> {
        if let Some(m) = self.metrics.as_mut() {
            m.event(ev);
        }
        if matches!(
            ev.kind,
            serial_trace_common::kind::SERIAL_DROP_OPEN
                | serial_trace_common::kind::SERIAL_FLIP_DROP
        ) {
            self.runs.event(ev);
        }
        self.writer.push(ev)
    }

    pub fn add_symbols(&mut self, symbols: &[Symbol]) {
        self.window.add_symbols(symbols);
    }

    pub fn events_written(&self) -> u64 {
        self.writer.events_written()
    }

    /// Compressed bytes the window holds.
    pub fn window_bytes(&self) -> u64 {
        self.window.bytes()
    }

    /// Closes the segment at a checkpoint: `loss` as `record` would write it, `now` the
    /// trailer `record` would write if it stopped here.
    pub fn seal(&mut self, loss: LossRecord, now: Trailer) -> std::io::Result<()> {
        self.writer.flush()?;
        let frames = std::mem::take(self.writer.get_mut());
        let events = self.writer.events_written() - self.sealed_events;
        self.sealed_events = self.writer.events_written();
        let end = Counts {
            at: now.end,
            lost_total: now.lost_total,
            lost_per_cpu: now.lost_per_cpu.clone(),
            recursion_misses: now.recursion_misses.clone(),
            ports: now.ports_end.clone(),
            open_runs: self.runs.open(),
        };
        self.window.seal(frames, events, loss, end);
        if let Some(m) = self.metrics.as_mut() {
            let lost = now.lost_total + now.recursion_misses.values().sum::<u64>();
            let own = now.recorder_memory.map(|m| m.own_end_kb);
            m.publish(lost, self.window.bytes(), own);
        }
        self.now = now;
        Ok(())
    }

    /// After each checkpoint: a save asked by SIGUSR1, the triggers' verdicts, the saves
    /// whose --post is over, the next evaluation, and the --on-trigger commands that ended.
    pub fn tick(&mut self) {
        if self.save_asked.swap(false, Ordering::Relaxed) {
            let by = SavedBy {
                rule: "SIGUSR1".into(),
                fired: self.now.end,
                value: None,
                post_ns: 0,
            };
            say(format_args!("monitor: SIGUSR1: saving the window\n"));
            self.save(by);
        }
        self.take_verdicts();
        let due: Vec<usize> = (0..self.arms.len())
            .filter(|&i| matches!(self.arms[i], Arm::Fired { save_at, .. } if Instant::now() >= save_at))
            .collect();
        for i in due {
            self.save_fired(i);
        }
        self.evaluate_if_due();
        self.reap_hooks(false);
    }

    fn take_verdicts(&mut self) {
        let Some(outcome) = self.evaluator.as_mut().and_then(Evaluator::poll) else {
            return;
        };
        if let (Some(m), Some((report, wakeups))) = (self.metrics.as_mut(), &outcome.whole) {
            m.absorb(report, wakeups);
        }
        if let Some(e) = outcome.error {
            say(format_args!(
                "monitor: warning: the window could not be analysed for the triggers: {e}\n"
            ));
        }
        for (i, value) in outcome.holding {
            if !matches!(self.arms[i], Arm::Armed { .. }) {
                continue;
            }
            let rule = &self.opts.triggers[i];
            if let Some(m) = &self.metrics {
                m.trigger_fired(rule.text());
            }
            say(format_args!(
                "monitor: trigger {} fired ({} is {value}); saving the window in {}\n",
                rule.text(),
                rule.metric_name(),
                humantime::format_duration(self.opts.post)
            ));
            let seen = Instant::now();
            self.arms[i] = Arm::Fired {
                at: self.now.end,
                value,
                seen,
                save_at: seen + self.opts.post,
            };
        }
    }

    fn evaluate_if_due(&mut self) {
        let Some(evaluator) = self.evaluator.as_ref() else {
            return;
        };
        if evaluator.busy() || Instant::now() < self.next_check {
            return;
        }
        self.next_check = Instant::now() + self.opts.check_every;
        // one stretch per distinct start: triggers never fired share the whole window, which
        // the metrics read too
        let whole = self.window.first_seq().unwrap_or(0);
        let mut starts: Vec<(u64, Vec<usize>)> = Vec::new();
        if self.metrics.is_some() {
            starts.push((whole, Vec::new()));
        }
        for (i, arm) in self.arms.iter().enumerate() {
            if let Arm::Armed { from_seq } = *arm {
                let from = from_seq.max(self.window.first_seq().unwrap_or(0));
                match starts.iter_mut().find(|(f, _)| *f == from) {
                    Some((_, t)) => t.push(i),
                    None => starts.push((from, vec![i])),
                }
            }
        }
        let mut job = Vec::new();
        for (from, triggers) in starts {
            if from >= self.window.next_seq() {
                continue; // nothing recorded since it was re-armed
            }
            match self.window.view(from, &self.header, &self.now) {
                Ok(view) => job.push(Stretch {
                    view,
                    triggers,
                    for_metrics: self
                        .metrics
                        .as_ref()
                        .filter(|_| from == whole)
                        .map(metrics::Metrics::counted_until),
                }),
                Err(e) => say(format_args!(
                    "monitor: warning: cannot build the window for the triggers: {e}\n"
                )),
            }
        }
        if !job.is_empty() {
            if let Some(evaluator) = self.evaluator.as_mut() {
                evaluator.submit(job);
            }
        }
    }

    /// Saves trigger `i`'s window (if it fired) and re-arms it on what comes after.
    fn save_fired(&mut self, i: usize) {
        let Arm::Fired {
            at, value, seen, ..
        } = self.arms[i]
        else {
            return;
        };
        let by = SavedBy {
            rule: self.opts.triggers[i].text().to_string(),
            fired: at,
            value: Some(value),
            post_ns: seen.elapsed().as_nanos() as u64,
        };
        self.save(by);
        self.arms[i] = Arm::Armed {
            from_seq: self.window.next_seq(),
        };
    }

    fn save(&mut self, by: SavedBy) {
        let rule = by.rule.clone();
        let mut trailer = self.now.clone();
        trailer.stopped_by = "monitor".into();
        trailer.saved_by = Some(Box::new(by));
        let view = match self.window.view(0, &self.header, &trailer) {
            Ok(v) => v,
            Err(e) => {
                self.save_failures += 1;
                say(format_args!(
                    "monitor: error: cannot build the window to save: {e}\n"
                ));
                return;
            }
        };
        let dir = &self.opts.output_dir;
        for gone in saved::make_room(dir, view.bytes, self.opts.max_files, self.opts.max_disk) {
            say(format_args!(
                "monitor: removed {} (--max-files {}, --max-disk {})\n",
                gone.display(),
                self.opts.max_files,
                self.opts.max_disk
            ));
        }
        let name = saved::file_name(SystemTime::now(), &rule);
        match saved::write(dir, &name, &view) {
            Ok(path) => {
                self.saved += 1;
                if let Some(m) = &self.metrics {
                    m.window_saved();
                }
                let span = self.now.end.mono_ns.saturating_sub(view.start.mono_ns);
                say(format_args!(
                    "monitor: saved {} events ({} awake, {} bytes) to {}; read it with: serial-trace report {}\n",
                    view.events,
                    crate::fmt::fmt_ns(span),
                    view.bytes,
                    path.display(),
                    path.display()
                ));
                if let Some(cmd) = &self.opts.on_trigger {
                    match saved::run_hook(cmd, &path, &rule) {
                        Ok(child) => self.hooks.push((child, path)),
                        Err(e) => say(format_args!("monitor: warning: {e:#}\n")),
                    }
                }
            }
            Err(e) => {
                self.save_failures += 1;
                say(format_args!(
                    "monitor: error: {e:#}; monitoring goes on (the window stays in memory)\n"
                ));
            }
        }
    }

    /// Collects ended --on-trigger commands; with `wait`, waits up to `HOOK_GRACE` for all.
    fn reap_hooks(&mut self, wait: bool) {
        let until = Instant::now() + saved::HOOK_GRACE;
        loop {
            self.hooks
                .retain_mut(|(child, path)| match child.try_wait() {
                    Ok(Some(status)) => {
                        if !status.success() {
                            say(format_args!(
                                "monitor: warning: --on-trigger for {} ended with {status}\n",
                                path.display()
                            ));
                        }
                        false
                    }
                    Ok(None) => true,
                    Err(_) => false,
                });
            if !wait || self.hooks.is_empty() || Instant::now() >= until {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if wait {
            for (child, path) in &self.hooks {
                say(format_args!(
                    "monitor: --on-trigger for {} (pid {}) is still running\n",
                    path.display(),
                    child.id()
                ));
            }
        }
    }

    /// At the stop (after the last segment is sealed): every fired trigger is saved now, its
    /// --post cut short (`post_ns` says how short). Returns how many saves failed.
    pub fn finish(mut self, end: Trailer) -> u64 {
        self.now = Trailer {
            events_written: self.now.events_written,
            ..end
        };
        for i in 0..self.arms.len() {
            self.save_fired(i);
        }
        if let Some(e) = self.evaluator.take() {
            e.stop();
        }
        self.reap_hooks(true);
        if self.window.squeezed_segments > 0 {
            say(format_args!(
                "monitor: --memory {} held less than --keep {}: {} events left the window early\n",
                self.opts.memory,
                humantime::format_duration(self.opts.keep),
                self.window.squeezed_events
            ));
        }
        say(format_args!(
            "monitor: {} events seen, {} windows saved to {}\n",
            self.writer.events_written(),
            self.saved,
            self.opts.output_dir.display()
        ));
        self.save_failures
    }
}
