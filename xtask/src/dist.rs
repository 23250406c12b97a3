//! `cargo xtask dist`: one static, stripped `serial-trace` per architecture, ready to copy to
//! a board, with SHA-256 checksums, in `target/dist/`. The VM guests run these very files
//! (`vm::guest` takes `serial-trace` from here), so what is shipped is what the matrix tested.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::util::{root, sh, stdout_of};
use crate::vm::Arch;

#[derive(Args)]
pub struct DistArgs {
    /// Architectures to build (default: x86_64 and arm64).
    #[arg(long = "arch", value_enum)]
    pub arches: Vec<Arch>,
}

/// Builds the static binaries of serial-trace and the workloads for `arch` into
/// `target/guest` (own target dir: different RUSTFLAGS would otherwise rebuild the host
/// binaries every time) and returns their folder. The eBPF object inside serial-trace is built
/// by its `build.rs` for the same target, so its kprobes read that architecture's registers.
pub fn build_static(arch: Arch) -> Result<PathBuf> {
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
pub fn package(arch: Arch) -> Result<PathBuf> {
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
        vec![Arch::X86_64, Arch::Arm64]
    } else {
        a.arches
    };
    let mut files = Vec::new();
    for arch in arches {
        files.push(package(arch)?);
    }
    let dir = root().join("target/dist");
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let sums = stdout_of(Command::new("sha256sum").current_dir(&dir).args(&names))
        .context("sha256sum failed")?;
    std::fs::write(dir.join("SHA256SUMS"), sums.clone() + "\n")?;
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
