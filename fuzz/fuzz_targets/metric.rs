//! The metric JSON (invokust field names) as other producers may write it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpa_core::wire::parse_metric;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(report) = parse_metric("fuzz", text) {
        // What was accepted must serialise back.
        serde_json::to_string(&report).unwrap();
    }
});
