//! Reads a trace frame by frame. Never panics on bad input and never sizes an allocation from
//! an unchecked length: a cut file yields every complete frame, then [`ReadEnd::Truncated`]
//! with the number of bytes cut; a corrupted frame ends reading with [`ReadEnd::Corrupt`].

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use serial_trace_common::Event;
use thiserror::Error;

use super::events::decode_batch;
use super::{
    FRAME_HEAD_LEN, Header, LossRecord, MAGIC, MAX_FRAME_LEN, Symbol, Trailer, VERSION, frame_type,
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

/// How reading stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// The file ended exactly after a frame.
    Clean,
    /// The last frame is incomplete: the recorder was killed or the disk filled.
    Truncated { at: u64, cut_bytes: u64 },
    /// A frame failed its checksum or could not be decoded; nothing after it was read.
    Corrupt {
        at: u64,
        unread_bytes: u64,
        why: String,
    },
}

pub struct TraceReader<R: Read> {
    input: R,
    header: Header,
    /// Offset of the next frame.
    offset: u64,
    payload: Vec<u8>,
    /// An `EVENTS_LZ4` payload, decompressed.
    unpacked: Vec<u8>,
    events: Vec<Event>,
    end: Option<ReadEnd>,
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
    Corrupt(String, u64),
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
            input,
            header: placeholder_header(),
            offset: start.len() as u64,
            payload: Vec::new(),
            unpacked: Vec::new(),
            events: Vec::new(),
            end: None,
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
        }
        r.header = serde_json::from_slice(&r.payload)
            .map_err(|e| TraceError::CorruptHeader(e.to_string()))?;
        Ok(r)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// How reading ended; `None` until [`Self::next_frame`] returned `Ok(None)`.
    pub fn end(&self) -> Option<&ReadEnd> {
        self.end.as_ref()
    }

    /// The next frame, or `None` at the end (see [`Self::end`] for how it ended).
    pub fn next_frame(&mut self) -> io::Result<Option<Frame<'_>>> {
        if self.end.is_some() {
            return Ok(None);
        }
        let at = self.offset;
        let ty = match self.read_raw()? {
            RawFrame::Ok(t) => t,
            RawFrame::Eof => {
                self.end = Some(ReadEnd::Clean);
                return Ok(None);
            }
            RawFrame::Truncated(cut_bytes) => {
                self.end = Some(ReadEnd::Truncated { at, cut_bytes });
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
        };
        let corrupt = |why: String, this: &mut Self| -> io::Result<Option<Frame<'_>>> {
            let rest = count_rest(&mut this.input)?;
            this.end = Some(ReadEnd::Corrupt {
                at,
                unread_bytes: (this.offset - at) + rest,
                why,
            });
            Ok(None)
        };
        match ty {
            frame_type::EVENTS => {
                if decode_batch(&self.payload, &mut self.events).is_err() {
                    return corrupt("undecodable event frame".into(), self);
                }
                Ok(Some(Frame::Events(&self.events)))
            }
            frame_type::EVENTS_LZ4 => {
                if let Err(why) = unpack_lz4(&self.payload, &mut self.unpacked) {
                    return corrupt(why, self);
                }
                if decode_batch(&self.unpacked, &mut self.events).is_err() {
                    return corrupt("undecodable event frame".into(), self);
                }
                Ok(Some(Frame::Events(&self.events)))
            }
            frame_type::SYMBOLS => match serde_json::from_slice(&self.payload) {
                Ok(s) => Ok(Some(Frame::Symbols(s))),
                Err(e) => corrupt(format!("bad symbol frame: {e}"), self),
            },
            frame_type::LOSS => match serde_json::from_slice(&self.payload) {
                Ok(l) => Ok(Some(Frame::Loss(l))),
                Err(e) => corrupt(format!("bad loss frame: {e}"), self),
            },
            frame_type::TRAILER => match serde_json::from_slice(&self.payload) {
                Ok(t) => Ok(Some(Frame::Trailer(t))),
                Err(e) => corrupt(format!("bad trailer frame: {e}"), self),
            },
            frame_type::HEADER => corrupt("second header frame".into(), self),
            other => Ok(Some(Frame::Unknown(other))),
        }
    }

    /// Reads one frame's head and payload into `self.payload`, verifying the checksum.
    fn read_raw(&mut self) -> io::Result<RawFrame> {
        let mut head = [0u8; FRAME_HEAD_LEN];
        let n = read_full(&mut self.input, &mut head)?;
        if n == 0 {
            return Ok(RawFrame::Eof);
        }
        if n < head.len() {
            return Ok(RawFrame::Truncated(n as u64));
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let ty = head[4];
        let crc = u32::from_le_bytes([head[5], head[6], head[7], head[8]]);
        if len > MAX_FRAME_LEN {
            let rest = count_rest(&mut self.input)?;
            return Ok(RawFrame::Corrupt(
                format!("frame length {len} exceeds the {MAX_FRAME_LEN}-byte limit"),
                head.len() as u64 + rest,
            ));
        }
        // Grow the buffer only as bytes actually arrive, so a lying length costs nothing.
        self.payload.clear();
        let got = (&mut self.input)
            .take(u64::from(len))
            .read_to_end(&mut self.payload)?;
        if got < len as usize {
            return Ok(RawFrame::Truncated((head.len() + got) as u64));
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&[ty]);
        h.update(&self.payload);
        // fuzz builds skip the checksum so that mutated frames reach the decoders behind it
        if h.finalize() != crc && !cfg!(fuzzing) {
            let rest = count_rest(&mut self.input)?;
            return Ok(RawFrame::Corrupt(
                "checksum mismatch".into(),
                (head.len() + got) as u64 + rest,
            ));
        }
        self.offset += (head.len() + got) as u64;
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
        probes: Vec::new(),
        wake_functions: Vec::new(),
        task_callbacks: Vec::new(),
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

    #[test]
    fn corrupted_checksum_stops_with_offset() {
        let (mut bytes, frame_ends) = small_trace();
        // flip one payload byte of the second event frame
        let at = frame_ends[1] + 12;
        bytes[at] ^= 0x40;
        let (events, frames, end) = read_all(&bytes).unwrap();
        assert_eq!((events, frames), (4, 1));
        match end {
            ReadEnd::Corrupt {
                at, unread_bytes, ..
            } => {
                assert_eq!(at, frame_ends[1] as u64);
                assert_eq!(unread_bytes, (bytes.len() - frame_ends[1]) as u64);
            }
            other => panic!("{other:?}"),
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
        let mut enc = super::super::events::BatchEncoder::default();
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
        let mut enc = super::super::events::BatchEncoder::default();
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
        newer[8] = 3;
        let err = TraceReader::new(&newer[..]).err().unwrap();
        assert!(matches!(
            err,
            TraceError::UnsupportedVersion {
                found: 3,
                supported: 2
            }
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
        b.extend_from_slice(&(MAX_FRAME_LEN + 1).to_le_bytes());
        b.extend_from_slice(&[2, 0, 0, 0, 0]);
        let (_, _, end) = read_all(&b).unwrap();
        assert!(matches!(end, ReadEnd::Corrupt { .. }));
    }
}
