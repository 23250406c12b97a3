//! Tests of port discovery, the counter parsers and TIOCGICOUNT, on fixtures and on this machine.

use super::discovery::*;
use super::icount::*;
use super::proc_counters::*;
use super::*;
use crate::kernel::clock::{boot_now_ns, mono_now_ns};
use std::cmp::Ordering;
use std::thread;
use std::time::Duration;

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
