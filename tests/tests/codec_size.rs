//! The batch codec must be smaller than zstd on CSV of the same rows: the
//! point of a columnar encoding on a slow home line. Sizes are deterministic
//! for a seed, so this is a plain assertion, not a timing.

use hotcold_core::codec::{decode_segment, encode_segment, split_segments, DecodeLimits};
use hotcold_tests::data::{batch_of, trades, trades_schema};

#[test]
fn codec_beats_zstd_on_csv() {
    let schema = trades_schema();
    let rows = trades(
        1_700_000_000_000,
        1_700_000_000_000 + 86_400_000,
        100_000,
        5,
    );
    let mut csv = Vec::new();
    for r in &rows {
        let fields: Vec<String> = schema
            .columns
            .iter()
            .map(|c| {
                r[&c.name]
                    .as_str()
                    .map_or_else(|| r[&c.name].to_string(), str::to_string)
            })
            .collect();
        csv.extend_from_slice(fields.join(",").as_bytes());
        csv.push(b'\n');
    }
    let batch = batch_of(&schema, &rows);
    let ours = encode_segment(&batch, 3);
    let z3 = zstd::bulk::compress(&csv, 3).expect("zstd").len();
    println!(
        "100k trades: CSV {} B, zstd -3 of CSV {z3} B, our codec at -3 {} B",
        csv.len(),
        ours.len()
    );
    assert!(
        ours.len() < z3,
        "codec {} B is not smaller than zstd -3 of CSV {z3} B",
        ours.len()
    );
    let body = split_segments(&ours, &DecodeLimits::default()).expect("split")[0];
    assert_eq!(
        decode_segment(&schema, body, &DecodeLimits::default()).expect("decode"),
        batch
    );
}
