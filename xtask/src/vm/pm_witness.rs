//! The device PM callbacks a trace recorded, held to the guest kernel's own record of them:
//! ftrace's `power:device_pm_callback_start` lines, printed beside the recorder during the
//! `suspend` scenario. The recorder's programs name each device as the tracepoint does
//! (`dev_name`, `dev_driver_string`), following pointers whose offsets come from BTF; ftrace
//! is the kernel doing the same in C.

use std::collections::BTreeMap;

use serde_json::Value;
use serial_trace_common::TEXT_LEN;

use super::checks::{Check, check};

/// (driver, device) of one callback, cut as the recorder's text slots cut them.
type Callback = (String, String);

/// A recorded string slot holds at most `TEXT_LEN - 1` bytes and its terminator.
fn cut(s: &str) -> String {
    let mut end = s.len().min(TEXT_LEN - 1);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The callbacks of ftrace's lines: `… device_pm_callback_start: <driver> <device>, parent:
/// <parent>, <pm_ops>[<event>]` (the driver may be empty).
pub fn ftrace_callbacks(log: &str) -> BTreeMap<Callback, u64> {
    let mut out = BTreeMap::new();
    for line in log.lines() {
        let Some((_, rest)) = line.split_once(" device_pm_callback_start: ") else {
            continue;
        };
        let Some((names, _)) = rest.split_once(", parent: ") else {
            continue;
        };
        let Some((driver, device)) = names.rsplit_once(' ') else {
            continue;
        };
        *out.entry((cut(driver), cut(device))).or_insert(0) += 1;
    }
    out
}

/// The callbacks of the trace's `device_pm_callback_start` events (`dump --jsonl`).
pub fn recorded_callbacks(dump_jsonl: &str) -> BTreeMap<Callback, u64> {
    let mut out = BTreeMap::new();
    for e in dump_jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "device_pm_callback_start")
    {
        let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
        *out.entry((text("driver"), text("device"))).or_insert(0) += 1;
    }
    out
}

/// Every callback ftrace printed is in the trace under the same names, as many times, and
/// none besides; callbacks the recorder's program missed (counted, `misses`) may be absent,
/// and a witness that overran its buffer proves nothing.
pub fn check_callbacks(
    sc: &str,
    recorded: &BTreeMap<Callback, u64>,
    ftrace: &BTreeMap<Callback, u64>,
    ftrace_overrun: Option<i64>,
    misses: u64,
) -> Check {
    let name = format!("{sc}: device PM callbacks named as the kernel's ftrace names them");
    let total = |m: &BTreeMap<Callback, u64>| m.values().sum::<u64>();
    if ftrace.is_empty() || ftrace_overrun != Some(0) {
        return check(
            name,
            false,
            format!(
                "no usable witness: {} ftrace lines, overrun {ftrace_overrun:?}",
                total(ftrace)
            ),
        );
    }
    let mut only_ftrace = Vec::new();
    let mut only_trace = Vec::new();
    let mut missing = 0;
    for (k, &n) in ftrace {
        let got = recorded.get(k).copied().unwrap_or(0);
        if got < n {
            missing += n - got;
            only_ftrace.push(format!("{k:?}×{}", n - got));
        }
    }
    for (k, &n) in recorded {
        let want = ftrace.get(k).copied().unwrap_or(0);
        if n > want {
            only_trace.push(format!("{k:?}×{}", n - want));
        }
    }
    let ok = only_trace.is_empty() && missing <= misses;
    let sample = |v: &[String]| v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    check(
        name,
        ok,
        if ok {
            let devices = ftrace.len();
            let drivers: std::collections::BTreeSet<&str> = ftrace
                .keys()
                .map(|(d, _)| d.as_str())
                .filter(|d| !d.is_empty())
                .collect();
            format!(
                "{} callbacks of {devices} devices ({} drivers, e.g. {}), {missing} missed of {misses} counted",
                total(recorded),
                drivers.len(),
                drivers
                    .iter()
                    .take(4)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!(
                "{} recorded, {} in ftrace ({misses} misses counted); only in ftrace: [{}]; only in the trace: [{}]",
                total(recorded),
                total(ftrace),
                sample(&only_ftrace),
                sample(&only_trace)
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FTRACE: &str = "\
             sh-160     [000] .....    41.532180: device_pm_callback_start: rtc_cmos 00:05, parent: pnp0, type [suspend]
             sh-160     [000] .....    41.532300: device_pm_callback_start:  input3, parent: serio0, class [suspend]
  kworker/u4:3-61      [001] .....    41.532400: device_pm_callback_start: serial8250 serial8250, parent: platform, driver [suspend]
";

    fn recorded(lines: &[(&str, &str)]) -> String {
        lines
            .iter()
            .map(|(driver, device)| {
                format!(
                    r#"{{"kind":"device_pm_callback_start","driver":"{driver}","device":"{device}","event":2}}"#
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn ftrace_lines_give_driver_and_device_even_without_a_driver() {
        let f = ftrace_callbacks(FTRACE);
        assert_eq!(f.len(), 3);
        assert_eq!(f[&("rtc_cmos".into(), "00:05".into())], 1);
        assert_eq!(f[&("".into(), "input3".into())], 1);
        assert_eq!(f[&("serial8250".into(), "serial8250".into())], 1);
    }

    #[test]
    fn the_same_callbacks_pass_and_any_other_name_fails() {
        let f = ftrace_callbacks(FTRACE);
        let same = recorded_callbacks(&recorded(&[
            ("rtc_cmos", "00:05"),
            ("", "input3"),
            ("serial8250", "serial8250"),
        ]));
        assert!(check_callbacks("suspend", &same, &f, Some(0), 0).ok);
        // a wrong driver: in neither direction explained by a miss
        let wrong = recorded_callbacks(&recorded(&[
            ("rtc_cmos", "00:05"),
            ("i8042", "input3"),
            ("serial8250", "serial8250"),
        ]));
        assert!(!check_callbacks("suspend", &wrong, &f, Some(0), 5).ok);
        // one missing: only a counted miss explains it
        let fewer = recorded_callbacks(&recorded(&[("rtc_cmos", "00:05"), ("", "input3")]));
        assert!(!check_callbacks("suspend", &fewer, &f, Some(0), 0).ok);
        assert!(check_callbacks("suspend", &fewer, &f, Some(0), 1).ok);
        // a witness that overran or printed nothing proves nothing
        assert!(!check_callbacks("suspend", &same, &f, Some(3), 0).ok);
        assert!(!check_callbacks("suspend", &same, &BTreeMap::new(), Some(0), 0).ok);
    }

    #[test]
    fn names_are_cut_as_the_recorder_cuts_them() {
        let long = "a".repeat(40);
        let line = format!(
            " sh-1 [000] ..... 1.0: device_pm_callback_start: drv {long}, parent: x, type [suspend]"
        );
        let f = ftrace_callbacks(&line);
        let (_, device) = f.keys().next().unwrap();
        assert_eq!(device.len(), TEXT_LEN - 1);
    }
}
