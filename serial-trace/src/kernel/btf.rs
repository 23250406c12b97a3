//! The running kernel's BTF (`/sys/kernel/btf/vmlinux`), parsed once per process and shared.
//!
//! Two readers of the same file, each parsed at most once: btf-rs walks struct layouts (aya-ebpf
//! has no CO-RE relocations, so every offset an eBPF program needs is resolved here and passed
//! to it as a load-time global), and aya needs its own `Btf` to load fentry/fexit programs.

use std::sync::OnceLock;

use btf_rs::{Btf, Type};

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// The kernel's BTF for struct layouts ([`offset_of`]), parsed on first use.
pub fn layouts() -> Result<&'static Btf, String> {
    static PARSED: OnceLock<Result<Btf, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            // Read whole, then parsed from memory: btf-rs parsing the file through a reader
            // seeks for every type (125,831 lseek calls for 6.18's vmlinux, 0.3 s under strace)
            let bytes = std::fs::read(VMLINUX_BTF)
                .map_err(|e| format!("no kernel BTF at {VMLINUX_BTF} ({e})"))?;
            Btf::from_bytes(&bytes)
                .map_err(|e| format!("kernel BTF at {VMLINUX_BTF} unreadable ({e})"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The kernel's BTF as aya reads it, for loading fentry/fexit programs, parsed on first use.
pub fn for_aya() -> Result<&'static aya::Btf, String> {
    static PARSED: OnceLock<Result<aya::Btf, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| aya::Btf::from_sys_fs().map_err(|e| format!("no kernel BTF ({e})")))
        .as_ref()
        .map_err(Clone::clone)
}

/// Byte offset of `path` (members separated by `.`, e.g. `buf.mem_used`) in `struct name`.
/// Members of anonymous structs and unions are found as if they were direct members, like C.
pub fn offset_of(btf: &Btf, name: &str, path: &str) -> Option<u32> {
    let types = btf.resolve_types_by_name(name).ok()?;
    types.iter().find_map(|t| match t {
        Type::Struct(_) | Type::Union(_) => path_member(btf, t, path).map(|(off, _)| off),
        _ => None,
    })
}

/// `offset_of`, or a message naming what the kernel lacks.
pub fn require_offset(btf: &Btf, name: &str, path: &str) -> Result<u32, String> {
    offset_of(btf, name, path)
        .ok_or_else(|| format!("kernel BTF has no member `{path}` in struct {name}"))
}

/// Size in bytes of the integer, enum or pointer member `path` of `struct name` (a 32-bit
/// kernel's pointers and `size_t` are 4 bytes): the width an eBPF program must read it with.
pub fn member_size(btf: &Btf, name: &str, path: &str) -> Option<u32> {
    let types = btf.resolve_types_by_name(name).ok()?;
    let ty = types.iter().find_map(|t| match t {
        Type::Struct(_) | Type::Union(_) => path_member(btf, t, path).map(|(_, ty)| ty),
        _ => None,
    })?;
    match ty {
        Type::Int(i) => Some(i.size() as u32),
        Type::Enum(e) => Some(e.size() as u32),
        Type::Enum64(e) => Some(e.size() as u32),
        Type::Ptr(_) => pointer_size(btf),
        _ => None,
    }
}

/// The kernel's pointer width: BTF gives pointers no size, and Linux's `long` is pointer-sized
/// on every architecture it runs on (ILP32, LP64).
pub fn pointer_size(btf: &Btf) -> Option<u32> {
    let types = btf.resolve_types_by_name("long unsigned int").ok()?;
    types.iter().find_map(|t| match t {
        Type::Int(i) => Some(i.size() as u32),
        _ => None,
    })
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
    let types = btf.resolve_types_by_name(&typedef).map_err(|_| missing())?;
    let Some(Type::Typedef(t)) = types.into_iter().find(|t| matches!(t, Type::Typedef(_))) else {
        return Err(missing());
    };
    let Ok(Type::Ptr(ptr)) = btf.resolve_chained_type(&t) else {
        return Err(missing());
    };
    let Ok(Type::FuncProto(proto)) = btf.resolve_chained_type(&ptr) else {
        return Err(missing());
    };
    // the first parameter is the probe's `void *__data`, not the tracepoint's
    proto
        .parameters
        .iter()
        .skip(1)
        .map(|p| {
            let ty = btf
                .resolve_chained_type(p)
                .map_err(|e| format!("{typedef}: {e}"))?;
            Ok(c_type(btf, &ty, 0))
        })
        .collect()
}

