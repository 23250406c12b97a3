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
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "serial-trace-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
