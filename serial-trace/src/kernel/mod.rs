//! Facts about the running kernel, and the only place the recorder reads them: its BTF
//! (parsed once per process), symbols, tracefs formats, which callbacks wake a task, program
//! run counters, clocks, capabilities, errno spelling, the kernel's log, and the system's
//! timer and power settings (`system_setup`). `analysis/`, `render/` and `trace/`
//! never come here: what they need from the kernel is in the trace header.

pub mod bpf_syscall;
pub mod btf;
pub mod btf_format;
pub mod clock;
pub mod errno;
pub mod kallsyms;
pub mod kernel_log;
pub mod privileges;
pub mod prog_stats;
pub mod signals;
pub mod sysinfo;
pub mod system_setup;
pub mod tracefs;
pub mod wakeup;
