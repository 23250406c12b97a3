//! Port timing kept in the kernel (issue 18): per traced port's IRQ, its handler's runs, and
//! per `flush_to_ldisc` work item, the line discipline's runs — counts, totals, maxima and
//! log-linear histograms of nanoseconds, in per-CPU maps the recorder sums at every
//! checkpoint. Nothing is written to the ring per interrupt, so the timing stays on while a
//! suspend freezes the recorder (one event per interrupt filled a 32 MiB ring in 40 s).

use crate::TEXT_LEN;

/// Per-CPU hash of [`IrqAggregate`] by IRQ number.
pub const IRQ_AGGREGATES_MAP: &str = "IRQ_AGGREGATES";
/// Per-CPU hash of [`LdiscAggregate`] by work item address (`&tty_port->buf.work`).
pub const LDISC_AGGREGATES_MAP: &str = "LDISC_AGGREGATES";
/// Ports whose line discipline runs are kept at most; a further port is counted as refused
/// (`state_counts::LDISC_AGGREGATES`).
pub const MAX_LDISC_AGGREGATES: u32 = 64;
/// The key in `MATCH_MAP` that says the line discipline's runs are timed (the workqueue hooks
/// attached): only then does a hand-over to the line discipline count as inside or outside a
/// run. No IRQ number and no kernel address is this value.
pub const LDISC_TIMED_KEY: u64 = u64::MAX;

/// Log-linear buckets of a duration in nanoseconds: exact below 8 ns, then 8 buckets per
/// power of two (a bucket is at most 1/8 of its value wide), up to 15·2^30 ns (16.1 s);
/// longer durations share the last bucket, whose value the exact maximum kept beside it gives.
pub mod hist {
    /// Buckets per histogram.
    pub const BUCKETS: usize = 256;
    const SUB_BITS: u32 = 3;
    const SUB: u64 = 1 << SUB_BITS;

    /// The bucket of `ns`.
    #[inline(always)]
    pub fn bucket(ns: u64) -> usize {
        if ns < SUB {
            return ns as usize;
        }
        let msb = 63 - ns.leading_zeros();
        let idx =
            (u64::from(msb - SUB_BITS + 1) << SUB_BITS) + ((ns >> (msb - SUB_BITS)) & (SUB - 1));
        if idx >= BUCKETS as u64 {
            BUCKETS - 1
        } else {
            idx as usize
        }
    }

    /// Adds `ns` to `hist`, and to its `total` and `max`.
    #[inline(always)]
    pub fn add(hist: &mut [u64; BUCKETS], total: &mut u64, max: &mut u64, ns: u64) {
        // Through a volatile read: the compiler knows the bucket is below BUCKETS and would
        // drop the bounds check, but the BPF verifier cannot follow `leading_zeros` (a
        // popcount sequence on BPF) and rejects an index it cannot bound.
        let i = bucket(ns);
        // SAFETY: a read of a local.
        let i = unsafe { core::ptr::read_volatile(&i) };
        if let Some(b) = hist.get_mut(i) {
            *b += 1;
        }
        *total = total.saturating_add(ns);
        if ns > *max {
            *max = ns;
        }
    }

    /// Adds histogram `from` into `to`.
    pub fn merge(to: &mut [u64; BUCKETS], from: &[u64; BUCKETS]) {
        for (t, f) in to.iter_mut().zip(from) {
            *t = t.saturating_add(*f);
        }
    }

    /// The value under which `permille`/1000 of the samples in `hist` lie: the upper bound of
    /// the bucket reached (at most `max`, the largest sample); 0 for an empty histogram.
    pub fn quantile(hist: &[u64; BUCKETS], max: u64, permille: u64) -> u64 {
        let n = hist.iter().fold(0u64, |n, c| n.saturating_add(*c));
        if n == 0 {
            return 0;
        }
        // the rank of the sample asked for, 1-based (rounded up), as hdrhistogram counts it
        let rank = (n as u128 * u128::from(permille)).div_ceil(1000) as u64;
        let rank = rank.clamp(1, n);
        let mut seen = 0;
        for (i, c) in hist.iter().enumerate() {
            seen = c.saturating_add(seen);
            if seen >= rank {
                return (bounds(i).1 - 1).min(max);
            }
        }
        max
    }

