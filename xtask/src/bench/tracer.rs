//! The tracers the benchmark compares, started and stopped the same way: serial-trace, a
//! bpftrace script and `perf record` on the same tracepoints. Each reports what it recorded,
//! what it lost, the CPU time it used and the bytes it wrote.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::util::{output, show};

/// The tracepoints every tracer records: the timer, alarm-timer and suspend families that
/// serial-trace records with `--hooks timer,alarmtimer,power` (where this kernel has them).
pub const TRACEPOINTS: &[&str] = &[
    "timer:hrtimer_start",
    "timer:hrtimer_expire_entry",
    "timer:hrtimer_expire_exit",
    "timer:hrtimer_cancel",
    "timer:timer_start",
    "timer:timer_expire_entry",
    "timer:timer_cancel",
    "alarmtimer:alarmtimer_start",
    "alarmtimer:alarmtimer_fired",
    "alarmtimer:alarmtimer_cancel",
    "power:suspend_resume",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// No tracer: the workload alone.
    Bare,
    SerialTrace,
    /// bpftrace printing every field serial-trace keeps.
    Bpftrace,
    /// bpftrace counting the events in a map, in the kernel: the least a tracer can do per
    /// event, the bar serial-trace's recording of every event is measured against.
    BpftraceCount,
    Perf,
}

impl Tool {
    pub const ALL: [Tool; 5] = [
        Tool::Bare,
        Tool::SerialTrace,
        Tool::Bpftrace,
        Tool::BpftraceCount,
        Tool::Perf,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Bare => "bare",
            Tool::SerialTrace => "serial-trace",
            Tool::Bpftrace => "bpftrace",
            Tool::BpftraceCount => "bpftrace count()",
            Tool::Perf => "perf record",
        }
    }
}

/// What a tracer did over one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    /// Events in its output.
    pub events: u64,
    /// Events it says the kernel could not hand over.
    pub lost: u64,
    /// CPU seconds (user + system, with its child processes) from `mark_workload` to its exit.
    pub cpu_s: f64,
    /// Size of its output.
    pub bytes: u64,
    /// Seconds from its exec to recording (serial-trace: its header written, after every
    /// attach; bpftrace: its BEGIN probe ran; perf: its header written).
    pub ready_s: f64,
    /// Its peak resident set while recording, KiB (`VmHWM` before it is stopped).
    pub max_rss_kb: u64,
}

/// A running tracer.
pub struct Session {
    tool: Tool,
    pid: libc::pid_t,
    out: PathBuf,
    log: PathBuf,
    /// CPU the tracer had used when the workload started (loading, compiling, attaching).
    cpu_before: f64,
    /// Seconds from its exec to recording.
    ready_s: f64,
}

