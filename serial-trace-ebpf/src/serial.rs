//! Serial data path: hooks on kernel functions of the tty receive path, which has no
//! tracepoints (docs/ARCHITECTURE.md, serial-trace-ebpf). Every hook exists twice, as fentry/fexit (preferred) and as
//! kprobe/kretprobe (fallback); both variants end in the same `*_done` helper, so what is
//! recorded does not depend on the method. Userspace (`hooks.rs`) picks which function of each
//! family exists on the running kernel and which variant loads.
//!
//! * flip buffer inserts: bytes requested vs inserted, an event only when bytes were refused;
//! * `uart_insert_char`: an event only for an error flag or a hardware overrun (never per byte,
//!   and never the byte itself: serial-trace records sizes, not payload);
//! * `tty_port_default_receive_buf`: bytes handed to the line discipline (includes the inline
//!   fast path of `tty_insert_flip_char`, which no hook can see);
//! * `tty_read`: who read which tty, how much, and how long the call took;
//! * `tty_throttle_safe`/`tty_unthrottle_safe`: the line discipline's flow control, an event
//!   only when a call changed the port's throttle state;
//! * `tty_set_termios`: a serial port's line settings changed (`tcsetattr`, `stty`): who, and
//!   what the settings became.

use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_probe_read_kernel,
        bpf_probe_read_kernel_str_bytes,
        generated::{bpf_get_smp_processor_id, bpf_ktime_get_ns},
    },
    macros::{fentry, fexit, kprobe, kretprobe, map},
    maps::{HashMap, LruHashMap, PerCpuArray},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use serial_trace_common::{
    CallState, DROP_RUN_NS, DropRun, MAX_PORT_FILTER, PORT_NAME_LEN, SerialConfig, TEXT_LEN,
    TTY_DRIVER_TYPE_SERIAL, TTY_THROTTLED_BIT, arg, hook_calls, kind, state_counts,
};

use crate::emit::{boot_ns_at, count, lru_add, lru_remove, read_word, write_event};

/// Load-time struct offsets and port filter (userspace: BTF, `record --port`).
#[unsafe(no_mangle)]
pub(crate) static SERIAL: SerialConfig = SerialConfig {
    tty_port_itty: 0,
    tty_port_mem_used: 0,
    tty_port_mem_limit: 0,
    tty_struct_name: 0,
    uart_port_state: 0,
    uart_state_port: 0,
    kiocb_filp: 0,
    file_private_data: 0,
    tty_file_private_tty: 0,
    iov_iter_count: 0,
    n_ports: 0,
    ptr_size: 0,
    iov_iter_count_size: 0,
    tty_struct_flags: 0,
    tty_struct_termios: 0,
    ktermios_iflag: 0,
    ktermios_oflag: 0,
    ktermios_cflag: 0,
    ktermios_lflag: 0,
    ktermios_cc: 0,
    ktermios_ispeed: 0,
    ktermios_ospeed: 0,
    tty_struct_driver: 0,
    tty_driver_type: 0,
    tty_port_buf_work: 0,
    ports: [[0; PORT_NAME_LEN]; MAX_PORT_FILTER],
};

/// Entry state of a call in progress, for the return probe (kprobe variant) or for the entry
/// time (`tty_read`). Keyed by [`call_key`].
#[map]
static CALLS: LruHashMap<u64, CallState> = LruHashMap::with_max_entries(8192, 0);

/// Calls the hooks saw and returns the kernel skipped, per CPU (see `hook_calls`).
#[map]
static HOOK_CALLS: PerCpuArray<u64> = PerCpuArray::with_max_entries(hook_calls::SLOTS, 0);

/// Adds one to a `HOOK_CALLS` slot of this CPU.
#[inline(always)]
fn count_call(slot: u32) {
    count(&HOOK_CALLS, slot);
}

/// Open drop run per `tty_port` (see [`DropRun`]). Userspace emits the runs still open when
/// recording stops, after the programs are detached.
#[map]
static DROP_RUNS: HashMap<u64, DropRun> = HashMap::with_max_entries(256, 0);

