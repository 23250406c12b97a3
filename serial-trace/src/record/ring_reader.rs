//! The reading end of the kernel's BPF ring buffer (`EVENTS`), mapped by hand so that the
//! consumer position the producers see is published once per batch of records, not once per
//! record.
//!
//! Every reserve on the producing side (`bpf_ringbuf_reserve`) reads the consumer position
//! to check for room. aya's reader (`aya::maps::RingBuf`) stores it after every record it
//! hands out, so while the recorder drains on one CPU, the cache line holding it moves to that
//! CPU for every record and back to the producing CPU for every event: 20–30 ns of the
//! ~150 ns a timer event costs on a 2-CPU Xeon guest (`cargo xtask bench --program-costs`,
//! A/B with the position stored every 64 records: `hrtimer_cancel_raw` 140 → 121 ns a run,
//! `hrtimer_start_raw` 186 → 157). Here it is published every [`PUBLISH_BYTES`] (at most a
//! sixteenth of the ring, so the producers lose little room to records already read) and
//! whenever the reader has caught up or stops to do something else (`release`), so the
//! kernel's `poll` readiness (producer ≠ published consumer position) stays true exactly
//! while records wait.
//!
//! The layout and protocol are the kernel's (`kernel/bpf/ringbuf.c`): at file offset 0 one
//! writable page with the consumer position; at one page, a read-only page with the producer
//! position, then the data pages, mapped twice in a row so that a record that wraps is
//! contiguous. Each record starts with an 8-byte header: its length with a busy bit (still
//! being written) and a discard bit, then its page offset; records are 8-byte aligned.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use aya::maps::MapData;

const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HEADER_LEN: u64 = 8;

/// Consumer position published at least every this many bytes read.
const PUBLISH_BYTES: u64 = 64 * 1024;

