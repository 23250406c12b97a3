//! Boots one guest under QEMU (TCG; KVM is broken on the project's machines), follows its
//! console, serves `@@ST FLOOD` requests on the second UART, enforces a wall-clock timeout and
//! collects the files the guest exports (x86: the ISA debug console; arm64: semihosting).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::arch::Arch;

/// Kernel messages after which a guest never recovers under TCG (seen on 5.10: a CPU that
/// did not come back from a suspend cycle stops answering IPIs).
const HANG_SIGNS: &[&str] = &[
    "BUG: soft lockup",
    "detected stalls on CPUs",
    "Kernel panic",
];

/// What a guest run produced.
pub struct VmRun {
    pub console: Vec<String>,
    pub files: BTreeMap<String, Vec<u8>>,
    pub timed_out: bool,
    /// The guest kernel reported a lockup (a vCPU that stopped answering under TCG): the run
    /// was cut short, and the line that said so.
    pub hung: Option<String>,
    pub elapsed: Duration,
    /// Host-side notes (flood results) for the log.
    pub host_log: Vec<String>,
}

pub struct VmConfig<'a> {
    pub arch: Arch,
    pub vmlinuz: &'a Path,
    pub initrd: &'a Path,
    pub workdir: &'a Path,
    pub timeout: Duration,
    /// Echo guest console lines to stderr as they arrive.
    pub echo: bool,
    /// Virtual CPUs.
    pub cpus: u8,
}

/// The file the guest's `guest-export` writes, in the run's folder (QEMU's working directory).
const EXPORT_FILE: &str = "export.bin";

/// The UART sockets the host floods, by the name `@@ST FLOOD <bytes> <name>` gives: the
/// second on-board UART, an 8250 on PCI (QEMU's `pci-serial`) and a USB-serial adapter.
/// The adapter is flow-controlled (QEMU stops reading its socket while its 496-byte buffer
/// is full), so its flood blocks on an unread port instead of dropping bytes.
const FLOOD_SOCKETS: &[(&str, &str)] = &[
    ("serial1", "serial1.sock"),
    ("pci", "pci.sock"),
    ("usb", "usb.sock"),
];

fn qemu_command(c: &VmConfig, serial1: &Path, qmp: &Path) -> Command {
    let mut q = Command::new(c.arch.qemu_binary());
    q.current_dir(c.workdir)
        .args(["-accel", "tcg", "-m", "1024"])
        .args(["-smp", &c.cpus.to_string()])
        .args(["-display", "none", "-no-reboot", "-nodefaults"])
        .arg("-kernel")
        .arg(c.vmlinuz)
        .arg("-initrd")
        .arg(c.initrd)
        .arg("-append")
        // A pm_test cycle busy-waits in mdelay() for its whole delay (40 s in
        // flood-suspend): the soft-lockup (2 × watchdog_thresh) and RCU-stall detectors
        // would call that a hang. Their thresholds are raised past the longest delay; a
        // real lockup is still caught, only later.
        .arg(format!(
            "console={} panic=-1 quiet no_console_suspend suspend.pm_test_delay=0 \
             watchdog_thresh=60 rcupdate.rcu_cpu_stall_timeout=100",
            c.arch.console()
        ));
    c.arch.board_args(&mut q, EXPORT_FILE);
    q.args(["-serial", "stdio"])
        .arg("-serial")
        .arg(format!("unix:{},server=on,wait=off", serial1.display()))
        .arg("-chardev")
        .arg(format!(
            "socket,id=pci0,path={},server=on,wait=off",
            c.workdir.join("pci.sock").display()
        ))
        .args(["-device", "pci-serial,chardev=pci0"])
        // QEMU's FTDI FT232BM (`usb-serial`; the guest's ftdi_sio) on an xHCI controller,
        // a PCI device on both boards. always-plugged: attached from boot, not only while
        // the host is connected to its socket (the host connects at the first flood).
        .arg("-chardev")
        .arg(format!(
            "socket,id=usb0,path={},server=on,wait=off",
            c.workdir.join("usb.sock").display()
        ))
        .args(["-device", "qemu-xhci,id=xhci"])
        .args([
            "-device",
            "usb-serial,bus=xhci.0,chardev=usb0,always-plugged=on",
        ])
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qmp.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    q
}

