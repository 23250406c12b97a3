//! The one emit path shared by every tracepoint program: filter, reserve, stamp, copy the
//! fields the loader described in `SPECS`, submit. A failed reserve is counted in `LOST`.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_probe_read_kernel_str_bytes,
        generated::{
            bpf_get_smp_processor_id, bpf_jiffies64, bpf_ktime_get_boot_ns, bpf_ktime_get_ns,
        },
    },
    macros::map,
    maps::{
        Array, HashMap, LruHashMap, PerCpuArray, RingBuf,
        ring_buf::{RingBufBytes, RingBufEntry},
    },
    programs::{RawTracePointContext, TracePointContext},
};
use serial_trace_common::{
    CLOCK_PAIR_GAP_NS, CLOCKS_ELIDE_BOOT, CLOCKS_SUSPEND_DEPTH, COMM_LEN, CommPattern,
    DeviceLayout, Event, FieldSpec, Filter, HookSpec, KERNEL_TIMER_SAMPLE_NS, MAX_FILTER_COMMS,
    MAX_FILTER_TGIDS, MAX_KINDS, MAX_TREE_PROCESSES, Role, TASK_NAMES_ENABLED, TASK_NAMES_RENAMES,
    TEXT_LEN, TaskFilter, TextSpec, WINDOW_START, WINDOW_STOP, WakeConfig, arg, arms_timers,
    field_source, kind, state_counts, text_kind, wire,
};

/// Load-time description of every hook, indexed by kind id, for the classic tracepoint
/// programs (userspace: tracefs formats).
#[unsafe(no_mangle)]
pub(crate) static SPECS: [HookSpec; MAX_KINDS] = [HookSpec::EMPTY; MAX_KINDS];

/// The same for the raw tracepoint programs (userspace: the tracepoints' prototypes and the
/// layouts of the structs they pass, from BTF).
#[unsafe(no_mangle)]
pub(crate) static RAW_SPECS: [HookSpec; MAX_KINDS] = [HookSpec::EMPTY; MAX_KINDS];

/// Load-time task filter of `record --pid/--comm`.
#[unsafe(no_mangle)]
static FILTER: TaskFilter = TaskFilter {
    active: 0,
    n_tgids: 0,
    n_comms: 0,
    tree: 0,
    exclude_tgid: 0,
    tgids: [0; MAX_FILTER_TGIDS],
    comms: [CommPattern::EMPTY; MAX_FILTER_COMMS],
    task_pid_offset: 0,
    task_tgid_offset: 0,
};

/// The processes of `record -- CMD`'s tree (`TaskFilter::tree`): the recorder's tgid, put in
/// by userspace before anything is attached, and every process it and they fork, added by
/// [`follow_fork`]. Never removed (a reused pid is at worst recorded, never missed).
#[map]
static TREE: HashMap<u32, u8> = HashMap::with_max_entries(MAX_TREE_PROCESSES, 0);

/// `sched_process_fork` (raw: `parent, child`, in the parent's context): a new process forked
/// by one of the tree's joins it. A new thread's process is in already (same tgid).
#[inline(always)]
pub fn follow_fork(ctx: &RawTracePointContext) {
    if unsafe { core::ptr::read_volatile(&FILTER.tree) } == 0 {
        return;
    }
    let parent = (bpf_get_current_pid_tgid() >> 32) as u32;
    if unsafe { TREE.get(parent) }.is_none() {
        return;
    }
    let (pid_at, tgid_at) = unsafe {
        (
            core::ptr::read_volatile(&FILTER.task_pid_offset),
            core::ptr::read_volatile(&FILTER.task_tgid_offset),
        )
    };
    let child: u64 = ctx.arg(1);
    if child == 0 || pid_at == 0 || tgid_at == 0 {
        return;
    }
    // SAFETY: kernel reads of the child task the tracepoint passes, checked by the helper.
    let read = |at: u32| unsafe { bpf_probe_read_kernel((child + u64::from(at)) as *const i32) };
    let (Ok(pid), Ok(tgid)) = (read(pid_at), read(tgid_at)) else {
        count_state(state_counts::TREE, state_counts::FAILED);
        return;
    };
    if pid != tgid || pid <= 0 {
        return;
    }
    match TREE.insert(pid as u32, 1, u64::from(BPF_NOEXIST)) {
        Ok(()) => count_state(state_counts::TREE, state_counts::ADDED),
        Err(NEG_EEXIST) => {}
        Err(_) => count_state(state_counts::TREE, state_counts::FAILED),
    }
}

/// Load-time: wake callbacks and hrtimer struct offsets (kallsyms, BTF).
#[unsafe(no_mangle)]
static WAKE: WakeConfig = WakeConfig {
    wake_functions: [0; 4],
    task_callbacks: [0; 8],
    hrtimer_base_offset: 0,
    clock_base_clockid_offset: 0,
    hrtimer_softexpires_offset: 0,
    hrtimer_function_offset: 0,
    ptr_size: 0,
    hrtimer_window_offset: 0,
    switch_ins: 0,
    _pad: 0,
};

/// Load-time: how the raw device PM programs name a device (BTF).
#[unsafe(no_mangle)]
static DEVICE: DeviceLayout = DeviceLayout {
    init_name: 0,
    kobj_name: 0,
    driver: 0,
    bus: 0,
    class: 0,
    driver_name: 0,
    bus_name: 0,
    class_name: 0,
    ptr_size: 0,
    _pad: [0; 3],
};

/// Timer address → tid of the task that armed it, or `OWN_TIMER`: one lookup per arm tells
/// the owner, whether it is the recorder's, and where a re-arm writes.
#[map]
static OWNER: LruHashMap<u64, u32> = LruHashMap::with_max_entries(16384, 0);

/// tids whose wake timer fired → switch-ins still to record before they arm a new timer.
#[map]
static PENDING: LruHashMap<u32, u8> = LruHashMap::with_max_entries(4096, 0);

/// Slots of [`PENDING_HINT`] (a power of two).
const PENDING_HINT_SLOTS: u32 = 4096;

/// How many `PENDING` entries there may be for the tids of each slot (tid mod the slots),
/// never fewer than there are: raised before an entry is added, lowered after one is removed
/// (an entry the LRU evicts leaves its slot high: a needless lookup later, never a missed
/// one). Every context switch on the system runs the `sched_switch` program and almost none
/// is of a task with a pending wakeup: one whose two tasks' slots read 0 skips both hash
/// lookups (~35 ns of the program's ~45 on the project's host, `perf bench sched pipe`).
#[map]
static PENDING_HINT: Array<u32> = Array::with_max_entries(PENDING_HINT_SLOTS, 0);

/// Adds `delta` (wrapping: `u32::MAX` takes one away) to `tid`'s `PENDING_HINT` slot.
#[inline(always)]
fn pending_hint_add(tid: u32, delta: u32) {
    if let Some(p) = PENDING_HINT.get_ptr_mut(tid & (PENDING_HINT_SLOTS - 1)) {
        // SAFETY: map value pointer from a successful lookup, shared by every CPU: an atomic
        // add (see `count`).
        unsafe {
            core::intrinsics::atomic_xadd::<u32, u32, { core::intrinsics::AtomicOrdering::Relaxed }>(
                p, delta,
            )
        };
    }
}

/// `tid`'s `PENDING` entry, looked up only when its hint slot says there may be one.
#[inline(always)]
fn pending_entry(tid: u32) -> Option<*mut u8> {
    let hinted = PENDING_HINT
        .get(tid & (PENDING_HINT_SLOTS - 1))
        .is_none_or(|&n| n != 0);
    if hinted {
        PENDING.get_ptr_mut(tid)
    } else {
        None
    }
}

/// Gives `tid` a full budget of recorded switch-ins (see [`lru_set`]; the hint raised first).
#[inline(always)]
fn pending_set(tid: u32) {
    if let Some(p) = PENDING.get_ptr_mut(tid) {
        // SAFETY: map value pointer from a successful lookup.
        unsafe { *p = SWITCH_BUDGET };
        return;
    }
    pending_hint_add(tid, 1);
    match PENDING.insert(tid, SWITCH_BUDGET, u64::from(BPF_NOEXIST)) {
        Ok(()) => count_state(state_counts::PENDING, state_counts::ADDED),
        // another CPU added it since the lookup (and raised the hint for it)
        Err(NEG_EEXIST) => {
            pending_hint_add(tid, u32::MAX);
            if let Some(p) = PENDING.get_ptr_mut(tid) {
                // SAFETY: map value pointer from a successful lookup.
                unsafe { *p = SWITCH_BUDGET };
            }
        }
        Err(_) => {
            pending_hint_add(tid, u32::MAX);
            count_state(state_counts::PENDING, state_counts::FAILED);
        }
    }
}

/// Removes `tid`'s `PENDING` entry (counted), then lowers its hint.
#[inline(always)]
fn pending_remove(tid: u32) {
    if PENDING.remove(tid).is_ok() {
        count_state(state_counts::PENDING, state_counts::REMOVED);
        pending_hint_add(tid, u32::MAX);
    }
}

