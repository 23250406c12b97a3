//! Any byte string given to the trace reader: a clear error or frames, never a panic, a hang or
//! an allocation sized by an unchecked length field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serial_trace::trace::TraceReader;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut reader) = TraceReader::new(data) {
        while let Ok(Some(_frame)) = reader.next_frame() {}
        let _ = reader.end();
    }
});
