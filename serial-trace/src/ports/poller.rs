//! Sampling every port's counters at a fixed rate on a thread of its own: when no eBPF hook on
//! the receive path attaches, this is how *when* and *how many* bytes were lost is known.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::icount::IcountReader;
use super::proc_counters::read_proc_counters;
use super::{Counters, PortInfo};
use crate::kernel::clock::{boot_now_ns, mono_now_ns};
use anyhow::{Context, bail};

/// Counters of one port that changed between two consecutive samples.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PollSample {
    pub port: String,
    /// CLOCK_MONOTONIC when the counters were read.
    pub mono_ns: u64,
    /// CLOCK_BOOTTIME at the same moment.
    pub boot_ns: u64,
    /// Time since the previous reading of this port: the window `delta` covers.
    pub interval_ns: u64,
    pub delta: Counters,
}

/// Highest sampling rate accepted: each sample is a few syscalls per port, and rates beyond
/// this only measure the poller itself.
const MAX_POLL_HZ: u32 = 10_000;

enum PollSource {
    Proc,
    Ioctl(IcountReader),
    /// Scripted readings for the poller's own tests.
    #[cfg(test)]
    Fake(Box<dyn FnMut() -> Option<Counters> + Send>),
}

struct PolledPort {
    name: String,
    source: PollSource,
    /// Previous reading: (mono_ns, counters). None until the baseline is taken.
    last: Option<(u64, Counters)>,
}

/// Samples ports' kernel counters at a fixed rate on its own thread, for kernels where no
/// eBPF function hook works: it cannot say which bytes were lost or where, but it bounds
/// when and how many.
pub struct CounterPoller {
    rx: mpsc::Receiver<PollSample>,
    stop_tx: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    taken: Arc<AtomicU64>,
}

impl CounterPoller {
    /// Starts sampling `ports` `hz` times a second. Ports found in /proc/tty/driver are read
    /// there; the others get an [`IcountReader`] opened now and held until [`stop`]. Fails if
    /// some port's counters cannot be read at all. The first sample is only the baseline.
    ///
    /// [`stop`]: CounterPoller::stop
    pub fn start(ports: Vec<PortInfo>, hz: u32) -> anyhow::Result<CounterPoller> {
        if hz == 0 || hz > MAX_POLL_HZ {
            bail!("counter polling rate must be 1..={MAX_POLL_HZ} Hz, not {hz}");
        }
        if ports.is_empty() {
            bail!("no ports to poll");
        }
        let proc = read_proc_counters();
        let mut polled = Vec::new();
        for p in ports {
            if polled.iter().any(|q: &PolledPort| q.name == p.name) {
                continue;
            }
            let source = if proc.contains_key(&p.name) {
                PollSource::Proc
            } else {
                let r = IcountReader::open(&p.name)?;
                r.read()
                    .with_context(|| format!("cannot poll the counters of {}", p.name))?;
                PollSource::Ioctl(r)
            };
            polled.push(PolledPort {
                name: p.name,
                source,
                last: None,
            });
        }
        Self::spawn(polled, hz)
    }

