//! `cargo xtask setup`: makes a fresh machine able to build and test serial-trace, installing
//! only what is missing, from rustup, crates.io and Debian's archive (README, Tests: what and why). Fast when
//! everything is present: it only runs version checks.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{self, sh, stdout_of};

/// bpf-linker release that builds against the nightly's LLVM here (0.13 supports LLVM 20–22).
const BPF_LINKER_VERSION: &str = "0.13.0";

/// Headless Chromium for the HTML report's browser test (`serial-trace/tests/html_browser.rs`):
/// (binary that must be on PATH, Debian package).
const BROWSER_PACKAGES: &[(&str, &str)] = &[("chromium", "chromium")];
/// What the CLI tests render the manual pages with (`man -l`).
const MAN_PACKAGES: &[(&str, &str)] = &[("man", "man-db")];

pub fn run() -> Result<()> {
    nightly_with_rust_src()?;
    rust_targets()?;
    bpf_linker()?;
    cargo_fuzz()?;
    debian_packages(&test_packages())?;
    perfetto_python()?;
    eprintln!("xtask: setup complete");
    Ok(())
}

/// A real Prometheus server scrapes `monitor --metrics` in a host test, and its `promtool`
/// checks the endpoint's text.
const PROMETHEUS_PACKAGES: &[(&str, &str)] =
    &[("prometheus", "prometheus"), ("promtool", "prometheus")];

/// The Debian packages the tests and the demo need, as (binary that must be on PATH, package):
/// QEMU and a static busybox for the VM matrix and the demo, Chromium for the HTML report's
/// browser test, Prometheus for the metrics test. Installed with one `apt-get update` for all.
fn test_packages() -> Vec<(&'static str, &'static str)> {
    [
        crate::vm::PACKAGES,
        BROWSER_PACKAGES,
        MAN_PACKAGES,
        PROMETHEUS_PACKAGES,
        // the cross toolchain of the arm64 guests' static binaries
        crate::vm::Arch::Arm64.target().cross_packages(),
    ]
    .concat()
}

/// Names of the Debian packages the project installs: setup's, and what `cargo xtask dist`
/// installs on demand for the other targets (`cargo xtask test --fresh` keeps them visible).
pub fn debian_package_names() -> Vec<&'static str> {
    let dist = crate::dist::Target::ALL
        .iter()
        .flat_map(|t| t.cross_packages().iter().chain(t.user_emulator_package()));
    test_packages()
        .iter()
        .chain(dist)
        .map(|(_, pkg)| *pkg)
        .collect()
}

fn nightly_sysroot() -> Option<PathBuf> {
    stdout_of(Command::new("rustc").args(["+nightly", "--print", "sysroot"])).map(PathBuf::from)
}

fn nightly_with_rust_src() -> Result<()> {
    if nightly_sysroot().is_none() {
        sh(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]))?;
    }
    let sysroot = nightly_sysroot().context("nightly toolchain still missing after install")?;
    if !sysroot.join("lib/rustlib/src/rust/library/core").is_dir() {
        sh(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
    }
    Ok(())
}

/// The stable toolchain's target for the static aarch64 guest binaries (x86_64 is the host's
/// own).
fn rust_targets() -> Result<()> {
    rust_target(crate::vm::Arch::Arm64.target().rust_target())
}

/// Adds the stable toolchain's standard library for `target` when missing.
pub fn rust_target(target: &str) -> Result<()> {
    let installed = stdout_of(Command::new("rustup").args(["target", "list", "--installed"]))
        .unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == target) {
        sh(Command::new("rustup").args(["target", "add", target]))?;
    }
    Ok(())
}

/// The nightly's LLVM major version (`LLVM version: 22.1.4` → 22).
fn nightly_llvm_major() -> Result<u32> {
    let vv = stdout_of(Command::new("rustc").args(["+nightly", "-vV"]))
        .context("rustc +nightly -vV failed")?;
    vv.lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .context("no LLVM version in rustc +nightly -vV")
}

fn bpf_linker_ok() -> bool {
    stdout_of(Command::new("bpf-linker").arg("--version"))
        .is_some_and(|v| v.contains(BPF_LINKER_VERSION))
}

