//! Facts about the running system that go into the trace header.

use crate::trace::ClockAnchor;

fn uname() -> libc::utsname {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    unsafe { libc::uname(&mut u) };
    u
}

fn field(f: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = f
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub fn kernel_release() -> String {
    field(&uname().release)
}

pub fn kernel_version() -> String {
    field(&uname().version)
}

pub fn machine() -> String {
    field(&uname().machine)
}

pub fn hostname() -> String {
    field(&uname().nodename)
}

pub fn cpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

/// The three clocks read at one moment: back to back between two reads of the monotonic
/// clock, again (five times at most, the tightest kept) while those are more than
/// `CLOCK_PAIR_GAP_NS` apart. The start's boot − monotonic offset fills in the boot clock of
/// the events before the first suspend/resume phase (seen on x86_64 6.1 under TCG: an anchor
/// read 87 µs apart put 2,913 events 87 µs off).
pub fn clock_anchor() -> ClockAnchor {
    use super::clock::clock_ns;
    let mut best: Option<(u64, ClockAnchor)> = None;
    for _ in 0..5 {
        let anchor = ClockAnchor {
            mono_ns: clock_ns(libc::CLOCK_MONOTONIC),
            boot_ns: clock_ns(libc::CLOCK_BOOTTIME),
            realtime_ns: clock_ns(libc::CLOCK_REALTIME),
        };
        let gap = clock_ns(libc::CLOCK_MONOTONIC).saturating_sub(anchor.mono_ns);
        if best.as_ref().is_none_or(|(g, _)| gap < *g) {
            best = Some((gap, anchor));
        }
        if gap <= serial_trace_common::CLOCK_PAIR_GAP_NS {
            break;
        }
    }
    best.expect("read at least once").1
}

/// The IRQ that woke the system from its last suspend (`/sys/power/pm_wakeup_irq`); `None`
/// where the file is absent or the kernel has none to report (it reads ENODATA then).
pub fn pm_wakeup_irq() -> Option<u32> {
    std::fs::read_to_string("/sys/power/pm_wakeup_irq")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// This process's peak resident set size in KiB (`getrusage(RUSAGE_SELF).ru_maxrss`).
pub fn max_rss_kb() -> Option<u64> {
    // SAFETY: zeroed rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to an rusage.
    (unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0).then_some(ru.ru_maxrss as u64)
}

/// Gives the heap's free memory back to the kernel (glibc keeps freed memory for reuse, so a
/// large structure freed early would otherwise stay resident for the whole recording).
pub fn release_freed_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks glibc's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// This process's resident memory, the BPF maps it has mapped (the event ring buffer: its
/// consumer and producer pages and its data, which the kernel maps twice so that a record may
/// wrap) apart from the rest: the recorder's own memory is what a tracer costs besides the
/// ring whose size the user chose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resident {
    pub total_kb: u64,
    pub bpf_maps_kb: u64,
}

impl Resident {
    /// Resident besides the mapped BPF maps.
    pub fn own_kb(&self) -> u64 {
        self.total_kb.saturating_sub(self.bpf_maps_kb)
    }

    /// From `/proc/self/smaps` (`None` where it cannot be read).
    pub fn now() -> Option<Self> {
        std::fs::read_to_string("/proc/self/smaps")
            .ok()
            .map(|t| Self::parse_smaps(&t))
    }

    /// Sums the `Rss:` of every mapping, and apart those of BPF maps (`anon_inode:bpf-map`).
    pub fn parse_smaps(text: &str) -> Self {
        let mut r = Self::default();
        let mut in_map = false;
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("Rss:") {
                let kb: u64 = v
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                r.total_kb += kb;
                if in_map {
                    r.bpf_maps_kb += kb;
                }
            } else if line
                .split_whitespace()
                .next()
                .is_some_and(|range| range.contains('-') && !range.ends_with(':'))
            {
                // a mapping's first line: `start-end perms offset dev inode [path]`
                in_map = line.trim_end().ends_with("anon_inode:bpf-map");
            }
        }
        r
    }
}

/// This process's resident set size now, in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::Resident;

    /// Anchors read at one moment agree on boot − monotonic within the pair's allowed gap
    /// (no suspend here: the kernel's offset is constant).
    #[test]
    fn clock_anchors_agree_on_the_boot_offset() {
        let offsets: Vec<i64> = (0..200)
            .map(|_| super::clock_anchor())
            .map(|a| a.boot_ns as i64 - a.mono_ns as i64)
            .collect();
        let spread = offsets.iter().max().unwrap() - offsets.iter().min().unwrap();
        assert!(
            spread <= serial_trace_common::CLOCK_PAIR_GAP_NS as i64,
            "{spread} ns: {offsets:?}"
        );
    }

    #[test]
    fn smaps_splits_the_bpf_maps_from_the_rest() {
        let smaps = "\
55d0c0a00000-55d0c1000000 r-xp 00000000 fd:01 1234                       /usr/bin/serial-trace
Size:               6144 kB
Rss:                5000 kB
Pss:                5000 kB
7f8a50a00000-7f8a51201000 r--s 00001000 00:10 26                         anon_inode:bpf-map
Size:               8196 kB
Rss:                8196 kB
7f8a51300000-7f8a51400000 rw-p 00000000 00:00 0 
Rss:                 700 kB
7f8a518eb000-7f8a518ec000 rw-s 00000000 00:10 26                         anon_inode:bpf-map
Rss:                   4 kB
VmFlags: rd wr sh mr mw me ms sd
";
        let r = Resident::parse_smaps(smaps);
        assert_eq!(
            r,
            Resident {
                total_kb: 5000 + 8196 + 700 + 4,
                bpf_maps_kb: 8196 + 4,
            }
        );
        assert_eq!(r.own_kb(), 5700);
        assert_eq!(Resident::parse_smaps(""), Resident::default());
    }
}
