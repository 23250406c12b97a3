//! Encoding of an EVENTS frame: a batch of [`Event`]s with a per-frame comm table and
//! delta/varint-coded fields. Each frame decodes on its own, so a file cut anywhere loses at
//! most the frame being written.
//!
//! ```text
//! payload := count:var  ncomm:var  comm*  base_mono:u64le  event*
//! comm    := len:var bytes
//! event   := kind:var cpu:var tgid:var tid:var comm_idx:var
//!            d_mono:zz  d_boot_offset:zz  mask:var  arg*  text*
//! text    := len:var bytes              (mask bits 0-7: args present, 8-9: texts present)
//! ```
//! `d_mono` is the difference to the previous event's monotonic stamp (the first: to
//! `base_mono`); `d_boot_offset` the change of `boot_ns - mono_ns` (it only moves across a
//! suspend, so it is nearly always 0 or a few ns of read skew).
//!
//! How an `arg` is coded is the frame's [`ArgCoding`]: the value itself (`Plain`: `EVENTS`,
//! `EVENTS_LZ4`), or (`DeltaPerKind`: `EVENTS_DELTA_LZ4`, version 4) its difference to the
//! same slot of the frame's previous event of the same kind, zigzag-coded, present when not 0.
//! A task re-arming its timer repeats the timer's and the callback's addresses and moves its
//! deadline by its period: most slots become absent, the rest a byte or two.

use std::collections::HashMap;

use serial_trace_common::{COMM_LEN, Event, MAX_ARGS, MAX_TEXTS, TEXT_LEN};

use super::varint::{Cursor, Malformed, put_i64, put_u64};

/// Upper bound on events in one frame (a sanity bound for decoding, never an allocation size).
pub const MAX_EVENTS_PER_FRAME: usize = 1 << 20;

/// How a frame codes its events' argument slots (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArgCoding {
    Plain,
    /// What the writer writes.
    #[default]
    DeltaPerKind,
}

/// The previous value of every slot per kind, for [`ArgCoding::DeltaPerKind`] (reset per
/// frame, so that each frame decodes on its own). Kinds past the table are coded against 0.
struct PrevArgs([[u64; MAX_ARGS]; DELTA_KINDS]);

/// Kinds whose slots are coded as differences: 0 to 31, as the format has always had it
/// (kinds added later, from 32, are coded against 0: a change of the table would change the
/// format).
const DELTA_KINDS: usize = 32;

impl Default for PrevArgs {
    fn default() -> Self {
        Self([[0; MAX_ARGS]; DELTA_KINDS])
    }
}

impl PrevArgs {
    fn slots(&mut self, kind: u16) -> Option<&mut [u64; MAX_ARGS]> {
        self.0.get_mut(usize::from(kind))
    }
}

/// Accumulates events into one frame payload, its arguments coded `DeltaPerKind` (the
/// writer's) unless made [`BatchEncoder::with_coding`].
#[derive(Default)]
pub struct BatchEncoder {
    body: Vec<u8>,
    coding: ArgCoding,
    prev_args: PrevArgs,
    comms: Vec<[u8; COMM_LEN]>,
    comm_index: HashMap<[u8; COMM_LEN], u32>,
    count: u32,
    base_mono: u64,
    prev_mono: u64,
    prev_offset: i64,
}