/// Hook families, the top byte of a [`call_key`].
mod family {
    pub const FLIP: u64 = 1;
    pub const RECEIVE: u64 = 2;
    pub const READ: u64 = 3;
    pub const THROTTLE: u64 = 4;
    pub const TERMIOS: u64 = 5;
}

/// Values of `arg::serial_flip_drop::FUNCTION`.
mod flip_fn {
    pub const CHAR: u64 = 1;
    pub const FIXED_FLAG: u64 = 2;
    pub const FLAGS: u64 = 3;
    pub const STRING_FLAGS: u64 = 4;
}

/// One field of [`SERIAL`]. Volatile: the loader rewrites .rodata, so the compiler must not
/// fold the default; and one field at a time, because a copy of the whole struct on every
/// call would not fit the 512-byte BPF stack next to an event.
macro_rules! cfg {
    ($($field:tt)+) => {
        {
            #[allow(unused_unsafe)]
            // SAFETY: a plain read of a load-time constant.
            let v = unsafe { core::ptr::read_volatile(&SERIAL.$($field)+) };
            v
        }
    };
}

/// Key of the one call in flight per family and thread. Inserts run in interrupt context,
/// where the interrupted thread's id (0 on every idle CPU) says nothing on its own: their key
/// adds the CPU, which an interrupt handler cannot leave. Receives and reads run in task
/// context and may sleep and migrate between entry and return: their key is the thread alone.
#[inline(always)]
fn call_key(family: u64) -> u64 {
    let tid = bpf_get_current_pid_tgid() & 0xffff_ffff;
    if family != family::FLIP {
        return (family << 56) | tid;
    }
    let cpu = unsafe { bpf_get_smp_processor_id() } as u64;
    (family << 56) | (cpu << 32) | tid
}

/// Saves the entry state of a call of `family` for its return probe. A state still saved
/// under the key is a call whose return the kernel skipped (a kretprobe beyond its `maxactive`
/// instances, a return program skipped by the recursion guard): counted, then replaced.
#[inline(always)]
fn save_call(family: u64, state: CallState) -> u32 {
    let key = call_key(family);
    if let Some(saved) = CALLS.get_ptr_mut(key) {
        count_call(hook_calls::RETURNS_LOST + family as u32 - 1);
        // SAFETY: map value pointer from a successful lookup.
        unsafe { *saved = state };
        return 0;
    }
    lru_add(&CALLS, state_counts::CALLS, &key, state);
    0
}

/// Takes (and forgets) the entry state of this thread's call of `family`, if its entry ran.
#[inline(always)]
fn take_call(family: u64) -> Option<CallState> {
    let key = call_key(family);
    // SAFETY: the value is copied out before the entry is removed.
    let state = unsafe { CALLS.get(key) }.copied()?;
    lru_remove(&CALLS, state_counts::CALLS, &key);
    Some(state)
}

/// A pointer member of the kernel struct at `base` (read with the kernel's pointer width).
#[inline(always)]
fn read_ptr(base: u64, offset: u32) -> u64 {
    read_word(base, offset, cfg!(ptr_size))
}

#[inline(always)]
fn read_u32(base: u64, offset: u32) -> u64 {
    if base == 0 {
        return 0;
    }
    // SAFETY: probe reads fault safely.
    unsafe { bpf_probe_read_kernel((base + u64::from(offset)) as *const u32) }
        .map(u64::from)
        .unwrap_or(0)
}

/// A C `int` return value as a byte count (negative = 0).
#[inline(always)]
fn int_count(raw: u64) -> u64 {
    let v = raw as i32;
    if v < 0 { 0 } else { v as u64 }
}

/// Reads the name of `tty` into `name`; whether `record --port` lets the tty through.
/// The tty name of the port whose `flush_to_ldisc` work item is `work` (empty while no tty is
/// open on it); false when `record --port` leaves the port out.
#[inline(always)]
pub(crate) fn work_port_name(work: u64, name: &mut [u8; TEXT_LEN]) -> bool {
    let off = u64::from(cfg!(tty_port_buf_work));
    let tty = if off == 0 || work < off {
        0
    } else {
        read_word(work - off, cfg!(tty_port_itty), cfg!(ptr_size))
    };
    tty_name(tty, name)
}

