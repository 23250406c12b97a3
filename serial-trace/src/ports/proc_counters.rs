//! The counters serial_core drivers publish in `/proc/tty/driver/<driver>` (root only; opens no port).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::Counters;

/// Every tty driver, its device prefix, major and minors.
pub(super) const PROC_TTY_DRIVERS: &str = "/proc/tty/drivers";
/// One file per serial_core driver, with every port's counters.
const PROC_TTY_DRIVER_DIR: &str = "/proc/tty/driver";

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
pub(super) struct TtyDriverRow {
    pub(super) driver: String,
    /// Last component of the device path: `ttyS` for `/dev/ttyS`.
    pub(super) prefix: String,
    pub(super) major: Option<u32>,
    /// Inclusive minor range (`64-111`, or a single `64`).
    pub(super) minors: Option<(u32, u32)>,
    /// `serial`, `console`, `pty:slave`, `system:/dev/tty`, …
    pub(super) kind: String,
}

pub(super) fn parse_tty_driver_rows(text: &str) -> Vec<TtyDriverRow> {
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
