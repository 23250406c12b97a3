//! `/proc/kallsyms`: function existence checks for the attach table and names for timer
//! callback addresses.

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
        if !self.addresses_visible || addr == 0 {
            return None;
        }
        let i = self.addrs.partition_point(|&a| a <= addr).checked_sub(1)?;
        let (start, name) = (self.addrs[i], self.name(i));
        let off = addr - start;
        // Beyond 1 MiB from the nearest symbol it is not a function of ours to name.
        if off > 1 << 20 {
            return None;
        }
        Some(if off == 0 {
            name.to_string()
        } else {
            format!("{name}+{off:#x}")
        })
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
    fn hidden_addresses_resolve_nothing() {
        let k = Kallsyms::parse("0000000000000000 T foo\n0000000000000000 t bar\n");
        assert!(k.has_function("foo"));
        assert!(k.resolve(0).is_none());
    }
}