// Explicit index loops: slice comparison would become a `memcmp` call, which BPF lacks.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
pub(crate) fn tty_name(tty: u64, name: &mut [u8; TEXT_LEN]) -> bool {
    if tty != 0 {
        // SAFETY: probe reads fault safely; a failed read leaves the name empty.
        let _ = unsafe {
            bpf_probe_read_kernel_str_bytes(
                (tty + u64::from(cfg!(tty_struct_name))) as *const u8,
                name,
            )
        };
    }
    let n = cfg!(n_ports) as usize;
    if n == 0 {
        return true;
    }
    for i in 0..MAX_PORT_FILTER {
        if i >= n {
            break;
        }
        let mut same = true;
        for j in 0..PORT_NAME_LEN {
            if name[j] != cfg!(ports[i][j]) {
                same = false;
                break;
            }
        }
        if same {
            return true;
        }
    }
    false
}

/// The tty currently open on a `tty_port` (0 when none is).
#[inline(always)]
fn port_tty(port: u64) -> u64 {
    read_ptr(port, cfg!(tty_port_itty))
}

// An explicit loop: `copy_from_slice` may become a `memcpy` call, which BPF lacks.
#[allow(clippy::manual_memcpy)]
#[inline(always)]
/// Writes `kind` for `port`; false when `record --port` leaves the port out.
fn emit_port_event(kind: u16, port: u64, args: [u64; 6]) -> bool {
    let mut name = [0u8; TEXT_LEN];
    if !tty_name(port_tty(port), &mut name) {
        return false;
    }
    let comm = bpf_get_current_comm().unwrap_or([0; 16]);
    let _ = write_event(kind, bpf_get_current_pid_tgid(), comm, |ev| {
        for i in 0..args.len() {
            ev.args[i] = args[i];
        }
        ev.text[0] = name;
    });
    true
}

// ---------------------------------------------------------------------------------------------
// Flip buffer inserts: an event only when the buffer refused bytes.