/// `ty` spelled as in C, typedef names kept and qualifiers dropped.
fn c_type(btf: &Btf, ty: &Type, depth: u32) -> String {
    let named = |prefix: &str, t: &dyn btf_rs::BtfType| {
        let n = btf.resolve_name(t).unwrap_or_default();
        if n.is_empty() {
            format!("{prefix}(anonymous)")
        } else {
            format!("{prefix}{n}")
        }
    };
    if depth > 8 {
        return "?".into();
    }
    match ty {
        Type::Void => "void".into(),
        Type::Int(i) if i.is_bool() => "bool".into(),
        Type::Int(i) => named("", i),
        Type::Typedef(t) => named("", t),
        Type::Struct(s) => named("struct ", s),
        Type::Union(u) => named("union ", u),
        Type::Enum(e) => named("enum ", e),
        Type::Enum64(e) => named("enum ", e),
        Type::Fwd(f) => named("struct ", f),
        Type::Ptr(p) => match btf.resolve_chained_type(p) {
            Ok(inner) => format!("{} *", c_type(btf, &inner, depth + 1)),
            Err(_) => "void *".into(),
        },
        Type::Volatile(t) | Type::Const(t) | Type::Restrict(t) => {
            match btf.resolve_chained_type(t) {
                Ok(inner) => c_type(btf, &inner, depth + 1),
                Err(_) => "?".into(),
            }
        }
        Type::TypeTag(t) => match btf.resolve_chained_type(t) {
            Ok(inner) => c_type(btf, &inner, depth + 1),
            Err(_) => "?".into(),
        },
        _ => "?".into(),
    }
}

/// The byte offset and type of the member at `path` (`.`-separated) in the struct/union `ty`.
fn path_member(btf: &Btf, ty: &Type, path: &str) -> Option<(u32, Type)> {
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
fn member(btf: &Btf, ty: &Type, name: &str, depth: u32) -> Option<(u32, Type)> {
    let (Type::Struct(s) | Type::Union(s)) = ty else {
        return None;
    };
    if depth > 8 {
        return None;
    }
    for m in &s.members {
        let m_name = btf.resolve_name(m).unwrap_or_default();
        let m_ty = strip(btf, btf.resolve_chained_type(m).ok()?)?;
        if m_name == name {
            return Some((m.bit_offset() / 8, m_ty));
        }
        if m_name.is_empty() {
            if let Some((off, t)) = member(btf, &m_ty, name, depth + 1) {
                return Some((m.bit_offset() / 8 + off, t));
            }
        }
    }
    None
}

/// Follows typedefs and qualifiers to the underlying type.
fn strip(btf: &Btf, mut ty: Type) -> Option<Type> {
    for _ in 0..16 {
        match &ty {
            Type::Typedef(t) => ty = btf.resolve_chained_type(t).ok()?,
            Type::Volatile(t) | Type::Const(t) | Type::Restrict(t) => {
                ty = btf.resolve_chained_type(t).ok()?;
            }
            Type::TypeTag(t) => ty = btf.resolve_chained_type(t).ok()?,
            _ => return Some(ty),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_nested_and_anonymous_members_of_this_kernel() {
        // Every kernel the project supports has BTF; the layout is the running one's.
        let btf = layouts().expect("this machine has kernel BTF");
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
        let btf = layouts().expect("this machine has kernel BTF");
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
        let btf = layouts().expect("this machine has kernel BTF");
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
