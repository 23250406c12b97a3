//! Builds the eBPF object (serial-trace-ebpf) with the nightly toolchain and bpf-linker, so that
//! `include_bytes_aligned!` in the loader embeds it. `cargo xtask setup` installs both.
fn main() -> anyhow::Result<()> {
    // `cargo fuzz` builds with `--cfg fuzzing` and sanitizer flags the BPF target cannot take;
    // the fuzz targets exercise the trace reader and the report only, so an empty object is
    // embedded instead (loading it would fail loudly, and fuzz builds never load).
    if std::env::var_os("CARGO_CFG_FUZZING").is_some() {
        let out = std::path::Path::new(&std::env::var("OUT_DIR")?).join("serial-trace-ebpf");
        std::fs::write(out, [])?;
        return Ok(());
    }
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