/// Builds bpf-linker against the nightly's own libLLVM, reached through a stable folder of
/// symlinks (the linker's rpath points there, so the folder must stay).
fn bpf_linker() -> Result<()> {
    if bpf_linker_ok() {
        return Ok(());
    }
    let sysroot = nightly_sysroot().context("nightly toolchain missing")?;
    let major = nightly_llvm_major()?;
    let lib = std::fs::read_dir(sysroot.join("lib"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("libLLVM.so.{major}")))
        })
        .with_context(|| format!("no libLLVM.so.{major}* in {}/lib", sysroot.display()))?;
    let home = std::env::var_os("HOME").context("HOME not set")?;
    let prefix = Path::new(&home).join(".cache/serial-trace/rustllvm");
    let prefix_lib = prefix.join("lib");
    std::fs::create_dir_all(&prefix_lib)?;
    for name in [
        "libLLVM.so".into(),
        lib.file_name().unwrap().to_string_lossy().into_owned(),
    ] {
        let link = prefix_lib.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&lib, &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    sh(Command::new("cargo")
        .args([
            "install",
            &format!("bpf-linker@{BPF_LINKER_VERSION}"),
            "--no-default-features",
            "--features",
            &format!("llvm-{major}"),
        ])
        .env("LLVM_PREFIX", &prefix))?;
    if !bpf_linker_ok() {
        bail!("bpf-linker installed but `bpf-linker --version` fails; is ~/.cargo/bin on PATH?");
    }
    Ok(())
}

/// cargo-fuzz drives the fuzz targets in `fuzz/` (`cargo xtask fuzz`, and a bounded run in
/// `cargo xtask test`).
fn cargo_fuzz() -> Result<()> {
    if stdout_of(Command::new("cargo").args(["fuzz", "--version"])).is_some() {
        return Ok(());
    }
    sh(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))
}

/// Perfetto's Python package, pinned: its compiled protos are the schema the native Perfetto
/// export is checked against (`render/perfetto.rs`, `serial-trace/tests/perfetto_check.py`).
const PERFETTO_PYTHON_PACKAGES: &[&str] = &["perfetto==0.59.1", "protobuf==7.36.2"];

/// The virtual environment holding them (the test looks for its Python in the same place).
fn perfetto_venv() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(Path::new(&home).join(".cache/serial-trace/perfetto-venv"))
}

