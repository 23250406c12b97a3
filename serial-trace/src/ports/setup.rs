//! Reads how each port is configured ([`PortSetup`]): the serial driver's view from sysfs
//! (what `TIOCGSERIAL` reports, without opening the port), who holds it open (`/proc/*/fd`),
//! and, for a port somebody holds, its line settings by `TCGETS2`. An idle port is never
//! opened: opening one starts it and raises DTR, which resets many boards.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::PortInfo;
use crate::trace::{PortHolder, PortSetup, Termios};

/// The setup of every port in `ports`, in their order.
pub fn port_setups(ports: &[PortInfo]) -> Vec<PortSetup> {
    let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
    let mut holders = holders(Path::new("/proc"), &names);
    ports
        .iter()
        .map(|p| {
            let mut s = from_sysfs(Path::new("/sys/class/tty"), &p.name);
            s.uart = p.uart.clone();
            s.holders = holders.remove(&p.name).unwrap_or_default();
            if !s.holders.is_empty() {
                s.termios = read_termios(&p.name).ok();
            }
            s
        })
        .collect()
}

/// The IRQ numbers of `ports` (sysfs `irq`; 0 and unknown left out: USB-serial ports have
/// none), for timing their interrupt handlers.
pub fn port_irqs(ports: &[PortInfo]) -> Vec<u32> {
    ports
        .iter()
        .filter_map(|p| from_sysfs(Path::new("/sys/class/tty"), &p.name).irq)
        .filter(|&irq| irq > 0)
        .collect()
}

/// The line settings of every port in `names` that somebody holds open (for the recorder's
/// reading at the end of a recording): (name, settings).
pub fn held_termios(names: &[String]) -> Vec<(String, Termios)> {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let held = holders(Path::new("/proc"), &refs);
    names
        .iter()
        .filter(|n| held.contains_key(n.as_str()))
        .filter_map(|n| read_termios(n).ok().map(|t| (n.clone(), t)))
        .collect()
}

/// `TCGETS2` on the port, opened without becoming its controlling terminal and without
/// waiting for carrier. Only for a port already open elsewhere (see the module comment).
pub fn read_termios(name: &str) -> std::io::Result<Termios> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(Path::new("/dev").join(name))?;
    // SAFETY: an all-zero termios2 is valid; the ioctl fills it.
    let mut t: libc::termios2 = unsafe { std::mem::zeroed() };
    // SAFETY: TCGETS2 writes one termios2 into `t`, which outlives the call.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::TCGETS2, &mut t) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    use crate::trace::termios_flags::{VMIN, VTIME};
    Ok(Termios {
        iflag: t.c_iflag,
        oflag: t.c_oflag,
        cflag: t.c_cflag,
        lflag: t.c_lflag,
        vmin: t.c_cc[VMIN],
        vtime: t.c_cc[VTIME],
        ispeed: t.c_ispeed,
        ospeed: t.c_ospeed,
    })
}

/// The sysfs part, under `class` (`/sys/class/tty`, or a test's copy).
fn from_sysfs(class: &Path, name: &str) -> PortSetup {
    let dir = class.join(name);
    let read = |p: &str| {
        std::fs::read_to_string(dir.join(p))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let number = |p: &str| read(p).and_then(|s| parse_number(&s));
    let device = dir.join("device");
    let of_node = device.join("of_node");
    PortSetup {
        name: name.to_string(),
        driver: device_driver(&device),
        irq: number("irq").map(|v| v as u32),
        fifo_size: number("xmit_fifo_size").map(|v| v as u32),
        rx_trigger_bytes: number("rx_trig_bytes").map(|v| v as u32),
        uart_clock: number("uartclk"),
        port_flags: number("flags").map(|v| v as u32),
        dma: of_node.exists().then(|| of_node.join("dmas").exists()),
        wakeup: read("power/wakeup")
            .or_else(|| read("device/power/wakeup"))
            .filter(|w| !w.is_empty()),
        console: read("console").is_some_and(|c| c == "Y"),
        ..Default::default()
    }
}

/// The driver of the hardware behind a tty's device. From 6.5 a serial_core tty's device is
/// the `port` device of the serial base bus, under its `ctrl` device, under the UART's own
/// device: those two are skipped.
fn device_driver(device: &Path) -> Option<String> {
    let mut dir = std::fs::canonicalize(device).ok()?;
    for _ in 0..3 {
        let driver = std::fs::read_link(dir.join("driver"))
            .ok()
            .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()));
        match driver.as_deref() {
            Some("port" | "ctrl") if dir.parent().is_some() => dir.pop(),
            _ => return driver,
        };
    }
    None
}

