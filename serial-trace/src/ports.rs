//! Serial ports by name, and the kernel's own counters for them.
//!
//! The eBPF hooks see bytes as they move through the driver and the tty layer; the kernel
//! also counts received/sent bytes and line errors (framing, parity, break, hardware overrun,
//! buffer overrun) per port. Those counters are the ground truth a recording is checked
//! against, and on kernels where no eBPF function hook attaches they are all there is: a
//! [`CounterPoller`] samples them at a fixed rate so that at least *when* and *how many*
//! bytes were lost is known.
//!
//! Two ways to read the counters:
//! * `/proc/tty/driver/<driver>` ([`read_proc_counters`]): every serial_core driver publishes
//!   all of its ports there. Reading it opens no port, so it disturbs nothing, but the
//!   directory is readable by root only.
//! * `TIOCGICOUNT` ([`IcountReader`]): works for any tty driver that keeps counters (USB
//!   adapters too), but needs an open file descriptor on the port, and opening a port that
//!   nobody holds starts it.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

/// The per-port counters the kernel keeps (`struct uart_icount` / `serial_icounter_struct`).
///
/// The kernel's counters are 32 bits wide and wrap; they are widened to `u64` here so that
/// deltas and sums never overflow in our own arithmetic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Bytes received by the driver (including ones later dropped).
    pub rx: u64,
    /// Bytes handed to the hardware for sending.
    pub tx: u64,
    /// Framing errors.
    pub frame: u64,
    /// Parity errors.
    pub parity: u64,
    /// Break conditions.
    pub brk: u64,
    /// Hardware (FIFO) overruns: bytes the UART itself lost because nobody read it in time.
    pub overrun: u64,
    /// Buffer overruns: bytes the tty layer dropped because its flip buffer was full.
    pub buf_overrun: u64,
}

impl Counters {
    /// What happened between `earlier` and `self`, field by field. Saturates at zero, so a
    /// counter that went backwards (port re-registered) reads as "nothing happened" rather
    /// than as four billion events.
    pub fn delta(&self, earlier: &Counters) -> Counters {
        Counters {
            rx: self.rx.saturating_sub(earlier.rx),
            tx: self.tx.saturating_sub(earlier.tx),
            frame: self.frame.saturating_sub(earlier.frame),
            parity: self.parity.saturating_sub(earlier.parity),
            brk: self.brk.saturating_sub(earlier.brk),
            overrun: self.overrun.saturating_sub(earlier.overrun),
            buf_overrun: self.buf_overrun.saturating_sub(earlier.buf_overrun),
        }
    }

    /// Like [`Counters::delta`], but for two readings of the kernel's 32-bit counters taken
    /// close together: a counter that wrapped past 2^32 between them yields the true count
    /// instead of zero. At 4 Mbaud `rx` wraps every ~3 hours, so the poller needs this.
    fn delta_wrapping32(&self, earlier: &Counters) -> Counters {
        let d = |now: u64, then: u64| (now as u32).wrapping_sub(then as u32) as u64;
        Counters {
            rx: d(self.rx, earlier.rx),
            tx: d(self.tx, earlier.tx),
            frame: d(self.frame, earlier.frame),
            parity: d(self.parity, earlier.parity),
            brk: d(self.brk, earlier.brk),
            overrun: d(self.overrun, earlier.overrun),
            buf_overrun: d(self.buf_overrun, earlier.buf_overrun),
        }
    }

    /// True when every counter is zero (e.g. a delta in which nothing happened).
    pub fn is_zero(&self) -> bool {
        *self == Counters::default()
    }
}

/// One reading of one port's counters.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortSnapshot {
    /// Port name without `/dev/`, e.g. `ttyS1`.
    pub name: String,
    /// Where the counters came from: `"proc"` (`/proc/tty/driver/…`) or `"ioctl"`
    /// (`TIOCGICOUNT`).
    pub source: String,
    /// CLOCK_MONOTONIC when the counters were read.
    pub mono_ns: u64,
    pub counters: Counters,
}

/// A tty that is backed by a device (a real UART, a USB adapter, or a registered serial_core
/// line without hardware behind it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortInfo {
    /// Name without `/dev/`, e.g. `ttyS1`.
    pub name: String,
    /// Tty driver name as in `/proc/tty/drivers`, e.g. `serial`.
    pub driver: String,
    /// UART type, e.g. `16550A`; `None` when unknown (for serial_core ports this means no
    /// UART was detected behind the line).
    pub uart: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Port enumeration
