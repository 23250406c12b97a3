//! Reads a trace frame by frame. Never panics on bad input and never sizes an allocation from
//! an unchecked length: a cut file yields every complete frame, then [`ReadEnd::Truncated`]
//! with the number of bytes cut. A damaged frame (version 3) is skipped: the reader looks for
//! the next frame marker whose frame passes its checksum and goes on, counting what it skipped
//! ([`TraceReader::damage`]); in versions 1 and 2 (no markers) it ends reading with
//! [`ReadEnd::Corrupt`], as does damage that runs to the end of the file.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use serial_trace_common::Event;
use thiserror::Error;

use super::events::{ArgCoding, decode_batch};
use super::{
    FRAME_HEAD_LEN, FRAME_HEAD_LEN_V2, Header, LossRecord, MAGIC, MAX_FRAME_LEN, SYNC, Symbol,
    Trailer, VERSION, frame_type,
};

/// Why a trace cannot be read at all.
#[derive(Debug, Error)]
pub enum TraceError {
    #[error("not a serial-trace file (wrong magic bytes; expected \"SRLTRACE\")")]
    NotATrace,
    #[error(
        "trace format version {found} is newer than this serial-trace understands (up to {supported}); upgrade serial-trace"
    )]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("trace is empty or cut before its header was complete ({0} bytes); nothing to read")]
    TruncatedHeader(u64),
    #[error("trace header is corrupt: {0}")]
    CorruptHeader(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// One frame after the header.
#[derive(Debug)]
pub enum Frame<'a> {
    Events(&'a [Event]),
    Symbols(Vec<Symbol>),
    Loss(LossRecord),
    Trailer(Trailer),
    /// A frame type this version does not know (a newer writer's addition); skipped.
    Unknown(u8),
}

/// A [`Frame`] that owns its events, so that one thread can read and decode while another
/// analyses (see [`TraceReader::next_owned`]).
pub enum OwnedFrame {
    Events(Vec<Event>),
    Symbols(Vec<Symbol>),
    Loss(LossRecord),
    Trailer(Trailer),
    Unknown(u8),
}

/// How reading stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// The file ended exactly after a frame.
    Clean,
    /// The last frame is incomplete: the recorder was killed or the disk filled.
    Truncated { at: u64, cut_bytes: u64 },
    /// A frame failed its checksum or could not be decoded, and no good frame followed it
    /// (version 3), or the format has no frame markers to find one (versions 1 and 2).
    Corrupt {
        at: u64,
        unread_bytes: u64,
        why: String,
    },
}

/// Damaged frames the reader skipped (version 3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Damage {
    /// Stretches of damage skipped: each ends at a good frame.
    pub regions: u64,
    pub bytes: u64,
    /// Offset and reason of the first.
    pub first: Option<(u64, String)>,
}

/// A stretch of damage being skipped: where it began and why.
struct Skipping {
    at: u64,
    why: String,
    /// It began with a frame cut short by the end of the file: if no good frame follows,
    /// the file was cut (the recorder was killed), not damaged.
    short: bool,
}

/// A reader with bytes put back in front of it (to rescan a damaged frame's bytes for the next
/// frame marker).
struct Pushback<R> {
    buf: Vec<u8>,
    pos: usize,
    inner: R,
}

impl<R: Read> Read for Pushback<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.buf.len() {
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(out)
    }
}

impl<R> Pushback<R> {
    fn unread(&mut self, bytes: &[u8]) {
        let mut buf = bytes.to_vec();
        buf.extend_from_slice(&self.buf[self.pos..]);
        self.buf = buf;
        self.pos = 0;
    }
}

pub struct TraceReader<R: Read> {
    input: Pushback<R>,
    version: u16,
    header: Header,
    /// Offset of the next frame.
    offset: u64,
    payload: Vec<u8>,
    /// An `EVENTS_LZ4` payload, decompressed.
    unpacked: Vec<u8>,
    events: Vec<Event>,
    end: Option<ReadEnd>,
    damage: Damage,
    skipping: Option<Skipping>,
}

impl TraceReader<BufReader<File>> {
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let f = File::open(path)?;
        Self::new(BufReader::with_capacity(1 << 20, f))
    }
}

