//! What runs inside the guest: static builds of serial-trace and the workloads, busybox,
//! programs this project did not write (with their shared libraries), and a generated `/init`,
//! packed into a newc initramfs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::arch::Arch;
use super::cpio::Cpio;
use super::kernels::{Fetcher, Kernel, UsbSerial};
use super::scenarios::Scenario;
use super::userland::Userland;
use crate::util::{root, sh};

/// Guest programs, built statically.
pub const GUEST_BINARIES: &[&str] = &[
    "serial-trace",
    "timer-workload",
    "posix-timer",
    "guest-export",
    "clock-offset",
    "tty-icount",
];

/// Builds the guest's static binaries and the shipped serial-trace of `arch` (see
/// [`crate::dist`]); returns the folder of the workloads and the serial-trace file.
pub fn build_static_binaries(arch: Arch) -> Result<(PathBuf, PathBuf)> {
    let dir = crate::dist::build_static(arch.target())?;
    Ok((dir, crate::dist::package(arch.target())?))
}

/// ELF `e_machine` of a 64-bit little-endian ELF file.
fn elf_machine(bytes: &[u8]) -> Option<u16> {
    (bytes.get(..6) == Some(b"\x7fELF\x02\x01"))
        .then(|| {
            bytes
                .get(0x12..0x14)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        })
        .flatten()
}

/// True when the ELF file has no program interpreter (statically linked).
fn is_static_elf(bytes: &[u8]) -> bool {
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    if bytes.get(..5) != Some(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum as usize).all(|i| u32_at(phoff as usize + i * phentsize as usize) != Some(3))
}

/// A static busybox for `arch`: the host's on x86_64 (which must be Debian's
/// `busybox-static`), Debian's `busybox-static` of that architecture otherwise. The guest's
/// `/init` installs its applets (it cannot run on the host to list them).
fn busybox(arch: Arch) -> Result<Vec<u8>> {
    let path = match arch {
        Arch::X86_64 => PathBuf::from("/bin/busybox"),
        _ => {
            // bin/ before trixie, usr/bin/ since
            let dir = Fetcher::new(arch)?.unpack("busybox-static", &["*/bin/busybox"])?;
            ["bin/busybox", "usr/bin/busybox"]
                .iter()
                .map(|p| dir.join(p))
                .find(|p| p.is_file())
                .unwrap_or(dir.join("bin/busybox"))
        }
    };
    let bytes = std::fs::read(&path)
        .with_context(|| format!("no {}: install busybox-static", path.display()))?;
    if !is_static_elf(&bytes) {
        bail!(
            "{} is dynamically linked: install Debian's busybox-static instead of busybox",
            path.display()
        );
    }
    Ok(bytes)
}

/// Fails unless every guest binary is a static ELF file for `arch`.
fn check_guest_elf(path: &Path, bytes: &[u8], arch: Arch) -> Result<()> {
    if elf_machine(bytes) != Some(arch.elf_machine()) {
        bail!(
            "{} is not an {} ELF file (e_machine {:?})",
            path.display(),
            arch.debian(),
            elf_machine(bytes)
        );
    }
    if !is_static_elf(bytes) {
        bail!("{} is not statically linked", path.display());
    }
    Ok(())
}

/// Programs this project did not write that scenarios run, from Debian's packages (see
/// `vm::PACKAGES` and [`Userland`]), with their shared libraries: (program, package).
pub const FOREIGN_PROGRAMS: &[(&str, &str)] = &[("cyclictest", "rt-tests")];

/// Adds the userland file at guest path `path`, with every parent folder, keeping its mtime
/// (see [`Cpio::file_at`]), once. `present` holds the paths already in the archive.
fn add_file(c: &mut Cpio, present: &mut Vec<String>, u: &Userland, path: &Path) -> Result<()> {
    let name = path
        .to_str()
        .context("non-UTF-8 path")?
        .trim_start_matches('/');
    if present.iter().any(|d| d == name) {
        return Ok(()); // a library two programs need
    }
    let real = u.source(path)?;
    let bytes = std::fs::read(&real).with_context(|| format!("reading {}", real.display()))?;
    let meta = std::fs::metadata(&real)?;
    let mtime = meta
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);
    present.push(name.to_string());
    let mut parent = String::new();
    for part in name
        .split('/')
        .rev()
        .skip(1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        parent = if parent.is_empty() {
            part.to_string()
        } else {
            format!("{parent}/{part}")
        };
        if !present.contains(&parent) {
            c.dir(&parent);
            present.push(parent.clone());
        }
    }
    let executable = meta.permissions().mode() & 0o111 != 0;
    c.file_at(name, &bytes, executable, mtime);
    Ok(())
}

