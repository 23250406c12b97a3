//! The direction of the arrows (docs/ARCHITECTURE.md), checked on the sources: the trace format
//! depends on nothing above it; the analysis reads the trace only and never formats for people
//! through a renderer; renderers read the model, never the kernel. Test modules are exempt
//! (they may render what they analysed).

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its text up to its first `#[cfg(test)]`.
fn production_code(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
                out.push((p, code));
            }
        }
    }
    out
}

/// `crate::X` paths used by the production code under `dir` whose module `X` is not allowed.
fn forbidden_uses(dir: &str, allowed: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    for (path, code) in production_code(&src().join(dir)) {
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for (i, _) in line.match_indices("crate::") {
                let module: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !allowed.contains(&module.as_str()) {
                    bad.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
    }
    bad
}

#[test]
fn the_trace_format_depends_on_nothing_above_it() {
    let bad = forbidden_uses("trace", &["trace"]);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_analysis_reads_only_the_trace() {
    let bad = forbidden_uses("analysis", &["analysis", "trace", "fmt"]);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn renderers_read_only_the_model() {
    let bad = forbidden_uses("render", &["render", "analysis", "trace", "fmt"]);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
