//! Builds the eBPF object (serial-trace-ebpf) with the nightly toolchain and bpf-linker, so that
//! `include_bytes_aligned!` in the loader embeds it. `cargo xtask setup` installs both.
fn main() -> anyhow::Result<()> {
    // An empty object is embedded instead (`record` then refuses with a clear message) when
    // * `cargo fuzz` builds with `--cfg fuzzing` and sanitizer flags the BPF target cannot take
    //   (the fuzz targets exercise the trace reader and the report only), or
    // * the `ebpf` feature is off: xtask reads reports through the library, and must build on a
    //   machine where setup has not yet installed nightly and bpf-linker.
    if std::env::var_os("CARGO_CFG_FUZZING").is_some()
        || std::env::var_os("CARGO_FEATURE_EBPF").is_none()
    {
        println!("cargo:rustc-env=SERIAL_TRACE_EBPF_ARCH=none");
        let out = std::path::Path::new(&std::env::var("OUT_DIR")?).join("serial-trace-ebpf");
        std::fs::write(out, [])?;
        return Ok(());
    }
    // aya-build builds the object for this target's `bpf_target_arch` (its kprobe programs
    // read that architecture's registers); the loader compares it with the running kernel's.
    println!(
        "cargo:rustc-env=SERIAL_TRACE_EBPF_ARCH={}",
        std::env::var("CARGO_CFG_TARGET_ARCH")?
    );
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../serial-trace-ebpf");
    // aya-build asks to be rerun when the eBPF crate changes, not when the crate it shares
    // its structs with does: a change to serial-trace-common alone (a struct's layout, the
    // histogram's buckets) would otherwise embed a stale object
    println!(
        "cargo:rerun-if-changed={}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../serial-trace-common")
    );
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "serial-trace-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )?;
    strip_debug_info(&std::path::Path::new(&std::env::var("OUT_DIR")?).join("serial-trace-ebpf"))
}

/// Set to keep the eBPF programs' line info (`.BTF.ext`): the verifier's log then shows the
/// source line of each instruction, which helps when a kernel refuses a program.
const KEEP_LINE_INFO: &str = "SERIAL_TRACE_EBPF_LINE_INFO";

/// Removes the DWARF sections from the eBPF object. bpf-linker derives the object's BTF from
/// DWARF (`debug = 2`), but once linked only `.BTF` and `.BTF.ext` are read, by aya and the
/// kernel: stripped, the object is a fifth of its size, and so is every binary that embeds
/// it. `.BTF.ext` goes too (unless `SERIAL_TRACE_EBPF_LINE_INFO` is set): it holds only the
/// programs' line info (38,000 records, each with a relocation: half the object) and their
/// function info, which the kernel needs for global subprograms and this object has none
/// (its `.text` is `memcmp`). aya parses every record of it when it loads the object, ~6 MB
/// of the recorder's set-up peak. The nightly toolchain's own `rust-objcopy` does it (LLVM's
/// objcopy, which knows BPF objects; GNU objcopy does not), with the nightly's libLLVM.
fn strip_debug_info(object: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::process::Command;
    let sysroot = Command::new("rustc")
        .args(["+nightly", "--print", "sysroot"])
        .output()
        .context("rustc +nightly --print sysroot")?;
    anyhow::ensure!(
        sysroot.status.success(),
        "rustc +nightly --print sysroot failed"
    );
    let sysroot = std::path::PathBuf::from(String::from_utf8(sysroot.stdout)?.trim());
    let host = std::env::var("HOST")?;
    let objcopy = sysroot.join(format!("lib/rustlib/{host}/bin/rust-objcopy"));
    println!("cargo:rerun-if-env-changed={KEEP_LINE_INFO}");
    let mut strip = vec!["--strip-debug"];
    if std::env::var_os(KEEP_LINE_INFO).is_none() {
        strip.extend(["--remove-section=.BTF.ext", "--remove-section=.rel.BTF.ext"]);
    }
    let status = Command::new(&objcopy)
        .env("LD_LIBRARY_PATH", sysroot.join("lib"))
        .args(&strip)
        .arg(object)
        .status()
        .with_context(|| format!("running {}", objcopy.display()))?;
    anyhow::ensure!(
        status.success(),
        "{} --strip-debug failed",
        objcopy.display()
    );
    Ok(())
}