/// Starts `tool` writing into `dir` and returns once it records (its output is started).
/// `serial_trace` is the binary to measure.
/// `away_from`: a CPU the tracer's processes must not run on (the workload's).
pub fn start(
    tool: Tool,
    dir: &Path,
    serial_trace: &Path,
    away_from: Option<usize>,
) -> Result<Option<Session>> {
    let (out, mut cmd) = match tool {
        Tool::Bare => return Ok(None),
        Tool::SerialTrace => {
            let out = dir.join("serial-trace.trace");
            let mut c = Command::new(serial_trace);
            c.args([
                "record",
                "--quiet",
                "--force",
                "--hooks",
                "timer,alarmtimer,power",
            ])
            .arg("-o")
            .arg(&out);
            (out, c)
        }
        Tool::Bpftrace | Tool::BpftraceCount => {
            let script = dir.join("peer.bt");
            fs::write(
                &script,
                if tool == Tool::Bpftrace {
                    bpftrace_script()
                } else {
                    bpftrace_count_script()
                },
            )?;
            let mut c = Command::new("bpftrace");
            let out = if tool == Tool::Bpftrace {
                let out = dir.join("bpftrace.txt");
                c.arg("-o").arg(&out);
                out
            } else {
                // its only line before exit is READY: on its stdout (the session's log),
                // line-buffered; `-o`'s file keeps it buffered until the end whatever `-B`
                // says (the printing script fills its buffer at once)
                c.args(["-B", "line"]);
                dir.join(log_name(tool))
            };
            c.arg(&script);
            (out, c)
        }
        Tool::Perf => {
            let out = dir.join("perf.data");
            let mut c = Command::new("perf");
            c.args(["record", "-q", "-a", "-o"]).arg(&out);
            for tp in available(TRACEPOINTS) {
                c.args(["-e", tp]);
            }
            (out, c)
        }
    };
    if let Some(cpu) = away_from {
        keep_off_cpu(&mut cmd, cpu);
    }
    let _ = fs::remove_file(&out);
    let log = dir.join(log_name(tool));
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log)?)
        .stderr(fs::File::create(log.with_extension("err"))?)
        .spawn()
        .with_context(|| format!("cannot start {}", show(&cmd)))?;
    let pid = child.id() as libc::pid_t;
    // Reaped with wait4 in `stop`, for its resource usage.
    std::mem::forget(child);
    let mut s = Session {
        tool,
        pid,
        out,
        log,
        cpu_before: 0.0,
        ready_s: 0.0,
    };
    s.wait_ready()?;
    s.ready_s = started.elapsed().as_secs_f64() - SETTLE.as_secs_f64();
    Ok(Some(s))
}

