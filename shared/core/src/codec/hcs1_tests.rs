//! HCS1, the format before HCS2, still decodes: spool and staging files of
//! the previous version can be on disk during an upgrade.
use super::tests::{all_types_schema, assert_same};
use super::*;
use crate::value::Value;
use proptest::prelude::*;

/// A segment written by the previous version's `encode_segment` (commit
/// d7db39c, before HCS2) at zstd level 3, framed, from `fixture_rows`.
const HCS1_FIXTURE: &str = "a700000028b52ffd20abf50400340948435331030a010980a0abfef962f403000105b6b30202000526001c7b2262696473223a5b5b2234323030302e31222c22302e35225d5d7d0006c3bc2022200a051800074254432d55534406e697a5e69cac010c9cc5f3c3bcf4019b89926b000106ff01fe03fd010115ff0101ff0102030102540318839affb699ff3a99ffd299ff9799ff1299ffb0b9ef813f7f040301000103040560841b92cc28";

fn fixture_rows() -> RowBatch {
    let schema = all_types_schema();
    let mut batch = RowBatch::new(&schema);
    let rows = vec![
        vec![
            Value::I64(1_700_000_000_000),
            Value::I64(19_675),
            Value::Str("{\"bids\":[[\"42000.1\",\"0.5\"]]}".into()),
            Value::Str("BTC-USD".into()),
            Value::I64(4_200_012_345_678),
            Value::I64(-128),
            Value::I64(i64::MIN),
            Value::U64(u64::MAX),
            Value::F64(-1.5e-300),
            Value::Bool(true),
        ],
        vec![
            Value::I64(1_700_000_000_250),
            Value::I64(19_676),
            Value::Str("".into()),
            Value::Str("日本".into()),
            Value::I64(4_199_900_000_000),
            Value::I64(127),
            Value::I64(i64::MAX),
            Value::U64(0),
            Value::F64(0.1),
            Value::Bool(false),
        ],
        vec![
            Value::I64(1_700_000_000_250),
            Value::I64(19_676),
            Value::Str("ü \" \n".into()),
            Value::Str("BTC-USD".into()),
            Value::I64(4_199_900_000_000),
            Value::I64(0),
            Value::I64(-1),
            Value::U64(42),
            Value::F64(f64::MAX),
            Value::Bool(true),
        ],
    ];
    for r in rows {
        batch.push_row(r).unwrap();
    }
    batch
}

fn fixture_bytes() -> Vec<u8> {
    (0..HCS1_FIXTURE.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&HCS1_FIXTURE[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_segment_written_by_the_previous_version_decodes() {
    let framed = fixture_bytes();
    let limits = DecodeLimits::default();
    let bodies = split_segments(&framed, &limits).unwrap();
    assert_eq!(bodies.len(), 1);
    let back = decode_segment(&all_types_schema(), bodies[0], &limits).unwrap();
    assert_same(&back, &fixture_rows());
}

/// The encoder kept in `hcs1` is the previous version's, byte for byte.
#[test]
fn the_kept_hcs1_encoder_writes_what_the_previous_version_wrote() {
    assert_eq!(hcs1::encode_segment(&fixture_rows(), 3), fixture_bytes());
}

/// A spool file of mixed segments (an export interrupted by the upgrade,
/// say): each decodes by its own format.
#[test]
fn hcs1_and_hcs2_segments_decode_side_by_side() {
    let schema = all_types_schema();
    let rows = fixture_rows();
    let mut file = hcs1::encode_segment(&rows, 3);
    file.extend_from_slice(&encode_segment(&rows, 3));
    file.extend_from_slice(&fixture_bytes());
    let limits = DecodeLimits::default();
    let bodies = split_segments(&file, &limits).unwrap();
    assert_eq!(bodies.len(), 3);
    for b in bodies {
        assert_same(&decode_segment(&schema, b, &limits).unwrap(), &rows);
    }
}

proptest! {
    /// Whatever the previous version wrote, this one reads.
    #[test]
    fn hcs1_segments_of_random_rows_decode(n in 0usize..120, seed in any::<u64>()) {
        let schema = all_types_schema();
        let mut b = RowBatch::new(&schema);
        let mut x = seed | 1;
        for i in 0..n {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            b.push_row(vec![
                Value::I64(x as i64), Value::I64((x >> 48) as i64), Value::Str(format!("s{}", x % 5)),
                Value::Str(["a", "日本"][i % 2].into()), Value::I64(-(x as i64 >> 3)), Value::I64(i as i64 % 100),
                Value::I64(x.rotate_left(7) as i64), Value::U64(x), Value::F64(f64::from_bits(x)), Value::Bool(x & 1 == 0),
            ]).unwrap();
        }
        let framed = hcs1::encode_segment(&b, 3);
        let back = decode_segment(&schema, &framed[4..], &DecodeLimits::default()).unwrap();
        assert_same(&back, &b);
    }
}
