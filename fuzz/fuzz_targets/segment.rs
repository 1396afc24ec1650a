//! Segments from the spool and staging, both formats (HCS2, and HCS1 in a
//! zstd frame): streams, byte planes, dictionaries, groups, string edits.
//! Limits far below the defaults so the fuzzer reaches them. Damaged valid
//! segments and the encoder's own round trip: `segment_round_trip`.
#![no_main]
use hotcold_core::codec::{decode_segment, split_segments, DecodeLimits};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let schema = common::every_type();
    let limits = DecodeLimits {
        max_segment_bytes: 1 << 16,
        max_decoded_bytes: 1 << 20,
        max_rows: 1 << 12,
        max_string_bytes: 1 << 12,
    };
    let _ = decode_segment(&schema, data, &limits);
    if let Ok(bodies) = split_segments(data, &limits) {
        for b in bodies {
            let _ = decode_segment(&schema, b, &limits);
        }
    }
});
