//! The monitor's window: the last `--keep` of frames (at most `--memory` of them), a
//! second's segment at a time, and the state at its start, so that any stretch of it reads
//! as a trace of its own (`Window::view`). Pure: no kernel access.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read};
use std::sync::Arc;

use crate::trace::{
    ClockAnchor, Header, LossRecord, PortSnapshot, RunBefore, Symbol, Trailer, encode_frame,
    file_start, frame_type, loss_frame, trailer_frame,
};

/// The recorder's cumulative counters at one moment: what a stretch of the window starting
/// then subtracts, so its loss and port counters are its own.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub at: ClockAnchor,
    pub lost_total: u64,
    pub lost_per_cpu: Vec<u64>,
    pub recursion_misses: BTreeMap<String, u64>,
    pub ports: Vec<PortSnapshot>,
    /// Drop runs under way, and the bytes each had dropped: a stretch starting here must not
    /// count those again.
    pub open_runs: Vec<RunBefore>,
}

/// About a second of recording: its event (and symbol) frames as written, and the counters
/// when it was sealed.
struct Segment {
    seq: u64,
    frames: Arc<[u8]>,
    events: u64,
    loss: LossRecord,
    end: Counts,
}

pub struct Window {
    keep_ns: u64,
    memory: u64,
    segments: VecDeque<Segment>,
    bytes: u64,
    /// The counters before the oldest segment kept (the recorder's start, or the end of the
    /// last segment dropped).
    base: Counts,
    next_seq: u64,
    /// Every timer callback named so far: a saved window names them all, whichever segment
    /// first met them is gone.
    symbols: Vec<Symbol>,
    /// Segments dropped because --memory was full before --keep was reached, and their events.
    pub squeezed_segments: u64,
    pub squeezed_events: u64,
}

/// A stretch of the window, ready to be read or written as a trace.
pub struct View {
    pub parts: Vec<Arc<[u8]>>,
    pub events: u64,
    pub bytes: u64,
    pub start: ClockAnchor,
}

impl Window {
    pub fn new(keep_ns: u64, memory: u64, start: Counts) -> Self {
        Self {
            keep_ns,
            memory,
            segments: VecDeque::new(),
            bytes: 0,
            base: start,
            next_seq: 0,
            symbols: Vec::new(),
            squeezed_segments: 0,
            squeezed_events: 0,
        }
    }

    pub fn add_symbols(&mut self, symbols: &[Symbol]) {
        self.symbols.extend_from_slice(symbols);
    }

    /// Adds a segment (`frames`: whole frames, `events` in them), then drops the oldest
    /// segments past --keep (counted on CLOCK_MONOTONIC: time suspended does not age the
    /// window, so the seconds before a suspend stay after it) or past --memory.
    pub fn seal(&mut self, frames: Vec<u8>, events: u64, loss: LossRecord, end: Counts) {
        self.bytes += frames.len() as u64;
        self.segments.push_back(Segment {
            seq: self.next_seq,
            frames: frames.into(),
            events,
            loss,
            end,
        });
        self.next_seq += 1;
        let now = self.segments.back().map_or(0, |s| s.end.at.mono_ns);
        while let Some(oldest) = self.segments.front() {
            let aged = now.saturating_sub(oldest.end.at.mono_ns) > self.keep_ns;
            let full = self.bytes > self.memory;
            if !aged && !full {
                break;
            }
            if full && !aged {
                self.squeezed_segments += 1;
                self.squeezed_events += oldest.events;
            }
            let s = self.segments.pop_front().expect("a front segment");
            self.bytes -= s.frames.len() as u64;
            self.base = s.end;
        }
    }

    /// Compressed bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The sequence number the next segment will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The oldest segment's sequence number still held.
    pub fn first_seq(&self) -> Option<u64> {
        self.segments.front().map(|s| s.seq)
    }

    /// The segments from `from_seq` on (all of them for 0) as a trace: `header` with the
    /// stretch's start and port counters, every symbol, the segments with their loss counted
    /// from the stretch's start, and `trailer` likewise rebased (its `ports_end` and clock are
    /// the caller's: now).
    pub fn view(&self, from_seq: u64, header: &Header, trailer: &Trailer) -> io::Result<View> {
        let base = self
            .segments
            .iter()
            .take_while(|s| s.seq < from_seq)
            .last()
            .map_or(&self.base, |s| &s.end);
        let mut header = header.clone();
        header.start = base.at;
        header.ports_start = base.ports.clone();
        header.ports_attached = base.ports.clone();
        header.drop_runs_before = base.open_runs.clone();
        let mut parts: Vec<Arc<[u8]>> = vec![file_start(&header)?.into()];
        if !self.symbols.is_empty() {
            let payload = serde_json::to_vec(&self.symbols).map_err(io::Error::other)?;
            parts.push(encode_frame(frame_type::SYMBOLS, &payload)?.into());
        }
        let mut events = 0;
        for s in self.segments.iter().filter(|s| s.seq >= from_seq) {
            parts.push(Arc::clone(&s.frames));
            parts.push(loss_frame(&rebase_loss(&s.loss, base))?.into());
            events += s.events;
        }
        let mut trailer = trailer.clone();
        trailer.events_written = events;
        trailer.lost_total = trailer.lost_total.saturating_sub(base.lost_total);
        trailer.lost_per_cpu = minus(&trailer.lost_per_cpu, &base.lost_per_cpu);
        trailer.recursion_misses = minus_map(&trailer.recursion_misses, &base.recursion_misses);
        parts.push(trailer_frame(&trailer)?.into());
        let bytes = parts.iter().map(|p| p.len() as u64).sum();
        Ok(View {
            parts,
            events,
            bytes,
            start: base.at,
        })
    }
}

