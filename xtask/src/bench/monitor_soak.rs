//! `cargo xtask bench --monitor-soak MINUTES`: `serial-trace monitor` left running at a high
//! event rate, saving a window every minute (SIGUSR1) into a directory limited to fewer files
//! and bytes than those saves, with its metrics endpoint on. Every 10 s: the monitor's own
//! memory (`/proc/PID/smaps`, the ring buffer's mappings apart, as the trailer counts it) and
//! the directory's files and bytes. Judged: the directory within --max-files and --max-disk
//! at every sample, the window within --memory (its metrics gauge), and own memory flat: the
//! second half's most no more than the first half's plus 4 MiB.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serial_trace::kernel::sysinfo::Resident;

use super::Bins;

const RATE: &str = "100000";
const MEMORY: u64 = 16 << 20;
const MAX_FILES: usize = 4;
const MAX_DISK: u64 = 48 << 20;
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const SAVE_EVERY: Duration = Duration::from_secs(60);
/// How much more the second half may hold than the first before memory counts as growing.
const GROWTH_KB: u64 = 4 << 10;

struct Sample {
    at: Duration,
    own_kb: u64,
    files: usize,
    bytes: u64,
}

pub fn measure(minutes: u64, bins: &Bins, dir: &Path) -> Result<()> {
    let out = dir.join("monitor-soak");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let log_path = dir.join("monitor-soak.log");
    let log = std::fs::File::create(&log_path)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut monitor = Command::new(&bins.serial_trace)
        .arg("monitor")
        .arg("-o")
        .arg(&out)
        .args([
            "--quiet",
            "--keep",
            "60s",
            "--memory",
            &MEMORY.to_string(),
            "--max-files",
            &MAX_FILES.to_string(),
            "--max-disk",
            &MAX_DISK.to_string(),
            "--buffer-size",
            "16M",
            "--trigger",
            "lost_events>0",
            "--post",
            "2s",
            "--metrics",
            &format!("127.0.0.1:{port}"),
        ])
        .stdin(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting serial-trace monitor")?;
    let t = Instant::now();
    while !std::fs::read_to_string(&log_path)?.contains("monitor: watching") {
        if t.elapsed() > Duration::from_secs(60) || monitor.try_wait()?.is_some() {
            let _ = monitor.kill();
            bail!(
                "the monitor did not start: {}",
                std::fs::read_to_string(&log_path)?
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = (minutes * 60).to_string();
    eprintln!(
        "xtask bench: monitor soak, {minutes} min at {RATE} events/s (log {})",
        log_path.display()
    );
    let mut generator = Command::new(&bins.generator)
        .args(["--rate", RATE, "--seconds", &seconds])
        .stdout(Stdio::null())
        .spawn()
        .context("running event-generator")?;
    let pid = monitor.id();
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut next_save = started + SAVE_EVERY;
    let mut window_max = 0u64;
    let mut problems = Vec::new();
    while generator.try_wait()?.is_none() {
        std::thread::sleep(SAMPLE_EVERY);
        if Instant::now() >= next_save {
            next_save += SAVE_EVERY;
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
        }
        let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))
            .context("the monitor ended early")?;
        let (files, bytes) = saved(&out);
        let s = Sample {
            at: started.elapsed(),
            own_kb: Resident::parse_smaps(&smaps).own_kb(),
            files,
            bytes,
        };
        if files > MAX_FILES || bytes > MAX_DISK {
            problems.push(format!(
                "at {:?}: {files} files, {bytes} bytes (limits {MAX_FILES}, {MAX_DISK})",
                s.at
            ));
        }
        if let Some(w) = metric(port, "serial_trace_window_bytes") {
            window_max = window_max.max(w);
        }
        eprintln!(
            "  {:>5.0} s: own {:>6} KiB, {} windows, {} bytes on disk, window {} bytes",
            s.at.as_secs_f64(),
            s.own_kb,
            files,
            bytes,
            metric(port, "serial_trace_window_bytes").unwrap_or(0)
        );
        samples.push(s);
    }
    let cpu_s = cpu_seconds(pid).unwrap_or(0.0);
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let status = monitor.wait()?;
    let events = std::fs::read_to_string(&log_path)?
        .lines()
        .find_map(|l| {
            l.strip_prefix("monitor: ")?
                .split_once(" events seen")
                .map(|(n, _)| n.to_string())
        })
        .unwrap_or_default();
    if !status.success() {
        problems.push(format!("the monitor exited with {status}"));
    }
    if window_max > MEMORY {
        problems.push(format!(
            "the window held {window_max} bytes, over --memory {MEMORY}"
        ));
    }
    let half = samples.len() / 2;
    let most = |s: &[Sample]| s.iter().map(|s| s.own_kb).max().unwrap_or(0);
    let (first, second) = (most(&samples[..half]), most(&samples[half..]));
    if second > first + GROWTH_KB {
        problems.push(format!(
            "own memory grew: most {first} KiB in the first half, {second} KiB in the second"
        ));
    }
    let saves = std::fs::read_to_string(&log_path)?
        .lines()
        .filter(|l| l.starts_with("monitor: saved"))
        .count();
    println!(
        "monitor soak: {:.0} min at {RATE} events/s, {events} events; own memory {} KiB at the first sample, most {first} KiB (first half) / {second} KiB (second half); \
         window at most {window_max} bytes (--memory {MEMORY}); {saves} windows saved, the directory at most {} files / {} bytes (--max-files {MAX_FILES}, --max-disk {MAX_DISK}); \
         CPU {cpu_s:.0} s ({:.0} % of one CPU)",
        started.elapsed().as_secs_f64() / 60.0,
        samples.first().map_or(0, |s| s.own_kb),
        samples.iter().map(|s| s.files).max().unwrap_or(0),
        samples.iter().map(|s| s.bytes).max().unwrap_or(0),
        100.0 * cpu_s / started.elapsed().as_secs_f64()
    );
    if saves <= MAX_FILES {
        problems.push(format!(
            "only {saves} windows saved: the rotation was not exercised"
        ));
    }
    if problems.is_empty() {
        println!("monitor soak: within every limit, own memory flat");
        Ok(())
    } else {
        bail!("monitor soak:\n  {}", problems.join("\n  "))
    }
}

/// The saved windows in `dir`: how many, how many bytes.
fn saved(dir: &Path) -> (usize, u64) {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".trace"))
                .filter_map(|e| e.metadata().ok())
                .fold((0, 0), |(n, b), m| (n + 1, b + m.len()))
        })
        .unwrap_or((0, 0))
}

/// One unlabelled sample's value from the monitor's endpoint.
fn metric(port: u16, name: &str) -> Option<u64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// User + system CPU seconds of process `pid` so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // fields 14 and 15 of stat(5); `rest` starts at field 3
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz)
}
