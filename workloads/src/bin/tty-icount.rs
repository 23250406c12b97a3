//! tty-icount: prints a tty's interrupt counters as the kernel keeps them (`TIOCGICOUNT`), for
//! ports whose driver publishes no `/proc/tty/driver` counters (usbserial). The VM checks hold
//! serial-trace to these numbers, read independently of the tool.
//!
//! Usage: `tty-icount /dev/ttyUSB0` prints `rx=… tx=… frame=… parity=… brk=… overrun=…
//! buf_overrun=…`; `tty-icount /dev/ttyUSB0 rx` prints the one number.
//!
//! Open the port only while something else holds it open: a first open starts the port (and
//! QEMU's FTDI adapter resets its buffer at open).

use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

/// `struct serial_icounter_struct` from `<linux/serial.h>` (not in the libc crate). Declared
/// here again rather than shared with serial-trace: the ground truth reads the kernel on its own.
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

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: tty-icount /dev/TTY [rx|tx|frame|parity|brk|overrun|buf_overrun]");
        std::process::exit(2);
    };
    let field = args.next();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&path)
        .unwrap_or_else(|e| {
            eprintln!("tty-icount: {path}: {e}");
            std::process::exit(1);
        });
    let mut c = SerialIcounter::default();
    // SAFETY: the kernel writes one serial_icounter_struct into `c`.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::TIOCGICOUNT, &mut c) } != 0 {
        eprintln!(
            "tty-icount: {path}: TIOCGICOUNT: {}",
            std::io::Error::last_os_error()
        );
        std::process::exit(1);
    }
    let all = [
        ("rx", c.rx),
        ("tx", c.tx),
        ("frame", c.frame),
        ("parity", c.parity),
        ("brk", c.brk),
        ("overrun", c.overrun),
        ("buf_overrun", c.buf_overrun),
    ];
    match field {
        Some(f) => match all.iter().find(|(n, _)| *n == f) {
            // the kernel's counters are `int`s that wrap: shown as the unsigned count
            Some((_, v)) => println!("{}", *v as u32),
            None => {
                eprintln!("tty-icount: unknown field {f:?}");
                std::process::exit(2);
            }
        },
        None => {
            let line: Vec<String> = all
                .iter()
                .map(|(n, v)| format!("{n}={}", *v as u32))
                .collect();
            println!("{}", line.join(" "));
        }
    }
}