    fn spawn(polled: Vec<PolledPort>, hz: u32) -> anyhow::Result<CounterPoller> {
        let period = Duration::from_nanos(1_000_000_000 / u64::from(hz));
        let (tx, rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let taken = Arc::new(AtomicU64::new(0));
        let taken2 = Arc::clone(&taken);
        let thread = thread::Builder::new()
            .name("counter-poll".into())
            .spawn(move || {
                crate::kernel::signals::leave_stop_signals_to_the_main_thread();
                poll_loop(polled, period, tx, stop_rx, taken2)
            })
            .context("cannot start the counter polling thread")?;
        Ok(CounterPoller {
            rx,
            stop_tx: Some(stop_tx),
            thread: Some(thread),
            taken,
        })
    }

    /// Every sample produced since the last call; never blocks.
    pub fn drain(&self) -> Vec<PollSample> {
        self.rx.try_iter().collect()
    }

    /// Sampling rounds completed so far, the baseline included (changed or not).
    pub fn samples_taken(&self) -> u64 {
        self.taken.load(AtomicOrdering::Relaxed)
    }

    /// Stops the thread and waits for it. Samples not yet drained are discarded; call
    /// [`drain`](CounterPoller::drain) first to keep them.
    /// Stops sampling after one final sample; returns every sample not yet drained.
    pub fn stop(mut self) -> Vec<PollSample> {
        self.shutdown();
        self.drain()
    }

    fn shutdown(&mut self) {
        // Dropping the sender wakes the thread out of recv_timeout at once.
        self.stop_tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CounterPoller {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn poll_loop(
    mut ports: Vec<PolledPort>,
    period: Duration,
    tx: mpsc::Sender<PollSample>,
    stop_rx: mpsc::Receiver<()>,
    taken: Arc<AtomicU64>,
) {
    let need_proc = ports.iter().any(|p| matches!(p.source, PollSource::Proc));
    let mut next = Instant::now();
    // After a stop request one more sample is taken, so the samples add up to the counters
    // at the moment recording ended.
    let mut last_round = false;
    loop {
        let proc = if need_proc {
            Some(read_proc_counters())
        } else {
            None
        };
        let proc_mono = mono_now_ns();
        let proc_boot = boot_now_ns();
        for p in &mut ports {
            let (now, boot, counters) = match &mut p.source {
                PollSource::Proc => match proc.as_ref().and_then(|m| m.get(&p.name)) {
                    Some((_, c)) => (proc_mono, proc_boot, *c),
                    // Transient read failure: keep the baseline, the next delta covers both.
                    None => continue,
                },
                PollSource::Ioctl(r) => match r.read() {
                    Ok(c) => (mono_now_ns(), boot_now_ns(), c),
                    Err(_) => continue,
                },
                #[cfg(test)]
                PollSource::Fake(f) => match f() {
                    Some(c) => (mono_now_ns(), boot_now_ns(), c),
                    None => continue,
                },
            };
            if let Some((then, before)) = p.last {
                let delta = counters.delta_wrapping32(&before);
                if !delta.is_zero() {
                    let s = PollSample {
                        port: p.name.clone(),
                        mono_ns: now,
                        boot_ns: boot,
                        interval_ns: now.saturating_sub(then),
                        delta,
                    };
                    if tx.send(s).is_err() {
                        return; // the poller is gone
                    }
                }
            }
            p.last = Some((now, counters));
        }
        taken.fetch_add(1, AtomicOrdering::Relaxed);

        // Deadline-based: the next tick is one period after the previous *deadline*, not
        // after the work, so the rate does not drift. If we fell behind (stopped VM, loaded
        // machine), skip the missed ticks rather than firing them back to back.
        next += period;
        let now = Instant::now();
        if next <= now {
            let behind = (now - next).as_nanos();
            let skip = behind / period.as_nanos().max(1) + 1;
            let skip_ns = (skip * period.as_nanos()).min(u64::MAX as u128) as u64;
            next += Duration::from_nanos(skip_ns);
        }
        if last_round {
            return;
        }
        match stop_rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // stop() dropped the sender (or sent something): one final sample, then end.
            _ => last_round = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poller_rejects_bad_arguments() {
        assert!(
            CounterPoller::start(
                vec![PortInfo {
                    name: "ttyS0".into(),
                    driver: "serial".into(),
                    uart: None
                }],
                0
            )
            .is_err()
        );
        assert!(CounterPoller::start(Vec::new(), 10).is_err());
    }

    #[test]
    fn poller_reports_changes_only() {
        // Reading k: rx grows by 10 on every third reading; the 5th reading fails.
        let mut k = 0u64;
        let fake = move || {
            k += 1;
            (k != 5).then_some(Counters {
                rx: 10 * (k / 3),
                ..Default::default()
            })
        };
        let polled = vec![PolledPort {
            name: "fake0".into(),
            source: PollSource::Fake(Box::new(fake)),
            last: None,
        }];
        let poller = CounterPoller::spawn(polled, 200).unwrap();
        let t0 = Instant::now();
        while poller.samples_taken() < 12 && t0.elapsed() < Duration::from_secs(10) {
            thread::sleep(Duration::from_millis(5));
        }
        let n = poller.samples_taken();
        let samples = poller.drain();
        poller.stop();
        assert!(n >= 12, "{n}");
        // Readings 3, 6, 9, 12 change rx (1 and 2 are baseline and unchanged).
        assert!(samples.len() >= 4, "{samples:?}");
        for s in &samples {
            assert_eq!(s.port, "fake0");
            assert_eq!(s.delta.rx, 10, "{s:?}");
            assert!(s.interval_ns > 0 && s.boot_ns >= s.mono_ns);
            assert!(Counters { rx: 0, ..s.delta }.is_zero());
        }
        // Reading 5 failed, so the change at 6 is measured from reading 4: more than one
        // period (5 ms at 200 Hz) back, however late the thread ran.
        assert!(samples[1].interval_ns > 5_000_000, "{samples:?}");
    }

    #[test]
    fn poller_stops_promptly_at_low_rate() {
        let polled = vec![PolledPort {
            name: "fake0".into(),
            source: PollSource::Fake(Box::new(|| Some(Counters::default()))),
            last: None,
        }];
        let poller = CounterPoller::spawn(polled, 1).unwrap();
        thread::sleep(Duration::from_millis(50));
        let t0 = Instant::now();
        poller.stop();
        assert!(t0.elapsed() < Duration::from_millis(500));
    }
}
