//! Debian kernels for the VM matrix: resolved to the newest build of each series through a
//! private apt configuration (the host's apt state is never touched), downloaded once, and
//! cached as `vmlinuz` + `config` under `~/.cache/serial-trace/kernels/<id>/`.
//!
//! To add a kernel, add a row to [`KERNELS`]: its id, the metapackage that always depends on
//! the newest image of the flavour, and the version prefix of the series.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::util::{sh, stdout_of};

/// One row of the matrix.
pub struct KernelSpec {
    pub id: &'static str,
    /// Metapackage whose `Depends` names the newest image (`linux-image-amd64`, `-rt-amd64`).
    pub meta: &'static str,
    /// Version prefix of the series in the metapackage's version (`6.1.` → bookworm).
    pub series: &'static str,
}

pub const KERNELS: &[KernelSpec] = &[
    KernelSpec {
        id: "5.10",
        meta: "linux-image-amd64",
        series: "5.10.",
    },
    // An older point release, as vendor BSP kernels often are: 5.10.223 traces an
    // `hrtimer_cancel` right before every `hrtimer_expire_entry` (5.10.262 does not).
    KernelSpec {
        id: "5.10-old",
        meta: "linux-image-amd64",
        series: "5.10.223-",
    },
    KernelSpec {
        id: "6.1",
        meta: "linux-image-amd64",
        series: "6.1.",
    },
    KernelSpec {
        id: "6.12",
        meta: "linux-image-amd64",
        series: "6.12.",
    },
    KernelSpec {
        id: "6.12-rt",
        meta: "linux-image-rt-amd64",
        series: "6.12.",
    },
];

/// Suites searched: bullseye (5.10), bookworm (6.1), trixie (6.12), with updates and security.
const SOURCES: &str = "\
deb [arch=amd64] http://deb.debian.org/debian bullseye main
deb [arch=amd64] http://deb.debian.org/debian bullseye-updates main
deb [arch=amd64] http://deb.debian.org/debian-security bullseye-security main
deb [arch=amd64] http://deb.debian.org/debian bookworm main
deb [arch=amd64] http://deb.debian.org/debian bookworm-updates main
deb [arch=amd64] http://deb.debian.org/debian-security bookworm-security main
deb [arch=amd64] http://deb.debian.org/debian trixie main
deb [arch=amd64] http://deb.debian.org/debian trixie-updates main
deb [arch=amd64] http://deb.debian.org/debian-security trixie-security main
";

/// A kernel ready to boot.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Kernel {
    pub id: String,
    /// Debian package the image came from (`linux-image-6.1.0-56-amd64-unsigned`), or `local`.
    pub package: String,
    pub version: String,
    pub vmlinuz: PathBuf,
}

pub fn cache_root() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME not set")?;
    Ok(Path::new(&home).join(".cache/serial-trace/kernels"))
}

/// apt-get / apt-cache with a private state under `root/apt`.
fn apt(root: &Path, tool: &str) -> Command {
    let d = root.join("apt");
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
    c.args([
        "-o",
        "APT::Architecture=amd64",
        "-o",
        "APT::Architectures::=amd64",
        "-o",
        "Acquire::Languages=none",
        "-o",
        "APT::Sandbox::User=root",
        "-o",
        "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
        "-q",
    ]);
    c
}

/// Keeps apt's private state and refreshes its package lists once per process.
pub struct Fetcher {
    root: PathBuf,
    updated: bool,
}

impl Fetcher {
    pub fn new() -> Result<Self> {
        let root = cache_root()?;
        let d = root.join("apt");
        std::fs::create_dir_all(d.join("lists/partial"))?;
        std::fs::create_dir_all(d.join("cache/archives/partial"))?;
        std::fs::write(d.join("sources.list"), SOURCES)?;
        if !d.join("status").exists() {
            std::fs::write(d.join("status"), "")?;
        }
        Ok(Self {
            root,
            updated: false,
        })
    }

