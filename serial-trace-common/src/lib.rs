//! The wire format between the eBPF programs and userspace: the ONLY place it is defined.
//!
//! * [`Event`] is what every program writes into the ring buffer.
//! * [`HookSpec`] is the per-hook load-time description (tracepoint field offsets, filter mode)
//!   that userspace derives from tracefs `format` files and passes as the [`SPECS_GLOBAL`] global.
//! * [`kind`] numbers the hooks; [`KINDS`] says what each argument slot of a kind means.
//!
//! No `bool` or `enum` crosses the wire: flags are `u8`, kinds are `u16`.
#![cfg_attr(not(test), no_std)]

pub mod kinds;
pub mod port_aggregates;
pub mod wire;

pub use kinds::{
    ArgField, Filter, KINDS, KindInfo, Role, SERIAL_CATEGORY, arg, arms_timers, kind, kind_info,
};

/// Number of 64-bit argument slots an event carries.
pub const MAX_ARGS: usize = 8;
/// Number of string slots an event carries.
pub const MAX_TEXTS: usize = 2;
/// Bytes per string slot (NUL-terminated if shorter).
pub const TEXT_LEN: usize = 32;
/// `TASK_COMM_LEN` in the kernel.
pub const COMM_LEN: usize = 16;
/// Size of the [`HookSpec`] table; every kind id is an index into it.
pub const MAX_KINDS: usize = 40;

/// Name of the ring buffer map that carries [`Event`]s.
pub const EVENTS_MAP: &str = "EVENTS";
/// Name of the per-CPU `u64` array (one slot) counting failed ring-buffer reserves.
pub const LOST_MAP: &str = "LOST";
/// Name of the `u64` array holding the recording window, CLOCK_MONOTONIC ns: slot
/// [`WINDOW_START`] opens it (0 = not yet), slot [`WINDOW_STOP`] closes it (0 = open-ended).
/// Programs attach and detach one by one, tens of ms apart; outside the window no tracepoint
/// program records or changes its state, so every tracepoint kind covers the same span. (The
/// serial data path records from attach to detach: its drops are checked against the port
/// counters read before attaching and after detaching.)
pub const WINDOW_MAP: &str = "WINDOW";
pub const WINDOW_START: u32 = 0;
pub const WINDOW_STOP: u32 = 1;
/// Name of the array that tells the hot programs whether they may leave the boot clock out
/// of an event: the boot clock runs `offs_boot` ahead of the monotonic one, and that offset
/// changes only inside a suspend/resume phase (`timekeeping_resume`, the RTC's injected
/// sleep time), so outside one `boot_ns = mono_ns + offset` with the offset of the last
/// `suspend_resume` event. Slot [`CLOCKS_ELIDE_BOOT`]: 1 once userspace attached the
/// `suspend_resume` hook (without it a phase could go unseen); slot
/// [`CLOCKS_SUSPEND_DEPTH`]: phases open (a program's atomic count, wrapping).
pub const CLOCKS_MAP: &str = "CLOCKS";
/// Name of the array that lets the hot programs leave a task's `comm` out of its events
/// (`wire::COMM_OMITTED`): slot [`TASK_NAMES_ENABLED`] is 1 once userspace attached the
/// `task_rename` program, which counts renames in slot [`TASK_NAMES_RENAMES`] (a rename
/// makes every task's next event carry its `comm` again).
pub const TASK_NAMES_MAP: &str = "TASK_NAMES";
pub const TASK_NAMES_ENABLED: u32 = 0;
pub const TASK_NAMES_RENAMES: u32 = 1;
/// The program that counts task renames (`task:task_rename`, also at every exec).
pub const TASK_RENAME_PROGRAM: &str = "task_rename_raw";
pub const CLOCKS_ELIDE_BOOT: u32 = 0;
pub const CLOCKS_SUSPEND_DEPTH: u32 = 1;
/// Name of the LRU hash of timer addresses armed by a task that passed the filter.
pub const TRACKED_MAP: &str = "TRACKED";
/// Global: `[HookSpec; MAX_KINDS]`, for the classic tracepoint programs.
pub const SPECS_GLOBAL: &str = "SPECS";
/// Global: `[HookSpec; MAX_KINDS]`, for the raw tracepoint programs (named `<kind>_raw`):
/// the same slots, read from the tracepoint's arguments. Both tables are filled before
/// loading, so a raw program the kernel refuses falls back to its classic twin.
pub const RAW_SPECS_GLOBAL: &str = "RAW_SPECS";
/// Global: [`TaskFilter`].
pub const FILTER_GLOBAL: &str = "FILTER";
/// Kernel timers' arms and cancels are sampled at most once per kind and CPU in this long
/// (see `Filter::ARM_BY_CALLBACK`).
pub const KERNEL_TIMER_SAMPLE_NS: u64 = 1_000_000_000;

