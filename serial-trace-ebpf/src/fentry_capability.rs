//! A do-nothing fentry program. `serial-trace probe` loads it against a serial-path function to
//! learn, from the kernel itself, whether fentry/fexit programs are allowed here (some kernels
//! refuse them with EPERM when the function tracer is locked down).

use aya_ebpf::{macros::fentry, programs::FEntryContext};

/// Attached to nothing; only loaded. Target chosen at load time (e.g. `uart_insert_char`).
#[fentry]
pub fn fentry_capability(_ctx: FEntryContext) -> u32 {
    0
}
