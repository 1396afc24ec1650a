//! The body of POST /v1/ingest?format=rowbinary, read in pieces as the
//! handler reads it.
#![no_main]
use hotcold_core::ingest::{IngestLimits, RowBinaryReader};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let schema = common::every_type();
    let limits = IngestLimits {
        max_string_bytes: 1 << 12,
    };
    let piece = data.first().map_or(1, |b| usize::from(*b).max(1));
    let mut reader = RowBinaryReader::new(&schema, data, &limits);
    while let Ok(Some(b)) = reader.next_batch(piece) {
        assert!(b.len() <= piece);
        assert!(b.columns.iter().all(|c| c.len() == b.len()));
    }
});
