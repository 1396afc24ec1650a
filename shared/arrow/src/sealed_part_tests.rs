use super::*;
use crate::columns::tests::{push, row, values, Row};
use crate::record_batch::tests::table;
use crate::{arrow_schema, BatchConverter};
use hotcold_core::RowBatch;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

const ALL: [usize; 10] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

fn part_of(rows: &[Row]) -> Vec<u8> {
    let s = table();
    let mut c = Columns::new(&s, &ALL, rows.len());
    for r in rows {
        push(&mut c, r, &ALL).unwrap();
    }
    encode_part(&s, &c).expect("every column")
}

proptest! {
    /// A part read back into any selection of columns adopts as the same
    /// record batch as its rows converted through a RowBatch.
    #[test]
    fn a_part_reads_back_as_its_rows(
        rows in proptest::collection::vec(row(), 0..40),
        pick in proptest::collection::vec(0usize..10, 1..12),
    ) {
        let s = table();
        let bytes = part_of(&rows);
        let got = decode_part(&s, &pick, &bytes, &PartLimits::default()).unwrap();
        prop_assert_eq!(got.len(), rows.len());
        let mut b = RowBatch::new(&s);
        for r in &rows {
            b.push_row(values(r)).unwrap();
        }
        let arrow = Arc::new(arrow_schema(&s, &pick, HashMap::new()));
        let want = BatchConverter::new(s.clone(), pick.clone(), arrow.clone()).convert(&b).unwrap();
        let got = BatchConverter::new(s.clone(), pick.clone(), arrow).adopt(got).unwrap();
        prop_assert_eq!(got, want);
    }

    /// Any byte changed, any cut, any garbage: an error, never a panic
    /// and never other rows.
    #[test]
    fn a_damaged_part_is_an_error(
        rows in proptest::collection::vec(row(), 1..20),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in any::<prop::sample::Index>(),
        junk in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let s = table();
        let bytes = part_of(&rows);
        let lim = PartLimits::default();
        let mut bad = bytes.clone();
        bad[at.index(bytes.len())] ^= flip;
        prop_assert!(decode_part(&s, &ALL, &bad, &lim).is_err());
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert!(decode_part(&s, &ALL, short, &lim).is_err());
        let _ = decode_part(&s, &ALL, &junk, &lim);
        let headed = [b"HCC1".as_slice(), &junk, &[0u8; 32]].concat();
        let _ = decode_checked(&s, &ALL, &headed, &lim);
    }
}

/// The hash passes but the layout lies (a part written by a bug, or for
/// another table): each lie is named, nothing is allocated past the input.
#[test]
fn a_well_hashed_lie_is_named() {
    let s = table();
    let rehash = |mut body: Vec<u8>| {
        let h = blake3::hash(&body);
        body.extend_from_slice(h.as_bytes());
        body
    };
    let good = part_of(&[(1, 2, 3, "x".into(), 4, 5, 6, 7, 8.0, true)]);
    let body = good[..good.len() - 32].to_vec();
    let lim = PartLimits::default();
    // A row count far past the bound.
    let mut b = body.clone();
    b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = decode_part(&s, &ALL, &rehash(b), &lim).unwrap_err();
    assert!(
        matches!(
            e,
            PartError::TooBig {
                what: "the row count",
                ..
            }
        ),
        "{e}"
    );
    // A row count within the bound but past the bytes.
    let mut b = body.clone();
    b[4..8].copy_from_slice(&1000u32.to_le_bytes());
    let e = decode_part(&s, &ALL, &rehash(b), &lim)
        .unwrap_err()
        .to_string();
    assert!(e.contains("are left"), "{e}");
    // Another table's column types.
    let mut b = body.clone();
    b[10] = tag(LogicalType::Float64);
    let e = decode_part(&s, &ALL, &rehash(b), &lim).unwrap_err();
    assert_eq!(e, PartError::Schema(s.columns[0].name.clone()));
    // More bytes than the bound.
    let tight = PartLimits {
        max_bytes: 16,
        max_rows: 10,
    };
    let e = decode_part(&s, &ALL, &good, &tight).unwrap_err();
    assert!(
        matches!(
            e,
            PartError::TooBig {
                what: "the part",
                ..
            }
        ),
        "{e}"
    );
    assert!(decode_part(&s, &ALL, &good, &lim).is_ok());
}

#[test]
fn columns_short_of_the_table_do_not_encode() {
    let s = table();
    assert!(encode_part(&s, &Columns::new(&s, &[0, 1], 0)).is_none());
}
