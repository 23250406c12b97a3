//! Reads the system settings a recording runs under ([`SystemSetup`]) from sysfs and the
//! clocks, at the start of `record`. Every file is optional (a kernel without the feature has
//! none): what is missing stays absent, never guessed.

use std::path::Path;

use crate::trace::{SystemSetup, sysfs_choice};

/// The settings of this machine.
pub fn system_setup() -> SystemSetup {
    let mut s = from_sysfs(Path::new("/"));
    s.monotonic_resolution_ns = resolution_ns(libc::CLOCK_MONOTONIC);
    s.tick_ns = resolution_ns(libc::CLOCK_MONOTONIC_COARSE);
    s.clocksources_unstable =
        super::kernel_log::messages().map(|m| super::kernel_log::unstable_clocksources(&m));
    s
}

fn resolution_ns(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    (unsafe { libc::clock_getres(clock, &mut ts) } == 0)
        .then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Everything read from files, under `root` (`/`, or a test's copy of the tree).
fn from_sysfs(root: &Path) -> SystemSetup {
    let read = |p: &str| {
        std::fs::read_to_string(root.join(p))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let words = |p: &str| -> Vec<String> {
        read(p)
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let (mem_sleep, mem_sleep_available) = read("sys/power/mem_sleep")
        .map(|t| sysfs_choice(&t))
        .unwrap_or_default();
    let rtc_dir = root.join("sys/class/rtc/rtc0");
    SystemSetup {
        clocksource: read("sys/devices/system/clocksource/clocksource0/current_clocksource"),
        clocksources_available: words(
            "sys/devices/system/clocksource/clocksource0/available_clocksource",
        ),
        nohz_full: read("sys/devices/system/cpu/nohz_full"),
        mem_sleep,
        mem_sleep_available,
        power_states: words("sys/power/state"),
        pm_test: read("sys/power/pm_test").and_then(|t| sysfs_choice(&t).0),
        wakeup_devices: wakeup_devices(root),
        rtc: read("sys/class/rtc/rtc0/name"),
        rtc_wakealarm: rtc_dir.exists().then(|| rtc_dir.join("wakealarm").exists()),
        cpuidle_driver: read("sys/devices/system/cpu/cpuidle/current_driver"),
        cpuidle_governor: read("sys/devices/system/cpu/cpuidle/current_governor")
            .or_else(|| read("sys/devices/system/cpu/cpuidle/current_governor_ro")),
        ..Default::default()
    }
}

/// Devices whose `power/wakeup` says `enabled`, by name (sorted): every device directory under
/// `/sys/devices` (links elsewhere in sysfs lead back here), walked without following links.
fn wakeup_devices(root: &Path) -> Vec<String> {
    /// sysfs is deep but bounded; a loop cannot happen without following links, this only
    /// bounds the work on a strange tree.
    const MAX_DIRS: usize = 200_000;
    let mut out = Vec::new();
    let mut stack = vec![root.join("sys/devices")];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        seen += 1;
        if seen > MAX_DIRS {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            if !kind.is_dir() || kind.is_symlink() {
                continue;
            }
            let path = e.path();
            if e.file_name() == "power" {
                let enabled = std::fs::read_to_string(path.join("wakeup"))
                    .is_ok_and(|w| w.trim() == "enabled");
                if enabled {
                    if let Some(name) = dir.file_name() {
                        out.push(name.to_string_lossy().into_owned());
                    }
                }
                continue;
            }
            stack.push(path);
        }
    }
    // one entry per device (two devices of one name are both listed)
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, p: &str, text: &str) {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn reads_what_the_files_say_and_leaves_out_what_is_missing() {
        let root = std::env::temp_dir().join(format!("st-setup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let cs = "sys/devices/system/clocksource/clocksource0";
        write(&root, &format!("{cs}/current_clocksource"), "tsc\n");
        write(
            &root,
            &format!("{cs}/available_clocksource"),
            "tsc hpet acpi_pm \n",
        );
        write(&root, "sys/power/mem_sleep", "s2idle [deep]\n");
        write(&root, "sys/power/state", "freeze mem disk\n");
        write(&root, "sys/class/rtc/rtc0/name", "rtc_cmos 00:05\n");
        write(&root, "sys/class/rtc/rtc0/wakealarm", "\n");
        write(&root, "sys/devices/pnp0/00:05/power/wakeup", "enabled\n");
        write(&root, "sys/devices/pnp0/00:01/power/wakeup", "disabled\n");
        write(
            &root,
            "sys/devices/platform/serial8250/tty/ttyS1/power/wakeup",
            "enabled\n",
        );
        write(
            &root,
            "sys/devices/system/cpu/cpuidle/current_driver",
            "none\n",
        );
        write(
            &root,
            "sys/devices/system/cpu/cpuidle/current_governor_ro",
            "menu\n",
        );
        let s = from_sysfs(&root);
        assert_eq!(s.clocksource.as_deref(), Some("tsc"));
        assert_eq!(s.clocksources_available, ["tsc", "hpet", "acpi_pm"]);
        assert_eq!(s.mem_sleep.as_deref(), Some("deep"));
        assert_eq!(s.mem_sleep_available, ["s2idle", "deep"]);
        assert_eq!(s.power_states, ["freeze", "mem", "disk"]);
        assert_eq!(s.pm_test, None, "no pm_test file: absent, not `none`");
        assert_eq!(s.nohz_full, None);
        assert_eq!(s.wakeup_devices, ["00:05", "ttyS1"]);
        assert_eq!(s.rtc.as_deref(), Some("rtc_cmos 00:05"));
        assert_eq!(s.rtc_wakealarm, Some(true));
        assert_eq!(s.cpuidle_driver.as_deref(), Some("none"));
        assert_eq!(s.cpuidle_governor.as_deref(), Some("menu"));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn this_machine_has_a_clock_resolution_and_a_tick() {
        let s = system_setup();
        assert!(s.monotonic_resolution_ns.is_some_and(|r| r >= 1));
        assert!(
            s.hz().is_some_and(|hz| (24..=10_000).contains(&hz)),
            "{s:?}"
        );
    }
}