/// Reads until `buf` is full or EOF; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads to EOF, counting bytes, without keeping them.
fn count_rest(r: &mut impl Read) -> io::Result<u64> {
    io::copy(r, &mut io::sink())
}

enum RawFrame {
    Ok(u8),
    Eof,
    Truncated(u64),
    /// Versions 1–2: the frame is bad; the rest of the input (counted) was not read.
    Corrupt(String, u64),
    /// Version 3: the frame is bad (`short`: cut by the end of the file); these bytes, from
    /// the frame's first, were consumed.
    Damaged {
        why: String,
        consumed: Vec<u8>,
        short: bool,
    },
}

impl<R: Read> TraceReader<R> {
    /// Reads and checks the magic, version and header frame.
    pub fn new(mut input: R) -> Result<Self, TraceError> {
        let mut start = [0u8; 12];
        let n = read_full(&mut input, &mut start)?;
        if n < MAGIC.len() {
            if n == 0 || MAGIC.starts_with(&start[..n]) {
                return Err(TraceError::TruncatedHeader(n as u64));
            }
            return Err(TraceError::NotATrace);
        }
        if start[..8] != MAGIC {
            return Err(TraceError::NotATrace);
        }
        if n < start.len() {
            return Err(TraceError::TruncatedHeader(n as u64));
        }
        let version = u16::from_le_bytes([start[8], start[9]]);
        if version > VERSION || version == 0 {
            return Err(TraceError::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        let mut r = Self {
            input: Pushback {
                buf: Vec::new(),
                pos: 0,
                inner: input,
            },
            version,
            header: placeholder_header(),
            offset: start.len() as u64,
            payload: Vec::new(),
            unpacked: Vec::new(),
            events: Vec::new(),
            end: None,
            damage: Damage::default(),
            skipping: None,
        };
        match r.read_raw()? {
            RawFrame::Ok(frame_type::HEADER) => {}
            RawFrame::Ok(t) => {
                return Err(TraceError::CorruptHeader(format!(
                    "first frame has type {t}, not a header"
                )));
            }
            RawFrame::Eof | RawFrame::Truncated(_) => {
                return Err(TraceError::TruncatedHeader(r.offset));
            }
            RawFrame::Corrupt(why, _) => return Err(TraceError::CorruptHeader(why)),
            RawFrame::Damaged { short: true, .. } => {
                return Err(TraceError::TruncatedHeader(r.offset));
            }
            RawFrame::Damaged { why, .. } => return Err(TraceError::CorruptHeader(why)),
        }
        r.header = serde_json::from_slice(&r.payload)
            .map_err(|e| TraceError::CorruptHeader(e.to_string()))?;
        Ok(r)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Damaged stretches skipped so far (version 3).
    pub fn damage(&self) -> &Damage {
        &self.damage
    }

    /// How reading ended; `None` until [`Self::next_frame`] returned `Ok(None)`.
    pub fn end(&self) -> Option<&ReadEnd> {
        self.end.as_ref()
    }

    /// [`Self::next_frame`], its events moved out (no copy: the reader decodes the next
    /// frame into `spare`, a buffer handed back once analysed, or a new one).
    pub fn next_owned(&mut self, spare: Vec<Event>) -> io::Result<Option<OwnedFrame>> {
        let other = match self.next_frame()? {
            None => return Ok(None),
            Some(Frame::Events(_)) => None,
            Some(Frame::Symbols(s)) => Some(OwnedFrame::Symbols(s)),
            Some(Frame::Loss(l)) => Some(OwnedFrame::Loss(l)),
            Some(Frame::Trailer(t)) => Some(OwnedFrame::Trailer(t)),
            Some(Frame::Unknown(t)) => Some(OwnedFrame::Unknown(t)),
        };
        Ok(Some(other.unwrap_or_else(|| {
            OwnedFrame::Events(std::mem::replace(&mut self.events, spare))
        })))
    }

    /// The next frame, or `None` at the end (see [`Self::end`] for how it ended).
    pub fn next_frame(&mut self) -> io::Result<Option<Frame<'_>>> {
        if self.end.is_some() {
            return Ok(None);
        }
        let (at, ty) = loop {
            let at = self.offset;
            match self.read_raw()? {
                RawFrame::Ok(t) => {
                    if let Some(s) = self.skipping.take() {
                        self.damage.regions += 1;
                        self.damage.bytes += at - s.at;
                        self.damage.first.get_or_insert((s.at, s.why));
                    }
                    break (at, t);
                }
                RawFrame::Eof => {
                    let end = self.offset;
                    self.finish(ReadEnd::Clean, end);
                    return Ok(None);
                }
                RawFrame::Truncated(cut_bytes) => {
                    self.finish(ReadEnd::Truncated { at, cut_bytes }, at + cut_bytes);
                    return Ok(None);
                }
                RawFrame::Corrupt(why, unread_bytes) => {
                    self.end = Some(ReadEnd::Corrupt {
                        at,
                        unread_bytes,
                        why,
                    });
                    return Ok(None);
                }
                RawFrame::Damaged {
                    why,
                    consumed,
                    short,
                } => {
                    self.skipping.get_or_insert(Skipping { at, why, short });
                    // look for the next marker from the byte after this frame's first
                    self.input.unread(&consumed[1..]);
                    self.offset = at + 1;
                    if !self.seek_sync()? {
                        let end = self.offset;
                        self.finish(ReadEnd::Clean, end);
                        return Ok(None);
                    }
                }
            }
        };
        // decoded into owned values first: the events stay in `self.events`, borrowed last
        enum Decoded {
            Events,
            Symbols(Vec<Symbol>),
            Loss(LossRecord),
            Trailer(Trailer),
            Unknown(u8),
        }
        let decoded: Result<Decoded, String> = match ty {
            frame_type::EVENTS => decode_batch(&self.payload, ArgCoding::Plain, &mut self.events)
                .map(|_| Decoded::Events)
                .map_err(|_| "undecodable event frame".to_string()),
            frame_type::EVENTS_LZ4 | frame_type::EVENTS_DELTA_LZ4 => {
                let args = if ty == frame_type::EVENTS_LZ4 {
                    ArgCoding::Plain
                } else {
                    ArgCoding::DeltaPerKind
                };
                unpack_lz4(&self.payload, &mut self.unpacked).and_then(|()| {
                    decode_batch(&self.unpacked, args, &mut self.events)
                        .map(|_| Decoded::Events)
                        .map_err(|_| "undecodable event frame".to_string())
                })
            }
            frame_type::SYMBOLS => serde_json::from_slice(&self.payload)
                .map(Decoded::Symbols)
                .map_err(|e| format!("bad symbol frame: {e}")),
            frame_type::LOSS => serde_json::from_slice(&self.payload)
                .map(Decoded::Loss)
                .map_err(|e| format!("bad loss frame: {e}")),
            frame_type::TRAILER => serde_json::from_slice(&self.payload)
                .map(Decoded::Trailer)
                .map_err(|e| format!("bad trailer frame: {e}")),
            frame_type::HEADER => Err("second header frame".into()),
            other => Ok(Decoded::Unknown(other)),
        };
        match decoded {
            Ok(d) => Ok(Some(match d {
                Decoded::Events => Frame::Events(&self.events),
                Decoded::Symbols(s) => Frame::Symbols(s),
                Decoded::Loss(l) => Frame::Loss(l),
                Decoded::Trailer(t) => Frame::Trailer(t),
                Decoded::Unknown(t) => Frame::Unknown(t),
            })),
            Err(why) if self.version >= 3 => {
                // its checksum held, so the framing did: skip this frame alone
                self.damage.regions += 1;
                self.damage.bytes += self.offset - at;
                self.damage.first.get_or_insert((at, why));
                self.next_frame()
            }
            Err(why) => {
                let rest = count_rest(&mut self.input)?;
                self.end = Some(ReadEnd::Corrupt {
                    at,
                    unread_bytes: (self.offset - at) + rest,
                    why,
                });
                Ok(None)
            }
        }
    }

    /// Ends reading at `end_offset` with `end`, unless a damaged stretch was still being
    /// skipped: then it ran to the end of the file (a frame cut by the end: truncated).
    fn finish(&mut self, end: ReadEnd, end_offset: u64) {
        self.end = Some(match self.skipping.take() {
            Some(s) if s.short => ReadEnd::Truncated {
                at: s.at,
                cut_bytes: end_offset - s.at,
            },
            Some(s) => ReadEnd::Corrupt {
                at: s.at,
                unread_bytes: end_offset - s.at,
                why: s.why,
            },
            None => end,
        });
    }

    /// Advances to the next frame marker (leaving it unread); false at the end of the input.
    /// Every byte passed over is counted in `offset`.
    fn seek_sync(&mut self) -> io::Result<bool> {
        let mut window: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match self.input.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.offset += window.len() as u64;
                return Ok(false);
            }
            window.extend_from_slice(&chunk[..n]);
            if let Some(i) = window.windows(SYNC.len()).position(|w| w == SYNC) {
                self.input.unread(&window[i..]);
                self.offset += i as u64;
                return Ok(true);
            }
            // a marker may straddle two reads
            let keep = window.len().min(SYNC.len() - 1);
            let passed = window.len() - keep;
            self.offset += passed as u64;
            window.drain(..passed);
        }
    }

