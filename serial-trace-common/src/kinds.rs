//! Event kinds: the id of each hook, the tracepoint it reads, and what each argument and string
//! slot of its [`Event`](crate::Event) holds. The eBPF program of a kind is named like its
//! tracepoint; the kind id indexes the `SPECS` global.
//!
//! Field *offsets* are never fixed here: userspace looks the named fields up in tracefs at load
//! time, because layouts differ between kernels (6.18 added `was_armed` to `hrtimer_start`).

/// One named tracepoint field that fills an argument or string slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgField {
    pub name: &'static str,
    /// A kernel without a required field cannot use the hook; an optional one leaves the slot 0.
    pub required: bool,
    /// Not a tracepoint field: the eBPF program fills the slot itself (see [`Role`]).
    pub derived: bool,
}

const fn req(name: &'static str) -> ArgField {
    ArgField {
        name,
        required: true,
        derived: false,
    }
}
const fn opt(name: &'static str) -> ArgField {
    ArgField {
        name,
        required: false,
        derived: false,
    }
}
const fn derived(name: &'static str) -> ArgField {
    ArgField {
        name,
        required: false,
        derived: true,
    }
}

/// Extra work a hook does so a timer expiry can be followed to the moment its task runs
/// (values of `HookSpec::role`).
pub struct Role;
impl Role {
    pub const NONE: u8 = 0;
    /// `hrtimer_start`: remember which task armed the timer; record the timer's clock id.
    pub const HRTIMER_ARM: u8 = 1;
    /// `hrtimer_expire_entry`: a wake callback fired: its task now has a wakeup pending.
    pub const HRTIMER_EXPIRE: u8 = 2;
    /// `sched_switch`: recorded only when the incoming task has a wakeup pending, or the
    /// outgoing one (how a task switched in while the freezer runs leaves the CPU tells
    /// whether it ran on or froze).
    pub const SCHED_IN: u8 = 3;
    /// `sched_waking`: recorded only inside a wake timer's callback on this CPU (between its
    /// `hrtimer_expire_entry` and `hrtimer_expire_exit`); the woken task then has the wakeup
    /// pending, whoever armed the timer.
    pub const WAKING: u8 = 4;
    /// `hrtimer_expire_exit`: the callback on this CPU is over (ends `WAKING`).
    pub const HRTIMER_EXPIRE_EXIT: u8 = 5;
}

/// Which events the `--pid/--comm` filter lets through (values of `HookSpec::filter`).
pub struct Filter;
impl Filter {
    /// System-wide events (suspend, devices, RTC): always recorded.
    pub const ALWAYS: u8 = 0;
    /// A timer being armed: recorded when the current task matches; its address is then tracked.
    pub const ARM: u8 = 1;
    /// A timer armed with its callback in arg 1 (`hrtimer_start`, `timer_start`): as `ARM`, but
    /// only when the callback is one a task arms for itself (`WakeConfig::task_callbacks`).
    /// Kernel timers (the tick, scheduler and watchdog timers) are re-armed from interrupt
    /// context, where the current task is whichever one was interrupted: they belong to no
    /// task, so the task filter never lets them through and the recorder never takes them
    /// for its own. Without a task filter their arms are sampled: at most one per kind, CPU
    /// and [`KERNEL_TIMER_SAMPLE_NS`](crate::KERNEL_TIMER_SAMPLE_NS), which keeps the probe
    /// visibly alive; every expiry is still recorded and carries its own deadline. On an idle
    /// CPU the nohz tick alone is cancelled and re-armed two or three times per interrupt: a
    /// UART flood makes tens of thousands a second, which filled a 32 MiB ring while the
    /// recorder was frozen for 40 s and cost that suspend cycle its own phase events.
    pub const ARM_BY_CALLBACK: u8 = 3;
    /// `hrtimer_cancel`: as `TRACKED` under a task filter; without one, a kernel timer's
    /// cancel (its callback, read from the struct, is no task callback) is sampled like its
    /// arms (`ARM_BY_CALLBACK`).
    pub const CANCEL_BY_CALLBACK: u8 = 4;
    /// Expiry/cancel of a timer (runs in interrupt context, so the current task says nothing):
    /// recorded when arg 0, the timer address, was armed by a matching task.
    pub const TRACKED: u8 = 2;
    /// The UART's interrupt and the line discipline's work item: recorded only for a value
    /// in the `MATCH` map — the IRQ (slot 0) of a traced port, or the work function (slot 1)
    /// `flush_to_ldisc`.
    pub const MATCHED: u8 = 5;
    /// `MATCHED`, and the exit/end also writes one event per run (`record
    /// --port-timing-events`); otherwise the runs are only aggregated in the kernel.
    pub const MATCHED_EVENTS: u8 = 6;
}

