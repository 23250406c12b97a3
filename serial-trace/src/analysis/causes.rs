//! Why bytes were lost: every drop window gets a cause with its evidence and a one-line causal
//! chain, from the loss back to its origin, e.g.
//! `ttyS1: 1,640,640 bytes lost 81.86–98.53 s ← flip buffer full (640 KiB) ← reader pid 760
//! (cat) frozen from freeze_processes to thaw_processes ← pm_test cycle 1`.
//!
//! Causes of bytes the flip buffer refused, in the order they are tested:
//! * `no_reader`: no task read the port during the recording (frozen or not, nothing would
//!   have taken the bytes);
//! * `resume_ordering`: the window began after the system resumed but before user tasks were
//!   thawed: the port took data again before its reader could run;
//! * `reader_frozen`: the window began while user tasks were frozen by a suspend cycle
//!   (`freeze_processes` begin to `thaw_processes` begin), or after the thaw began but before
//!   the reader's first read since (or the cycle's end, if it never read again): the reader
//!   could not read;
//! * `reader_slow`: the port had readers, but they did not keep up.
//!
//! Causes of UART FIFO overruns (bytes lost in the hardware before the driver read them):
//! * `resume_ordering`: data arrived while resuming, before the serial driver's resume
//!   callback ended;
//! * `hw_overrun`: otherwise: the receive interrupt was served too late.

use super::serial::{DropCause, DropWindow, LostIn, PortReport, ReaderReport};
use super::suspend::SuspendCycle;
use crate::fmt::{fmt_ns, thousands};

/// Cause and chain of a window of UART FIFO overruns.
fn attribute_overrun(w: &mut DropWindow, cycles: &[SuspendCycle]) {
    let head = format!(
        "{}: {} UART FIFO overruns (≥ {} bytes lost) {}–{}",
        w.port,
        thousands(w.bytes),
        thousands(w.bytes),
        fmt_ns(w.t_boot_ns),
        fmt_ns(w.end_boot_ns)
    );
    let resuming = cycles.iter().find(|c| {
        c.resumed_boot_ns.is_some_and(|r| w.t_boot_ns >= r)
            && c.serial_resumed_boot_ns
                .or(c.complete.then_some(c.end_boot_ns))
                .is_some_and(|e| w.t_boot_ns <= e)
    });
    let (cause, origin) = match resuming {
        Some(c) => (
            DropCause::ResumeOrdering,
            format!(
                "data arrived before the serial driver resumed ({}) ← {} cycle {}",
                c.serial_resumed_boot_ns
                    .map_or("not seen".to_string(), |t| format!("at {}", fmt_ns(t))),
                c.kind(),
                c.index
            ),
        ),
        None => (
            DropCause::HwOverrun,
            "the receive interrupt was served too late to empty the FIFO".to_string(),
        ),
    };
    w.cause = Some(cause);
    w.chain = Some(format!("{head} ← {origin}"));
}

