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
#[cfg(test)]
mod tests;

pub use discovery::{list_ports, resolve_ports, unknown_port_error};
pub use icount::IcountReader;
pub use poller::{CounterPoller, PollSample};
pub use proc_counters::{parse_proc_serial, parse_tty_drivers, read_proc_counters};

use crate::kernel::clock::mono_now_ns;

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
