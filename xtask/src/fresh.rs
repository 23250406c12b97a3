//! `cargo xtask test --fresh`: runs `.ci/run` the way CI does on a new machine, so a test that
//! passes only because someone installed a tool by hand fails here first.
//!
//! What "fresh" means, and how each part is made so:
//! * **a clean clone** of the committed HEAD in `target/fresh/main`, with `shared` beside it
//!   (as CI lays it); uncommitted changes are not in it, and the run says so;
//! * **an empty `CARGO_HOME`** holding only the rustup proxies (cargo, rustc, …: the machine's
//!   one toolchain, which a new machine has), so bpf-linker, cargo-fuzz and every crate come
//!   from `cargo xtask setup` and the registry, not from earlier installs;
//! * **an empty `HOME`** (`RUSTUP_HOME` and `PYENV_ROOT` still point at the machine's), so the
//!   kernel cache and the LLVM links in `~/.cache/serial-trace` are made anew;
//! * **no hand-installed Debian programs**: every program of a package that apt installed on
//!   this machine since it booted, other than by `cargo xtask setup`, is replaced (in a private
//!   mount namespace, for this run only) by a stub that fails with "hidden by --fresh". A test
//!   that calls bpftool, bpftrace or anything else setup does not install fails with that
//!   message. Packages of the machine image are left alone: a new machine has them.
//!
//! Setup's own apt step is not re-run (its packages stay installed); the first CI run on a new
//! machine is what exercises it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::util::{self, root, sh, stdout_of};

/// Names rustup installs into `$CARGO_HOME/bin` as proxies of itself.
const RUSTUP_PROXIES: &[&str] = &[
    "rustup",
    "cargo",
    "rustc",
    "rustdoc",
    "rustfmt",
    "cargo-fmt",
    "cargo-clippy",
    "clippy-driver",
    "rust-gdb",
    "rust-lldb",
    "rust-analyzer",
    "cargo-miri",
];

/// Where Debian puts programs that a test could find on PATH.
const PROGRAM_DIRS: &[&str] = &[
    "/usr/bin/",
    "/usr/sbin/",
    "/bin/",
    "/sbin/",
    "/usr/local/bin/",
];

