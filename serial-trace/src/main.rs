//! serial-trace: finds out why serial bytes are lost inside the Linux kernel and why sleeps
//! wake late around suspend. See README.md.

mod cli;
mod dump;
mod hooks;
mod kallsyms;
mod kernel_btf;
mod ports;
mod privileges;
mod probe;
mod prog_stats;
mod record;
mod report;
mod sysinfo;
mod trace;
mod tracefs;
mod wakeup;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Record(a) => a.into_options().and_then(record::run),
        cli::Command::Report(a) => report_cmd(a),
        cli::Command::Probe(a) => probe::run(a.json),
        cli::Command::Dump(a) => dump_cmd(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serial-trace: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn report_cmd(a: cli::ReportArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let reader = trace::TraceReader::open(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let (r, wakeups) = report::analyze_with_wakeups(reader, a.wakeups.is_some())
        .with_context(|| format!("reading {}", a.file.display()))?;
    if let Some(path) = &a.wakeups {
        let mut out = String::new();
        for w in &wakeups {
            out.push_str(&serde_json::to_string(w)?);
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))?;
    }
    let out = match a.format {
        cli::ReportFormat::Json => report::render_json(&r),
        cli::ReportFormat::Text => {
            let color = match a.color {
                cli::Color::Always => true,
                cli::Color::Never => false,
                cli::Color::Auto => std::io::stdout().is_terminal(),
            };
            report::render_text(&r, color)
        }
    };
    println!("{out}");
    Ok(())
}

fn dump_cmd(a: cli::DumpArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let reader = trace::TraceReader::open(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let style = if a.jsonl {
        dump::Style::Jsonl
    } else {
        dump::Style::Text
    };
    match dump::run(reader, &mut out, style) {
        // `dump | head` closes the pipe: not an error.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
    })
}
