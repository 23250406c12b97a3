//! Debian kernels for the VM matrix: resolved to the newest build of each series through a
//! private apt configuration (the host's apt state is never touched), downloaded once, and
//! cached as `vmlinuz` + `config` under `~/.cache/serial-trace/kernels/<id>/` (arm64:
//! `arm64-<id>`), with the modules that drive QEMU's USB-serial adapter (`usb-serial/`, see
//! [`UsbSerial`]). The same private apt configuration fetches other packages of the guest's
//! architecture ([`Fetcher::unpack`]: arm64's static busybox).
//!
//! To add a kernel, add a row to [`KERNELS`] or [`ARM64_KERNELS`]: its id, the metapackage
//! that always depends on the newest image of the flavour, and the version prefix of the
//! series.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::arch::Arch;
use crate::util::{sh, stdout_of};

/// One row of the matrix.
pub struct KernelSpec {
    pub arch: Arch,
    /// The series' name (`6.12`), unique within an architecture; see [`KernelSpec::label`].
    pub id: &'static str,
    /// Metapackage whose `Depends` names the newest image (`linux-image-amd64`, `-rt-amd64`).
    pub meta: &'static str,
    /// Version prefix of the series in the metapackage's version (`6.1.` → bookworm).
    pub series: &'static str,
    /// Booted by `cargo xtask test` (and so CI); the rest with `--full-matrix` or `cargo
    /// xtask vm`. CI's budget holds each architecture's fentry and kprobe kernels and one
    /// 5.10 of the older point release, not every combination.
    pub in_test: bool,
}

impl KernelSpec {
    /// The id with the architecture's prefix (`arm64-6.12`): names its cache and result
    /// folders and its rows in every message.
    pub fn label(&self) -> String {
        format!("{}{}", self.arch.id_prefix(), self.id)
    }
}

/// The kernels of one architecture's matrix.
pub fn specs(arch: Arch) -> &'static [KernelSpec] {
    match arch {
        Arch::X86_64 => KERNELS,
        Arch::Arm64 => ARM64_KERNELS,
    }
}

pub const KERNELS: &[KernelSpec] = &[
    KernelSpec {
        arch: Arch::X86_64,
        id: "5.10",
        meta: "linux-image-amd64",
        series: "5.10.",
        in_test: true,
    },
    // An older point release, as vendor BSP kernels often are: 5.10.223 traces an
    // `hrtimer_cancel` right before every `hrtimer_expire_entry` (5.10.262 does not). Not in
    // `cargo xtask test`'s budget: arm64 5.10 is that same point release (its 5.10.262 image
    // does not download), and that quirk is in the architecture-independent timer code.
    KernelSpec {
        arch: Arch::X86_64,
        id: "5.10-old",
        meta: "linux-image-amd64",
        series: "5.10.223-",
        in_test: false,
    },
    // Not in `cargo xtask test`'s budget since the `monitor` scenario and its Prometheus test
    // came (2026-12-06: CI took 64 min with it): bookworm's series sits between 5.10 and 6.12,
    // which CI boots on both architectures; `--full-matrix` boots it.
    KernelSpec {
        arch: Arch::X86_64,
        id: "6.1",
        meta: "linux-image-amd64",
        series: "6.1.",
        in_test: false,
    },
    KernelSpec {
        arch: Arch::X86_64,
        id: "6.12",
        meta: "linux-image-amd64",
        series: "6.12.",
        in_test: true,
    },
    KernelSpec {
        arch: Arch::X86_64,
        id: "6.12-rt",
        meta: "linux-image-rt-amd64",
        series: "6.12.",
        in_test: true,
    },
];

/// The arm64 matrix: the same series; Debian's arm64 `-unsigned` image is a raw `Image` that
/// QEMU's `virt` boots as is (PL011, PL031, BTF, kprobes built in). 5.10 and 6.1 have no
/// fentry on arm64 (ftrace direct calls came in 6.4): their serial hooks are kprobes.
pub const ARM64_KERNELS: &[KernelSpec] = &[
    KernelSpec {
        arch: Arch::Arm64,
        id: "5.10",
        meta: "linux-image-arm64",
        series: "5.10.",
        in_test: true,
    },
    KernelSpec {
        arch: Arch::Arm64,
        id: "6.1",
        meta: "linux-image-arm64",
        series: "6.1.",
        in_test: false,
    },
    KernelSpec {
        arch: Arch::Arm64,
        id: "6.12",
        meta: "linux-image-arm64",
        series: "6.12.",
        in_test: true,
    },
    KernelSpec {
        arch: Arch::Arm64,
        id: "6.12-rt",
        meta: "linux-image-rt-arm64",
        series: "6.12.",
        in_test: false,
    },
];