/// Decimal, or hexadecimal with `0x` (sysfs `flags`).
fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Processes (other than this one) with a file descriptor on `/dev/<name>`, per name, under
/// `proc` (`/proc`, or a test's copy). A process that vanishes while it is read is skipped.
fn holders(proc: &Path, names: &[&str]) -> BTreeMap<String, Vec<PortHolder>> {
    let mut out: BTreeMap<String, Vec<PortHolder>> = BTreeMap::new();
    if names.is_empty() {
        return out;
    }
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir(proc) else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(e.path().join("fd")) else {
            continue;
        };
        let mut held: Vec<&str> = Vec::new();
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(name) = target
                .strip_prefix("/dev")
                .ok()
                .and_then(|n| n.to_str())
                .and_then(|n| names.iter().find(|w| **w == n))
            else {
                continue;
            };
            if !held.contains(name) {
                held.push(name);
            }
        }
        if held.is_empty() {
            continue;
        }
        let comm = std::fs::read_to_string(e.path().join("comm"))
            .map(|c| c.trim_end().to_string())
            .unwrap_or_default();
        for name in held {
            out.entry(name.to_string()).or_default().push(PortHolder {
                pid,
                comm: comm.clone(),
            });
        }
    }
    for v in out.values_mut() {
        v.sort_by_key(|h| h.pid);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_view_comes_from_sysfs() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("ttyS1");
        std::fs::create_dir_all(dir.join("power")).unwrap();
        std::fs::create_dir_all(root.path().join("dev/driver-dir/serial8250")).unwrap();
        std::fs::create_dir_all(root.path().join("dev/of_node")).unwrap();
        std::fs::write(root.path().join("dev/of_node/dmas"), b"").unwrap();
        std::os::unix::fs::symlink(root.path().join("dev"), dir.join("device")).unwrap();
        std::os::unix::fs::symlink(
            root.path().join("dev/driver-dir/serial8250"),
            root.path().join("dev/driver"),
        )
        .unwrap();
        for (f, v) in [
            ("irq", "3\n"),
            ("xmit_fifo_size", "16\n"),
            ("rx_trig_bytes", "8\n"),
            ("uartclk", "1843200\n"),
            ("flags", "0x10002040\n"),
            ("console", "N\n"),
            ("power/wakeup", "disabled\n"),
        ] {
            std::fs::write(dir.join(f), v).unwrap();
        }
        let s = from_sysfs(root.path(), "ttyS1");
        assert_eq!(s.driver.as_deref(), Some("serial8250"));
        // 6.5+: the tty's device is the serial base bus's port, under its ctrl, under the UART
        let port = root.path().join("dev/ctrl0/port0");
        std::fs::create_dir_all(root.path().join("drivers/port")).unwrap();
        std::fs::create_dir_all(root.path().join("drivers/ctrl")).unwrap();
        std::fs::create_dir_all(&port).unwrap();
        std::os::unix::fs::symlink(root.path().join("drivers/port"), port.join("driver")).unwrap();
        std::os::unix::fs::symlink(
            root.path().join("drivers/ctrl"),
            root.path().join("dev/ctrl0/driver"),
        )
        .unwrap();
        assert_eq!(device_driver(&port).as_deref(), Some("serial8250"));
        assert_eq!(
            (s.irq, s.fifo_size, s.rx_trigger_bytes, s.uart_clock),
            (Some(3), Some(16), Some(8), Some(1_843_200))
        );
        assert_eq!(
            (s.low_latency(), s.dma, s.console),
            (Some(true), Some(true), false)
        );
        assert_eq!(s.wakeup.as_deref(), Some("disabled"));
        // nothing there: nothing guessed
        let none = from_sysfs(root.path(), "ttyUSB9");
        assert_eq!(
            none,
            PortSetup {
                name: "ttyUSB9".into(),
                ..Default::default()
            }
        );
    }

    #[test]
    fn holders_are_found_by_their_open_files() {
        let proc = tempfile::tempdir().unwrap();
        for (pid, comm, targets) in [
            ("100", "cat", &["/dev/ttyS1", "/dev/null"][..]),
            ("200", "minicom", &["/dev/ttyS1", "/dev/ttyS1"][..]),
            ("300", "bash", &["/dev/ttyS10"][..]),
        ] {
            let fd = proc.path().join(pid).join("fd");
            std::fs::create_dir_all(&fd).unwrap();
            std::fs::write(proc.path().join(pid).join("comm"), format!("{comm}\n")).unwrap();
            for (i, t) in targets.iter().enumerate() {
                std::os::unix::fs::symlink(t, fd.join(i.to_string())).unwrap();
            }
        }
        std::fs::create_dir_all(proc.path().join("self")).unwrap();
        let h = holders(proc.path(), &["ttyS1", "ttyS2"]);
        assert_eq!(h.len(), 1);
        let pids: Vec<(u32, &str)> = h["ttyS1"]
            .iter()
            .map(|h| (h.pid, h.comm.as_str()))
            .collect();
        assert_eq!(pids, [(100, "cat"), (200, "minicom")]);
    }
}