/// Static description of one kind.
#[derive(Clone, Copy, Debug)]
pub struct KindInfo {
    pub id: u16,
    /// tracefs event system (`timer`, `power`, …).
    pub category: &'static str,
    /// Tracepoint name, also the eBPF program name.
    pub name: &'static str,
    pub args: &'static [ArgField],
    pub texts: &'static [ArgField],
    pub filter: u8,
    pub role: u8,
}

/// Kind ids. 0 is never used, so a zeroed event is recognisably invalid.
pub mod kind {
    pub const HRTIMER_START: u16 = 1;
    pub const HRTIMER_EXPIRE_ENTRY: u16 = 2;
    pub const HRTIMER_EXPIRE_EXIT: u16 = 3;
    pub const HRTIMER_CANCEL: u16 = 4;
    pub const TIMER_START: u16 = 5;
    pub const TIMER_EXPIRE_ENTRY: u16 = 6;
    pub const TIMER_CANCEL: u16 = 7;
    pub const ALARMTIMER_START: u16 = 8;
    pub const ALARMTIMER_FIRED: u16 = 9;
    pub const ALARMTIMER_CANCEL: u16 = 10;
    pub const ALARMTIMER_SUSPEND: u16 = 11;
    pub const SUSPEND_RESUME: u16 = 12;
    pub const DEVICE_PM_CALLBACK_START: u16 = 13;
    pub const DEVICE_PM_CALLBACK_END: u16 = 14;
    pub const WAKEUP_SOURCE_ACTIVATE: u16 = 15;
    pub const WAKEUP_SOURCE_DEACTIVATE: u16 = 16;
    pub const RTC_TIMER_ENQUEUE: u16 = 17;
    pub const RTC_TIMER_FIRED: u16 = 18;
    pub const RTC_SET_ALARM: u16 = 19;
    pub const SCHED_SWITCH: u16 = 20;
    /// Serial data path (function hooks, not tracepoints: see [`SERIAL_CATEGORY`](super::SERIAL_CATEGORY)).
    pub const SERIAL_FLIP_DROP: u16 = 21;
    pub const SERIAL_RX_ERROR: u16 = 22;
    pub const SERIAL_RECEIVE: u16 = 23;
    pub const SERIAL_READ: u16 = 24;
    /// Written by userspace: a change of a port's kernel counters seen by polling.
    pub const SERIAL_COUNTERS: u16 = 25;
    /// Written by userspace at each checkpoint (every second): a drop run still open in the
    /// kernel, as far as it got (the slots of `flip_drop`). The run's own `flip_drop`, when it
    /// comes, supersedes it; after a crash it keeps the run's bytes in the trace.
    pub const SERIAL_DROP_OPEN: u16 = 26;
    /// `sched:sched_waking`, recorded only inside the callback of a wake timer: the task(s)
    /// the expiry actually woke (a timerfd wakes whoever waits on it, not its armer).
    pub const SCHED_WAKING: u16 = 27;
    /// The line discipline throttled or unthrottled a port (flow control, not loss).
    pub const SERIAL_THROTTLE: u16 = 28;
    /// A port's line settings as the kernel holds them after a `tcsetattr` (any `TCSETS*`
    /// ioctl: the program's own, or `stty`), or as the recorder read them at the stop.
    pub const SERIAL_TERMIOS: u16 = 29;
    /// `irq:irq_handler_entry` of a traced port's IRQ: no event, the CPU keeps the time.
    pub const IRQ_HANDLER_ENTRY: u16 = 30;
    /// `irq:irq_handler_exit` of a traced port's IRQ: how long its handler ran.
    pub const IRQ_HANDLER_EXIT: u16 = 31;
    /// `workqueue:workqueue_queue_work` of `flush_to_ldisc` (a flip buffer push): no event,
    /// the time is kept per work item.
    pub const WORKQUEUE_QUEUE_WORK: u16 = 32;
    /// `workqueue:workqueue_execute_start` of `flush_to_ldisc`: no event, the time is kept.
    pub const WORKQUEUE_EXECUTE_START: u16 = 33;
    /// `workqueue:workqueue_execute_end` of `flush_to_ldisc`: how long the pushed bytes
    /// waited for the line discipline, and how long it ran.
    pub const WORKQUEUE_EXECUTE_END: u16 = 34;
}