/// `loss` counted from `base`. The kernel's port timing totals (counts, maxima, histograms
/// since the recorder started) are left out: a maximum cannot be cut to a window, and a
/// stretch's report must not claim the whole run's.
fn rebase_loss(loss: &LossRecord, base: &Counts) -> LossRecord {
    LossRecord {
        at: loss.at,
        lost_total: loss.lost_total.saturating_sub(base.lost_total),
        lost_per_cpu: minus(&loss.lost_per_cpu, &base.lost_per_cpu),
        recursion_misses: minus_map(&loss.recursion_misses, &base.recursion_misses),
        misses_counted: loss.misses_counted,
        port_timing: None,
    }
}

fn minus(now: &[u64], base: &[u64]) -> Vec<u64> {
    now.iter()
        .enumerate()
        .map(|(i, v)| v.saturating_sub(base.get(i).copied().unwrap_or(0)))
        .collect()
}

fn minus_map(now: &BTreeMap<String, u64>, base: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    now.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.saturating_sub(base.get(k).copied().unwrap_or(0)),
            )
        })
        .collect()
}

/// A [`View`]'s parts read one after the other, without copying them.
pub struct ViewReader {
    parts: Vec<Arc<[u8]>>,
    part: usize,
    offset: usize,
}

impl ViewReader {
    pub fn new(view: &View) -> Self {
        Self {
            parts: view.parts.clone(),
            part: 0,
            offset: 0,
        }
    }
}

impl Read for ViewReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(p) = self.parts.get(self.part) {
            if self.offset < p.len() {
                let n = buf.len().min(p.len() - self.offset);
                buf[..n].copy_from_slice(&p[self.offset..self.offset + n]);
                self.offset += n;
                return Ok(n);
            }
            self.part += 1;
            self.offset = 0;
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{TraceReader, TraceWriter, sample_header};
    use serial_trace_common::Event;

    fn anchor(s: u64) -> ClockAnchor {
        ClockAnchor {
            mono_ns: s * 1_000_000_000,
            boot_ns: s * 1_000_000_000 + 5,
            realtime_ns: 0,
        }
    }

    /// A segment of `n` events at second `s`, with `lost` events lost so far.
    fn segment(w: &mut Window, s: u64, n: u64, lost: u64) {
        let mut tw = TraceWriter::frames_only(Vec::new());
        for i in 0..n {
            let mut ev = crate::trace::sample_event(i);
            ev.mono_ns = s * 1_000_000_000 + i;
            ev.boot_ns = ev.mono_ns + 5;
            tw.push(&ev).unwrap();
        }
        tw.flush().unwrap();
        let loss = LossRecord {
            at: anchor(s),
            lost_total: lost,
            lost_per_cpu: vec![lost],
            ..Default::default()
        };
        let end = Counts {
            at: anchor(s),
            lost_total: lost,
            lost_per_cpu: vec![lost],
            ..Default::default()
        };
        w.seal(std::mem::take(tw.get_mut()), n, loss, end);
    }

    fn read(v: &View) -> (Vec<Event>, crate::trace::Trailer, Header) {
        let mut r = TraceReader::new(ViewReader::new(v)).unwrap();
        let header = r.header().clone();
        let mut events = Vec::new();
        let mut trailer = None;
        while let Some(f) = r.next_owned(Vec::new()).unwrap() {
            match f {
                crate::trace::OwnedFrame::Events(e) => events.extend(e),
                crate::trace::OwnedFrame::Trailer(t) => trailer = Some(t),
                _ => {}
            }
        }
        assert_eq!(r.end(), Some(&crate::trace::ReadEnd::Clean));
        (events, trailer.expect("a trailer"), header)
    }

    #[test]
    fn the_window_keeps_the_last_seconds_and_reads_as_a_trace_of_its_own() {
        let mut w = Window::new(3_000_000_000, 1 << 30, Counts::default());
        for s in 1..=6 {
            segment(&mut w, s, 10, s * 2);
        }
        // seconds 3..=6 are within 3 s of the newest
        assert_eq!(w.first_seq(), Some(2));
        let end = Trailer {
            lost_total: 12,
            lost_per_cpu: vec![12],
            ..Default::default()
        };
        let v = w.view(0, &sample_header(), &end).unwrap();
        let (events, trailer, header) = read(&v);
        assert_eq!(events.len(), 40);
        assert_eq!(v.events, 40);
        // it starts where the last dropped segment (second 2) ended, loss counted from there
        assert_eq!(header.start, anchor(2));
        assert_eq!(trailer.lost_total, 12 - 4);
        assert_eq!(trailer.events_written, 40);
        // a stretch from a later segment on
        let v = w.view(4, &sample_header(), &end).unwrap();
        let (events, trailer, header) = read(&v);
        assert_eq!(events.len(), 20);
        assert_eq!(header.start, anchor(4));
        assert_eq!(trailer.lost_total, 12 - 8);
    }

    #[test]
    fn memory_bounds_the_window_before_keep_does() {
        let mut w = Window::new(3_600_000_000_000, 1, Counts::default());
        segment(&mut w, 1, 10, 0);
        // every segment is larger than 1 byte: none can stay, and each one dropped is counted
        assert_eq!(w.first_seq(), None);
        assert_eq!(w.bytes(), 0);
        assert_eq!((w.squeezed_segments, w.squeezed_events), (1, 10));
        let mut w = Window::new(3_600_000_000_000, 100_000, Counts::default());
        for s in 1..=50 {
            segment(&mut w, s, 1000, 0);
            assert!(w.bytes() <= 100_000);
        }
        assert!(w.squeezed_segments > 0);
        assert!(w.first_seq().is_some());
    }
}
