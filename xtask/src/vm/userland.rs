//! Where the programs this project did not write (cyclictest, Debian's CPython) come from for
//! the guest: on x86_64 the host's own installed files (`ldd` names their libraries); on other
//! architectures the same Debian release's packages of that architecture, downloaded with
//! their dependency closure through a private apt state and unpacked into a sysroot
//! (`~/.cache/serial-trace/sysroot-<arch>/root`), whose ELF files `readelf` reads.
//!
//! Paths handed around are guest paths (`/usr/bin/python3.11`); [`Userland::source`] says
//! which host file holds each.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::arch::Arch;
use super::kernels;
use crate::util::{sh, stdout_of};

pub enum Userland {
    /// The host's files (x86_64 guests).
    Host,
    /// Debian packages of `arch` unpacked under `root`.
    Sysroot { arch: Arch, root: PathBuf },
}

impl Userland {
    /// The userland of `arch`'s guests, `packages` unpacked with their dependencies (once; a
    /// different package list refetches).
    pub fn for_arch(arch: Arch, packages: &[String]) -> Result<Self> {
        if arch == Arch::X86_64 {
            return Ok(Userland::Host);
        }
        Ok(Userland::Sysroot {
            arch,
            root: sysroot(arch, packages)?,
        })
    }

    /// The host file behind the guest path `guest` (symbolic links resolved inside the
    /// sysroot: its absolute links point into it, not at the host's files).
    pub fn source(&self, guest: &Path) -> Result<PathBuf> {
        match self {
            Userland::Host => std::fs::canonicalize(guest)
                .with_context(|| format!("resolving {}", guest.display())),
            Userland::Sysroot { root, .. } => resolve_in(root, guest),
        }
    }

    /// Guest path of the program `name`: found on the host's PATH, or in the sysroot's
    /// `usr/bin`, `bin`, `usr/sbin`, `sbin`.
    pub fn program(&self, name: &str) -> Result<PathBuf> {
        let dirs: Vec<PathBuf> = match self {
            Userland::Host => {
                std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect()
            }
            Userland::Sysroot { .. } => ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
                .map(PathBuf::from)
                .to_vec(),
        };
        dirs.into_iter()
            .map(|d| d.join(name))
            .find(|p| self.source(p).is_ok_and(|s| s.is_file()))
            .with_context(|| format!("{name} is not installed: run `cargo xtask setup`"))
    }

    /// The shared libraries the ELF file at guest path `elf` needs, and its program
    /// interpreter, as guest paths at which the dynamic loader finds them.
    pub fn libraries(&self, elf: &Path) -> Result<Vec<PathBuf>> {
        match self {
            Userland::Host => {
                let ldd = stdout_of(Command::new("ldd").arg(elf))
                    .with_context(|| format!("ldd {} failed", elf.display()))?;
                Ok(ldd_files(&ldd).into_iter().map(PathBuf::from).collect())
            }
            Userland::Sysroot { arch, .. } => {
                let mut out: Vec<PathBuf> = Vec::new();
                let mut todo = vec![elf.to_path_buf()];
                while let Some(f) = todo.pop() {
                    let (interp, needed) = self.dynamic_section(&f)?;
                    for lib in interp.into_iter().chain(
                        needed
                            .iter()
                            .map(|n| self.find_library(*arch, n))
                            .collect::<Result<Vec<_>>>()?,
                    ) {
                        if !out.contains(&lib) {
                            out.push(lib.clone());
                            todo.push(lib);
                        }
                    }
                }
                Ok(out)
            }
        }
    }

    /// Where a module file the host's Python loaded (`.../lib-dynload/_asyncio.cpython-311-
    /// x86_64-linux-gnu.so`) is for this userland's architecture.
    pub fn module(&self, host_path: &Path) -> PathBuf {
        match self {
            Userland::Host => host_path.to_path_buf(),
            Userland::Sysroot { arch, .. } => PathBuf::from(
                host_path
                    .to_string_lossy()
                    .replace("x86_64-linux-gnu", &multiarch(*arch)),
            ),
        }
    }

    /// (program interpreter, NEEDED libraries) of an ELF file in the sysroot.
    fn dynamic_section(&self, elf: &Path) -> Result<(Option<PathBuf>, Vec<String>)> {
        let file = self.source(elf)?;
        let out = stdout_of(Command::new("readelf").args(["-l", "-d", "-W"]).arg(&file))
            .with_context(|| format!("readelf {} failed", file.display()))?;
        let interp = out
            .lines()
            .find_map(|l| l.split("[Requesting program interpreter: ").nth(1))
            .map(|r| PathBuf::from(r.trim_end_matches(']')));
        let needed = out
            .lines()
            .filter(|l| l.contains("(NEEDED)"))
            .filter_map(|l| {
                l.split('[')
                    .nth(1)
                    .map(|r| r.trim_end_matches(']').to_string())
            })
            .collect();
        Ok((interp, needed))
    }

