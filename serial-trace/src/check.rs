//! `report --check RULE`: gates for CI. A rule is `METRIC OP VALUE` (`drops=0`,
//! `timer_p99<2ms`, `lost_events<=10`) or a named rule (`probes_alive`, `counters_agree`,
//! `no_risky_settings`). Every risk rule's name is a metric too (`port_cannot_wake=0`).
//! Every failing rule is printed and the command exits 1.

use crate::analysis::Report;
use crate::analysis::risks::RiskRule;

/// A question the command answers "no" (exit status 1, as grep and diff do): `record` lost
/// events, `probe --require` found a capability missing. The message says what and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unmet(pub String);

/// The report passed fewer rules than it was given: how many failed.
#[derive(Debug, thiserror::Error)]
#[error("{0} check rule(s) failed")]
pub struct Failed(pub usize);

/// Metrics a rule can test, with what each measures (for `--help` and errors).
const METRICS: &[(&str, &str)] = &[
    ("drops", "bytes the flip buffers refused, all ports"),
    ("hw_overruns", "UART hardware FIFO overruns, all ports"),
    (
        "lost_events",
        "events the kernel could not hand over or skipped",
    ),
    ("lost_wakeups", "wakeups far later than asked"),
    ("timer_p99", "p99 of hrtimer lateness (ns)"),
    ("timer_max", "largest hrtimer lateness (ns)"),
    ("wakeup_p99", "p99 of task-visible wakeup latency (ns)"),
    (
        "resume",
        "longest resume of a cycle, platform back to tasks thawed (ns)",
    ),
    ("silent_probes", "probes that went silent after a resume"),
    (
        "disagreements",
        "differences between trace and kernel counters",
    ),
    (
        "risks",
        "risky settings found (each risk rule's name counts its own)",
    ),
];

/// A risk rule named as a metric: its findings are counted.
fn risk_metric(name: &str) -> Option<&'static str> {
    RiskRule::ALL
        .iter()
        .map(|r| r.as_str())
        .find(|r| *r == name)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Lt,
    Le,
    Eq,
}

#[derive(Debug, PartialEq)]
struct Rule {
    text: String,
    metric: &'static str,
    op: Op,
    value: u64,
}

