//! Counting the calls a kprobe hook never saw.
//!
//! The kernel skips a kprobe that fires inside another kprobe handler on the same CPU (a UART
//! interrupt arriving while a task-context hook such as `tty_port_default_receive_buf` runs)
//! and skips the BPF program of a kprobe that fires while another BPF program runs there. The
//! first is counted only in the kprobe itself (`nmissed`), which no BPF interface shows before
//! Linux 6.7; the second is counted per program only from 6.7. Measured on Debian 5.10 under
//! TCG: 0.1–5 % of an unread flood's calls of `__tty_insert_flip_char` skipped, uncounted.
//!
//! A *witness* makes both visible on every kernel: a tracefs kprobe event on the same function,
//! registered (held by a perf event that is never enabled, so it records nothing) next to ours.
//! Kprobes on one address share one handler, which counts a skip in every kprobe it holds, and
//! `kprobe_profile` shows the witness's hits and misses: the calls the kernel made are
//! hits + misses; minus the calls the entry program counted itself (`HOOK_CALLS`), the calls
//! our hook lost, whichever guard skipped them.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use serial_trace_common::hook_calls;

/// tracefs group of the witness events; event names carry the recorder's pid so that
/// concurrent recorders do not collide and a dead recorder's leftovers can be recognized.
const GROUP: &str = "serial_trace";

/// One witness: the function it watches, its event name, the perf event holding it.
struct Witness {
    function: String,
    event: String,
    holder: Option<OwnedFd>,
}

/// The witnesses of one recording. Dropping it unregisters and deletes their events.
pub struct Witnesses {
    tracefs: PathBuf,
    witnesses: Vec<Witness>,
}

/// Calls of one function as the kernel counted them at its witness.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCalls {
    /// Calls whose kprobe handlers ran.
    pub hits: u64,
    /// Calls the kprobe skipped (inside another kprobe handler).
    pub missed: u64,
}

impl KernelCalls {
    pub fn total(&self) -> u64 {
        self.hits + self.missed
    }
}

impl Witnesses {
    /// Registers one witness per function. Fails as a whole, with the reason, when tracefs
    /// cannot take kprobe events; nothing is left registered then.
    pub fn register(tracefs: &Path, functions: &[String]) -> Result<Self, String> {
        let mut set = Witnesses {
            tracefs: tracefs.to_path_buf(),
            witnesses: Vec::new(),
        };
        if functions.is_empty() {
            return Ok(set);
        }
        remove_stale(tracefs);
        let pid = std::process::id();
        for function in functions {
            let event = event_name(pid, function);
            set.define(&event, function)?;
            set.witnesses.push(Witness {
                function: function.clone(),
                event: event.clone(),
                holder: None,
            });
            let id = fs::read_to_string(tracefs.join("events").join(GROUP).join(&event).join("id"))
                .map_err(|e| format!("reading the id of kprobe event {GROUP}/{event}: {e}"))?;
            let id: u64 = id
                .trim()
                .parse()
                .map_err(|_| format!("kprobe event {GROUP}/{event}: id {id:?} is not a number"))?;
            let fd = hold(id).map_err(|e| {
                format!("registering kprobe event {GROUP}/{event} (perf_event_open): {e}")
            })?;
            if let Some(w) = set.witnesses.last_mut() {
                w.holder = Some(fd);
            }
        }
        Ok(set)
    }

    /// Unregisters the witnesses (their counts stay readable until they are deleted), so that
    /// a final reading is not inflated by calls made after the hooks were read.
    pub fn freeze(&mut self) {
        for w in &mut self.witnesses {
            w.holder = None;
        }
    }

    /// The kernel's calls per watched function, from `kprobe_profile`.
    pub fn read(&self) -> Result<BTreeMap<String, KernelCalls>, String> {
        let path = self.tracefs.join("kprobe_profile");
        let text =
            fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let profile = parse_profile(&text);
        Ok(self
            .witnesses
            .iter()
            .filter_map(|w| Some((w.function.clone(), *profile.get(&w.event)?)))
            .collect())
    }