/// Global [`WakeConfig`].
pub const WAKE_GLOBAL: &str = "WAKE";

/// Names of the maps that link a timer to the task it wakes.
pub const OWNER_MAP: &str = "OWNER";
pub const PENDING_MAP: &str = "PENDING";
/// Hash of the tgids of `record -- CMD`'s process tree (`TaskFilter::tree`).
pub const TREE_MAP: &str = "TREE";
/// Hash of the values the port timing hooks count (`Filter::MATCHED`): the traced ports' IRQ
/// numbers and the address of `flush_to_ldisc`.
pub const MATCH_MAP: &str = "MATCH";
/// Values `MATCH_MAP` holds at most.
pub const MAX_MATCH: u32 = 64;

/// A `flush_to_ldisc` work item's times (`WORK_TIMES`; 0: not seen). A push while the work
/// runs queues it again at once (the kernel clears its pending bit before running it), so
/// the next run's queueing is kept apart from the running one's.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkTimes {
    /// When it was queued for its next run (a flip buffer push).
    pub queued_ns: u64,
    /// When the run under way was queued, and when it started.
    pub run_queued_ns: u64,
    pub started_ns: u64,
}

/// Processes `TREE_MAP` holds at most; a fork past that is counted as refused (`state_counts`).
pub const MAX_TREE_PROCESSES: u32 = 8192;

/// Load-time facts for wakeup tracking, resolved in userspace (kallsyms, BTF).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WakeConfig {
    /// Timer callbacks that wake the task that armed the timer (`hrtimer_wakeup`,
    /// `timerfd_tmrproc`, …); all zero = treat every callback as a wakeup.
    pub wake_functions: [u64; 4],
    /// Timer callbacks a task arms for itself (sleeps, timerfd, POSIX and interval timers,
    /// `schedule_timeout`); all zero = every callback (see `Filter::ARM_BY_CALLBACK`).
    pub task_callbacks: [u64; 8],
    /// `offsetof(struct hrtimer, base)`; 0 = unknown (no clock id recorded).
    pub hrtimer_base_offset: u32,
    /// `offsetof(struct hrtimer_clock_base, clockid)`.
    pub clock_base_clockid_offset: u32,
    /// `offsetof(struct hrtimer, _softexpires)`; 0 = unknown. Read at each expiry, so an
    /// expiry carries its own deadline (kernel timers' arms are sampled, not all recorded).
    pub hrtimer_softexpires_offset: u32,
    /// `offsetof(struct hrtimer, function)`; 0 = unknown (then every cancel is recorded).
    pub hrtimer_function_offset: u32,
    /// The kernel's pointer width in bytes (4 on 32-bit kernels; 0 = 8): `function` and `base`
    /// are read with it.
    pub ptr_size: u32,
    /// `offsetof(struct hrtimer, node.expires)` when `node.expires`, `_softexpires`,
    /// `function` and `base` lie back to back, 8 bytes each (every 64-bit kernel so far): the
    /// raw programs then read the four with one kernel read instead of four. 0 = read each.
    pub hrtimer_window_offset: u32,
    /// Non-zero when `sched_switch` is hooked: only then is a woken task's switch-in recorded,
    /// so only then do the programs keep the `PENDING` state that picks it.
    pub switch_ins: u32,
    pub _pad: u32,
}
const _: () = assert!(size_of::<WakeConfig>() == 128);