/// Adds the shared libraries the ELF file at guest path `path` needs (and its program
/// interpreter) at the paths the dynamic loader looks for them.
fn add_libraries(c: &mut Cpio, present: &mut Vec<String>, u: &Userland, path: &Path) -> Result<()> {
    for lib in u.libraries(path)? {
        add_file(c, present, u, &lib)?;
    }
    Ok(())
}

/// Adds `program` as `bin/<program>` and its libraries.
fn add_program(c: &mut Cpio, present: &mut Vec<String>, u: &Userland, program: &str) -> Result<()> {
    let path = u.program(program)?;
    add_libraries(c, present, u, &path)?;
    let real = u.source(&path)?;
    let bytes = std::fs::read(&real).with_context(|| format!("reading {}", real.display()))?;
    c.file(&format!("bin/{program}"), &bytes, true);
    Ok(())
}

/// Debian's Python, a language runtime this project did not write (package `python3`, see
/// `vm::PACKAGES`). Not whatever `python3` is first on PATH: a pyenv or venv build would
/// bring another standard library than the one its path says.
pub const PYTHON: &str = "/usr/bin/python3";
/// The Python program the `asyncio` scenario runs (`/bin/asyncio_service.py` in the guest).
const PYTHON_SCRIPT: &str = "workloads/python/asyncio_service.py";

/// Runs the script once on the host (0.6 s, every code path but the waiter's timeout) under
/// an import probe that lists every module file it loaded, and returns those files: the
/// guest gets exactly the standard library the script uses, with Debian's cached bytecode
/// (compiling asyncio under TCG would take seconds of the scenario).
fn python_module_files(script: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    const PROBE: &str = r#"
import atexit, importlib.util, os, runpy, sys
out, script = sys.argv[1], sys.argv[2]
def dump():
    files = set()
    # the landmark by which the interpreter finds its standard library
    if getattr(sys, "_stdlib_dir", None):
        files.add(os.path.join(sys._stdlib_dir, "os.py"))
    for m in list(sys.modules.values()):
        f = getattr(m, "__file__", None)
        if not f or os.path.abspath(f) == os.path.abspath(script):
            continue
        files.add(f)
        cached = importlib.util.cache_from_source(f) if f.endswith(".py") else ""
        if cached and os.path.exists(cached):
            files.add(cached)
    with open(out, "w") as o:
        o.write("".join(f + "\n" for f in sorted(files)))
atexit.register(dump)
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
"#;
    std::fs::create_dir_all(out_dir)?;
    let list = out_dir.join("python-modules.txt");
    let mut cmd = Command::new(PYTHON);
    cmd.args(["-S", "-c", PROBE])
        .arg(&list)
        .arg(script)
        .args([
            "--duration-s",
            "0.6",
            "--feed-every",
            "2",
            "--log",
            "/dev/null",
        ])
        .stdout(std::process::Stdio::null());
    sh(&mut cmd).with_context(|| {
        format!("running {} under {PYTHON} on the host (is Debian's python3 installed? `cargo xtask setup`)", script.display())
    })?;
    Ok(std::fs::read_to_string(&list)?
        .lines()
        .map(PathBuf::from)
        .collect())
}

/// The host's Debian Python at its real path (`/usr/bin/python3.11`): the guest runs the same
/// version, from the host (x86_64) or from the sysroot's packages of that version.
fn host_python() -> Result<PathBuf> {
    let python = Path::new(PYTHON);
    if !python.is_file() {
        bail!("{PYTHON} is missing: install Debian's python3 (`cargo xtask setup` does)");
    }
    Ok(std::fs::canonicalize(python)?)
}

/// Debian packages of the host's Python version for a sysroot (`python3.11-minimal`,
/// `libpython3.11-stdlib`).
pub fn python_packages() -> Result<Vec<String>> {
    let real = host_python()?;
    let version = real
        .file_name()
        .and_then(|n| n.to_str())
        .context("python's file name")?
        .to_string();
    Ok(vec![
        format!("{version}-minimal"),
        format!("lib{version}-stdlib"),
    ])
}

/// Adds Debian's Python with its libraries, the standard-library files the script loads (and
/// the libraries of their extension modules) and the script as `/bin/asyncio_service.py`.
fn add_python(c: &mut Cpio, present: &mut Vec<String>, u: &Userland, out_dir: &Path) -> Result<()> {
    let script = root().join(PYTHON_SCRIPT);
    // at its real path: the interpreter finds its standard library relative to itself
    let real = host_python()?;
    if let Userland::Sysroot { root, .. } = u {
        // Debian compiles the bytecode when a package is installed; a sysroot is only
        // unpacked, and compiling asyncio under TCG would take seconds of the scenario. The
        // host's Python is the same version (same bytecode); paths as the guest sees them.
        let stdlib = root.join(format!(
            "usr/lib/{}",
            real.file_name().unwrap().to_string_lossy()
        ));
        sh(Command::new(&real)
            .args(["-m", "compileall", "-q", "-j", "0", "-s"])
            .arg(root)
            .args(["-p", "/"])
            .arg(&stdlib)
            .stdout(std::process::Stdio::null()))?;
    }
    add_file(c, present, u, &real)?;
    add_libraries(c, present, u, &real)?;
    c.symlink("bin/python3", real.to_str().context("non-UTF-8 path")?);
    for f in python_module_files(&script, out_dir)? {
        let f = u.module(&f);
        if f.extension().is_some_and(|e| e == "so") {
            add_libraries(c, present, u, &f)?;
        }
        add_file(c, present, u, &f)?;
    }
    let bytes = std::fs::read(&script).with_context(|| format!("reading {}", script.display()))?;
    c.file("bin/asyncio_service.py", &bytes, false);
    Ok(())
}