/// Suites the kernels come from: bullseye (5.10), bookworm (6.1), trixie (6.12).
const KERNEL_SUITES: &[&str] = &["bullseye", "bookworm", "trixie"];

/// A `sources.list` of `suites` of `arch`, each with its updates and security suites.
pub fn sources(arch: Arch, suites: &[&str]) -> String {
    let mut s = String::new();
    for suite in suites {
        for (archive, dist) in [
            ("debian", suite.to_string()),
            ("debian", format!("{suite}-updates")),
            ("debian-security", format!("{suite}-security")),
        ] {
            s += &format!(
                "deb [arch={}] http://deb.debian.org/{archive} {dist} main\n",
                arch.debian()
            );
        }
    }
    s
}

/// A kernel ready to boot.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Kernel {
    /// The spec's [`KernelSpec::label`] (`6.12`, `arm64-6.12`).
    pub id: String,
    /// Set from the spec (not stored: the cache folder's name already says it).
    #[serde(skip)]
    pub arch: Arch,
    /// Debian package the image came from (`linux-image-6.1.0-56-amd64-unsigned`), or `local`.
    pub package: String,
    pub version: String,
    pub vmlinuz: PathBuf,
    /// The USB-serial adapter's driver chain (absent from a kernel.json cached before it was
    /// extracted: [`Fetcher::ensure`] then fetches it).
    #[serde(default)]
    pub usb_serial: UsbSerial,
}

/// What a kernel needs to drive QEMU's FTDI adapter on xHCI (`usb_serial_up` in the guest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UsbSerial {
    /// Nothing known: a `--vmlinuz` kernel has no package to take modules from (its port
    /// comes up only when the drivers are built in), and an old cache entry has none yet.
    #[default]
    Unavailable,
    /// The modules to `insmod`, decompressed, in load order; empty when all are built in.
    Modules(Vec<PathBuf>),
}

impl UsbSerial {
    fn is_cached(&self) -> bool {
        matches!(self, UsbSerial::Modules(m) if m.iter().all(|p| p.is_file()))
    }
}

/// Modules whose dependency closure is the USB-serial chain: the xHCI controller's PCI glue
/// (QEMU's `qemu-xhci` is a PCI device on both boards) and the FTDI driver.
const USB_SERIAL_ROOTS: &[&str] = &["xhci-pci", "ftdi_sio"];

/// Members of an image .deb holding them (`./lib/modules/` before trixie, `./usr/lib/modules/`
/// since) and the list of built-in modules, which need no file.
const USB_SERIAL_MEMBERS: &[&str] = &["*/kernel/drivers/usb/*", "*/modules.builtin"];

pub fn cache_root() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME not set")?;
    Ok(Path::new(&home).join(".cache/serial-trace/kernels"))
}

/// apt-get / apt-cache for `arch` with a private state in `d` (`sources.list`, `lists/`,
/// `cache/`, an own dpkg `status`): the host's apt state is never touched.
pub fn apt(d: &Path, arch: Arch, tool: &str) -> Command {
    let mut c = Command::new(tool);
    for (k, v) in [
        ("Dir::Etc::SourceList", d.join("sources.list")),
        ("Dir::Etc::SourceParts", PathBuf::from("/dev/null")),
        ("Dir::State::Lists", d.join("lists")),
        ("Dir::Cache", d.join("cache")),
        ("Dir::State::Status", d.join("status")),
    ] {
        c.arg("-o").arg(format!("{k}={}", v.display()));
    }
    c.arg("-o")
        .arg(format!("APT::Architecture={}", arch.debian()))
        .arg("-o")
        .arg(format!("APT::Architectures::={}", arch.debian()));
    c.args([
        "-o",
        "Acquire::Languages=none",
        "-o",
        "APT::Sandbox::User=root",
        "-o",
        "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
        // its own state: no lock on the host's dpkg is needed
        "-o",
        "Debug::NoLocking=1",
        "-q",
    ]);
    c
}

