//! Appends frames to a trace. Events are batched and written as one EVENTS frame per
//! [`TraceWriter::flush`] (the recorder calls it at least once a second) or when a batch grows
//! past [`BATCH_BYTES`], so a killed recorder loses at most the unflushed batch.

use std::io::{self, Write};

use serde::Serialize;
use serial_trace_common::Event;

use super::events::BatchEncoder;
use super::{Header, LossRecord, MAGIC, Symbol, Trailer, VERSION, frame_type};

/// Flush a batch early once it holds about this many bytes.
pub const BATCH_BYTES: usize = 1 << 20;
/// Events in a frame at most: a reader holds a frame's events decoded (176 bytes each), and
/// delta-coded events are small enough that 1 MiB of them would be 75,000.
pub const BATCH_EVENTS: usize = 1 << 15;

pub struct TraceWriter<W: Write> {
    out: W,
    batch: BatchEncoder,
    events_written: u64,
    bytes_written: u64,
    /// Events in frames the OS accepted whole (as of the last successful flush).
    events_flushed: u64,
}

/// A trace's first bytes: the magic, the version and the header frame.
pub fn file_start(header: &Header) -> io::Result<Vec<u8>> {
    let mut start = Vec::with_capacity(4096);
    start.extend_from_slice(&MAGIC);
    start.extend_from_slice(&VERSION.to_le_bytes());
    start.extend_from_slice(&0u16.to_le_bytes());
    start.extend_from_slice(&json_frame(frame_type::HEADER, header)?);
    Ok(start)
}

/// One LOSS frame, whole.
pub fn loss_frame(loss: &LossRecord) -> io::Result<Vec<u8>> {
    json_frame(frame_type::LOSS, loss)
}

/// The TRAILER frame, whole.
pub fn trailer_frame(trailer: &Trailer) -> io::Result<Vec<u8>> {
    json_frame(frame_type::TRAILER, trailer)
}

fn json_frame<T: Serialize + ?Sized>(ty: u8, value: &T) -> io::Result<Vec<u8>> {
    let payload = serde_json::to_vec(value).map_err(io::Error::other)?;
    encode_frame(ty, &payload)
}

/// One frame, head and payload: `sync len type crc32 payload`.
pub fn encode_frame(ty: u8, payload: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(super::FRAME_HEAD_LEN + payload.len());
    out.extend_from_slice(&frame_head(ty, payload)?);
    out.extend_from_slice(payload);
    Ok(out)
}

fn frame_head(ty: u8, payload: &[u8]) -> io::Result<[u8; super::FRAME_HEAD_LEN]> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l <= super::MAX_FRAME_LEN)
        .ok_or_else(|| io::Error::other("frame too large"))?;
    let mut head = [0u8; super::FRAME_HEAD_LEN];
    head[..4].copy_from_slice(&super::SYNC);
    head[4..8].copy_from_slice(&len.to_le_bytes());
    head[8] = ty;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head[4..9]);
    crc.update(payload);
    head[9..].copy_from_slice(&crc.finalize().to_le_bytes());
    Ok(head)
}

impl<W: Write> TraceWriter<W> {
    /// Writes the magic, version and header frame.
    pub fn new(mut out: W, header: &Header) -> io::Result<Self> {
        let start = file_start(header)?;
        out.write_all(&start)?;
        out.flush()?;
        let mut w = Self::frames_only(out);
        w.bytes_written = start.len() as u64;
        Ok(w)
    }

    /// A writer of frames alone, no file start: `serial-trace monitor` keeps them in memory
    /// and puts a header in front when it saves them.
    pub fn frames_only(out: W) -> Self {
        Self {
            out,
            batch: BatchEncoder::default(),
            events_written: 0,
            bytes_written: 0,
            events_flushed: 0,
        }
    }

    /// Queues one event; writes a frame when the batch is large.
    pub fn push(&mut self, ev: &Event) -> io::Result<()> {
        self.batch.push(ev);
        if self.batch.approx_size() >= BATCH_BYTES || self.batch.len() >= BATCH_EVENTS {
            self.write_batch()?;
        }
        Ok(())
    }

    /// Writes the pending batch, if any, and hands everything to the OS.
    pub fn flush(&mut self) -> io::Result<()> {
        self.write_batch()?;
        self.out.flush()?;
        self.events_flushed = self.events_written;
        Ok(())
    }

    pub fn write_symbols(&mut self, symbols: &[Symbol]) -> io::Result<()> {
        if symbols.is_empty() {
            return Ok(());
        }
        self.write_batch()?;
        self.write_json(frame_type::SYMBOLS, &symbols)
    }

    pub fn write_loss(&mut self, loss: &LossRecord) -> io::Result<()> {
        self.write_batch()?;
        self.write_json(frame_type::LOSS, loss)
    }

    /// Writes the trailer and returns the output, flushed.
    pub fn finish(mut self, trailer: &Trailer) -> io::Result<W> {
        self.write_batch()?;
        self.write_json(frame_type::TRAILER, trailer)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Events handed to the OS or queued so far.
    pub fn events_written(&self) -> u64 {
        self.events_written + self.batch.len() as u64
    }

    /// Events in frames the OS accepted whole: after a write error, what a reader will find.
    pub fn events_flushed(&self) -> u64 {
        self.events_flushed
    }

    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    fn write_batch(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let n = self.batch.len() as u64;
        let payload = self.batch.take_payload();
        // LZ4 takes the coded events to ~5 bytes each: their kinds, tasks and field patterns
        // repeat.
        // Compressed straight behind the length, no second buffer.
        let mut framed = vec![0u8; 4 + lz4_flex::block::get_maximum_output_size(payload.len())];
        framed[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        let packed =
            lz4_flex::block::compress_into(&payload, &mut framed[4..]).map_err(io::Error::other)?;
        framed.truncate(4 + packed);
        self.write_frame(frame_type::EVENTS_DELTA_LZ4, &framed)?;
        self.events_written += n;
        Ok(())
    }

    fn write_json<T: Serialize + ?Sized>(&mut self, ty: u8, value: &T) -> io::Result<()> {
        let payload = serde_json::to_vec(value).map_err(io::Error::other)?;
        self.write_frame(ty, &payload)
    }

    fn write_frame(&mut self, ty: u8, payload: &[u8]) -> io::Result<()> {
        let head = frame_head(ty, payload)?;
        // Head and payload back to back: the file is append-only, so a frame is contiguous.
        self.out.write_all(&head)?;
        self.out.write_all(payload)?;
        self.bytes_written += (head.len() + payload.len()) as u64;
        Ok(())
    }
}
