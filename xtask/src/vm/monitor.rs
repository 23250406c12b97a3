//! The `monitor` scenario's checks: `serial-trace monitor` beside the scenario's recorder,
//! a drop trigger on the flooded port, metrics fetched in the guest. The truth is the guest's:
//! the kernel's `buf_overrun` delta over the flood, the suspend cycles it performed, how
//! often the monitor said its trigger fired. The saved window is read as the typed report
//! (`report --format json`).

use std::collections::BTreeMap;

use serial_trace::analysis::Report;

use super::checks::{self, Check, check};

/// What the window may hold besides the monitor's own memory once attached: the window
/// itself (the scenario's `--memory 4M`) and the analysis of it that the trigger and the
/// metrics run every second.
const GROWTH_KB: u64 = (4 + 8) * 1024;

fn num(facts: &BTreeMap<String, String>, key: &str) -> Option<i64> {
    facts.get(key).and_then(|v| v.parse().ok())
}

/// `window`: the report of the one window the guest saved, if it saved one; `method`: how the
/// serial hooks attached (kprobes may skip calls, each counted: then every byte missing from
/// the window and the metrics must be one of those counted skips, as for a recording).
pub fn checks(
    sc: &str,
    window: Option<&Report>,
    facts: &BTreeMap<String, String>,
    method: &str,
) -> Vec<Check> {
    let port = facts.get("port").map_or("ttyS1", String::as_str);
    let rule = format!("drops[{port}]>0");
    let bo = num(facts, "bo");
    let cycles = num(facts, "rtc_cycles");
    let mut out = vec![
        check(
            format!("{sc}: the monitor stopped cleanly"),
            num(facts, "monitor_rc") == Some(0),
            format!("exit status {:?}", facts.get("monitor_rc")),
        ),
        check(
            format!("{sc}: the drop trigger fired once, while the flood dropped"),
            num(facts, "fired_before_stop") == Some(1) && num(facts, "metrics_fired") == Some(1),
            format!(
                "the monitor's log says {:?} times, its metrics {:?}",
                facts.get("fired_before_stop"),
                facts.get("metrics_fired")
            ),
        ),
    ];
    let windows = num(facts, "windows");
    let Some(w) = window.filter(|_| windows == Some(1)) else {
        out.push(check(
            format!("{sc}: one window saved"),
            false,
            format!("{windows:?} windows saved"),
        ));
        return out;
    };
    let by = w.trace.saved_by.as_ref();
    out.push(check(
        format!("{sc}: one window saved, by the drop trigger"),
        by.is_some_and(|b| b.rule == rule && b.value.is_some_and(|v| v > 0)),
        format!("saved by {by:?}"),
    ));
    let Some(row) = w.ports.iter().find(|p| p.name == port) else {
        out.push(check(
            format!("{sc}: {port} in the window"),
            false,
            format!(
                "ports: {:?}",
                w.ports.iter().map(|p| &p.name).collect::<Vec<_>>()
            ),
        ));
        return out;
    };
    // the window spans the monitor's start to its stop: the recording's rule holds for it
    let held = checks::drops_equal_kernel(sc, w, row, facts, method);
    out.push(check(
        format!(
            "{sc}: the window's {port} drops = the kernel's buf_overrun{}",
            kprobes(method)
        ),
        held.ok,
        held.detail,
    ));
    let skipped = checks::drop_hook_skips(w);
    let metric = num(facts, "metrics_dropped");
    out.push(check(
        format!("{sc}: the metrics' dropped bytes = the kernel's buf_overrun{}", kprobes(method)),
        match (metric, bo) {
            (Some(m), Some(bo)) if method == "kprobe" => m <= bo && bo - m <= skipped,
            (Some(m), Some(bo)) => m == bo,
            _ => false,
        },
        format!(
            "serial_trace_serial_dropped_bytes_total{{port=\"{port}\"}} {metric:?}, guest's bo delta {bo:?}; drop-hook calls the kernel skipped: {skipped}"
        ),
    ));
    let windows_bytes: u64 = w
        .drops
        .iter()
        .filter(|d| d.port == port)
        .map(|d| d.bytes)
        .sum();
    out.push(check(
        format!("{sc}: the metrics' dropped bytes by cause = the window's drop windows"),
        num(facts, "metrics_by_cause") == Some(windows_bytes as i64),
        format!(
            "serial_trace_serial_dropped_by_cause_bytes_total{{port=\"{port}\"}} summed over causes {:?}, the window's drop windows {windows_bytes}",
            facts.get("metrics_by_cause")
        ),
    ));
    let complete = w.suspend_cycles.iter().filter(|c| c.complete).count() as i64;
    out.push(check(
        format!("{sc}: the window holds every suspend cycle, and no event the ring lost"),
        Some(complete) == cycles && w.events.lost == 0 && w.events.lost_complete,
        format!(
            "{complete} complete cycles of {cycles:?} performed; {} events lost",
            w.events.lost
        ),
    ));
    // the metrics' loss is the window's (ring loss and the calls the kernel skipped)
    let window_lost = w.events.lost + w.events.recursion_misses.values().sum::<u64>();
    out.push(check(
        format!("{sc}: the metrics count every suspend cycle, and the window's loss"),
        num(facts, "metrics_cycles") == cycles
            && num(facts, "metrics_lost") == Some(window_lost as i64),
        format!(
            "serial_trace_suspend_cycles_total {:?} of {cycles:?} performed; serial_trace_events_lost_total {:?}, the window's lost and skipped {window_lost}",
            facts.get("metrics_cycles"),
            facts.get("metrics_lost")
        ),
    ));
    let memory = w.trace.recorder_memory;
    out.push(check(
        format!("{sc}: the monitor's own memory flat (most ≤ once attached + --memory 4M + 8 MiB)"),
        memory.is_some_and(|m| m.own_max_kb <= m.own_start_kb + GROWTH_KB),
        memory.map_or("the window's trailer has no recorder_memory".into(), |m| {
            format!(
                "besides the ring: {} KiB once attached, at most {} while monitoring; set-up's peak {} KiB",
                m.own_start_kb, m.own_max_kb, m.setup_peak_kb
            )
        }),
    ));
    out
}