/// Category of the serial data path kinds: their programs hook kernel functions (fentry/fexit
/// or kprobes) and fill the argument slots themselves, so no tracefs format describes them.
pub const SERIAL_CATEGORY: &str = "serial";

/// The slots of a drop run: `flip_drop` and its checkpoints `flip_drop_open`.
const FLIP_DROP_ARGS: &[ArgField] = &[
    derived("port"),
    derived("requested"),
    derived("inserted"),
    derived("mem_used"),
    derived("mem_limit"),
    derived("function"),
    derived("first_mono_ns"),
    derived("first_boot_ns"),
];

/// Argument slot indexes, per kind, for the analysis code.
pub mod arg {
    /// `hrtimer_start`: expiry times are on the timer's own clock base.
    pub mod hrtimer_start {
        pub const HRTIMER: usize = 0;
        pub const FUNCTION: usize = 1;
        pub const EXPIRES: usize = 2;
        pub const SOFTEXPIRES: usize = 3;
        pub const MODE: usize = 4;
        /// Derived: the clock id of the timer's base + 1 (0 = unknown).
        pub const CLOCKID_PLUS1: usize = 6;
        /// Derived: 1 when this arm is the timer's own callback restarting it (right after
        /// its expiry on the same CPU, in interrupt context) and the current task, whichever
        /// was interrupted, is not the timer's owner.
        pub const RESTART: usize = 7;
    }
    /// `sched_switch` (only switches to a task with a pending timer wakeup are recorded).
    pub mod sched_switch {
        pub const NEXT_PID: usize = 0;
        pub const PREV_PID: usize = 1;
        /// The state the previous task left the CPU in, as the tracepoint reports it: 1 = an
        /// interruptible sleep (S), 0x80 = idle kthread, 0x100 = preempted; a task entering
        /// the suspend freezer's refrigerator reports 2 (D, before 6.1) or 0 (6.1+:
        /// `TASK_FROZEN` is not in `TASK_REPORT`).
        ///
        /// The raw tracepoint program computes it as the tracepoint does
        /// (`__trace_sched_switch_state`) from the task state (argument `prev_state` from
        /// 5.18, the task's own `__state`/`state` before), `preempt` and `exit_state`, without
        /// the clause later kernels added to report a frozen task as D: frozen is 2 before
        /// 6.1 and 0 after on that path.
        pub const PREV_STATE: usize = 2;
        /// Raw tracepoint program only, cleared before the event is written: `preempt`.
        pub const RAW_PREEMPT: usize = 3;
        /// Raw tracepoint program only, cleared before the event is written: the previous
        /// task's `exit_state`.
        pub const RAW_EXIT_STATE: usize = 4;
    }
    /// `sched_waking` inside a wake timer's callback. Text 0 is the woken task's comm.
    pub mod sched_waking {
        /// The woken task's tid.
        pub const PID: usize = 0;
        /// Derived: the hrtimer whose callback woke it.
        pub const HRTIMER: usize = 1;
    }
    /// `hrtimer_expire_entry`: `now` is the clock base time when expiry processing began.
    pub mod hrtimer_expire_entry {
        pub const HRTIMER: usize = 0;
        pub const NOW: usize = 1;
        pub const FUNCTION: usize = 2;
        /// Derived: the timer's own soft expiry (its deadline on its clock), read from the
        /// struct at the expiry (0 = unknown: then only a recorded arm gives the deadline).
        pub const SOFTEXPIRES: usize = 3;
        /// Derived: the clock id of the timer's base + 1 (0 = unknown).
        pub const CLOCKID_PLUS1: usize = 4;
    }
    /// `serial:flip_drop`: a run of inserts the flip buffer (partly) refused on one port, summed
    /// in the kernel (one event per run of at most `DROP_RUN_NS`, not per byte). The event's
    /// time is the run's last drop; `FIRST_*` its first. Text 0 is the tty name.
    pub mod serial_flip_drop {
        pub const PORT: usize = 0;
        /// Bytes asked for by the refused inserts of the run.
        pub const REQUESTED: usize = 1;
        /// Bytes of those inserts that did fit (dropped = requested − inserted).
        pub const INSERTED: usize = 2;
        pub const MEM_USED: usize = 3;
        pub const MEM_LIMIT: usize = 4;
        /// Which insert function: 1 `__tty_insert_flip_char`, 2 `tty_insert_flip_string_fixed_flag`,
        /// 3 `tty_insert_flip_string_flags`, 4 `__tty_insert_flip_string_flags`.
        pub const FUNCTION: usize = 5;
        pub const FIRST_MONO_NS: usize = 6;
        pub const FIRST_BOOT_NS: usize = 7;
    }
    /// `serial:rx_error`: `uart_insert_char` with an error flag or a hardware overrun.
    pub mod serial_rx_error {
        pub const PORT: usize = 0;
        pub const STATUS: usize = 1;
        pub const OVERRUN_MASK: usize = 2;
        /// TTY_NORMAL 0, TTY_BREAK 1, TTY_FRAME 2, TTY_PARITY 3, TTY_OVERRUN 4.
        pub const FLAG: usize = 3;
    }
    /// `serial:ldisc_receive`: bytes moved from the flip buffer to the line discipline.
    pub mod serial_receive {
        pub const PORT: usize = 0;
        pub const OFFERED: usize = 1;
        pub const ACCEPTED: usize = 2;
        pub const MEM_USED: usize = 3;
        pub const MEM_LIMIT: usize = 4;
    }
    /// `serial:tty_read`: one `read()` of a tty, recorded when it returns.
    pub mod serial_read {
        pub const TTY: usize = 0;
        pub const REQUESTED: usize = 1;
        /// Signed: bytes returned or -errno.
        pub const RETURNED: usize = 2;
        pub const BLOCKED_NS: usize = 3;
        pub const START_MONO_NS: usize = 4;
    }
    /// `serial:throttle`: a port's throttle state changed in `tty_throttle_safe` or
    /// `tty_unthrottle_safe` (calls that changed nothing are not recorded).
    pub mod serial_throttle {
        pub const TTY: usize = 0;
        /// 1: the port is now throttled (the driver was asked to stop receiving); 0: resumed.
        pub const THROTTLED: usize = 1;
    }
    /// `serial:termios`: a serial port's line settings (`struct ktermios`) once the driver
    /// applied a change; the event's task is who made it. Text 0 is the tty name.
    pub mod serial_termios {
        pub const TTY: usize = 0;
        /// `c_iflag | c_oflag << 32`.
        pub const IFLAG_OFLAG: usize = 1;
        /// `c_cflag | c_lflag << 32`.
        pub const CFLAG_LFLAG: usize = 2;
        /// `c_cc[VTIME] | c_cc[VMIN] << 8`.
        pub const VTIME_VMIN: usize = 3;
        pub const ISPEED: usize = 4;
        pub const OSPEED: usize = 5;
        /// [`SOURCE_SET`] or [`SOURCE_AT_STOP`].
        pub const SOURCE: usize = 6;
        /// The kernel hook on `tty_set_termios`: a change made while recording.
        pub const SOURCE_SET: u64 = 0;
        /// Written by the recorder at a clean stop: the settings of every traced port somebody
        /// held open then (so a change is visible even where the hook could not attach).
        pub const SOURCE_AT_STOP: u64 = 1;
    }
    /// `irq_handler_exit` of a traced port's IRQ (the event is stamped at the exit; the task
    /// is whichever was interrupted, so none is recorded).
    pub mod irq_handler_exit {
        pub const IRQ: usize = 0;
        /// `irqreturn_t`: 1 handled, 0 not this device's.
        pub const RET: usize = 1;
        /// Derived: from the handler's entry to its exit (CLOCK_MONOTONIC).
        pub const HANDLER_NS: usize = 2;
    }
    /// `workqueue_execute_end` of `flush_to_ldisc`; the task is the kworker that ran it. Text 0
    /// is the port's tty name (empty while no tty is open on it).
    pub mod workqueue_execute_end {
        /// The work item: `&tty_port->buf.work`.
        pub const WORK: usize = 0;
        pub const FUNCTION: usize = 1;
        /// Derived: from the work's queueing (the flip buffer push) to the start of its run;
        /// 0 when the queueing was not seen (before recording, or its state evicted).
        pub const DELAY_NS: usize = 2;
        /// Derived: how long the run took (CLOCK_MONOTONIC).
        pub const RUN_NS: usize = 3;
        /// Derived: 1 when the queueing was seen (`DELAY_NS` is meaningful).
        pub const QUEUED: usize = 4;
    }
    /// `serial:counters`: deltas of the kernel's counters since the previous sample.
    pub mod serial_counters {
        pub const RX: usize = 0;
        pub const TX: usize = 1;
        pub const FRAME: usize = 2;
        pub const PARITY: usize = 3;
        pub const BRK: usize = 4;
        pub const OVERRUN: usize = 5;
        pub const BUF_OVERRUN: usize = 6;
        pub const INTERVAL_NS: usize = 7;
    }
    /// `suspend_resume`: text 0 is the action (phase name).
    pub mod suspend_resume {
        pub const VAL: usize = 0;
        pub const START: usize = 1;
    }
}

