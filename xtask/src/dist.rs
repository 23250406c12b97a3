//! `cargo xtask dist`: one static, stripped `serial-trace` per architecture, ready to copy to
//! a board, with SHA-256 checksums, in `target/dist/`. The VM guests run these very files
//! (`vm::guest` takes `serial-trace` from here), so what is shipped is what the matrix tested.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

use clap::ValueEnum;

use crate::util::{root, sh, stdout_of};

#[derive(Args)]
pub struct DistArgs {
    /// Architectures to build (default: all three). The cross toolchain of each is installed
    /// when missing.
    #[arg(long = "arch", value_enum)]
    pub arches: Vec<Target>,
    /// Also run each foreign binary under QEMU's user-mode emulator (Debian's
    /// qemu-user-static, installed when missing) on every golden trace: its reports (text and
    /// JSON) must equal the x86_64 build's byte for byte (decode and analysis on that
    /// architecture, e.g. 32-bit ARM's, where no VM guest can prove the rest).
    #[arg(long)]
    pub verify: bool,
}

/// What `cargo xtask dist` builds for: the VM guests' two architectures and 32-bit ARM, whose
/// build is shipped without a guest to prove it in (no Debian armhf kernel has BTF: README,
/// "32-bit ARM").
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    #[value(name = "x86_64", alias = "amd64")]
    X86_64,
    #[value(name = "aarch64", alias = "arm64")]
    Aarch64,
    /// ARMv7 hard-float (Raspberry Pi 2/3 on 32-bit OS, i.MX6, AM335x). musl has no prebuilt
    /// std for it in rustup, so it is glibc, linked statically like the others.
    #[value(name = "armv7", alias = "armhf")]
    Armv7,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::X86_64, Target::Aarch64, Target::Armv7];

    pub fn rust_target(self) -> &'static str {
        match self {
            Target::X86_64 => "x86_64-unknown-linux-gnu",
            Target::Aarch64 => "aarch64-unknown-linux-gnu",
            Target::Armv7 => "armv7-unknown-linux-gnueabihf",
        }
    }

    /// The linker for this target from an x86_64 host (Debian's cross gcc), as cargo's
    /// environment variable.
    pub fn cross_linker(self) -> Option<(&'static str, &'static str)> {
        match self {
            Target::X86_64 => None,
            Target::Aarch64 => Some((
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
                "aarch64-linux-gnu-gcc",
            )),
            Target::Armv7 => Some((
                "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER",
                "arm-linux-gnueabihf-gcc",
            )),
        }
    }

    /// binutils' `strip` for this target's ELF files.
    pub fn strip_tool(self) -> &'static str {
        match self {
            Target::X86_64 => "strip",
            Target::Aarch64 => "aarch64-linux-gnu-strip",
            Target::Armv7 => "arm-linux-gnueabihf-strip",
        }
    }

    /// Debian packages of the cross toolchain (binary, package); the static C library is only
    /// recommended by the cross gcc, which setup installs without recommends.
    pub fn cross_packages(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Target::X86_64 => &[],
            Target::Aarch64 => &[
                ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
                ("/usr/aarch64-linux-gnu/lib/libc.a", "libc6-dev-arm64-cross"),
            ],
            Target::Armv7 => &[
                ("arm-linux-gnueabihf-gcc", "gcc-arm-linux-gnueabihf"),
                (
                    "/usr/arm-linux-gnueabihf/lib/libc.a",
                    "libc6-dev-armhf-cross",
                ),
            ],
        }
    }

    /// QEMU's user-mode emulator that runs this target's binaries on the x86_64 host, and its
    /// Debian package (binary, package).
    pub fn user_emulator_package(self) -> Option<&'static (&'static str, &'static str)> {
        match self {
            Target::X86_64 => None,
            Target::Aarch64 => Some(&("qemu-aarch64-static", "qemu-user-static")),
            Target::Armv7 => Some(&("qemu-arm-static", "qemu-user-static")),
        }
    }

    /// Installs this target's cross toolchain and Rust standard library when missing.
    pub fn ensure_toolchain(self) -> Result<()> {
        crate::setup::debian_packages(self.cross_packages())?;
        crate::setup::rust_target(self.rust_target())
    }
}

