//! `cargo xtask test`: every test, in order of cost. Lints, unit tests (pure: decode, trace
//! format, analysis on synthetic events), then the privileged host tests (real eBPF on this
//! kernel; they need root).

use std::process::Command;

use anyhow::{Result, bail};
use clap::Args;

use crate::util::{self, root, sh};

#[derive(Args)]
pub struct TestArgs {
    /// Skip rustfmt and clippy.
    #[arg(long)]
    no_lint: bool,
    /// Skip the host tests that need root (load/attach real programs).
    #[arg(long)]
    no_privileged: bool,
    /// Skip the VM matrix (Debian kernels under QEMU).
    #[arg(long)]
    no_vm: bool,
    /// Boot every kernel of both architectures' matrices and run every matrix scenario on each
    /// (default: what CI's budget holds: each architecture's fentry and kprobe kernels, x86_64
    /// 6.1 and 5.10-old and arm64 6.1 and 6.12-rt only with this; usb-serial on x86_64 6.12
    /// and arm64 5.10 only); then
    /// the armv7 build's reports against x86_64's (`cargo xtask dist --arch armv7 --verify`).
    #[arg(long)]
    full_matrix: bool,
    /// Skip the bounded fuzz run.
    #[arg(long)]
    no_fuzz: bool,
    /// Seconds the bounded fuzz run gives each target.
    #[arg(long, default_value_t = 30)]
    fuzz_seconds: u64,
    /// Run `.ci/run` as on a new machine instead: a clean clone of HEAD, an empty CARGO_HOME
    /// and HOME, and every program apt installed by hand since boot hidden (needs root).
    /// Proves that setup installs everything the tests use.
    #[arg(long, conflicts_with_all = ["no_lint", "no_privileged", "no_vm", "no_fuzz"])]
    fresh: bool,
}

pub fn run_lints() -> Result<()> {
    let r = root();
    sh(Command::new("cargo")
        .current_dir(&r)
        .args(["fmt", "--all", "--check"]))?;
    sh(Command::new("cargo").current_dir(&r).args([
        "clippy",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The eBPF crate builds only for the BPF target with nightly.
    sh(Command::new("cargo")
        .current_dir(r.join("serial-trace-ebpf"))
        .args([
            "+nightly",
            "clippy",
            "--release",
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
            "--",
            "-D",
            "warnings",
        ]))
}

pub fn run(a: TestArgs) -> Result<()> {
    if a.fresh {
        return crate::fresh::run();
    }
    crate::setup::run()?;
    if !a.no_lint {
        run_lints()?;
    }
    let r = root();
    // Unit tests: everything that needs no privileges.
    sh(Command::new("cargo").current_dir(&r).args(["test"]))?;
    if a.no_fuzz {
        eprintln!("xtask: fuzzing skipped (--no-fuzz)");
    } else {
        crate::fuzz::run(crate::fuzz::FuzzArgs {
            seconds: a.fuzz_seconds,
            targets: Vec::new(),
        })?;
    }
    if a.no_privileged {
        eprintln!("xtask: privileged host tests skipped (--no-privileged)");
        return Ok(());
    }
    if !util::is_root() {
        bail!(
            "the host tests load eBPF programs and need root: run `sudo -E cargo xtask test`, or pass --no-privileged"
        );
    }
    // Privileged tests: the `host` integration tests and the root-only unit tests (e.g. reading
    // a loaded program's kernel counters). The host tests run the workload from the same
    // target directory.
    sh(Command::new("cargo").current_dir(&r).args([
        "build",
        "--package",
        "serial-trace-workloads",
    ]))?;
    sh(Command::new("cargo").current_dir(&r).args([
        "test",
        "--package",
        "serial-trace",
        "--",
        "--ignored",
        "--test-threads=1",
    ]))?;
    if a.no_vm {
        eprintln!("xtask: VM matrix skipped (--no-vm)");
    } else {
        // both architectures run before the verdict, which names every failing check
        let mut results = Vec::new();
        for arch in [crate::vm::Arch::X86_64, crate::vm::Arch::Arm64] {
            results.extend(crate::vm::run_matrix(&crate::vm::VmArgs {
                arch,
                kernels: if a.full_matrix {
                    Vec::new()
                } else {
                    crate::vm::test_kernels(arch)
                },
                full: a.full_matrix,
                ..Default::default()
            })?);
        }
        crate::vm::verdict(&results)?;
    }
    if a.full_matrix {
        // 32-bit ARM has no guest (no Debian armhf kernel has BTF): its build's reports are
        // held to the x86_64 build's under QEMU's user-mode emulator instead
        crate::dist::run(crate::dist::DistArgs {
            arches: vec![crate::dist::Target::Armv7],
            verify: true,
        })?;
    }
    eprintln!("xtask: all tests passed");
    Ok(())
}