    /// Reads one frame's head and payload into `self.payload`, verifying the checksum.
    fn read_raw(&mut self) -> io::Result<RawFrame> {
        let v3 = self.version >= 3;
        let head_len = if v3 {
            FRAME_HEAD_LEN
        } else {
            FRAME_HEAD_LEN_V2
        };
        let mut head_buf = [0u8; FRAME_HEAD_LEN];
        let head = &mut head_buf[..head_len];
        let n = read_full(&mut self.input, head)?;
        if n == 0 {
            return Ok(RawFrame::Eof);
        }
        if n < head_len {
            return Ok(RawFrame::Truncated(n as u64));
        }
        let fields = if v3 { &head[4..] } else { &head[..] };
        let len = u32::from_le_bytes([fields[0], fields[1], fields[2], fields[3]]);
        let ty = fields[4];
        let crc = u32::from_le_bytes([fields[5], fields[6], fields[7], fields[8]]);
        let damaged = |why: String, consumed: Vec<u8>, short: bool| RawFrame::Damaged {
            why,
            consumed,
            short,
        };
        if v3 && head[..4] != SYNC {
            return Ok(damaged("no frame marker".into(), head.to_vec(), false));
        }
        if len > MAX_FRAME_LEN {
            let why = format!("frame length {len} exceeds the {MAX_FRAME_LEN}-byte limit");
            if v3 {
                return Ok(damaged(why, head.to_vec(), false));
            }
            let rest = count_rest(&mut self.input)?;
            return Ok(RawFrame::Corrupt(why, head_len as u64 + rest));
        }
        // Grow the buffer only as bytes actually arrive, so a lying length costs nothing.
        self.payload.clear();
        let got = (&mut self.input)
            .take(u64::from(len))
            .read_to_end(&mut self.payload)?;
        let consumed = |payload: &[u8]| [&head_buf[..head_len], payload].concat();
        if got < len as usize {
            if v3 {
                let c = consumed(&self.payload);
                return Ok(damaged("frame cut short".into(), c, true));
            }
            return Ok(RawFrame::Truncated((head_len + got) as u64));
        }
        let mut h = crc32fast::Hasher::new();
        if v3 {
            h.update(&head_buf[4..9]);
        } else {
            h.update(&[ty]);
        }
        h.update(&self.payload);
        // fuzz builds skip the checksum so that mutated frames reach the decoders behind it
        if h.finalize() != crc && !cfg!(fuzzing) {
            if v3 {
                let c = consumed(&self.payload);
                return Ok(damaged("checksum mismatch".into(), c, false));
            }
            let rest = count_rest(&mut self.input)?;
            return Ok(RawFrame::Corrupt(
                "checksum mismatch".into(),
                (head_len + got) as u64 + rest,
            ));
        }
        self.offset += (head_len + got) as u64;
        Ok(RawFrame::Ok(ty))
    }
}