/// Makes the virtual environment with Perfetto's package, unless it is there and imports.
fn perfetto_python() -> Result<()> {
    let venv = perfetto_venv()?;
    let python = venv.join("bin/python3");
    let imports = |python: &Path| {
        Command::new(python)
            .args([
                "-c",
                "import google.protobuf.unknown_fields, perfetto.protos.perfetto.trace.perfetto_trace_pb2",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if imports(&python) {
        return Ok(());
    }
    let venv_made = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    if !venv_made {
        // Debian's python3 keeps `venv`'s pip bootstrap in a package of its own, which has no
        // binary to look for: named by what it is, found on no PATH, so always installed here
        debian_packages(&[
            ("python3", "python3"),
            ("ensurepip of python3-venv", "python3-venv"),
        ])?;
        sh(Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv))?;
    }
    sh(Command::new(&python)
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .args(PERFETTO_PYTHON_PACKAGES))?;
    if !imports(&python) {
        bail!(
            "{}: Perfetto's package does not import after installing it",
            python.display()
        );
    }
    Ok(())
}

/// `name` on PATH, or where it is an absolute path, that file.
fn have_binary(name: &str) -> bool {
    if name.starts_with('/') {
        return std::path::Path::new(name).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
}

/// Packages taken from the release's backports suite: the machine image carries
/// `qemu-utils` 10 from bookworm-backports, and bookworm's own QEMU 7.2 cannot be installed beside
/// it without removing it. QEMU 10 is also the one whose arm64 `virt` board has a second PL011.
const FROM_BACKPORTS: &[&str] = &["qemu-system-x86", "qemu-system-arm"];

/// Installs the Debian packages whose binaries are missing (one `apt-get update` first).
/// Never removes a package (`--no-remove`): the machine's own tools stay as they are.
pub fn debian_packages(wanted: &[(&str, &str)]) -> Result<()> {
    let mut missing: Vec<&str> = wanted
        .iter()
        .filter(|(bin, _)| !have_binary(bin))
        .map(|(_, pkg)| *pkg)
        .collect();
    // one package may bring several of the binaries
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    if !util::is_root() {
        bail!(
            "missing Debian packages {}; install them with: sudo apt-get install {}",
            missing.join(", "),
            missing.join(" ")
        );
    }
    let apt = AptWithBackports::new()?;
    sh(apt.command().args(["update", "-q"]))?;
    // A backports package is installed with the suite as apt's target release (`-t`), so
    // its dependencies come from backports too: naming it `pkg/suite` takes only the package
    // itself from there, and its bookworm dependencies (qemu-system-data 7.2, seabios 1.16.2)
    // are then unmet. The rest is installed from the machine's own sources, as usual.
    let (from_backports, from_release): (Vec<&str>, Vec<&str>) = missing
        .iter()
        .partition(|pkg| apt.backports.is_some() && FROM_BACKPORTS.contains(pkg));
    if let Some(suite) = apt
        .backports
        .as_deref()
        .filter(|_| !from_backports.is_empty())
    {
        sh(apt.install().args(["-t", suite]).args(&from_backports))?;
    }
    if !from_release.is_empty() {
        sh(apt.install().args(&from_release))?;
    }
    Ok(())
}

/// apt-get with the machine's sources plus its release's backports suite, through a private
/// sources folder and package lists under `~/.cache/serial-trace/apt-host`: the machine's apt
/// configuration is not changed; the installed packages are ordinary dpkg packages.
struct AptWithBackports {
    parts: PathBuf,
    lists: PathBuf,
    /// `bookworm-backports`, or None when the release is not known (then only the machine's
    /// sources are used).
    backports: Option<String>,
}

impl AptWithBackports {
    fn new() -> Result<Self> {
        let home = std::env::var_os("HOME").context("HOME not set")?;
        let root = Path::new(&home).join(".cache/serial-trace/apt-host");
        let parts = root.join("sources.list.d");
        let lists = root.join("lists");
        let _ = std::fs::remove_dir_all(&parts);
        std::fs::create_dir_all(&parts)?;
        std::fs::create_dir_all(lists.join("partial"))?;
        // The machine's own source files, as they are.
        if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
            for e in dir.flatten() {
                let name = e.file_name();
                let n = name.to_string_lossy();
                if n.ends_with(".list") || n.ends_with(".sources") {
                    std::os::unix::fs::symlink(e.path(), parts.join(&name))
                        .with_context(|| format!("linking {}", e.path().display()))?;
                }
            }
        }
        let backports = debian_codename().map(|c| format!("{c}-backports"));
        if let Some(suite) = &backports {
            std::fs::write(
                parts.join("serial-trace-backports.sources"),
                format!(
                    "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: {suite}\nComponents: main\n\
                     Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
                ),
            )?;
        }
        Ok(Self {
            parts,
            lists,
            backports,
        })
    }

    /// `apt-get install`, unattended, never removing a package.
    fn install(&self) -> Command {
        let mut c = self.command();
        c.args([
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "--no-remove",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive");
        c
    }

    fn command(&self) -> Command {
        let mut c = Command::new("apt-get");
        c.arg("-o")
            .arg(format!("Dir::Etc::SourceParts={}", self.parts.display()))
            .arg("-o")
            .arg(format!("Dir::State::Lists={}", self.lists.display()))
            // the private lists live under root's HOME, which apt's `_apt` user cannot enter
            .args(["-o", "APT::Sandbox::User=root"]);
        c
    }
}

/// `VERSION_CODENAME` of a Debian release (`bookworm`), from /etc/os-release.
pub fn debian_codename() -> Option<String> {
    let os = std::fs::read_to_string("/etc/os-release").ok()?;
    let field = |k: &str| {
        os.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim_matches('"').to_string())
    };
    (field("ID=")? == "debian")
        .then(|| field("VERSION_CODENAME="))
        .flatten()
}
