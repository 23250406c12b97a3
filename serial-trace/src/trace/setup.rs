//! The system settings a recording ran under (issue 18, system part), stored in the trace
//! header: after the fact they may have changed, and half of the failures this tool explains
//! are configuration. Read by `kernel/system_setup.rs` at the start of `record`; every field
//! is what the kernel said, or absent where it said nothing (a file missing on that kernel).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemSetup {
    /// The clocksource timekeeping uses (`current_clocksource`), and the others available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clocksource: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clocksources_available: Vec<String>,
    /// Clocksources the kernel marked unstable since boot (its log), each with its reason;
    /// absent when the log could not be read (no `CAP_SYSLOG`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clocksources_unstable: Option<Vec<UnstableClocksource>>,
    /// `clock_getres(CLOCK_MONOTONIC)`: 1 ns with high-resolution timers, else the tick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monotonic_resolution_ns: Option<u64>,
    /// `clock_getres(CLOCK_MONOTONIC_COARSE)`: the tick, 1 s / HZ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_ns: Option<u64>,
    /// CPUs in adaptive-tick (`nohz_full`) mode, as the kernel lists them ("" = none; absent
    /// without `CONFIG_NO_HZ_FULL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nohz_full: Option<String>,
    /// `/sys/power/mem_sleep`: what `echo mem` does (`deep` = S3, `s2idle`, `shallow`), and the
    /// choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_sleep: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mem_sleep_available: Vec<String>,
    /// `/sys/power/state`: the sleep states the kernel offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub power_states: Vec<String>,
    /// `/sys/power/pm_test`: the test level selected (`none` outside tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pm_test: Option<String>,
    /// Devices allowed to wake the system (`power/wakeup` = `enabled`), by sysfs name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wakeup_devices: Vec<String>,
    /// The RTC (`/sys/class/rtc/rtc0`): its name and whether it can wake the system
    /// (`wakealarm` exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtc_wakealarm: Option<bool>,
    /// The cpuidle driver and governor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuidle_driver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuidle_governor: Option<String>,
}

/// A clocksource the kernel stopped trusting: the watchdog found it drifting against another
/// (or the TSC failed a check), so timekeeping switched to a slower or coarser one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnstableClocksource {
    pub name: String,
    /// The kernel's words after "because" / "due to" ("the skew is too large").
    pub reason: String,
}

impl SystemSetup {
    /// HZ, from the tick.
    pub fn hz(&self) -> Option<u64> {
        self.tick_ns
            .filter(|&t| t > 0)
            .map(|t| (1_000_000_000 + t / 2) / t)
    }

    /// High-resolution timers are on (the monotonic clock resolves to 1 ns).
    pub fn high_resolution(&self) -> Option<bool> {
        self.monotonic_resolution_ns.map(|r| r <= 1)
    }
}

/// The selected word of a sysfs choice list (`s2idle [deep]` → `deep`), and every choice.
pub fn sysfs_choice(text: &str) -> (Option<String>, Vec<String>) {
    let mut selected = None;
    let all = text
        .split_whitespace()
        .map(
            |w| match w.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
                Some(inner) => {
                    selected = Some(inner.to_string());
                    inner.to_string()
                }
                None => w.to_string(),
            },
        )
        .collect();
    (selected, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_and_the_selected_one() {
        assert_eq!(
            sysfs_choice("s2idle [deep]\n"),
            (Some("deep".into()), vec!["s2idle".into(), "deep".into()])
        );
        assert_eq!(
            sysfs_choice("[none] core processors platform devices freezer\n").0,
            Some("none".into())
        );
        assert_eq!(sysfs_choice("freeze mem disk").0, None);
    }

    #[test]
    fn hz_from_the_tick_and_high_resolution_from_the_monotonic_clock() {
        let s = SystemSetup {
            tick_ns: Some(4_000_000),
            monotonic_resolution_ns: Some(1),
            ..Default::default()
        };
        assert_eq!((s.hz(), s.high_resolution()), (Some(250), Some(true)));
        let s = SystemSetup {
            tick_ns: Some(3_333_333),
            monotonic_resolution_ns: Some(3_333_333),
            ..Default::default()
        };
        assert_eq!((s.hz(), s.high_resolution()), (Some(300), Some(false)));
        assert_eq!(SystemSetup::default().hz(), None);
    }
}