const TIMER_ALARM_ARGS: &[ArgField] =
    &[req("alarm"), req("alarm_type"), req("expires"), req("now")];
const RTC_TIMER_ARGS: &[ArgField] = &[req("timer"), req("expires"), req("period")];
const DEVICE_TEXTS: &[ArgField] = &[req("device"), req("driver")];

pub const KINDS: &[KindInfo] = &[
    KindInfo {
        id: kind::HRTIMER_START,
        category: "timer",
        name: "hrtimer_start",
        args: &[
            req("hrtimer"),
            req("function"),
            req("expires"),
            req("softexpires"),
            req("mode"),
            opt("was_armed"),
            derived("clockid"),
            derived("restart"),
        ],
        texts: &[],
        filter: Filter::ARM_BY_CALLBACK,
        role: Role::HRTIMER_ARM,
    },
    KindInfo {
        id: kind::HRTIMER_EXPIRE_ENTRY,
        category: "timer",
        name: "hrtimer_expire_entry",
        args: &[
            req("hrtimer"),
            req("now"),
            req("function"),
            derived("softexpires"),
            derived("clockid"),
        ],
        texts: &[],
        filter: Filter::TRACKED,
        role: Role::HRTIMER_EXPIRE,
    },
    KindInfo {
        id: kind::HRTIMER_EXPIRE_EXIT,
        category: "timer",
        name: "hrtimer_expire_exit",
        args: &[req("hrtimer")],
        texts: &[],
        filter: Filter::TRACKED,
        role: Role::HRTIMER_EXPIRE_EXIT,
    },
    KindInfo {
        id: kind::HRTIMER_CANCEL,
        category: "timer",
        name: "hrtimer_cancel",
        args: &[req("hrtimer")],
        texts: &[],
        filter: Filter::CANCEL_BY_CALLBACK,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::TIMER_START,
        category: "timer",
        name: "timer_start",
        args: &[
            req("timer"),
            req("function"),
            req("expires"),
            opt("bucket_expiry"),
            req("now"),
            req("flags"),
        ],
        texts: &[],
        filter: Filter::ARM_BY_CALLBACK,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::TIMER_EXPIRE_ENTRY,
        category: "timer",
        name: "timer_expire_entry",
        args: &[req("timer"), req("now"), req("function"), opt("baseclk")],
        texts: &[],
        filter: Filter::TRACKED,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::TIMER_CANCEL,
        category: "timer",
        name: "timer_cancel",
        args: &[req("timer")],
        texts: &[],
        filter: Filter::TRACKED,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::ALARMTIMER_START,
        category: "alarmtimer",
        name: "alarmtimer_start",
        args: TIMER_ALARM_ARGS,
        texts: &[],
        filter: Filter::ARM,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::ALARMTIMER_FIRED,
        category: "alarmtimer",
        name: "alarmtimer_fired",
        args: TIMER_ALARM_ARGS,
        texts: &[],
        filter: Filter::TRACKED,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::ALARMTIMER_CANCEL,
        category: "alarmtimer",
        name: "alarmtimer_cancel",
        args: TIMER_ALARM_ARGS,
        texts: &[],
        filter: Filter::TRACKED,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::ALARMTIMER_SUSPEND,
        category: "alarmtimer",
        name: "alarmtimer_suspend",
        args: &[req("expires"), req("alarm_type")],
        texts: &[],
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::SUSPEND_RESUME,
        category: "power",
        name: "suspend_resume",
        args: &[req("val"), req("start")],
        texts: &[req("action")],
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::DEVICE_PM_CALLBACK_START,
        category: "power",
        name: "device_pm_callback_start",
        args: &[req("event")],
        texts: DEVICE_TEXTS,
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::DEVICE_PM_CALLBACK_END,
        category: "power",
        name: "device_pm_callback_end",
        args: &[req("error")],
        texts: DEVICE_TEXTS,
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::WAKEUP_SOURCE_ACTIVATE,
        category: "power",
        name: "wakeup_source_activate",
        args: &[req("state")],
        texts: &[req("name")],
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::WAKEUP_SOURCE_DEACTIVATE,
        category: "power",
        name: "wakeup_source_deactivate",
        args: &[req("state")],
        texts: &[req("name")],
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::RTC_TIMER_ENQUEUE,
        category: "rtc",
        name: "rtc_timer_enqueue",
        args: RTC_TIMER_ARGS,
        texts: &[],
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::RTC_TIMER_FIRED,
        category: "rtc",
        name: "rtc_timer_fired",
        args: RTC_TIMER_ARGS,
        texts: &[],
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::RTC_SET_ALARM,
        category: "rtc",
        name: "rtc_set_alarm",
        args: &[req("secs"), req("err")],
        texts: &[],
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::SCHED_SWITCH,
        category: "sched",
        name: "sched_switch",
        args: &[req("next_pid"), req("prev_pid"), opt("prev_state")],
        texts: &[],
        filter: Filter::ALWAYS,
        role: Role::SCHED_IN,
    },
    KindInfo {
        id: kind::SERIAL_FLIP_DROP,
        category: SERIAL_CATEGORY,
        name: "flip_drop",
        args: FLIP_DROP_ARGS,
        texts: PORT_TEXT,
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::SERIAL_RX_ERROR,
        category: SERIAL_CATEGORY,
        name: "rx_error",
        args: &[
            derived("port"),
            derived("status"),
            derived("overrun_mask"),
            derived("flag"),
        ],
        texts: PORT_TEXT,
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::SERIAL_RECEIVE,
        category: SERIAL_CATEGORY,
        name: "ldisc_receive",
        args: &[
            derived("port"),
            derived("offered"),
            derived("accepted"),
            derived("mem_used"),
            derived("mem_limit"),
        ],
        texts: PORT_TEXT,
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::SERIAL_READ,
        category: SERIAL_CATEGORY,
        name: "tty_read",
        args: &[
            derived("tty"),
            derived("requested"),
            derived("returned"),
            derived("blocked_ns"),
            derived("start_mono_ns"),
        ],
        texts: PORT_TEXT,
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::SERIAL_COUNTERS,
        category: SERIAL_CATEGORY,
        name: "counters",
        args: &[
            derived("rx"),
            derived("tx"),
            derived("frame"),
            derived("parity"),
            derived("brk"),
            derived("overrun"),
            derived("buf_overrun"),
            derived("interval_ns"),
        ],
        texts: PORT_TEXT,
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::SERIAL_DROP_OPEN,
        category: SERIAL_CATEGORY,
        name: "flip_drop_open",
        args: FLIP_DROP_ARGS,
        texts: PORT_TEXT,
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::SCHED_WAKING,
        category: "sched",
        name: "sched_waking",
        args: &[req("pid"), derived("hrtimer")],
        texts: &[req("comm")],
        filter: Filter::ALWAYS,
        role: Role::WAKING,
    },
    KindInfo {
        id: kind::SERIAL_THROTTLE,
        category: SERIAL_CATEGORY,
        name: "throttle",
        args: &[derived("tty"), derived("throttled")],
        texts: PORT_TEXT,
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::SERIAL_TERMIOS,
        category: SERIAL_CATEGORY,
        name: "termios",
        args: &[
            derived("tty"),
            derived("iflag_oflag"),
            derived("cflag_lflag"),
            derived("vtime_vmin"),
            derived("ispeed"),
            derived("ospeed"),
            derived("source"),
        ],
        texts: PORT_TEXT,
        filter: Filter::ALWAYS,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::IRQ_HANDLER_ENTRY,
        category: "irq",
        name: "irq_handler_entry",
        args: &[req("irq")],
        texts: &[],
        filter: Filter::MATCHED,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::IRQ_HANDLER_EXIT,
        category: "irq",
        name: "irq_handler_exit",
        args: &[req("irq"), req("ret"), derived("handler_ns")],
        texts: &[],
        filter: Filter::MATCHED,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::WORKQUEUE_QUEUE_WORK,
        category: "workqueue",
        name: "workqueue_queue_work",
        args: &[req("work"), req("function")],
        texts: &[],
        filter: Filter::MATCHED,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::WORKQUEUE_EXECUTE_START,
        category: "workqueue",
        name: "workqueue_execute_start",
        args: &[req("work"), req("function")],
        texts: &[],
        filter: Filter::MATCHED,
        role: Role::NONE,
    },
    KindInfo {
        id: kind::WORKQUEUE_EXECUTE_END,
        category: "workqueue",
        name: "workqueue_execute_end",
        args: &[
            req("work"),
            req("function"),
            derived("delay_ns"),
            derived("run_ns"),
            derived("queued"),
        ],
        texts: PORT_TEXT,
        filter: Filter::MATCHED,
        role: Role::NONE,
    },
];