    /// The values bucket `idx` holds: `[low, high)` (the last bucket: everything from `low`).
    pub fn bounds(idx: usize) -> (u64, u64) {
        let idx = idx as u64;
        if idx < SUB {
            return (idx, idx + 1);
        }
        let shift = (idx >> SUB_BITS) - 1;
        let sub = idx & (SUB - 1);
        let low = (SUB + sub) << shift;
        if idx as usize == BUCKETS - 1 {
            (low, u64::MAX)
        } else {
            (low, (SUB + sub + 1) << shift)
        }
    }
}

/// The counts of one traced port's IRQ: handler runs, those that said the interrupt was the
/// device's (`IRQ_HANDLED`), those that woke the IRQ's thread (`IRQ_WAKE_THREAD`), and the
/// sum and maximum of the handler's run times.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(serde::Serialize, serde::Deserialize))]
pub struct IrqCounts {
    pub runs: u64,
    pub handled: u64,
    pub woke_thread: u64,
    pub total_ns: u64,
    pub max_ns: u64,
}

/// One traced port's IRQ on one CPU (`IRQ_AGGREGATES_MAP`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqAggregate {
    pub counts: IrqCounts,
    pub handler_hist: [u64; hist::BUCKETS],
}

/// The counts of one port's `flush_to_ldisc` work item: runs; those whose queueing (the flip
/// buffer push) was not seen, so their wait is unknown; hand-overs to the line discipline
/// (`tty_port_default_receive_buf` returning bytes) while a run of it was under way, and
/// while none was; sums and maxima of the wait from the push to the run's start and of the
/// run itself.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(serde::Serialize, serde::Deserialize))]
pub struct LdiscCounts {
    pub runs: u64,
    pub delay_unknown: u64,
    pub receives_in_runs: u64,
    pub receives_outside_runs: u64,
    pub delay_total_ns: u64,
    pub delay_max_ns: u64,
    pub run_total_ns: u64,
    pub run_max_ns: u64,
}

/// One port's `flush_to_ldisc` work item on one CPU (`LDISC_AGGREGATES_MAP`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LdiscAggregate {
    /// The tty open on the port when a run was seen on this CPU (empty: none was).
    pub name: [u8; TEXT_LEN],
    pub counts: LdiscCounts,
    pub delay_hist: [u64; hist::BUCKETS],
    pub run_hist: [u64; hist::BUCKETS],
}

impl IrqCounts {
    pub fn merge(&mut self, o: &Self) {
        self.runs = self.runs.saturating_add(o.runs);
        self.handled = self.handled.saturating_add(o.handled);
        self.woke_thread = self.woke_thread.saturating_add(o.woke_thread);
        self.total_ns = self.total_ns.saturating_add(o.total_ns);
        self.max_ns = self.max_ns.max(o.max_ns);
    }
}

impl LdiscCounts {
    pub fn merge(&mut self, o: &Self) {
        self.runs = self.runs.saturating_add(o.runs);
        self.delay_unknown = self.delay_unknown.saturating_add(o.delay_unknown);
        self.receives_in_runs = self.receives_in_runs.saturating_add(o.receives_in_runs);
        self.receives_outside_runs = self
            .receives_outside_runs
            .saturating_add(o.receives_outside_runs);
        self.delay_total_ns = self.delay_total_ns.saturating_add(o.delay_total_ns);
        self.delay_max_ns = self.delay_max_ns.max(o.delay_max_ns);
        self.run_total_ns = self.run_total_ns.saturating_add(o.run_total_ns);
        self.run_max_ns = self.run_max_ns.max(o.run_max_ns);
    }
}

impl IrqAggregate {
    pub const ZERO: Self = Self {
        counts: IrqCounts {
            runs: 0,
            handled: 0,
            woke_thread: 0,
            total_ns: 0,
            max_ns: 0,
        },
        handler_hist: [0; hist::BUCKETS],
    };

