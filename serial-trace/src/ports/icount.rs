//! Counters by `TIOCGICOUNT`: any tty driver that keeps them (USB adapters too), through an open descriptor.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use super::Counters;
use super::discovery::normalize_name;
use crate::kernel::errno;
use anyhow::{anyhow, bail};

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
                    errno::describe(&e)
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
                errno::describe(&e)
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
