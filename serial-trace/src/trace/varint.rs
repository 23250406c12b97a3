//! LEB128 varints and zigzag, the integer encoding of event frames.

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded (small magnitudes of either sign stay short).
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// A cursor over a frame payload; every read is bounds-checked and fails instead of panicking.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// The payload ended early or a varint was longer than 10 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn u8(&mut self) -> Result<u8, Malformed> {
        let b = *self.buf.get(self.pos).ok_or(Malformed)?;
        self.pos += 1;
        Ok(b)
    }

    pub fn u64_le(&mut self) -> Result<u64, Malformed> {
        let bytes = self.bytes(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| Malformed)?))
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self.pos.checked_add(n).ok_or(Malformed)?;
        let s = self.buf.get(self.pos..end).ok_or(Malformed)?;
        self.pos = end;
        Ok(s)
    }

    pub fn var_u64(&mut self) -> Result<u64, Malformed> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(Malformed);
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Malformed)
    }

    pub fn var_i64(&mut self) -> Result<i64, Malformed> {
        let z = self.var_u64()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A varint that must fit `limit` (lengths and counts: never trust them to size allocations).
    pub fn var_len(&mut self, limit: usize) -> Result<usize, Malformed> {
        let v = self.var_u64()?;
        if v > limit as u64 {
            return Err(Malformed);
        }
        Ok(v as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_extremes() {
        let us = [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX];
        let is = [0, -1, 1, i64::MIN, i64::MAX, -300];
        let mut buf = Vec::new();
        for &u in &us {
            put_u64(&mut buf, u);
        }
        for &i in &is {
            put_i64(&mut buf, i);
        }
        let mut c = Cursor::new(&buf);
        for &u in &us {
            assert_eq!(c.var_u64(), Ok(u));
        }
        for &i in &is {
            assert_eq!(c.var_i64(), Ok(i));
        }
        assert!(c.is_empty());
        assert_eq!(c.var_u64(), Err(Malformed));
    }

    #[test]
    fn rejects_overlong_varint() {
        let buf = [0xffu8; 11];
        assert_eq!(Cursor::new(&buf).var_u64(), Err(Malformed));
        let buf = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(Cursor::new(&buf).var_u64(), Err(Malformed));
    }

    #[test]
    fn small_values_are_one_byte() {
        let mut buf = Vec::new();
        put_i64(&mut buf, -5);
        put_u64(&mut buf, 100);
        assert_eq!(buf.len(), 2);
    }
}
