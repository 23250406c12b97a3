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
//!
//! Where each part lives: `discovery.rs` (ports by name, from sysfs and
//! `/proc/tty/drivers`), `proc_counters.rs` (the `/proc/tty/driver/*` parser), `icount.rs`
//! (`TIOCGICOUNT`), `poller.rs` (sampling counters at a fixed rate); this file holds the types
//! they share and [`snapshot`].

mod discovery;
mod icount;
mod poller;
mod proc_counters;
mod setup;
#[cfg(test)]
mod tests;

pub use discovery::{list_ports, resolve_ports, unknown_port_error};
pub use icount::IcountReader;
pub use poller::{CounterPoller, PollSample};
pub use proc_counters::{parse_proc_serial, parse_tty_drivers, read_proc_counters};
pub use setup::{held_termios, port_irqs, port_setups, read_termios};

pub use crate::trace::{Counters, PortSnapshot};

use crate::kernel::clock::mono_now_ns;

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

/// One reading of every port's counters: from /proc when the port is there (opens nothing),
/// else by `TIOCGICOUNT` (opens the port, see [`IcountReader::open`]). Ports whose counters
/// cannot be read are left out.
pub fn snapshot(ports: &[PortInfo]) -> Vec<PortSnapshot> {
    snapshot_of(ports, true)
}

/// [`snapshot`] of the ports /proc has counters for, opening nothing: `monitor` reads it
/// every second, and opening a tty that often would toggle its modem lines (DTR resets many
/// boards).
pub fn snapshot_without_opening(ports: &[PortInfo]) -> Vec<PortSnapshot> {
    snapshot_of(ports, false)
}

fn snapshot_of(ports: &[PortInfo], may_open: bool) -> Vec<PortSnapshot> {
    let proc = read_proc_counters();
    let mut out = Vec::new();
    for p in ports {
        let (source, counters) = match proc.get(&p.name) {
            Some((_, c)) => ("proc", *c),
            None if !may_open => continue,
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
