//! How each traced port was configured (issue 18, port part): the line settings (`termios`)
//! and the serial driver's view of the UART, stored in the trace header at the start of a
//! recording (`ports/setup.rs` reads them); the changes made while recording are
//! `serial:termios` events carrying a [`Termios`] (`serial-trace-common` `arg::serial_termios`).
//!
//! Flag values are the kernel's asm-generic ones (x86, arm, arm64, riscv): the architectures
//! this tool is built for. Alpha, MIPS, PowerPC and SPARC number them differently.

use serde::{Deserialize, Serialize};

/// A port's line settings as the kernel holds them (`struct ktermios`): what `tcgetattr`
/// returns and what a `tcsetattr` left once the driver applied it (a driver rounds a baud
/// rate it cannot make, or clears a flag it cannot do).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    /// `c_cc[VMIN]`, `c_cc[VTIME]` (tenths of a second): when a non-canonical read returns.
    pub vmin: u8,
    pub vtime: u8,
    /// Bits per second, as the kernel computed them from the settings.
    pub ispeed: u32,
    pub ospeed: u32,
}

/// asm-generic `termbits.h` values.
pub mod flags {
    // c_iflag
    pub const IXON: u32 = 0o2000;
    pub const IXOFF: u32 = 0o10000;
    // c_cflag
    pub const CBAUD: u32 = 0o10017;
    pub const CSIZE: u32 = 0o60;
    pub const CSTOPB: u32 = 0o100;
    pub const CREAD: u32 = 0o200;
    pub const PARENB: u32 = 0o400;
    pub const PARODD: u32 = 0o1000;
    pub const HUPCL: u32 = 0o2000;
    pub const CLOCAL: u32 = 0o4000;
    pub const CMSPAR: u32 = 0o10000000000;
    pub const CRTSCTS: u32 = 0o20000000000;
    // c_lflag
    pub const ICANON: u32 = 0o2;
    pub const ECHO: u32 = 0o10;
    /// `c_cc` indexes.
    pub const VTIME: usize = 5;
    pub const VMIN: usize = 6;
}

/// The `B*` codes of `CBAUD` and their rates, for settings without the speed fields.
const BAUD_CODES: &[(u32, u32)] = &[
    (0o1, 50),
    (0o2, 75),
    (0o3, 110),
    (0o4, 134),
    (0o5, 150),
    (0o6, 200),
    (0o7, 300),
    (0o10, 600),
    (0o11, 1200),
    (0o12, 1800),
    (0o13, 2400),
    (0o14, 4800),
    (0o15, 9600),
    (0o16, 19200),
    (0o17, 38400),
    (0o10001, 57600),
    (0o10002, 115200),
    (0o10003, 230400),
    (0o10004, 460800),
    (0o10005, 500000),
    (0o10006, 576000),
    (0o10007, 921600),
    (0o10010, 1000000),
    (0o10011, 1152000),
    (0o10012, 1500000),
    (0o10013, 2000000),
    (0o10014, 2500000),
    (0o10015, 3000000),
    (0o10016, 3500000),
    (0o10017, 4000000),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    None,
    Even,
    Odd,
    Mark,
    Space,
}

impl Termios {
    /// The settings a `serial:termios` event's slots carry (the eBPF program packs them so).
    pub fn from_slots(args: &[u64]) -> Self {
        use serial_trace_common::arg::serial_termios as a;
        let lo = |v: u64| v as u32;
        let hi = |v: u64| (v >> 32) as u32;
        Termios {
            iflag: lo(args[a::IFLAG_OFLAG]),
            oflag: hi(args[a::IFLAG_OFLAG]),
            cflag: lo(args[a::CFLAG_LFLAG]),
            lflag: hi(args[a::CFLAG_LFLAG]),
            vtime: args[a::VTIME_VMIN] as u8,
            vmin: (args[a::VTIME_VMIN] >> 8) as u8,
            ispeed: args[a::ISPEED] as u32,
            ospeed: args[a::OSPEED] as u32,
        }
    }

    /// Packs the settings into a `serial:termios` event's slots, as [`Termios::from_slots`]
    /// reads them.
    pub fn to_slots(&self, args: &mut [u64]) {
        use serial_trace_common::arg::serial_termios as a;
        args[a::IFLAG_OFLAG] = u64::from(self.iflag) | u64::from(self.oflag) << 32;
        args[a::CFLAG_LFLAG] = u64::from(self.cflag) | u64::from(self.lflag) << 32;
        args[a::VTIME_VMIN] = u64::from(self.vtime) | u64::from(self.vmin) << 8;
        args[a::ISPEED] = u64::from(self.ispeed);
        args[a::OSPEED] = u64::from(self.ospeed);
    }