fn apt_dir(root: &Path, arch: Arch) -> PathBuf {
    match arch {
        Arch::X86_64 => root.join("apt"),
        Arch::Arm64 => root.join(format!("apt-{}", arch.debian())),
    }
}

/// Keeps apt's private state and refreshes its package lists once per process.
pub struct Fetcher {
    root: PathBuf,
    arch: Arch,
    updated: bool,
}

impl Fetcher {
    pub fn new(arch: Arch) -> Result<Self> {
        let root = cache_root()?;
        let d = apt_dir(&root, arch);
        std::fs::create_dir_all(d.join("lists/partial"))?;
        std::fs::create_dir_all(d.join("cache/archives/partial"))?;
        std::fs::write(d.join("sources.list"), sources(arch, KERNEL_SUITES))?;
        if !d.join("status").exists() {
            std::fs::write(d.join("status"), "")?;
        }
        Ok(Self {
            root,
            arch,
            updated: false,
        })
    }

    fn update(&mut self) -> Result<()> {
        if !self.updated {
            sh(apt(&apt_dir(&self.root, self.arch), self.arch, "apt-get").arg("update"))?;
            self.updated = true;
        }
        Ok(())
    }

    /// The cached kernel of `spec`, downloading it when missing or when `refresh` is set.
    pub fn ensure(&mut self, spec: &KernelSpec, refresh: bool) -> Result<Kernel> {
        let dir = self.root.join(spec.label());
        let meta_path = dir.join("kernel.json");
        if !refresh {
            if let Ok(text) = std::fs::read_to_string(&meta_path) {
                if let Ok(mut k) = serde_json::from_str::<Kernel>(&text) {
                    if k.vmlinuz.is_file() {
                        k.arch = spec.arch;
                        if !k.usb_serial.is_cached() {
                            self.add_usb_serial(&mut k, &dir)?;
                            std::fs::write(&meta_path, serde_json::to_string_pretty(&k)?)?;
                        }
                        return Ok(k);
                    }
                }
            }
        }
        self.update()?;
        // The newest image of the series first; Debian's mirrors sometimes list a version
        // whose .deb no longer downloads (seen: arm64 5.10), so older ones are tried next.
        let mut tried = Vec::new();
        let mut got = None;
        for (package, version) in self.candidates(spec)?.into_iter().take(4) {
            eprintln!("xtask: kernel {}: {package} {version}", spec.label());
            match self.download(&package, &version) {
                Ok(deb) => {
                    got = Some((package, version, deb));
                    break;
                }
                Err(e) => {
                    eprintln!("xtask: kernel {}: {e:#}; trying an older one", spec.label());
                    tried.push(format!("{package} {version}"));
                }
            }
        }
        let Some((package, version, deb)) = got else {
            bail!(
                "no image of kernel {} downloads (tried {})",
                spec.label(),
                tried.join(", ")
            );
        };
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        // one pass over the package: the image, its config and the USB-serial modules
        let tree = dir.join("deb");
        std::fs::create_dir_all(&tree)?;
        let mut members = vec!["./boot/vmlinuz-*", "./boot/config-*"];
        members.extend(USB_SERIAL_MEMBERS);
        unpack_deb(&deb, &tree, &members)?;
        std::fs::remove_file(&deb)?;
        let usb_serial = UsbSerial::Modules(usb_serial_modules(&tree, &dir)?);
        std::fs::rename(tree.join("boot"), dir.join("boot"))?;
        std::fs::remove_dir_all(&tree)?;
        let boot = dir.join("boot");
        let mut vmlinuz = None;
        for e in std::fs::read_dir(&boot)? {
            let p = e?.path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let target = if name.starts_with("vmlinuz-") {
                "vmlinuz"
            } else {
                "config"
            };
            std::fs::rename(&p, dir.join(target))?;
            if target == "vmlinuz" {
                vmlinuz = Some(dir.join("vmlinuz"));
            }
        }
        std::fs::remove_dir(&boot)?;
        let k = Kernel {
            id: spec.label(),
            arch: spec.arch,
            package,
            version,
            vmlinuz: vmlinuz.context("no vmlinuz in the package")?,
            usb_serial,
        };
        std::fs::write(&meta_path, serde_json::to_string_pretty(&k)?)?;
        Ok(k)
    }