// ---------------------------------------------------------------------------------------------

const SYS_CLASS_TTY: &str = "/sys/class/tty";
const PROC_TTY_DRIVERS: &str = "/proc/tty/drivers";
const PROC_TTY_DRIVER_DIR: &str = "/proc/tty/driver";

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

fn sort_ports(ports: &mut [PortInfo]) {
    ports.sort_by(|a, b| natural_cmp(&a.name, &b.name));
}

/// Which tty driver owns `/sys/class/tty/<name>`: matched by device number against
/// `/proc/tty/drivers`, else by name prefix, else the sysfs driver link, else "unknown".
fn driver_for(name: &str, sys_path: &Path, rows: &[TtyDriverRow]) -> String {
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
fn natural_cmp(a: &str, b: &str) -> Ordering {
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
fn normalize_name(name: &str) -> String {
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

fn resolve_in(names: &[String], ports: &[PortInfo]) -> anyhow::Result<Vec<PortInfo>> {
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

// ---------------------------------------------------------------------------------------------
// /proc parsers
// ---------------------------------------------------------------------------------------------

/// Parses a serial_core `/proc/tty/driver/<driver>` file into (line, UART type, counters).
///
/// Only lines `N: uart:TYPE …` count; the `serinfo:` header, modem-control flags
/// (`RTS|DTR`) and anything unrecognised are ignored. The kernel prints only non-zero error
/// counters and none at all for `uart:unknown` lines, so missing fields are 0. Values are
/// printed with `%d` from 32-bit unsigned counters and can appear negative once past 2^31;
/// they are taken back modulo 2^32.
pub fn parse_proc_serial(text: &str) -> Vec<(u32, Option<String>, Counters)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((idx, rest)) = line.trim().split_once(':') else {
            continue;
        };
        let Ok(idx) = idx.trim().parse::<u32>() else {
            continue;
        };
        let mut uart: Option<Option<String>> = None;
        let mut c = Counters::default();
        for tok in rest.split_whitespace() {
            let Some((key, val)) = tok.split_once(':') else {
                continue;
            };
            if key == "uart" {
                uart = Some((!val.is_empty() && val != "unknown").then(|| val.to_string()));
                continue;
            }
            let field = match key {
                "tx" => &mut c.tx,
                "rx" => &mut c.rx,
                "fe" => &mut c.frame,
                "pe" => &mut c.parity,
                "brk" => &mut c.brk,
                "oe" => &mut c.overrun,
                "bo" => &mut c.buf_overrun,
                _ => continue,
            };
            if let Ok(v) = val.parse::<i64>() {
                *field = v as u32 as u64;
            }
        }
        if let Some(uart) = uart {
            out.push((idx, uart, c));
        }
    }
    out
}

/// One row of `/proc/tty/drivers`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TtyDriverRow {
    driver: String,
    /// Last component of the device path: `ttyS` for `/dev/ttyS`.
    prefix: String,
    major: Option<u32>,
    /// Inclusive minor range (`64-111`, or a single `64`).
    minors: Option<(u32, u32)>,
    /// `serial`, `console`, `pty:slave`, `system:/dev/tty`, …
    kind: String,
}

fn parse_tty_driver_rows(text: &str) -> Vec<TtyDriverRow> {
    let mut out = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 2 || !cols[1].starts_with("/dev/") {
            continue;
        }
        let prefix = cols[1]
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        let major = cols.get(2).and_then(|m| m.parse().ok());
        let minors = cols.get(3).and_then(|m| match m.split_once('-') {
            Some((lo, hi)) => Some((lo.parse().ok()?, hi.parse().ok()?)),
            None => {
                let v = m.parse().ok()?;
                Some((v, v))
            }
        });
        out.push(TtyDriverRow {
            driver: cols[0].to_string(),
            prefix,
            major,
            minors,
            kind: cols.get(4).map(|s| s.to_string()).unwrap_or_default(),
        });
    }
    out
}