/// A refused insert: added to the port's open run; a run older than `DROP_RUN_NS` is emitted
/// first and a new one begins. Insertions into one port are serialized by the port lock.
#[inline(always)]
fn flip_done(port: u64, requested: u64, inserted: u64, function: u64) -> u32 {
    if inserted >= requested {
        return 0;
    }
    let now = unsafe { bpf_ktime_get_ns() };
    let boot = boot_ns_at(now);
    let mem_used = read_u32(port, cfg!(tty_port_mem_used));
    if let Some(run) = DROP_RUNS.get_ptr_mut(port) {
        // SAFETY: map value pointer from a successful lookup.
        let run = unsafe { &mut *run };
        if now.saturating_sub(run.first_mono_ns) < DROP_RUN_NS {
            run.requested += requested;
            run.inserted += inserted;
            run.last_mono_ns = now;
            run.last_boot_ns = boot;
            run.mem_used = mem_used;
            return 0;
        }
        if !emit_run(port, run) {
            // The ring buffer is full: keep counting in this run rather than lose its bytes;
            // it is emitted by a later drop or by userspace at the end.
            run.requested += requested;
            run.inserted += inserted;
            run.last_mono_ns = now;
            run.last_boot_ns = boot;
            run.mem_used = mem_used;
            return 0;
        }
        start_run(
            run, port, now, boot, requested, inserted, mem_used, function,
        );
        return 0;
    }
    let mut fresh = DropRun::default();
    start_run(
        &mut fresh, port, now, boot, requested, inserted, mem_used, function,
    );
    let _ = DROP_RUNS.insert(port, fresh, 0);
    0
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn start_run(
    run: &mut DropRun,
    port: u64,
    now: u64,
    boot: u64,
    requested: u64,
    inserted: u64,
    mem_used: u64,
    function: u64,
) {
    run.first_mono_ns = now;
    run.first_boot_ns = boot;
    run.last_mono_ns = now;
    run.last_boot_ns = boot;
    run.requested = requested;
    run.inserted = inserted;
    run.mem_used = mem_used;
    run.mem_limit = read_u32(port, cfg!(tty_port_mem_limit));
    run.function = function;
    run.name = [0; TEXT_LEN];
    run.wanted = u64::from(tty_name(port_tty(port), &mut run.name));
}

/// Writes a closed run as one event; false when the ring buffer had no room.
#[inline(always)]
fn emit_run(port: u64, run: &DropRun) -> bool {
    if run.wanted == 0 {
        return true;
    }
    // pid 0, no comm: a run spans whatever tasks the interrupts happened to hit
    write_event(kind::SERIAL_FLIP_DROP, 0, [0; 16], |ev| {
        run.fill_event(port, ev)
    })
    .is_ok()
}

/// `int __tty_insert_flip_char(struct tty_port *port, u8 ch, u8 flag)` (≤ 6.5).
#[fexit]
pub fn flip_char_fexit(ctx: FExitContext) -> u32 {
    flip_done(ctx.arg(0), 1, int_count(ctx.arg(3)), flip_fn::CHAR)
}

/// `int tty_insert_flip_string_fixed_flag(port, const u8 *chars, u8 flag, size_t size)` (≤ 6.5).
#[fexit]
pub fn flip_fixed_flag_fexit(ctx: FExitContext) -> u32 {
    flip_done(
        ctx.arg(0),
        ctx.arg(3),
        int_count(ctx.arg(4)),
        flip_fn::FIXED_FLAG,
    )
}

/// `int tty_insert_flip_string_flags(port, const u8 *chars, const u8 *flags, size_t size)` (≤ 6.5).
#[fexit]
pub fn flip_flags_fexit(ctx: FExitContext) -> u32 {
    flip_done(
        ctx.arg(0),
        ctx.arg(3),
        int_count(ctx.arg(4)),
        flip_fn::FLAGS,
    )
}

/// `size_t __tty_insert_flip_string_flags(port, chars, flags, bool mutable_flags, size_t size)`
/// (6.6+; also the slow path of the inline `tty_insert_flip_char`).
#[fexit]
pub fn flip_string_flags_fexit(ctx: FExitContext) -> u32 {
    flip_done(ctx.arg(0), ctx.arg(4), ctx.arg(5), flip_fn::STRING_FLAGS)
}

#[inline(always)]
fn flip_enter(port: Option<u64>, requested: Option<u64>, function: u64) -> u32 {
    let state = CallState {
        object: port.unwrap_or(0),
        requested: requested.unwrap_or(0),
        start_ns: 0,
        function,
    };
    save_call(family::FLIP, state)
}

#[kprobe]
pub fn flip_char_kprobe(ctx: ProbeContext) -> u32 {
    count_call(hook_calls::FLIP_CHAR);
    flip_enter(ctx.arg(0), Some(1), flip_fn::CHAR)
}

#[kprobe]
pub fn flip_fixed_flag_kprobe(ctx: ProbeContext) -> u32 {
    count_call(hook_calls::FLIP_FIXED_FLAG);
    flip_enter(ctx.arg(0), ctx.arg(3), flip_fn::FIXED_FLAG)
}

#[kprobe]
pub fn flip_flags_kprobe(ctx: ProbeContext) -> u32 {
    count_call(hook_calls::FLIP_FLAGS);
    flip_enter(ctx.arg(0), ctx.arg(3), flip_fn::FLAGS)
}

#[kprobe]
pub fn flip_string_flags_kprobe(ctx: ProbeContext) -> u32 {
    count_call(hook_calls::FLIP_STRING_FLAGS);
    flip_enter(ctx.arg(0), ctx.arg(4), flip_fn::STRING_FLAGS)
}

/// Shared return probe of every flip insert function (the entry saved which one it was).
#[kretprobe]
pub fn flip_kretprobe(ctx: RetProbeContext) -> u32 {
    let Some(state) = take_call(family::FLIP) else {
        return 0;
    };
    let raw: u64 = ctx.ret();
    let inserted = if state.function == flip_fn::STRING_FLAGS {
        raw
    } else {
        int_count(raw)
    };
    flip_done(state.object, state.requested, inserted, state.function)
}

// ---------------------------------------------------------------------------------------------
// uart_insert_char(struct uart_port *port, unsigned int status, unsigned int overrun,
//                  unsigned int/u8 ch, unsigned int/u8 flag): only error characters.

#[inline(always)]
fn uart_char(uart_port: u64, status: u64, overrun: u64, flag: u64) -> u32 {
    // The arguments are 32-bit (8-bit `flag` on newer kernels) but are read as 64-bit
    // registers whose upper bits the ABI leaves undefined: mask before testing.
    let (status, overrun, flag) = (status & 0xffff_ffff, overrun & 0xffff_ffff, flag & 0xff);
    // TTY_NORMAL is 0; a hardware overrun is reported through `status & overrun`.
    if flag == 0 && status & overrun == 0 {
        return 0;
    }
    use arg::serial_rx_error as a;
    let state = read_ptr(uart_port, cfg!(uart_port_state));
    let port = if state == 0 {
        0
    } else {
        state + u64::from(cfg!(uart_state_port))
    };
    let mut args = [0u64; 6];
    args[a::PORT] = port;
    args[a::STATUS] = status;
    args[a::OVERRUN_MASK] = overrun;
    args[a::FLAG] = flag;
    let _ = emit_port_event(kind::SERIAL_RX_ERROR, port, args);
    0
}

#[fentry]
pub fn uart_insert_char_fentry(ctx: FEntryContext) -> u32 {
    uart_char(ctx.arg(0), ctx.arg(1), ctx.arg(2), ctx.arg(4))
}

#[kprobe]
pub fn uart_insert_char_kprobe(ctx: ProbeContext) -> u32 {
    count_call(hook_calls::UART_INSERT_CHAR);
    uart_char(
        ctx.arg(0).unwrap_or(0),
        ctx.arg(1).unwrap_or(0),
        ctx.arg(2).unwrap_or(0),
        ctx.arg(4).unwrap_or(0),
    )
}

// ---------------------------------------------------------------------------------------------
// tty_port_default_receive_buf(struct tty_port *port, const u8 *p, const u8 *f, size_t count)
// returns the bytes the line discipline took (int ≤ 6.5, size_t after: both fit 31 bits).

#[inline(always)]
fn receive_done(port: u64, offered: u64, accepted: u64) -> u32 {
    // A line discipline that is full (its reader frozen or slow) takes nothing, and the flip
    // buffer work retries on every new byte: recording those would flood the ring buffer
    // exactly while the recorder, frozen too, cannot drain it.
    if offered == 0 || accepted == 0 {
        return 0;
    }
    use arg::serial_receive as a;
    let mut args = [0u64; 6];
    args[a::PORT] = port;
    args[a::OFFERED] = offered;
    args[a::ACCEPTED] = accepted;
    args[a::MEM_USED] = read_u32(port, cfg!(tty_port_mem_used));
    args[a::MEM_LIMIT] = read_u32(port, cfg!(tty_port_mem_limit));
    let work_off = u64::from(cfg!(tty_port_buf_work));
    if emit_port_event(kind::SERIAL_RECEIVE, port, args) && work_off != 0 {
        crate::port_timing::ldisc_receive(port + work_off);
    }
    0
}

#[fexit]
pub fn receive_buf_fexit(ctx: FExitContext) -> u32 {
    receive_done(ctx.arg(0), ctx.arg(3), int_count(ctx.arg(4)))
}

#[kprobe]
pub fn receive_buf_kprobe(ctx: ProbeContext) -> u32 {
    count_call(hook_calls::RECEIVE_BUF);
    let state = CallState {
        object: ctx.arg(0).unwrap_or(0),
        requested: ctx.arg(3).unwrap_or(0),
        start_ns: 0,
        function: 0,
    };
    save_call(family::RECEIVE, state)
}

#[kretprobe]
pub fn receive_buf_kretprobe(ctx: RetProbeContext) -> u32 {
    let Some(state) = take_call(family::RECEIVE) else {
        return 0;
    };
    receive_done(state.object, state.requested, int_count(ctx.ret()))
}

// ---------------------------------------------------------------------------------------------
// ssize_t tty_read(struct kiocb *iocb, struct iov_iter *to): the tty is
// iocb->ki_filp->private_data (a tty_file_private)->tty; the size asked for is to->count.

#[inline(always)]
fn read_enter(iocb: u64, to: u64) -> u32 {
    let file = read_ptr(iocb, cfg!(kiocb_filp));
    let private = read_ptr(file, cfg!(file_private_data));
    let state = CallState {
        object: read_ptr(private, cfg!(tty_file_private_tty)),
        requested: read_word(to, cfg!(iov_iter_count), cfg!(iov_iter_count_size)),
        start_ns: unsafe { bpf_ktime_get_ns() },
        function: 0,
    };
    save_call(family::READ, state)
}

#[inline(always)]
fn read_done(returned: u64) -> u32 {
    let Some(state) = take_call(family::READ) else {
        return 0;
    };
    let mut name = [0u8; TEXT_LEN];
    if !tty_name(state.object, &mut name) {
        return 0;
    }
    use arg::serial_read as a;
    let now = unsafe { bpf_ktime_get_ns() };
    let comm = bpf_get_current_comm().unwrap_or([0; 16]);
    let _ = write_event(kind::SERIAL_READ, bpf_get_current_pid_tgid(), comm, |ev| {
        ev.args[a::TTY] = state.object;
        ev.args[a::REQUESTED] = state.requested;
        ev.args[a::RETURNED] = returned;
        ev.args[a::BLOCKED_NS] = now.saturating_sub(state.start_ns);
        ev.args[a::START_MONO_NS] = state.start_ns;
        ev.text[0] = name;
    });
    0
}

#[fentry]
pub fn tty_read_fentry(ctx: FEntryContext) -> u32 {
    read_enter(ctx.arg(0), ctx.arg(1))
}

#[fexit]
pub fn tty_read_fexit(ctx: FExitContext) -> u32 {
    read_done(ctx.arg(2))
}

#[kprobe]
pub fn tty_read_kprobe(ctx: ProbeContext) -> u32 {
    count_call(hook_calls::TTY_READ);
    read_enter(ctx.arg(0).unwrap_or(0), ctx.arg(1).unwrap_or(0))
}

#[kretprobe]
pub fn tty_read_kretprobe(ctx: RetProbeContext) -> u32 {
    read_done(ctx.ret())
}

// ---------------------------------------------------------------------------------------------
// tty_throttle_safe / tty_unthrottle_safe(struct tty_struct *tty): n_tty asks the driver to
// stop (its 4 KiB buffer is nearly full) or to resume (a read made room). Their return value
// changed meaning across releases (int "retry" before 6.6, bool "throttled" after) and says
// nothing about whether the state changed, so the TTY_THROTTLED bit is read before and after.

#[inline(always)]
fn tty_throttled(tty: u64) -> u64 {
    (read_word(tty, cfg!(tty_struct_flags), cfg!(ptr_size)) >> TTY_THROTTLED_BIT) & 1
}

#[inline(always)]
fn throttle_enter(tty: u64) -> u32 {
    // which of the two functions it was needs no saving: the bit after the call says
    let state = CallState {
        object: tty,
        requested: tty_throttled(tty),
        start_ns: 0,
        function: 0,
    };
    save_call(family::THROTTLE, state)
}

/// Emits the change, if the call made one (a repeated call on a throttled port does not).
#[inline(always)]
fn throttle_done() -> u32 {
    let Some(state) = take_call(family::THROTTLE) else {
        return 0;
    };
    let now = tty_throttled(state.object);
    if now == state.requested {
        return 0;
    }
    let mut name = [0u8; TEXT_LEN];
    if !tty_name(state.object, &mut name) {
        return 0;
    }
    use arg::serial_throttle as a;
    let comm = bpf_get_current_comm().unwrap_or([0; 16]);
    let _ = write_event(
        kind::SERIAL_THROTTLE,
        bpf_get_current_pid_tgid(),
        comm,
        |ev| {
            ev.args[a::TTY] = state.object;
            ev.args[a::THROTTLED] = now;
            ev.text[0] = name;
        },
    );
    0
}

#[fentry]
pub fn throttle_fentry(ctx: FEntryContext) -> u32 {
    throttle_enter(ctx.arg(0))
}

#[fexit]
pub fn throttle_fexit(_ctx: FExitContext) -> u32 {
    throttle_done()
}

#[fentry]
pub fn unthrottle_fentry(ctx: FEntryContext) -> u32 {
    throttle_enter(ctx.arg(0))
}

#[fexit]
pub fn unthrottle_fexit(_ctx: FExitContext) -> u32 {
    throttle_done()
}

#[kprobe]
pub fn throttle_kprobe(ctx: ProbeContext) -> u32 {
    count_call(hook_calls::THROTTLE);
    throttle_enter(ctx.arg(0).unwrap_or(0))
}

#[kprobe]
pub fn unthrottle_kprobe(ctx: ProbeContext) -> u32 {
    count_call(hook_calls::UNTHROTTLE);
    throttle_enter(ctx.arg(0).unwrap_or(0))
}

/// Shared return probe of both functions.
#[kretprobe]
pub fn throttle_kretprobe(_ctx: RetProbeContext) -> u32 {
    throttle_done()
}

// ---------------------------------------------------------------------------------------------
// tty_set_termios(struct tty_struct *tty, struct ktermios *new_termios): every TCSETS* ioctl
// (`tcsetattr`, `stty`) ends here, in the caller's context: the event's task is who changed the
// settings. They are read from the tty on return, once the driver applied them (it may round a
// baud rate it cannot make, or clear a flag it cannot do). Serial ttys only: every shell prompt
// resets its pseudo-terminal.

/// The tty belongs to a serial driver (serial_core or USB-serial).
#[inline(always)]
fn serial_tty(tty: u64) -> bool {
    let driver = read_word(tty, cfg!(tty_struct_driver), cfg!(ptr_size));
    read_word(driver, cfg!(tty_driver_type), 2) == TTY_DRIVER_TYPE_SERIAL
}

#[inline(always)]
fn termios_enter(tty: u64) -> u32 {
    if cfg!(tty_struct_termios) == 0 || !serial_tty(tty) {
        return 0;
    }
    let state = CallState {
        object: tty,
        requested: 0,
        start_ns: 0,
        function: 0,
    };
    save_call(family::TERMIOS, state)
}

#[inline(always)]
fn termios_done() -> u32 {
    let Some(state) = take_call(family::TERMIOS) else {
        return 0;
    };
    let mut name = [0u8; TEXT_LEN];
    if !tty_name(state.object, &mut name) {
        return 0;
    }
    let t = state.object + u64::from(cfg!(tty_struct_termios));
    let flag = |off: u32| read_word(t, off, 4);
    let iflag_oflag = flag(cfg!(ktermios_iflag)) | flag(cfg!(ktermios_oflag)) << 32;
    let cflag_lflag = flag(cfg!(ktermios_cflag)) | flag(cfg!(ktermios_lflag)) << 32;
    // VTIME and VMIN are adjacent `c_cc` bytes (5 and 6 on every asm-generic architecture)
    let vtime_vmin = read_word(t, cfg!(ktermios_cc) + 5, 2);
    let ispeed = flag(cfg!(ktermios_ispeed));
    let ospeed = flag(cfg!(ktermios_ospeed));
    use arg::serial_termios as a;
    let comm = bpf_get_current_comm().unwrap_or([0; 16]);
    let _ = write_event(
        kind::SERIAL_TERMIOS,
        bpf_get_current_pid_tgid(),
        comm,
        |ev| {
            ev.args[a::TTY] = state.object;
            ev.args[a::IFLAG_OFLAG] = iflag_oflag;
            ev.args[a::CFLAG_LFLAG] = cflag_lflag;
            ev.args[a::VTIME_VMIN] = vtime_vmin;
            ev.args[a::ISPEED] = ispeed;
            ev.args[a::OSPEED] = ospeed;
            ev.args[a::SOURCE] = a::SOURCE_SET;
            ev.text[0] = name;
        },
    );
    0
}

#[fentry]
pub fn termios_fentry(ctx: FEntryContext) -> u32 {
    termios_enter(ctx.arg(0))
}

#[fexit]
pub fn termios_fexit(_ctx: FExitContext) -> u32 {
    termios_done()
}

#[kprobe]
pub fn termios_kprobe(ctx: ProbeContext) -> u32 {
    count_call(hook_calls::TERMIOS);
    termios_enter(ctx.arg(0).unwrap_or(0))
}

#[kretprobe]
pub fn termios_kretprobe(_ctx: RetProbeContext) -> u32 {
    termios_done()
}
