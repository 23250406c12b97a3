//! The running kernel's BTF (`/sys/kernel/btf/vmlinux`): struct layouts and tracepoint
//! prototypes.
//!
//! aya-ebpf has no CO-RE relocations, so every offset an eBPF program needs is resolved here
//! and passed to it as a load-time global. The file is read by `btf_format` (bytes and an
//! index, nothing per type), once while the recorder sets up, and freed when set-up lets go
//! of it. aya gets a BTF of its own only to load fentry/fexit programs, holding just their
//! functions ([`for_aya_functions`]).

use std::sync::{Arc, Mutex, Weak};

pub use crate::kernel::btf_format::Btf;
use crate::kernel::btf_format::{Type, kind};

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// The kernel's BTF for struct layouts ([`offset_of`]): parsed when nobody holds it, shared
/// while someone does (the loader holds it through set-up, so it is parsed once per recording
/// and freed before the programs load).
pub fn layouts() -> Result<Arc<Btf>, String> {
    static HELD: Mutex<Weak<Btf>> = Mutex::new(Weak::new());
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(btf) = held.upgrade() {
        return Ok(btf);
    }
    let bytes =
        std::fs::read(VMLINUX_BTF).map_err(|e| format!("no kernel BTF at {VMLINUX_BTF} ({e})"))?;
    let btf = Arc::new(
        Btf::parse(bytes).map_err(|e| format!("kernel BTF at {VMLINUX_BTF} unreadable ({e})"))?,
    );
    *held = Arc::downgrade(&btf);
    Ok(btf)
}

/// A BTF for aya holding only the kernel functions named `functions`, each at the type id the
/// running kernel gives it, every other id up to the highest of them an empty placeholder.
///
/// aya needs a parsed BTF to load an fentry/fexit program only to find the function's type id
/// by name (`FEntry::load`). Its own parse of the whole kernel BTF was kept for the whole
/// recording: the recorders of the VM matrix's fentry kernels held 12–16 MB more than those of
/// kprobe kernels. This one costs aya one value per type id up to the highest (72 bytes each:
/// ~8 MB for the tty functions' ids, ~118,000 of 6.18's 126,000) and goes once the programs
/// are loaded. A function the kernel lacks is
/// left out (aya then says it has no such type, as it would with the whole BTF).
///
/// In two steps, so that the kernel's BTF and aya's are never held at once: the ids are
/// looked up while set-up holds the one ([`function_ids`]), the other is built from them when
/// the first fentry program loads.
pub fn for_aya_functions(ids: &FunctionIds) -> Result<aya::Btf, String> {
    aya::Btf::parse(&placeholder_blob(ids), aya::Endianness::default())
        .map_err(|e| format!("building the BTF aya loads fentry programs with: {e}"))
}

/// Kernel functions by name → their BTF type ids.
pub type FunctionIds = std::collections::HashMap<String, u32>;

/// The type ids of the kernel functions named `functions` (those it has).
pub fn function_ids(btf: &Btf, functions: &[&str]) -> FunctionIds {
    btf.ids_by_name(kind::FUNC, functions)
}

/// A BTF blob with a `FUNC` named `name` at each `id` of `ids` and an empty type (kind 0) at
/// every other id from 1 to the highest.
fn placeholder_blob(ids: &FunctionIds) -> Vec<u8> {
    const LINKAGE_GLOBAL: u32 = 1;
    let by_id: std::collections::HashMap<u32, &str> =
        ids.iter().map(|(name, &id)| (id, name.as_str())).collect();
    let max = ids.values().copied().max().unwrap_or(0);
    let mut strings = vec![0u8];
    let mut types = Vec::with_capacity(max as usize * 12);
    for id in 1..=max {
        let (name_off, info) = match by_id.get(&id) {
            Some(name) => {
                let off = strings.len() as u32;
                strings.extend_from_slice(name.as_bytes());
                strings.push(0);
                (off, u32::from(kind::FUNC) << 24 | LINKAGE_GLOBAL)
            }
            None => (0, 0),
        };
        for word in [name_off, info, 0] {
            types.extend_from_slice(&word.to_ne_bytes());
        }
    }
    crate::kernel::btf_format::write_blob(&types, &strings)
}

/// Byte offset of `path` (members separated by `.`, e.g. `buf.mem_used`) in `struct name`.
/// Members of anonymous structs and unions are found as if they were direct members, like C.
pub fn offset_of(btf: &Btf, name: &str, path: &str) -> Option<u32> {
    composites(btf, name).find_map(|t| path_member(btf, &t, path).map(|(off, _)| off))
}

