//! Builds the eBPF object (serial-trace-ebpf) with the nightly toolchain and bpf-linker, so that
//! `include_bytes_aligned!` in the loader embeds it. `cargo xtask setup` installs both.
fn main() -> anyhow::Result<()> {
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