/// Global [`SerialConfig`].
pub const SERIAL_GLOBAL: &str = "SERIAL";
/// Ports `record --port` may name at once (filtered in the kernel).
pub const MAX_PORT_FILTER: usize = 4;
/// Bytes of a tty name compared by the port filter (`ttyS1`, `ttyUSB0`, `ttyAMA0`, …).
pub const PORT_NAME_LEN: usize = 16;
/// LRU hash of per-thread call state of the serial function hooks (entry → return).
pub const CALLS_MAP: &str = "CALLS";

/// Load-time facts for the serial data path programs: struct member offsets from the running
/// kernel's BTF (aya-ebpf has no CO-RE relocations) and the in-kernel port filter. An offset
/// of 0 where 0 is impossible means "unknown": the value is not read.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SerialConfig {
    /// `offsetof(struct tty_port, itty)`: the port's tty while one is open.
    pub tty_port_itty: u32,
    /// `offsetof(struct tty_port, buf.mem_used)`: bytes held by the flip buffer.
    pub tty_port_mem_used: u32,
    /// `offsetof(struct tty_port, buf.mem_limit)`: the most it may hold.
    pub tty_port_mem_limit: u32,
    /// `offsetof(struct tty_struct, name)`.
    pub tty_struct_name: u32,
    /// `offsetof(struct uart_port, state)`.
    pub uart_port_state: u32,
    /// `offsetof(struct uart_state, port)` (0 on every kernel so far, read anyway).
    pub uart_state_port: u32,
    /// `offsetof(struct kiocb, ki_filp)`.
    pub kiocb_filp: u32,
    /// `offsetof(struct file, private_data)`.
    pub file_private_data: u32,
    /// `offsetof(struct tty_file_private, tty)`.
    pub tty_file_private_tty: u32,
    /// `offsetof(struct iov_iter, count)`.
    pub iov_iter_count: u32,
    /// Number of names in `ports`; 0 = every port.
    pub n_ports: u32,
    /// The kernel's pointer width in bytes, from BTF (4 on 32-bit kernels; 0 = 8): every
    /// pointer member above is read with it.
    pub ptr_size: u32,
    /// The width of `iov_iter.count` (a `size_t`) in bytes, from BTF (0 = 8).
    pub iov_iter_count_size: u32,
    /// `offsetof(struct tty_struct, flags)` (an `unsigned long`, read with `ptr_size`): bit
    /// [`TTY_THROTTLED_BIT`] says whether the line discipline has throttled the driver.
    pub tty_struct_flags: u32,
    /// `offsetof(struct tty_struct, termios)`: the line settings (`struct ktermios`), and
    /// the offsets of its members the `serial:termios` event carries.
    pub tty_struct_termios: u32,
    pub ktermios_iflag: u32,
    pub ktermios_oflag: u32,
    pub ktermios_cflag: u32,
    pub ktermios_lflag: u32,
    pub ktermios_cc: u32,
    pub ktermios_ispeed: u32,
    pub ktermios_ospeed: u32,
    /// `offsetof(struct tty_struct, driver)` and `offsetof(struct tty_driver, type)` (a
    /// `short`): a settings change is recorded for serial ttys only
    /// ([`TTY_DRIVER_TYPE_SERIAL`]), not for the pseudo-terminals every shell prompt resets.
    pub tty_struct_driver: u32,
    pub tty_driver_type: u32,
    /// `offsetof(struct tty_port, buf.work)`: a `flush_to_ldisc` work item is that far into
    /// its port (the port timing hooks name the port of each line discipline run).
    pub tty_port_buf_work: u32,
    /// NUL-padded tty names to record (`record --port`).
    pub ports: [[u8; PORT_NAME_LEN]; MAX_PORT_FILTER],
}
const _: () = assert!(size_of::<SerialConfig>() == 164);