/// Builds the static binaries of serial-trace and the workloads for `arch` into
/// `target/guest` (own target dir: different RUSTFLAGS would otherwise rebuild the host
/// binaries every time) and returns their folder. The eBPF object inside serial-trace is built
/// by its `build.rs` for the same target, so its kprobes read that architecture's registers.
pub fn build_static(arch: Target) -> Result<PathBuf> {
    arch.ensure_toolchain()?;
    let r = root();
    let mut cargo = Command::new("cargo");
    cargo
        .current_dir(&r)
        .args(["build", "--release", "--target", arch.rust_target()])
        .args(["--target-dir", "target/guest"])
        .args([
            "--package",
            "serial-trace",
            "--package",
            "serial-trace-workloads",
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    if let Some((var, linker)) = arch.cross_linker() {
        cargo.env(var, linker);
    }
    sh(&mut cargo)?;
    Ok(r.join("target/guest")
        .join(arch.rust_target())
        .join("release"))
}

/// The shipped file of `arch`: the static build, stripped of its own symbols and debug
/// information (the embedded eBPF object is data and keeps its symbols, which the loader
/// needs), checked to still hold that object.
pub fn package(arch: Target) -> Result<PathBuf> {
    let built = build_static(arch)?.join("serial-trace");
    let out = root().join("target/dist");
    std::fs::create_dir_all(&out)?;
    let version = env!("CARGO_PKG_VERSION");
    let path = out.join(format!("serial-trace-{version}-{}", arch.rust_target()));
    sh(Command::new(arch.strip_tool())
        .arg("--strip-all")
        .arg("-o")
        .arg(&path)
        .arg(&built))?;
    let bytes = std::fs::read(&path)?;
    if !holds_bpf_object(&bytes) {
        bail!(
            "{}: no eBPF object inside after stripping (was it built without the `ebpf` feature?)",
            path.display()
        );
    }
    Ok(path)
}

/// The manual pages (`DIR/man/*.1`) and shell completions (`DIR/completions/`), written by
/// this machine's own build: they come from the one clap definition and are the same for
/// every architecture.
fn pages_and_completions(dir: &Path) -> Result<()> {
    crate::util::build_release(&["--bin", "serial-trace"])?;
    let bin = root().join("target/release/serial-trace");
    sh(Command::new(&bin)
        .args(["man", "--out-dir"])
        .arg(dir.join("man")))?;
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)?;
    for (shell, file) in [
        ("bash", "serial-trace.bash"),
        ("zsh", "_serial-trace"),
        ("fish", "serial-trace.fish"),
    ] {
        let script = stdout_of(Command::new(&bin).args(["completions", shell]))
            .with_context(|| format!("serial-trace completions {shell}"))?;
        std::fs::write(completions.join(file), script + "\n")?;
    }
    eprintln!(
        "xtask: dist: manual pages in {}, completions in {}",
        dir.join("man").display(),
        completions.display()
    );
    Ok(())
}

/// Whether an ELF file of machine EM_BPF (247) is embedded in `bytes` (past the file's own
/// header).
fn holds_bpf_object(bytes: &[u8]) -> bool {
    const MAGIC: &[u8] = b"\x7fELF\x02\x01\x01";
    bytes
        .windows(MAGIC.len())
        .enumerate()
        .skip(1)
        .filter(|(_, w)| *w == MAGIC)
        .any(|(i, _)| bytes.get(i + 18..i + 20) == Some(&[247, 0][..]))
}

pub fn run(a: DistArgs) -> Result<()> {
    crate::setup::run()?;
    let arches = if a.arches.is_empty() {
        Target::ALL.to_vec()
    } else {
        a.arches
    };
    let mut files = Vec::new();
    for arch in &arches {
        files.push(package(*arch)?);
    }
    if a.verify {
        for (arch, file) in arches.iter().zip(&files) {
            verify(*arch, file)?;
        }
    }
    let dir = root().join("target/dist");
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let sums = stdout_of(Command::new("sha256sum").current_dir(&dir).args(&names))
        .context("sha256sum failed")?;
    std::fs::write(dir.join("SHA256SUMS"), sums.clone() + "\n")?;
    pages_and_completions(&dir)?;
    for f in &files {
        eprintln!(
            "xtask: dist: {} ({:.1} MiB)",
            f.display(),
            size(f) as f64 / (1024.0 * 1024.0)
        );
    }
    eprintln!(
        "xtask: dist: checksums in {}",
        dir.join("SHA256SUMS").display()
    );
    Ok(())
}

/// Runs `file` (a build for `arch`) under QEMU's user-mode emulator on every golden trace and
/// holds its text and JSON reports to the x86_64 build's, byte for byte.
fn verify(arch: Target, file: &Path) -> Result<()> {
    let Some(&(emulator, package)) = arch.user_emulator_package() else {
        return Ok(());
    };
    crate::setup::debian_packages(&[(emulator, package)])?;
    let host = build_static(Target::X86_64)?.join("serial-trace");
    // the traces the golden test pins: real VM recordings and the fuzz seeds
    let mut traces = Vec::new();
    for dir in ["serial-trace/tests/golden", "fuzz/seeds"] {
        traces.extend(
            std::fs::read_dir(root().join(dir))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "trace")),
        );
    }
    traces.sort();
    let report = |cmd: &mut Command, trace: &Path, format: &str| -> Result<Vec<u8>> {
        let o = cmd
            .args(["report", "--color", "never", "--format", format])
            .arg(trace)
            .output()?;
        if !o.status.success() {
            bail!(
                "report {} failed: {}",
                trace.display(),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Ok(o.stdout)
    };
    for trace in &traces {
        for format in ["text", "json"] {
            let theirs = report(Command::new(emulator).arg(file), trace, format)?;
            let ours = report(&mut Command::new(&host), trace, format)?;
            if theirs != ours {
                bail!(
                    "{}: the {format} report of {} differs from the x86_64 build's",
                    file.display(),
                    trace.display()
                );
            }
        }
    }
    eprintln!(
        "xtask: dist: {} under {emulator}: text and JSON reports of {} golden traces equal the x86_64 build's",
        file.display(),
        traces.len()
    );
    Ok(())
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_an_embedded_bpf_object_only() {
        let mut host = b"\x7fELF\x02\x01\x01".to_vec();
        host.resize(64, 0);
        host[18] = 62; // the file itself: x86_64
        assert!(!holds_bpf_object(&host));
        let mut obj = b"\x7fELF\x02\x01\x01".to_vec();
        obj.resize(64, 0);
        obj[18] = 247;
        host.extend_from_slice(&obj);
        assert!(holds_bpf_object(&host));
    }
}
