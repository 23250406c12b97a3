//! A port's line settings over the recording: as they were when it began (the header's
//! [`PortSetup`]), then every `serial:termios` event in order, each with what it changed and
//! who made it — "the reader switched to VMIN=0 just before the drops" is one row.

use serde::{Deserialize, Serialize};
use serial_trace_common::{Event, arg};

use super::serial::{PortReport, port_row};
use crate::trace::{PortSetup, Termios, trim_nul};

names! {
    /// One line setting a change can touch.
    pub enum Setting {
        Baud = "baud",
        CharBits = "char_bits",
        Parity = "parity",
        StopBits = "stop_bits",
        Canonical = "canonical",
        Vmin = "vmin",
        Vtime = "vtime",
        Rtscts = "rtscts",
        Ixon = "ixon",
        Ixoff = "ixoff",
        /// Any other flag (echo, output processing, modem control, …).
        OtherFlags = "other_flags",
    }
}

/// The port's settings after one `tcsetattr` (or as the recorder read them at the stop).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingsChange {
    pub t_boot_ns: u64,
    /// Who made the change (absent for the recorder's reading at the stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
    /// The recorder's own reading at the stop, not a change it saw being made.
    #[serde(default)]
    pub at_stop: bool,
    pub termios: Termios,
    /// What differs from the settings before (the start's, or the previous row's); empty when
    /// the same settings were set again, or nothing was known before.
    pub changed: Vec<Setting>,
}

/// A `serial:termios` event as a row (`changed` is filled by [`attach_setups`]).
pub fn change_of(ev: &Event) -> SettingsChange {
    use arg::serial_termios as a;
    let at_stop = ev.args[a::SOURCE] == a::SOURCE_AT_STOP;
    let who = |v: u32| (!at_stop).then_some(v);
    SettingsChange {
        t_boot_ns: ev.boot_ns,
        pid: who((ev.pid_tgid >> 32) as u32),
        tid: who(ev.pid_tgid as u32),
        comm: (!at_stop).then(|| String::from_utf8_lossy(trim_nul(&ev.comm)).into_owned()),
        at_stop,
        termios: Termios::from_slots(&ev.args),
        changed: Vec::new(),
    }
}

/// What differs between two settings.
pub fn differences(before: &Termios, after: &Termios) -> Vec<Setting> {
    use crate::trace::termios_flags as f;
    let mut out = Vec::new();
    let mut check = |differs: bool, s: Setting| {
        if differs {
            out.push(s);
        }
    };
    check(before.baud() != after.baud(), Setting::Baud);
    check(before.char_bits() != after.char_bits(), Setting::CharBits);
    check(before.parity() != after.parity(), Setting::Parity);
    check(before.stop_bits() != after.stop_bits(), Setting::StopBits);
    check(before.canonical() != after.canonical(), Setting::Canonical);
    check(before.vmin != after.vmin, Setting::Vmin);
    check(before.vtime != after.vtime, Setting::Vtime);
    check(before.rtscts() != after.rtscts(), Setting::Rtscts);
    check(before.ixon() != after.ixon(), Setting::Ixon);
    check(before.ixoff() != after.ixoff(), Setting::Ixoff);
    // everything above, masked out of the flags; the rest is "other"
    let named_c = f::CBAUD | f::CSIZE | f::CSTOPB | f::PARENB | f::PARODD | f::CMSPAR | f::CRTSCTS;
    let named_i = f::IXON | f::IXOFF;
    check(
        before.iflag & !named_i != after.iflag & !named_i
            || before.oflag != after.oflag
            || before.cflag & !named_c != after.cflag & !named_c
            || before.lflag & !f::ICANON != after.lflag & !f::ICANON,
        Setting::OtherFlags,
    );
    out
}

/// Gives each port its setup at the start (a port the header names but no event touched gets a
/// row) and fills every change's `changed` against the settings before it.
pub fn attach_setups(ports: &mut Vec<PortReport>, setups: &[PortSetup]) {
    for setup in setups {
        port_row(ports, &setup.name).setup = Some(setup.clone());
    }
    ports.sort_by(|a, b| a.name.cmp(&b.name));
    for p in ports.iter_mut() {
        let mut before = p.setup.as_ref().and_then(|s| s.termios);
        for c in &mut p.settings_changes {
            c.changed = before.map_or_else(Vec::new, |b| differences(&b, &c.termios));
            before = Some(c.termios);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::termios_flags as f;

    fn raw(vmin: u8, vtime: u8) -> Termios {
        Termios {
            cflag: f::CSIZE | f::CREAD | f::CLOCAL,
            vmin,
            vtime,
            ispeed: 115_200,
            ospeed: 115_200,
            ..Default::default()
        }
    }

    #[test]
    fn a_change_names_what_it_changed() {
        assert_eq!(differences(&raw(1, 0), &raw(1, 0)), []);
        assert_eq!(
            differences(&raw(1, 0), &raw(0, 5)),
            [Setting::Vmin, Setting::Vtime]
        );
        let flow = Termios {
            cflag: raw(1, 0).cflag | f::CRTSCTS | f::HUPCL,
            ispeed: 921_600,
            ..raw(1, 0)
        };
        assert_eq!(
            differences(&raw(1, 0), &flow),
            [Setting::Baud, Setting::Rtscts, Setting::OtherFlags]
        );
    }

    #[test]
    fn changes_are_held_to_the_start_then_to_each_other() {
        use arg::serial_termios as a;
        let event = |vmin: u64, vtime: u64, source: u64| {
            let mut ev = Event::ZERO;
            ev.kind = serial_trace_common::kind::SERIAL_TERMIOS;
            ev.pid_tgid = 42 << 32 | 43;
            ev.comm[..4].copy_from_slice(b"stty");
            ev.args[a::CFLAG_LFLAG] = u64::from(raw(0, 0).cflag);
            ev.args[a::VTIME_VMIN] = vtime | vmin << 8;
            ev.args[a::ISPEED] = 115_200;
            ev.args[a::OSPEED] = 115_200;
            ev.args[a::SOURCE] = source;
            change_of(&ev)
        };
        let mut ports = vec![PortReport {
            name: "ttyS1".into(),
            settings_changes: vec![event(0, 5, a::SOURCE_SET), event(0, 5, a::SOURCE_AT_STOP)],
            ..Default::default()
        }];
        let setup = |name: &str| PortSetup {
            name: name.into(),
            termios: Some(raw(1, 0)),
            ..Default::default()
        };
        attach_setups(&mut ports, &[setup("ttyS1"), setup("ttyS0")]);
        assert_eq!(
            ports.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["ttyS0", "ttyS1"]
        );
        let c = &ports[1].settings_changes;
        assert_eq!(c[0].changed, [Setting::Vmin, Setting::Vtime]);
        assert_eq!(
            (c[0].pid, c[0].tid, c[0].comm.as_deref()),
            (Some(42), Some(43), Some("stty"))
        );
        assert_eq!(c[0].termios, raw(0, 5));
        assert!(c[1].at_stop && c[1].changed.is_empty() && c[1].pid.is_none());
    }
}