/// `TTY_DRIVER_TYPE_SERIAL` (`tty_driver.type` of serial_core and USB-serial ports).
pub const TTY_DRIVER_TYPE_SERIAL: u64 = 3;

/// `TTY_THROTTLED` in `tty_struct.flags` (a `#define`, so not in BTF; 0 from 2.6 to 6.18).
pub const TTY_THROTTLED_BIT: u32 = 0;

/// The longest the monotonic clock may run around a boot clock read for the pair to count as
/// read at one moment, in the programs (`emit::boot_ns_at`) and in userspace (the trace's
/// clock anchors, whose offset fills in the events that leave their boot clock out): a pair
/// further apart is read again. Back to back they are 1–4 µs apart under TCG (up to 20 µs
/// seen); a reader held between them gave offsets 53–411 µs off (arm64 6.12 under s2idle, the
/// first event after a long idle; x86_64 6.1, a header's anchor 87 µs off), so that a timer
/// spanning a cycle that stopped no clock seemed to have slept 327 µs.
pub const CLOCK_PAIR_GAP_NS: u64 = 10_000;

/// Hash map of open drop runs, per `tty_port` address.
pub const DROP_RUNS_MAP: &str = "DROP_RUNS";
/// A drop run is closed (emitted as one event) at the first drop this long after its start.
pub const DROP_RUN_NS: u64 = 10_000_000;

/// Bytes the flip buffer refused on one port, summed in the kernel since `first_mono_ns`:
/// one event per run instead of one per refused byte (a flood into a full buffer refuses
/// every byte, each in its own insert call, in interrupt context).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropRun {
    pub first_mono_ns: u64,
    pub first_boot_ns: u64,
    pub last_mono_ns: u64,
    pub last_boot_ns: u64,
    pub requested: u64,
    pub inserted: u64,
    pub mem_used: u64,
    pub mem_limit: u64,
    pub function: u64,
    /// 1 when the port passes `record --port` (decided at the run's first drop).
    pub wanted: u64,
    /// The tty name at the run's first drop.
    pub name: [u8; TEXT_LEN],
}
const _: () = assert!(size_of::<DropRun>() == 112);

impl DropRun {
    /// Fills `ev` as the `flip_drop` event of this run on `port`, stamped with its last drop.
    /// Shared by the eBPF side (a run closed by a later drop) and userspace (runs still open
    /// when recording stops).
    #[inline(always)]
    pub fn fill_event(&self, port: u64, ev: &mut Event) {
        use kinds::arg::serial_flip_drop as a;
        ev.kind = kinds::kind::SERIAL_FLIP_DROP;
        ev.mono_ns = self.last_mono_ns;
        ev.boot_ns = self.last_boot_ns;
        ev.args[a::PORT] = port;
        ev.args[a::REQUESTED] = self.requested;
        ev.args[a::INSERTED] = self.inserted;
        ev.args[a::MEM_USED] = self.mem_used;
        ev.args[a::MEM_LIMIT] = self.mem_limit;
        ev.args[a::FUNCTION] = self.function;
        ev.args[a::FIRST_MONO_NS] = self.first_mono_ns;
        ev.args[a::FIRST_BOOT_NS] = self.first_boot_ns;
        ev.text[0] = self.name;
    }
}