const PORT_TEXT: &[ArgField] = &[derived("port_name")];

impl KindInfo {
    /// True for kinds read from a tracepoint (their slots are described by tracefs formats).
    pub fn is_tracepoint(&self) -> bool {
        self.category != SERIAL_CATEGORY
    }
}

/// The description of kind `id`, if the id is known.
/// Whether kind `id` arms a timer (its filter is `ARM` or `ARM_BY_CALLBACK`): the only kinds
/// the `--pid/--comm` task filter is applied to. `const`, so that the eBPF programs of every
/// other kind leave the filter's code out (the verifier checks less of them).
pub const fn arms_timers(id: u16) -> bool {
    let mut i = 0;
    while i < KINDS.len() {
        if KINDS[i].id == id {
            return KINDS[i].filter == Filter::ARM || KINDS[i].filter == Filter::ARM_BY_CALLBACK;
        }
        i += 1;
    }
    false
}

pub fn kind_info(id: u16) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_ARGS, MAX_KINDS, MAX_TEXTS};

    #[test]
    fn kinds_fit_the_wire() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(k.id as usize, i + 1, "{} out of order", k.name);
            assert!((k.id as usize) < MAX_KINDS, "{}", k.name);
            assert!(k.args.len() <= MAX_ARGS, "{}", k.name);
            assert!(k.texts.len() <= MAX_TEXTS, "{}", k.name);
        }
    }

    #[test]
    fn names_are_unique() {
        for a in KINDS {
            assert_eq!(KINDS.iter().filter(|b| b.name == a.name).count(), 1);
        }
    }
}
