//! The `cyclictest` scenario's ground truth: rt-tests' cyclictest, a program this project did
//! not write, prints every latency it measured (`-v`). It logs no deadlines, so they are
//! rebuilt the way it computes them: from the first one on, `next += interval`, and again while
//! the moment it woke is past `next` (missed periods are skipped, not slept).

use serial_trace::analysis::Report;

use super::checks::{self, Check, HeldOff, Wakeup};

/// What cyclictest printed for its measurement thread.
#[derive(Debug, PartialEq)]
pub struct Output {
    pub tid: u32,
    pub interval_ns: i64,
    /// Latency of each loop in µs (truncated), in loop order.
    pub latencies_us: Vec<i64>,
}

/// Parses `cyclictest -t1 -v` output: `  0:  <loop>:  <latency µs>` lines and the summary
/// `T: 0 (<tid>) P:<prio> I:<interval µs> C: <loops> …`.
pub fn parse(out: &str) -> Option<Output> {
    let mut latencies_us = Vec::new();
    let mut summary = None;
    for line in out.lines() {
        let fields: Vec<&str> = line.split(':').map(str::trim).collect();
        if let [thread, _loop, latency] = fields[..]
            && thread == "0"
            && let (Ok(_), Ok(latency)) = (_loop.parse::<u64>(), latency.parse::<i64>())
        {
            latencies_us.push(latency);
        }
        if let Some(rest) = line.trim_start().strip_prefix("T: 0 (") {
            let tid = rest.split(')').next()?.trim().parse().ok()?;
            let interval_us: i64 = rest
                .split("I:")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            summary = Some((tid, interval_us * 1000));
        }
    }
    let (tid, interval_ns) = summary?;
    Some(Output {
        tid,
        interval_ns,
        latencies_us,
    })
}

/// cyclictest's deadlines from the first one on (see the module comment).
fn deadlines(first: i64, out: &Output) -> Vec<i64> {
    let mut d = Vec::with_capacity(out.latencies_us.len());
    let mut next = first;
    for &late_us in &out.latencies_us {
        d.push(next);
        let woke = next + late_us * 1000;
        next += out.interval_ns;
        while woke > next {
            next += out.interval_ns;
        }
    }
    d
}

/// cyclictest's loops as wakeups the timer checks take: its tid, the rebuilt deadline, its own
/// latency, boottime from the trace. The first deadline is the tool's earliest for that thread
/// or one or two periods before it (when the first loops' timer events were skipped): the
/// one under which most loops match a wakeup of the trace.
pub fn wakeups(out: &Output, tool: &checks::ToolWakeups, held: &HeldOff) -> Vec<Wakeup> {
    let mut own: Vec<i64> = tool
        .keys()
        .filter(|(tid, _)| *tid == out.tid)
        .map(|&(_, d)| d)
        .collect();
    own.sort_unstable();
    let candidates = own
        .iter()
        .take(3)
        .flat_map(|&d| (0..3).map(move |k| d - k * out.interval_ns));
    let Some(best) = candidates.max_by_key(|&first| {
        deadlines(first, out)
            .iter()
            .filter(|&&d| tool.contains_key(&(out.tid, d)))
            .count()
    }) else {
        return Vec::new();
    };
    deadlines(best, out)
        .into_iter()
        .zip(&out.latencies_us)
        .map(|(deadline, &late_us)| {
            let woke = deadline + late_us * 1000;
            Wakeup {
                tid: out.tid,
                clock: "monotonic".into(),
                api: "cyclictest".into(),
                deadline_ns: deadline,
                woke_mono_ns: woke,
                woke_boot_ns: held.boot_at(woke),
                late_ns: late_us * 1000,
                asked_boot_minus_mono_ns: None,
                asked_ns: None,
                sleep_ns: None,
            }
        })
        .collect()
}

/// The checks of [`checks::late_sleep_checks`] on cyclictest's loops, that it printed every loop
/// it was asked for, and that the cycles made it late (or the run proved nothing).
pub fn checks(
    out: Option<&Output>,
    loops_asked: usize,
    ev: &checks::TimerEvidence,
    report: &Report,
) -> Vec<Check> {
    let Some(out) = out else {
        return vec![checks::check(
            "cyclictest: its output parsed",
            false,
            "no `T: 0 (tid) … I:interval` summary in cyclictest's output",
        )];
    };
    let wakeups = wakeups(out, ev.tool, ev.held_off);
    let (mut all, apis_in_cycle) = checks::late_sleep_checks("cyclictest", &wakeups, ev, report);
    all.push(checks::check(
        "cyclictest: printed every loop",
        out.latencies_us.len() == loops_asked,
        format!(
            "{} of {loops_asked} latencies (tid {}, interval {} µs)",
            out.latencies_us.len(),
            out.tid,
            out.interval_ns / 1000
        ),
    ));
    all.push(checks::check(
        "cyclictest: the cycles made it late",
        apis_in_cycle.contains("cyclictest"),
        format!("late sleeps inside a cycle by API: {apis_in_cycle:?}"),
    ));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "# /dev/cpu_dma_latency set to 0us
Thread 0 Interval: 10500
       0:       0:     112
       0:       1:     121
       0:       2: 3000004
       0:       3:     107
T: 0 (12242) P:80 I:10000 C:      4 Min:    107 Act:  124 Avg:  331 Max: 3000004
";

    #[test]
    fn parses_latencies_tid_and_interval() {
        let o = parse(OUT).unwrap();
        assert_eq!(o.tid, 12242);
        assert_eq!(o.interval_ns, 10_000_000);
        assert_eq!(o.latencies_us, [112, 121, 3_000_004, 107]);
        assert!(
            parse("       0:       0:     112\n").is_none(),
            "no summary"
        );
    }

    #[test]
    fn deadlines_skip_the_periods_a_late_wakeup_missed() {
        let o = parse(OUT).unwrap();
        let s = 1_000_000_000;
        // loop 2 woke 3 s late: cyclictest's next deadline is the first period after that
        assert_eq!(
            deadlines(s, &o),
            [s, s + 10_000_000, s + 20_000_000, s + 3_030_000_000]
        );
    }

    #[test]
    fn the_first_deadline_is_found_even_when_the_first_loop_is_missing_in_the_trace() {
        let o = parse(OUT).unwrap();
        let s = 1_000_000_000;
        // the trace lacks loop 0: its earliest deadline is loop 1's
        let tool: checks::ToolWakeups = [s + 10_000_000, s + 20_000_000, s + 3_030_000_000]
            .into_iter()
            .map(|d| ((12242, d), 100_000.into()))
            .collect();
        let w = wakeups(&o, &tool, &HeldOff::default());
        assert_eq!(w[0].deadline_ns, s);
        assert_eq!(w[3].deadline_ns, s + 3_030_000_000);
        assert_eq!(w[2].late_ns, 3_000_004_000);
    }
}