/// The task on this CPU that may have a `PENDING` entry (0 = none): its entry found at its
/// switch-in, or made while it ran here. An arm by any other task skips the `PENDING` lookup
/// (a hash lookup on every arm, ~8 % of what an arm costs). A task marked while it runs on
/// another CPU keeps its entry past its next arm: its next switch-ins (`SWITCH_BUDGET` at
/// most) are recorded, which the analysis, having seen the task run, keeps only as switch-ins;
/// the switch-in that finds the budget spent removes the entry.
#[map]
static RUNS_PENDING: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

/// Whether `sched_switch` is hooked: without it no switch-in is recorded, and `PENDING`
/// (which picks the switch-ins to record) is not kept.
#[inline(always)]
fn switch_ins_hooked() -> bool {
    (unsafe { core::ptr::read_volatile(&WAKE.switch_ins) }) != 0
}

/// `tid` has a wakeup pending (marked in the context of `current`).
#[inline(always)]
fn mark_task_pending(tid: u32, current: u32) {
    if !switch_ins_hooked() {
        return;
    }
    pending_set(tid);
    if tid == current {
        set_runs_pending(tid);
    }
}

#[inline(always)]
fn set_runs_pending(tid: u32) {
    if let Some(p) = RUNS_PENDING.get_ptr_mut(0) {
        // SAFETY: this CPU's slot.
        unsafe { *p = tid };
    }
}

/// `OWNER`'s value for a timer armed by the recorder itself (see `TaskFilter::exclude_tgid`):
/// no thread id is this large.
const OWN_TIMER: u32 = u32::MAX;

/// Switch-ins recorded per wakeup at most (bounds the cost for a task that never re-arms).
const SWITCH_BUDGET: u8 = 4;

/// Load-time: bytes waiting in `EVENTS` before a submit wakes the reader (0 = every event).
#[unsafe(no_mangle)]
static WAKEUP_BYTES: u64 = 0;

const BPF_RB_AVAIL_DATA: u64 = 0;
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;

/// Size is set by the loader (`record --buffer-size`).
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 22, 0);

/// The recording window (`serial_trace_common::WINDOW_MAP`), set by userspace.
#[map]
static WINDOW: Array<u64> = Array::with_max_entries(2, 0);

/// Whether the boot clock may be left out of events (`serial_trace_common::CLOCKS_MAP`).
#[map]
static CLOCKS: Array<u64> = Array::with_max_entries(2, 0);

/// The kinds whose events leave the boot clock out while no suspend/resume phase is open:
/// the hot ones (a clock read is ~40 ns of their ~350). The rest carry both clocks always.
const fn boot_clock_elidable(kind: u16) -> bool {
    matches!(
        kind,
        kind::HRTIMER_START
            | kind::HRTIMER_EXPIRE_ENTRY
            | kind::HRTIMER_EXPIRE_EXIT
            | kind::HRTIMER_CANCEL
            | kind::TIMER_START
            | kind::TIMER_EXPIRE_ENTRY
            | kind::TIMER_CANCEL
            | kind::SCHED_SWITCH
            | kind::SCHED_WAKING
    )
}

/// Whether the boot clock runs a constant offset ahead of the monotonic one now: userspace
/// allowed leaving it out and no suspend/resume phase is open.
#[inline(always)]
fn boot_offset_constant() -> bool {
    CLOCKS.get(CLOCKS_ELIDE_BOOT).is_some_and(|&e| e != 0)
        && CLOCKS.get(CLOCKS_SUSPEND_DEPTH).is_some_and(|&d| d == 0)
}

/// Opens (`+1`) or closes (`-1`, as a wrapping add) a suspend/resume phase.
#[inline(always)]
fn suspend_depth_add(delta: u64) {
    if let Some(p) = CLOCKS.get_ptr_mut(CLOCKS_SUSPEND_DEPTH) {
        // SAFETY: map value pointer from a successful lookup, shared by every CPU: an atomic
        // add (see `count`).
        unsafe {
            core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Relaxed }>(
                p, delta,
            )
        };
    }
}

/// Whether the hot programs may leave `comm` out, and the renames so far
/// (`serial_trace_common::TASK_NAMES_MAP`).
#[map]
static TASK_NAMES: Array<u64> = Array::with_max_entries(2, 0);

/// The task whose `comm` this CPU's last record carried, and the rename count then.
#[repr(C)]
#[derive(Clone, Copy)]
struct CommSent {
    task: u64,
    pid_tgid: u64,
    renames: u64,
}

#[map]
static COMM_SENT: PerCpuArray<CommSent> = PerCpuArray::with_max_entries(1, 0);

/// Counts one task rename (`task_rename_raw`).
#[inline(always)]
pub fn count_rename() {
    if let Some(p) = TASK_NAMES.get_ptr_mut(TASK_NAMES_RENAMES) {
        // SAFETY: map value pointer from a successful lookup, shared: an atomic add.
        unsafe {
            core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Relaxed }>(
                p, 1,
            )
        };
    }
}

/// The current task as `COMM_SENT` keeps it, and whether this CPU's last record carried its
/// `comm` with no task renamed since and leaving it out allowed. The idle tasks all have pid
/// 0 and one name per CPU: never left out. (`task_rename` fires before the kernel copies the
/// new name: a record of the renamed task made on another CPU in those nanoseconds carries
/// the old name with the new count, and that CPU's next records of it keep the old name
/// until another task's record comes between.) Every field is written on every path: the
/// verifier refuses a spill of a register an unused enum payload left unset.
#[inline(always)]
fn comm_sent(pid_tgid: u64) -> CommCheck {
    let mut check = CommCheck {
        sent: false,
        slot: core::ptr::null_mut(),
        now: CommSent {
            task: 0,
            pid_tgid,
            renames: 0,
        },
    };
    if !TASK_NAMES.get(TASK_NAMES_ENABLED).is_some_and(|&e| e != 0) {
        return check;
    }
    let Some(slot) = COMM_SENT.get_ptr_mut(0) else {
        return check;
    };
    check.slot = slot;
    check.now.task = unsafe { aya_ebpf::helpers::bpf_get_current_task() };
    check.now.renames = TASK_NAMES.get(TASK_NAMES_RENAMES).copied().unwrap_or(0);
    // SAFETY: map value pointer from a successful lookup, this CPU's slot.
    let last = unsafe { *slot };
    check.sent = pid_tgid as u32 != 0
        && last.task == check.now.task
        && last.pid_tgid == pid_tgid
        && last.renames == check.now.renames;
    check
}

/// What [`comm_sent`] found: whether the name may be left out, this CPU's `COMM_SENT` slot
/// (null when leaving names out is off: nothing to remember), and the task as it keeps it.
/// The slot is looked up once per event, read here and written after the record is in.
struct CommCheck {
    sent: bool,
    slot: *mut CommSent,
    now: CommSent,
}

/// The boot clock at `mono_ns`, the monotonic clock the caller has just read: the boot clock
/// read now, unless the monotonic one moved more than `CLOCK_PAIR_GAP_NS` around that read;
/// then `mono_ns` plus the offset of a pair read again (twice at most, the tightest kept).
#[inline(always)]
pub fn boot_ns_at(mono_ns: u64) -> u64 {
    let boot = unsafe { bpf_ktime_get_boot_ns() };
    let after = unsafe { bpf_ktime_get_ns() };
    if after.wrapping_sub(mono_ns) <= CLOCK_PAIR_GAP_NS {
        return boot;
    }
    let mut offset = boot.wrapping_sub(mono_ns);
    let mut gap = after.wrapping_sub(mono_ns);
    for _ in 0..2 {
        let m = unsafe { bpf_ktime_get_ns() };
        let b = unsafe { bpf_ktime_get_boot_ns() };
        let m_after = unsafe { bpf_ktime_get_ns() };
        if m_after.wrapping_sub(m) < gap {
            gap = m_after.wrapping_sub(m);
            offset = b.wrapping_sub(m);
        }
        if gap <= CLOCK_PAIR_GAP_NS {
            break;
        }
    }
    mono_ns.wrapping_add(offset)
}

/// Both clocks, read at one moment at the start of a program (see [`boot_ns_at`]).
#[derive(Clone, Copy)]
pub struct Stamp {
    mono_ns: u64,
    boot_ns: u64,
}

impl Stamp {
    #[inline(always)]
    pub fn now() -> Self {
        let mono_ns = unsafe { bpf_ktime_get_ns() };
        Self {
            mono_ns,
            boot_ns: boot_ns_at(mono_ns),
        }
    }

    /// CLOCK_MONOTONIC of the stamp.
    #[inline(always)]
    pub fn mono_ns(&self) -> u64 {
        self.mono_ns
    }

    /// Now, if now is inside the recording window; `None` before it opens and once it closed.
    /// The boot clock is 0 (left out, see `CLOCKS`) when `elide_boot` and its offset is
    /// constant.
    #[inline(always)]
    pub fn if_recording(elide_boot: bool) -> Option<Self> {
        let mono_ns = unsafe { bpf_ktime_get_ns() };
        let start = *WINDOW.get(WINDOW_START)?;
        let stop = *WINDOW.get(WINDOW_STOP)?;
        if start == 0 || mono_ns < start || (stop != 0 && mono_ns >= stop) {
            return None;
        }
        let boot_ns = if elide_boot && boot_offset_constant() {
            0
        } else {
            boot_ns_at(mono_ns)
        };
        Some(Self { mono_ns, boot_ns })
    }
}