/// Per-CPU `u64` counters of the serial hooks' own calls (slots below), from which userspace
/// derives the calls the kernel skipped. A kprobe is skipped, uncounted by any BPF interface
/// before 6.7, when it fires inside another kprobe handler (a UART interrupt arriving while a
/// task-context hook runs) or while another BPF program runs on the CPU: the calls the kernel
/// made (`kprobe_profile` of a witness event on the same function) minus the calls an entry
/// program saw are those skips. A return probe the kernel skipped leaves its entry state in
/// `CALLS`, found when the same thread (or, in interrupts, CPU and thread) calls again.
pub const HOOK_CALLS_MAP: &str = "HOOK_CALLS";

pub mod hook_calls {
    /// Entry programs of the kprobe variant; a program's index is its calls-seen slot.
    pub const KPROBE_ENTRIES: [&str; 10] = [
        "flip_char_kprobe",
        "flip_fixed_flag_kprobe",
        "flip_flags_kprobe",
        "flip_string_flags_kprobe",
        "uart_insert_char_kprobe",
        "receive_buf_kprobe",
        "tty_read_kprobe",
        "throttle_kprobe",
        "unthrottle_kprobe",
        "termios_kprobe",
    ];
    pub const FLIP_CHAR: u32 = 0;
    pub const FLIP_FIXED_FLAG: u32 = 1;
    pub const FLIP_FLAGS: u32 = 2;
    pub const FLIP_STRING_FLAGS: u32 = 3;
    pub const UART_INSERT_CHAR: u32 = 4;
    pub const RECEIVE_BUF: u32 = 5;
    pub const TTY_READ: u32 = 6;
    pub const THROTTLE: u32 = 7;
    pub const UNTHROTTLE: u32 = 8;
    pub const TERMIOS: u32 = 9;
    /// Returns skipped, per hook family (entry state found still saved at the next entry);
    /// slot `RETURNS_LOST + family - 1` for the families flip (1), receive (2), read (3),
    /// throttle (4), termios (5).
    pub const RETURNS_LOST: u32 = 10;
    /// The return programs that take a saved entry state, by family: their skips are what
    /// those slots count.
    pub const RETURN_PROGRAMS: [&[&str]; 5] = [
        &["flip_kretprobe"],
        &["receive_buf_kretprobe"],
        &["tty_read_kretprobe", "tty_read_fexit"],
        &["throttle_kretprobe", "throttle_fexit"],
        &["termios_kretprobe", "termios_fexit"],
    ];
    pub const SLOTS: u32 = 15;
}

/// Per-CPU `u64` counters of the LRU state maps (slot `map * state_counts::WHATS + what`). A full LRU
/// map makes room by evicting an entry without telling anyone; the programs count the keys
/// they add and remove, so userspace finds the evictions as added − removed − keys left.
pub const STATE_COUNTS_MAP: &str = "STATE_COUNTS";

pub mod state_counts {
    /// The LRU state maps, by index, and what losing an entry of each costs.
    pub const MAPS: [(&str, &str); 8] = [
        (
            "TRACKED",
            "a filtered task's timer no longer recognized at its expiry",
        ),
        (
            "OWNER",
            "a timer's expiry no longer marks its task's wakeup pending, or a recorder timer \
             is recorded as someone else's",
        ),
        ("PENDING", "a woken task's switch-in not recorded"),
        (
            "LAST_WOKEN",
            "a timerfd wakeup found by the armer instead of its waiter",
        ),
        (
            "CALLS",
            "a serial hook call's return without its entry (not recorded)",
        ),
        (
            "TREE",
            "a process of the command's tree not followed: its timers not recorded",
        ),
        (
            "WORK_TIMES",
            "a line discipline run whose wait is not known (its flip buffer push forgotten)",
        ),
        (
            "LDISC_AGGREGATES",
            "a port's line discipline runs not timed (more ports than the map holds)",
        ),
    ];
    /// What losing an entry of map `name` costs ("" for a name not listed).
    pub fn cost(name: &str) -> &'static str {
        MAPS.iter().find(|(m, _)| *m == name).map_or("", |(_, c)| c)
    }
    pub const TRACKED: u32 = 0;
    pub const OWNER: u32 = 1;
    pub const PENDING: u32 = 2;
    pub const LAST_WOKEN: u32 = 3;
    pub const CALLS: u32 = 4;
    pub const TREE: u32 = 5;
    pub const WORK_TIMES: u32 = 6;
    /// Not an LRU map (nothing is evicted): only its refused inserts count.
    pub const LDISC_AGGREGATES: u32 = 7;
    /// Keys added.
    pub const ADDED: u32 = 0;
    /// Keys removed.
    pub const REMOVED: u32 = 1;
    /// Inserts the kernel refused (no free node): that state was never kept.
    pub const FAILED: u32 = 2;
    pub const WHATS: u32 = 3;
    pub const SLOTS: u32 = MAPS.len() as u32 * WHATS;
}