    /// The guest path of library `name` in the directories Debian's dynamic loader searches.
    fn find_library(&self, arch: Arch, name: &str) -> Result<PathBuf> {
        let m = multiarch(arch);
        [
            format!("/lib/{m}"),
            format!("/usr/lib/{m}"),
            "/lib".into(),
            "/usr/lib".into(),
        ]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| self.source(p).is_ok_and(|s| s.is_file()))
        .with_context(|| format!("no {name} in the {} sysroot", arch.debian()))
    }
}

/// Debian's multiarch triplet (`aarch64-linux-gnu`).
fn multiarch(arch: Arch) -> String {
    match arch {
        Arch::X86_64 => "x86_64-linux-gnu".into(),
        Arch::Arm64 => "aarch64-linux-gnu".into(),
    }
}

/// `ldd` output → the files to copy: each library's resolved path and the program interpreter.
pub fn ldd_files(ldd: &str) -> Vec<String> {
    ldd.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, right)) => right.trim(),
                None => l,
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| path.to_string())
        })
        .collect()
}

/// `guest` inside `root`, every symbolic link on the way followed inside `root`.
fn resolve_in(root: &Path, guest: &Path) -> Result<PathBuf> {
    let mut path = PathBuf::from("/");
    let mut rest: Vec<String> = components(guest);
    rest.reverse();
    let mut hops = 0;
    while let Some(part) = rest.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                path.pop();
                continue;
            }
            _ => {}
        }
        let next = path.join(&part);
        let host = root.join(next.strip_prefix("/").expect("absolute"));
        match std::fs::read_link(&host) {
            Ok(target) => {
                hops += 1;
                if hops > 40 {
                    bail!("too many symbolic links resolving {}", guest.display());
                }
                if target.is_absolute() {
                    path = PathBuf::from("/");
                }
                let mut t = components(&target);
                t.reverse();
                rest.extend(t);
            }
            Err(_) => path = next,
        }
    }
    let host = root.join(path.strip_prefix("/").expect("absolute"));
    if !host.exists() {
        bail!(
            "{} is not in the sysroot {}",
            guest.display(),
            root.display()
        );
    }
    Ok(host)
}

fn components(p: &Path) -> Vec<String> {
    p.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            std::path::Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// `packages` of `arch` and their dependencies, unpacked: the sysroot's folder.
fn sysroot(arch: Arch, packages: &[String]) -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME not set")?;
    let base = Path::new(&home).join(format!(".cache/serial-trace/sysroot-{}", arch.debian()));
    let root = base.join("root");
    let stamp = base.join("packages.txt");
    let want = packages.join("\n") + "\n";
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == want) {
        return Ok(root);
    }
    // the host's release: its Python (same version) lists and compiles the guest's stdlib
    let release = crate::setup::debian_codename().context(
        "no Debian VERSION_CODENAME in /etc/os-release (the sysroot needs a Debian host)",
    )?;
    let apt_dir = base.join("apt");
    std::fs::create_dir_all(apt_dir.join("lists/partial"))?;
    let archives = apt_dir.join("cache/archives");
    let _ = std::fs::remove_dir_all(&archives);
    std::fs::create_dir_all(archives.join("partial"))?;
    std::fs::write(apt_dir.join("status"), "")?;
    std::fs::write(
        apt_dir.join("sources.list"),
        kernels::sources(arch, &[&release]),
    )?;
    let apt = || kernels::apt(&apt_dir, arch, "apt-get");
    sh(apt().arg("update"))?;
    // an empty dpkg status: apt resolves the whole dependency closure and only downloads it
    sh(apt()
        .args([
            "install",
            "--download-only",
            "-y",
            "--no-install-recommends",
        ])
        .args(packages))?;
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    for e in std::fs::read_dir(&archives)?.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "deb") {
            sh(Command::new("dpkg-deb").arg("-x").arg(&p).arg(&root))?;
        }
    }
    let _ = std::fs::remove_dir_all(&archives);
    std::fs::write(&stamp, want)?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_lines_give_libraries_and_the_interpreter() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibnuma.so.1 => /lib/x86_64-linux-gnu/libnuma.so.1 (0x00007f5a)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f5b)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f5c)\n";
        assert_eq!(
            ldd_files(out),
            [
                "/lib/x86_64-linux-gnu/libnuma.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
    }

    #[test]
    fn links_resolve_inside_the_sysroot() {
        let root = std::env::temp_dir().join(format!("st-sysroot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("usr/lib/aarch64-linux-gnu")).unwrap();
        std::fs::write(root.join("usr/lib/aarch64-linux-gnu/libc.so.6"), b"x").unwrap();
        // usrmerge's directory link, an absolute link and a relative one
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/aarch64-linux-gnu/libc.so.6", root.join("abs"))
            .unwrap();
        std::os::unix::fs::symlink("../lib/aarch64-linux-gnu/libc.so.6", root.join("usr/rel"))
            .unwrap();
        let want = root.join("usr/lib/aarch64-linux-gnu/libc.so.6");
        for p in ["/lib/aarch64-linux-gnu/libc.so.6", "/abs", "/usr/rel"] {
            assert_eq!(resolve_in(&root, Path::new(p)).unwrap(), want, "{p}");
        }
        assert!(resolve_in(&root, Path::new("/etc/passwd")).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
