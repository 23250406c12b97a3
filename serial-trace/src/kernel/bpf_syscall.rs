//! The `bpf()` system call, for the few questions asked of the kernel without aya: a
//! program's run counters (`prog_stats`) and whether a fentry program attaches at all
//! ([`fentry_attaches`]: aya would first parse the whole kernel BTF into 16 MB of objects
//! just to look up the target function's id).

use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `BPF_PROG_LOAD` from `enum bpf_cmd`.
const BPF_PROG_LOAD: libc::c_long = 5;
/// `BPF_RAW_TRACEPOINT_OPEN`: attaches a tracing program to its BTF target (5.5+).
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
/// `BPF_PROG_TYPE_SOCKET_FILTER`, `BPF_PROG_TYPE_TRACING`.
pub const PROG_TYPE_SOCKET_FILTER: u32 = 1;
const PROG_TYPE_TRACING: u32 = 26;
/// `BPF_TRACE_FENTRY` from `enum bpf_attach_type`.
const TRACE_FENTRY: u32 = 24;

/// The `bpf()` system call with a `union bpf_attr` prefix `T`; the kernel's result or errno.
///
/// # Safety
/// `attr` must point to a valid, initialised `bpf_attr` prefix for `cmd` whose pointers are
/// valid for what `cmd` reads and writes.
pub unsafe fn sys_bpf<T>(cmd: libc::c_long, attr: *mut T) -> io::Result<libc::c_long> {
    // SAFETY: upheld by the caller.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr, size_of::<T>() as libc::c_uint) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret)
}

/// The `BPF_PROG_LOAD` member of `union bpf_attr`, up to `attach_btf_id` (5.5+; the kernel
/// zero-extends a shorter attr and refuses a longer one it does not know only if the extra
/// bytes are not zero).
#[repr(C, align(8))]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
}
const _: () = {
    assert!(offset_of!(ProgLoadAttr, prog_name) == 48);
    assert!(offset_of!(ProgLoadAttr, expected_attach_type) == 68);
    assert!(offset_of!(ProgLoadAttr, attach_btf_id) == 108);
    assert!(size_of::<ProgLoadAttr>() == 112);
};

/// `struct bpf_insn`: code, dst_reg:4|src_reg:4, off, imm.
#[repr(C)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

/// `r0 = 0; exit`.
const RETURN_0: [Insn; 2] = [
    // BPF_ALU64 | BPF_MOV | BPF_K
    Insn {
        code: 0xb7,
        regs: 0,
        off: 0,
        imm: 0,
    },
    // BPF_JMP | BPF_EXIT
    Insn {
        code: 0x95,
        regs: 0,
        off: 0,
        imm: 0,
    },
];

/// Loads the program that returns 0 as `prog_type` (with `expected_attach_type` and
/// `attach_btf_id` for tracing programs).
fn load_return_0(
    prog_type: u32,
    expected_attach_type: u32,
    attach_btf_id: u32,
) -> io::Result<OwnedFd> {
    let license = c"GPL";
    let mut attr = ProgLoadAttr {
        prog_type,
        insn_cnt: RETURN_0.len() as u32,
        insns: RETURN_0.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type,
        attach_btf_id,
        ..ProgLoadAttr::default()
    };
    // SAFETY: `attr` is a valid `bpf_attr` prefix and its pointers refer to live values.
    let fd = unsafe { sys_bpf(BPF_PROG_LOAD, &raw mut attr) }?;
    // SAFETY: on success the syscall returns a new fd we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Loads a program of `prog_type` that does nothing (for tests of the counters).
pub fn load_trivial(prog_type: u32) -> io::Result<OwnedFd> {
    load_return_0(prog_type, 0, 0)
}

/// Whether a fentry program loads on the function of BTF id `btf_id` and attaches: arm64
/// before 6.4 loads fentry programs but refuses every attach (no ftrace direct calls), and a
/// locked-down kernel refuses the load. The link is closed at once.
pub fn fentry_attaches(btf_id: u32) -> io::Result<()> {
    let prog = load_return_0(PROG_TYPE_TRACING, TRACE_FENTRY, btf_id)?;
    /// The `raw_tracepoint` member of `union bpf_attr`: no name attaches a tracing program
    /// to the target it was loaded for.
    #[repr(C, align(8))]
    struct RawTracepointOpenAttr {
        name: u64,
        prog_fd: u32,
        _pad: u32,
    }
    let mut attr = RawTracepointOpenAttr {
        name: 0,
        prog_fd: prog.as_raw_fd() as u32,
        _pad: 0,
    };
    // SAFETY: a valid `bpf_attr` prefix with no pointers.
    let link = unsafe { sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &raw mut attr) }?;
    // SAFETY: the new link's fd, ours; closing it detaches.
    drop(unsafe { OwnedFd::from_raw_fd(link as i32) });
    Ok(())
}
