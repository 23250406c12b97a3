//! serial-trace as a library: everything the `serial-trace` binary does, so that fuzz targets
//! (`fuzz/`) and other tools can drive the trace reader and the report pipeline directly.
//! The binary (`main.rs`) is only the command-line front end.

pub mod analysis;
pub mod check;
pub mod cli;
pub mod diff;
pub mod dump;
pub mod fmt;
pub mod hooks;
pub mod kernel;
pub mod monitor;
pub mod ports;
pub mod probe;
pub mod raw_tracepoints;
pub mod record;
pub mod render;
pub mod trace;