/// Failed reserves, per CPU (slot 0). Userspace sums the CPUs.
#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Keys added to and removed from the LRU state maps, and inserts refused, per CPU (see
/// `state_counts`): userspace derives the evictions nobody is told about.
#[map]
static STATE_COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(state_counts::SLOTS, 0);

#[inline(always)]
pub(crate) fn count_state(map: u32, what: u32) {
    count(&STATE_COUNTS, map * state_counts::WHATS + what);
}

/// Adds one to slot `slot` of a per-CPU counter map, this CPU's copy. An atomic add: a
/// program attached through a trampoline (fentry/fexit) or a raw tracepoint is guarded only
/// against itself, so an interrupt's serial hook can run inside a task-context program between
/// its load and its store, and a plain add would lose one of the two counts.
#[inline(always)]
pub fn count(counters: &PerCpuArray<u64>, slot: u32) {
    if let Some(n) = counters.get_ptr_mut(slot) {
        // SAFETY: map value pointer from a successful lookup, this CPU's copy, aligned u64.
        // (`AtomicU64::fetch_add` does not exist for bpfel: the target has no compare-and-swap,
        // but the BPF instruction set has the atomic add this lowers to)
        unsafe {
            core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Relaxed }>(
                n, 1,
            )
        };
    }
}

/// Sets `key` to `value` in LRU state map `map` (a `state_counts` index). An existing entry
/// is written in place (cheaper than an update, which takes a fresh node); a new key is
/// counted as added, an insert the kernel refuses as failed.
#[inline(always)]
pub fn lru_set<K, V: Copy>(lru: &LruHashMap<K, V>, map: u32, key: &K, value: V) {
    if let Some(p) = lru.get_ptr_mut(key) {
        // SAFETY: map value pointer from a successful lookup.
        unsafe { *p = value };
        return;
    }
    lru_add(lru, map, key, value);
}

/// `-EEXIST`, what an insert with `BPF_NOEXIST` returns for a key already there.
pub(crate) const NEG_EEXIST: i32 = -17;

/// Adds `key` (a lookup just found it absent) to LRU state map `map`, counted.
#[inline(always)]
pub fn lru_add<K, V: Copy>(lru: &LruHashMap<K, V>, map: u32, key: &K, value: V) {
    match lru.insert(key, value, u64::from(BPF_NOEXIST)) {
        Ok(()) => count_state(map, state_counts::ADDED),
        // another CPU added it since the lookup
        Err(NEG_EEXIST) => {
            if let Some(p) = lru.get_ptr_mut(key) {
                // SAFETY: map value pointer from a successful lookup.
                unsafe { *p = value };
            }
        }
        Err(_) => count_state(map, state_counts::FAILED),
    }
}

/// The entry of `key` in LRU state map `map`, added (as `V::default()`, counted) when absent:
/// two CPUs adding it at once both get the one entry, each then writing only its own fields.
#[inline(always)]
pub fn lru_entry<K, V: Copy + Default>(
    lru: &LruHashMap<K, V>,
    map: u32,
    key: &K,
) -> Option<*mut V> {
    if let Some(p) = lru.get_ptr_mut(key) {
        return Some(p);
    }
    match lru.insert(key, V::default(), u64::from(BPF_NOEXIST)) {
        Ok(()) => count_state(map, state_counts::ADDED),
        Err(NEG_EEXIST) => {}
        Err(_) => {
            count_state(map, state_counts::FAILED);
            return None;
        }
    }
    lru.get_ptr_mut(key)
}

/// Removes `key` from LRU state map `map`, counting the removal.
#[inline(always)]
pub fn lru_remove<K, V>(lru: &LruHashMap<K, V>, map: u32, key: &K) {
    if lru.remove(key).is_ok() {
        count_state(map, state_counts::REMOVED);
    }
}

/// Timers armed by a task that passed the filter; their expiries run in interrupt context.
#[map]
static TRACKED: LruHashMap<u64, u8> = LruHashMap::with_max_entries(16384, 0);

/// One hook's spec in a load-time table, read a field at a time (a whole `HookSpec` copied
/// onto the stack would not leave the rest of the program its 512 bytes). Volatile reads:
/// the loader rewrites .rodata, so the compiler must not fold the defaults.
pub struct Spec {
    hook: &'static HookSpec,
    pub role: u8,
    pub filter: u8,
}

impl Spec {
    #[inline(always)]
    pub(crate) fn of(table: &'static [HookSpec; MAX_KINDS], kind: u16) -> Option<Self> {
        let hook = table.get(kind as usize)?;
        // SAFETY: plain loads from a static.
        unsafe {
            Some(Self {
                hook,
                role: core::ptr::read_volatile(&hook.role),
                filter: core::ptr::read_volatile(&hook.filter),
            })
        }
    }

    #[inline(always)]
    pub(crate) fn field(&self, i: usize) -> FieldSpec {
        match self.hook.fields.get(i) {
            // SAFETY: a plain load from a static.
            Some(f) => unsafe { core::ptr::read_volatile(f) },
            None => FieldSpec::default(),
        }
    }

    #[inline(always)]
    fn text(&self, i: usize) -> TextSpec {
        match self.hook.texts.get(i) {
            // SAFETY: a plain load from a static.
            Some(t) => unsafe { core::ptr::read_volatile(t) },
            None => TextSpec::default(),
        }
    }
}

/// Where a program finds the values of its slots: a classic tracepoint's record, or a raw
/// tracepoint's arguments.
pub trait Fields {
    /// Raw tracepoint arguments (the program computes a few slots the record would hold).
    const RAW: bool;
    fn field(&self, f: FieldSpec) -> u64;
    /// Copies string field `t` into `dst` (left empty when absent or unreadable).
    fn text(&self, t: TextSpec, dst: &mut [u8; TEXT_LEN]);
    /// The hrtimer's `node.expires`, `_softexpires`, `function` and `base`, when read at once
    /// (see `RawArgs::load_hrtimer_window`).
    fn hrtimer_window(&self) -> Option<[u64; 4]> {
        None
    }
}

/// Bytes of a tracepoint record copied in one helper call; the fields of every hook but a few
/// lie within them (`sched_switch` ends at 64).
const HEAD_LEN: usize = 64;

/// Per-CPU scratch for that copy (too large for the 512-byte stack alongside the rest).
#[map]
static HEAD: PerCpuArray<[u8; HEAD_LEN]> = PerCpuArray::with_max_entries(1, 0);

/// A tracepoint record whose first [`HEAD_LEN`] bytes were copied once: each field is then a
/// plain load instead of a `bpf_probe_read_kernel` call (8 helper calls → 1 for
/// `hrtimer_start`). Fields past the copy are read from the record itself.
pub(crate) struct Record<'a> {
    ctx: &'a TracePointContext,
    head: *const u8,
}

impl<'a> Record<'a> {
    #[inline(always)]
    pub(crate) fn new(ctx: &'a TracePointContext) -> Option<Self> {
        let head = HEAD.get_ptr_mut(0)?;
        // SAFETY: per-CPU scratch, no concurrent user on this CPU; probe reads fault safely.
        unsafe {
            let src = aya_ebpf::EbpfContext::as_ptr(ctx) as *const u8;
            if aya_ebpf::helpers::bpf_probe_read_kernel_buf(src, &mut *head).is_err() {
                return None;
            }
        }
        Some(Self {
            ctx,
            head: head as *const u8,
        })
    }
}

impl Fields for Record<'_> {
    const RAW: bool = false;

    #[inline(always)]
    fn field(&self, f: FieldSpec) -> u64 {
        let off = f.offset as usize;
        if f.size == 0 {
            return 0;
        }
        if off > HEAD_LEN - 8 {
            return read_field(self.ctx, f);
        }
        // SAFETY: off ≤ HEAD_LEN − 8, so every load stays inside the copy.
        unsafe {
            let p = self.head.add(off);
            match (f.size, f.signed) {
                (1, 0) => u64::from(*p),
                (1, _) => *(p as *const i8) as i64 as u64,
                (2, 0) => u64::from(core::ptr::read_unaligned(p as *const u16)),
                (2, _) => core::ptr::read_unaligned(p as *const i16) as i64 as u64,
                (4, 0) => u64::from(core::ptr::read_unaligned(p as *const u32)),
                (4, _) => core::ptr::read_unaligned(p as *const i32) as i64 as u64,
                (8, _) => core::ptr::read_unaligned(p as *const u64),
                _ => 0,
            }
        }
    }

    #[inline(always)]
    fn text(&self, t: TextSpec, dst: &mut [u8; TEXT_LEN]) {
        // SAFETY: probe reads fault safely.
        unsafe { read_text(self.ctx, t.kind, t.offset, dst) }
    }
}

/// Arguments a raw tracepoint program reads, at most (`sched_switch` has four).
const MAX_RAW_ARGS: usize = 4;

/// A raw tracepoint's arguments, copied once with constant offsets: the verifier accepts a
/// context read only at a constant offset, and the attach only within the tracepoint's own
/// argument count (so each program copies exactly as many as every kernel passes).
pub struct RawArgs {
    args: [u64; MAX_RAW_ARGS],
    /// `WakeConfig::hrtimer_window_offset` words of the hrtimer in argument 0, read with one
    /// kernel read; `window_at` 0 = not read.
    window: [u64; 4],
    window_at: u32,
}

