//! Rules on a report: `report --check RULE` gates for CI, `monitor --trigger RULE` fires on
//! them. A rule is `METRIC OP VALUE` (`drops=0`, `timer_p99<2ms`, `lost_events<=10`,
//! `wakeup_late>50ms`; OP one of `<`, `<=`, `=`, `>`, `>=`), a per-port metric narrowed to
//! one port (`drops[ttyS1]>0`), or a named rule (`probes_alive`, `counters_agree`,
//! `no_risky_settings`). Every risk rule's name is a metric too (`port_cannot_wake=0`).
//! A check fails when its rule does not hold (every failing rule is printed and the command
//! exits 1); a trigger fires when its rule holds.

use crate::analysis::risks::RiskRule;
use crate::analysis::{Report, total};

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
        "wakeup_late",
        "the latest task-visible wakeup: how long after it was due (ns)",
    ),
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
    Gt,
    Ge,
}

/// One rule, parsed: `METRIC OP VALUE`, the metric optionally of one port (`drops[ttyS1]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    text: String,
    metric: &'static str,
    port: Option<String>,
    op: Op,
    value: u64,
}

/// Metrics a rule may narrow to one port: they add up per-port figures.
const PER_PORT: &[&str] = &["drops", "hw_overruns", "disagreements"];

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

/// The named rules and the rule each stands for.
const ALIASES: &[(&str, &str)] = &[
    ("probes_alive", "silent_probes=0"),
    ("counters_agree", "disagreements=0"),
    ("no_risky_settings", "risks=0"),
];

impl Rule {
    /// Parses `text`; a malformed rule is an error that lists what is known.
    pub fn parse(text: &str) -> anyhow::Result<Rule> {
        let alias = ALIASES
            .iter()
            .find(|(name, _)| *name == text.trim())
            .map(|(_, rule)| *rule);
        let body = alias.unwrap_or(text).replace(' ', "");
        let (pos, op, len) = ["<=", ">=", "==", "<", ">", "="]
            .iter()
            .find_map(|o| body.find(o).map(|p| (p, *o, o.len())))
            .ok_or_else(|| {
                anyhow::anyhow!("rule {text:?}: expected METRIC<VALUE, METRIC<=VALUE, METRIC=VALUE, METRIC>VALUE or METRIC>=VALUE, or probes_alive / counters_agree / no_risky_settings")
            })?;
        let (name, port) = match body[..pos].split_once('[') {
            Some((name, rest)) => {
                let port = rest
                    .strip_suffix(']')
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "rule {text:?}: a port is named as METRIC[PORT], e.g. drops[ttyS1]"
                        )
                    })?;
                (name, Some(port.to_string()))
            }
            None => (&body[..pos], None),
        };
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
                    "rule {text:?}: unknown metric {name:?}; known:\n{}",
                    known.join("\n")
                )
            })?;
        if port.is_some() && !PER_PORT.contains(&metric) {
            anyhow::bail!(
                "rule {text:?}: only {} can be narrowed to one port",
                PER_PORT.join(", ")
            );
        }
        let op = match op {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            _ => Op::Eq,
        };
        let value = parse_value(&body[pos + len..]).ok_or_else(|| {
            anyhow::anyhow!(
                "rule {text:?}: the value must be a number, optionally with ns, us, ms or s"
            )
        })?;
        Ok(Rule {
            text: text.to_string(),
            metric,
            port,
            op,
            value,
        })
    }

    /// The rule as it was given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether this is one of the named rules (`probes_alive`, …): each says what must hold,
    /// so as a trigger it would fire on every healthy window.
    pub fn is_named(&self) -> bool {
        ALIASES.iter().any(|(name, _)| *name == self.text.trim())
    }

    /// The rule's metric in `r`.
    pub fn measure(&self, r: &Report) -> u64 {
        measure(r, self.metric, self.port.as_deref())
    }

    /// Whether `r` passes the rule, and the metric's value.
    pub fn holds(&self, r: &Report) -> (bool, u64) {
        let v = self.measure(r);
        let ok = match self.op {
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
            Op::Eq => v == self.value,
            Op::Gt => v > self.value,
            Op::Ge => v >= self.value,
        };
        (ok, v)
    }

    /// What the rule measures, for messages: `drops` or `drops[ttyS1]`.
    pub fn metric_name(&self) -> String {
        match &self.port {
            Some(p) => format!("{}[{p}]", self.metric),
            None => self.metric.to_string(),
        }
    }
}

/// The value of `metric` in `r`: of every port together, or of `port` alone.
fn measure(r: &Report, metric: &str, port: Option<&str>) -> u64 {
    let ports = || r.ports.iter().filter(|p| port.is_none_or(|n| n == p.name));
    match metric {
        "drops" => total(ports().map(|p| p.bytes_dropped)),
        "hw_overruns" => total(ports().map(|p| p.hw_overruns)),
        "disagreements" => ports().map(|p| p.disagreements.len() as u64).sum(),
        "lost_events" => r.events.all_lost(),
        "lost_wakeups" => r.lost_wakeups.len() as u64,
        "timer_p99" => r.timers.lateness_ns.p99,
        "timer_max" => r.timers.lateness_ns.max,
        "wakeup_p99" => r.timers.wakeups.latency_ns.p99,
        "wakeup_late" => r.timers.wakeups.latency_ns.max,
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
        "risks" => r.risks.len() as u64,
        rule => r.risks.iter().filter(|k| k.rule.as_str() == rule).count() as u64,
    }
}

/// Checks every rule; returns one line per failed rule. A malformed rule is an error.
pub fn run(r: &Report, rules: &[String]) -> anyhow::Result<Vec<String>> {
    let rules: Vec<Rule> = rules
        .iter()
        .map(|t| Rule::parse(t).map_err(|e| anyhow::anyhow!("check {e}")))
        .collect::<Result<_, _>>()?;
    Ok(rules
        .iter()
        .filter_map(|rule| {
            let (ok, v) = rule.holds(r);
            (!ok).then(|| format!("{}: {} is {v}", rule.text, rule.metric_name()))
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

    fn parse(text: &str) -> anyhow::Result<Rule> {
        Rule::parse(text)
    }

    #[test]
    fn a_rule_narrowed_to_a_port_counts_that_port_alone() {
        use crate::analysis::serial::PortReport;
        let mut r = Report::default();
        for (name, dropped) in [("ttyS0", 5), ("ttyS1", 0)] {
            r.ports.push(PortReport {
                name: name.into(),
                bytes_dropped: dropped,
                ..Default::default()
            });
        }
        assert_eq!(parse("drops>0").unwrap().holds(&r), (true, 5));
        assert_eq!(parse("drops[ttyS1]>0").unwrap().holds(&r), (false, 0));
        assert_eq!(parse("drops[ttyS0]>=5").unwrap().holds(&r), (true, 5));
        assert!(parse("probes_alive").unwrap().is_named());
        assert!(!parse("silent_probes>0").unwrap().is_named());
    }

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
        assert_eq!(parse("wakeup_late>50ms").unwrap().op, Op::Gt);
        assert_eq!(parse("drops>=1").unwrap().op, Op::Ge);
        let one = parse("drops[ttyS1]>0").unwrap();
        assert_eq!((one.metric, one.port.as_deref()), ("drops", Some("ttyS1")));
        assert!(parse("timer_max[ttyS1]>0").is_err());
        assert!(parse("drops[]>0").is_err());
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
