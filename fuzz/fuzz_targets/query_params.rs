//! The query string of /v1/query, /v1/bars and /v1/aggregate, decoded as
//! the HTTP layer does (urlencoded pairs), then checked by the same parser
//! the endpoints use: every input is a request or a 400, never a panic.
#![no_main]
use cloud_service::api::params::{merge_pairs, parse, Kind};
use cloud_service::config::QueryConfig;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data) else {
        return;
    };
    let q = QueryConfig::default();
    let schema = common::every_type();
    for kind in [Kind::Rows, Kind::Bars, Kind::Stats] {
        if let Ok(p) = merge_pairs(Some(kind), pairs.clone()) {
            let _ = parse(&q, &schema, kind, &p);
        }
    }
});
