//! serial-trace eBPF programs. One file per hook family; every program is a thin entry that
//! hands its context and kind id to the single [`emit::emit`] helper.
#![no_std]
#![feature(core_intrinsics)]
#![allow(internal_features)]
#![no_main]

mod emit;
mod port_timing;
mod power;
mod rtc;
mod sched;
mod serial;
mod timer;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // eBPF programs cannot panic at run time; the verifier rejects any path that could.
    loop {}
}

/// Required by the kernel for helpers such as `bpf_probe_read_kernel_str` on some kernels.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