    fn update(&mut self) -> Result<()> {
        if !self.updated {
            sh(apt(&self.root, "apt-get").arg("update"))?;
            self.updated = true;
        }
        Ok(())
    }

    /// The cached kernel of `spec`, downloading it when missing or when `refresh` is set.
    pub fn ensure(&mut self, spec: &KernelSpec, refresh: bool) -> Result<Kernel> {
        let dir = self.root.join(spec.id);
        let meta_path = dir.join("kernel.json");
        if !refresh {
            if let Ok(text) = std::fs::read_to_string(&meta_path) {
                if let Ok(k) = serde_json::from_str::<Kernel>(&text) {
                    if k.vmlinuz.is_file() {
                        return Ok(k);
                    }
                }
            }
        }
        self.update()?;
        let (package, version) = self.resolve(spec)?;
        eprintln!("xtask: kernel {}: {package} {version}", spec.id);
        let archives = self.root.join("apt/cache/archives");
        sh(apt(&self.root, "apt-get")
            .current_dir(&archives)
            .arg("download")
            .arg(format!("{package}={version}")))?;
        let deb = std::fs::read_dir(&archives)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
            })
            .with_context(|| format!("apt-get download left no {package} .deb"))?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let extract = format!(
            "dpkg-deb --fsys-tarfile '{}' | tar -x -C '{}' --wildcards './boot/vmlinuz-*' './boot/config-*'",
            deb.display(),
            dir.display()
        );
        sh(Command::new("sh").args(["-c", &extract]))?;
        std::fs::remove_file(&deb)?;
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
            id: spec.id.into(),
            package,
            version,
            vmlinuz: vmlinuz.context("no vmlinuz in the package")?,
        };
        std::fs::write(&meta_path, serde_json::to_string_pretty(&k)?)?;
        Ok(k)
    }

    /// (image package, version): the newest metapackage version of the series and the image it
    /// depends on, as its `-unsigned` twin (same kernel without the EFI signature wrapper).
    fn resolve(&self, spec: &KernelSpec) -> Result<(String, String)> {
        let madison = stdout_of(apt(&self.root, "apt-cache").args(["madison", spec.meta]))
            .with_context(|| format!("apt-cache madison {} failed", spec.meta))?;
        let mut versions: Vec<&str> = madison
            .lines()
            .filter_map(|l| l.split('|').nth(1).map(str::trim))
            .filter(|v| v.starts_with(spec.series))
            .collect();
        versions.sort_by(|a, b| compare_debian_versions(a, b));
        let Some(meta_version) = versions.last() else {
            bail!(
                "no {} of series {} in bullseye/bookworm/trixie",
                spec.meta,
                spec.series
            );
        };
        let show = stdout_of(
            apt(&self.root, "apt-cache").args(["show", &format!("{}={meta_version}", spec.meta)]),
        )
        .context("apt-cache show failed")?;
        let image = show
            .lines()
            .find_map(|l| l.strip_prefix("Depends: "))
            .and_then(|d| d.split([',', ' ']).find(|p| p.starts_with("linux-image-")))
            .with_context(|| format!("{} {meta_version} depends on no image", spec.meta))?;
        let unsigned = format!("{image}-unsigned");
        let policy = stdout_of(apt(&self.root, "apt-cache").args(["madison", &unsigned]))
            .unwrap_or_default();
        let version = policy
            .lines()
            .filter_map(|l| l.split('|').nth(1).map(str::trim))
            .max_by(|a, b| compare_debian_versions(a, b))
            .with_context(|| format!("{unsigned} not found"))?;
        Ok((unsigned, version.to_string()))
    }
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
pub fn local(path: &Path) -> Result<Kernel> {
    if !path.is_file() {
        bail!("--vmlinuz {}: no such file", path.display());
    }
    Ok(Kernel {
        id: "local".into(),
        package: "local".into(),
        version: path.display().to_string(),
        vmlinuz: path.to_path_buf(),
    })
}
