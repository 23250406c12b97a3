//! `cargo xtask fuzz`: runs the cargo-fuzz targets in `fuzz/` (the trace reader and the whole
//! report pipeline) under libFuzzer with AddressSanitizer, each for a bounded time. Seeds are
//! the committed traces in `fuzz/seeds/`; the corpus grows in `target/fuzz-corpus/`; a crash
//! leaves its input in `fuzz/artifacts/<target>/` and fails the run.

use std::process::Command;

use anyhow::Result;
use clap::Args;

use crate::util::{root, sh};

/// The fuzz targets (`fuzz/fuzz_targets/*.rs`).
pub const TARGETS: &[&str] = &["trace_reader", "report"];

#[derive(Args)]
pub struct FuzzArgs {
    /// Seconds to fuzz each target.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Fuzz only this target (repeatable; default: all).
    #[arg(long = "target", value_parser = clap::builder::PossibleValuesParser::new(TARGETS))]
    pub targets: Vec<String>,
}

pub fn run(a: FuzzArgs) -> Result<()> {
    let r = root();
    let targets: Vec<&str> = if a.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        a.targets.iter().map(String::as_str).collect()
    };
    for t in targets {
        let corpus = r.join("target/fuzz-corpus").join(t);
        std::fs::create_dir_all(&corpus)?;
        eprintln!("xtask: fuzzing {t} for {} s", a.seconds);
        sh(Command::new("cargo")
            .current_dir(&r)
            .args(["+nightly", "fuzz", "run", "--fuzz-dir", "fuzz", t])
            .arg(&corpus)
            .arg(r.join("fuzz/seeds"))
            .args([
                "--",
                &format!("-max_total_time={}", a.seconds),
                // a report of one input must not take seconds or gigabytes
                "-timeout=10",
                "-rss_limit_mb=2048",
                "-print_final_stats=1",
            ]))?;
    }
    Ok(())
}