    /// The USB-serial modules of a kernel cached before they were extracted, from the same
    /// package and version as its image. When that version no longer downloads, the kernel
    /// stays usable without them (`--refresh` fetches the newest image with its modules).
    fn add_usb_serial(&mut self, k: &mut Kernel, dir: &Path) -> Result<()> {
        eprintln!(
            "xtask: kernel {}: fetching its USB-serial modules ({} {})",
            k.id, k.package, k.version
        );
        self.update()?;
        let deb = match self.download(&k.package, &k.version) {
            Ok(deb) => deb,
            Err(e) => {
                eprintln!(
                    "xtask: kernel {}: {e:#}; booting it without USB-serial",
                    k.id
                );
                return Ok(());
            }
        };
        let tree = dir.join("deb");
        let _ = std::fs::remove_dir_all(&tree);
        std::fs::create_dir_all(&tree)?;
        unpack_deb(&deb, &tree, USB_SERIAL_MEMBERS)?;
        std::fs::remove_file(&deb)?;
        k.usb_serial = UsbSerial::Modules(usb_serial_modules(&tree, dir)?);
        std::fs::remove_dir_all(&tree)?;
        Ok(())
    }

    /// `apt-get download PACKAGE=VERSION` into the private cache; the .deb's path.
    fn download(&self, package: &str, version: &str) -> Result<PathBuf> {
        let archives = apt_dir(&self.root, self.arch).join("cache/archives");
        let is_deb = |p: &Path| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
        };
        for e in std::fs::read_dir(&archives)?.flatten() {
            if is_deb(&e.path()) {
                std::fs::remove_file(e.path())?; // a half-downloaded or older one
            }
        }
        sh(apt(&apt_dir(&self.root, self.arch), self.arch, "apt-get")
            .current_dir(&archives)
            .arg("download")
            .arg(format!("{package}={version}")))?;
        std::fs::read_dir(&archives)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| is_deb(p))
            .with_context(|| format!("apt-get download left no {package} .deb"))
    }

    /// The files of the newest `package` of this architecture that match `wildcards`
    /// (`./bin/busybox`), unpacked under `dir` once (cached by package name).
    pub fn unpack(&mut self, package: &str, wildcards: &[&str]) -> Result<PathBuf> {
        let dir = self
            .root
            .join(format!("{}-packages", self.arch.debian()))
            .join(package);
        if dir.join(".unpacked").is_file() {
            return Ok(dir);
        }
        self.update()?;
        let madison = stdout_of(
            apt(&apt_dir(&self.root, self.arch), self.arch, "apt-cache").args(["madison", package]),
        )
        .with_context(|| format!("apt-cache madison {package} failed"))?;
        let version = madison
            .lines()
            .filter_map(|l| l.split('|').nth(1).map(str::trim))
            .max_by(|a, b| compare_debian_versions(a, b))
            .with_context(|| format!("no {package} for {}", self.arch.debian()))?
            .to_string();
        let deb = self.download(package, &version)?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        unpack_deb(&deb, &dir, wildcards)?;
        std::fs::remove_file(&deb)?;
        std::fs::write(dir.join(".unpacked"), format!("{package} {version}\n"))?;
        Ok(dir)
    }

    /// (image package, version) to try, newest first: for each metapackage version of the
    /// series, newest first, the image it depends on as its `-unsigned` twin (same kernel
    /// without the EFI signature wrapper), each of that package's versions newest first.
    fn candidates(&self, spec: &KernelSpec) -> Result<Vec<(String, String)>> {
        let versions_of = |package: &str| -> Vec<String> {
            let madison = stdout_of(
                apt(&apt_dir(&self.root, self.arch), self.arch, "apt-cache")
                    .args(["madison", package]),
            )
            .unwrap_or_default();
            let mut v: Vec<String> = madison
                .lines()
                .filter_map(|l| l.split('|').nth(1).map(|v| v.trim().to_string()))
                .collect();
            v.sort_by(|a, b| compare_debian_versions(b, a));
            v.dedup();
            v
        };
        let metas: Vec<String> = versions_of(spec.meta)
            .into_iter()
            .filter(|v| v.starts_with(spec.series))
            .collect();
        if metas.is_empty() {
            bail!(
                "no {} of series {} in bullseye/bookworm/trixie ({})",
                spec.meta,
                spec.series,
                spec.arch.debian()
            );
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for meta_version in &metas {
            let show = stdout_of(
                apt(&apt_dir(&self.root, self.arch), self.arch, "apt-cache")
                    .args(["show", &format!("{}={meta_version}", spec.meta)]),
            )
            .context("apt-cache show failed")?;
            let Some(image) = show
                .lines()
                .find_map(|l| l.strip_prefix("Depends: "))
                .and_then(|d| d.split([',', ' ']).find(|p| p.starts_with("linux-image-")))
            else {
                continue;
            };
            let unsigned = format!("{image}-unsigned");
            for v in versions_of(&unsigned) {
                if !out.iter().any(|(p, w)| *p == unsigned && *w == v) {
                    out.push((unsigned.clone(), v));
                }
            }
        }
        if out.is_empty() {
            bail!("no -unsigned image for any {} {}", spec.meta, spec.series);
        }
        Ok(out)
    }
}

