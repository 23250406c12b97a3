//! The highest event rate a tracer records for a whole step (10 s by default) with zero lost
//! events, at its default buffer size: the rate doubles from 250 k events/s until a step loses
//! events, then three bisections narrow it down. A step where the generator cannot reach its
//! target under the tracer ends the search: the tracer slowed the workload down before it
//! lost anything, and the best rate is what the generator reached. The generator runs one
//! thread per CPU, so that it is the tracer, not the generator, that ends the search.

use std::path::Path;

use anyhow::Result;

use super::tracer::Tool;
use super::{Bins, under};

const START_RATE: f64 = 250_000.0;
/// A step reached its target when the generator made at least this share of it.
const REACHED: f64 = 0.95;

#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// Events per second asked of the generator.
    pub target: f64,
    /// Events per second it made (two per round).
    pub achieved: f64,
    pub lost: u64,
    pub recorded: u64,
}

impl Step {
    fn clean(&self) -> bool {
        self.lost == 0 && self.achieved >= REACHED * self.target
    }
}

pub struct Search {
    pub tool: Tool,
    pub steps: Vec<Step>,
}

impl Search {
    /// The highest rate of a step without loss that reached its target, or (when the search
    /// ended because the generator could not keep up) the rate that step reached.
    pub fn best(&self) -> Option<f64> {
        self.steps
            .iter()
            .filter(|s| s.lost == 0)
            .map(|s| s.achieved)
            .max_by(f64::total_cmp)
    }

    /// The lowest rate at which a step lost events: where loss begins.
    pub fn loss_onset(&self) -> Option<f64> {
        self.steps
            .iter()
            .filter(|s| s.lost > 0)
            .map(|s| s.achieved)
            .min_by(f64::total_cmp)
    }

    /// Whether the search ended at the generator's limit rather than at a loss.
    pub fn generator_bound(&self) -> bool {
        self.steps.iter().all(|s| s.lost == 0)
    }
}

pub fn search(tool: Tool, seconds: f64, bins: &Bins, dir: &Path) -> Result<Search> {
    let mut steps = Vec::new();
    let mut ok = 0.0;
    let mut rate = START_RATE;
    let mut failed = None;
    // double until a loss or the generator's limit
    loop {
        let s = step(tool, rate, seconds, bins, dir)?;
        steps.push(s);
        if s.lost > 0 {
            failed = Some(rate);
            break;
        }
        if !s.clean() {
            break;
        }
        ok = rate;
        rate *= 2.0;
    }
    if let Some(mut bad) = failed {
        for _ in 0..3 {
            let mid = (ok + bad) / 2.0;
            let s = step(tool, mid, seconds, bins, dir)?;
            steps.push(s);
            if s.clean() {
                ok = mid;
            } else {
                bad = mid;
            }
        }
    }
    Ok(Search { tool, steps })
}

/// The generator's threads in the search: one per CPU.
pub fn generator_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn step(tool: Tool, rate: f64, seconds: f64, bins: &Bins, dir: &Path) -> Result<Step> {
    let rate_arg = format!("{rate:.0}");
    let seconds_arg = seconds.to_string();
    // one generator thread per CPU: the search must end at the tracer's limit, and one thread
    // makes only ~1.7 M events/s under a tracer here
    let threads = generator_threads().to_string();
    let (run, out) = under(
        tool,
        bins,
        dir,
        &[
            "--rate",
            &rate_arg,
            "--seconds",
            &seconds_arg,
            "--threads",
            &threads,
        ],
    )?;
    let s = Step {
        target: rate,
        achieved: 2.0 * run.rounds as f64 / run.seconds(),
        lost: out.lost,
        recorded: out.events,
    };
    eprintln!(
        "xtask bench: {:<13} target {:>9.0}/s made {:>9.0}/s: {} recorded, {} lost",
        tool.name(),
        s.target,
        s.achieved,
        s.recorded,
        s.lost
    );
    Ok(s)
}