impl RawArgs {
    #[inline(always)]
    pub fn new<const N: usize>(ctx: &RawTracePointContext) -> Self {
        let mut args = [0u64; MAX_RAW_ARGS];
        if N > 0 {
            args[0] = ctx.arg(0);
        }
        if N > 1 {
            args[1] = ctx.arg(1);
        }
        if N > 2 {
            args[2] = ctx.arg(2);
        }
        if N > 3 {
            args[3] = ctx.arg(3);
        }
        Self {
            args,
            window: [0; 4],
            window_at: 0,
        }
    }

    /// Reads the hrtimer in argument 0's `node.expires`, `_softexpires`, `function` and
    /// `base` at once, where they lie back to back: an arm then takes two kernel reads (this
    /// and the clock id) instead of five.
    #[inline(always)]
    pub fn load_hrtimer_window(&mut self) {
        let at = unsafe { core::ptr::read_volatile(&WAKE.hrtimer_window_offset) };
        if at == 0 || self.args[0] == 0 {
            return;
        }
        // SAFETY: probe reads fault safely.
        if let Ok(w) =
            unsafe { bpf_probe_read_kernel((self.args[0] + u64::from(at)) as *const [u64; 4]) }
        {
            self.window = w;
            self.window_at = at;
        }
    }

    /// Field `f` from the hrtimer window, when it is one of its four words.
    #[inline(always)]
    fn window_word(&self, f: FieldSpec) -> Option<u64> {
        if self.window_at == 0 || f.arg != 0 || f.size != 8 {
            return None;
        }
        match u32::from(f.offset).checked_sub(self.window_at)? {
            0 => Some(self.window[0]),
            8 => Some(self.window[1]),
            16 => Some(self.window[2]),
            24 => Some(self.window[3]),
            _ => None,
        }
    }

    #[inline(always)]
    fn arg(&self, i: u8) -> u64 {
        match i {
            0 => self.args[0],
            1 => self.args[1],
            2 => self.args[2],
            3 => self.args[3],
            _ => 0,
        }
    }
}

impl Fields for RawArgs {
    const RAW: bool = true;

    #[inline(always)]
    fn field(&self, f: FieldSpec) -> u64 {
        if f.size == 0 {
            return 0;
        }
        let a = self.arg(f.arg);
        let raw = match f.source {
            field_source::ARG => a,
            field_source::ARG_DEREF => self
                .window_word(f)
                .unwrap_or_else(|| read_word(a, u32::from(f.offset), u32::from(f.size))),
            // SAFETY: no arguments, no memory access.
            field_source::JIFFIES => unsafe { bpf_jiffies64() },
            _ => 0,
        };
        extend(raw, f.size, f.signed)
    }

    #[inline(always)]
    fn hrtimer_window(&self) -> Option<[u64; 4]> {
        (self.window_at != 0).then_some(self.window)
    }

    #[inline(always)]
    fn text(&self, t: TextSpec, dst: &mut [u8; TEXT_LEN]) {
        let a = self.arg(t.arg);
        let src = match t.kind {
            text_kind::ARG_POINTER => a,
            text_kind::ARG_INLINE if a != 0 => a + u64::from(t.offset),
            text_kind::ARG_DEVICE_NAME => device_name(a),
            text_kind::ARG_DEVICE_DRIVER => device_driver(a),
            _ => return,
        };
        if src == 0 {
            return;
        }
        // SAFETY: probe reads fault safely.
        let _ = unsafe { bpf_probe_read_kernel_str_bytes(src as *const u8, dst) };
    }
}

/// The pointer at `base + offset` (0 when unreadable), the kernel's width.
#[inline(always)]
fn read_pointer(base: u64, offset: u16, l: &DeviceLayout) -> u64 {
    read_sized(base, u32::from(offset), u32::from(l.ptr_size)).unwrap_or(0)
}

/// `dev_name(dev)`: the device's `init_name` until its kobject is named, then that name
/// (0 when `dev` is 0 or unreadable).
#[inline(always)]
fn device_name(dev: u64) -> u64 {
    let l = unsafe { core::ptr::read_volatile(&DEVICE) };
    match read_pointer(dev, l.init_name, &l) {
        0 => read_pointer(dev, l.kobj_name, &l),
        init => init,
    }
}

/// `dev_driver_string(dev)`: the name of the device's driver, else of its bus, else of its
/// class; 0 (an empty string) when it has none of them.
#[inline(always)]
fn device_driver(dev: u64) -> u64 {
    let l = unsafe { core::ptr::read_volatile(&DEVICE) };
    for (member, name) in [
        (l.driver, l.driver_name),
        (l.bus, l.bus_name),
        (l.class, l.class_name),
    ] {
        let owner = read_pointer(dev, member, &l);
        if owner != 0 {
            return read_pointer(owner, name, &l);
        }
    }
    0
}

/// The unsigned integer of `size` bytes (1, 2, 4, else 8) at `base + offset`; `None` when
/// `base` is 0 or the read faults.
#[inline(always)]
fn read_sized(base: u64, offset: u32, size: u32) -> Option<u64> {
    if base == 0 {
        return None;
    }
    let at = base + u64::from(offset);
    // SAFETY: probe reads fault safely.
    unsafe {
        match size {
            1 => bpf_probe_read_kernel(at as *const u8).map(u64::from),
            2 => bpf_probe_read_kernel(at as *const u16).map(u64::from),
            4 => bpf_probe_read_kernel(at as *const u32).map(u64::from),
            _ => bpf_probe_read_kernel(at as *const u64),
        }
    }
    .ok()
}

/// `v` cut to `size` bytes, sign-extended when `signed` (a raw argument or struct member is
/// passed as a whole register; the record's slot holds the C value).
#[inline(always)]
fn extend(v: u64, size: u8, signed: u8) -> u64 {
    match (size, signed) {
        (1, 0) => v & 0xff,
        (1, _) => v as u8 as i8 as i64 as u64,
        (2, 0) => v & 0xffff,
        (2, _) => v as u16 as i16 as i64 as u64,
        (4, 0) => v & 0xffff_ffff,
        (4, _) => v as u32 as i32 as i64 as u64,
        _ => v,
    }
}

/// `sched_switch`'s `prev_state` as the tracepoint reports it (`__trace_sched_switch_state`):
/// `TASK_REPORT_MAX` when preempted, else the highest `TASK_REPORT` bit of the state
/// (`TASK_REPORT_IDLE` for an idle kthread, D for an rtlock waiter).
#[inline(always)]
fn reported_state(preempt: u64, state: u64, exit_state: u64) -> u64 {
    const TASK_REPORT: u64 = 0x7f;
    const TASK_IDLE: u64 = 0x402;
    const TASK_RTLOCK_WAIT: u64 = 0x1000;
    const TASK_REPORT_IDLE: u64 = 0x80;
    const TASK_REPORT_MAX: u64 = 0x100;
    if preempt & 0xff != 0 {
        return TASK_REPORT_MAX;
    }
    let mut s = (state | exit_state) & TASK_REPORT;
    if state & TASK_IDLE == TASK_IDLE {
        s = TASK_REPORT_IDLE;
    }
    if state & TASK_RTLOCK_WAIT != 0 {
        s = 2;
    }
    if s == 0 {
        return 0;
    }
    // the highest set bit: fls(s) as a mask
    1 << (63 - s.leading_zeros())
}

#[inline(always)]
fn read_field(ctx: &TracePointContext, f: FieldSpec) -> u64 {
    let off = f.offset as usize;
    // SAFETY: bpf_probe_read_kernel faults safely; a failed read leaves the slot 0.
    unsafe {
        match (f.size, f.signed) {
            (1, 0) => ctx.read_at::<u8>(off).map(u64::from).unwrap_or(0),
            (1, _) => ctx.read_at::<i8>(off).map(|v| v as i64 as u64).unwrap_or(0),
            (2, 0) => ctx.read_at::<u16>(off).map(u64::from).unwrap_or(0),
            (2, _) => ctx
                .read_at::<i16>(off)
                .map(|v| v as i64 as u64)
                .unwrap_or(0),
            (4, 0) => ctx.read_at::<u32>(off).map(u64::from).unwrap_or(0),
            (4, _) => ctx
                .read_at::<i32>(off)
                .map(|v| v as i64 as u64)
                .unwrap_or(0),
            (8, _) => ctx.read_at::<u64>(off).unwrap_or(0),
            _ => 0,
        }
    }
}