/// Sets `cause` and `chain` of every drop window.
pub fn attribute(
    drops: &mut [DropWindow],
    ports: &[PortReport],
    readers: &[ReaderReport],
    cycles: &[SuspendCycle],
) {
    for w in drops.iter_mut() {
        if w.lost_in == LostIn::UartFifo {
            attribute_overrun(w, cycles);
            continue;
        }
        let port = ports.iter().find(|p| p.name == w.port);
        let full = match port.map(|p| p.flip_buffer_limit) {
            Some(limit) if limit > 0 => format!("flip buffer full ({} KiB)", limit / 1024),
            _ => "flip buffer full".to_string(),
        };
        // the reader that read the most from this port
        let reader = readers
            .iter()
            .filter(|r| r.port == w.port && r.bytes > 0)
            .max_by_key(|r| r.bytes);
        let who = reader.map(|r| format!("reader pid {} ({})", r.pid, r.comm));
        let frozen = cycles.iter().find_map(|c| {
            let (a, b) = c.frozen_boot_ns?;
            (w.t_boot_ns >= a && w.t_boot_ns <= b).then_some(c)
        });
        // thawed, but the reader had not read yet: tasks thaw one by one and then wait for a
        // CPU (seen on 6.1 under TCG: a window 35 ms after thaw_processes began, 13 ms before
        // it ended, the reader's first read after it later still)
        let not_back = reader.and_then(|r| {
            cycles.iter().find_map(|c| {
                let (_, thaw) = c.frozen_boot_ns?;
                let back = r
                    .back_after_thaw
                    .iter()
                    .find(|&&(t, _)| t == thaw)
                    .map_or(c.end_boot_ns, |&(_, back)| back);
                (w.t_boot_ns > thaw && w.t_boot_ns < back).then_some((c, back))
            })
        });
        let head = format!(
            "{}: {} bytes lost {}–{}",
            w.port,
            thousands(w.bytes),
            fmt_ns(w.t_boot_ns),
            fmt_ns(w.end_boot_ns)
        );
        let resuming = frozen.filter(|c| c.resumed_boot_ns.is_some_and(|r| w.t_boot_ns >= r));
        let (cause, origin) = match (frozen, &who) {
            // without a reader nothing would have read the bytes, frozen or not
            (_, None) => (
                DropCause::NoReader,
                format!("no task read {} during the recording", w.port),
            ),
            (Some(c), _) if resuming.is_some() => (
                DropCause::ResumeOrdering,
                format!(
                    "port resumed at {} before {} was thawed ← {} cycle {}",
                    fmt_ns(c.resumed_boot_ns.unwrap_or(0)),
                    who.as_deref().unwrap_or("its reader"),
                    c.kind(),
                    c.index
                ),
            ),
            (Some(c), _) => (
                DropCause::ReaderFrozen,
                format!(
                    "{} frozen from freeze_processes to thaw_processes ← {} cycle {}",
                    who.as_deref().unwrap_or("every reader"),
                    c.kind(),
                    c.index
                ),
            ),
            (None, Some(who)) => match not_back {
                Some((c, back)) => (
                    DropCause::ReaderFrozen,
                    format!(
                        "{who} frozen from freeze_processes, first read after the thaw at {} ← {} cycle {}",
                        fmt_ns(back),
                        c.kind(),
                        c.index
                    ),
                ),
                None => (
                    DropCause::ReaderSlow,
                    format!("{who} did not read fast enough"),
                ),
            },
        };
        w.cause = Some(cause);
        w.chain = Some(format!("{head} ← {full} ← {origin}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::suspend::SuspendStats;
    use crate::analysis::suspend::tests::s3_cycle;

    /// One S3 cycle from 10 s, 3 s suspended, as the report sees it.
    fn s3_at_10s() -> Vec<SuspendCycle> {
        let mut st = SuspendStats::default();
        for e in s3_cycle(10_000_000_000, 0, 3_000_000_000) {
            st.event(&e);
        }
        st.finish(Default::default(), None)
    }

    fn window(t: u64, bytes: u64) -> DropWindow {
        DropWindow {
            port: "ttyS1".into(),
            t_mono_ns: t,
            t_boot_ns: t,
            end_mono_ns: t + 1_000_000_000,
            end_boot_ns: t + 1_000_000_000,
            bytes,
            lost_in: LostIn::FlipBuffer,
            coarse: false,
            interval_ns: 0,
            cause: None,
            chain: None,
        }
    }

    fn port() -> PortReport {
        PortReport {
            name: "ttyS1".into(),
            flip_buffer_limit: 655_360,
            ..Default::default()
        }
    }

    fn reader() -> ReaderReport {
        ReaderReport {
            port: "ttyS1".into(),
            pid: 812,
            comm: "cat".into(),
            bytes: 5000,
            ..Default::default()
        }
    }

    #[test]
    fn frozen_reader_no_reader_and_slow_reader() {
        // an S3 cycle from 10 s, 3 s suspended; its freeze window starts at 10 s
        let cycles = s3_at_10s();
        let (fa, fb) = cycles[0].frozen_boot_ns.unwrap();
        let mut drops = vec![window(fa + 1, 12_345), window(fb + 5_000_000_000, 10)];
        attribute(&mut drops, &[port()], &[reader()], &cycles);
        assert_eq!(drops[0].cause, Some(DropCause::ReaderFrozen));
        let chain = drops[0].chain.as_deref().unwrap();
        assert!(
            chain.starts_with("ttyS1: 12,345 bytes lost")
                && chain.contains("← flip buffer full (640 KiB) ← reader pid 812 (cat) frozen")
                && chain.ends_with("← S3 cycle 1"),
            "{chain}"
        );
        assert_eq!(drops[1].cause, Some(DropCause::ReaderSlow));
        assert!(
            drops[1]
                .chain
                .as_deref()
                .unwrap()
                .contains("did not read fast enough")
        );
        // without any reader, a window inside the freeze is still no_reader
        let mut drops = vec![window(fb + 5_000_000_000, 10), window(fa + 1, 7)];
        attribute(&mut drops, &[port()], &[], &cycles);
        assert_eq!(drops[1].cause, Some(DropCause::NoReader));
        assert_eq!(drops[0].cause, Some(DropCause::NoReader));
        assert!(
            drops[0]
                .chain
                .as_deref()
                .unwrap()
                .ends_with("no task read ttyS1 during the recording")
        );
    }

    #[test]
    fn a_window_after_the_thaw_began_but_before_the_reader_read_again_is_the_freezers() {
        // S3 from 10 s, 3 s asleep: thaw_processes from 13.009 s to 13.010 s
        let cycles = s3_at_10s();
        let (_, thaw) = cycles[0].frozen_boot_ns.unwrap();
        assert_eq!(thaw, 13_009_000_000);
        let ms = 1_000_000;
        // the reader's first read after the thaw returned data 50 ms after it began
        let back = ReaderReport {
            back_after_thaw: vec![(thaw, thaw + 50 * ms)],
            ..reader()
        };
        let mut drops = vec![window(thaw + 35 * ms, 81), window(thaw + 60 * ms, 9)];
        attribute(&mut drops, &[port()], &[back], &cycles);
        assert_eq!(drops[0].cause, Some(DropCause::ReaderFrozen));
        let chain = drops[0].chain.as_deref().unwrap();
        assert!(
            chain.contains("reader pid 812 (cat) frozen from freeze_processes, first read after the thaw at 13.06 s")
                && chain.ends_with("← S3 cycle 1"),
            "{chain}"
        );
        // once it read again, a new window is the reader's own
        assert_eq!(drops[1].cause, Some(DropCause::ReaderSlow));
        // a reader that never read after the thaw: frozen up to the cycle's end, not after
        let mut drops = vec![
            window(thaw + ms / 2, 5),
            window(cycles[0].end_boot_ns + ms, 5),
        ];
        attribute(&mut drops, &[port()], &[reader()], &cycles);
        assert_eq!(drops[0].cause, Some(DropCause::ReaderFrozen));
        assert_eq!(drops[1].cause, Some(DropCause::ReaderSlow));
    }

    #[test]
    fn resume_ordering_and_late_interrupts() {
        // S3 from 10 s, 3 s asleep: resuming begins at machine_suspend end (boot 13.008 s),
        // tasks thaw from 13.009 s
        let mut cycles = s3_at_10s();
        let resumed = cycles[0].resumed_boot_ns.unwrap();
        assert_eq!(resumed, 13_008_000_000);
        // flip buffer drops after the port resumed, reader still frozen
        let mut drops = vec![window(resumed + 500_000, 64)];
        attribute(&mut drops, &[port()], &[reader()], &cycles);
        assert_eq!(drops[0].cause, Some(DropCause::ResumeOrdering));
        let chain = drops[0].chain.as_deref().unwrap();
        assert!(
            chain.contains("port resumed at 13.01 s before reader pid 812 (cat) was thawed")
                && chain.ends_with("S3 cycle 1"),
            "{chain}"
        );
        // FIFO overruns before the serial driver's resume callback ended, and long after
        cycles[0].serial_resumed_boot_ns = Some(resumed + 1_000_000);
        let fifo = |t: u64, n: u64| DropWindow {
            lost_in: LostIn::UartFifo,
            ..window(t, n)
        };
        let mut drops = vec![
            fifo(resumed + 200_000, 3),
            fifo(resumed + 60_000_000_000, 1),
        ];
        attribute(&mut drops, &[port()], &[reader()], &cycles);
        assert_eq!(drops[0].cause, Some(DropCause::ResumeOrdering));
        assert!(
            drops[0]
                .chain
                .as_deref()
                .unwrap()
                .starts_with("ttyS1: 3 UART FIFO overruns (≥ 3 bytes lost)")
                && drops[0]
                    .chain
                    .as_deref()
                    .unwrap()
                    .contains("data arrived before the serial driver resumed (at 13.01 s)"),
            "{:?}",
            drops[0].chain
        );
        assert_eq!(drops[1].cause, Some(DropCause::HwOverrun));
        assert!(
            drops[1]
                .chain
                .as_deref()
                .unwrap()
                .ends_with("served too late to empty the FIFO")
        );
    }
}
