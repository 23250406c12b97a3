//! Renderers: turn the analysis's [`Report`] into what people and tools read. They read the
//! model only (never the trace, except the track exports, which stream the events a second
//! time for their per-CPU tracks) and format with `crate::fmt`.
//!
//! * `text` — the terminal report; `summary` — the verdict lines it and `html` open with;
//! * `html` — one self-contained page with the `svg` timeline inline;
//! * `svg` — the timeline alone;
//! * `tracks` — the timeline tracks both exports share; `trace_event` writes them as Chrome
//!   trace-event JSON (chrome://tracing, Perfetto), `perfetto` as Perfetto's native protobuf;
//! * JSON — the `Report` value itself ([`render_json`], `docs/report-json.md`).

mod html;
mod perfetto;
mod settings;
mod summary;
mod svg;
mod text;
mod trace_event;
mod tracks;

use crate::analysis::Report;

pub use html::render_html;
pub use perfetto::write_perfetto;
pub use svg::render_timeline_svg;
pub use text::render_text;
pub use trace_event::write_trace_events;

/// The JSON report: the [`Report`] value, pretty-printed.
pub fn render_json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("report serializes")
}