/// Writes `n` bytes of a counting pattern (byte `i` of each 4096 is `i % 251`) into one of the
/// guest's ports. QEMU's socket chardev serves one client, so every flood of a run goes
/// through the same connection.
fn flood(stream: &mut UnixStream, n: usize) -> Result<String> {
    let start = Instant::now();
    let chunk: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    while sent < n {
        let k = chunk.len().min(n - sent);
        stream.write_all(&chunk[..k])?;
        sent += k;
    }
    stream.flush()?;
    let secs = start.elapsed().as_secs_f64();
    Ok(format!(
        "flood: {sent} bytes in {secs:.1} s ({:.0} B/s)",
        sent as f64 / secs
    ))
}

/// Writes one byte into the guest's second UART every second until `stop` is set: wakes a
/// guest in s2idle through the port's wakeup IRQ, however long its suspend path takes.
fn wake_bytes(stream: &mut UnixStream, stop: &AtomicBool) -> String {
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) && sent < 600 {
        std::thread::sleep(Duration::from_secs(1));
        if stop.load(Ordering::Relaxed) || stream.write_all(b"w").is_err() {
            break;
        }
        sent += 1;
    }
    format!("wake bytes: {sent} sent")
}

fn connect(sock: &Path) -> Result<UnixStream> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match UnixStream::connect(sock) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() > deadline => {
                return Err(e).with_context(|| format!("connecting {}", sock.display()));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

pub fn run(c: &VmConfig) -> Result<VmRun> {
    std::fs::create_dir_all(c.workdir)?;
    let serial1 = c.workdir.join("serial1.sock");
    let qmp = c.workdir.join("qmp.sock");
    let export = c.workdir.join(EXPORT_FILE);
    let pci = c.workdir.join("pci.sock");
    let usb = c.workdir.join("usb.sock");
    for p in [&serial1, &qmp, &export, &pci, &usb] {
        let _ = std::fs::remove_file(p);
    }
    let mut child = qemu_command(c, &serial1, &qmp).spawn().with_context(|| {
        format!(
            "starting {} (`cargo xtask setup` installs it)",
            c.arch.qemu_binary()
        )
    })?;
    let (tx, rx) = mpsc::channel::<Option<String>>();
    let stdout = child.stdout.take().expect("piped");
    let tx_out = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_string();
            if tx_out.send(Some(text)).is_err() {
                break;
            }
        }
        let _ = tx_out.send(None);
    });
    let stderr = child.stderr.take().expect("piped");
    let (etx, erx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = etx.send(line);
        }
    });

    let start = Instant::now();
    let mut run = VmRun {
        console: Vec::new(),
        files: BTreeMap::new(),
        timed_out: false,
        hung: None,
        elapsed: Duration::ZERO,
        host_log: Vec::new(),
    };
    let (ftx, frx) = mpsc::channel::<String>();
    // one connection per socket for the whole run: QEMU's socket chardev serves one client
    let mut conns: BTreeMap<&str, UnixStream> = BTreeMap::new();
    let stop_waking = Arc::new(AtomicBool::new(true));
    loop {
        let left = c.timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            run.timed_out = true;
            kill(&mut child);
            break;
        }
        match rx.recv_timeout(left.min(Duration::from_millis(500))) {
            Ok(Some(line)) => {
                if c.echo {
                    eprintln!("  | {line}");
                }
                if let Some(req) = line.strip_prefix("@@ST FLOOD ") {
                    let mut words = req.split_whitespace();
                    let n: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                    let to = words.next().unwrap_or("serial1");
                    let (name, file) = FLOOD_SOCKETS
                        .iter()
                        .find(|(name, _)| *name == to)
                        .with_context(|| {
                            format!("the guest asked to flood an unknown UART {to:?}")
                        })?;
                    if !conns.contains_key(name) {
                        conns.insert(name, connect(&c.workdir.join(file))?);
                    }
                    let mut stream = conns[name].try_clone()?;
                    let ftx = ftx.clone();
                    std::thread::spawn(move || {
                        let msg = flood(&mut stream, n)
                            .unwrap_or_else(|e| format!("flood failed: {e:#}"));
                        let _ = ftx.send(msg);
                    });
                }
                if line.starts_with("@@ST WAKEBYTES START") {
                    if !conns.contains_key("serial1") {
                        conns.insert("serial1", connect(&serial1)?);
                    }
                    let mut stream = conns["serial1"].try_clone()?;
                    stop_waking.store(false, Ordering::Relaxed);
                    let (ftx, stop) = (ftx.clone(), Arc::clone(&stop_waking));
                    std::thread::spawn(move || {
                        let _ = ftx.send(wake_bytes(&mut stream, &stop));
                    });
                } else if line.starts_with("@@ST WAKEBYTES STOP") {
                    stop_waking.store(true, Ordering::Relaxed);
                }
                // when each scenario began and ended, host time since boot: the guest's
                // timeout is one budget for all of them, and this says which one used it
                if line.starts_with("@@ST BEGIN ") || line.starts_with("@@ST END ") {
                    let _ = ftx.send(format!(
                        "{:.1} s: {}",
                        start.elapsed().as_secs_f64(),
                        line.trim_start_matches("@@ST ")
                    ));
                }
                let lockup = HANG_SIGNS.iter().any(|s| line.contains(s));
                run.console.push(line.clone());
                if lockup {
                    run.hung = Some(line);
                    kill(&mut child);
                    break;
                }
            }
            Ok(None) => break, // qemu closed its stdout: it exited
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.wait();
    run.elapsed = start.elapsed();
    run.host_log.extend(frx.try_iter());
    run.host_log
        .extend(erx.try_iter().map(|l| format!("qemu: {l}")));
    run.files = split_export(&std::fs::read(&export).unwrap_or_default());
    Ok(run)
}

