//! A compressed ingest body (`Content-Encoding: gzip` or `zstd`): inflated
//! within its bound, or refused, never more than the bound in memory.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let max = 1 << 16;
    for enc in ["gzip", "zstd"] {
        if let Ok(out) = hotcold_core::ingest::decode_body(Some(enc), data, max) {
            assert!(out.len() <= max);
        }
    }
});
