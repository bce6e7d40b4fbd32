//! Locust's --json statistics, as the Locust driver parses them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpa_core::config::Percent;
use lpa_drivers::locust::stats::{parse_entries, requests};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(entries) = parse_entries(text) {
        let extra = [Percent::new(99.9).unwrap()];
        let _ = requests(&entries, &extra, 5.0);
    }
});