impl BatchEncoder {
    /// An encoder whose payloads decode with `coding` (`Plain`: what versions 1 to 3 wrote,
    /// for the tests that read such files).
    #[cfg(test)]
    pub fn with_coding(coding: ArgCoding) -> Self {
        Self {
            coding,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the batch would take now (for size-based flushing).
    pub fn approx_size(&self) -> usize {
        self.body.len() + self.comms.len() * (COMM_LEN + 1) + 16
    }

    pub fn push(&mut self, ev: &Event) {
        if self.count == 0 {
            self.base_mono = ev.mono_ns;
            self.prev_mono = ev.mono_ns;
            self.prev_offset = 0;
        }
        let comm_idx = match self.comm_index.get(&ev.comm) {
            Some(&i) => i,
            None => {
                let i = self.comms.len() as u32;
                self.comms.push(ev.comm);
                self.comm_index.insert(ev.comm, i);
                i
            }
        };
        let b = &mut self.body;
        put_u64(b, u64::from(ev.kind));
        put_u64(b, u64::from(ev.cpu));
        put_u64(b, u64::from(ev.tgid()));
        put_u64(b, u64::from(ev.tid()));
        put_u64(b, u64::from(comm_idx));
        put_i64(b, ev.mono_ns.wrapping_sub(self.prev_mono) as i64);
        let offset = ev.boot_ns.wrapping_sub(ev.mono_ns) as i64;
        put_i64(b, offset.wrapping_sub(self.prev_offset));
        self.prev_mono = ev.mono_ns;
        self.prev_offset = offset;

        let mut coded = ev.args;
        if self.coding == ArgCoding::DeltaPerKind {
            // a kind past the table is coded as its difference to 0 (as the reader decodes it)
            let mut zero = [0; MAX_ARGS];
            let prev = self.prev_args.slots(ev.kind).unwrap_or(&mut zero);
            for (c, p) in coded.iter_mut().zip(prev.iter_mut()) {
                let value = *c;
                *c = zigzag(value.wrapping_sub(*p) as i64);
                *p = value;
            }
        }
        let mut mask = 0u64;
        for (i, a) in coded.iter().enumerate() {
            if *a != 0 {
                mask |= 1 << i;
            }
        }
        let texts = ev.text.map(|t| trim_nul(&t).len());
        for (i, n) in texts.iter().enumerate() {
            if *n != 0 {
                mask |= 1 << (MAX_ARGS + i);
            }
        }
        put_u64(b, mask);
        for a in coded.iter().filter(|a| **a != 0) {
            put_u64(b, *a);
        }
        for (i, n) in texts.iter().enumerate() {
            if *n != 0 {
                put_u64(b, *n as u64);
                b.extend_from_slice(&ev.text[i][..*n]);
            }
        }
        self.count += 1;
    }

    /// Returns the finished payload and resets the encoder for the next frame.
    pub fn take_payload(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.approx_size());
        put_u64(&mut out, u64::from(self.count));
        put_u64(&mut out, self.comms.len() as u64);
        for c in &self.comms {
            let c = trim_nul(c);
            put_u64(&mut out, c.len() as u64);
            out.extend_from_slice(c);
        }
        out.extend_from_slice(&self.base_mono.to_le_bytes());
        out.extend_from_slice(&self.body);
        self.body.clear();
        self.comms.clear();
        self.comm_index.clear();
        self.prev_args = PrevArgs::default();
        self.count = 0;
        out
    }
}

/// The bytes of `s` before its first NUL.
pub fn trim_nul(s: &[u8]) -> &[u8] {
    let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    &s[..end]
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Decodes one EVENTS payload whose arguments are coded `args`, appending to `out` (cleared
/// first).
pub fn decode_batch(
    payload: &[u8],
    args: ArgCoding,
    out: &mut Vec<Event>,
) -> Result<(), Malformed> {
    out.clear();
    let mut c = Cursor::new(payload);
    let count = c.var_len(MAX_EVENTS_PER_FRAME)?;
    // Each event takes at least 8 bytes, so a count beyond that is a lie; don't reserve for it.
    if count > payload.len() / 8 + 1 {
        return Err(Malformed);
    }
    let ncomm = c.var_len(count.max(1))?;
    let mut comms = Vec::with_capacity(ncomm);
    for _ in 0..ncomm {
        let n = c.var_len(COMM_LEN)?;
        let mut comm = [0u8; COMM_LEN];
        comm[..n].copy_from_slice(c.bytes(n)?);
        comms.push(comm);
    }
    let mut mono = c.u64_le()?;
    let mut offset = 0i64;
    let mut prev_args = PrevArgs::default();
    out.reserve(count);
    for _ in 0..count {
        let mut ev = Event::ZERO;
        ev.kind = u16::try_from(c.var_u64()?).map_err(|_| Malformed)?;
        ev.cpu = u16::try_from(c.var_u64()?).map_err(|_| Malformed)?;
        let tgid = u32::try_from(c.var_u64()?).map_err(|_| Malformed)?;
        let tid = u32::try_from(c.var_u64()?).map_err(|_| Malformed)?;
        ev.pid_tgid = (u64::from(tgid) << 32) | u64::from(tid);
        ev.comm = *comms.get(c.var_len(ncomm)?).ok_or(Malformed)?;
        mono = mono.wrapping_add(c.var_i64()? as u64);
        offset = offset.wrapping_add(c.var_i64()?);
        ev.mono_ns = mono;
        ev.boot_ns = mono.wrapping_add(offset as u64);
        let mask = c.var_u64()?;
        for (i, a) in ev.args.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *a = c.var_u64()?;
            }
        }
        if args == ArgCoding::DeltaPerKind {
            let prev = prev_args.slots(ev.kind);
            let mut zero = [0; MAX_ARGS];
            for (a, p) in ev.args.iter_mut().zip(prev.unwrap_or(&mut zero).iter_mut()) {
                *a = p.wrapping_add(unzigzag(*a) as u64);
                *p = *a;
            }
        }
        for i in 0..MAX_TEXTS {
            if mask & (1 << (MAX_ARGS + i)) != 0 {
                let n = c.var_len(TEXT_LEN)?;
                ev.text[i][..n].copy_from_slice(c.bytes(n)?);
            }
        }
        out.push(ev);
    }
    if !c.is_empty() {
        return Err(Malformed);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A varied synthetic event for format tests.
    pub fn sample_event(i: u64) -> Event {
        let mut ev = Event::ZERO;
        ev.mono_ns = 1_000_000_000 + i * 1_234_567 - (i % 3) * 10; // slightly out of order
        ev.boot_ns = ev.mono_ns + 5_000 + if i > 5 { 3_000_000_000 } else { 0 };
        ev.pid_tgid = ((100 + i % 4) << 32) | (200 + i);
        ev.kind = (1 + i % 19) as u16;
        ev.cpu = (i % 2) as u16;
        let name = format!("task-{}", i % 3);
        ev.comm[..name.len()].copy_from_slice(name.as_bytes());
        ev.args = [
            0xffff_8880_0000_0000 + i,
            0,
            i,
            u64::MAX - i,
            1,
            0,
            0,
            i << 40,
        ];
        if i.is_multiple_of(2) {
            ev.text[0][..13].copy_from_slice(b"suspend_enter");
        }
        ev.text[1] = [b'x'; TEXT_LEN];
        ev
    }

    #[test]
    fn batch_round_trip() {
        let mut events: Vec<Event> = (0..50).map(sample_event).collect();
        // kinds past the delta table (32 on), kernel addresses among their slots
        for (i, kind) in [32u16, 34, 34, 31, 33].into_iter().enumerate() {
            let mut ev = sample_event(50 + i as u64);
            ev.kind = kind;
            ev.args[0] = 0xffff_8e11_81c0_81a8 + i as u64;
            ev.args[1] = 0xffff_ffff_8175_b510;
            ev.args[3] = 7_000 * i as u64;
            events.push(ev);
        }
        let mut enc = BatchEncoder::default();
        for e in &events {
            enc.push(e);
        }
        let payload = enc.take_payload();
        assert!(enc.is_empty());
        let mut out = Vec::new();
        decode_batch(&payload, ArgCoding::DeltaPerKind, &mut out).unwrap();
        assert_eq!(out, events);
    }

    #[test]
    fn both_codings_round_trip_and_a_rearmed_timer_codes_small() {
        // a task re-arming one timer every millisecond, and cancelling it
        let mut events = Vec::new();
        for i in 0..1000u64 {
            let mut ev = Event::ZERO;
            ev.mono_ns = 5_000_000_000 + i * 1_000_000;
            ev.boot_ns = ev.mono_ns + 7_000;
            ev.pid_tgid = (42 << 32) | 42;
            ev.comm[..4].copy_from_slice(b"loop");
            ev.kind = if i % 2 == 0 { 1 } else { 4 };
            ev.args[0] = 0xffff_c900_0123_4560;
            if ev.kind == 1 {
                ev.args[1] = 0xffff_ffff_8142_daf0;
                ev.args[2] = ev.mono_ns + 1_000_000;
                ev.args[3] = ev.args[2];
                ev.args[6] = 2;
            }
            events.push(ev);
        }
        let mut sizes = Vec::new();
        for coding in [ArgCoding::Plain, ArgCoding::DeltaPerKind] {
            let mut enc = BatchEncoder::with_coding(coding);
            events.iter().for_each(|e| enc.push(e));
            let payload = enc.take_payload();
            let mut out = Vec::new();
            decode_batch(&payload, coding, &mut out).unwrap();
            assert_eq!(out, events, "{coding:?}");
            sizes.push(payload.len());
        }
        // before LZ4: the addresses and the deadline's steady step cost nearly nothing
        assert!(sizes[1] * 2 < sizes[0], "{sizes:?}");
        assert!(sizes[1] < 16 * events.len(), "{sizes:?}");
    }

    #[test]
    fn every_truncation_of_a_batch_is_rejected() {
        let mut enc = BatchEncoder::default();
        for i in 0..5 {
            enc.push(&sample_event(i));
        }
        let payload = enc.take_payload();
        let mut out = Vec::new();
        for cut in 0..payload.len() {
            assert_eq!(
                decode_batch(&payload[..cut], ArgCoding::DeltaPerKind, &mut out),
                Err(Malformed),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn lying_count_does_not_allocate() {
        let mut payload = Vec::new();
        put_u64(&mut payload, (MAX_EVENTS_PER_FRAME - 1) as u64);
        let mut out = Vec::new();
        assert_eq!(
            decode_batch(&payload, ArgCoding::DeltaPerKind, &mut out),
            Err(Malformed)
        );
        assert_eq!(out.capacity(), 0);
    }
}
