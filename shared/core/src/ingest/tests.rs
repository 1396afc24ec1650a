//! The NDJSON decoder against the batches it must produce, the errors it
//! must name, and junk.

use super::*;
use crate::batch::RowBatch;
use crate::codec::tests::{all_types_schema, row_strategy};
use crate::schema::TableSchema;
use crate::value::Value;
use proptest::prelude::*;

fn parse(schema: &TableSchema, body: &str) -> Result<RowBatch, String> {
    parse_ndjson(schema, body.as_bytes(), &IngestLimits::default())
}

fn trades() -> TableSchema {
    TableSchema::new(
        "trades",
        "ts",
        &[
            ("ts", "timestamp_ms".parse().unwrap()),
            ("price", "decimal(8)".parse().unwrap()),
        ],
    )
}

#[test]
fn errors_name_line_and_column() {
    let s = trades();
    assert!(parse(&s, "{\"ts\":1,\"price\":\"1.5\"}\n{\"ts\":2,\"price\":2}\n").is_ok());
    let cases = [
        (
            "{\"ts\":1,\"price\":\"1.5\"}\n{\"ts\":2}\n",
            "line 2: missing column \"price\"",
        ),
        (
            "{\"ts\":1,\"price\":\"abc\"}",
            "line 1: column \"price\" (decimal(8)): expected a decimal",
        ),
        (
            "{\"ts\":1,\"price\":1,\"qty\":3}",
            "unknown column \"qty\" (table trades has ts, price)",
        ),
        ("[1,2]", "line 1: not a JSON object"),
        (
            "{\"ts\": 1, \"price\": \"1\", \"price\": \"2\"}",
            "\"price\" is given twice",
        ),
        ("{\"ts\":1,\"price\":1,}", "line 1: not a JSON object"),
        ("{\"ts\":1,\"price\":1} x", "trailing characters"),
        ("{\"ts\":1,\"price\":{\"a\":1}}", "nested object"),
        (
            "{\"ts\":1.5,\"price\":1}",
            "expected integer milliseconds, got 1.5",
        ),
        (
            "{\"ts\":null,\"price\":1}",
            "expected a timestamp, got null",
        ),
        ("", "no rows"),
        ("\n \r\n\t\n", "no rows"),
    ];
    for (body, want) in cases {
        let e = parse(&s, body).unwrap_err();
        assert!(e.contains(want), "{body:?}: {e:?} should contain {want:?}");
    }
    let e = parse_ndjson(&s, &[b'{', 0xff], &IngestLimits::default()).unwrap_err();
    assert!(e.contains("UTF-8"), "{e}");
}

#[test]
fn decimals_sent_as_numbers_keep_every_digit() {
    // Through an f64 the last digits of this price were lost.
    let b = parse(
        &trades(),
        "{\"ts\":1,\"price\":12345678901.12345678}\n{\"ts\":2,\"price\":1e-05}\n",
    )
    .unwrap();
    assert_eq!(b.row(0)[1], Value::I64(1_234_567_890_112_345_678));
    assert_eq!(b.row(1)[1], Value::I64(1_000));
}

#[test]
fn a_string_over_the_nas_bound_is_refused_at_the_door() {
    let s = TableSchema::new(
        "t",
        "ts",
        &[
            ("ts", "timestamp_ms".parse().unwrap()),
            ("s", "string".parse().unwrap()),
        ],
    );
    let limits = IngestLimits {
        max_string_bytes: 8,
    };
    assert!(parse_ndjson(&s, b"{\"ts\":1,\"s\":\"12345678\"}", &limits).is_ok());
    let e = parse_ndjson(&s, b"{\"ts\":1,\"s\":\"123456789\"}", &limits).unwrap_err();
    assert!(e.contains("column \"s\"") && e.contains("9 bytes"), "{e}");
}

/// One row as a JSON object, keys in the order given, with some spacing.
fn render(schema: &TableSchema, row: &[Value], order: &[usize], spaced: bool) -> String {
    let sep = if spaced { " , " } else { "," };
    let fields: Vec<String> = order
        .iter()
        .map(|&i| {
            let c = &schema.columns[i];
            let v = row[i].to_json(c.ty);
            let key = serde_json::to_string(&c.name).unwrap();
            if spaced {
                format!("{key} : {v}")
            } else {
                format!("{key}:{v}")
            }
        })
        .collect();
    format!("{{{}}}", fields.join(sep))
}

proptest! {
    /// Any batch written as NDJSON, keys in any order, reads back as itself.
    #[test]
    fn batches_survive_ndjson(
        rows in prop::collection::vec(row_strategy(), 1..20),
        order in Just((0..10).collect::<Vec<usize>>()).prop_shuffle(),
        spaced in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        let schema = all_types_schema();
        let mut want = RowBatch::new(&schema);
        let mut body = String::new();
        for r in &rows {
            let mut r = r.clone();
            // -0.0 is stored as 0.0 (SQLite keeps no sign of zero).
            if let Value::F64(f) = &mut r[8] { if *f == 0.0 { *f = 0.0 } }
            body.push_str(&render(&schema, &r, &order, spaced));
            body.push_str(if crlf { "\r\n" } else { "\n" });
            want.push_row(r).unwrap();
        }
        prop_assert_eq!(parse(&schema, &body).unwrap(), want);
    }

    #[test]
    fn junk_bodies_are_errors_not_panics(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_ndjson(&all_types_schema(), &body, &IngestLimits::default());
    }

    /// Damaged rows: never a panic, and never a batch of unequal columns.
    #[test]
    fn damaged_rows_are_refused_or_whole(
        row in row_strategy(),
        cut in 0usize..400,
        insert in any::<char>(),
    ) {
        let schema = all_types_schema();
        let mut line = render(&schema, &row, &(0..10).collect::<Vec<_>>(), false);
        let at = (0..=cut.min(line.len())).rev().find(|i| line.is_char_boundary(*i)).unwrap_or(0);
        line.insert(at, insert);
        if let Ok(b) = parse(&schema, &line) {
            prop_assert!(b.columns.iter().all(|c| c.len() == 1));
        }
    }
}