/// Extracts the members of a .deb that match `wildcards` into `dir`.
fn unpack_deb(deb: &Path, dir: &Path, wildcards: &[&str]) -> Result<()> {
    let quoted: Vec<String> = wildcards.iter().map(|w| format!("'{w}'")).collect();
    let extract = format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -x -C '{}' --wildcards {}",
        deb.display(),
        dir.display(),
        quoted.join(" ")
    );
    sh(Command::new("sh").args(["-c", &extract]))
}

/// A module's name as the kernel compares it (`-` and `_` are the same to it).
fn module_name(file_or_name: &str) -> String {
    let stem = file_or_name.split(".ko").next().unwrap_or(file_or_name);
    stem.replace('-', "_")
}

/// The USB-serial chain from the modules unpacked under `tree`: the closure of
/// [`USB_SERIAL_ROOTS`] over each module's `depends=` (Debian ships no modules.dep), skipping
/// built-in ones, written decompressed to `dir/usb-serial/NN-name.ko` in load order (every
/// module after those it depends on). Their paths.
fn usb_serial_modules(tree: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = std::collections::BTreeMap::new();
    let mut builtin = Vec::new();
    let mut stack = vec![tree.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                stack.push(p);
            } else if name == "modules.builtin" {
                let text = std::fs::read_to_string(&p)?;
                builtin.extend(
                    text.lines()
                        .filter_map(|l| l.rsplit('/').next().map(module_name)),
                );
            } else if name.ends_with(".ko") || name.ends_with(".ko.xz") {
                files.insert(module_name(&name), p);
            }
        }
    }
    let out = dir.join("usb-serial");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let mut order: Vec<(String, Vec<u8>)> = Vec::new();
    // depth first, a module after its dependencies; `visiting` breaks a (malformed) cycle
    fn visit(
        name: &str,
        files: &std::collections::BTreeMap<String, PathBuf>,
        builtin: &[String],
        visiting: &mut Vec<String>,
        order: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<()> {
        let name = module_name(name);
        if order.iter().any(|(n, _)| *n == name) || visiting.contains(&name) {
            return Ok(());
        }
        let Some(path) = files.get(&name) else {
            if builtin.contains(&name) {
                return Ok(());
            }
            bail!("module {name} is neither in the package's drivers/usb nor built in");
        };
        let bytes = read_module(path)?;
        visiting.push(name.clone());
        for dep in modinfo(&bytes, "depends").unwrap_or_default().split(',') {
            if !dep.is_empty() {
                visit(dep, files, builtin, visiting, order)?;
            }
        }
        visiting.pop();
        order.push((name, bytes));
        Ok(())
    }
    for root in USB_SERIAL_ROOTS {
        visit(root, &files, &builtin, &mut Vec::new(), &mut order)?;
    }
    let mut paths = Vec::new();
    for (i, (name, bytes)) in order.iter().enumerate() {
        let p = out.join(format!("{:02}-{name}.ko", i + 1));
        std::fs::write(&p, bytes)?;
        paths.push(p);
    }
    let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
    eprintln!("xtask: USB-serial modules: {}", names.join(" → "));
    Ok(paths)
}

