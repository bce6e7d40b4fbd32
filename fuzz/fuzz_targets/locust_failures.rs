//! The failures CSV lpa's Locust plugin writes, as the Locust driver parses
//! it (quoted fields, doubled quotes, line breaks inside quotes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpa_drivers::locust::failures::{normalise, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse(text);
    let _ = normalise(text);
});
