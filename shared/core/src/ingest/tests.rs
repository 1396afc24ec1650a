//! The NDJSON decoder against the batches it must produce, the errors it
//! must name, and junk.

use super::*;
use crate::batch::RowBatch;
use crate::codec::tests::{all_types_schema, row_strategy};
use crate::schema::{LogicalType, TableSchema};
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
        (
            "{\"ts\":1,\"price\":{\"a\":1}}",
            "line 1: column \"price\" (decimal(8)): a nested object is not a column value",
        ),
        (
            "{\"price\":1,\"ts\":[1,2]}",
            "line 1: column \"ts\" (timestamp_ms): an array is not a column value",
        ),
        (
            "{\"ts\":1,\"price\":1}\n{\"ts\":2,\"price\":tru}",
            "line 2: column \"price\" (decimal(8)): invalid literal",
        ),
        ("{\"ts\":1,\"qty\":{\"a\":1}}", "unknown column \"qty\""),
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

/// Times as collectors send them: ClickHouse's text (UTC), RFC 3339 at
/// any offset, epoch ms; a date as a date or a UTC midnight. What the
/// column cannot keep is refused naming the line and column, and why.
#[test]
fn times_are_read_as_collectors_send_them() {
    let s = TableSchema::new(
        "t",
        "ts",
        &[("ts", LogicalType::TimestampMs), ("day", LogicalType::Date)],
    );
    let body = [
        r#"{"ts":"2026-11-20 10:00:00.123","day":"2026-11-20"}"#,
        r#"{"ts":"2026-11-20T18:00:00.123+08:00","day":"2026-11-20 00:00:00"}"#,
        r#"{"ts":"2026-11-20T10:00:00.123000Z","day":"2026-11-20T00:00:00Z"}"#,
        r#"{"ts":1795168800123,"day":20777}"#,
    ]
    .join("\n");
    let b = parse(&s, &body).unwrap();
    assert_eq!(b.i64_column(0).unwrap(), &[1_795_168_800_123; 4]);
    assert_eq!(b.i64_column(1).unwrap(), &[20_777; 4]);
    for (line, want) in [
        (
            r#"{"ts":"2026-11-20 10:00:00.123456","day":"2026-11-20"}"#,
            "line 1: column \"ts\" (timestamp_ms): expected a time the column can keep (6 fractional digits: the column keeps milliseconds",
        ),
        (
            r#"{"ts":"2026-11-20T10:00:00 Asia/Tokyo","day":"2026-11-20"}"#,
            "column \"ts\" (timestamp_ms): expected a time the column can keep (unknown time zone \"Asia/Tokyo\"",
        ),
        (
            r#"{"ts":"2026-11-20T10:00:00+8","day":"2026-11-20"}"#,
            "column \"ts\" (timestamp_ms): expected a time the column can keep (malformed UTC offset \"+8\"",
        ),
        (
            r#"{"ts":"20/11/2026","day":"2026-11-20"}"#,
            "column \"ts\" (timestamp_ms): expected epoch milliseconds, 2026-11-20 10:00:00.123 (UTC) or RFC 3339",
        ),
        (
            r#"{"ts":1795168800123,"day":"2026-11-20 10:00:00"}"#,
            "column \"day\" (date): expected a time the column can keep (a date's time part must be midnight UTC",
        ),
        (
            r#"{"ts":1795168800123,"day":"20.11.2026"}"#,
            "column \"day\" (date): expected a date YYYY-MM-DD",
        ),
    ] {
        let e = parse(&s, line).unwrap_err();
        assert!(e.contains(want), "{line}: {e}");
    }
}