/// A module file's bytes, decompressed with `xz` when Debian compressed it (trixie on).
fn read_module(path: &Path) -> Result<Vec<u8>> {
    if path.extension().is_some_and(|e| e == "xz") {
        let o = Command::new("xz")
            .arg("-dc")
            .arg(path)
            .output()
            .context("cannot start xz (`cargo xtask setup` installs xz-utils)")?;
        if !o.status.success() {
            bail!("xz -dc {} failed ({})", path.display(), o.status);
        }
        Ok(o.stdout)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}

/// A `key=value` of a module's `.modinfo` section (what `modinfo -F key` prints), read from
/// the 64-bit little-endian ELF file itself: the host's modinfo may be absent.
fn modinfo(ko: &[u8], key: &str) -> Option<String> {
    let at = |o: usize, n: usize| ko.get(o..o + n);
    let u16_at = |o| at(o, 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |o| at(o, 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
    let u64_at = |o| at(o, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize);
    if at(0, 6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_at(0x28)?, u16_at(0x3a)?, u16_at(0x3c)?, u16_at(0x3e)?);
    let section = |i: usize| -> Option<(usize, &[u8])> {
        let h = shoff + i * shentsize;
        let (off, size) = (u64_at(h + 0x18)?, u64_at(h + 0x20)?);
        Some((u32_at(h)?, at(off, size)?))
    };
    let (_, names) = section(shstrndx)?;
    (0..shnum).find_map(|i| {
        let (name, data) = section(i)?;
        let end = names.get(name..)?.iter().position(|&b| b == 0)?;
        (&names[name..name + end] == b".modinfo")
            .then_some(data)?
            .split(|&b| b == 0)
            .find_map(|kv| kv.strip_prefix(format!("{key}=").as_bytes()))
            .map(|v| String::from_utf8_lossy(v).into_owned())
    })
}

/// `dpkg --compare-versions` order, delegated to dpkg itself.
fn compare_debian_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let lt = Command::new("dpkg")
        .args(["--compare-versions", a, "lt", b])
        .status()
        .is_ok_and(|s| s.success());
    if a == b {
        std::cmp::Ordering::Equal
    } else if lt {
        std::cmp::Ordering::Less
    } else {
        std::cmp::Ordering::Greater
    }
}

/// A kernel image the user supplies (`--vmlinuz PATH`), booted like the Debian ones.
pub fn local(path: &Path, arch: Arch) -> Result<Kernel> {
    if !path.is_file() {
        bail!("--vmlinuz {}: no such file", path.display());
    }
    Ok(Kernel {
        id: format!("{}local", arch.id_prefix()),
        arch,
        package: "local".into(),
        version: path.display().to_string(),
        vmlinuz: path.to_path_buf(),
        usb_serial: UsbSerial::Unavailable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A relocatable ELF file with sections: null, `.shstrtab`, `.modinfo`.
    fn ko(modinfo: &[u8]) -> Vec<u8> {
        let names = b"\0.shstrtab\0.modinfo\0";
        let mut f = vec![0u8; 64];
        f[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let (names_at, info_at) = (f.len(), f.len() + names.len());
        f.extend_from_slice(names);
        f.extend_from_slice(modinfo);
        let shoff = f.len();
        for (name, off, size) in [
            (0, 0, 0),
            (1, names_at, names.len()),
            (11, info_at, modinfo.len()),
        ] {
            let mut h = [0u8; 64];
            h[..4].copy_from_slice(&(name as u32).to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(off as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            f.extend_from_slice(&h);
        }
        f[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        f[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        f[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        f[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        f
    }

    #[test]
    fn reads_depends_from_modinfo() {
        let f = ko(b"license=GPL\0depends=usbserial,usbcore\0name=ftdi_sio\0");
        assert_eq!(modinfo(&f, "depends").as_deref(), Some("usbserial,usbcore"));
        assert_eq!(modinfo(&f, "name").as_deref(), Some("ftdi_sio"));
        assert_eq!(modinfo(&ko(b"depends=\0"), "depends").as_deref(), Some(""));
        assert_eq!(modinfo(b"not an ELF file", "depends"), None);
    }

    #[test]
    fn module_names_compare_like_the_kernel() {
        assert_eq!(module_name("usb-common.ko.xz"), "usb_common");
        assert_eq!(module_name("ftdi_sio.ko"), "ftdi_sio");
        assert_eq!(module_name("xhci-pci"), "xhci_pci");
    }

    #[test]
    fn old_kernel_json_has_no_usb_serial() {
        let k: Kernel = serde_json::from_str(
            r#"{"id":"6.12","package":"p","version":"1","vmlinuz":"/nonexistent"}"#,
        )
        .unwrap();
        assert_eq!(k.usb_serial, UsbSerial::Unavailable);
        assert!(!k.usb_serial.is_cached());
        assert!(UsbSerial::Modules(Vec::new()).is_cached(), "all built in");
    }
}
