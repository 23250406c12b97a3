//! The port timing the kernel aggregates (`IRQ_AGGREGATES`, `LDISC_AGGREGATES`), as each
//! checkpoint's LOSS frame carries it: totals since the recording began, summed over the
//! CPUs, with the histograms' non-empty buckets only. The last one read is the recording's.

use serde::{Deserialize, Serialize};
use serial_trace_common::port_aggregates::{
    IrqAggregate, IrqCounts, LdiscAggregate, LdiscCounts, hist,
};

use super::trim_nul;

/// Every traced port's interrupt and line discipline timing at one checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortTimingTotals {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub irqs: Vec<IrqTotals>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ldisc: Vec<LdiscTotals>,
}

/// One traced port's IRQ (see [`IrqAggregate`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IrqTotals {
    pub irq: u32,
    #[serde(flatten)]
    pub counts: IrqCounts,
    pub handler_ns: Buckets,
}

/// One port's `flush_to_ldisc` work item (see [`LdiscAggregate`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdiscTotals {
    /// The work item's address (`&tty_port->buf.work`).
    pub work: u64,
    /// The tty open on the port when a run was seen ("" while none was).
    pub port: String,
    #[serde(flatten)]
    pub counts: LdiscCounts,
    pub delay_ns: Buckets,
    pub run_ns: Buckets,
}

/// A [`hist`] histogram's non-empty buckets: (bucket, count).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Buckets(pub Vec<(u16, u64)>);

impl Buckets {
    pub fn of(dense: &[u64; hist::BUCKETS]) -> Self {
        Self(
            dense
                .iter()
                .enumerate()
                .filter(|(_, c)| **c != 0)
                .map(|(i, c)| (i as u16, *c))
                .collect(),
        )
    }

    /// Back into a dense histogram (a bucket out of range, from a damaged or newer trace, is
    /// left out).
    pub fn dense(&self) -> Box<[u64; hist::BUCKETS]> {
        let mut out = Box::new([0; hist::BUCKETS]);
        for &(i, c) in &self.0 {
            if let Some(b) = out.get_mut(usize::from(i)) {
                *b = c.saturating_add(*b);
            }
        }
        out
    }
}

impl IrqTotals {
    pub fn of(irq: u32, a: &IrqAggregate) -> Self {
        Self {
            irq,
            counts: a.counts,
            handler_ns: Buckets::of(&a.handler_hist),
        }
    }

    pub fn aggregate(&self) -> Box<IrqAggregate> {
        let mut a = Box::new(IrqAggregate::ZERO);
        a.counts = self.counts;
        a.handler_hist = *self.handler_ns.dense();
        a
    }
}

impl LdiscTotals {
    pub fn of(work: u64, a: &LdiscAggregate) -> Self {
        Self {
            work,
            port: String::from_utf8_lossy(trim_nul(&a.name)).into_owned(),
            counts: a.counts,
            delay_ns: Buckets::of(&a.delay_hist),
            run_ns: Buckets::of(&a.run_hist),
        }
    }

    /// Back into an aggregate (the name stays in `port`).
    pub fn aggregate(&self) -> Box<LdiscAggregate> {
        let mut a = Box::new(LdiscAggregate::ZERO);
        a.counts = self.counts;
        a.delay_hist = *self.delay_ns.dense();
        a.run_hist = *self.run_ns.dense();
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_survive_the_trip_through_the_trace() {
        let mut irq = IrqAggregate::ZERO;
        for ns in [900, 12_000, 12_100, 3_000_000] {
            irq.add_run(1, ns);
        }
        irq.add_run(2, 40);
        let mut ld = LdiscAggregate::ZERO;
        ld.name[..5].copy_from_slice(b"ttyS1");
        ld.add_run(Some(250_000), 7_000);
        ld.add_run(None, 9_000);
        ld.counts.receives_in_runs = 3;
        let t = PortTimingTotals {
            irqs: vec![IrqTotals::of(4, &irq)],
            ldisc: vec![LdiscTotals::of(0xffff_8880_1234, &ld)],
        };
        let json = serde_json::to_string(&t).unwrap();
        let back: PortTimingTotals = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        assert_eq!(*back.irqs[0].aggregate(), irq);
        assert_eq!(back.ldisc[0].port, "ttyS1");
        let mut again = *back.ldisc[0].aggregate();
        again.name = ld.name;
        assert_eq!(again, ld);
        // a few hundred bytes for a port, not kilobytes of empty buckets
        assert!(json.len() < 600, "{json}");
    }
}