/// The structs and unions named `name`.
fn composites<'a>(btf: &'a Btf, name: &'a str) -> impl Iterator<Item = Type<'a>> + 'a {
    btf.by_name(name)
        .filter(|t| matches!(t.kind, kind::STRUCT | kind::UNION))
}

/// `offset_of`, or a message naming what the kernel lacks.
pub fn require_offset(btf: &Btf, name: &str, path: &str) -> Result<u32, String> {
    offset_of(btf, name, path)
        .ok_or_else(|| format!("kernel BTF has no member `{path}` in struct {name}"))
}

/// Size in bytes of the integer, enum or pointer member `path` of `struct name` (a 32-bit
/// kernel's pointers and `size_t` are 4 bytes): the width an eBPF program must read it with.
pub fn member_size(btf: &Btf, name: &str, path: &str) -> Option<u32> {
    let ty = composites(btf, name).find_map(|t| path_member(btf, &t, path).map(|(_, ty)| ty))?;
    match ty.kind {
        kind::INT | kind::ENUM | kind::ENUM64 => Some(ty.size_or_type),
        kind::PTR => pointer_size(btf),
        _ => None,
    }
}

/// The kernel's pointer width: BTF gives pointers no size, and Linux's `long` is pointer-sized
/// on every architecture it runs on (ILP32, LP64).
pub fn pointer_size(btf: &Btf) -> Option<u32> {
    btf.by_name("long unsigned int")
        .find(|t| t.kind == kind::INT)
        .map(|t| t.size_or_type)
}

/// `member_size`, or a message naming what the kernel lacks.
pub fn require_member_size(btf: &Btf, name: &str, path: &str) -> Result<u32, String> {
    match member_size(btf, name, path) {
        Some(size @ (4 | 8)) => Ok(size),
        Some(other) => Err(format!(
            "kernel BTF gives `{path}` in struct {name} {other} bytes (4 or 8 expected)"
        )),
        None => Err(format!(
            "kernel BTF has no integer or pointer member `{path}` in struct {name}"
        )),
    }
}

/// The C types of a tracepoint's arguments (`TP_PROTO`, what a raw tracepoint program gets in
/// order), from the `btf_trace_<name>` typedef the kernel declares for every tracepoint:
/// `void (*)(void *__data, <TP_PROTO>)`. Types are spelled as in C (`struct hrtimer *`,
/// `enum hrtimer_mode`, `ktime_t *`, `bool`), typedef names kept, qualifiers dropped.
pub fn tracepoint_prototype(btf: &Btf, name: &str) -> Result<Vec<String>, String> {
    let typedef = format!("btf_trace_{name}");
    let missing = || format!("kernel BTF has no prototype for tracepoint {name} ({typedef})");
    let t = btf
        .by_name(&typedef)
        .find(|t| t.kind == kind::TYPEDEF)
        .ok_or_else(missing)?;
    let ptr = btf
        .ty(t.size_or_type)
        .filter(|t| t.kind == kind::PTR)
        .ok_or_else(missing)?;
    let proto = btf
        .ty(ptr.size_or_type)
        .filter(|t| t.kind == kind::FUNC_PROTO)
        .ok_or_else(missing)?;
    // the first parameter is the probe's `void *__data`, not the tracepoint's
    Ok(btf
        .params(&proto)
        .skip(1)
        .map(|id| c_type(btf, id, 0))
        .collect())
}

/// Type `id` spelled as in C, typedef names kept and qualifiers dropped.
fn c_type(btf: &Btf, id: u32, depth: u32) -> String {
    if depth > 8 {
        return "?".into();
    }
    let Some(ty) = btf.ty(id) else {
        return "void".into();
    };
    let named = |prefix: &str| {
        if ty.name.is_empty() {
            format!("{prefix}(anonymous)")
        } else {
            format!("{prefix}{}", ty.name)
        }
    };
    match ty.kind {
        kind::INT if Btf::is_bool(&ty) => "bool".into(),
        kind::INT | kind::TYPEDEF => named(""),
        kind::STRUCT | kind::FWD => named("struct "),
        kind::UNION => named("union "),
        kind::ENUM | kind::ENUM64 => named("enum "),
        kind::PTR => format!("{} *", c_type(btf, ty.size_or_type, depth + 1)),
        kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
            c_type(btf, ty.size_or_type, depth + 1)
        }
        _ => "?".into(),
    }
}