/// Per-thread state saved at a serial function's entry for its return probe.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallState {
    /// The port (`tty_port *`) or tty (`tty_struct *`) the call is about.
    pub object: u64,
    /// Bytes asked for (insert size, receive count, read size).
    pub requested: u64,
    /// `bpf_ktime_get_ns()` at entry.
    pub start_ns: u64,
    /// Which function of a family was entered (see `arg::serial_flip_drop::FUNCTION`).
    pub function: u64,
}

/// Global `u64`: wake the reader only once this many bytes wait in the ring buffer (batching
/// wakeups keeps the recorder from waking, and arming a timer, once per event).
pub const WAKEUP_GLOBAL: &str = "WAKEUP_BYTES";

/// One event. 176 bytes, 8-aligned. The eBPF side writes it cut to its kind's slots
/// ([`wire`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC, stops during suspend.
    pub mono_ns: u64,
    /// `bpf_get_current_pid_tgid()`: tgid in the high half, tid in the low half.
    pub pid_tgid: u64,
    /// A [`kind`] id.
    pub kind: u16,
    /// CPU the event fired on.
    pub cpu: u16,
    /// In the ring buffer, the record's slots and what it leaves out (see [`wire`]); 0 in
    /// userspace.
    pub shape: u32,
    /// `bpf_ktime_get_boot_ns()`: CLOCK_BOOTTIME, counts suspend.
    pub boot_ns: u64,
    /// `comm` of the current task (NUL padded).
    pub comm: [u8; COMM_LEN],
    /// Tracepoint fields in the order of [`KindInfo::args`], sign-extended to 64 bits.
    pub args: [u64; MAX_ARGS],
    /// String fields in the order of [`KindInfo::texts`], NUL padded, possibly cut.
    pub text: [[u8; TEXT_LEN]; MAX_TEXTS],
}
const _: () = assert!(size_of::<Event>() == 176);

impl Event {
    pub const ZERO: Event = Event {
        mono_ns: 0,
        pid_tgid: 0,
        kind: 0,
        cpu: 0,
        shape: 0,
        boot_ns: 0,
        comm: [0; COMM_LEN],
        args: [0; MAX_ARGS],
        text: [[0; TEXT_LEN]; MAX_TEXTS],
    };

    /// Thread group id (what userspace calls the pid).
    pub const fn tgid(&self) -> u32 {
        (self.pid_tgid >> 32) as u32
    }

    /// Thread id.
    pub const fn tid(&self) -> u32 {
        self.pid_tgid as u32
    }
}

/// How to read one numeric field. `size == 0` means "absent on this kernel".
///
/// A classic tracepoint program reads it from the tracepoint's record (`source` [`field_source::RECORD`],
/// offsets from tracefs); a raw tracepoint program from the tracepoint's own arguments
/// (`TP_PROTO`, offsets of the structs they point to from BTF).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldSpec {
    /// Offset from the start of the tracepoint record (common fields included), or of the
    /// struct argument `arg` points to ([`field_source::ARG_DEREF`]).
    pub offset: u16,
    /// 1, 2, 4 or 8; 0 = not present, the slot stays 0.
    pub size: u8,
    /// 1 = sign-extend to 64 bits.
    pub signed: u8,
    /// One of [`field_source`].
    pub source: u8,
    /// The raw tracepoint argument (0 = the first of `TP_PROTO`) for the `ARG*` sources.
    pub arg: u8,
    pub _pad: [u8; 2],
}
const _: () = assert!(size_of::<FieldSpec>() == 8);