pub fn run() -> Result<()> {
    if !util::is_root() {
        bail!(
            "--fresh hides programs in a private mount namespace and needs root: sudo -E cargo xtask test --fresh"
        );
    }
    let r = root();
    let dirty = stdout_of(
        Command::new("git")
            .current_dir(&r)
            .args(["status", "--porcelain"]),
    )
    .context("git status failed: --fresh tests a clean clone of HEAD")?;
    if !dirty.is_empty() {
        eprintln!(
            "xtask: warning: {} uncommitted change(s) are not in the fresh clone (it tests HEAD)",
            dirty.lines().count()
        );
    }
    let base = r.join("target/fresh");
    if base.exists() {
        std::fs::remove_dir_all(&base).with_context(|| format!("removing {}", base.display()))?;
    }
    let clone = base.join("main");
    std::fs::create_dir_all(&base)?;
    sh(Command::new("git")
        .args(["clone", "--quiet", "--no-local"])
        .arg(&r)
        .arg(&clone))?;
    let shared = r.join("../shared");
    if shared.is_dir() {
        std::os::unix::fs::symlink(shared.canonicalize()?, base.join("shared"))?;
    }
    let cargo_home = base.join("cargo-home");
    let home = base.join("home");
    std::fs::create_dir_all(cargo_home.join("bin"))?;
    std::fs::create_dir_all(&home)?;
    let rustup =
        which("rustup").context("rustup not on PATH: the machine's toolchain is missing")?;
    for name in RUSTUP_PROXIES {
        std::os::unix::fs::symlink(&rustup, cargo_home.join("bin").join(name))?;
    }
    let hidden = hand_installed_programs()?;
    let stub = base.join("hidden-program");
    std::fs::write(
        &stub,
        "#!/bin/sh\necho \"$0: hidden by cargo xtask test --fresh: installed on this machine by \
         hand, not by cargo xtask setup; a new machine does not have it\" >&2\nexit 127\n",
    )?;
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    eprintln!(
        "xtask: fresh run of {} with an empty CARGO_HOME ({}) and HOME ({}); hiding {} \
         hand-installed program(s){}",
        clone.display(),
        cargo_home.display(),
        home.display(),
        hidden.len(),
        if hidden.is_empty() {
            String::new()
        } else {
            format!(": {}", names(&hidden))
        }
    );
    let mut script = String::from("set -e\n");
    for p in &hidden {
        script.push_str(&format!(
            "mount --bind '{}' '{}'\n",
            stub.display(),
            p.display()
        ));
    }
    script.push_str("exec bash .ci/run\n");
    let path = fresh_path(&cargo_home)?;
    let started = Instant::now();
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .current_dir(&clone)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &home)
        .env("CARGO_HOME", &cargo_home)
        .env("RUSTUP_HOME", rustup_home()?)
        .env("CI", "true");
    for keep in [
        "PYENV_ROOT",
        "TERM",
        "LANG",
        "LC_ALL",
        "USER",
        "LOGNAME",
        "TZ",
    ] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    if std::env::var_os("PYENV_ROOT").is_none() {
        if let Some(real_home) = std::env::var_os("HOME") {
            cmd.env("PYENV_ROOT", Path::new(&real_home).join(".pyenv"));
        }
    }
    let result = sh(&mut cmd);
    eprintln!(
        "xtask: fresh run {} after {:.0} s",
        if result.is_ok() { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    result
}

fn names(paths: &[PathBuf]) -> String {
    let mut v: Vec<String> = paths
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    v.sort();
    v.dedup();
    v.join(" ")
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn rustup_home() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os("RUSTUP_HOME") {
        return Ok(h.into());
    }
    let home = std::env::var_os("HOME").context("HOME not set")?;
    Ok(Path::new(&home).join(".rustup"))
}

/// The caller's PATH with its cargo bin folder replaced by the fresh one (and no other
/// `.cargo/bin`), so the machine's other programs are found as CI finds them.
fn fresh_path(cargo_home: &Path) -> Result<std::ffi::OsString> {
    let real_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .map(|h| h.join("bin"));
    let mut dirs = vec![cargo_home.join("bin")];
    for d in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if Some(&d) == real_bin.as_ref() || d.ends_with(".cargo/bin") {
            continue;
        }
        dirs.push(d);
    }
    Ok(std::env::join_paths(dirs)?)
}

/// Programs (in [`PROGRAM_DIRS`]) of the Debian packages apt installed since this machine
/// booted, except those of setup's own apt runs: `apt-get install` transactions in
/// /var/log/apt/history.log whose requested packages are all setup's.
fn hand_installed_programs() -> Result<Vec<PathBuf>> {
    let history = match std::fs::read_to_string("/var/log/apt/history.log") {
        Ok(h) => h,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).context("reading /var/log/apt/history.log"),
    };
    let booted = boot_time_utc()?;
    let setups: BTreeSet<&str> = crate::setup::debian_package_names().into_iter().collect();
    let mut packages = BTreeSet::new();
    for t in parse_history(&history) {
        if t.start < booted || t.requested().iter().all(|p| setups.contains(p.as_str())) {
            continue;
        }
        packages.extend(t.installed);
    }
    let mut programs = Vec::new();
    for pkg in &packages {
        let Some(files) = stdout_of(Command::new("dpkg").args(["-L", pkg])) else {
            continue;
        };
        for f in files.lines() {
            let in_dir = PROGRAM_DIRS
                .iter()
                .any(|d| f.strip_prefix(d).is_some_and(|n| !n.contains('/')));
            let p = Path::new(f);
            // `is_file` follows symlinks: the bind mount lands on the file they name
            if in_dir && p.is_file() {
                programs.push(p.to_path_buf());
            }
        }
    }
    Ok(programs)
}

