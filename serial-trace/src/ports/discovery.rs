//! Serial ports by name: which exist, their driver and UART type, and resolving what the user typed.

use std::cmp::Ordering;
use std::fs;
use std::path::Path;

use super::PortInfo;
use super::proc_counters::{
    PROC_TTY_DRIVERS, TtyDriverRow, parse_tty_driver_rows, read_proc_counters,
};
use anyhow::anyhow;

const SYS_CLASS_TTY: &str = "/sys/class/tty";

/// Every tty in `/sys/class/tty` that has a `device` link, sorted naturally.
///
/// The `device` link is what separates ports from the rest: ptys, virtual consoles,
/// `/dev/console` and `/dev/tty` are purely software and have none, while UARTs, USB
/// adapters and serial_core lines registered without hardware (8250's `nr_uarts` spares)
/// all do. The UART type comes from `/proc/tty/driver/<driver>` when readable (root), else
/// from the port's sysfs `type` attribute (serial_core ports only).
pub fn list_ports() -> Vec<PortInfo> {
    let Ok(dir) = fs::read_dir(SYS_CLASS_TTY) else {
        return Vec::new();
    };
    let drivers = fs::read_to_string(PROC_TTY_DRIVERS)
        .map(|t| parse_tty_driver_rows(&t))
        .unwrap_or_default();
    let proc = read_proc_counters();
    let mut ports = Vec::new();
    for entry in dir.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let path = entry.path();
        if fs::symlink_metadata(path.join("device")).is_err() {
            continue;
        }
        let driver = driver_for(&name, &path, &drivers);
        let uart = match proc.get(&name) {
            Some((uart, _)) => uart.clone(),
            None => sysfs_uart(&path),
        };
        ports.push(PortInfo { name, driver, uart });
    }
    sort_ports(&mut ports);
    ports
}

pub(super) fn sort_ports(ports: &mut [PortInfo]) {
    ports.sort_by(|a, b| natural_cmp(&a.name, &b.name));
}

/// Which tty driver owns `/sys/class/tty/<name>`: matched by device number against
/// `/proc/tty/drivers`, else by name prefix, else the sysfs driver link, else "unknown".
pub(super) fn driver_for(name: &str, sys_path: &Path, rows: &[TtyDriverRow]) -> String {
    let devno = fs::read_to_string(sys_path.join("dev")).ok().and_then(|s| {
        let (maj, min) = s.trim().split_once(':')?;
        Some((maj.parse::<u32>().ok()?, min.parse::<u32>().ok()?))
    });
    if let Some((maj, min)) = devno
        && let Some(row) = rows.iter().find(|r| {
            r.major == Some(maj) && r.minors.is_some_and(|(lo, hi)| (lo..=hi).contains(&min))
        })
    {
        return row.driver.clone();
    }
    if let Some(row) = rows.iter().find(|r| {
        !r.prefix.is_empty()
            && name
                .strip_prefix(r.prefix.as_str())
                .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    }) {
        return row.driver.clone();
    }
    fs::read_link(sys_path.join("device/driver"))
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// UART type from serial_core's sysfs `type` attribute (world-readable, unlike /proc/tty/driver).
/// It holds the `PORT_*` number from `<linux/serial_core.h>`; only the stable low numbers are
/// named, the rest are reported as a number rather than guessed.
fn sysfs_uart(sys_path: &Path) -> Option<String> {
    let n: u32 = fs::read_to_string(sys_path.join("type"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    match n {
        0 => None, // PORT_UNKNOWN: no UART detected
        1 => Some("8250".into()),
        2 => Some("16450".into()),
        3 => Some("16550".into()),
        4 => Some("16550A".into()),
        n => Some(format!("type {n}")),
    }
}

/// Compares names so that digit runs compare as numbers: `ttyS2` < `ttyS10` < `ttyUSB0`.
pub(super) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (da, db) = (&a[si..i], &b[sj..j]);
            let ta = trim_zeros(da);
            let tb = trim_zeros(db);
            let ord = ta
                .len()
                .cmp(&tb.len())
                .then_with(|| ta.cmp(tb))
                .then_with(|| da.len().cmp(&db.len()));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            let ord = a[i].cmp(&b[j]);
            if ord != Ordering::Equal {
                return ord;
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let k = d.iter().take_while(|&&c| c == b'0').count();
    &d[k.min(d.len().saturating_sub(1))..]
}

/// How a port is described in messages: its UART type, "no UART" for a serial_core line
/// without hardware, or its driver for other ports.
fn port_label(p: &PortInfo) -> String {
    match (&p.uart, p.driver.as_str()) {
        (Some(u), _) => u.clone(),
        (None, "serial") => "no UART".to_string(),
        (None, d) => d.to_string(),
    }
}

/// The error for a port name that does not exist, listing the ones that do so the user can
/// correct a typo without going to look.
pub fn unknown_port_error(name: &str, ports: &[PortInfo]) -> anyhow::Error {
    if ports.is_empty() {
        return anyhow!("unknown port {name:?}: no serial ports exist on this machine");
    }
    let have: Vec<String> = ports
        .iter()
        .map(|p| format!("{} ({})", p.name, port_label(p)))
        .collect();
    anyhow!("unknown port {name:?}: this kernel has {}", have.join(", "))
}

/// Turns what a user typed into a port name: `ttyS1`, `/dev/ttyS1`, or a symlink such as
/// `/dev/serial/by-id/…` (resolved to its target).
pub(super) fn normalize_name(name: &str) -> String {
    let name = name.trim();
    if name.starts_with('/') {
        if let Ok(real) = fs::canonicalize(name)
            && let Ok(rest) = real.strip_prefix("/dev")
        {
            return rest.to_string_lossy().into_owned();
        }
        if let Some(rest) = name.strip_prefix("/dev/") {
            return rest.to_string();
        }
    }
    name.to_string()
}

/// The ports named, in the order given, without duplicates. Accepts `ttyS1` and `/dev/ttyS1`.
pub fn resolve_ports(names: &[String]) -> anyhow::Result<Vec<PortInfo>> {
    resolve_in(names, &list_ports())
}

pub(super) fn resolve_in(names: &[String], ports: &[PortInfo]) -> anyhow::Result<Vec<PortInfo>> {
    let mut out: Vec<PortInfo> = Vec::new();
    for given in names {
        let name = normalize_name(given);
        let Some(p) = ports.iter().find(|p| p.name == name) else {
            return Err(unknown_port_error(given, ports));
        };
        if !out.iter().any(|o| o.name == p.name) {
            out.push(p.clone());
        }
    }
    Ok(out)
}