/// Parses `/proc/tty/drivers` into (driver name, device prefix), e.g. (`serial`, `ttyS`).
/// Every row is kept; the ones whose type is `serial` are the ones that matter here.
pub fn parse_tty_drivers(text: &str) -> Vec<(String, String)> {
    parse_tty_driver_rows(text)
        .into_iter()
        .map(|r| (r.driver, r.prefix))
        .collect()
}

/// Counters of every serial_core port, keyed by port name (`ttyS1`), read from
/// `/proc/tty/driver/*` without opening any port. Empty when not root or when no driver
/// publishes such a file.
pub fn read_proc_counters() -> BTreeMap<String, (Option<String>, Counters)> {
    let mut out = BTreeMap::new();
    let Ok(text) = fs::read_to_string(PROC_TTY_DRIVERS) else {
        return out;
    };
    let mut seen = Vec::new();
    for (driver, prefix) in parse_tty_drivers(&text) {
        // Names like "/dev/tty" would make Path::join escape /proc/tty/driver.
        if driver.is_empty()
            || driver.contains('/')
            || driver == "."
            || driver == ".."
            || prefix.is_empty()
            || seen.contains(&driver)
        {
            continue;
        }
        seen.push(driver.clone());
        let Ok(body) = fs::read_to_string(Path::new(PROC_TTY_DRIVER_DIR).join(&driver)) else {
            continue;
        };
        // usbserial and others publish a different format under the same directory.
        if !body.starts_with("serinfo:") {
            continue;
        }
        for (line, uart, counters) in parse_proc_serial(&body) {
            out.insert(format!("{prefix}{line}"), (uart, counters));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// TIOCGICOUNT
// ---------------------------------------------------------------------------------------------

/// `struct serial_icounter_struct` from `<linux/serial.h>`.
#[repr(C)]
#[derive(Default)]
struct SerialIcounter {
    cts: libc::c_int,
    dsr: libc::c_int,
    rng: libc::c_int,
    dcd: libc::c_int,
    rx: libc::c_int,
    tx: libc::c_int,
    frame: libc::c_int,
    overrun: libc::c_int,
    parity: libc::c_int,
    brk: libc::c_int,
    buf_overrun: libc::c_int,
    reserved: [libc::c_int; 9],
}

fn errno_name(code: i32) -> Option<&'static str> {
    Some(match code {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => return None,
    })
}

/// "EINVAL: Invalid argument (os error 22)".
fn describe_errno(err: &io::Error) -> String {
    match err.raw_os_error().and_then(errno_name) {
        Some(name) => format!("{name}: {err}"),
        None => err.to_string(),
    }
}

/// Reads a port's counters with `TIOCGICOUNT` through a descriptor held open for its lifetime.
pub struct IcountReader {
    name: String,
    file: fs::File,
}

impl IcountReader {
    /// Opens `/dev/<name>` for `TIOCGICOUNT`.
    ///
    /// The ioctl needs an open file, and opening a port that nobody holds starts it: the
    /// driver powers the UART up, enables its interrupt and (when a baud rate is set) raises
    /// DTR/RTS; the last close drops them again if HUPCL is set. Holding one descriptor for as
    /// long as counters are wanted avoids toggling the lines on every reading. `O_NONBLOCK`
    /// keeps the open from waiting for carrier, `O_NOCTTY` keeps the port from becoming our
    /// controlling terminal, `O_RDONLY` because nothing is ever written.
    pub fn open(name: &str) -> anyhow::Result<Self> {
        let name = normalize_name(name);
        let path = format!("/dev/{name}");
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| {
                let hint = match e.raw_os_error() {
                    Some(libc::ENOENT) => " (no such device node)",
                    Some(libc::EACCES) | Some(libc::EPERM) => {
                        " (run as root or join the port's group)"
                    }
                    Some(libc::EBUSY) => " (someone holds it exclusively, TIOCEXCL)",
                    Some(libc::EIO) | Some(libc::ENXIO) | Some(libc::ENODEV) => {
                        " (no hardware behind this port)"
                    }
                    _ => "",
                };
                anyhow!(
                    "port {name}: cannot open {path}: {}{hint}",
                    describe_errno(&e)
                )
            })?;
        Ok(IcountReader { name, file })
    }

    /// One reading of the port's counters.
    pub fn read(&self) -> anyhow::Result<Counters> {
        let mut ic = SerialIcounter::default();
        // SAFETY: TIOCGICOUNT writes one serial_icounter_struct to the pointer; `ic` is a
        // properly sized and aligned repr(C) copy of it. libc::TIOCGICOUNT is 0x545D on most
        // architectures and carries the right value on the ones where it differs (mips).
        let rc = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                libc::TIOCGICOUNT,
                &mut ic as *mut SerialIcounter,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            let hint = match e.raw_os_error() {
                Some(libc::EINVAL) | Some(libc::ENOTTY) => {
                    ": its tty driver does not keep counters (ptys, virtual consoles and some \
                     USB adapters don't)"
                }
                Some(libc::EIO) => ": the port reports an I/O error (no UART, or hung up)",
                _ => "",
            };
            bail!(
                "port {}: TIOCGICOUNT failed: {}{hint}",
                self.name,
                describe_errno(&e)
            );
        }
        // The kernel's counters are unsigned 32-bit; the struct declares them int.
        let w = |v: libc::c_int| v as u32 as u64;
        Ok(Counters {
            rx: w(ic.rx),
            tx: w(ic.tx),
            frame: w(ic.frame),
            parity: w(ic.parity),
            brk: w(ic.brk),
            overrun: w(ic.overrun),
            buf_overrun: w(ic.buf_overrun),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots and clocks
// ---------------------------------------------------------------------------------------------

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec; both clocks used here always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// CLOCK_MONOTONIC in nanoseconds (stops during suspend; what bpf_ktime_get_ns returns).
pub fn mono_now_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CLOCK_BOOTTIME in nanoseconds (keeps counting through suspend; bpf_ktime_get_boot_ns).
pub fn boot_now_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME)
}

/// One reading of every port's counters: from /proc when the port is there (opens nothing),
/// else by `TIOCGICOUNT` (opens the port, see [`IcountReader::open`]). Ports whose counters
/// cannot be read are left out.
pub fn snapshot(ports: &[PortInfo]) -> Vec<PortSnapshot> {
    let proc = read_proc_counters();
    let mut out = Vec::new();
    for p in ports {
        let (source, counters) = match proc.get(&p.name) {
            Some((_, c)) => ("proc", *c),
            None => match IcountReader::open(&p.name).and_then(|r| r.read()) {
                Ok(c) => ("ioctl", c),
                Err(_) => continue,
            },
        };
        out.push(PortSnapshot {
            name: p.name.clone(),
            source: source.to_string(),
            mono_ns: mono_now_ns(),
            counters,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Poller
// ---------------------------------------------------------------------------------------------

/// Counters of one port that changed between two consecutive samples.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PollSample {
    pub port: String,
    /// CLOCK_MONOTONIC when the counters were read.
    pub mono_ns: u64,
    /// CLOCK_BOOTTIME at the same moment.
    pub boot_ns: u64,
    /// Time since the previous reading of this port: the window `delta` covers.
    pub interval_ns: u64,
    pub delta: Counters,
}

/// Highest sampling rate accepted: each sample is a few syscalls per port, and rates beyond
/// this only measure the poller itself.
const MAX_POLL_HZ: u32 = 10_000;

enum PollSource {
    Proc,
    Ioctl(IcountReader),
    /// Scripted readings for the poller's own tests.
    #[cfg(test)]
    Fake(Box<dyn FnMut() -> Option<Counters> + Send>),
}

struct PolledPort {
    name: String,
    source: PollSource,
    /// Previous reading: (mono_ns, counters). None until the baseline is taken.
    last: Option<(u64, Counters)>,
}

/// Samples ports' kernel counters at a fixed rate on its own thread, for kernels where no
/// eBPF function hook works: it cannot say which bytes were lost or where, but it bounds
/// when and how many.
pub struct CounterPoller {
    rx: mpsc::Receiver<PollSample>,
    stop_tx: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    taken: Arc<AtomicU64>,
}

impl CounterPoller {
    /// Starts sampling `ports` `hz` times a second. Ports found in /proc/tty/driver are read
    /// there; the others get an [`IcountReader`] opened now and held until [`stop`]. Fails if
    /// some port's counters cannot be read at all. The first sample is only the baseline.
    ///
    /// [`stop`]: CounterPoller::stop
    pub fn start(ports: Vec<PortInfo>, hz: u32) -> anyhow::Result<CounterPoller> {
        if hz == 0 || hz > MAX_POLL_HZ {
            bail!("counter polling rate must be 1..={MAX_POLL_HZ} Hz, not {hz}");
        }
        if ports.is_empty() {
            bail!("no ports to poll");
        }
        let proc = read_proc_counters();
        let mut polled = Vec::new();
        for p in ports {
            if polled.iter().any(|q: &PolledPort| q.name == p.name) {
                continue;
            }
            let source = if proc.contains_key(&p.name) {
                PollSource::Proc
            } else {
                let r = IcountReader::open(&p.name)?;
                r.read()
                    .with_context(|| format!("cannot poll the counters of {}", p.name))?;
                PollSource::Ioctl(r)
            };
            polled.push(PolledPort {
                name: p.name,
                source,
                last: None,
            });
        }
        Self::spawn(polled, hz)
    }

    fn spawn(polled: Vec<PolledPort>, hz: u32) -> anyhow::Result<CounterPoller> {
        let period = Duration::from_nanos(1_000_000_000 / u64::from(hz));
        let (tx, rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let taken = Arc::new(AtomicU64::new(0));
        let taken2 = Arc::clone(&taken);
        let thread = thread::Builder::new()
            .name("counter-poll".into())
            .spawn(move || poll_loop(polled, period, tx, stop_rx, taken2))
            .context("cannot start the counter polling thread")?;
        Ok(CounterPoller {
            rx,
            stop_tx: Some(stop_tx),
            thread: Some(thread),
            taken,
        })
    }

    /// Every sample produced since the last call; never blocks.
    pub fn drain(&self) -> Vec<PollSample> {
        self.rx.try_iter().collect()
    }

    /// Sampling rounds completed so far, the baseline included (changed or not).
    pub fn samples_taken(&self) -> u64 {
        self.taken.load(AtomicOrdering::Relaxed)
    }

    /// Stops the thread and waits for it. Samples not yet drained are discarded; call
    /// [`drain`](CounterPoller::drain) first to keep them.
    /// Stops sampling after one final sample; returns every sample not yet drained.
    pub fn stop(mut self) -> Vec<PollSample> {
        self.shutdown();
        self.drain()
    }

    fn shutdown(&mut self) {
        // Dropping the sender wakes the thread out of recv_timeout at once.
        self.stop_tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CounterPoller {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn poll_loop(
    mut ports: Vec<PolledPort>,
    period: Duration,
    tx: mpsc::Sender<PollSample>,
    stop_rx: mpsc::Receiver<()>,
    taken: Arc<AtomicU64>,
) {
    let need_proc = ports.iter().any(|p| matches!(p.source, PollSource::Proc));
    let mut next = Instant::now();
    // After a stop request one more sample is taken, so the samples add up to the counters
    // at the moment recording ended.
    let mut last_round = false;
    loop {
        let proc = if need_proc {
            Some(read_proc_counters())
        } else {
            None
        };
        let proc_mono = mono_now_ns();
        let proc_boot = boot_now_ns();
        for p in &mut ports {
            let (now, boot, counters) = match &mut p.source {
                PollSource::Proc => match proc.as_ref().and_then(|m| m.get(&p.name)) {
                    Some((_, c)) => (proc_mono, proc_boot, *c),
                    // Transient read failure: keep the baseline, the next delta covers both.
                    None => continue,
                },
                PollSource::Ioctl(r) => match r.read() {
                    Ok(c) => (mono_now_ns(), boot_now_ns(), c),
                    Err(_) => continue,
                },
                #[cfg(test)]
                PollSource::Fake(f) => match f() {
                    Some(c) => (mono_now_ns(), boot_now_ns(), c),
                    None => continue,
                },
            };
            if let Some((then, before)) = p.last {
                let delta = counters.delta_wrapping32(&before);
                if !delta.is_zero() {
                    let s = PollSample {
                        port: p.name.clone(),
                        mono_ns: now,
                        boot_ns: boot,
                        interval_ns: now.saturating_sub(then),
                        delta,
                    };
                    if tx.send(s).is_err() {
                        return; // the poller is gone
                    }
                }
            }
            p.last = Some((now, counters));
        }
        taken.fetch_add(1, AtomicOrdering::Relaxed);

        // Deadline-based: the next tick is one period after the previous *deadline*, not
        // after the work, so the rate does not drift. If we fell behind (stopped VM, loaded
        // machine), skip the missed ticks rather than firing them back to back.
        next += period;
        let now = Instant::now();
        if next <= now {
            let behind = (now - next).as_nanos();
            let skip = behind / period.as_nanos().max(1) + 1;
            let skip_ns = (skip * period.as_nanos()).min(u64::MAX as u128) as u64;
            next += Duration::from_nanos(skip_ns);
        }
        if last_round {
            return;
        }
        match stop_rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // stop() dropped the sender (or sent something): one final sample, then end.
            _ => last_round = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_SERIAL: &str = "\
serinfo:1.0 driver revision:
0: uart:16550A port:000003F8 irq:4 tx:1234 rx:0 RTS|DTR|DSR|CD
1: uart:16550A port:000002F8 irq:3 tx:0 rx:2000000 fe:1 pe:2 brk:3 oe:4 bo:685184 RTS|DTR
2: uart:unknown port:000003E8 irq:4
3: uart:16550A mmio:0xFE215040 irq:29 tx:5 rx:-1
garbage here
x: uart:16550A tx:9
4 uart:16550A tx:9
5: not a port line
";

    const TTY_DRIVERS: &str = "\
/dev/tty             /dev/tty        5       0 system:/dev/tty
/dev/console         /dev/console    5       1 system:console
/dev/ptmx            /dev/ptmx       5       2 system
/dev/vc/0            /dev/vc/0       4       0 system:vtmaster
serial               /dev/ttyS       4 64-111 serial
usbserial            /dev/ttyUSB   188 0-511 serial
pty_slave            /dev/pts      136 0-1048575 pty:slave
pty_master           /dev/ptm      128 0-1048575 pty:master
unknown              /dev/tty        4 1-63 console
not a driver line
";

    fn port(name: &str, driver: &str, uart: Option<&str>) -> PortInfo {
        PortInfo {
            name: name.into(),
            driver: driver.into(),
            uart: uart.map(String::from),
        }
    }

    #[test]
    fn parses_proc_serial() {
        let v = parse_proc_serial(PROC_SERIAL);
        assert_eq!(v.len(), 4, "{v:?}");
        assert_eq!(v[0].0, 0);
        assert_eq!(v[0].1.as_deref(), Some("16550A"));
        assert_eq!(
            v[0].2,
            Counters {
                tx: 1234,
                ..Default::default()
            }
        );
        assert_eq!(
            v[1].2,
            Counters {
                rx: 2_000_000,
                tx: 0,
                frame: 1,
                parity: 2,
                brk: 3,
                overrun: 4,
                buf_overrun: 685_184,
            }
        );
        assert_eq!(v[2], (2, None, Counters::default()));
        // %d of a u32 past 2^31 comes back modulo 2^32.
        assert_eq!(v[3].0, 3);
        assert_eq!(v[3].2.rx, u32::MAX as u64);
        assert_eq!(v[3].2.tx, 5);
    }

    #[test]
    fn proc_serial_empty_and_header_only() {
        assert!(parse_proc_serial("").is_empty());
        assert!(parse_proc_serial("serinfo:1.0 driver revision:\n").is_empty());
    }

    #[test]
    fn parses_tty_drivers() {
        let v = parse_tty_drivers(TTY_DRIVERS);
        assert_eq!(v.len(), 9);
        assert_eq!(v[0], ("/dev/tty".to_string(), "tty".to_string()));
        assert_eq!(v[3], ("/dev/vc/0".to_string(), "0".to_string()));
        assert_eq!(v[4], ("serial".to_string(), "ttyS".to_string()));
        assert_eq!(v[5], ("usbserial".to_string(), "ttyUSB".to_string()));
        assert_eq!(v[6], ("pty_slave".to_string(), "pts".to_string()));

        let rows = parse_tty_driver_rows(TTY_DRIVERS);
        let serial = &rows[4];
        assert_eq!(serial.major, Some(4));
        assert_eq!(serial.minors, Some((64, 111)));
        assert_eq!(serial.kind, "serial");
        assert_eq!(rows[0].minors, Some((0, 0)));
        assert_eq!(rows[8].kind, "console");
    }

    #[test]
    fn single_minor_row() {
        let rows = parse_tty_driver_rows("serial               /dev/ttyS       4      64 serial\n");
        assert_eq!(rows[0].minors, Some((64, 64)));
    }

    #[test]
    fn delta_and_zero() {
        let a = Counters {
            rx: 10,
            tx: 5,
            frame: 1,
            parity: 0,
            brk: 0,
            overrun: 2,
            buf_overrun: 7,
        };
        let b = Counters {
            rx: 25,
            tx: 5,
            frame: 1,
            parity: 3,
            brk: 1,
            overrun: 2,
            buf_overrun: 100,
        };
        assert_eq!(
            b.delta(&a),
            Counters {
                rx: 15,
                tx: 0,
                frame: 0,
                parity: 3,
                brk: 1,
                overrun: 0,
                buf_overrun: 93,
            }
        );
        assert!(a.delta(&a).is_zero());
        assert!(!b.delta(&a).is_zero());
        // Backwards saturates.
        assert!(a.delta(&b).rx == 0 && a.delta(&b).tx == 0);
        assert!(Counters::default().is_zero());
    }

    #[test]
    fn wrapping_delta_across_2_pow_32() {
        let before = Counters {
            rx: u32::MAX as u64 - 9,
            ..Default::default()
        };
        let after = Counters {
            rx: 20,
            ..Default::default()
        };
        assert_eq!(after.delta_wrapping32(&before).rx, 30);
        assert_eq!(after.delta(&before).rx, 0);
    }

    #[test]
    fn natural_sort() {
        let mut p: Vec<PortInfo> = ["ttyS10", "ttyUSB0", "ttyS2", "ttyAMA0", "ttyS1", "ttyS02"]
            .iter()
            .map(|n| port(n, "serial", None))
            .collect();
        sort_ports(&mut p);
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["ttyAMA0", "ttyS1", "ttyS2", "ttyS02", "ttyS10", "ttyUSB0"]
        );
        assert_eq!(natural_cmp("ttyS", "ttyS0"), Ordering::Less);
        assert_eq!(natural_cmp("ttyS9", "ttyS9"), Ordering::Equal);
    }

    #[test]
    fn unknown_port_message() {
        let ports = vec![
            port("ttyS0", "serial", Some("16550A")),
            port("ttyS1", "serial", Some("16550A")),
            port("ttyS2", "serial", None),
            port("ttyS3", "serial", None),
        ];
        assert_eq!(
            unknown_port_error("ttyS9", &ports).to_string(),
            "unknown port \"ttyS9\": this kernel has ttyS0 (16550A), ttyS1 (16550A), \
             ttyS2 (no UART), ttyS3 (no UART)"
        );
        assert_eq!(
            unknown_port_error("ttyS9", &[]).to_string(),
            "unknown port \"ttyS9\": no serial ports exist on this machine"
        );
        let usb = [port("ttyUSB0", "usbserial", None)];
        assert!(
            unknown_port_error("x", &usb)
                .to_string()
                .ends_with("ttyUSB0 (usbserial)")
        );
    }

    #[test]
    fn resolves_names() {
        let ports = vec![
            port("ttyS0", "serial", Some("16550A")),
            port("ttyS1", "serial", None),
        ];
        let got = resolve_in(
            &["/dev/ttyS1".into(), "ttyS0".into(), "ttyS1".into()],
            &ports,
        )
        .unwrap();
        assert_eq!(got, vec![ports[1].clone(), ports[0].clone()]);
        let err = resolve_in(&["ttyS0".into(), "/dev/ttyS7".into()], &ports).unwrap_err();
        assert!(
            err.to_string().starts_with("unknown port \"/dev/ttyS7\""),
            "{err}"
        );
    }

    #[test]
    fn clocks_advance() {
        let (m1, b1) = (mono_now_ns(), boot_now_ns());
        let (m2, b2) = (mono_now_ns(), boot_now_ns());
        assert!(m1 > 0 && m2 >= m1);
        assert!(b2 >= b1 && b1 >= m1);
    }

    #[test]
    fn pty_has_no_counters() {
        // A pty master opened through /dev/ptmx: TIOCGICOUNT is refused.
        let Ok(r) = IcountReader::open("/dev/ptmx") else {
            return;
        };
        let err = r.read().unwrap_err().to_string();
        assert!(err.contains("ptmx"), "{err}");
        assert!(err.contains("does not keep counters"), "{err}");
        assert!(err.contains("ENOTTY") || err.contains("EINVAL"), "{err}");
    }

    #[test]
    fn missing_device_names_port_and_errno() {
        let err = IcountReader::open("ttyNoSuchPort99")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("ttyNoSuchPort99") && err.contains("ENOENT"),
            "{err}"
        );
    }

    #[test]
    fn poller_rejects_bad_arguments() {
        assert!(CounterPoller::start(vec![port("ttyS0", "serial", None)], 0).is_err());
        assert!(CounterPoller::start(Vec::new(), 10).is_err());
    }

    #[test]
    fn poller_reports_changes_only() {
        // Reading k: rx grows by 10 on every third reading; the 5th reading fails.
        let mut k = 0u64;
        let fake = move || {
            k += 1;
            (k != 5).then_some(Counters {
                rx: 10 * (k / 3),
                ..Default::default()
            })
        };
        let polled = vec![PolledPort {
            name: "fake0".into(),
            source: PollSource::Fake(Box::new(fake)),
            last: None,
        }];
        let poller = CounterPoller::spawn(polled, 200).unwrap();
        let t0 = Instant::now();
        while poller.samples_taken() < 12 && t0.elapsed() < Duration::from_secs(10) {
            thread::sleep(Duration::from_millis(5));
        }
        let n = poller.samples_taken();
        let samples = poller.drain();
        poller.stop();
        assert!(n >= 12, "{n}");
        // Readings 3, 6, 9, 12 change rx (1 and 2 are baseline and unchanged).
        assert!(samples.len() >= 4, "{samples:?}");
        for s in &samples {
            assert_eq!(s.port, "fake0");
            assert_eq!(s.delta.rx, 10, "{s:?}");
            assert!(s.interval_ns > 0 && s.boot_ns >= s.mono_ns);
            assert!(Counters { rx: 0, ..s.delta }.is_zero());
        }
        // Reading 5 failed, so the change at 6 is measured from reading 4: more than one
        // period (5 ms at 200 Hz) back, however late the thread ran.
        assert!(samples[1].interval_ns > 5_000_000, "{samples:?}");
    }

    #[test]
    fn poller_stops_promptly_at_low_rate() {
        let polled = vec![PolledPort {
            name: "fake0".into(),
            source: PollSource::Fake(Box::new(|| Some(Counters::default()))),
            last: None,
        }];
        let poller = CounterPoller::spawn(polled, 1).unwrap();
        thread::sleep(Duration::from_millis(50));
        let t0 = Instant::now();
        poller.stop();
        assert!(t0.elapsed() < Duration::from_millis(500));
    }

    /// Runs against this machine's kernel. The VM this is developed on has /dev/ttyS0 (a
    /// 16550A) and /proc/tty/driver/serial.
    #[test]
    fn this_machine() {
        let ports = list_ports();
        for w in ports.windows(2) {
            assert_ne!(natural_cmp(&w[0].name, &w[1].name), Ordering::Greater);
        }
        for p in &ports {
            assert!(!p.name.starts_with("pts") && p.name != "console" && p.name != "ptmx");
        }
        if unsafe { libc::geteuid() } == 0 {
            let proc = read_proc_counters();
            assert!(proc.contains_key("ttyS0"), "{proc:?}");
            let ttys0: Vec<PortInfo> = ports
                .iter()
                .filter(|p| p.name == "ttyS0")
                .cloned()
                .collect();
            assert_eq!(ttys0.len(), 1, "{ports:?}");
            assert_eq!(ttys0[0].driver, "serial");
            let snap = snapshot(&ttys0);
            assert_eq!(snap.len(), 1);
            assert_eq!(snap[0].source, "proc");

            // The poller reads ttyS0 from /proc (opens nothing) and keeps its rate.
            let poller = CounterPoller::start(ttys0, 100).unwrap();
            thread::sleep(Duration::from_millis(200));
            let n = poller.samples_taken();
            let _ = poller.drain();
            poller.stop();
            assert!((2..=60).contains(&n), "{n} samples in 200 ms at 100 Hz");
        }
    }
}
