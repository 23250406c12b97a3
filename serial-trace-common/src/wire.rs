//! The ring buffer record: an [`Event`] cut to what its kind carries.
//!
//! Every record starts with a [`Head`] (the first [`HEAD_LEN`] bytes of an [`Event`]: monotonic
//! clock, task, kind, CPU, `shape`). Unless `shape` has [`SHORT_HEAD`], the boot clock and
//! `comm` follow ([`LONG_HEAD_LEN`] bytes in all, as in an [`Event`]). Then come the slots
//! `shape` counts, in that order: `args[..nargs]` (8 bytes each), then `text[..ntexts]`
//! ([`TEXT_LEN`] each). A timer event is 32–88 bytes instead of 176, so a program touches
//! fewer cache lines of the ring and the recorder copies less. A record with every slot and the
//! long head ([`FULL_SHAPE`]) is byte for byte an [`Event`], which is how the serial programs
//! still write theirs.
//!
//! The size of a record must be a constant the verifier can see, so the tracepoint programs
//! take it from their kind at compile time ([`kind_record_len`], [`kind_short_record_len`]),
//! the head's length chosen by a branch (each path a constant).

use crate::{COMM_LEN, Event, KINDS, MAX_ARGS, MAX_TEXTS, TEXT_LEN};

/// The common part of every record: the fields an [`Event`] starts with, at the same offsets.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub mono_ns: u64,
    pub pid_tgid: u64,
    pub kind: u16,
    pub cpu: u16,
    /// [`shape`] of the slots that follow, with [`SHORT_HEAD`] and [`COMM_OMITTED`].
    pub shape: u32,
}

/// What a long head adds after the [`Head`]: the fields an [`Event`] has there.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongHead {
    pub head: Head,
    pub boot_ns: u64,
    pub comm: [u8; COMM_LEN],
}

/// Bytes of [`Head`].
pub const HEAD_LEN: usize = size_of::<Head>();
/// Bytes of [`LongHead`].
pub const LONG_HEAD_LEN: usize = size_of::<LongHead>();
const _: () = {
    use core::mem::offset_of;
    assert!(HEAD_LEN == 24 && LONG_HEAD_LEN == 48 && LONG_HEAD_LEN == offset_of!(Event, args));
    assert!(offset_of!(Head, pid_tgid) == offset_of!(Event, pid_tgid));
    assert!(offset_of!(Head, kind) == offset_of!(Event, kind));
    assert!(offset_of!(Head, cpu) == offset_of!(Event, cpu));
    assert!(offset_of!(Head, shape) == offset_of!(Event, shape));
    assert!(offset_of!(LongHead, boot_ns) == offset_of!(Event, boot_ns));
    assert!(offset_of!(LongHead, comm) == offset_of!(Event, comm));
};

/// `Event::shape` of a record with `nargs` argument and `ntexts` string slots.
pub const fn shape(nargs: usize, ntexts: usize) -> u32 {
    nargs as u32 | ((ntexts as u32) << 8)
}

/// The shape of a whole [`Event`].
pub const FULL_SHAPE: u32 = shape(MAX_ARGS, MAX_TEXTS);

/// A `shape` flag: the record leaves its task's `comm` out (zeros), because an earlier record
/// of the same task, on the same CPU, carried it and the task was not renamed since
/// (`TASK_NAMES_MAP`). The reader takes the task's last `comm` in ring order.
pub const COMM_OMITTED: u32 = 1 << 16;

/// A `shape` flag: the record's head is the short one, without the boot clock (0: left out,
/// see `CLOCKS_MAP`) and without `comm` (left out as [`COMM_OMITTED`] says, which it implies).
/// Most hot events leave both out, and the 24 bytes were a third of a timer event.
pub const SHORT_HEAD: u32 = 1 << 17;

/// Whether the record `bytes` (at least a head) leaves its `comm` out ([`COMM_OMITTED`] or
/// [`SHORT_HEAD`]).
pub fn omits_comm(bytes: &[u8]) -> bool {
    bytes.len() >= HEAD_LEN && read_shape(bytes) & (COMM_OMITTED | SHORT_HEAD) != 0
}