/// Where a [`FieldSpec`] is read from.
pub mod field_source {
    /// The classic tracepoint's record.
    pub const RECORD: u8 = 0;
    /// A raw tracepoint argument itself (an integer, or a pointer as a number).
    pub const ARG: u8 = 1;
    /// The integer at `offset` in the struct a raw tracepoint argument points to (`offset` 0
    /// of a `ktime_t *` is the value pointed to).
    pub const ARG_DEREF: u8 = 2;
    /// The kernel's `jiffies` when the program runs (a record's `now = jiffies`), cut to
    /// `size` bytes (an `unsigned long`).
    pub const JIFFIES: u8 = 3;
}

/// How a string field is stored in the tracepoint record.
pub mod text_kind {
    /// Not present: the slot stays empty.
    pub const NONE: u8 = 0;
    /// A `const char *` into kernel memory (e.g. `suspend_resume.action`).
    pub const POINTER: u8 = 1;
    /// `__data_loc char[]`: a u32 whose low half is the offset of the string in the record.
    pub const DATA_LOC: u8 = 2;
    /// `char name[N]` stored inline in the record.
    pub const INLINE: u8 = 3;
    /// A `const char *` of a 32-bit kernel (4 bytes in the record).
    pub const POINTER32: u8 = 4;
    /// Raw tracepoints: argument `arg` is a `const char *`.
    pub const ARG_POINTER: u8 = 5;
    /// Raw tracepoints: a `char name[N]` at `offset` in the struct argument `arg` points to
    /// (a task's `comm`).
    pub const ARG_INLINE: u8 = 6;
    /// Raw tracepoints: `dev_name(dev)` of the `struct device *` in argument `arg` (its
    /// `init_name`, else its kobject's name; offsets in [`DeviceLayout`]).
    pub const ARG_DEVICE_NAME: u8 = 7;
    /// Raw tracepoints: `dev_driver_string(dev)` of the `struct device *` in argument `arg`
    /// (its driver's name, else its bus's, else its class's, else empty).
    pub const ARG_DEVICE_DRIVER: u8 = 8;
}

/// Global [`DeviceLayout`].
pub const DEVICE_GLOBAL: &str = "DEVICE";

/// Offsets (from BTF) that the raw device PM programs follow to name a `struct device` the
/// way the tracepoint's record does (`dev_name`, `dev_driver_string`). All zero = unknown:
/// the classic programs are used instead.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceLayout {
    /// `struct device`: `init_name`, `kobj.name`, `driver`, `bus`, `class`.
    pub init_name: u16,
    pub kobj_name: u16,
    pub driver: u16,
    pub bus: u16,
    pub class: u16,
    /// `name` in `struct device_driver`, `struct bus_type` and `struct class`.
    pub driver_name: u16,
    pub bus_name: u16,
    pub class_name: u16,
    /// The kernel's pointer width in bytes (4 or 8).
    pub ptr_size: u16,
    pub _pad: [u16; 3],
}
const _: () = assert!(size_of::<DeviceLayout>() == 24);

/// How to read one string tracepoint field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextSpec {
    pub offset: u16,
    /// One of [`text_kind`].
    pub kind: u8,
    /// The raw tracepoint argument of the `ARG_*` kinds.
    pub arg: u8,
}
const _: () = assert!(size_of::<TextSpec>() == 4);

/// Everything the eBPF program of one hook needs to know at load time.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HookSpec {
    pub fields: [FieldSpec; MAX_ARGS],
    pub texts: [TextSpec; MAX_TEXTS],
    /// One of [`Filter`] as `u8`.
    pub filter: u8,
    /// One of [`Role`] as `u8`: extra work the hook does for wakeup tracking.
    pub role: u8,
    pub _pad: [u8; 2],
}
const _: () = assert!(size_of::<HookSpec>() == 76);

