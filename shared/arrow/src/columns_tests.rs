use super::*;
use crate::record_batch::tests::table;
use crate::{arrow_schema, BatchConverter};
use hotcold_core::{RowBatch, Value};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) type Row = (i64, i32, u8, String, i64, i8, u16, u64, f64, bool);

/// One row's cells as SQLite hands them back, into `c`.
pub(crate) fn push(c: &mut Columns, r: &Row, cols: &[usize]) -> Result<(), EncodeError> {
    let sym = format!("S{}", r.2);
    for (k, &col) in cols.iter().enumerate() {
        match col {
            0 => c.int(k, r.0)?,
            1 => c.int(k, i64::from(r.1))?,
            2 => c.text(k, sym.as_bytes())?,
            3 => c.text(k, r.3.as_bytes())?,
            4 => c.int(k, r.4)?,
            5 => c.int(k, i64::from(r.5))?,
            6 => c.int(k, i64::from(r.6))?,
            7 => c.int(k, r.7 as i64)?,
            8 => c.real(k, r.8)?,
            _ => c.int(k, i64::from(r.9))?,
        }
    }
    c.end_row();
    Ok(())
}

pub(crate) fn values(r: &Row) -> Vec<Value> {
    vec![
        Value::I64(r.0),
        Value::I64(i64::from(r.1)),
        Value::Str(format!("S{}", r.2)),
        Value::Str(r.3.clone()),
        Value::I64(r.4),
        Value::I64(i64::from(r.5)),
        Value::U64(u64::from(r.6)),
        Value::U64(r.7),
        Value::F64(r.8),
        Value::Bool(r.9),
    ]
}

pub(crate) fn row() -> impl Strategy<Value = Row> {
    (
        any::<i64>(),
        any::<i32>(),
        0u8..40,
        ".{0,6}",
        any::<i64>(),
        any::<i8>(),
        any::<u16>(),
        any::<u64>(),
        -1e9f64..1e9,
        any::<bool>(),
    )
}

proptest! {
    /// Chunks built cell by cell and adopted in order make the same record
    /// batches as rows converted through a RowBatch: every type, any
    /// column selection, dictionaries carried across chunks, and a chunk
    /// truncated at any row.
    #[test]
    fn adopted_chunks_equal_converted_rows(
        chunks in proptest::collection::vec(proptest::collection::vec(row(), 0..30), 1..5),
        pick in proptest::collection::vec(0usize..10, 1..12),
        cut in 0usize..40,
    ) {
        let s = table();
        let arrow = Arc::new(arrow_schema(&s, &pick, HashMap::new()));
        let mut by_rows = BatchConverter::new(s.clone(), pick.clone(), arrow.clone());
        let mut by_cells = BatchConverter::new(s.clone(), pick.clone(), arrow);
        for (i, chunk) in chunks.iter().enumerate() {
            let mut c = Columns::new(&s, &pick, 4);
            let mut b = RowBatch::new(&s);
            for r in chunk {
                push(&mut c, r, &pick).unwrap();
                b.push_row(values(r)).unwrap();
            }
            if i == 0 && cut < chunk.len() {
                c.truncate(cut);
                b.truncate(cut);
            }
            prop_assert_eq!(c.len(), b.len());
            let want = by_rows.convert(&b).unwrap();
            let got = by_cells.adopt(c).unwrap();
            prop_assert_eq!(got, want);
        }
    }
}

proptest! {
    /// Chunks glued with `append` adopt as the concatenation of their rows.
    #[test]
    fn glued_chunks_equal_their_rows_concatenated(
        chunks in proptest::collection::vec(proptest::collection::vec(row(), 0..20), 1..6),
        pick in proptest::collection::vec(0usize..10, 1..12),
    ) {
        let s = table();
        let arrow = Arc::new(arrow_schema(&s, &pick, HashMap::new()));
        let mut glued = Columns::new(&s, &pick, 0);
        let mut b = RowBatch::new(&s);
        for chunk in &chunks {
            let mut c = Columns::new(&s, &pick, 0);
            for r in chunk {
                push(&mut c, r, &pick).unwrap();
                b.push_row(values(r)).unwrap();
            }
            glued.append(c).unwrap();
        }
        let want = BatchConverter::new(s.clone(), pick.clone(), arrow.clone()).convert(&b).unwrap();
        let got = BatchConverter::new(s.clone(), pick.clone(), arrow).adopt(glued).unwrap();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn chunks_of_other_columns_do_not_glue() {
    let s = table();
    let mut a = Columns::new(&s, &[0, 2], 1);
    assert!(a.append(Columns::new(&s, &[0, 3], 1)).is_err());
    assert!(a.append(Columns::new(&s, &[0, 2], 1)).is_ok());
}

#[test]
fn a_cell_outside_its_column_is_an_error_naming_it() {
    let s = table();
    let mut c = Columns::new(&s, &[5, 2, 8], 1);
    let e = c.int(0, 300).unwrap_err().to_string();
    assert!(e.contains("i8") && e.contains("300"), "{e}");
    let e = c.int(1, 1).unwrap_err().to_string();
    assert!(e.contains("symbol"), "{e}");
    let e = c.text(2, b"x").unwrap_err().to_string();
    assert!(e.starts_with("column f:"), "{e}");
    let e = c.text(1, &[0xff, 0xfe]).unwrap_err().to_string();
    assert!(e.contains("symbol") && e.contains("UTF-8"), "{e}");
}

#[test]
fn a_row_cut_short_is_refused_not_adopted() {
    let s = table();
    let arrow = Arc::new(arrow_schema(&s, &[0, 2], HashMap::new()));
    let mut conv = BatchConverter::new(s.clone(), vec![0, 2], arrow);
    let mut c = Columns::new(&s, &[0, 2], 1);
    c.int(0, 1).unwrap();
    c.end_row();
    assert!(conv.adopt(c).is_err());
}