fn read_shape(bytes: &[u8]) -> u32 {
    let at = core::mem::offset_of!(Head, shape);
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Bytes of a record with the long head and this many slots.
pub const fn record_len(nargs: usize, ntexts: usize) -> usize {
    LONG_HEAD_LEN + 8 * nargs + TEXT_LEN * ntexts
}

/// Bytes of a record with the short head and this many slots.
pub const fn short_record_len(nargs: usize, ntexts: usize) -> usize {
    HEAD_LEN + 8 * nargs + TEXT_LEN * ntexts
}

/// Argument slots written for kind `kind` (0 for an unknown kind).
pub const fn kind_nargs(kind: u16) -> usize {
    match kind_at(kind) {
        Some(i) => KINDS[i].args.len(),
        None => 0,
    }
}

/// String slots written for kind `kind`.
pub const fn kind_ntexts(kind: u16) -> usize {
    match kind_at(kind) {
        Some(i) => KINDS[i].texts.len(),
        None => 0,
    }
}

/// The record length of kind `kind` with the long head.
pub const fn kind_record_len(kind: u16) -> usize {
    record_len(kind_nargs(kind), kind_ntexts(kind))
}

/// The record length of kind `kind` with the short head.
pub const fn kind_short_record_len(kind: u16) -> usize {
    short_record_len(kind_nargs(kind), kind_ntexts(kind))
}

/// Index of `kind` in [`KINDS`] (ids are 1-based and in order; `kinds_fit_the_wire` holds it).
const fn kind_at(kind: u16) -> Option<usize> {
    let i = kind as usize;
    if i == 0 || i > KINDS.len() {
        None
    } else {
        Some(i - 1)
    }
}

/// Why a ring record could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the common part.
    Short,
    /// More slots than an [`Event`] has.
    Shape,
    /// Shorter than its shape says.
    Truncated,
}

