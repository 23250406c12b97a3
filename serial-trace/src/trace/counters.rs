//! The kernel's per-port counters as the trace records them (header, trailer, POLL frames):
//! what `ports/` reads and the analysis compares against.

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
    pub(crate) fn delta_wrapping32(&self, earlier: &Counters) -> Counters {
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
