//! The BTF file format (`Documentation/bpf/btf.rst`), read in place: the raw bytes and one
//! offset per type, nothing else. serial-trace asks a few dozen questions of the kernel's
//! 125,000 types once, at start-up; a reader that builds an object per type (btf-rs: 39 MB
//! for 6.18's vmlinux, aya's `Btf`: 16 MB) would make those types most of the recorder's
//! memory. This one holds the 5.5 MB file and 0.5 MB of offsets, and is dropped once the
//! programs are configured.

/// The kinds of type record (`BTF_KIND_*`).
pub mod kind {
    pub const INT: u8 = 1;
    pub const PTR: u8 = 2;
    pub const ARRAY: u8 = 3;
    pub const STRUCT: u8 = 4;
    pub const UNION: u8 = 5;
    pub const ENUM: u8 = 6;
    pub const FWD: u8 = 7;
    pub const TYPEDEF: u8 = 8;
    pub const VOLATILE: u8 = 9;
    pub const CONST: u8 = 10;
    pub const RESTRICT: u8 = 11;
    pub const FUNC: u8 = 12;
    pub const FUNC_PROTO: u8 = 13;
    pub const VAR: u8 = 14;
    pub const DATASEC: u8 = 15;
    pub const FLOAT: u8 = 16;
    pub const DECL_TAG: u8 = 17;
    pub const TYPE_TAG: u8 = 18;
    pub const ENUM64: u8 = 19;
}

const MAGIC: u16 = 0xeb9f;
/// `struct btf_type`: `name_off`, `info`, `size`/`type`.
const TYPE_LEN: usize = 12;
/// `BTF_INT_BOOL` in the encoding bits of an INT's extra word.
const INT_BOOL: u32 = 4;

/// Parsed BTF: the bytes, where types and strings start, and each type's offset.
pub struct Btf {
    data: Vec<u8>,
    strings: std::ops::Range<usize>,
    /// Offset in `data` of type id `i + 1` (id 0 is `void`).
    offsets: Vec<u32>,
}

impl std::fmt::Debug for Btf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Btf({} types, {} bytes)",
            self.offsets.len(),
            self.data.len()
        )
    }
}

/// One type record.
#[derive(Clone, Copy, Debug)]
pub struct Type<'a> {
    pub id: u32,
    pub kind: u8,
    pub name: &'a str,
    pub vlen: u16,
    pub kind_flag: bool,
    /// `size` for INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT; `type` for the rest.
    pub size_or_type: u32,
    /// The kind-specific data after the record (members, parameters, …).
    extra: &'a [u8],
}

/// A struct or union member.
#[derive(Clone, Copy, Debug)]
pub struct Member<'a> {
    pub name: &'a str,
    pub type_id: u32,
    pub bit_offset: u32,
}

/// A BTF blob in this machine's byte order: the header, then `types` (the records, type id 1
/// first), then `strings` (starting with the empty name's NUL).
pub fn write_blob(types: &[u8], strings: &[u8]) -> Vec<u8> {
    const HEADER_LEN: u32 = 24;
    let mut out = Vec::with_capacity(HEADER_LEN as usize + types.len() + strings.len());
    out.extend_from_slice(&MAGIC.to_ne_bytes());
    out.extend_from_slice(&[1, 0]); // version, flags
    for w in [
        HEADER_LEN,
        0,
        types.len() as u32,
        types.len() as u32,
        strings.len() as u32,
    ] {
        out.extend_from_slice(&w.to_ne_bytes());
    }
    out.extend_from_slice(types);
    out.extend_from_slice(strings);
    out
}

