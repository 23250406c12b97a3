//! `/proc/kallsyms`: function existence checks for the attach table and names for timer
//! callback addresses (in a compact form while recording: [`SymbolNames`]).

use std::io::BufRead;

/// Text symbols of the running kernel, sorted by address. 121,000 symbols on a distribution
/// kernel: their names are kept in one buffer with 12 bytes per symbol beside it (4.5 MB,
/// where a `String` per symbol and a set of them took 22).
#[derive(Default)]
pub struct Kallsyms {
    /// Addresses, ascending; `name_at[i]` is where symbol `i`'s name starts in `names`.
    addrs: Vec<u64>,
    name_at: Vec<u32>,
    /// Every name, each ended by a newline.
    names: String,
    /// Indices of the symbols, sorted by name (for [`Self::has_function`], [`Self::address_of`]).
    by_name: Vec<u32>,
    /// False when `kptr_restrict` hides addresses (all read as 0).
    addresses_visible: bool,
}

impl Kallsyms {
    /// Loads `/proc/kallsyms`, a line at a time; an unreadable file gives an empty table.
    pub fn load() -> Self {
        std::fs::File::open("/proc/kallsyms")
            .map(|f| Self::from_lines(std::io::BufReader::new(f).lines().map_while(Result::ok)))
            .unwrap_or_default()
    }

    pub fn parse(text: &str) -> Self {
        Self::from_lines(text.lines())
    }

    fn from_lines<L: AsRef<str>>(lines: impl Iterator<Item = L>) -> Self {
        let mut syms: Vec<(u64, u32)> = Vec::new();
        let mut names = String::new();
        let mut any_nonzero = false;
        for line in lines {
            let mut it = line.as_ref().split_whitespace();
            let (Some(addr), Some(ty), Some(name)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            if !matches!(ty, "t" | "T") {
                continue;
            }
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            let Ok(at) = u32::try_from(names.len()) else {
                break; // 4 GiB of names: not a kernel
            };
            any_nonzero |= addr != 0;
            syms.push((addr, at));
            names.push_str(name);
            names.push('\n');
        }
        syms.sort_unstable_by_key(|&(a, _)| a);
        let (addrs, name_at): (Vec<u64>, Vec<u32>) = syms.into_iter().unzip();
        let mut k = Self {
            addrs,
            name_at,
            names,
            by_name: Vec::new(),
            addresses_visible: any_nonzero,
        };
        let mut by_name: Vec<u32> = (0..k.addrs.len() as u32).collect();
        // equal names (static functions of different files) in address order, as before
        by_name
            .sort_unstable_by(|&a, &b| k.name(a as usize).cmp(k.name(b as usize)).then(a.cmp(&b)));
        k.by_name = by_name;
        k
    }

    /// Name of symbol `i` (by address order).
    fn name(&self, i: usize) -> &str {
        let rest = &self.names[self.name_at[i] as usize..];
        &rest[..rest.find('\n').unwrap_or(rest.len())]
    }

    /// Symbols whose names are `name` or `name.<suffix>`, in name order: `name` itself sorts
    /// first, then its suffixed copies (`.` sorts before every character of a C identifier).
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (usize, &'a str)> + 'a {
        let from = self
            .by_name
            .partition_point(|&i| self.name(i as usize) < name);
        self.by_name[from..]
            .iter()
            .map(|&i| (i as usize, self.name(i as usize)))
            .take_while(move |(_, n)| {
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
    fn hidden_addresses_resolve_nothing() {
        let k = Kallsyms::parse("0000000000000000 T foo\n0000000000000000 t bar\n");
        assert!(k.has_function("foo"));
        assert!(k.resolve(0).is_none());
    }
}