    fn define(&self, event: &str, function: &str) -> Result<(), String> {
        append_kprobe_events(&self.tracefs, &format!("p:{GROUP}/{event} {function}"))
            .map_err(|e| format!("defining kprobe event {GROUP}/{event} on {function}: {e}"))
    }
}

impl Drop for Witnesses {
    fn drop(&mut self) {
        self.freeze();
        for w in &self.witnesses {
            let _ = append_kprobe_events(&self.tracefs, &format!("-:{GROUP}/{}", w.event));
        }
    }
}

/// Calls lost at each serial hook program, given the kernel's calls per function (`kernel`)
/// and the program's own counters (`hook_calls` slots, summed over CPUs):
/// - a kprobe entry program (`entries`: program, function) lost the calls the kernel made
///   minus those it counted, whichever guard skipped them;
/// - a return program lost the returns the kernel skipped after its entry had run (its entry
///   state was found still saved at the next call); `loaded` says which return program of a
///   family is in use.
///
/// A call skipped at its entry is not counted again at its return, so the values add up.
pub fn lost_calls(
    entries: &[(&'static str, String)],
    kernel: &BTreeMap<String, KernelCalls>,
    counted: &[u64],
    loaded: &[String],
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (program, function) in entries {
        let Some(slot) = hook_calls::KPROBE_ENTRIES.iter().position(|p| p == program) else {
            continue;
        };
        let Some(calls) = kernel.get(function) else {
            continue;
        };
        let seen = counted.get(slot).copied().unwrap_or(0);
        *out.entry(program.to_string()).or_insert(0) += calls.total().saturating_sub(seen);
    }
    for (family, programs) in hook_calls::RETURN_PROGRAMS.iter().enumerate() {
        let slot = hook_calls::RETURNS_LOST as usize + family;
        let lost = counted.get(slot).copied().unwrap_or(0);
        if let Some(p) = programs.iter().find(|p| loaded.iter().any(|l| l == *p)) {
            out.insert(p.to_string(), lost);
        }
    }
    out
}

/// `w<pid>_<function>`, the function's characters outside `[A-Za-z0-9_]` (a `.isra.0`
/// suffix) made `_`: the names tracefs accepts.
fn event_name(pid: u32, function: &str) -> String {
    let f: String = function
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut name = format!("w{pid}_{f}");
    // MAX_EVENT_NAME_LEN is 64 with the terminating NUL
    name.truncate(63);
    name
}

/// Appends one command to `kprobe_events` (`O_APPEND`: existing events stay).
fn append_kprobe_events(tracefs: &Path, line: &str) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(tracefs.join("kprobe_events"))?;
    f.write_all(format!("{line}\n").as_bytes())
}

/// Deletes witness events left by recorders that died without cleaning up (SIGKILL).
fn remove_stale(tracefs: &Path) {
    let Ok(defs) = fs::read_to_string(tracefs.join("kprobe_events")) else {
        return;
    };
    for event in stale_events(&defs, |pid| Path::new(&format!("/proc/{pid}")).exists()) {
        let _ = append_kprobe_events(tracefs, &format!("-:{GROUP}/{event}"));
    }
}

/// Witness events in `kprobe_events` text whose recorder is not alive.
fn stale_events(defs: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    defs.lines()
        .filter_map(|l| {
            let def = l.split_whitespace().next()?;
            let (_, name) = def.split_once(':')?;
            let event = name.strip_prefix(GROUP)?.strip_prefix('/')?;
            let pid: u32 = event.strip_prefix('w')?.split('_').next()?.parse().ok()?;
            (!alive(pid)).then(|| event.to_string())
        })
        .collect()
}

/// `kprobe_profile` lines: `  <event> <hits> <missed>`.
fn parse_profile(text: &str) -> BTreeMap<String, KernelCalls> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (name, hits, missed) = (f.next()?, f.next()?, f.next()?);
            Some((
                name.to_string(),
                KernelCalls {
                    hits: hits.parse().ok()?,
                    missed: missed.parse().ok()?,
                },
            ))
        })
        .collect()
}