impl Btf {
    /// Indexes `data`, a whole BTF blob; a message says what is wrong with a malformed one.
    pub fn parse(data: Vec<u8>) -> Result<Self, String> {
        let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
        match u16_at(0) {
            Some(MAGIC) => {}
            Some(m) if m.swap_bytes() == MAGIC => {
                return Err("BTF of the other byte order".into());
            }
            _ => return Err("not BTF (bad magic)".into()),
        }
        let word = |o: usize| read_u32(&data, o).ok_or("BTF header cut short");
        let hdr_len = word(4)? as usize;
        let (type_off, type_len) = (word(8)? as usize, word(12)? as usize);
        let (str_off, str_len) = (word(16)? as usize, word(20)? as usize);
        let types = hdr_len.saturating_add(type_off)..hdr_len.saturating_add(type_off + type_len);
        let strings = hdr_len.saturating_add(str_off)..hdr_len.saturating_add(str_off + str_len);
        if types.end > data.len() || strings.end > data.len() {
            return Err("BTF sections run past the end".into());
        }
        let mut offsets = Vec::with_capacity(type_len / 24);
        let mut at = types.start;
        while at < types.end {
            let info = read_u32(&data, at + 4).ok_or("BTF type cut short")?;
            let len = TYPE_LEN + extra_len(info_kind(info), info_vlen(info))?;
            if at + len > types.end {
                return Err(format!(
                    "BTF type {} runs past its section",
                    offsets.len() + 1
                ));
            }
            offsets.push(at as u32);
            at += len;
        }
        Ok(Self {
            data,
            strings,
            offsets,
        })
    }

    /// Type `id` (`None` for `void`, id 0, and ids past the last).
    pub fn ty(&self, id: u32) -> Option<Type<'_>> {
        let at = *self.offsets.get((id as usize).checked_sub(1)?)? as usize;
        let info = read_u32(&self.data, at + 4)?;
        let (kind, vlen) = (info_kind(info), info_vlen(info));
        let extra = at + TYPE_LEN..at + TYPE_LEN + extra_len(kind, vlen).ok()?;
        Some(Type {
            id,
            kind,
            name: self.name(read_u32(&self.data, at)?),
            vlen,
            kind_flag: info >> 31 == 1,
            size_or_type: read_u32(&self.data, at + 8)?,
            extra: &self.data[extra],
        })
    }

    /// Every type named `name`, in id order.
    pub fn by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Type<'a>> + 'a {
        (1..=self.offsets.len() as u32)
            .filter_map(|id| self.ty(id))
            .filter(move |t| t.name == name)
    }

    /// The id of the first type of kind `kind` named each of `names`, in one pass over the
    /// types (names the BTF lacks are absent).
    pub fn ids_by_name(&self, kind: u8, names: &[&str]) -> std::collections::HashMap<String, u32> {
        let mut found = std::collections::HashMap::new();
        for id in 1..=self.offsets.len() as u32 {
            if found.len() == names.len() {
                break;
            }
            let Some(t) = self.ty(id) else { continue };
            if t.kind == kind && names.contains(&t.name) && !found.contains_key(t.name) {
                found.insert(t.name.to_string(), id);
            }
        }
        found
    }

    /// The string at `off` of the string section ("" when out of range or not UTF-8).
    fn name(&self, off: u32) -> &str {
        let start = self.strings.start + off as usize;
        let Some(rest) = self.data.get(start..self.strings.end) else {
            return "";
        };
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).unwrap_or("")
    }

    /// The members of a struct or union (none for other kinds).
    pub fn members<'a>(&'a self, t: &Type<'a>) -> impl Iterator<Item = Member<'a>> + 'a {
        let is_composite = matches!(t.kind, kind::STRUCT | kind::UNION);
        let (extra, bitfields) = (t.extra, t.kind_flag);
        extra
            .chunks_exact(12)
            .take(if is_composite { usize::MAX } else { 0 })
            .map(move |m| {
                let offset = read_u32(m, 8).unwrap_or(0);
                Member {
                    name: self.name(read_u32(m, 0).unwrap_or(0)),
                    type_id: read_u32(m, 4).unwrap_or(0),
                    // with kind_flag, the top 8 bits are a bitfield's width
                    bit_offset: if bitfields {
                        offset & 0xff_ffff
                    } else {
                        offset
                    },
                }
            })
    }

    /// The parameter types of a FUNC_PROTO (none for other kinds).
    pub fn params<'a>(&'a self, t: &Type<'a>) -> impl Iterator<Item = u32> + 'a {
        let take = if t.kind == kind::FUNC_PROTO {
            usize::MAX
        } else {
            0
        };
        t.extra
            .chunks_exact(8)
            .take(take)
            .map(|p| read_u32(p, 4).unwrap_or(0))
    }

    /// Whether an INT is C's `bool`.
    pub fn is_bool(t: &Type<'_>) -> bool {
        t.kind == kind::INT && (read_u32(t.extra, 0).unwrap_or(0) >> 24) & INT_BOOL != 0
    }
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