/// One `mmap` of the ring's file, unmapped on drop.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    fn new(fd: i32, len: usize, prot: libc::c_int, offset: usize) -> Result<Self> {
        // SAFETY: a fresh shared mapping of the map's file; the kernel checks the offset,
        // length and protection against what this ring allows.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd,
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error()).context("mapping the ring buffer");
        }
        Ok(Self { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// The ring's reading end. Records are read in the order the producers reserved them.
pub struct RingReader {
    /// The map (which keeps the ring alive) and the two mappings the pointers below lie in;
    /// `None` in unit tests, which lay a ring out in their own memory.
    owner: Option<(MapData, Mapping, Mapping)>,
    consumer: *const AtomicU64,
    producer: *const AtomicU64,
    /// The data pages, mapped twice in a row: `2 * (mask + 1)` bytes.
    data: *const u8,
    mask: u64,
    /// Start of the next record to read.
    pos: u64,
    /// Bytes (header included) of the record last handed out, passed at the next call.
    pending: u64,
    /// The consumer position as the kernel last saw it.
    published: u64,
    /// The producer position as last read.
    producer_pos: u64,
    /// Published at least every this many bytes.
    publish_every: u64,
}

// SAFETY: the pointers lie in shared memory this value owns (the mappings); nothing is tied to
// the thread that made them.
unsafe impl Send for RingReader {}

impl RingReader {
    pub fn new(map: MapData) -> Result<Self> {
        let size = u64::from(
            map.info()
                .context("reading the ring buffer's size")?
                .max_entries(),
        );
        if !size.is_power_of_two() {
            bail!("the ring buffer's size ({size}) is not a power of two");
        }
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .context("the page size")?;
        let fd = map.fd().as_fd().as_raw_fd();
        let consumer = Mapping::new(fd, page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let producer = Mapping::new(fd, page + 2 * size as usize, libc::PROT_READ, page)?;
        let (c, p) = (
            consumer.ptr.cast::<AtomicU64>(),
            producer.ptr.cast::<AtomicU64>(),
        );
        // SAFETY: the data pages follow the producer page in its mapping.
        let data = unsafe { producer.ptr.cast::<u8>().add(page) };
        Ok(Self::over(
            Some((map, consumer, producer)),
            c,
            p,
            data,
            size,
        ))
    }

    fn over(
        owner: Option<(MapData, Mapping, Mapping)>,
        consumer: *const AtomicU64,
        producer: *const AtomicU64,
        data: *const u8,
        size: u64,
    ) -> Self {
        // SAFETY: the consumer word is valid for the reader's life (see the callers).
        let pos = unsafe { &*consumer }.load(Ordering::Acquire);
        Self {
            owner,
            consumer,
            producer,
            data,
            mask: size - 1,
            pos,
            pending: 0,
            published: pos,
            producer_pos: pos,
            publish_every: PUBLISH_BYTES.min(size / 16).max(HEADER_LEN),
        }
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the first word of the consumer page, 8-aligned, shared with the kernel,
        // which only reads it.
        unsafe { &*self.consumer }
    }

    fn load_producer_pos(&self) -> u64 {
        // SAFETY: the first word of the producer page, written by the kernel with release
        // semantics after each record's header.
        unsafe { &*self.producer }.load(Ordering::Acquire)
    }

    /// The data pages (twice the ring, so any record is contiguous).
    fn data(&self) -> &[u8] {
        // SAFETY: `data` holds the ring's data twice in a row, valid for the reader's life.
        unsafe { std::slice::from_raw_parts(self.data, 2 * (self.mask as usize + 1)) }
    }

    /// The next record, or `None` once none waits (then the consumer position is published).
    /// The record stays valid until the next call; the ring's space it took is given back
    /// then, in batches.
    pub fn next(&mut self) -> Option<&[u8]> {
        self.pass_pending();
        let (start, len) = loop {
            if self.pos == self.producer_pos {
                self.producer_pos = self.load_producer_pos();
                if self.pos == self.producer_pos {
                    self.publish();
                    return None;
                }
            }
            let offset = (self.pos & self.mask) as usize;
            let header = self.header_at(offset);
            if header & BUSY_BIT != 0 {
                // reserved, not yet committed: everything behind it waits for it
                self.publish();
                return None;
            }
            let len = u64::from(header & !(BUSY_BIT | DISCARD_BIT));
            let total = (HEADER_LEN + len).next_multiple_of(8);
            if header & DISCARD_BIT != 0 {
                self.advance(total);
                continue;
            }
            self.pending = total;
            break (offset + HEADER_LEN as usize, len as usize);
        };
        self.data().get(start..start + len)
    }

    /// The header word of the record at `offset` into the data pages.
    fn header_at(&self, offset: usize) -> u32 {
        // SAFETY: the header lies inside the data pages (offset < size) and is 8-aligned; the
        // kernel commits it with a fully ordered exchange, paired with this acquire.
        unsafe { &*self.data().as_ptr().add(offset).cast::<AtomicU32>() }.load(Ordering::Acquire)
    }

    /// Gives back the space of every record handed out so far: call when stopping to read
    /// with records left (a bounded drain), so the producers see all the room there is.
    pub fn release(&mut self) {
        self.pass_pending();
        self.publish();
    }

    fn pass_pending(&mut self) {
        if self.pending != 0 {
            let n = std::mem::take(&mut self.pending);
            self.advance(n);
        }
    }

    fn advance(&mut self, n: u64) {
        self.pos = self.pos.wrapping_add(n);
        if self.pos.wrapping_sub(self.published) >= self.publish_every {
            self.publish();
        }
    }

    fn publish(&mut self) {
        if self.published != self.pos {
            // Release: the records' bytes were read before the kernel may reuse their space.
            self.consumer_pos().store(self.pos, Ordering::Release);
            self.published = self.pos;
        }
    }
}

impl AsRawFd for RingReader {
    /// The map's descriptor (to `poll`: readable while records wait); -1 in unit tests.
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.owner
            .as_ref()
            .map_or(-1, |(map, _, _)| map.fd().as_fd().as_raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: u64 = 4096;

    /// A ring laid out in memory as the kernel lays out its pages: the consumer word, the
    /// producer word, the data twice (written twice, as the double mapping shows it).
    struct FakeRing {
        words: Vec<u64>,
    }

    impl FakeRing {
        fn new() -> Self {
            Self {
                words: vec![0; 2 + 2 * SIZE as usize / 8],
            }
        }

        fn reader(&mut self) -> RingReader {
            let base = self.words.as_mut_ptr();
            // SAFETY: inside `words`, which outlives the reader in every test.
            unsafe {
                RingReader::over(
                    None,
                    base.cast::<AtomicU64>(),
                    base.add(1).cast::<AtomicU64>(),
                    base.add(2).cast::<u8>(),
                    SIZE,
                )
            }
        }

        fn byte_mut(&mut self, at: usize) -> &mut u8 {
            // SAFETY: `at` within the data (checked by the slice below).
            let data = unsafe {
                std::slice::from_raw_parts_mut(
                    self.words.as_mut_ptr().add(2).cast::<u8>(),
                    2 * SIZE as usize,
                )
            };
            &mut data[at]
        }

        /// Writes a record's header and body at ring position `pos`, in both copies.
        fn put(&mut self, pos: u64, header: u32, body: &[u8]) {
            for copy in [0, SIZE as usize] {
                let at = (pos % SIZE) as usize + copy;
                for (i, b) in header.to_le_bytes().iter().enumerate() {
                    if at + i < 2 * SIZE as usize {
                        *self.byte_mut(at + i) = *b;
                    }
                }
                for (i, b) in body.iter().enumerate() {
                    let j = at + 8 + i;
                    if j < 2 * SIZE as usize {
                        *self.byte_mut(j) = *b;
                    }
                    // the double mapping: the first copy's tail is the second's head
                    if j >= SIZE as usize && copy == 0 {
                        *self.byte_mut(j - SIZE as usize) = *b;
                    }
                }
            }
        }

        fn set_producer(&mut self, pos: u64) {
            self.words[1] = pos;
        }

        fn consumer(&self) -> u64 {
            self.words[0]
        }
    }

    #[test]
    fn reads_records_in_order_skips_discarded_and_stops_at_busy() {
        let mut ring = FakeRing::new();
        ring.put(0, 3, b"abc");
        ring.put(16, DISCARD_BIT | 5, b"xxxxx");
        ring.put(32, 8, b"12345678");
        ring.put(48, BUSY_BIT | 4, b"");
        ring.set_producer(56);
        let mut r = ring.reader();
        assert_eq!(r.next(), Some(&b"abc"[..]));
        assert_eq!(r.next(), Some(&b"12345678"[..]));
        assert_eq!(r.next(), None, "the busy record holds everything behind it");
        // caught up to the busy record: all the space before it is given back
        assert_eq!(ring.consumer(), 48);
    }

    #[test]
    fn publishes_in_batches_and_when_released() {
        let mut ring = FakeRing::new();
        // 64 records of 16 bytes (8 of header): 1 KiB; publish_every = SIZE / 16 = 256
        for i in 0..64u64 {
            ring.put(i * 16, 8, &i.to_le_bytes());
        }
        ring.set_producer(64 * 16);
        let mut r = ring.reader();
        for i in 0..10u64 {
            assert_eq!(r.next(), Some(&i.to_le_bytes()[..]));
        }
        // 10 handed out, 9 passed: 144 bytes, below the batch
        assert_eq!(ring.consumer(), 0);
        r.release();
        assert_eq!(ring.consumer(), 160);
        for _ in 10..30 {
            r.next();
        }
        // passed up to record 28 (464 bytes): one batch published at 416 = 160 + 256
        assert_eq!(ring.consumer(), 416);
        while r.next().is_some() {}
        assert_eq!(ring.consumer(), 64 * 16);
    }

    #[test]
    fn a_record_that_wraps_is_contiguous() {
        let mut ring = FakeRing::new();
        // starts 16 bytes before the end: header 8, body 20 bytes across the end
        let start = SIZE - 16;
        ring.words[0] = start;
        let body: Vec<u8> = (0..20).collect();
        ring.put(start, 20, &body);
        ring.set_producer(start + 32);
        let mut r = ring.reader();
        assert_eq!(r.next(), Some(&body[..]));
        assert_eq!(r.next(), None);
        assert_eq!(ring.consumer(), start + 32);
    }
}
