//! Project tasks: `cargo xtask setup | demo | test | vm | dist | fuzz | bench`. See README.md.

mod bench;
mod demo;
mod dist;
mod fresh;
mod fuzz;
mod setup;
mod test;
mod util;
mod vm;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xtask",
    about = "serial-trace build, setup, demo and test tasks"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install whatever is missing: nightly rust-src, bpf-linker, Debian packages. Idempotent.
    Setup,
    /// Set up, boot a Debian kernel under QEMU, record serial traffic across suspend, print
    /// the report (the README's first command).
    Demo(demo::DemoArgs),
    /// Set up, then run every test: lints, unit tests, privileged host tests (the README's
    /// second command; `.ci/run` calls it).
    Test(test::TestArgs),
    /// Boot Debian kernels under QEMU and check serial-trace against ground truth there.
    Vm(vm::VmArgs),
    /// Build one static, stripped serial-trace per architecture (x86_64, arm64) with
    /// checksums into target/dist/: the files the VM guests run, ready to copy to a board.
    Dist(dist::DistArgs),
    /// Fuzz the trace reader and the report pipeline (cargo-fuzz, libFuzzer + ASan).
    Fuzz(fuzz::FuzzArgs),
    /// Measure serial-trace against bpftrace and perf side by side (overhead per event,
    /// zero-loss rate, collector cost, trace size) and the report's throughput; rewrites
    /// BENCHMARKS.md. Needs root.
    Bench(bench::BenchArgs),
}

/// Errors end the output as one message with its causes, never a backtrace (CI sets
/// RUST_BACKTRACE, and CI logs keep only the tail: the failing checks must be in it).
fn main() -> std::process::ExitCode {
    match run(Cli::parse().task) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> anyhow::Result<()> {
    match task {
        Task::Setup => setup::run(),
        Task::Demo(a) => demo::run(a),
        Task::Test(a) => test::run(a),
        Task::Vm(a) => vm::run(a),
        Task::Dist(a) => dist::run(a),
        Task::Bench(a) => bench::run(a),
        Task::Fuzz(a) => {
            setup::run()?;
            fuzz::run(a)
        }
    }
}
