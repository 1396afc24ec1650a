//! Parts of the SQLite hot store's columnar copy (`hotcold_arrow::
//! sealed_part`), as a rotten disk could hand them back. Most inputs die at
//! the hash, so an input starting with 0 gets a valid hash appended: the
//! fuzzer then reaches the layout (lengths, tags, offsets, keys, UTF-8).
#![no_main]
use hotcold_arrow::sealed_part::{decode_checked, decode_part, PartLimits};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let schema = common::every_type();
    let limits = PartLimits {
        max_bytes: 1 << 16,
        max_rows: 1 << 12,
    };
    let all: Vec<usize> = (0..schema.columns.len()).collect();
    let _ = decode_part(&schema, &all, data, &limits);
    if let Some((0, body)) = data.split_first() {
        let mut part = b"HCC1".to_vec();
        part.extend_from_slice(body);
        let h = blake3::hash(&part);
        part.extend_from_slice(h.as_bytes());
        let _ = decode_part(&schema, &[3, 0, 3, 2], &part, &limits);
        // As a reader decodes a part it checked: no hash at all.
        let _ = decode_checked(&schema, &all, &part, &limits);
    }
});