/// The byte offset and type of the member at `path` (`.`-separated) in the struct/union `ty`.
fn path_member<'a>(btf: &'a Btf, ty: &Type<'a>, path: &str) -> Option<(u32, Type<'a>)> {
    let (first, rest) = match path.split_once('.') {
        Some((f, r)) => (f, Some(r)),
        None => (path, None),
    };
    let (offset, member_ty) = member(btf, ty, first, 0)?;
    match rest {
        None => Some((offset, member_ty)),
        Some(rest) => {
            let (inner, t) = path_member(btf, &member_ty, rest)?;
            Some((offset + inner, t))
        }
    }
}

/// The byte offset and (typedef-stripped) type of member `name` of the struct/union `ty`,
/// searching anonymous members too. `depth` bounds the recursion on malformed BTF.
fn member<'a>(btf: &'a Btf, ty: &Type<'a>, name: &str, depth: u32) -> Option<(u32, Type<'a>)> {
    if depth > 8 {
        return None;
    }
    for m in btf.members(ty) {
        let m_ty = strip(btf, m.type_id)?;
        if m.name == name {
            return Some((m.bit_offset / 8, m_ty));
        }
        if m.name.is_empty() {
            if let Some((off, t)) = member(btf, &m_ty, name, depth + 1) {
                return Some((m.bit_offset / 8 + off, t));
            }
        }
    }
    None
}

