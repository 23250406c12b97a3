//! Per-program run statistics read straight from the kernel, in particular
//! `recursion_misses`.
//!
//! The kernel refuses to run a BPF program while another invocation of the
//! same program (or, for tracing programs, of any tracing program guarded by
//! the per-CPU `bpf_prog_active` counter) is already running on that CPU —
//! e.g. a tracepoint firing in an interrupt that arrives while one of our
//! programs runs on the same CPU. Those invocations are silently skipped and,
//! since Linux 5.12, counted per program in
//! `struct bpf_prog_info.recursion_misses`. A non-zero value is the kernel
//! telling us about events our programs never saw, so the trace is incomplete
//! for exactly those events and the report should say so.
//!
//! aya 0.14's `ProgramInfo` does not expose this field, so we issue
//! `BPF_OBJ_GET_INFO_BY_FD` ourselves with a `#[repr(C)]` copy of the UAPI
//! struct.

// Not wired into the rest of the tool yet; remove once a caller uses it.

use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::kernel::bpf_syscall::sys_bpf;

/// `BPF_OBJ_GET_INFO_BY_FD` from `enum bpf_cmd` (include/uapi/linux/bpf.h).
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;

/// Run statistics of one loaded BPF program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgStats {
    /// Number of times the program ran. Only counted while the sysctl
    /// `kernel.bpf_stats_enabled` is 1 (it is 0 by default because the
    /// accounting costs a few ns per run); otherwise it stays 0. We do not
    /// rely on it.
    pub run_cnt: u64,
    /// Total time spent running the program, in ns. Same caveat as
    /// `run_cnt`: only counted while `kernel.bpf_stats_enabled` is 1.
    pub run_time_ns: u64,
    /// Number of times the kernel skipped the program because running it
    /// would have recursed on the same CPU, i.e. events the program never
    /// saw. Always counted (no sysctl needed), but only on Linux 5.12+; 0
    /// when `misses_supported` is false.
    pub recursion_misses: u64,
    /// Whether the running kernel reports `recursion_misses` at all (it
    /// filled in `bpf_prog_info` at least up to and including that field).
    /// False on kernels older than 5.12, where a 0 means "unknown", not
    /// "no misses".
    pub misses_supported: bool,
}

/// `BPF_TAG_SIZE`.
const BPF_TAG_SIZE: usize = 8;
/// `BPF_OBJ_NAME_LEN`.
const BPF_OBJ_NAME_LEN: usize = 16;

/// Copy of the UAPI `struct bpf_prog_info` (include/uapi/linux/bpf.h) up to
/// and including `attach_btf_id` plus its trailing 32-bit pad. Newer kernels
/// may append fields; the kernel only copies out as much as `info_len` says
/// we have room for, and tells us how much it filled.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default)]
struct BpfProgInfo {
    type_: u32,
    id: u32,
    tag: [u8; BPF_TAG_SIZE],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; BPF_OBJ_NAME_LEN],
    ifindex: u32,
    /// `gpl_compatible:1` followed by a 31-bit pad, i.e. one `__u32`.
    gpl_compatible: u32,
    netns_dev: u64,
    netns_ino: u64,
    nr_jited_ksyms: u32,
    nr_jited_func_lens: u32,
    jited_ksyms: u64,
    jited_func_lens: u64,
    btf_id: u32,
    func_info_rec_size: u32,
    func_info: u64,
    nr_func_info: u32,
    nr_line_info: u32,
    line_info: u64,
    jited_line_info: u64,
    nr_jited_line_info: u32,
    line_info_rec_size: u32,
    jited_line_info_rec_size: u32,
    nr_prog_tags: u32,
    prog_tags: u64,
    run_time_ns: u64,
    run_cnt: u64,
    /// Linux 5.12+.
    recursion_misses: u64,
    verified_insns: u32,
    attach_btf_obj_id: u32,
    attach_btf_id: u32,
    _pad: u32,
}

// Offsets as laid out by the UAPI header (checked against gcc's offsetof on
// /usr/include/linux/bpf.h from a 6.18 kernel).
const _: () = {
    assert!(offset_of!(BpfProgInfo, name) == 64);
    assert!(offset_of!(BpfProgInfo, netns_dev) == 88);
    assert!(offset_of!(BpfProgInfo, prog_tags) == 184);
    assert!(offset_of!(BpfProgInfo, run_time_ns) == 192);
    assert!(offset_of!(BpfProgInfo, run_cnt) == 200);
    assert!(offset_of!(BpfProgInfo, recursion_misses) == 208);
    assert!(offset_of!(BpfProgInfo, verified_insns) == 216);
    assert!(size_of::<BpfProgInfo>() == 232);
};

