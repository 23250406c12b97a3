//! The kernel's log (`/dev/kmsg`), read without consuming it, for what sysfs does not keep:
//! which clocksources the kernel marked unstable since boot. Reading needs `CAP_SYSLOG` (or
//! `dmesg_restrict` = 0); a log that cannot be read, or has wrapped past boot, says nothing.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

use crate::trace::UnstableClocksource;

/// Records read at most (a log buffer holds a few thousand; this bounds a flood of messages).
const MAX_RECORDS: usize = 100_000;

/// The messages in the kernel's log now, oldest first; `None` when it cannot be read.
pub fn messages() -> Option<Vec<String>> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .ok()?;
    let mut out = Vec::new();
    // one record per read; a record longer than the buffer fails with EINVAL and is skipped
    let mut buf = vec![0u8; 8192];
    while out.len() < MAX_RECORDS {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let rec = String::from_utf8_lossy(&buf[..n]);
                // "prio,seq,usec,flags[,…];message\n" then continuation lines " KEY=value"
                let text = rec.lines().next().unwrap_or("");
                if let Some((_, msg)) = text.split_once(';') {
                    out.push(msg.to_string());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // records overwritten while reading (EPIPE): go on from the next one
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => continue,
            Err(_) => return None,
        }
    }
    Some(out)
}

/// The clocksources `messages` say the kernel marked unstable, each once (its first reason),
/// in the order marked. The kernel's words: the clocksource watchdog's "Marking clocksource
/// 'X' as unstable because …" (kernel/time/clocksource.c) and x86's "Marking TSC unstable due
/// to …" (arch/x86/kernel/tsc.c, the `tsc` clocksource).
pub fn unstable_clocksources(messages: &[String]) -> Vec<UnstableClocksource> {
    let mut out: Vec<UnstableClocksource> = Vec::new();
    for m in messages {
        let found = if let Some((_, rest)) = m.split_once("Marking clocksource '") {
            rest.split_once('\'').map(|(name, tail)| {
                let reason = tail
                    .split_once("because ")
                    .map_or("", |(_, r)| r)
                    .trim_end_matches(':')
                    .trim();
                (name.to_string(), reason.to_string())
            })
        } else {
            m.split_once("Marking TSC unstable due to ")
                .map(|(_, reason)| ("tsc".to_string(), reason.trim().to_string()))
        };
        let Some((name, reason)) = found else {
            continue;
        };
        if !name.is_empty() && !out.iter().any(|u| u.name == name) {
            out.push(UnstableClocksource { name, reason });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_words_for_an_unstable_clocksource_are_recognized() {
        let log: Vec<String> = [
            "clocksource: tsc-early: mask: 0xffffffffffffffff max_cycles: 0x2b3e4b2a1b3, max_idle_ns: 440795294467 ns",
            "clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because the skew is too large:",
            "clocksource:                       'hpet' wd_nsec: 511999165 wd_now: 5a7a2b6 wd_last: 4d3b3f0 mask: ffffffff",
            "tsc: Marking TSC unstable due to clocksource watchdog",
            "clocksource: Switched to clocksource hpet",
            "clocksource: timekeeping watchdog on CPU0: Marking clocksource 'arch_sys_counter' as unstable because the skew is too large:",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let u = unstable_clocksources(&log);
        assert_eq!(
            u,
            [
                UnstableClocksource {
                    name: "tsc".into(),
                    reason: "the skew is too large".into()
                },
                UnstableClocksource {
                    name: "arch_sys_counter".into(),
                    reason: "the skew is too large".into()
                },
            ]
        );
        // the TSC marked by x86 alone (e.g. "check_tsc_sync_source failed")
        let u = unstable_clocksources(&[
            "tsc: Marking TSC unstable due to check_tsc_sync_source failed".into(),
        ]);
        assert_eq!(u[0].reason, "check_tsc_sync_source failed");
        assert!(
            unstable_clocksources(&["clocksource: Switched to clocksource tsc".into()]).is_empty()
        );
    }
}
