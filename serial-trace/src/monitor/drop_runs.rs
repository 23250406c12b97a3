//! The serial hooks' drop runs as the analysis reads them (`analysis/serial.rs`): a run is
//! reported open at checkpoints while it grows (`flip_drop_open`) and closed once
//! (`flip_drop`), each event carrying the run's whole count so far; a checkpoint of a run
//! already closed is stale. The metrics count what each run grew by; the window states what
//! the runs still open had dropped when a stretch of it begins (`RunBefore`).

use std::collections::BTreeMap;

use serial_trace_common::{Event, arg, kind};

use crate::trace::RunBefore;

/// Runs open and the latest closed per port.
#[derive(Default)]
pub struct DropRuns {
    /// Per (port, first drop), bytes counted so far.
    open: BTreeMap<(u64, u64), u64>,
    /// Per port, the first drop of the latest closed run.
    closed: BTreeMap<u64, u64>,
}

impl DropRuns {
    /// A `flip_drop_open` or `flip_drop`: the bytes its run grew by since last seen (0 for a
    /// stale checkpoint), so a counter rises as the run does and never counts it twice.
    pub fn event(&mut self, ev: &Event) -> u64 {
        use arg::serial_flip_drop as a;
        let (port, first) = (ev.args[a::PORT], ev.args[a::FIRST_MONO_NS]);
        let bytes = ev.args[a::REQUESTED].saturating_sub(ev.args[a::INSERTED]);
        let stale = self.closed.get(&port).is_some_and(|&c| c >= first);
        if ev.kind == kind::SERIAL_DROP_OPEN {
            if stale {
                return 0;
            }
            let counted = self.open.entry((port, first)).or_default();
            let grew = bytes.saturating_sub(*counted);
            *counted = (*counted).max(bytes);
            return grew;
        }
        let counted = self.open.remove(&(port, first)).unwrap_or(0);
        let c = self.closed.entry(port).or_insert(first);
        *c = (*c).max(first);
        bytes.saturating_sub(counted)
    }

    /// The runs open now, each with the bytes it has dropped so far.
    pub fn open(&self) -> Vec<RunBefore> {
        self.open
            .iter()
            .map(|(&(port, first_mono_ns), &bytes)| RunBefore {
                port,
                first_mono_ns,
                bytes,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(k: u16, port: u64, first: u64, dropped: u64) -> Event {
        use arg::serial_flip_drop as a;
        let mut ev = Event::ZERO;
        ev.kind = k;
        ev.args[a::PORT] = port;
        ev.args[a::FIRST_MONO_NS] = first;
        // as the analysis's fixture: 100 of the bytes asked for went in
        ev.args[a::REQUESTED] = dropped + 100;
        ev.args[a::INSERTED] = 100;
        ev
    }

    #[test]
    fn a_drop_run_counts_once_as_it_grows_and_closes() {
        let mut d = DropRuns::default();
        let open = kind::SERIAL_DROP_OPEN;
        let close = kind::SERIAL_FLIP_DROP;
        // the analysis's own fixture (analysis/serial.rs): 1,000 and 300 bytes in all
        assert_eq!(d.event(&run(open, 7, 1_000, 500)), 500);
        assert_eq!(d.event(&run(open, 7, 1_000, 900)), 400);
        assert_eq!(d.event(&run(close, 7, 1_000, 1_000)), 100);
        // a checkpoint of the run written before its close arrived after it: stale
        assert_eq!(d.event(&run(open, 7, 1_000, 950)), 0);
        // an earlier run closed late (rings are read per CPU)
        assert_eq!(d.event(&run(close, 7, 500, 300)), 300);
        // another port's run, open at the end: what it reached counts
        assert_eq!(d.event(&run(open, 8, 9_000, 500)), 500);
        assert_eq!(d.event(&run(open, 8, 9_000, 800)), 300);
        // the run open now, and what it dropped so far: a window beginning here subtracts it
        let open: Vec<(u64, u64, u64)> = d
            .open()
            .iter()
            .map(|r| (r.port, r.first_mono_ns, r.bytes))
            .collect();
        assert_eq!(open, [(8, 9_000, 800)]);
    }
}
