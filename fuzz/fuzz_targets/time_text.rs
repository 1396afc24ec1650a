//! Ingested time text (timestamp_ms and date cells): every input is a time
//! or an error, never a panic, and a time read back from its own UTC text
//! is the same time.
#![no_main]
use hotcold_core::time::{format_timestamp_ms, parse_day, parse_instant_ms};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ms) = parse_instant_ms(s) {
        if (0..253_402_300_800_000).contains(&ms) {
            assert_eq!(parse_instant_ms(&format_timestamp_ms(ms)), Ok(ms));
        }
    }
    let _ = parse_day(s);
});
