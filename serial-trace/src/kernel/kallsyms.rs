//! `/proc/kallsyms`: function existence checks for the attach table and names for timer
//! callback addresses (in a compact form while recording: [`SymbolNames`]).

use std::io::BufRead;

/// Text symbols of the running kernel, sorted by address. 121,000 symbols on a distribution
/// kernel: their names are kept in one buffer with 20 bytes per symbol beside it (5.5 MB,
/// where a `String` per symbol and a set of them took 22), and an index by the hash of each
/// name's base (before any `.suffix`): sorting 121,000 integers, not strings, keeps `probe`
/// and the start of `record` fast (the string sort took ~140 ms of `probe`'s 0.3 s here).
#[derive(Default)]
pub struct Kallsyms {
    /// Addresses, ascending; `name_at[i]` is where symbol `i`'s name starts in `names`.
    addrs: Vec<u64>,
    name_at: Vec<u32>,
    /// Every name, each ended by a newline.
    names: String,
    /// (hash of the name's base, symbol index), sorted: for [`Self::has_function`] and
    /// [`Self::address_of`]. Equal names keep address order.
    by_base: Vec<(u32, u32)>,
    /// False when `kptr_restrict` hides addresses (all read as 0).
    addresses_visible: bool,
}

/// 32-bit FNV-1a of a name's base (collisions are told apart by the names): the part a C identifier spells (`n_tty_read` of
/// `n_tty_read.llvm.123`).
fn base_hash(name: &str) -> u32 {
    let base = name.split_once('.').map_or(name, |(b, _)| b);
    base.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl Kallsyms {
    /// Loads `/proc/kallsyms` a line at a time (the file is 5–10 MB: not held whole); an
    /// unreadable file gives an empty table.
    pub fn load() -> Self {
        let Ok(f) = std::fs::File::open("/proc/kallsyms") else {
            return Self::default();
        };
        let mut reader = std::io::BufReader::with_capacity(1 << 16, f);
        let mut table = Builder::default();
        let mut line = String::new();
        while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
            if !table.add(&line) {
                break;
            }
            line.clear();
        }
        table.finish()
    }

    /// Parses the text of `/proc/kallsyms`.
    pub fn parse(text: &str) -> Self {
        let mut table = Builder::default();
        for line in text.lines() {
            if !table.add(line) {
                break;
            }
        }
        table.finish()
    }

    /// Name of symbol `i` (by address order).
    fn name(&self, i: usize) -> &str {
        let rest = &self.names[self.name_at[i] as usize..];
        &rest[..rest.find('\n').unwrap_or(rest.len())]
    }

    /// Symbols whose names are `name` or `name.<suffix>`, equal names in address order.
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (usize, &'a str)> + 'a {
        let h = base_hash(name);
        let from = self.by_base.partition_point(|&(k, _)| k < h);
        self.by_base[from..]
            .iter()
            .take_while(move |&&(k, _)| k == h)
            .map(|&(_, i)| (i as usize, self.name(i as usize)))
            .filter(move |(_, n)| {
                n.strip_prefix(name)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            })
    }

    /// Address of the function `name` (exact name), when addresses are visible.
    pub fn address_of(&self, name: &str) -> Option<u64> {
        if !self.addresses_visible {
            return None;
        }
        self.named(name)
            .find(|(_, n)| *n == name)
            .map(|(i, _)| self.addrs[i])
    }

    /// Whether a function `name` exists (`name.llvm.123`, `name.isra.0`: still the function
    /// the user knows as `name`).
    pub fn has_function(&self, name: &str) -> bool {
        self.named(name).next().is_some()
    }

    /// `name` for an exact hit, `name+0xoff` inside a function, `None` when unknown or hidden.
    pub fn resolve(&self, addr: u64) -> Option<String> {
        let (i, off) = nearest(&self.addrs, self.addresses_visible, addr)?;
        Some(named_offset(self.name(i), off))
    }

    /// The table for naming addresses only, in a third of the memory (see [`SymbolNames`]):
    /// what a recording keeps once set-up has looked up what it needed by name.
    pub fn into_names(self) -> SymbolNames {
        let mut blocks = Vec::new();
        let mut block_at = Vec::new();
        // the names lie in the file's order, which is not the addresses' (modules come last)
        let mut block = String::new();
        for first in (0..self.addrs.len()).step_by(NAMES_PER_BLOCK) {
            block.clear();
            for i in first..(first + NAMES_PER_BLOCK).min(self.addrs.len()) {
                block.push_str(self.name(i));
                block.push('\n');
            }
            block_at.push(blocks.len() as u32);
            blocks.extend(lz4_flex::block::compress_prepend_size(block.as_bytes()));
        }
        blocks.shrink_to_fit();
        SymbolNames {
            addrs: self.addrs,
            blocks,
            block_at,
            addresses_visible: self.addresses_visible,
        }
    }
}

/// A [`Kallsyms`] table read a line at a time.
#[derive(Default)]
struct Builder {
    syms: Vec<(u64, u32)>,
    names: String,
    any_nonzero: bool,
}

impl Builder {
    /// Takes one line, `ADDRESS TYPE NAME [\t[MODULE]]`, keeping text symbols only; false
    /// once the names outgrow the 32-bit offsets (4 GiB: not a kernel).
    fn add(&mut self, line: &str) -> bool {
        let mut it = line.split_ascii_whitespace();
        let (Some(addr), Some(ty), Some(name)) = (it.next(), it.next(), it.next()) else {
            return true;
        };
        if !matches!(ty, "t" | "T") {
            return true;
        }
        let Ok(addr) = u64::from_str_radix(addr, 16) else {
            return true;
        };
        let Ok(at) = u32::try_from(self.names.len()) else {
            return false;
        };
        self.any_nonzero |= addr != 0;
        self.syms.push((addr, at));
        self.names.push_str(name);
        self.names.push('\n');
        true
    }

    fn finish(mut self) -> Kallsyms {
        self.syms.sort_unstable_by_key(|&(a, _)| a);
        let (addrs, name_at): (Vec<u64>, Vec<u32>) = self.syms.into_iter().unzip();
        let mut k = Kallsyms {
            addrs,
            name_at,
            names: self.names,
            by_base: Vec::new(),
            addresses_visible: self.any_nonzero,
        };
        let mut by_base: Vec<(u32, u32)> = (0..k.addrs.len())
            .map(|i| (base_hash(k.name(i)), i as u32))
            .collect();
        by_base.sort_unstable();
        k.by_base = by_base;
        k
    }
}

/// Symbols a compressed block of names holds.
const NAMES_PER_BLOCK: usize = 256;

/// The symbols' names, for naming addresses only: in blocks of [`NAMES_PER_BLOCK`] in address
/// order, each LZ4-compressed (3.0 MB of names in 1.2 on a distribution kernel), and no index
/// by name. Naming an address decompresses one block: a recording names each callback address
/// once.
#[derive(Default)]
pub struct SymbolNames {
    addrs: Vec<u64>,
    blocks: Vec<u8>,
    /// Where each block starts in `blocks`.
    block_at: Vec<u32>,
    addresses_visible: bool,
}

impl SymbolNames {
    /// As [`Kallsyms::resolve`].
    pub fn resolve(&self, addr: u64) -> Option<String> {
        let (i, off) = nearest(&self.addrs, self.addresses_visible, addr)?;
        let b = i / NAMES_PER_BLOCK;
        let from = self.block_at[b] as usize;
        let to = self
            .block_at
            .get(b + 1)
            .map_or(self.blocks.len(), |&a| a as usize);
        let names = lz4_flex::block::decompress_size_prepended(&self.blocks[from..to]).ok()?;
        let name = std::str::from_utf8(&names)
            .ok()?
            .split('\n')
            .nth(i % NAMES_PER_BLOCK)?;
        Some(named_offset(name, off))
    }
}

/// The symbol at or before `addr` in `addrs` and the offset into it; `None` for 0, hidden
/// addresses, or more than 1 MiB past the nearest symbol (not a function of ours to name).
fn nearest(addrs: &[u64], visible: bool, addr: u64) -> Option<(usize, u64)> {
    if !visible || addr == 0 {
        return None;
    }
    let i = addrs.partition_point(|&a| a <= addr).checked_sub(1)?;
    let off = addr - addrs[i];
    (off <= 1 << 20).then_some((i, off))
}

/// `name`, or `name+0xoff` inside it.
fn named_offset(name: &str, off: u64) -> String {
    if off == 0 {
        name.to_string()
    } else {
        format!("{name}+{off:#x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ffffffff81000000 T _stext
ffffffff81100000 t hrtimer_wakeup
ffffffff81100100 T tick_nohz_handler
ffffffff81100200 d some_data
ffffffff81100300 t n_tty_read.llvm.12345 [some_mod]
";

    #[test]
    fn resolves_exact_and_offset() {
        let k = Kallsyms::parse(SAMPLE);
        assert_eq!(k.resolve(0xffffffff81100000).unwrap(), "hrtimer_wakeup");
        assert_eq!(
            k.resolve(0xffffffff81100110).unwrap(),
            "tick_nohz_handler+0x10"
        );
        assert!(k.resolve(0x1000).is_none());
        assert!(k.has_function("n_tty_read"));
        assert!(!k.has_function("n_tty"));
        assert!(!k.has_function("some_data"));
        assert_eq!(k.address_of("hrtimer_wakeup"), Some(0xffffffff81100000));
        // exact names only: the suffixed copy is not `n_tty_read`'s address
        assert_eq!(k.address_of("n_tty_read"), None);
        assert_eq!(
            k.address_of("n_tty_read.llvm.12345"),
            Some(0xffffffff81100300)
        );
    }

    #[test]
    fn the_compact_names_resolve_as_the_table_does() {
        // more symbols than a block holds, listed out of address order as the file lists them
        // (a module's symbols come last, wherever they lie)
        let mut lines: Vec<String> = (0..3 * NAMES_PER_BLOCK + 7)
            .map(|i| {
                format!(
                    "{:016x} t func_{i}\n",
                    0xffffffff81000000u64 + 0x40 * i as u64
                )
            })
            .collect();
        lines.rotate_left(NAMES_PER_BLOCK + 3);
        let text: String = lines.concat();
        let k = Kallsyms::parse(&text);
        let probes: Vec<u64> = (0..3 * NAMES_PER_BLOCK as u64 + 9)
            .map(|i| 0xffffffff81000000 + 0x40 * i + (i % 3) * 4)
            .chain([0, 0x1000, 0xffffffff81000000 + (1 << 21)])
            .collect();
        let expected: Vec<_> = probes.iter().map(|&a| k.resolve(a)).collect();
        let names = k.into_names();
        for (a, want) in probes.iter().zip(&expected) {
            assert_eq!(&names.resolve(*a), want, "{a:#x}");
        }
        assert_eq!(
            names.resolve(0xffffffff81000000 + 0x40 * 600 + 4).unwrap(),
            "func_600+0x4"
        );
    }

    #[test]
    fn names_are_found_whatever_their_suffixes_and_twins() {
        // two static functions of one name (the lower address first), a suffixed copy listed
        // before them, module symbols after a tab, and a longer name with the same prefix
        let k = Kallsyms::parse(
            "ffffffff81000300 t uart_insert_char.cold\n\
             ffffffff81000200 t uart_insert_char\n\
             ffffffff81000100 t uart_insert_char\n\
             ffffffff81000400 T uart_insert_chars\n\
             ffffffffc0000000 t ftdi_read\t[ftdi_sio]\n",
        );
        assert_eq!(k.address_of("uart_insert_char"), Some(0xffffffff81000100));
        assert_eq!(k.address_of("uart_insert_chars"), Some(0xffffffff81000400));
        assert_eq!(k.address_of("ftdi_read"), Some(0xffffffffc0000000));
        assert!(k.has_function("uart_insert_char"));
        assert!(!k.has_function("uart_insert"));
        assert_eq!(
            k.address_of("uart_insert_char.cold"),
            Some(0xffffffff81000300)
        );
        assert_eq!(k.resolve(0xffffffffc0000010).unwrap(), "ftdi_read+0x10");
    }

    #[test]
    fn hidden_addresses_resolve_nothing() {
        let k = Kallsyms::parse("0000000000000000 T foo\n0000000000000000 t bar\n");
        assert!(k.has_function("foo"));
        assert!(k.resolve(0).is_none());
    }
}
