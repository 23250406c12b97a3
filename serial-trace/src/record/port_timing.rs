//! Reads the port timing the kernel aggregates per CPU (`IRQ_AGGREGATES`, `LDISC_AGGREGATES`)
//! and sums it for each checkpoint's LOSS frame: the timing is in the trace even when no
//! event was written for it, and a trace cut by a crash holds it as of the last checkpoint.

use aya::Ebpf;
use aya::maps::{MapData, PerCpuHashMap};
use serial_trace_common::port_aggregates::{
    IRQ_AGGREGATES_MAP, IrqAggregate, LDISC_AGGREGATES_MAP, LdiscAggregate,
};

use crate::trace::{IrqTotals, LdiscTotals, PortTimingTotals};

pub struct PortTimingMaps {
    irqs: Option<PerCpuHashMap<MapData, u64, IrqAggregate>>,
    ldisc: Option<PerCpuHashMap<MapData, u64, LdiscAggregate>>,
    /// What the last checkpoint wrote.
    last: Option<PortTimingTotals>,
}

impl PortTimingMaps {
    pub fn take(ebpf: &mut Ebpf) -> Self {
        Self {
            irqs: ebpf
                .take_map(IRQ_AGGREGATES_MAP)
                .and_then(|m| PerCpuHashMap::try_from(m).ok()),
            ldisc: ebpf
                .take_map(LDISC_AGGREGATES_MAP)
                .and_then(|m| PerCpuHashMap::try_from(m).ok()),
            last: None,
        }
    }

    /// The totals now, when they differ from the last ones returned (nothing new: `None`).
    pub fn read_if_changed(&mut self) -> Option<PortTimingTotals> {
        let now = self.read();
        let unchanged = match &self.last {
            Some(last) => *last == now,
            None => now == PortTimingTotals::default(),
        };
        if unchanged {
            return None;
        }
        self.last = Some(now.clone());
        Some(now)
    }

    fn read(&self) -> PortTimingTotals {
        let mut out = PortTimingTotals::default();
        if let Some(map) = &self.irqs {
            for (irq, per_cpu) in map.iter().flatten() {
                let mut sum = Box::new(IrqAggregate::ZERO);
                per_cpu.iter().for_each(|v| sum.merge(v));
                out.irqs.push(IrqTotals::of(irq as u32, &sum));
            }
        }
        if let Some(map) = &self.ldisc {
            for (work, per_cpu) in map.iter().flatten() {
                let mut sum = Box::new(LdiscAggregate::ZERO);
                per_cpu.iter().for_each(|v| sum.merge(v));
                out.ldisc.push(LdiscTotals::of(work, &sum));
            }
        }
        out.irqs.sort_by_key(|t| t.irq);
        out.ldisc.sort_by_key(|t| t.work);
        out
    }
}