fn placeholder_header() -> Header {
    Header {
        tool: String::new(),
        kernel_release: String::new(),
        kernel_version: String::new(),
        machine: String::new(),
        hostname: String::new(),
        command_line: Vec::new(),
        start: Default::default(),
        cpus: 0,
        buffer_size: 0,
        filter_pid: None,
        filter_comm: None,
        filter_pids: vec![],
        filter_comms: vec![],
        filter_command_tree: false,
        system: None,
        port_setups: Vec::new(),
        probes: Vec::new(),
        wake_functions: Vec::new(),
        task_callbacks: Vec::new(),
        drop_runs_before: Vec::new(),
        ports_start: Vec::new(),
        ports_attached: Vec::new(),
        port_filter: Vec::new(),
    }
}

/// Decompresses an `EVENTS_LZ4` payload (`uncompressed_len:u32le block`) into `out`. The
/// stated length is checked against the frame limit before anything is allocated, and the
/// block must fill exactly that length.
fn unpack_lz4(payload: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let Some((len, block)) = payload.split_first_chunk::<4>() else {
        return Err("event frame too short".into());
    };
    let len = u32::from_le_bytes(*len);
    if len > MAX_FRAME_LEN {
        return Err(format!(
            "event frame unpacks to {len} bytes, over the {MAX_FRAME_LEN}-byte limit"
        ));
    }
    out.clear();
    out.resize(len as usize, 0);
    match lz4_flex::block::decompress_into(block, out) {
        Ok(n) if n == len as usize => Ok(()),
        Ok(n) => Err(format!(
            "event frame unpacks to {n} bytes, not the {len} it states"
        )),
        Err(e) => Err(format!("undecodable event frame: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{ClockAnchor, TraceWriter, sample_event, sample_header};

    /// A small trace: header, 3 event frames, a symbol frame, a loss frame, a trailer.
    fn small_trace() -> (Vec<u8>, Vec<usize>) {
        let mut w = TraceWriter::new(Vec::new(), &sample_header()).unwrap();
        let mut frame_ends = vec![w.bytes_written() as usize];
        let mut i = 0;
        for _ in 0..3 {
            for _ in 0..4 {
                w.push(&sample_event(i)).unwrap();
                i += 1;
            }
            w.flush().unwrap();
            frame_ends.push(w.bytes_written() as usize);
        }
        w.write_symbols(&[Symbol {
            addr: 0xffff_ffff_8100_0000,
            name: "hrtimer_wakeup".into(),
        }])
        .unwrap();
        frame_ends.push(w.bytes_written() as usize);
        w.write_loss(&LossRecord {
            at: ClockAnchor::default(),
            lost_total: 7,
            lost_per_cpu: vec![3, 4],
            ..Default::default()
        })
        .unwrap();
        frame_ends.push(w.bytes_written() as usize);
        let trailer = Trailer {
            end: ClockAnchor::default(),
            events_written: 12,
            lost_total: 7,
            lost_per_cpu: vec![3, 4],
            stopped_by: "duration".into(),
            error: None,
            ..Default::default()
        };
        let bytes = w.finish(&trailer).unwrap();
        frame_ends.push(bytes.len());
        (bytes, frame_ends)
    }

    /// (events, frames, end) of reading `bytes` to the end.
    fn read_all(bytes: &[u8]) -> Result<(usize, usize, ReadEnd), TraceError> {
        let mut r = TraceReader::new(bytes)?;
        let (mut events, mut frames) = (0, 0);
        while let Some(f) = r.next_frame()? {
            frames += 1;
            if let Frame::Events(e) = f {
                events += e.len();
            }
        }
        Ok((events, frames, r.end().unwrap().clone()))
    }

    #[test]
    fn round_trip_content() {
        let (bytes, _) = small_trace();
        let mut r = TraceReader::new(&bytes[..]).unwrap();
        assert_eq!(r.header(), &sample_header());
        let mut events = Vec::new();
        let mut saw = (false, false, false);
        while let Some(f) = r.next_frame().unwrap() {
            match f {
                Frame::Events(e) => events.extend_from_slice(e),
                Frame::Symbols(s) => saw.0 = s[0].name == "hrtimer_wakeup",
                Frame::Loss(l) => saw.1 = l.lost_total == 7,
                Frame::Trailer(t) => saw.2 = t.events_written == 12,
                Frame::Unknown(t) => panic!("unknown frame {t}"),
            }
        }
        assert_eq!(saw, (true, true, true));
        assert_eq!(events, (0..12).map(sample_event).collect::<Vec<_>>());
        assert_eq!(r.end(), Some(&ReadEnd::Clean));
    }

    #[test]
    fn cut_at_every_byte_recovers_every_complete_frame() {
        let (bytes, frame_ends) = small_trace();
        let header_end = frame_ends[0];
        for cut in 0..bytes.len() {
            let res = read_all(&bytes[..cut]);
            if cut < header_end {
                assert!(
                    matches!(res, Err(TraceError::TruncatedHeader(_))),
                    "cut {cut}: {res:?}"
                );
                continue;
            }
            let (events, frames, end) = res.unwrap();
            let complete = frame_ends[1..].iter().filter(|&&e| e <= cut).count();
            assert_eq!(frames, complete, "cut {cut}");
            assert_eq!(events, 4 * complete.min(3), "cut {cut}");
            let last_end = frame_ends.iter().rev().find(|&&e| e <= cut).unwrap();
            if cut == *last_end {
                assert_eq!(end, ReadEnd::Clean, "cut {cut}");
            } else {
                assert_eq!(
                    end,
                    ReadEnd::Truncated {
                        at: *last_end as u64,
                        cut_bytes: (cut - last_end) as u64
                    },
                    "cut {cut}"
                );
            }
        }
    }

    /// (events, frames, end, damage) of reading `bytes` to the end.
    fn read_damaged(bytes: &[u8]) -> (usize, usize, ReadEnd, Damage) {
        let mut r = TraceReader::new(bytes).unwrap();
        let (mut events, mut frames) = (0, 0);
        while let Some(f) = r.next_frame().unwrap() {
            frames += 1;
            if let Frame::Events(e) = f {
                events += e.len();
            }
        }
        (events, frames, r.end().unwrap().clone(), r.damage().clone())
    }

    #[test]
    fn a_damaged_frame_is_skipped_and_reading_goes_on() {
        let (bytes, ends) = small_trace();
        let second = (ends[1], ends[2]);
        // one payload byte of the second event frame flipped
        let mut b = bytes.clone();
        b[second.0 + 20] ^= 0x40;
        let (events, frames, end, damage) = read_damaged(&b);
        assert_eq!((events, frames, end), (8, 5, ReadEnd::Clean));
        assert_eq!(
            (damage.regions, damage.bytes),
            (1, (second.1 - second.0) as u64)
        );
        assert_eq!(
            damage.first,
            Some((second.0 as u64, "checksum mismatch".into()))
        );
        // its length made to run past the end of the file: not a cut, the next frame follows
        let mut b = bytes.clone();
        b[second.0 + 5] ^= 0x10;
        let (events, frames, end, damage) = read_damaged(&b);
        assert_eq!(
            (events, frames, end, damage.regions),
            (8, 5, ReadEnd::Clean, 1)
        );
        // 1,000 bytes of garbage between two frames
        let mut b = bytes[..second.0].to_vec();
        b.extend((0..1000u32).map(|i| (i * 7 % 251) as u8));
        b.extend_from_slice(&bytes[second.0..]);
        let (events, frames, end, damage) = read_damaged(&b);
        assert_eq!((events, frames, end), (12, 6, ReadEnd::Clean));
        assert_eq!((damage.regions, damage.bytes), (1, 1000));
    }

    /// A flipped byte anywhere after the header costs at most the frame it is in.
    #[test]
    fn a_flipped_byte_anywhere_loses_at_most_its_frame() {
        let (bytes, ends) = small_trace();
        for at in ends[0]..bytes.len() {
            let mut b = bytes.clone();
            b[at] ^= 0x01;
            let (events, frames, end, damage) = read_damaged(&b);
            let in_trailer = at >= ends[ends.len() - 2];
            assert!(frames >= 5, "byte {at}: {frames} frames");
            assert!(events >= 8, "byte {at}: {events} events");
            if in_trailer {
                // nothing follows the last frame: damaged, or (its length grown) cut
                assert!(
                    matches!(end, ReadEnd::Corrupt { .. } | ReadEnd::Truncated { .. }),
                    "byte {at}: {end:?}"
                );
            } else {
                assert_eq!(
                    (frames, end.clone(), damage.regions),
                    (5, ReadEnd::Clean, 1),
                    "byte {at}"
                );
            }
        }
    }

    #[test]
    fn corrupted_header_is_an_error() {
        let (mut bytes, _) = small_trace();
        bytes[30] ^= 1;
        assert!(matches!(
            TraceReader::new(&bytes[..]),
            Err(TraceError::CorruptHeader(_))
        ));
    }

    /// A frame with a correct checksum around `payload`.
    fn framed(ty: u8, payload: &[u8]) -> Vec<u8> {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[ty]);
        crc.update(payload);
        let mut out = (payload.len() as u32).to_le_bytes().to_vec();
        out.push(ty);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// The magic, version and header frame of a trace of format `version`.
    fn start_of_trace(version: u16) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        let header = serde_json::to_vec(&sample_header()).unwrap();
        out.extend(framed(frame_type::HEADER, &header));
        out
    }

    fn events_of(bytes: &[u8]) -> (Vec<Event>, ReadEnd) {
        let mut r = TraceReader::new(bytes).unwrap();
        let mut all = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            if let Frame::Events(e) = f {
                all.extend_from_slice(e);
            }
        }
        (all, r.end().unwrap().clone())
    }

    #[test]
    fn version_1_files_with_plain_event_frames_still_read() {
        let mut enc = super::super::events::BatchEncoder::with_coding(ArgCoding::Plain);
        let evs: Vec<Event> = (0..5).map(sample_event).collect();
        evs.iter().for_each(|e| enc.push(e));
        let mut v1 = start_of_trace(1);
        v1.extend(framed(frame_type::EVENTS, &enc.take_payload()));
        let (read, end) = events_of(&v1);
        assert_eq!(read, evs);
        assert_eq!(end, ReadEnd::Clean);
    }

    #[test]
    fn lying_or_broken_lz4_frames_are_corrupt_not_allocated() {
        let mut enc = super::super::events::BatchEncoder::with_coding(ArgCoding::Plain);
        enc.push(&sample_event(1));
        let plain = enc.take_payload();
        let block = lz4_flex::block::compress(&plain);
        let lz4 = |len: u32, block: &[u8]| {
            let mut p = len.to_le_bytes().to_vec();
            p.extend_from_slice(block);
            let mut t = start_of_trace(2);
            t.extend(framed(frame_type::EVENTS_LZ4, &p));
            events_of(&t)
        };
        let (ok, end) = lz4(plain.len() as u32, &block);
        assert_eq!((ok.len(), end), (1, ReadEnd::Clean));
        for (len, block, why) in [
            (u32::MAX, &block[..], "over the"),
            (plain.len() as u32 + 1, &block[..], "not the"),
            (plain.len() as u32, &block[..block.len() - 2], "undecodable"),
            (0, &[][..], "undecodable"),
        ] {
            let (evs, end) = lz4(len, block);
            assert!(evs.is_empty());
            match end {
                ReadEnd::Corrupt { why: w, .. } => assert!(w.contains(why), "{w}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn wrong_magic_newer_version_and_empty_are_clear_errors() {
        let (bytes, _) = small_trace();
        let mut foreign = bytes.clone();
        foreign[0] = b'X';
        assert!(matches!(
            TraceReader::new(&foreign[..]),
            Err(TraceError::NotATrace)
        ));
        assert!(matches!(
            TraceReader::new(&b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0"[..]),
            Err(TraceError::NotATrace)
        ));
        let mut newer = bytes.clone();
        newer[8] = (VERSION + 1) as u8;
        let err = TraceReader::new(&newer[..]).err().unwrap();
        assert!(matches!(
            err,
            TraceError::UnsupportedVersion { found, supported: VERSION } if found == VERSION + 1
        ));
        assert!(err.to_string().contains("newer"));
        assert!(matches!(
            TraceReader::new(&b""[..]),
            Err(TraceError::TruncatedHeader(0))
        ));
    }

    #[test]
    fn huge_length_field_is_corrupt_not_an_allocation() {
        let (bytes, frame_ends) = small_trace();
        let mut b = bytes[..frame_ends[0]].to_vec();
        b.extend_from_slice(&SYNC);
        b.extend_from_slice(&(MAX_FRAME_LEN + 1).to_le_bytes());
        b.extend_from_slice(&[2, 0, 0, 0, 0]);
        let (_, _, end) = read_all(&b).unwrap();
        assert!(matches!(end, ReadEnd::Corrupt { .. }));
    }
}