    /// The receive rate in bits per second (0 = hang up / unknown).
    pub fn baud(&self) -> u32 {
        let speed = if self.ispeed != 0 {
            self.ispeed
        } else {
            self.ospeed
        };
        if speed != 0 {
            return speed;
        }
        let code = self.cflag & flags::CBAUD;
        BAUD_CODES
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0, |(_, b)| *b)
    }

    pub fn char_bits(&self) -> u8 {
        5 + ((self.cflag & flags::CSIZE) >> 4) as u8
    }

    pub fn parity(&self) -> Parity {
        let c = self.cflag;
        match (
            c & flags::PARENB != 0,
            c & flags::CMSPAR != 0,
            c & flags::PARODD != 0,
        ) {
            (false, _, _) => Parity::None,
            (true, false, false) => Parity::Even,
            (true, false, true) => Parity::Odd,
            (true, true, true) => Parity::Mark,
            (true, true, false) => Parity::Space,
        }
    }

    pub fn stop_bits(&self) -> u8 {
        if self.cflag & flags::CSTOPB != 0 {
            2
        } else {
            1
        }
    }

    /// Canonical (line by line) input; off = raw, where VMIN/VTIME decide when `read` returns.
    pub fn canonical(&self) -> bool {
        self.lflag & flags::ICANON != 0
    }

    pub fn rtscts(&self) -> bool {
        self.cflag & flags::CRTSCTS != 0
    }

    /// XOFF sent when the input fills (`IXOFF`); `IXON` is the output side.
    pub fn ixoff(&self) -> bool {
        self.iflag & flags::IXOFF != 0
    }

    pub fn ixon(&self) -> bool {
        self.iflag & flags::IXON != 0
    }

    /// Any flow control that can stop the sender when the receive side fills.
    pub fn input_flow_control(&self) -> bool {
        self.rtscts() || self.ixoff()
    }

    /// A non-canonical read that waits for VMIN bytes with no inter-byte or overall timeout:
    /// it blocks for as long as the device is quiet (unless the file is non-blocking).
    pub fn blocking_read_without_timeout(&self) -> bool {
        !self.canonical() && self.vmin > 0 && self.vtime == 0
    }

    /// The frame a byte takes on the line: start bit, data, parity, stop bits.
    pub fn bits_per_char(&self) -> u32 {
        1 + self.char_bits() as u32
            + u32::from(self.parity() != Parity::None)
            + self.stop_bits() as u32
    }
}

/// One process that held a port open when recording began.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortHolder {
    pub pid: u32,
    pub comm: String,
}

/// A port's configuration when recording began.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSetup {
    pub name: String,
    /// The device's driver (`serial8250`, `uart-pl011`, `ftdi_sio`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The serial driver's view (sysfs, as `TIOCGSERIAL` reports it): UART type name, IRQ,
    /// FIFO size, receive FIFO trigger level (8250), UART clock, port flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uart: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irq: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fifo_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_trigger_bytes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uart_clock: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_flags: Option<u32>,
    /// The device is given DMA channels by the firmware (`dmas` in its device tree node):
    /// the driver may receive by DMA. Absent where the kernel does not tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dma: Option<bool>,
    /// The port's `power/wakeup` (`enabled`/`disabled`; absent: it cannot wake the system).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wakeup: Option<String>,
    /// It is the kernel console.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub console: bool,
    /// Who held it open (the recorder reads the line settings only then: opening an idle port
    /// starts it, raising DTR, which resets many boards).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holders: Vec<PortHolder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termios: Option<Termios>,
}

impl PortSetup {
    /// `ASYNC_LOW_LATENCY` in the port flags: the driver pushes received bytes to the line
    /// discipline at once instead of through the work queue (where the driver honours it).
    pub fn low_latency(&self) -> Option<bool> {
        self.port_flags.map(|f| f & (1 << 13) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_like_stty_says_them() {
        // `stty raw 921600 -crtscts min 1 time 0` on an 8N1 line
        let t = Termios {
            iflag: 0,
            oflag: 0,
            cflag: 0o10007 | 0o60 | flags::CREAD | flags::CLOCAL,
            lflag: 0,
            vmin: 1,
            vtime: 0,
            ispeed: 0,
            ospeed: 0,
        };
        assert_eq!(t.baud(), 921_600);
        assert_eq!(
            (t.char_bits(), t.parity(), t.stop_bits()),
            (8, Parity::None, 1)
        );
        assert!(!t.canonical() && !t.input_flow_control());
        assert!(t.blocking_read_without_timeout());
        assert_eq!(t.bits_per_char(), 10);
        let t = Termios {
            cflag: 0o20 | flags::PARENB | flags::PARODD | flags::CSTOPB | flags::CRTSCTS,
            lflag: flags::ICANON,
            vmin: 1,
            ispeed: 250_000,
            ..t
        };
        assert_eq!(
            (t.baud(), t.char_bits(), t.parity(), t.stop_bits()),
            (250_000, 6, Parity::Odd, 2)
        );
        assert!(t.canonical() && t.rtscts() && !t.blocking_read_without_timeout());
        let mark = Termios {
            cflag: flags::PARENB | flags::CMSPAR | flags::PARODD,
            ..t
        };
        assert_eq!(mark.parity(), Parity::Mark);
    }

    #[test]
    fn settings_survive_the_event_slots() {
        let t = Termios {
            iflag: 0o2000,
            oflag: 4,
            cflag: 0x1cb2,
            lflag: 0x8a30,
            vmin: 3,
            vtime: 7,
            ispeed: 921_600,
            ospeed: 115_200,
        };
        let mut args = [0u64; serial_trace_common::MAX_ARGS];
        t.to_slots(&mut args);
        assert_eq!(Termios::from_slots(&args), t);
    }

    #[test]
    fn low_latency_is_bit_13_of_the_port_flags() {
        let mut p = PortSetup::default();
        assert_eq!(p.low_latency(), None);
        p.port_flags = Some(0x1000_2040);
        assert_eq!(p.low_latency(), Some(true));
        p.port_flags = Some(0x1000_0040);
        assert_eq!(p.low_latency(), Some(false));
    }
}