#[test]
fn a_refused_decimal_says_why() {
    let s = trades();
    let err =
        |price: &str| parse(&s, &format!("{{\"ts\":1,\"price\":{price}}}\n")).expect_err(price);
    // Too large for decimal(8) (a 64-bit integer of 10^-8 units).
    let e = err("\"99999999999\"");
    assert!(
        e.contains("within -92233720368.54775807..=92233720368.54775807"),
        "{e}"
    );
    assert!(
        !e.contains("fractional digits"),
        "not blamed on its digits: {e}"
    );
    assert!(err("99999999999").contains("within"), "as a number too");
    assert!(err("1e30").contains("within"));
    // Too precise.
    let e = err("\"1.123456789\"");
    assert!(e.contains("at most 8 fractional digits"), "{e}");
    // Not a number.
    assert!(err("\"abc\"").contains("a decimal number like 12.5"));
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
            if let Value::F64(f) = &mut r[8] { *f = if !f.is_finite() || *f == 0.0 { f.abs().min(1.5) } else { *f } }
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

fn rb(schema: &TableSchema, body: &[u8]) -> Result<RowBatch, String> {
    parse_rowbinary(schema, body, &IngestLimits::default())
}

#[test]
fn rowbinary_errors_name_row_and_column() {
    let s = trades();
    let mut body = Vec::new();
    for (ts, px) in [(1i64, 150i64), (2, 250)] {
        body.extend_from_slice(&ts.to_le_bytes());
        body.extend_from_slice(&px.to_le_bytes());
    }
    let b = rb(&s, &body).unwrap();
    assert_eq!(b.row(1), vec![Value::I64(2), Value::I64(250)]);
    let e = rb(&s, &body[..body.len() - 3]).unwrap_err();
    assert!(e.contains("row 2") && e.contains("\"price\""), "{e}");
    assert!(rb(&s, b"").unwrap_err().contains("no rows"));

    let flags = TableSchema::new(
        "t",
        "ts",
        &[
            ("ts", "timestamp_ms".parse().unwrap()),
            ("b", "bool".parse().unwrap()),
            ("f", "float64".parse().unwrap()),
            ("s", "string".parse().unwrap()),
        ],
    );
    let row = |b: u8, f: f64, s: &[u8]| {
        let mut v = 7i64.to_le_bytes().to_vec();
        v.push(b);
        v.extend_from_slice(&f.to_le_bytes());
        v.push(s.len() as u8);
        v.extend_from_slice(s);
        v
    };
    assert!(rb(&flags, &row(1, 1.5, b"ok")).is_ok());
    for (body, want) in [
        (row(2, 1.5, b"ok"), "bool byte 2"),
        (row(0, f64::NAN, b"ok"), "not a finite number"),
        (row(0, f64::INFINITY, b"ok"), "not a finite number"),
        (row(0, 1.0, &[0xff, 0xfe]), "not UTF-8"),
    ] {
        let e = rb(&flags, &body).unwrap_err();
        assert!(e.contains("row 1") && e.contains(want), "{e}");
    }
    // A length over the bound is refused before any byte is read for it.
    let mut long = 7i64.to_le_bytes().to_vec();
    long.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0]);
    long.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let e = rb(&flags, &long).unwrap_err();
    assert!(e.contains("over the"), "{e}");
    let b = rb(&flags, &row(0, -0.0, b"")).unwrap();
    assert_eq!(b.row(0)[2], Value::F64(0.0));
}

proptest! {
    /// Any batch written by the RowBinary encoder ClickHouse inserts use
    /// reads back as itself, in pieces of any size.
    #[test]
    fn batches_survive_rowbinary(
        rows in prop::collection::vec(row_strategy(), 1..40),
        piece in 1usize..50,
    ) {
        let schema = all_types_schema();
        let mut want = RowBatch::new(&schema);
        for mut r in rows {
            if let Value::F64(f) = &mut r[8] { *f = if !f.is_finite() || *f == 0.0 { f.abs().min(1.5) } else { *f } }
            want.push_row(r).unwrap();
        }
        let mut body = Vec::new();
        encode_rowbinary(&schema, &want, &mut body);
        let limits = IngestLimits::default();
        let mut reader = RowBinaryReader::new(&schema, &body, &limits);
        let mut got = RowBatch::new(&schema);
        while let Some(b) = reader.next_batch(piece).unwrap() {
            prop_assert!(b.len() <= piece);
            got.extend_from(b).unwrap();
        }
        prop_assert_eq!(got, want);
    }

    #[test]
    fn rowbinary_junk_is_an_error_or_whole_rows(body in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(b) = parse_rowbinary(&all_types_schema(), &body, &IngestLimits::default()) {
            prop_assert!(b.columns.iter().all(|c| c.len() == b.len()));
        }
    }
}
