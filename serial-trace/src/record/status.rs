//! The live status line on stderr: rewritten in place on a terminal, a plain line every
//! [`PLAIN_EVERY`] otherwise (CI logs).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const PLAIN_EVERY: Duration = Duration::from_secs(10);

pub struct Status {
    tty: bool,
    started: Instant,
    last_plain: Instant,
    last_events: u64,
    last_at: Instant,
}

#[derive(Clone, Copy, Default)]
pub struct Counters {
    pub events: u64,
    pub lost: u64,
    pub suspend_cycles: u64,
    pub bytes: u64,
}

impl Status {
    pub fn new() -> Self {
        let now = Instant::now();
        Self {
            tty: std::io::stderr().is_terminal(),
            started: now,
            last_plain: now,
            last_events: 0,
            last_at: now,
        }
    }

    fn line(&mut self, c: Counters) -> String {
        let now = Instant::now();
        let dt = now.duration_since(self.last_at).as_secs_f64().max(1e-3);
        let rate = (c.events - self.last_events) as f64 / dt;
        self.last_events = c.events;
        self.last_at = now;
        format!(
            "recording {:>6.1}s | {:>9.0} events/s | {} events | lost {} | suspend cycles {} | {:.1} MiB",
            self.started.elapsed().as_secs_f64(),
            rate,
            c.events,
            c.lost,
            c.suspend_cycles,
            c.bytes as f64 / (1 << 20) as f64
        )
    }

    /// Called about once a second.
    pub fn tick(&mut self, c: Counters) {
        if self.tty {
            let l = self.line(c);
            say(format_args!("\r\x1b[K{l}"));
            let _ = std::io::stderr().flush();
        } else if self.last_plain.elapsed() >= PLAIN_EVERY {
            self.last_plain = Instant::now();
            let l = self.line(c);
            say(format_args!("{l}\n"));
        }
    }

    /// Ends the status line so later output starts on a fresh line.
    pub fn finish(&mut self) {
        if self.tty {
            say(format_args!("\n"));
        }
    }
}

/// Writes to stderr, ignoring failure: a recorder whose stderr was closed (a pipe whose reader
/// went away, a terminal that hung up) goes on recording; `eprintln!` would panic.
pub fn say(args: std::fmt::Arguments) {
    let _ = std::io::stderr().write_fmt(args);
}