/// Whether the task passes `record --pid/--comm` and `-- CMD`'s tree (read field by field:
/// the filter is larger than the stack would like).
#[inline(always)]
fn task_passes(pid_tgid: u64, comm: &[u8; 16]) -> bool {
    if unsafe { core::ptr::read_volatile(&FILTER.tree) } != 0
        && unsafe { TREE.get((pid_tgid >> 32) as u32) }.is_none()
    {
        return false;
    }
    // SAFETY: reads of a load-time global.
    let n_tgids = unsafe { core::ptr::read_volatile(&FILTER.n_tgids) } as usize;
    if n_tgids != 0 {
        let tgid = (pid_tgid >> 32) as u32;
        let mut found = false;
        for i in 0..MAX_FILTER_TGIDS {
            if i < n_tgids && unsafe { core::ptr::read_volatile(&FILTER.tgids[i]) } == tgid {
                found = true;
            }
        }
        if !found {
            return false;
        }
    }
    let n_comms = unsafe { core::ptr::read_volatile(&FILTER.n_comms) } as usize;
    if n_comms == 0 {
        return true;
    }
    let mut len = COMM_LEN;
    for i in (0..COMM_LEN).rev() {
        if comm[i] == 0 {
            len = i;
        }
    }
    let mut any = false;
    for k in 0..MAX_FILTER_COMMS {
        if k < n_comms && comm_matches(&FILTER.comms[k], comm, len) {
            any = true;
        }
    }
    any
}

/// `comm` (its first `len` bytes) against one `--comm` glob (see `CommPattern`).
#[inline(always)]
fn comm_matches(p: &CommPattern, comm: &[u8; 16], len: usize) -> bool {
    // SAFETY: reads of a load-time global.
    let (plen, slen, star) = unsafe {
        (
            core::ptr::read_volatile(&p.prefix_len) as usize,
            core::ptr::read_volatile(&p.suffix_len) as usize,
            core::ptr::read_volatile(&p.star) != 0,
        )
    };
    if (star && len < plen + slen) || (!star && len != plen) {
        return false;
    }
    let fits = |want: u8, got: u8| want == got || want == b'?';
    for (i, &got) in comm.iter().enumerate() {
        if i < plen && !fits(unsafe { core::ptr::read_volatile(&p.prefix[i]) }, got) {
            return false;
        }
    }
    for j in 0..COMM_LEN {
        // `len - slen + j` < 16 whenever `j < slen` (len ≤ 16); masked for the verifier
        if j < slen
            && !fits(
                unsafe { core::ptr::read_volatile(&p.suffix[j]) },
                comm[(len.wrapping_sub(slen).wrapping_add(j)) & (COMM_LEN - 1)],
            )
        {
            return false;
        }
    }
    true
}

/// Entry for every classic tracepoint program. Always returns 0 (the tracepoint's return is
/// ignored).
#[inline(always)]
pub fn emit<const K: u16>(ctx: &TracePointContext) -> u32 {
    let Some(spec) = Spec::of(&SPECS, K) else {
        return 0;
    };
    // Every wakeup in the system runs `sched_waking`: leave before copying its record.
    let Some(expiring) = expiring_for(&spec) else {
        return 0;
    };
    if let Some(rec) = Record::new(ctx) {
        let _ = try_emit::<_, K>(&rec, &spec, expiring);
    }
    0
}

/// Entry for every raw tracepoint program, which reads the tracepoint's first `N`
/// arguments. Always returns 0.
#[inline(always)]
pub fn emit_raw<const N: usize, const K: u16>(ctx: &RawTracePointContext) -> i32 {
    let Some(spec) = Spec::of(&RAW_SPECS, K) else {
        return 0;
    };
    let Some(expiring) = expiring_for(&spec) else {
        return 0;
    };
    let mut args = RawArgs::new::<N>(ctx);
    if matches!(spec.role, Role::HRTIMER_ARM | Role::HRTIMER_EXPIRE) {
        args.load_hrtimer_window();
    }
    let _ = try_emit::<_, K>(&args, &spec, expiring);
    0
}

/// For `sched_waking` (every wakeup in the system runs it), the wake timer whose callback
/// runs on this CPU, `None` when there is none and the program has nothing to do; 0 for the
/// other hooks.
#[inline(always)]
fn expiring_for(spec: &Spec) -> Option<u64> {
    if spec.role != Role::WAKING {
        return Some(0);
    }
    let mark = EXPIRING.get(0).copied().filter(|&t| t != 0)?;
    // only the callback's own task wakes for it (see `EXPIRING`): read only inside a window
    let context = EXPIRING.get(3).copied()?;
    (bpf_get_current_pid_tgid() as u32 as u64 == context).then_some(mark)
}

