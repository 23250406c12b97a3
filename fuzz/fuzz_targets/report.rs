//! Any byte string as a trace, through the whole report pipeline: analysis, every renderer, the
//! trace-event export and the check rules. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serial_trace::{analysis, render};
use serial_trace::trace::TraceReader;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = TraceReader::new(data) else {
        return;
    };
    let Ok((r, _wakeups)) = analysis::analyze_with_wakeups(reader, true) else {
        return;
    };
    let _ = render::render_text(&r, true);
    let _ = render::render_json(&r);
    let _ = render::render_html(&r);
    let _ = render::render_timeline_svg(&r, 640, 480);
    let _ = serial_trace::check::run(&r, &["drops=0".into(), "timer_p99<2ms".into()]);
    if let Ok(again) = TraceReader::new(data) {
        let _ = render::write_trace_events(&r, again, std::io::sink());
    }
});