/// Reads one ring record back into a whole [`Event`] (slots it does not carry are 0, a short
/// head's boot clock and `comm` too, and `shape` is 0 as in every userspace event).
pub fn decode(bytes: &[u8]) -> Result<Event, Malformed> {
    if bytes.len() < HEAD_LEN {
        return Err(Malformed::Short);
    }
    // SAFETY: `bytes` holds HEAD_LEN bytes; `Head` is repr(C) integers (every bit pattern
    // valid); read_unaligned does not rely on the ring buffer's 8-byte alignment.
    let head: Head = unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast()) };
    let nargs = (head.shape & 0xff) as usize;
    let ntexts = ((head.shape >> 8) & 0xff) as usize;
    let mut ev = Event::ZERO;
    ev.mono_ns = head.mono_ns;
    ev.pid_tgid = head.pid_tgid;
    ev.kind = head.kind;
    ev.cpu = head.cpu;
    if nargs > MAX_ARGS || ntexts > MAX_TEXTS {
        return Err(Malformed::Shape);
    }
    let short = head.shape & SHORT_HEAD != 0;
    let (head_len, len) = if short {
        (HEAD_LEN, short_record_len(nargs, ntexts))
    } else {
        (LONG_HEAD_LEN, record_len(nargs, ntexts))
    };
    if bytes.len() < len {
        return Err(Malformed::Truncated);
    }
    if !short {
        // SAFETY: as above, LONG_HEAD_LEN ≤ len bytes.
        let long: LongHead = unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast()) };
        ev.boot_ns = long.boot_ns;
        ev.comm = long.comm;
    }
    let args = &bytes[head_len..head_len + 8 * nargs];
    for (slot, b) in ev.args.iter_mut().zip(args.chunks_exact(8)) {
        *slot = u64::from_le_bytes(b.try_into().expect("8-byte chunk"));
    }
    let texts = &bytes[head_len + 8 * nargs..len];
    for (slot, b) in ev.text.iter_mut().zip(texts.chunks_exact(TEXT_LEN)) {
        slot.copy_from_slice(b);
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind;

    /// What an eBPF program writes for `ev` with this shape and the long head.
    fn encode(ev: &Event, nargs: usize, ntexts: usize) -> Vec<u8> {
        encode_with(ev, nargs, ntexts, 0)
    }

    /// The same with `flags` in `shape` (the short head without its boot clock and `comm`).
    fn encode_with(ev: &Event, nargs: usize, ntexts: usize, flags: u32) -> Vec<u8> {
        let mut head = *ev;
        head.shape = shape(nargs, ntexts) | flags;
        // SAFETY: repr(C) integers, read as bytes.
        let whole: &[u8] =
            unsafe { core::slice::from_raw_parts((&raw const head).cast(), size_of::<Event>()) };
        let head_len = if flags & SHORT_HEAD != 0 {
            HEAD_LEN
        } else {
            LONG_HEAD_LEN
        };
        let mut out = whole[..head_len].to_vec();
        for a in &ev.args[..nargs] {
            out.extend_from_slice(&a.to_le_bytes());
        }
        for t in &ev.text[..ntexts] {
            out.extend_from_slice(t);
        }
        out
    }

    fn sample() -> Event {
        let mut ev = Event::ZERO;
        ev.mono_ns = 11;
        ev.boot_ns = 22;
        ev.pid_tgid = (7 << 32) | 9;
        ev.kind = kind::SUSPEND_RESUME;
        ev.cpu = 3;
        ev.comm[..4].copy_from_slice(b"sshd");
        ev.args[0] = 5;
        ev.args[1] = u64::MAX;
        ev.text[0][..7].copy_from_slice(b"suspend");
        ev
    }

    #[test]
    fn a_cut_record_reads_back_as_the_event() {
        let ev = sample();
        let bytes = encode(&ev, 2, 1);
        assert_eq!(bytes.len(), kind_record_len(kind::SUSPEND_RESUME));
        assert_eq!(decode(&bytes), Ok(ev));
    }

    #[test]
    fn a_full_record_is_an_event() {
        let mut ev = sample();
        ev.args[7] = 77;
        ev.text[1][0] = b'x';
        let bytes = encode(&ev, MAX_ARGS, MAX_TEXTS);
        assert_eq!(bytes.len(), size_of::<Event>());
        assert_eq!(decode(&bytes), Ok(ev));
    }

    #[test]
    fn a_short_head_reads_back_without_boot_clock_and_comm() {
        let mut ev = sample();
        ev.kind = kind::HRTIMER_CANCEL;
        ev.text = [[0; TEXT_LEN]; MAX_TEXTS];
        let bytes = encode_with(&ev, 1, 0, SHORT_HEAD);
        assert_eq!(bytes.len(), kind_short_record_len(kind::HRTIMER_CANCEL));
        assert!(omits_comm(&bytes));
        let mut want = ev;
        want.boot_ns = 0;
        want.comm = [0; COMM_LEN];
        want.args[1] = 0;
        assert_eq!(decode(&bytes), Ok(want));
        // one byte short of its slots
        assert_eq!(decode(&bytes[..bytes.len() - 1]), Err(Malformed::Truncated));
        // a long head with the same slots is 24 bytes longer and keeps both
        let long = encode(&ev, 1, 0);
        assert_eq!(long.len(), bytes.len() + 24);
        assert!(!omits_comm(&long));
        let mut want = ev;
        want.args[1] = 0;
        assert_eq!(decode(&long), Ok(want));
    }

    #[test]
    fn slots_beyond_the_shape_read_as_zero() {
        let mut ev = sample();
        ev.args[2] = 99; // not in a 2-argument record
        let mut want = ev;
        want.args[2] = 0;
        assert_eq!(decode(&encode(&ev, 2, 1)), Ok(want));
    }

    #[test]
    fn malformed_records_are_refused() {
        let bytes = encode(&sample(), 2, 1);
        assert_eq!(decode(&bytes[..HEAD_LEN - 1]), Err(Malformed::Short));
        assert_eq!(decode(&bytes[..bytes.len() - 1]), Err(Malformed::Truncated));
        let mut bad = bytes.clone();
        bad[core::mem::offset_of!(Event, shape)] = MAX_ARGS as u8 + 1;
        assert_eq!(decode(&bad), Err(Malformed::Shape));
    }

    #[test]
    fn timer_records_are_small() {
        assert_eq!(kind_record_len(kind::HRTIMER_START), 112);
        assert_eq!(kind_short_record_len(kind::HRTIMER_START), 88);
        assert_eq!(kind_record_len(kind::HRTIMER_CANCEL), 56);
        assert_eq!(kind_short_record_len(kind::HRTIMER_CANCEL), 32);
        assert_eq!(kind_record_len(kind::SCHED_SWITCH), 72);
        assert_eq!(kind_short_record_len(kind::SCHED_SWITCH), 48);
        assert_eq!(kind_record_len(0), LONG_HEAD_LEN);
        assert_eq!(kind_short_record_len(0), HEAD_LEN);
        for k in KINDS {
            assert!(kind_record_len(k.id) <= size_of::<Event>(), "{}", k.name);
        }
    }
}