/// One transaction of apt's history.log.
struct AptTransaction {
    /// "YYYY-MM-DD  HH:MM:SS" as apt writes it (local time; sortable as text).
    start: String,
    commandline: String,
    /// Package names installed (without `:arch`), requested or automatic.
    installed: Vec<String>,
}

impl AptTransaction {
    /// Package names given on the command line (`apt-get install -y foo bar` → foo, bar).
    fn requested(&self) -> Vec<String> {
        let mut words = self
            .commandline
            .split_whitespace()
            .skip_while(|w| *w != "install")
            .skip(1);
        let mut out = Vec::new();
        while let Some(w) = words.next() {
            // options that take a value as the next word (`-t bookworm-backports`)
            if matches!(
                w,
                "-t" | "--target-release" | "-o" | "--option" | "-c" | "--config-file"
            ) {
                words.next();
            } else if !w.starts_with('-') {
                out.push(w.split([':', '=', '/']).next().unwrap_or(w).to_string());
            }
        }
        out
    }
}

fn parse_history(text: &str) -> Vec<AptTransaction> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let field = |name: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        let (Some(start), Some(install)) = (field("Start-Date:"), field("Install:")) else {
            continue;
        };
        // "pkg:amd64 (1.0, automatic), other:amd64 (2.0)"
        let installed = install
            .split("), ")
            .filter_map(|e| e.split([':', ' ']).next())
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        out.push(AptTransaction {
            start,
            commandline: field("Commandline:").unwrap_or_default(),
            installed,
        });
    }
    out
}

/// Boot time in apt's format and time zone (apt writes local time; `date` gives the same).
fn boot_time_utc() -> Result<String> {
    let up: f64 = std::fs::read_to_string("/proc/uptime")?
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .context("/proc/uptime unreadable")?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_secs_f64();
    let booted = (now - up) as i64;
    stdout_of(Command::new("date").args(["-d", &format!("@{booted}"), "+%Y-%m-%d  %H:%M:%S"]))
        .context("date failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str = "
Start-Date: 2026-09-22  04:50:01
Commandline: apt-get install -y linux-perf
Install: linux-perf:amd64 (6.1.187-1)
End-Date: 2026-09-22  04:50:09

Start-Date: 2026-12-01  20:24:10
Commandline: apt-get install -y -q --no-install-recommends qemu-system-x86 busybox-static
Install: seabios:amd64 (1.16.2-1, automatic), qemu-system-x86:amd64 (1:7.2+dfsg-7), busybox-static:amd64 (1:1.35.0-4+b3)
End-Date: 2026-12-01  20:24:40

Start-Date: 2026-12-01  21:00:00
Commandline: apt install bpftool
Upgrade: foo:amd64 (1, 2)
Install: bpftool:amd64 (7.1.0+6.1.158-1)
End-Date: 2026-12-01  21:00:05
";

    #[test]
    fn apt_history_transactions() {
        let t = parse_history(HISTORY);
        assert_eq!(t.len(), 3);
        assert_eq!(
            t[1].installed,
            ["seabios", "qemu-system-x86", "busybox-static"]
        );
        assert_eq!(t[1].requested(), ["qemu-system-x86", "busybox-static"]);
        assert_eq!(t[2].requested(), ["bpftool"]);
        assert_eq!(t[2].installed, ["bpftool"]);
        assert!(t[0].start < t[1].start);
    }

    #[test]
    fn an_option_value_is_not_a_requested_package() {
        // setup's own backports run, as apt logged it
        let t = AptTransaction {
            start: String::new(),
            commandline: "apt-get -o Dir::State::Lists=/x install -y -q --no-remove \
                          -t bookworm-backports qemu-system-x86"
                .into(),
            installed: Vec::new(),
        };
        assert_eq!(t.requested(), ["qemu-system-x86"]);
    }
}