/// `perf_event_attr` up to `config1` (`PERF_ATTR_SIZE_VER0`), enough for a tracepoint.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    /// Bit 0: `disabled`.
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

/// Opens a disabled perf event on tracepoint `id`, CPU 0: the kernel registers the event's
/// kprobe when the perf event is created, and its handler finds no enabled perf event to
/// record into, so the witness costs one counter increment per call.
fn hold(id: u64) -> std::io::Result<OwnedFd> {
    let attr = PerfEventAttr {
        type_: PERF_TYPE_TRACEPOINT,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config: id,
        sample_period: 1,
        flags: 1,
        ..Default::default()
    };
    // SAFETY: perf_event_open(2) with a valid attr of the size it declares; the returned fd is
    // owned by nobody else.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            -1 as libc::pid_t,
            0 as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new fd from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_what_tracefs_accepts() {
        assert_eq!(event_name(42, "tty_read"), "w42_tty_read");
        assert_eq!(
            event_name(7, "__tty_insert_flip_char.isra.0"),
            "w7___tty_insert_flip_char_isra_0"
        );
        assert!(event_name(1, &"f".repeat(100)).len() < 64);
    }

    #[test]
    fn profile_lines_give_hits_and_misses_per_event() {
        let text = "  w12_uart_insert_char                          1990902            9098\n  \
                    other                                              5               0\n";
        let p = parse_profile(text);
        assert_eq!(
            p["w12_uart_insert_char"],
            KernelCalls {
                hits: 1990902,
                missed: 9098
            }
        );
        assert_eq!(p["w12_uart_insert_char"].total(), 2_000_000);
        assert_eq!(p["other"].hits, 5);
    }

    #[test]
    fn lost_calls_are_kernel_calls_minus_counted_ones_plus_skipped_returns() {
        let entries = [
            ("flip_char_kprobe", "__tty_insert_flip_char".to_string()),
            ("uart_insert_char_kprobe", "uart_insert_char".to_string()),
            ("tty_read_kprobe", "tty_read".to_string()),
        ];
        let kernel: BTreeMap<String, KernelCalls> = [
            ("__tty_insert_flip_char", 1_343_269, 1891),
            ("uart_insert_char", 1_990_902, 9098),
        ]
        .into_iter()
        .map(|(f, hits, missed)| (f.to_string(), KernelCalls { hits, missed }))
        .collect();
        let mut counted = vec![0u64; hook_calls::SLOTS as usize];
        counted[hook_calls::FLIP_CHAR as usize] = 1_343_000; // 269 more skipped by a guard
        counted[hook_calls::UART_INSERT_CHAR as usize] = 1_990_902;
        counted[hook_calls::RETURNS_LOST as usize] = 3; // flip returns
        counted[hook_calls::RETURNS_LOST as usize + 2] = 5; // read returns
        let loaded = ["flip_kretprobe", "tty_read_fexit"].map(String::from);
        let lost = lost_calls(&entries, &kernel, &counted, &loaded);
        assert_eq!(lost["flip_char_kprobe"], 1891 + 269);
        assert_eq!(lost["uart_insert_char_kprobe"], 9098);
        assert_eq!(lost["flip_kretprobe"], 3);
        assert_eq!(lost["tty_read_fexit"], 5);
        // no witness for tty_read: nothing claimed for its entry; receive not loaded
        assert!(!lost.contains_key("tty_read_kprobe"));
        assert!(!lost.contains_key("receive_buf_kretprobe"));
    }

    #[test]
    fn only_witnesses_of_dead_recorders_are_stale() {
        let defs = "p:serial_trace/w10_tty_read tty_read\n\
                    p:serial_trace/w11_tty_read tty_read\n\
                    p:kprobes/w10_mine tty_read\n\
                    r16:serial_trace/w10_tty_read_ret tty_read\n";
        let stale = stale_events(defs, |pid| pid == 11);
        assert_eq!(stale, vec!["w10_tty_read", "w10_tty_read_ret"]);
    }
}
