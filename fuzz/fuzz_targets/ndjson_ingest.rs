//! The body of POST /v1/ingest: one JSON object a line.
#![no_main]
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let _ = cloud_service::api::ingest::parse_ndjson(&common::every_type(), data);
});