fn parse_value(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let scale = match unit.trim() {
        "" | "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0 && v.is_finite()).then(|| (v * scale).round() as u64)
}

fn parse(text: &str) -> anyhow::Result<Rule> {
    let alias = match text.trim() {
        "probes_alive" => Some("silent_probes=0"),
        "counters_agree" => Some("disagreements=0"),
        "no_risky_settings" => Some("risks=0"),
        _ => None,
    };
    let body = alias.unwrap_or(text).replace(' ', "");
    let (pos, op, len) = ["<=", "==", "<", "="]
        .iter()
        .find_map(|o| body.find(o).map(|p| (p, *o, o.len())))
        .ok_or_else(|| {
            anyhow::anyhow!("check rule {text:?}: expected METRIC<VALUE, METRIC<=VALUE or METRIC=VALUE, or probes_alive / counters_agree / no_risky_settings")
        })?;
    let name = &body[..pos];
    let metric = METRICS
        .iter()
        .find(|(m, _)| *m == name)
        .map(|(m, _)| *m)
        .or_else(|| risk_metric(name))
        .ok_or_else(|| {
            let mut known: Vec<String> =
                METRICS.iter().map(|(m, d)| format!("  {m}: {d}")).collect();
            known.extend(
                RiskRule::ALL
                    .iter()
                    .map(|r| format!("  {r}: risks of that rule found")),
            );
            anyhow::anyhow!(
                "check rule {text:?}: unknown metric {name:?}; known:\n{}",
                known.join("\n")
            )
        })?;
    let op = match op {
        "<" => Op::Lt,
        "<=" => Op::Le,
        _ => Op::Eq,
    };
    let value = parse_value(&body[pos + len..]).ok_or_else(|| {
        anyhow::anyhow!(
            "check rule {text:?}: the value must be a number, optionally with ns, us, ms or s"
        )
    })?;
    Ok(Rule {
        text: text.to_string(),
        metric,
        op,
        value,
    })
}

/// The value of `metric` in `r`.
fn measure(r: &Report, metric: &str) -> u64 {
    match metric {
        "drops" => r.ports.iter().map(|p| p.bytes_dropped).sum(),
        "hw_overruns" => r.ports.iter().map(|p| p.hw_overruns).sum(),
        "lost_events" => r.events.lost + r.events.recursion_misses.values().sum::<u64>(),
        "lost_wakeups" => r.lost_wakeups.len() as u64,
        "timer_p99" => r.timers.lateness_ns.p99,
        "timer_max" => r.timers.lateness_ns.max,
        "wakeup_p99" => r.timers.wakeups.latency_ns.p99,
        "resume" => r
            .suspend_cycles
            .iter()
            .filter_map(|c| c.resume_ns)
            .max()
            .unwrap_or(0),
        "silent_probes" => r
            .suspend_cycles
            .iter()
            .map(|c| c.liveness.silent_after_resume.len() as u64)
            .sum(),
        "disagreements" => r.ports.iter().map(|p| p.disagreements.len() as u64).sum(),
        "risks" => r.risks.len() as u64,
        rule => r.risks.iter().filter(|k| k.rule.as_str() == rule).count() as u64,
    }
}

/// Checks every rule; returns one line per failed rule. A malformed rule is an error.
pub fn run(r: &Report, rules: &[String]) -> anyhow::Result<Vec<String>> {
    let rules: Vec<Rule> = rules.iter().map(|t| parse(t)).collect::<Result<_, _>>()?;
    Ok(rules
        .iter()
        .filter_map(|rule| {
            let v = measure(r, rule.metric);
            let ok = match rule.op {
                Op::Lt => v < rule.value,
                Op::Le => v <= rule.value,
                Op::Eq => v == rule.value,
            };
            (!ok).then(|| format!("{}: {} is {v}", rule.text, rule.metric))
        })
        .collect())
}

/// The check section of the text report.
pub fn render(failed: &[String], total: usize) -> String {
    let mut s = format!("\nchecks: {} of {total} passed\n", total - failed.len());
    for f in failed {
        s.push_str(&format!("  FAIL {f}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_units() {
        assert_eq!(parse_value("2ms"), Some(2_000_000));
        assert_eq!(parse_value("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_value("250us"), Some(250_000));
        assert_eq!(parse_value("7"), Some(7));
        assert_eq!(parse_value("3 parsecs"), None);
        assert_eq!(parse_value("-1"), None);
    }

    #[test]
    fn rules_parse_or_explain() {
        let r = parse("timer_p99 < 2ms").unwrap();
        assert_eq!((r.metric, r.op, r.value), ("timer_p99", Op::Lt, 2_000_000));
        assert_eq!(parse("drops<=10").unwrap().op, Op::Le);
        assert_eq!(parse("probes_alive").unwrap().metric, "silent_probes");
        let e = parse("bytes_lost=0").unwrap_err().to_string();
        assert!(e.contains("unknown metric") && e.contains("drops"), "{e}");
        assert!(parse("drops").is_err());
        assert!(parse("drops=lots").is_err());
        assert_eq!(parse("no_risky_settings").unwrap().metric, "risks");
        assert_eq!(
            parse("port_cannot_wake=0").unwrap().metric,
            "port_cannot_wake"
        );
    }

    #[test]
    fn risks_are_counted_all_together_or_per_rule() {
        use crate::analysis::risks::find;
        use crate::trace::SystemSetup;
        let mut r = Report::default();
        let rules = [
            "no_risky_settings".to_string(),
            "no_high_res_timers=0".into(),
            "jiffies_clocksource=0".into(),
        ];
        assert!(run(&r, &rules).unwrap().is_empty());
        let coarse = SystemSetup {
            monotonic_resolution_ns: Some(10_000_000),
            tick_ns: Some(10_000_000),
            ..Default::default()
        };
        r.risks = find(Some(&coarse), &[], &[]);
        let failed = run(&r, &rules).unwrap();
        assert_eq!(
            failed,
            [
                "no_risky_settings: risks is 1",
                "no_high_res_timers=0: no_high_res_timers is 1"
            ]
        );
    }
}
