//! Trigger evaluation off the draining thread: each job is one or more stretches of the
//! window, each analysed as `report` would analyse the saved file, and the rules armed on
//! that stretch measured on the report. So a trigger fires exactly when `report --check` on
//! the file it saves would show the finding.

use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::window::{View, ViewReader};
use crate::analysis;
use crate::check::Rule;
use crate::trace::TraceReader;

/// One stretch and the triggers (by index) armed on it.
pub struct Stretch {
    pub view: View,
    pub triggers: Vec<usize>,
    /// The whole window, whose report (and its wakeups from this boot time on) the metrics
    /// read.
    pub for_metrics: Option<u64>,
}

/// What an evaluation found: per trigger that holds, its metric's value.
pub struct Outcome {
    pub holding: Vec<(usize, u64)>,
    /// The whole window's report and wakeups, when a stretch was `for_metrics`.
    pub whole: Option<(analysis::Report, Vec<analysis::WakeRecord>)>,
    pub took: Duration,
    pub error: Option<String>,
}

pub struct Evaluator {
    jobs: Option<Sender<Vec<Stretch>>>,
    outcomes: Receiver<Outcome>,
    busy: bool,
    thread: Option<JoinHandle<()>>,
}

impl Evaluator {
    pub fn start(rules: Vec<Rule>) -> std::io::Result<Self> {
        let (jobs, todo) = channel::<Vec<Stretch>>();
        let (done, outcomes) = channel();
        let thread = std::thread::Builder::new()
            .name("trigger-eval".into())
            .spawn(move || {
                for job in todo {
                    let started = Instant::now();
                    let mut outcome = Outcome {
                        holding: Vec::new(),
                        whole: None,
                        took: Duration::ZERO,
                        error: None,
                    };
                    for stretch in job {
                        match evaluate(&stretch.view, stretch.for_metrics) {
                            Ok((report, wakeups)) => {
                                for &t in &stretch.triggers {
                                    let (holds, value) = rules[t].holds(&report);
                                    if holds {
                                        outcome.holding.push((t, value));
                                    }
                                }
                                if stretch.for_metrics.is_some() {
                                    outcome.whole = Some((report, wakeups));
                                }
                            }
                            Err(e) => outcome.error = Some(e.to_string()),
                        }
                    }
                    outcome.took = started.elapsed();
                    if done.send(outcome).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            outcomes,
            busy: false,
            thread: Some(thread),
        })
    }

    /// Whether a job is being evaluated.
    pub fn busy(&self) -> bool {
        self.busy
    }

    pub fn submit(&mut self, job: Vec<Stretch>) {
        if let Some(jobs) = &self.jobs {
            self.busy = jobs.send(job).is_ok();
        }
    }

    /// The outcome of the job submitted, once there is one.
    pub fn poll(&mut self) -> Option<Outcome> {
        match self.outcomes.try_recv() {
            Ok(o) => {
                self.busy = false;
                Some(o)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.busy = false;
                None
            }
        }
    }

    /// Ends the thread (after the job it is on).
    pub fn stop(mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn evaluate(
    view: &View,
    wakeups_since: Option<u64>,
) -> std::io::Result<(analysis::Report, Vec<analysis::WakeRecord>)> {
    let reader = TraceReader::new(ViewReader::new(view)).map_err(std::io::Error::other)?;
    analysis::analyze_with_wakeups_since(reader, wakeups_since)
}