/// Bytes of `bpf_prog_info` the kernel must fill for `recursion_misses` to be
/// valid.
const MISSES_END: usize = offset_of!(BpfProgInfo, recursion_misses) + size_of::<u64>();

/// The `info` member of `union bpf_attr` used by `BPF_OBJ_GET_INFO_BY_FD`.
/// Passing only this prefix of the union is fine: the kernel zero-extends a
/// shorter attr.
#[repr(C, align(8))]
struct BpfAttrInfo {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

const _: () = assert!(size_of::<BpfAttrInfo>() == 16);

/// Reads the run statistics of the BPF program behind `fd` (any program fd,
/// e.g. from aya's `ProgramFd`, or one obtained by id).
///
/// See [`ProgStats`] for which fields are meaningful when: `recursion_misses`
/// needs Linux 5.12+ (`misses_supported`), `run_cnt`/`run_time_ns` need
/// `kernel.bpf_stats_enabled=1`.
pub fn prog_stats(fd: BorrowedFd<'_>) -> io::Result<ProgStats> {
    let mut info = BpfProgInfo::default();
    let mut attr = BpfAttrInfo {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: size_of::<BpfProgInfo>() as u32,
        info: &raw mut info as u64,
    };
    // SAFETY: `attr` is a valid `bpf_attr.info` prefix; `attr.info` points to `info`, which
    // is writable for `attr.info_len` bytes and outlives the call. The kernel writes at most
    // `info_len` bytes to it and updates `attr.info_len`.
    unsafe { sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &raw mut attr) }?;
    let misses_supported = attr.info_len as usize >= MISSES_END;
    Ok(ProgStats {
        run_cnt: info.run_cnt,
        run_time_ns: info.run_time_ns,
        recursion_misses: if misses_supported {
            info.recursion_misses
        } else {
            0
        },
        misses_supported,
    })
}

/// Whether the kernel `release` (as `uname -r`) counts the skips of *every* program type the
/// recorder attaches. Trampoline programs (fentry/fexit) count them since 5.12, but programs run
/// through `trace_call_bpf` (classic tracepoints, kprobes) only since 6.7; before that a
/// tracepoint or kprobe program skipped by the per-CPU guard leaves no trace at all.
pub fn all_skips_counted(release: &str) -> bool {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    match (it.next(), it.next()) {
        (Some(major), Some(minor)) => (major, minor) >= (6, 7),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_counted_from_6_7() {
        assert!(all_skips_counted("6.12.117+deb13-amd64"));
        assert!(all_skips_counted("6.18.44-fc-v669"));
        assert!(all_skips_counted("6.7.0"));
        assert!(!all_skips_counted("6.1.0-56-amd64"));
        assert!(!all_skips_counted("5.10.0-46-amd64"));
        assert!(!all_skips_counted("garbage"));
    }
    use std::os::fd::AsFd;

    #[test]
    fn prog_stats_recursion_misses_offset_matches_uapi() {
        assert_eq!(offset_of!(BpfProgInfo, recursion_misses), 208);
        assert_eq!(MISSES_END, 216);
        assert_eq!(size_of::<BpfProgInfo>(), 232);
        assert_eq!(std::mem::align_of::<BpfProgInfo>(), 8);
    }

    #[test]
    #[ignore = "needs root: loads a BPF program"]
    fn prog_stats_of_loaded_prog() {
        let fd = crate::kernel::bpf_syscall::load_trivial(
            crate::kernel::bpf_syscall::PROG_TYPE_SOCKET_FILTER,
        )
        .expect("BPF_PROG_LOAD");
        let stats = prog_stats(fd.as_fd()).expect("BPF_OBJ_GET_INFO_BY_FD");
        assert_eq!(stats.run_cnt, 0, "{stats:?}");
        assert_eq!(stats.recursion_misses, 0, "{stats:?}");
        // recursion_misses exists since Linux 5.12; this machine runs 6.x.
        assert!(stats.misses_supported, "{stats:?}");
    }

    #[test]
    fn prog_stats_on_non_bpf_fd_fails() {
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(prog_stats(file.as_fd()).is_err());
    }
}