fn info_kind(info: u32) -> u8 {
    ((info >> 24) & 0x1f) as u8
}

fn info_vlen(info: u32) -> u16 {
    (info & 0xffff) as u16
}

/// Bytes of kind-specific data after a type record.
fn extra_len(k: u8, vlen: u16) -> Result<usize, String> {
    let n = usize::from(vlen);
    Ok(match k {
        kind::INT | kind::VAR | kind::DECL_TAG => 4,
        kind::ARRAY => 12,
        kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => 12 * n,
        kind::ENUM | kind::FUNC_PROTO => 8 * n,
        kind::PTR
        | kind::FWD
        | kind::TYPEDEF
        | kind::VOLATILE
        | kind::CONST
        | kind::RESTRICT
        | kind::FUNC
        | kind::FLOAT
        | kind::TYPE_TAG => 0,
        other => return Err(format!("BTF kind {other} unknown to serial-trace")),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One type of a test blob: name, kind, vlen, kind_flag, size_or_type, extra words.
    pub type TypeSpec<'a> = (&'a str, u8, u16, bool, u32, &'a [u32]);

    /// A test blob's string section: every name once, in order of first use.
    pub struct Strings(Vec<u8>);

    impl Strings {
        pub fn new() -> Self {
            Self(vec![0])
        }

        /// The offset of `name`, added on first use ("" is 0).
        pub fn off(&mut self, name: &str) -> u32 {
            if name.is_empty() {
                return 0;
            }
            let needle: Vec<u8> = [name.as_bytes(), &[0]].concat();
            if let Some(at) = self
                .0
                .windows(needle.len())
                .position(|w| w == needle.as_slice())
                .filter(|&at| at > 0 && self.0[at - 1] == 0)
            {
                return at as u32;
            }
            let at = self.0.len() as u32;
            self.0.extend_from_slice(&needle);
            at
        }
    }

    /// Builds a BTF blob of `types` (names through `strings`).
    pub fn blob_with(types: &[TypeSpec<'_>], mut strings: Strings) -> Vec<u8> {
        let mut type_bytes = Vec::new();
        for (name, k, vlen, flag, sot, extra) in types {
            let name_off = strings.off(name);
            let info = u32::from(*vlen) | (u32::from(*k) << 24) | (u32::from(*flag) << 31);
            for w in [name_off, info, *sot].iter().chain(extra.iter()) {
                type_bytes.extend_from_slice(&w.to_ne_bytes());
            }
        }
        write_blob(&type_bytes, &strings.0)
    }

    fn blob(types: &[TypeSpec<'_>]) -> Vec<u8> {
        blob_with(types, Strings::new())
    }

    #[test]
    fn indexes_types_and_reads_them_back() {
        let data = blob(&[
            ("int", kind::INT, 0, false, 4, &[32]),
            ("_Bool", kind::INT, 0, false, 1, &[(INT_BOOL << 24) | 8]),
            ("", kind::PTR, 0, false, 1, &[]),
        ]);
        let btf = Btf::parse(data).unwrap();
        let int = btf.ty(1).unwrap();
        assert_eq!(
            (int.name, int.kind, int.size_or_type),
            ("int", kind::INT, 4)
        );
        assert!(!Btf::is_bool(&int));
        assert!(Btf::is_bool(&btf.ty(2).unwrap()));
        assert_eq!(btf.ty(3).unwrap().size_or_type, 1);
        assert!(btf.ty(0).is_none() && btf.ty(4).is_none());
        assert_eq!(btf.by_name("int").map(|t| t.id).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn malformed_blobs_are_refused_with_a_reason() {
        assert!(Btf::parse(vec![1, 2, 3]).unwrap_err().contains("magic"));
        let mut swapped = blob(&[]);
        swapped[..2].copy_from_slice(&MAGIC.to_be_bytes());
        if cfg!(target_endian = "little") {
            assert!(Btf::parse(swapped).unwrap_err().contains("byte order"));
        }
        // a struct claiming more members than its section holds
        let mut cut = blob(&[("s", kind::STRUCT, 3, false, 8, &[0, 0, 0])]);
        cut.truncate(cut.len() - 2);
        assert!(Btf::parse(cut).is_err());
        let unknown = blob(&[("x", 31, 0, false, 0, &[])]);
        assert!(Btf::parse(unknown).unwrap_err().contains("kind 31"));
    }
}