fn kprobes(method: &str) -> &'static str {
    if method == "kprobe" {
        " (kprobes: every missing byte a counted skipped call)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::checks::typed;
    use serde_json::json;

    fn facts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn good_facts() -> BTreeMap<String, String> {
        facts(&[
            ("port", "ttyS1"),
            ("bo", "5000"),
            ("rtc_cycles", "3"),
            ("monitor_rc", "0"),
            ("fired_before_stop", "1"),
            ("metrics_fired", "1"),
            ("metrics_dropped", "5000"),
            ("metrics_cycles", "3"),
            ("metrics_lost", "0"),
            ("metrics_by_cause", "5000"),
            ("windows", "1"),
        ])
    }

    fn window(dropped: u64, own_max: u64) -> serde_json::Value {
        json!({
            "trace": {
                "saved_by": {"rule": "drops[ttyS1]>0", "fired": {"mono_ns": 1, "boot_ns": 1, "realtime_ns": 1}, "value": 12, "post_ns": 5},
                "recorder_memory": {"setup_peak_kb": 20000, "own_start_kb": 8000, "own_max_kb": own_max, "own_end_kb": 9000, "ring_kb": 65536},
            },
            "events": {"lost": 0, "lost_complete": true},
            "ports": [{"name": "ttyS1", "bytes_dropped": dropped, "kernel_counters": {"delta": {"buf_overrun": 5000}}}],
            "drops": [{"port": "ttyS1", "bytes": dropped}],
            "suspend_cycles": [{"complete": true}, {"complete": true}, {"complete": true}],
        })
    }

    fn failed(w: &serde_json::Value, f: &BTreeMap<String, String>, method: &str) -> Vec<String> {
        checks("m", Some(&typed(w)), f, method)
            .into_iter()
            .filter(|c| !c.ok)
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn every_figure_must_match_the_guests() {
        let ok = checks(
            "m",
            Some(&typed(&window(5000, 12000))),
            &good_facts(),
            "fexit",
        );
        assert_eq!(ok.len(), 9);
        assert!(ok.iter().all(|c| c.ok), "{ok:#?}");
        // one byte off in the window (its port total and its drop windows), or in the metrics;
        // memory grown past the bound
        assert_eq!(
            failed(&window(4999, 12000), &good_facts(), "fexit").len(),
            2
        );
        let mut f = good_facts();
        f.insert("metrics_dropped".into(), "5001".into());
        assert_eq!(failed(&window(5000, 12000), &f, "fexit").len(), 1);
        let big = window(5000, 8000 + GROWTH_KB + 1);
        assert_eq!(failed(&big, &good_facts(), "fexit").len(), 1);
        // a trigger that fired twice, or a window saved by another rule
        let mut f = good_facts();
        f.insert("fired_before_stop".into(), "2".into());
        assert_eq!(failed(&window(5000, 12000), &f, "fexit").len(), 1);
        let mut w = window(5000, 12000);
        w["trace"]["saved_by"]["rule"] = json!("SIGUSR1");
        assert_eq!(failed(&w, &good_facts(), "fexit").len(), 1);
        // no window
        let c = checks("m", None, &good_facts(), "fexit");
        assert!(c.iter().any(|c| !c.ok && c.name.contains("one window")));
    }

    /// A kprobe skipped 10 calls of the drop hook: 10 bytes are missing from the window and
    /// the metrics, each a counted skip the window names; the metrics' loss is the window's.
    #[test]
    fn with_kprobes_every_missing_byte_is_a_counted_skip() {
        let mut w = window(4990, 12000);
        w["events"]["recursion_misses"] = json!({"flip_buffer_insert_kprobe": 10});
        w["ports"][0]["disagreements"] = json!(["the kernel skipped 10 calls of the drop hook"]);
        let mut f = good_facts();
        f.insert("metrics_dropped".into(), "4990".into());
        f.insert("metrics_by_cause".into(), "4990".into());
        f.insert("metrics_lost".into(), "10".into());
        assert!(
            failed(&w, &f, "kprobe").is_empty(),
            "{:?}",
            failed(&w, &f, "kprobe")
        );
        // fentry does not skip: the same figures fail there
        assert_eq!(failed(&w, &f, "fexit").len(), 2);
        // more missing than skipped
        f.insert("metrics_dropped".into(), "4980".into());
        assert_eq!(failed(&w, &f, "kprobe").len(), 1);
        // the metrics' loss is not the window's
        f.insert("metrics_dropped".into(), "4990".into());
        f.insert("metrics_lost".into(), "0".into());
        assert_eq!(failed(&w, &f, "kprobe").len(), 1);
    }
}
