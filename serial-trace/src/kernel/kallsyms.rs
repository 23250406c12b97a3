//! `/proc/kallsyms`: function existence checks for the attach table and names for timer
//! callback addresses.

use std::collections::HashSet;

/// Text symbols of the running kernel, sorted by address.
#[derive(Default)]
pub struct Kallsyms {
    by_addr: Vec<(u64, String)>,
    names: HashSet<String>,
    /// False when `kptr_restrict` hides addresses (all read as 0).
    addresses_visible: bool,
}

impl Kallsyms {
    /// Loads `/proc/kallsyms`; an unreadable file gives an empty table.
    pub fn load() -> Self {
        std::fs::read_to_string("/proc/kallsyms")
            .map(|t| Self::parse(&t))
            .unwrap_or_default()
    }

    pub fn parse(text: &str) -> Self {
        let mut by_addr = Vec::new();
        let mut names = HashSet::new();
        let mut any_nonzero = false;
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(addr), Some(ty), Some(name)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            if !matches!(ty, "t" | "T") {
                continue;
            }
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            any_nonzero |= addr != 0;
            // `name.llvm.123` / `name.isra.0`: still the function the user knows as `name`.
            let base = name.split('.').next().unwrap_or(name);
            names.insert(base.to_string());
            by_addr.push((addr, name.to_string()));
        }
        by_addr.sort_unstable_by_key(|(a, _)| *a);
        Self {
            by_addr,
            names,
            addresses_visible: any_nonzero,
        }
    }

    /// Address of the function `name` (exact name), when addresses are visible.
    pub fn address_of(&self, name: &str) -> Option<u64> {
        if !self.addresses_visible {
            return None;
        }
        self.by_addr
            .iter()
            .find(|(_, n)| n == name)
            .map(|(a, _)| *a)
    }

    pub fn has_function(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// `name` for an exact hit, `name+0xoff` inside a function, `None` when unknown or hidden.
    pub fn resolve(&self, addr: u64) -> Option<String> {
        if !self.addresses_visible || addr == 0 {
            return None;
        }
        let i = self.by_addr.partition_point(|(a, _)| *a <= addr);
        let (start, name) = self.by_addr.get(i.checked_sub(1)?)?;
        let off = addr - start;
        // Beyond 1 MiB from the nearest symbol it is not a function of ours to name.
        if off > 1 << 20 {
            return None;
        }
        Some(if off == 0 {
            name.clone()
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
        assert!(!k.has_function("some_data"));
    }

    #[test]
    fn hidden_addresses_resolve_nothing() {
        let k = Kallsyms::parse("0000000000000000 T foo\n0000000000000000 t bar\n");
        assert!(k.has_function("foo"));
        assert!(k.resolve(0).is_none());
    }
}