/// Lets `cmd` (and every thread and child it makes) run on every online CPU but `cpu`, when
/// there is another.
fn keep_off_cpu(cmd: &mut Command, cpu: usize) {
    use std::os::unix::process::CommandExt;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 || cpu >= cpus {
        return;
    }
    // SAFETY: between fork and exec only async-signal-safe calls: filling a cpu_set_t and
    // sched_setaffinity on the child itself.
    unsafe {
        cmd.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for c in (0..cpus).filter(|&c| c != cpu) {
                libc::CPU_SET(c, &mut set);
            }
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

impl Session {
    /// Waits until the tracer records: serial-trace has written its header (after attaching),
    /// bpftrace has run its BEGIN probe (after attaching every probe), perf has written its
    /// header; then a short settle.
    fn wait_ready(&mut self) -> Result<()> {
        let t = Instant::now();
        loop {
            let ready = match self.tool {
                Tool::Bpftrace | Tool::BpftraceCount => fs::read_to_string(&self.out)
                    .map(|s| s.contains("READY"))
                    .unwrap_or(false),
                _ => fs::metadata(&self.out)
                    .map(|m| m.len() > 0)
                    .unwrap_or(false),
            };
            if ready {
                break;
            }
            let status = exited(self.pid);
            if status.is_some() || t.elapsed() > Duration::from_secs(60) {
                if status.is_none() {
                    // SAFETY: killing and reaping our own child: no tracer left running
                    unsafe {
                        libc::kill(self.pid, libc::SIGKILL);
                        libc::waitpid(self.pid, std::ptr::null_mut(), 0);
                    }
                }
                let err = fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
                bail!(
                    "{} did not start recording ({} after {:.1} s): {}",
                    self.tool.name(),
                    status.map_or("still running".into(), |s| format!("wait status {s:#x}")),
                    t.elapsed().as_secs_f64(),
                    err.trim()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(SETTLE);
        Ok(())
    }

    /// Notes the CPU used so far: what follows is the cost of recording the workload.
    pub fn mark_workload(&mut self) {
        self.cpu_before = tree_cpu_s(self.pid);
    }

    /// Stops the tracer (SIGINT, as Ctrl-C), waits for it and reads its output back.
    pub fn stop(self, serial_trace: &Path) -> Result<Outcome> {
        // its peak so far, from the kernel's own high-water mark of its memory (`wait4`'s
        // `ru_maxrss` would count the resident size this large xtask process had when it
        // forked the tracer); the shutdown after it is not included
        let max_rss_kb = vm_hwm_kb(self.pid);
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid, libc::SIGINT) };
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid out parameter.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waits for our own child; fills status and rusage.
        if unsafe { libc::wait4(self.pid, &mut status, 0, &mut ru) } < 0 {
            bail!(
                "wait4 {}: {}",
                self.tool.name(),
                std::io::Error::last_os_error()
            );
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        // wait4 counts the process and the children it waited for.
        let cpu_total = tv(ru.ru_utime) + tv(ru.ru_stime);
        let bytes = fs::metadata(&self.out).map(|m| m.len()).unwrap_or(0);
        let (events, lost) = match self.tool {
            Tool::Bare => (0, 0),
            Tool::SerialTrace => serial_trace_counts(serial_trace, &self.out)?,
            Tool::Bpftrace => bpftrace_counts(&self.out)?,
            Tool::BpftraceCount => bpftrace_map_total(&self.out)?,
            Tool::Perf => perf_counts(&self.out)?,
        };
        Ok(Outcome {
            events,
            lost,
            cpu_s: (cpu_total - self.cpu_before).max(0.0),
            bytes,
            ready_s: self.ready_s,
            max_rss_kb,
        })
    }
}

/// The file that takes a tracer's standard output.
fn log_name(tool: Tool) -> String {
    format!("{}.log", tool.name().replace(' ', "-").replace("()", ""))
}

/// The pause after a tracer says it records, before the workload starts.
const SETTLE: Duration = Duration::from_millis(500);

/// The tracepoints of `wanted` this kernel has.
pub fn available(wanted: &[&'static str]) -> Vec<&'static str> {
    wanted
        .iter()
        .copied()
        .filter(|tp| {
            let (sys, name) = tp.split_once(':').unwrap();
            Path::new("/sys/kernel/tracing/events")
                .join(sys)
                .join(name)
                .exists()
        })
        .collect()
}

/// A bpftrace script that prints every field serial-trace records for the same tracepoints,
/// one line per event. It skips bpftrace's own timers (its output polling would otherwise
/// trace itself), as serial-trace skips its own.
fn bpftrace_script() -> String {
    let fields = |tp: &str| -> Option<(&str, &str)> {
        Some(match tp {
            "timer:hrtimer_start" => (
                " %llx %llx %lld %lld %u",
                ", (uint64)args->hrtimer, (uint64)args->function, args->expires, args->softexpires, args->mode",
            ),
            "timer:hrtimer_expire_entry" => (
                " %llx %lld %llx",
                ", (uint64)args->hrtimer, args->now, (uint64)args->function",
            ),
            "timer:hrtimer_expire_exit" | "timer:hrtimer_cancel" => {
                (" %llx", ", (uint64)args->hrtimer")
            }
            "timer:timer_start" => (
                " %llx %llx %lu %lu %u",
                ", (uint64)args->timer, (uint64)args->function, args->expires, args->now, args->flags",
            ),
            "timer:timer_expire_entry" => (
                " %llx %lu %llx",
                ", (uint64)args->timer, args->now, (uint64)args->function",
            ),
            "timer:timer_cancel" => (" %llx", ", (uint64)args->timer"),
            "alarmtimer:alarmtimer_start"
            | "alarmtimer:alarmtimer_fired"
            | "alarmtimer:alarmtimer_cancel" => (
                " %llx %u %lld %lld",
                ", (uint64)args->alarm, args->alarm_type, args->expires, args->now",
            ),
            "power:suspend_resume" => (" %s %d %d", ", str(args->action), args->val, args->start"),
            _ => return None,
        })
    };
    let mut s = String::from("BEGIN { printf(\"READY\\n\"); }\n");
    for tp in available(TRACEPOINTS) {
        let Some((fmt, vals)) = fields(tp) else {
            continue;
        };
        let name = tp.split_once(':').unwrap().1;
        s.push_str(&format!(
            "tracepoint:{tp} /comm != \"bpftrace\"/ {{ printf(\"%llu %u %u %s {name}{fmt}\\n\", nsecs, cpu, tid, comm{vals}); }}\n"
        ));
    }
    s
}

/// The same tracepoints counted in a map per probe, in the kernel; bpftrace prints the map at
/// exit.
fn bpftrace_count_script() -> String {
    let mut s = String::from("BEGIN { printf(\"READY\\n\"); }\n");
    for tp in available(TRACEPOINTS) {
        s.push_str(&format!(
            "tracepoint:{tp} /comm != \"bpftrace\"/ {{ @[probe] = count(); }}\n"
        ));
    }
    s
}

/// `(events, 0)` of a bpftrace count map printed at exit: `@[tracepoint:timer:…]: N` lines.
fn bpftrace_map_total(out: &Path) -> Result<(u64, u64)> {
    let text = fs::read_to_string(out).with_context(|| format!("reading {}", out.display()))?;
    let total = text
        .lines()
        .filter(|l| l.starts_with("@["))
        .filter_map(|l| l.rsplit_once(": ")?.1.trim().parse::<u64>().ok())
        .sum();
    Ok((total, 0))
}

/// `(events, lost)` of a serial-trace file, from its report.
pub(super) fn serial_trace_counts(bin: &Path, trace: &Path) -> Result<(u64, u64)> {
    let o = output(
        Command::new(bin)
            .args(["report", "--format", "json"])
            .arg(trace),
    )?;
    if !o.status.success() {
        bail!(
            "serial-trace report {}: {}",
            trace.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let r: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    let n = |k: &str| r["events"][k].as_u64().unwrap_or(0);
    Ok((n("total"), n("lost")))
}

/// `(events, lost)` of a bpftrace output: one line per event (each starts with its
/// timestamp); bpftrace adds `Lost N events` lines where its perf buffer overflowed.
fn bpftrace_counts(out: &Path) -> Result<(u64, u64)> {
    use std::io::BufRead;
    let file = fs::File::open(out).with_context(|| format!("reading {}", out.display()))?;
    let mut events = 0;
    let mut lost = 0;
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        if line.starts_with(|c: char| c.is_ascii_digit()) {
            events += 1;
        } else if let Some(rest) = line.strip_prefix("Lost ") {
            lost += rest
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok((events, lost))
}

/// `(events, lost)` of a perf.data file, from `perf report --stats`.
fn perf_counts(data: &Path) -> Result<(u64, u64)> {
    let o = output(
        Command::new("perf")
            .args(["report", "--stats", "-i"])
            .arg(data),
    )?;
    let text = String::from_utf8_lossy(&o.stdout);
    // The aggregated section comes first: its first SAMPLE and LOST_SAMPLES/LOST lines.
    let first = |key: &str| -> u64 {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    if !text.contains("SAMPLE events") {
        bail!("perf report --stats {}: no sample count", data.display());
    }
    Ok((
        first("SAMPLE events"),
        first("LOST events") + first("LOST_SAMPLES events"),
    ))
}

/// `VmHWM` of `pid` (the peak resident set of its process image), KiB; 0 if unreadable.
fn vm_hwm_kb(pid: libc::pid_t) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The wait status of `pid` if it has exited (then reaped: `stop` fails clearly after it).
fn exited(pid: libc::pid_t) -> Option<i32> {
    let mut status = 0;
    // SAFETY: non-blocking check of our own child.
    (unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid).then_some(status)
}

/// CPU seconds used by `pid` and its living descendants (`/proc/*/stat`).
fn tree_cpu_s(pid: libc::pid_t) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut procs: Vec<(i32, i32, u64)> = Vec::new(); // pid, ppid, utime + stime
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // comm may hold spaces: the fields after it start past the last ')'
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let p: i32 = head
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let f: Vec<&str> = rest.split_whitespace().collect();
        // rest: state(0) ppid(1) … utime(11) stime(12)
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        procs.push((p, num(1) as i32, num(11) + num(12)));
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(procs.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    procs
        .iter()
        .filter(|p| tree.contains(&p.0))
        .map(|p| p.2 as f64 / hz)
        .sum()
}
