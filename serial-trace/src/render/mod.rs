//! Renderers: turn the analysis's [`Report`] into what people and tools read. They read the
//! model only (never the trace, except `trace_event`, which streams the events a second time
//! for its per-CPU tracks) and format with `crate::fmt`.
//!
//! * `text` — the terminal report; `summary` — the verdict lines it and `html` open with;
//! * `html` — one self-contained page with the `svg` timeline inline;
//! * `svg` — the timeline alone;
//! * `trace_event` — Chrome trace-event JSON for Perfetto and chrome://tracing;
//! * JSON — the `Report` value itself ([`render_json`], `docs/report-json.md`).

mod html;
mod summary;
mod svg;
mod text;
mod trace_event;

use crate::analysis::Report;

pub use html::render_html;
pub use svg::render_timeline_svg;
pub use text::render_text;
pub use trace_event::write_trace_events;

/// The JSON report: the [`Report`] value, pretty-printed.
pub fn render_json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("report serializes")
}