/// Type `id` with typedefs and qualifiers followed to the underlying type (`None` for void).
fn strip(btf: &Btf, mut id: u32) -> Option<Type<'_>> {
    for _ in 0..16 {
        let ty = btf.ty(id)?;
        match ty.kind {
            kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
                id = ty.size_or_type;
            }
            _ => return Some(ty),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::btf_format::tests::{Strings, TypeSpec, blob_with};

    /// A kernel's BTF in miniature: typedefs, pointers, a bitfield, a member inside an
    /// anonymous union, and a tracepoint prototype.
    fn miniature() -> Btf {
        let mut s = Strings::new();
        let (a, b, x, inner, p) = (
            s.off("a"),
            s.off("b"),
            s.off("x"),
            s.off("inner"),
            s.off("p"),
        );
        let types: &[crate::kernel::btf_format::tests::TypeSpec<'_>] = &[
            ("long unsigned int", kind::INT, 0, false, 8, &[64]), // 1
            ("int", kind::INT, 0, false, 4, &[32]),               // 2
            ("", kind::PTR, 0, false, 0, &[]),                    // 3: void *
            ("pair", kind::STRUCT, 2, false, 8, &[a, 2, 0, b, 2, 32]), // 4
            ("", kind::UNION, 1, false, 8, &[inner, 4, 0]),       // 5
            // 6: `int x:4; union { struct pair inner; }; void *p;`
            (
                "outer",
                kind::STRUCT,
                3,
                true,
                24,
                &[x, 2, 4 << 24, 0, 5, 64, p, 3, 128],
            ),
            ("outer_t", kind::TYPEDEF, 0, false, 6, &[]), // 7
            ("", kind::FUNC_PROTO, 3, false, 0, &[0, 3, 0, 9, 0, 2]), // 8
            ("", kind::PTR, 0, false, 7, &[]),            // 9: outer_t *
            ("", kind::PTR, 0, false, 8, &[]),            // 10
            ("btf_trace_demo", kind::TYPEDEF, 0, false, 10, &[]), // 11
            ("_Bool", kind::INT, 0, false, 1, &[(4 << 24) | 8]), // 12
        ];
        Btf::parse(blob_with(types, s)).unwrap()
    }

    #[test]
    fn layouts_of_a_miniature_kernel() {
        let btf = miniature();
        assert_eq!(offset_of(&btf, "outer", "x"), Some(0));
        assert_eq!(offset_of(&btf, "outer", "inner"), Some(8));
        assert_eq!(offset_of(&btf, "outer", "inner.b"), Some(12));
        // a member of the anonymous union is found as if it were the struct's own
        assert_eq!(offset_of(&btf, "outer", "p"), Some(16));
        assert_eq!(offset_of(&btf, "outer", "nope"), None);
        assert_eq!(
            offset_of(&btf, "outer_t", "p"),
            None,
            "a typedef is not a struct"
        );
        assert_eq!(pointer_size(&btf), Some(8));
        assert_eq!(member_size(&btf, "outer", "p"), Some(8));
        assert_eq!(member_size(&btf, "outer", "inner.a"), Some(4));
        assert_eq!(member_size(&btf, "outer", "inner"), None);
        assert_eq!(
            tracepoint_prototype(&btf, "demo").unwrap(),
            ["outer_t *", "int"]
        );
        assert!(tracepoint_prototype(&btf, "other").is_err());
    }

    #[test]
    fn the_btf_for_aya_holds_the_functions_at_their_kernel_ids() {
        use aya_obj::btf::BtfKind;
        let s = Strings::new();
        let types: &[TypeSpec<'_>] = &[
            ("int", kind::INT, 0, false, 4, &[32]),             // 1
            ("", kind::FUNC_PROTO, 0, false, 1, &[]),           // 2
            ("tty_read", kind::FUNC, 1, false, 2, &[]),         // 3
            ("tty_read", kind::TYPEDEF, 0, false, 1, &[]),      // 4: same name, other kind
            ("uart_insert_char", kind::FUNC, 1, false, 2, &[]), // 5
            ("after", kind::FUNC, 1, false, 2, &[]),            // 6
        ];
        let kernel = Btf::parse(blob_with(types, s)).unwrap();
        let ids = function_ids(&kernel, &["uart_insert_char", "tty_read", "absent"]);
        let aya = for_aya_functions(&ids).unwrap();
        assert_eq!(
            aya.id_by_type_name_kind("tty_read", BtfKind::Func).unwrap(),
            3
        );
        assert_eq!(
            aya.id_by_type_name_kind("uart_insert_char", BtfKind::Func)
                .unwrap(),
            5
        );
        assert!(aya.id_by_type_name_kind("absent", BtfKind::Func).is_err());
        assert!(
            aya.id_by_type_name_kind("after", BtfKind::Func).is_err(),
            "not asked for"
        );
    }

    #[test]
    fn the_btf_for_aya_agrees_with_this_kernel() {
        use aya_obj::btf::BtfKind;
        let kernel = &*layouts().expect("this machine has kernel BTF");
        let names = [
            "tty_read",
            "uart_insert_char",
            "tty_port_default_receive_buf",
        ];
        let aya = for_aya_functions(&function_ids(kernel, &names)).unwrap();
        for name in names {
            let want = kernel
                .by_name(name)
                .find(|t| t.kind == kind::FUNC)
                .map(|t| t.id);
            assert_eq!(
                aya.id_by_type_name_kind(name, BtfKind::Func).ok(),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn resolves_nested_and_anonymous_members_of_this_kernel() {
        // Every kernel the project supports has BTF; the layout is the running one's.
        let btf = &*layouts().expect("this machine has kernel BTF");
        let buf = offset_of(btf, "tty_port", "buf").expect("tty_port.buf");
        let used = offset_of(btf, "tty_port", "buf.mem_used").expect("tty_port.buf.mem_used");
        let inner = offset_of(btf, "tty_bufhead", "mem_used").unwrap();
        assert_eq!(used, buf + inner);
        // 6.x: iov_iter.count lives in an anonymous struct inside an anonymous union
        let count = offset_of(btf, "iov_iter", "count").expect("iov_iter.count");
        assert!(count > 0);
        assert_eq!(offset_of(btf, "kiocb", "ki_filp"), Some(0));
        assert_eq!(offset_of(btf, "tty_port", "no_such_member"), None);
        assert!(
            require_offset(btf, "tty_port", "nope")
                .unwrap_err()
                .contains("tty_port")
        );
    }

    #[test]
    fn tracepoint_prototypes_come_from_this_kernels_btf() {
        let btf = &*layouts().expect("this machine has kernel BTF");
        let p = tracepoint_prototype(btf, "hrtimer_expire_entry").unwrap();
        assert_eq!(p, ["struct hrtimer *", "ktime_t *"]);
        let p = tracepoint_prototype(btf, "sched_switch").unwrap();
        assert_eq!(
            &p[..3],
            ["bool", "struct task_struct *", "struct task_struct *"]
        );
        assert_eq!(
            tracepoint_prototype(btf, "sched_waking").unwrap(),
            ["struct task_struct *"]
        );
        assert!(
            tracepoint_prototype(btf, "no_such_tracepoint")
                .unwrap_err()
                .contains("btf_trace_no_such_tracepoint")
        );
    }

    #[test]
    fn member_widths_come_from_this_kernels_btf() {
        let btf = &*layouts().expect("this machine has kernel BTF");
        let long = pointer_size(btf).expect("unsigned long");
        assert_eq!(long as usize, size_of::<usize>(), "the host's own width");
        // pointers, size_t and int members, through typedefs and anonymous unions
        assert_eq!(member_size(btf, "tty_port", "itty"), Some(long));
        assert_eq!(member_size(btf, "iov_iter", "count"), Some(long));
        assert_eq!(member_size(btf, "tty_port", "buf.mem_limit"), Some(4));
        assert_eq!(require_member_size(btf, "kiocb", "ki_filp"), Ok(long));
        // a struct member has no scalar width
        assert!(
            require_member_size(btf, "tty_port", "buf")
                .unwrap_err()
                .contains("integer or pointer")
        );
    }
}