/// Writes `initramfs.cpio` into `out_dir` for the given scenarios and returns its path.
pub fn build_initramfs(
    arch: Arch,
    (bin_dir, serial_trace): (&Path, &Path),
    scenarios: &[&Scenario],
    out_dir: &Path,
) -> Result<PathBuf> {
    let bb = busybox(arch)?;
    let mut c = Cpio::default();
    let mut present: Vec<String> = ["bin", "dev", "proc", "sys", "tmp", "root", "etc"]
        .map(String::from)
        .to_vec();
    for d in &present {
        c.dir(d);
    }
    c.char_dev("dev/console", 5, 1);
    c.file("bin/busybox", &bb, true);
    for b in GUEST_BINARIES {
        let p = if *b == "serial-trace" {
            serial_trace.to_path_buf()
        } else {
            bin_dir.join(b)
        };
        let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        check_guest_elf(&p, &bytes, arch)?;
        c.file(&format!("bin/{b}"), &bytes, true);
    }
    let python = scenarios.iter().any(|s| s.python);
    let mut packages: Vec<String> = FOREIGN_PROGRAMS
        .iter()
        .map(|(_, p)| p.to_string())
        .collect();
    if python {
        packages.extend(python_packages()?);
    }
    let u = Userland::for_arch(arch, &packages)?;
    for (program, _) in FOREIGN_PROGRAMS {
        add_program(&mut c, &mut present, &u, program)?;
    }
    if python {
        add_python(&mut c, &mut present, &u, out_dir)?;
    }
    c.file(
        "init",
        super::scenarios::init_script(arch, scenarios).as_bytes(),
        true,
    );
    std::fs::create_dir_all(out_dir)?;
    let path = out_dir.join("initramfs.cpio");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
    c.finish(&mut f)?;
    use std::io::Write;
    f.flush()?;
    Ok(path)
}

/// Where a kernel's USB-serial modules are in the guest (`usb_serial_up` loads them in the order
/// of their names; the folder exists whenever the modules are known, even with none to load).
pub const USB_SERIAL_MODULES: &str = "lib/modules/usb-serial";

/// The initrd of kernel `k`: the architecture's `base` initramfs, built once for all its
/// kernels, followed by a newc archive with this kernel's `/init` (its scenarios: some run only
/// where they add coverage) and its USB-serial modules (Linux unpacks concatenated archives in
/// turn, a later file replacing an earlier one). Written to `dir/initrd.cpio`.
pub fn kernel_initrd(base: &Path, k: &Kernel, init: &str, dir: &Path) -> Result<PathBuf> {
    let mut c = Cpio::default();
    c.file("init", init.as_bytes(), true);
    if let UsbSerial::Modules(modules) = &k.usb_serial {
        for d in ["lib", "lib/modules", USB_SERIAL_MODULES] {
            c.dir(d);
        }
        for m in modules {
            let name = m.file_name().context("module path")?.to_string_lossy();
            let bytes = std::fs::read(m).with_context(|| format!("reading {}", m.display()))?;
            c.file(&format!("{USB_SERIAL_MODULES}/{name}"), &bytes, false);
        }
    }
    // the base ends 4-byte aligned (Cpio pads every entry), as the next archive must start
    let mut bytes = std::fs::read(base).with_context(|| format!("reading {}", base.display()))?;
    c.finish(&mut bytes)?;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("initrd.cpio");
    std::fs::write(&path, bytes)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::stdout_of;

    #[test]
    fn recognises_static_and_dynamic_elves() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static_elf(&me), "test binaries are dynamically linked");
        #[cfg(target_arch = "x86_64")]
        assert_eq!(elf_machine(&me), Some(Arch::X86_64.elf_machine()));
        assert!(!is_static_elf(b"#!/bin/sh"));
        if let Ok(bb) = std::fs::read("/bin/busybox") {
            // Debian's busybox-static (what setup installs) is static
            let dynamic = stdout_of(Command::new("ldd").arg("/bin/busybox"))
                .is_some_and(|o| o.contains("=>"));
            assert_eq!(is_static_elf(&bb), !dynamic);
        }
    }
}
