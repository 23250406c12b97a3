//! The boot clock of the events whose program left it out (`serial_trace_common::CLOCKS_MAP`):
//! outside a suspend/resume phase it runs a constant offset ahead of the monotonic clock, the
//! offset of the last `suspend_resume` event (the one that closed the phase is in the ring
//! before every event that left it out), or the header's before any.

use serial_trace_common::{Event, kind};

/// The boot clock's offset over the monotonic one, as the ring's events go by.
pub struct BootClock {
    offset: u64,
}

impl BootClock {
    /// From a moment both clocks were read (the header's start).
    pub fn new(mono_ns: u64, boot_ns: u64) -> Self {
        Self {
            offset: boot_ns.wrapping_sub(mono_ns),
        }
    }

    /// Fills in `ev`'s boot clock if its program left it out (0), or learns the offset from a
    /// `suspend_resume` event. Events come in ring order.
    pub fn complete(&mut self, ev: &mut Event) {
        if ev.boot_ns == 0 {
            ev.boot_ns = ev.mono_ns.wrapping_add(self.offset);
        } else if ev.kind == kind::SUSPEND_RESUME {
            self.offset = ev.boot_ns.wrapping_sub(ev.mono_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: u16, mono_ns: u64, boot_ns: u64) -> Event {
        let mut ev = Event::ZERO;
        ev.kind = kind;
        ev.mono_ns = mono_ns;
        ev.boot_ns = boot_ns;
        ev
    }

    #[test]
    fn a_left_out_boot_clock_takes_the_offset_of_the_last_phase() {
        let mut c = BootClock::new(1_000, 5_000);
        let mut hot = event(kind::HRTIMER_START, 2_000, 0);
        c.complete(&mut hot);
        assert_eq!(hot.boot_ns, 6_000);
        // a suspend cycle slept 10 s: its closing event carries the new offset
        let mut close = event(kind::SUSPEND_RESUME, 3_000, 10_000_007_000);
        c.complete(&mut close);
        assert_eq!(
            close.boot_ns, 10_000_007_000,
            "an event's own clock is kept"
        );
        let mut after = event(kind::SCHED_SWITCH, 4_000, 0);
        c.complete(&mut after);
        assert_eq!(after.boot_ns, 10_000_008_000);
        // an event that read both clocks (a serial one) teaches nothing: only phases change it
        let mut serial = event(kind::SERIAL_FLIP_DROP, 5_000, 10_000_009_003);
        c.complete(&mut serial);
        let mut later = event(kind::HRTIMER_CANCEL, 6_000, 0);
        c.complete(&mut later);
        assert_eq!(later.boot_ns, 10_000_010_000);
    }
}
