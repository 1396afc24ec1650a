//! Bandwidth limits and timetables (config, PUT /v1/admin/bwlimit).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(l) = s.parse::<hotcold_core::bwlimit::BwLimit>() {
            for ms in [0i64, 86_399_999, 1_700_000_000_000, i64::MIN, i64::MAX] {
                let _ = l.rate_at(ms);
            }
        }
    }
});
