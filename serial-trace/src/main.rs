//! serial-trace: finds out why serial bytes are lost inside the Linux kernel and why sleeps
//! wake late around suspend. See README.md.

use serial_trace::{analysis, check, cli, diff, dump, probe, record, render, trace};

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Record(a) => a.into_options().and_then(record::run),
        cli::Command::Monitor(a) => {
            let (record, monitor) = a.into_options();
            serial_trace::monitor::run(record, monitor)
        }
        cli::Command::Report(a) => report_cmd(a),
        cli::Command::Probe(a) => probe::run(a.json, &a.require),
        cli::Command::Dump(a) => dump_cmd(a),
        cli::Command::Diff(a) => diff_cmd(a),
        cli::Command::Completions(a) => {
            cli::completions(a.shell, &mut std::io::stdout().lock());
            Ok(())
        }
        cli::Command::Man(a) => cli::man_pages(&a.out_dir).map(|pages| {
            for p in pages {
                println!("{}", p.display());
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // like grep and diff: 1 = the answer is "no" (a --check rule failed), 2 = trouble
        Err(e) if e.downcast_ref::<check::Failed>().is_some() => ExitCode::from(1),
        Err(e) if e.downcast_ref::<record::CommandFailed>().is_some() => {
            let code = e
                .downcast_ref::<record::CommandFailed>()
                .map_or(1, |c| c.code);
            let _ = writeln!(std::io::stderr(), "serial-trace: {e:#}");
            ExitCode::from(code)
        }
        Err(e) if e.downcast_ref::<check::Unmet>().is_some() => {
            let _ = writeln!(std::io::stderr(), "serial-trace: {e:#}");
            ExitCode::from(1)
        }
        Err(e) => {
            // a closed stderr must not turn the error into a panic
            let _ = writeln!(std::io::stderr(), "serial-trace: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn report_cmd(a: cli::ReportArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let reader = trace::TraceReader::open(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let (mut r, wakeups) = analysis::analyze_with_wakeups(reader, a.wakeups.is_some())
        .with_context(|| format!("reading {}", a.file.display()))?;
    r.keep_ports(&a.ports).map_err(anyhow::Error::msg)?;
    let ns = |d: Option<std::time::Duration>| d.map(|d| d.as_nanos() as u64);
    r.keep_window(ns(a.since), ns(a.until), a.cycle)
        .map_err(anyhow::Error::msg)?;
    if let Some(path) = &a.wakeups {
        let mut out = String::new();
        for w in &wakeups {
            out.push_str(&serde_json::to_string(w)?);
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))?;
    }
    let format = a.format();
    let mut out = match format {
        cli::ReportFormat::Json => render::render_json(&r) + "\n",
        cli::ReportFormat::Html => render::render_html(&r),
        cli::ReportFormat::Svg => render::render_timeline_svg(&r, 1200, 640),
        cli::ReportFormat::TraceEvent | cli::ReportFormat::Perfetto => {
            // a second pass over the file, streamed to the output: per-CPU tracks need every
            // event, not the summary
            let again = trace::TraceReader::open(&a.file)
                .with_context(|| format!("cannot read {}", a.file.display()))?;
            let out: Box<dyn std::io::Write> = match &a.output {
                Some(path) => Box::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("writing {}", path.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let result = match format {
                cli::ReportFormat::Perfetto => render::write_perfetto(&r, again, out),
                _ => render::write_trace_events(&r, again, out),
            };
            match result {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.with_context(|| format!("exporting {}", a.file.display()))?,
            }
            String::new()
        }
        cli::ReportFormat::Text => {
            let color = a.colored(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            );
            render::render_text(&r, color) + "\n"
        }
    };
    let failed = check::run(&r, &a.checks)?;
    if !a.checks.is_empty() && matches!(format, cli::ReportFormat::Text) {
        out.push_str(&check::render(&failed, a.checks.len()));
    }
    match &a.output {
        _ if out.is_empty() => {}
        Some(path) => {
            std::fs::write(path, &out).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(out.as_bytes()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
        }
    }
    if !failed.is_empty() {
        for f in &failed {
            eprintln!("serial-trace: check failed: {f}");
        }
        return Err(check::Failed(failed.len()).into());
    }
    Ok(())
}

fn diff_cmd(a: cli::DiffArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let analyse = |path: &std::path::Path| {
        let reader = trace::TraceReader::open(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        analysis::analyze_with_wakeups(reader, false)
            .map(|(r, _)| r)
            .with_context(|| format!("reading {}", path.display()))
    };
    let d = diff::diff(&analyse(&a.before)?, &analyse(&a.after)?);
    let failed = d.failed(&a.fail_if)?;
    let out = match a.format {
        cli::DiffFormat::Text => diff::render_text(&d),
        cli::DiffFormat::Json => serde_json::to_string_pretty(&d)? + "\n",
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(out.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    if failed.is_empty() {
        Ok(())
    } else {
        for f in &failed {
            eprintln!("serial-trace: diff rule broken: {f}");
        }
        Err(check::Failed(failed.len()).into())
    }
}

fn dump_cmd(a: cli::DumpArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let reader = trace::TraceReader::open(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let style = if a.jsonl {
        dump::Style::Jsonl {
            symbols: a.symbols,
            meta: a.meta,
        }
    } else {
        dump::Style::Text
    };
    match dump::run(reader, &mut out, style, &a.kind_ids()) {
        // `dump | head` closes the pipe: not an error.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        Err(e) => Err(e),
        Ok(c) => {
            // events only on stdout: what is missing from them goes to stderr, never unsaid
            let said_inline = !a.jsonl || a.meta;
            if !said_inline && (c.lost > 0 || c.damaged > 0 || c.ended_early.is_some()) {
                let mut what = Vec::new();
                if c.lost > 0 {
                    what.push(format!("{} events lost by the kernel", c.lost));
                }
                if c.damaged > 0 {
                    what.push(format!("{} damaged stretches skipped", c.damaged));
                }
                if let Some(e) = c.ended_early {
                    what.push(format!("the trace ends {e} (its last frame incomplete)"));
                }
                eprintln!(
                    "serial-trace dump: {}; --meta prints where",
                    what.join(", ")
                );
            }
            Ok(())
        }
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