impl HookSpec {
    pub const EMPTY: HookSpec = HookSpec {
        fields: [FieldSpec {
            offset: 0,
            size: 0,
            signed: 0,
            source: field_source::RECORD,
            arg: 0,
            _pad: [0; 2],
        }; MAX_ARGS],
        texts: [TextSpec {
            offset: 0,
            kind: 0,
            arg: 0,
        }; MAX_TEXTS],
        filter: 0,
        role: 0,
        _pad: [0; 2],
    };
}

/// `record --pid` values the kernel filter holds at most.
pub const MAX_FILTER_TGIDS: usize = 8;
/// `record --comm` patterns the kernel filter holds at most.
pub const MAX_FILTER_COMMS: usize = 4;

/// One `--comm` glob as the kernel matches it: `prefix*suffix` (`star` = 1) or exactly
/// `prefix` (`star` = 0); `?` in either matches any one character.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommPattern {
    pub prefix: [u8; COMM_LEN],
    pub suffix: [u8; COMM_LEN],
    pub prefix_len: u8,
    pub suffix_len: u8,
    pub star: u8,
    pub _pad: u8,
}

/// The task filter of `record --pid/--comm`, applied in the kernel: a task passes when its
/// process is one of `tgids` (if any) and its comm matches one of `comms` (if any).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// 1 when any filter is set; 0 = record every task.
    pub active: u8,
    /// How many of `tgids` are set (0: no --pid).
    pub n_tgids: u8,
    /// How many of `comms` are set (0: no --comm).
    pub n_comms: u8,
    /// 1: only tasks of the processes in `TREE_MAP` (`record -- CMD`: the recorder and the
    /// processes it and they fork), followed by the fork program.
    pub tree: u8,
    /// Timers armed by this tgid (the recorder itself) are never recorded: each of its polls
    /// arms one, and recording those would feed back into more wakeups.
    pub exclude_tgid: u32,
    pub tgids: [u32; MAX_FILTER_TGIDS],
    pub comms: [CommPattern; MAX_FILTER_COMMS],
    /// `offsetof(struct task_struct, pid)` and `tgid` (BTF): how the fork program tells a new
    /// process from a new thread. 0 = unknown (then `tree` cannot be set).
    pub task_pid_offset: u32,
    pub task_tgid_offset: u32,
}
const _: () = assert!(size_of::<CommPattern>() == 36);

impl CommPattern {
    /// No pattern (a zeroed slot).
    pub const EMPTY: Self = Self {
        prefix: [0; COMM_LEN],
        suffix: [0; COMM_LEN],
        prefix_len: 0,
        suffix_len: 0,
        star: 0,
        _pad: 0,
    };
}
const _: () =
    assert!(size_of::<TaskFilter>() == 8 + 4 * MAX_FILTER_TGIDS + 36 * MAX_FILTER_COMMS + 8);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are #[repr(C)], contain only integers and arrays of integers, and
    // every bit pattern is valid for them.
    unsafe impl aya::Pod for super::Event {}
    unsafe impl aya::Pod for super::HookSpec {}
    unsafe impl aya::Pod for super::TaskFilter {}
    unsafe impl aya::Pod for super::WakeConfig {}
    unsafe impl aya::Pod for super::DeviceLayout {}
    unsafe impl aya::Pod for super::SerialConfig {}
    unsafe impl aya::Pod for super::CallState {}
    unsafe impl aya::Pod for super::DropRun {}
    unsafe impl aya::Pod for super::WorkTimes {}
    unsafe impl aya::Pod for super::port_aggregates::IrqAggregate {}
    unsafe impl aya::Pod for super::port_aggregates::LdiscAggregate {}
}