/// Splits the export stream (`@@STFILE <name>\n<size>\n<bytes>`…) into files.
pub fn split_export(mut s: &[u8]) -> BTreeMap<String, Vec<u8>> {
    const TAG: &[u8] = b"@@STFILE ";
    let mut out = BTreeMap::new();
    while let Some(i) = s.windows(TAG.len()).position(|w| w == TAG) {
        s = &s[i + TAG.len()..];
        let mut lines = s.splitn(3, |&b| b == b'\n');
        let (Some(name), Some(size), Some(rest)) = (lines.next(), lines.next(), lines.next())
        else {
            break;
        };
        let Some(size) = std::str::from_utf8(size)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        else {
            continue;
        };
        let take = size.min(rest.len());
        out.insert(
            String::from_utf8_lossy(name).into_owned(),
            rest[..take].to_vec(),
        );
        s = &rest[take..];
    }
    out
}

/// Writes the run's console, host log and exported files into `dir`.
pub fn save(run: &VmRun, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("console.log"), run.console.join("\n") + "\n")?;
    std::fs::write(dir.join("host.log"), run.host_log.join("\n") + "\n")?;
    let mut paths = Vec::new();
    for (name, bytes) in &run.files {
        // names come from the guest: keep them inside `dir`
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let p = dir.join(safe);
        std::fs::write(&p, bytes)?;
        paths.push(p);
    }
    Ok(paths)
}

/// A run [`save`]d in `dir`, for checking it again: its console and host log (the guest's
/// files stay in `dir`, where the checks read them).
pub fn load(dir: &Path) -> Result<VmRun> {
    let read = |name: &str| -> Result<Vec<String>> {
        let p = dir.join(name);
        let text = std::fs::read_to_string(&p)
            .with_context(|| format!("reading {} (no saved run there?)", p.display()))?;
        Ok(text.lines().map(str::to_string).collect())
    };
    Ok(VmRun {
        console: read("console.log")?,
        files: BTreeMap::new(),
        timed_out: false,
        hung: None,
        elapsed: Duration::ZERO,
        host_log: read("host.log").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_exported_files() {
        let mut s = b"noise".to_vec();
        s.extend_from_slice(b"@@STFILE a.trace\n3\nabc@@STFILE b.log\n0\n@@STFILE c\n5\nxy");
        let f = split_export(&s);
        assert_eq!(f["a.trace"], b"abc");
        assert_eq!(f["b.log"], b"");
        assert_eq!(f["c"], b"xy", "a cut file keeps what arrived");
    }
}