    /// One handler run that returned `ret` (`irqreturn_t`) after `ns`.
    #[inline(always)]
    pub fn add_run(&mut self, ret: u64, ns: u64) {
        let c = &mut self.counts;
        c.runs += 1;
        // IRQ_HANDLED 1, IRQ_WAKE_THREAD 2
        c.handled += ret & 1;
        c.woke_thread += (ret >> 1) & 1;
        hist::add(&mut self.handler_hist, &mut c.total_ns, &mut c.max_ns, ns);
    }

    /// Adds another CPU's (or reading's) counts.
    pub fn merge(&mut self, o: &Self) {
        self.counts.merge(&o.counts);
        hist::merge(&mut self.handler_hist, &o.handler_hist);
    }
}

impl LdiscAggregate {
    pub const ZERO: Self = Self {
        name: [0; TEXT_LEN],
        counts: LdiscCounts {
            runs: 0,
            delay_unknown: 0,
            receives_in_runs: 0,
            receives_outside_runs: 0,
            delay_total_ns: 0,
            delay_max_ns: 0,
            run_total_ns: 0,
            run_max_ns: 0,
        },
        delay_hist: [0; hist::BUCKETS],
        run_hist: [0; hist::BUCKETS],
    };

    /// One run that waited `delay` since its queueing (`None`: not seen) and took `run` ns.
    #[inline(always)]
    pub fn add_run(&mut self, delay: Option<u64>, run: u64) {
        let c = &mut self.counts;
        c.runs += 1;
        match delay {
            Some(d) => hist::add(
                &mut self.delay_hist,
                &mut c.delay_total_ns,
                &mut c.delay_max_ns,
                d,
            ),
            None => c.delay_unknown += 1,
        }
        hist::add(
            &mut self.run_hist,
            &mut c.run_total_ns,
            &mut c.run_max_ns,
            run,
        );
    }

    /// Adds another CPU's counts (the name: the first non-empty one).
    pub fn merge(&mut self, o: &Self) {
        if self.name[0] == 0 {
            self.name = o.name;
        }
        self.counts.merge(&o.counts);
        hist::merge(&mut self.delay_hist, &o.delay_hist);
        hist::merge(&mut self.run_hist, &o.run_hist);
    }
}

#[cfg(test)]
mod tests {
    use super::hist::*;

    #[test]
    fn every_value_falls_in_the_bucket_whose_bounds_hold_it() {
        let mut v = 0u64;
        while v < 1 << 36 {
            let b = bucket(v);
            let (lo, hi) = bounds(b);
            assert!(lo <= v && v < hi, "{v} in bucket {b} [{lo}, {hi})");
            v = v * 9 / 8 + 1;
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn buckets_are_contiguous_and_at_most_an_eighth_wide() {
        for b in 1..BUCKETS {
            assert_eq!(bounds(b - 1).1, bounds(b).0, "gap before bucket {b}");
            let (lo, hi) = bounds(b - 1);
            assert!(lo < 8 || (hi - lo) * 8 <= lo, "bucket {} too wide", b - 1);
            assert_eq!(bucket(lo), b - 1);
            assert_eq!(bucket(hi - 1), b - 1);
        }
        // the last bucket starts at 15 * 2^30 ns (16.1 s) and holds everything longer
        assert_eq!(bounds(BUCKETS - 1), (15 << 30, u64::MAX));
        assert_eq!(bucket(1 << 40), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_bucket_upper_bounds_capped_by_the_maximum() {
        let mut h = [0u64; BUCKETS];
        let (mut total, mut max) = (0, 0);
        assert_eq!(quantile(&h, max, 500), 0);
        for ns in 1..=100u64 {
            add(&mut h, &mut total, &mut max, ns * 1000);
        }
        assert_eq!((total, max), (5_050_000, 100_000));
        let p50 = quantile(&h, max, 500);
        // the 50th sample is 50 µs; its bucket is at most an eighth wide
        assert!((50_000..50_000 + 50_000 / 8).contains(&p50), "{p50}");
        assert_eq!(quantile(&h, max, 1000), 100_000);
        assert_eq!(quantile(&h, max, 0), bounds(bucket(1000)).1 - 1);
    }
}