#[inline(always)]
fn try_emit<F: Fields, const K: u16>(rec: &F, spec: &Spec, expiring: u64) -> Result<(), ()> {
    // Slots 0 and 1 are read once (a raw program's are kernel reads): every hook's filter
    // and state need one or both (the timer and its callback; the next and previous task).
    let slot0 = rec.field(spec.field(0));
    let slot1 = rec.field(spec.field(1));
    if spec.role == Role::HRTIMER_EXPIRE {
        const { assert!(arg::hrtimer_expire_entry::HRTIMER == 0) };
        nest_expiry(slot0);
        callback_window_expiry();
    }
    if spec.role == Role::HRTIMER_EXPIRE_EXIT {
        unnest_expiry(slot0);
        callback_returned(slot0);
    }
    // An arm of the timer whose callback just returned on this CPU, with no context switch
    // and at most one expiry (an interrupt's) in between (see `CALLBACK_DONE`), by another
    // task than the timer's owner, is that callback's
    // restart (`HRTIMER_RESTART`: a POSIX or alarm timer whose signal is ignored), made in
    // interrupt context: it belongs to the owner, not to whichever task was interrupted. (The
    // owner itself re-arming at once, e.g. a sleep whose timer fired before the task left the
    // CPU, is its own arm either way.)
    //
    // The timer's `OWNER` entry is looked up once (every hook with a timer filter has the
    // timer's address in arg 0): its owner (a restart's), whether the recorder armed it, and
    // the slot a new arm writes in place.
    let mut owner_slot = match spec.filter {
        Filter::ARM | Filter::ARM_BY_CALLBACK | Filter::TRACKED | Filter::CANCEL_BY_CALLBACK => {
            OWNER.get_ptr_mut(slot0)
        }
        _ => None,
    };
    // SAFETY: map value pointer from a successful lookup.
    let owner = owner_slot.map(|p| unsafe { *p });
    let restart = spec.role == Role::HRTIMER_ARM && {
        const { assert!(arg::hrtimer_start::HRTIMER == 0) };
        take_restart(slot0) && owner.is_none_or(|o| o != bpf_get_current_pid_tgid() as u32)
    };
    if spec.role == Role::SCHED_IN {
        callback_window_end();
        // Most context switches are of no interest: only those of a task whose wake timer
        // fired. Its first few switches are recorded (not just one): a task woken inside a
        // suspend's freeze window may run only to freeze, its real wakeup then at thaw, and
        // the state it leaves the CPU in tells which.
        const { assert!(arg::sched_switch::NEXT_PID == 0 && arg::sched_switch::PREV_PID == 1) };
        let (next, prev) = (slot0 as u32, slot1 as u32);
        let next_entry = pending_entry(next);
        set_runs_pending(if next_entry.is_some() { next } else { 0 });
        let (budget, key) = match next_entry {
            Some(b) => (b, next),
            None => match pending_entry(prev) {
                Some(b) => (b, prev),
                None => return Err(()),
            },
        };
        // SAFETY: map value pointer from a successful lookup.
        unsafe {
            if *budget == 0 {
                pending_remove(key);
                return Err(());
            }
            *budget -= 1;
        }
    }
    // A suspend/resume phase opens before its event and closes only once its event is in
    // the ring (below): a hot event that finds none open, and so leaves its boot clock out, is
    // behind the closing event in the ring, whose offset userspace then applies. A closing
    // event lost to a full ring leaves the phase open: both clocks from then on.
    const { assert!(arg::suspend_resume::START == 1) };
    let phase_ends = K == kind::SUSPEND_RESUME && slot1 == 0;
    if K == kind::SUSPEND_RESUME && slot1 != 0 {
        suspend_depth_add(1);
    }
    // Nothing below runs outside the recording window: no event, no change to the maps.
    let Some(stamp) = Stamp::if_recording(const { boot_clock_elidable(K) }) else {
        if phase_ends {
            suspend_depth_add(u64::MAX);
        }
        return Err(());
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    // `comm` once per task and CPU (`COMM_SENT`), unless the --comm filter needs it
    let comm_check = comm_sent(pid_tgid);
    let by_comm = unsafe { core::ptr::read_volatile(&FILTER.n_comms) } != 0;
    let omit_comm = comm_check.sent && !by_comm;
    let comm = if omit_comm {
        [0; 16]
    } else {
        bpf_get_current_comm().unwrap_or([0; 16])
    };
    // Every hook with a timer filter has the timer's address in arg 0.
    let timer = slot0;
    // A kernel timer re-armed in interrupt context is no task's, whoever was interrupted.
    let task_timer = match spec.filter {
        Filter::ARM => true,
        Filter::ARM_BY_CALLBACK => is_task_callback(slot1),
        // A timer a task armed with a task callback (its `OWNER` entry) is a task's without
        // reading its callback again. (Were the entry stale, its address reused by a kernel
        // timer, this records one cancel the sampling would have skipped: a cancel of a
        // timer the trace shows unarmed changes nothing downstream.)
        Filter::CANCEL_BY_CALLBACK if owner.is_some_and(|o| o != OWN_TIMER) => true,
        Filter::CANCEL_BY_CALLBACK => hrtimer_function(timer).is_none_or(is_task_callback),
        _ => false,
    };
    // The recorder's own timers (its polls, the counter poller) are never recorded, neither
    // armed nor expiring: recording them would only measure the recorder. `OWNER` marks them
    // `OWN_TIMER`.
    let own = owner == Some(OWN_TIMER);
    match spec.filter {
        // a restart changes no ownership: an own timer stays own (and unrecorded), another
        // task's stays theirs
        Filter::ARM | Filter::ARM_BY_CALLBACK if restart => {
            if own {
                return Err(());
            }
        }
        Filter::ARM | Filter::ARM_BY_CALLBACK => {
            if task_timer
                && (pid_tgid >> 32) as u32
                    == unsafe { core::ptr::read_volatile(&FILTER.exclude_tgid) }
            {
                // Written in place when present: an LRU update takes a fresh node and can
                // evict another entry.
                match owner_slot {
                    // SAFETY: map value pointer from a successful lookup.
                    Some(p) => unsafe { *p = OWN_TIMER },
                    None => lru_add(&OWNER, state_counts::OWNER, &timer, OWN_TIMER),
                }
                return Err(());
            }
            // another task arms what was the recorder's timer: it is the recorder's no more
            if own {
                lru_remove(&OWNER, state_counts::OWNER, &timer);
                owner_slot = None;
            }
        }
        Filter::TRACKED | Filter::CANCEL_BY_CALLBACK if own => {
            return Err(());
        }
        _ => {}
    }
    let filter_active = unsafe { core::ptr::read_volatile(&FILTER.active) } != 0;
    if filter_active {
        match spec.filter {
            Filter::ARM | Filter::ARM_BY_CALLBACK if restart => {
                if unsafe { TRACKED.get(timer) }.is_none() {
                    return Err(());
                }
            }
            Filter::ARM | Filter::ARM_BY_CALLBACK => {
                // only the kinds that arm timers carry the filter's code (see `arms_timers`)
                if !task_timer || !(const { arms_timers(K) } && task_passes(pid_tgid, &comm)) {
                    return Err(());
                }
                lru_set(&TRACKED, state_counts::TRACKED, &timer, 1);
            }
            Filter::TRACKED | Filter::CANCEL_BY_CALLBACK
                if unsafe { TRACKED.get(timer) }.is_none() =>
            {
                return Err(());
            }
            _ => {}
        }
    } else if matches!(
        spec.filter,
        Filter::ARM_BY_CALLBACK | Filter::CANCEL_BY_CALLBACK
    ) && !task_timer
        && !kernel_sample_due(K, stamp.mono_ns)
    {
        return Err(());
    }
    // Wakeup state, ring slot or not (a full ring must not leave it stale), and only for what
    // passed the filters (the recorder's own timers wake nobody of interest).
    if spec.role == Role::HRTIMER_EXPIRE {
        mark_pending(rec, spec, slot0, owner, pid_tgid as u32);
    } else if spec.role == Role::WAKING {
        // the woken task has the wakeup pending, whoever armed the timer
        const { assert!(arg::sched_waking::PID == 0) };
        let pid = slot0 as u32;
        mark_task_pending(pid, pid_tgid as u32);
        if let Some(&owner) = unsafe { OWNER.get(expiring) }.filter(|&&o| o != pid) {
            let pair = (u64::from(owner) << 32) | u64::from(pid);
            lru_set(&LAST_WOKEN, state_counts::LAST_WOKEN, &expiring, pair);
        }
    }
    if spec.role == Role::HRTIMER_ARM && task_timer && !restart {
        let tid = pid_tgid as u32;
        if tid != 0 {
            match owner_slot {
                // SAFETY: map value pointer from the lookup above (the key was not removed).
                Some(p) => unsafe { *p = tid },
                None => lru_add(&OWNER, state_counts::OWNER, &timer, tid),
            }
            // arming a new timer means the task is back in its own code: no wakeup pending
            if let Some(p) = RUNS_PENDING.get_ptr_mut(0) {
                // SAFETY: this CPU's slot.
                if unsafe { *p } == tid {
                    unsafe { *p = 0 };
                    pending_remove(tid);
                }
            }
        }
    }

    // Filled here, not in a closure for `write_event_at`: LLVM outlines a closure this size
    // into a BPF subprogram, which the verifier refused for leaving a stack pointer in r0.
    // The record is cut to the kind's slots (`wire`): its size is a constant of the program.
    let nargs = const { wire::kind_nargs(K) };
    let ntexts = const { wire::kind_ntexts(K) };
    let flags = if omit_comm { wire::COMM_OMITTED } else { 0 };
    let Some((mut entry, slots_at)) = reserve_cut::<K>(&stamp, pid_tgid, comm, flags) else {
        return Err(());
    };
    let base = entry.as_mut_ptr();
    // SAFETY: every write below lies within the reserved, exclusively owned record of
    // `kind_record_len(K)` or `kind_short_record_len(K)` bytes (8-aligned, as ring records
    // are): after the head (`slots_at` bytes), `nargs` slots, `ntexts` strings. Every byte of
    // it is written (ring memory is not cleared).
    unsafe {
        let args = base.add(slots_at).cast::<u64>();
        for i in 0..nargs {
            let v = match i {
                0 => slot0,
                1 => slot1,
                _ => rec.field(spec.field(i)),
            };
            args.add(i).write(v);
        }
        // The slots the program computes (each index checked against the kind's slots at
        // compile time: the role is a load-time value the verifier follows on every path).
        if F::RAW && spec.role == Role::SCHED_IN {
            use arg::sched_switch as a;
            if a::PREV_STATE < nargs {
                let state = args.add(a::PREV_STATE).read();
                args.add(a::PREV_STATE).write(reported_state(
                    rec.field(spec.field(a::RAW_PREEMPT)),
                    state,
                    rec.field(spec.field(a::RAW_EXIT_STATE)),
                ));
            }
        }
        if spec.role == Role::HRTIMER_ARM {
            use arg::hrtimer_start as a;
            if a::CLOCKID_PLUS1.max(a::RESTART) < nargs {
                args.add(a::CLOCKID_PLUS1)
                    .write(clockid_plus1(timer, rec.hrtimer_window()));
                args.add(a::RESTART).write(u64::from(restart));
            }
        } else if spec.role == Role::HRTIMER_EXPIRE {
            use arg::hrtimer_expire_entry as a;
            if a::SOFTEXPIRES.max(a::CLOCKID_PLUS1) < nargs {
                let window = rec.hrtimer_window();
                let soft = match window {
                    Some(w) => w[1],
                    None => hrtimer_softexpires(timer),
                };
                args.add(a::SOFTEXPIRES).write(soft);
                args.add(a::CLOCKID_PLUS1)
                    .write(clockid_plus1(timer, window));
            }
        } else if spec.role == Role::WAKING {
            use arg::sched_waking as a;
            if a::HRTIMER < nargs {
                args.add(a::HRTIMER).write(expiring);
            }
        }
        let texts = base.add(slots_at + 8 * nargs).cast::<[u8; TEXT_LEN]>();
        for i in 0..ntexts {
            let t = &mut *texts.add(i);
            *t = [0; TEXT_LEN];
            rec.text(spec.text(i), t);
        }
    }
    submit(entry);
    // this CPU's next record of the task may leave the name out: this one is in the ring
    if !omit_comm && !comm_check.slot.is_null() {
        // SAFETY: this CPU's slot from the lookup in `comm_sent`, no concurrent writer.
        unsafe { *comm_check.slot = comm_check.now };
    }
    if phase_ends {
        suspend_depth_add(u64::MAX);
    }
    Ok(())
}

/// Last recorded arm or cancel of a kernel timer, per kind (index) and CPU.
#[map]
static KERNEL_SAMPLED: PerCpuArray<u64> = PerCpuArray::with_max_entries(MAX_KINDS as u32, 0);

/// Whether a kernel timer's arm or cancel of this kind is due on this CPU
/// (`Filter::ARM_BY_CALLBACK`); if so, it is taken as the sample of the period.
#[inline(always)]
fn kernel_sample_due(kind: u16, now: u64) -> bool {
    let Some(last) = KERNEL_SAMPLED.get_ptr_mut(u32::from(kind)) else {
        return false;
    };
    // SAFETY: per-CPU slot, no concurrent writer on this CPU.
    unsafe {
        if *last != 0 && now.wrapping_sub(*last) < KERNEL_TIMER_SAMPLE_NS {
            return false;
        }
        *last = now;
    }
    true
}

/// [`read_sized`], 0 when it reads nothing. A width of 0 reads 8 bytes: a 32-bit kernel's
/// pointers and `size_t` are 4 bytes, and BTF says which (0 = not looked up).
#[inline(always)]
pub fn read_word(base: u64, offset: u32, size: u32) -> u64 {
    read_sized(base, offset, size).unwrap_or(0)
}

/// An hrtimer's callback (`None` when the BTF offset is unknown or the read fails).
#[inline(always)]
fn hrtimer_function(timer: u64) -> Option<u64> {
    // two fields, not the whole global onto the 512-byte stack
    let off = unsafe { core::ptr::read_volatile(&WAKE.hrtimer_function_offset) };
    if off == 0 {
        return None;
    }
    let size = unsafe { core::ptr::read_volatile(&WAKE.ptr_size) };
    read_sized(timer, off, size)
}

/// An hrtimer's soft expiry, its deadline on its own clock (0 when unknown). At
/// `hrtimer_expire_entry` the callback has not run yet, so it is still this expiry's.
#[inline(always)]
fn hrtimer_softexpires(timer: u64) -> u64 {
    let off = unsafe { core::ptr::read_volatile(&WAKE.hrtimer_softexpires_offset) };
    if off == 0 {
        return 0;
    }
    // SAFETY: probe reads fault safely.
    unsafe { bpf_probe_read_kernel((timer + u64::from(off)) as *const u64) }.unwrap_or(0)
}

/// Reserves a ring record of kind `K` cut to its slots and writes its head (`shape` with
/// `flags`): the short one when the record leaves `comm` out (`flags`) and the stamp left the
/// boot clock out, else the long one. Returns it with the offset of its slots; `None`, counted
/// in `LOST`, when the ring is full. Each branch reserves a constant size, as the verifier
/// wants.
#[inline(always)]
fn reserve_cut<const K: u16>(
    stamp: &Stamp,
    pid_tgid: u64,
    comm: [u8; 16],
    flags: u32,
) -> Option<(RingBufBytes<'static>, usize)> {
    let head = wire::Head {
        mono_ns: stamp.mono_ns,
        pid_tgid,
        kind: K,
        cpu: unsafe { bpf_get_smp_processor_id() } as u16,
        shape: const { wire::shape(wire::kind_nargs(K), wire::kind_ntexts(K)) } | flags,
    };
    if flags & wire::COMM_OMITTED != 0 && stamp.boot_ns == 0 {
        let Some(mut entry) = EVENTS.reserve_bytes(const { wire::kind_short_record_len(K) }, 0)
        else {
            count(&LOST, 0);
            return None;
        };
        // SAFETY: the head lies at the start of the reserved, exclusively owned record.
        unsafe {
            entry.as_mut_ptr().cast::<wire::Head>().write(wire::Head {
                shape: head.shape | wire::SHORT_HEAD,
                ..head
            });
        }
        return Some((entry, wire::HEAD_LEN));
    }
    let Some(mut entry) = EVENTS.reserve_bytes(const { wire::kind_record_len(K) }, 0) else {
        count(&LOST, 0);
        return None;
    };
    // SAFETY: as above, the long head.
    unsafe {
        entry
            .as_mut_ptr()
            .cast::<wire::LongHead>()
            .write(wire::LongHead {
                head,
                boot_ns: stamp.boot_ns,
                comm,
            });
    }
    Some((entry, wire::LONG_HEAD_LEN))
}

/// Writes a record of kind `K` cut to its slots, `args` in slot order and `text` as its one
/// text (a kind with none leaves it out), stamped `stamp` (a durations' end: the event's time
/// is then exactly where the duration ends, whatever ran in between).
#[inline(always)]
pub fn write_slots<const K: u16, const N: usize>(
    stamp: Stamp,
    pid_tgid: u64,
    comm: [u8; 16],
    args: [u64; N],
    text: &[u8; TEXT_LEN],
) -> Result<(), ()> {
    const { assert!(wire::kind_ntexts(K) <= 1 && N <= wire::kind_nargs(K)) };
    let ntexts = const { wire::kind_ntexts(K) };
    let nargs = const { wire::kind_nargs(K) };
    let (mut entry, slots_at) = reserve_cut::<K>(&stamp, pid_tgid, comm, 0).ok_or(())?;
    let base = entry.as_mut_ptr();
    // SAFETY: every write lies within the reserved record of `kind_record_len(K)` bytes
    // (`comm` is in it: the long head): after the head, `nargs` slots and `ntexts` texts, each
    // written.
    unsafe {
        let slots = base.add(slots_at).cast::<u64>();
        for (i, v) in args.iter().enumerate() {
            slots.add(i).write(*v);
        }
        for i in N..nargs {
            slots.add(i).write(0);
        }
        if ntexts == 1 {
            base.add(slots_at + 8 * nargs)
                .cast::<[u8; TEXT_LEN]>()
                .write(*text);
        }
    }
    submit(entry);
    Ok(())
}

/// [`write_event_at`] now, window or not: the serial data path records from attach to detach,
/// because its drops are checked against the port counters read before attaching and after
/// detaching.
#[inline(always)]
pub fn write_event<F: FnOnce(&mut Event)>(
    kind: u16,
    pid_tgid: u64,
    comm: [u8; 16],
    fill: F,
) -> Result<(), ()> {
    write_event_at(Stamp::now(), kind, pid_tgid, comm, fill)
}

/// Reserves one event, stamps time, task and CPU, lets `fill` write the rest, submits it.
/// A full ring buffer is counted in `LOST`.
#[inline(always)]
pub fn write_event_at<F: FnOnce(&mut Event)>(
    stamp: Stamp,
    kind: u16,
    pid_tgid: u64,
    comm: [u8; 16],
    fill: F,
) -> Result<(), ()> {
    let mut entry = reserve_event(stamp, kind, pid_tgid, comm)?;
    // SAFETY: a reserved, exclusively owned Event-sized slot.
    fill(unsafe { &mut *entry.as_mut_ptr() });
    submit(entry);
    Ok(())
}

/// Reserves one event, zeroed and stamped with time, task, kind and CPU. A full ring buffer
/// is counted in `LOST`.
#[inline(always)]
fn reserve_event(
    stamp: Stamp,
    kind: u16,
    pid_tgid: u64,
    comm: [u8; 16],
) -> Result<RingBufEntry<Event>, ()> {
    let Some(mut entry) = EVENTS.reserve::<Event>(0) else {
        count(&LOST, 0);
        return Err(());
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: `ev` points at a reserved, exclusively owned Event-sized slot.
    unsafe {
        // Zero first: ring buffer memory is not cleared and partial reads must not leak.
        ev.write(Event::ZERO);
        (*ev).mono_ns = stamp.mono_ns;
        (*ev).boot_ns = stamp.boot_ns;
        (*ev).pid_tgid = pid_tgid;
        (*ev).kind = kind;
        (*ev).cpu = bpf_get_smp_processor_id() as u16;
        (*ev).shape = wire::FULL_SHAPE;
        (*ev).comm = comm;
    }
    Ok(entry)
}

/// A reserved ring record, whole or cut to its kind's slots.
trait Reserved {
    fn submit(self, flags: u64);
}

impl Reserved for RingBufEntry<Event> {
    #[inline(always)]
    fn submit(self, flags: u64) {
        RingBufEntry::submit(self, flags)
    }
}

impl Reserved for RingBufBytes<'_> {
    #[inline(always)]
    fn submit(self, flags: u64) {
        RingBufBytes::submit(self, flags)
    }
}

/// Submits a filled record, waking the reader once enough bytes wait.
#[inline(always)]
fn submit<R: Reserved>(entry: R) {
    let threshold = unsafe { core::ptr::read_volatile(&WAKEUP_BYTES) };
    let flags = if EVENTS.query(BPF_RB_AVAIL_DATA) >= threshold {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    entry.submit(flags);
}

#[inline(always)]
unsafe fn read_text(ctx: &TracePointContext, kind: u8, offset: u16, dst: &mut [u8; 32]) {
    let base = aya_ebpf::EbpfContext::as_ptr(ctx) as *const u8;
    let src: *const u8 = match kind {
        text_kind::POINTER => match unsafe { ctx.read_at::<u64>(offset as usize) } {
            Ok(p) => p as *const u8,
            Err(_) => return,
        },
        text_kind::POINTER32 => match unsafe { ctx.read_at::<u32>(offset as usize) } {
            Ok(p) => p as u64 as *const u8,
            Err(_) => return,
        },
        text_kind::DATA_LOC => match unsafe { ctx.read_at::<u32>(offset as usize) } {
            // low 16 bits: offset of the string from the start of the record
            Ok(loc) => unsafe { base.add((loc & 0xffff) as usize) },
            Err(_) => return,
        },
        text_kind::INLINE => unsafe { base.add(offset as usize) },
        _ => return,
    };
    let _ = unsafe { bpf_probe_read_kernel_str_bytes(src, dst) };
}

/// Whether `function` is in a load-time callback list; an empty list (all zero: kallsyms did
/// not resolve it) takes every callback.
#[inline(always)]
fn listed(list: &[u64], function: u64) -> bool {
    list.iter().all(|&f| f == 0) || list.contains(&function)
}

/// Whether a timer with this callback is one a task arms for itself (`WAKE.task_callbacks`).
#[inline(always)]
fn is_task_callback(function: u64) -> bool {
    // the list, not the whole global onto the stack
    let callbacks = unsafe { core::ptr::read_volatile(&WAKE.task_callbacks) };
    listed(&callbacks, function)
}

/// Slots of [`CLOCK_IDS`] (a power of two).
const CLOCK_ID_SLOTS: u32 = 64;
/// The low bits of a clock base's address, always 0: the bases are cache-line aligned.
const CLOCK_BASE_ALIGN_MASK: u64 = 0x3f;

/// Clock base address | its clock id + 1, direct-mapped by the base's address. A base's
/// clock id never changes (the bases are static per-CPU structs, 8 a CPU), so an arm reads it
/// from the kernel once per base instead of at every arm and expiry. A slot another base took
/// is a miss, not a wrong answer (the address is compared), and a slot is one 8-byte store,
/// so a reader on another CPU sees the old pair or the new one.
#[map]
static CLOCK_IDS: Array<u64> = Array::with_max_entries(CLOCK_ID_SLOTS, 0);

/// The clock id of an hrtimer's base + 1 (0 when the BTF offsets are unknown or unreadable), its
/// `base` taken from the hrtimer window when one was read.
#[inline(always)]
fn clockid_plus1(timer: u64, window: Option<[u64; 4]>) -> u64 {
    let base_offset = unsafe { core::ptr::read_volatile(&WAKE.hrtimer_base_offset) };
    if base_offset == 0 {
        return 0;
    }
    // `base` is the window's last word
    let base = match window {
        Some(words) => Some(words[3]).filter(|&b| b != 0),
        None => read_sized(timer, base_offset, unsafe {
            core::ptr::read_volatile(&WAKE.ptr_size)
        }),
    };
    let Some(base) = base else {
        return 0;
    };
    let slot = CLOCK_IDS.get_ptr_mut(((base >> 6) as u32) & (CLOCK_ID_SLOTS - 1));
    if let Some(p) = slot {
        // SAFETY: map value pointer from a successful lookup.
        let pair = unsafe { core::ptr::read_volatile(p) };
        if pair & !CLOCK_BASE_ALIGN_MASK == base && pair & CLOCK_BASE_ALIGN_MASK != 0 {
            return pair & CLOCK_BASE_ALIGN_MASK;
        }
    }
    let at = unsafe { core::ptr::read_volatile(&WAKE.clock_base_clockid_offset) };
    match unsafe { bpf_probe_read_kernel((base + u64::from(at)) as *const i32) } {
        Ok(id) if id >= 0 => {
            let plus1 = id as u64 + 1;
            if base & CLOCK_BASE_ALIGN_MASK == 0 && plus1 <= CLOCK_BASE_ALIGN_MASK {
                if let Some(p) = slot {
                    // SAFETY: as above; one aligned 8-byte store.
                    unsafe { core::ptr::write_volatile(p, base | plus1) };
                }
            }
            plus1
        }
        _ => 0,
    }
}

/// The wake timer whose callback runs on this CPU (slot 0; 0 = none): set at its
/// `hrtimer_expire_entry`, cleared at its `hrtimer_expire_exit`; `sched_waking` in between is
/// a task that expiry woke. An expiry nested in it (a hard-interrupt timer, the tick, inside a
/// soft one running in `ktimers/N` on PREEMPT_RT) saves the mark (slot 1) and names itself
/// (slot 2) until its own exit: the wakeups its callback makes (the tick waking `rcuc/N`) are
/// not the soft timer's. Seen on 6.12-rt: a timerfd's waiter taken for `rcuc/1`.
///
/// Slot 3 holds the tid of the task whose context the marked callback runs in (slot 4 the
/// saved mark's): only that task's wakeups are the callback's. On PREEMPT_RT a soft callback
/// can block on a sleeping lock in `ktimers/N`, and the task that runs meanwhile (a timerfd's
/// reader holding its wait-queue lock) wakes `ktimers/N` when it lets go. Seen on arm64
/// 6.12-rt: that taken for the timer's waiter, so the timer's next expiry, finding its reader
/// frozen, was left pending for `ktimers/0`.
#[map]
static EXPIRING: PerCpuArray<u64> = PerCpuArray::with_max_entries(5, 0);

/// This CPU's `EXPIRING` slots: the mark, the saved mark, the nested timer, the mark's task,
/// the saved mark's task.
#[inline(always)]
fn expiry_slots() -> Option<(*mut u64, *mut u64, *mut u64, *mut u64, *mut u64)> {
    Some((
        EXPIRING.get_ptr_mut(0)?,
        EXPIRING.get_ptr_mut(1)?,
        EXPIRING.get_ptr_mut(2)?,
        EXPIRING.get_ptr_mut(3)?,
        EXPIRING.get_ptr_mut(4)?,
    ))
}

/// An expiry begins on this CPU: if another's callback is running, save its mark.
#[inline(always)]
fn nest_expiry(timer: u64) {
    let Some((mark, saved, nested, context, saved_context)) = expiry_slots() else {
        return;
    };
    // SAFETY: per-CPU slots; the programs touching them do not nest with themselves.
    unsafe {
        if *mark != 0 && *mark != timer {
            *saved = *mark;
            *saved_context = *context;
            *nested = timer;
            *mark = 0;
        }
    }
}

/// An expiry ends on this CPU: a nested one gives the mark back, the marked one clears it.
#[inline(always)]
fn unnest_expiry(timer: u64) {
    let Some((mark, saved, nested, context, saved_context)) = expiry_slots() else {
        return;
    };
    // SAFETY: per-CPU slots, as above.
    unsafe {
        if *nested != 0 && *nested == timer {
            *mark = *saved;
            *context = *saved_context;
            (*saved, *nested) = (0, 0);
        } else if *mark == timer {
            *mark = 0;
        }
    }
}

/// The timers whose callbacks returned on this CPU and whose restart may still come: slot 0
/// the last one; slot 1 the one before, kept when an expiry began before its restart came.
/// `__run_hrtimer` re-arms a restarting timer right after its `hrtimer_expire_exit`, but an
/// interrupt can come in between (on PREEMPT_RT the soft timers run in `ktimers/N` with
/// interrupts on), and the tick's expiry, exit and own restart inside it must not take the
/// interrupted timer's mark: seen on 6.12-rt once the hrtimer programs were raw tracepoints,
/// which, unlike classic ones, run inside another program's interrupted run. A context switch
/// ends both (the restart happens in the callback's own context).
#[map]
static CALLBACK_DONE: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

/// This CPU's `CALLBACK_DONE` slots.
#[inline(always)]
fn callback_slots() -> Option<(*mut u64, *mut u64)> {
    Some((CALLBACK_DONE.get_ptr_mut(0)?, CALLBACK_DONE.get_ptr_mut(1)?))
}

/// An expiry begins: a callback that returned before it keeps its mark one level down.
#[inline(always)]
fn callback_window_expiry() {
    let Some((last, before)) = callback_slots() else {
        return;
    };
    // SAFETY: per-CPU slots.
    unsafe {
        if *last != 0 {
            *before = *last;
            *last = 0;
        }
    }
}

/// `timer`'s callback returned on this CPU.
#[inline(always)]
fn callback_returned(timer: u64) {
    if let Some((last, _)) = callback_slots() {
        // SAFETY: per-CPU slot.
        unsafe { *last = timer };
    }
}

/// A context switch: no callback's restart can come any more.
#[inline(always)]
fn callback_window_end() {
    let Some((last, before)) = callback_slots() else {
        return;
    };
    // SAFETY: per-CPU slots; written only if set (most context switches find them 0).
    unsafe {
        if *last != 0 {
            *last = 0;
        }
        if *before != 0 {
            *before = 0;
        }
    }
}

/// Whether an arm of `timer` is its callback's restart (its mark taken, so only once).
#[inline(always)]
fn take_restart(timer: u64) -> bool {
    let Some((last, before)) = callback_slots() else {
        return false;
    };
    if timer == 0 {
        return false;
    }
    // SAFETY: per-CPU slots.
    unsafe {
        if *last == timer {
            *last = 0;
            true
        } else if *before == timer {
            *before = 0;
            true
        } else {
            false
        }
    }
}

/// Wake timer → (tid that armed it << 32 | tid its callback last woke), for timers whose
/// callback woke another task than the armer (a timerfd waited on by an event loop's thread).
#[map]
static LAST_WOKEN: LruHashMap<u64, u64> = LruHashMap::with_max_entries(4096, 0);

/// At an hrtimer expiry: if the callback wakes a task, that task has a wakeup pending until it
/// next runs (the `sched_switch` program records that moment). The armer is taken as the
/// woken task (a sleep's is), and `sched_waking` inside the callback adds the tasks it really
/// woke (a timerfd's waiter on another thread).
#[inline(always)]
fn mark_pending<F: Fields>(rec: &F, spec: &Spec, timer: u64, owner: Option<u32>, tid_now: u32) {
    use arg::hrtimer_expire_entry as a;
    let wake_functions = unsafe { core::ptr::read_volatile(&WAKE.wake_functions) };
    if !listed(&wake_functions, rec.field(spec.field(a::FUNCTION))) {
        return;
    }
    if let (Some(mark), Some(context)) = (EXPIRING.get_ptr_mut(0), EXPIRING.get_ptr_mut(3)) {
        // SAFETY: per-CPU slots, no concurrent writer on this CPU.
        unsafe {
            *mark = timer;
            *context = u64::from(tid_now);
        }
    }
    let Some(owner) = owner.filter(|_| switch_ins_hooked()) else {
        return;
    };
    // An expiry that finds nobody waiting (a timerfd's event loop was taken out of its wait
    // by the suspend freezer) is found by the task it last woke, not by its armer.
    let tid = match unsafe { LAST_WOKEN.get(timer) } {
        Some(&pair) if (pair >> 32) as u32 == owner => pair as u32,
        _ => owner,
    };
    mark_task_pending(tid, tid_now);
}
