//! Rows to bytes, incrementally: NDJSON, a JSON document, CSV (RFC 4180),
//! or the columnar formats of `columnar.rs` (Arrow IPC stream, Parquet).
//! Each batch is encoded as it arrives, so an answer is never held whole.

use super::columnar::Columnar;
use crate::router::{Head, Tail};
use hotcold_core::schema::{LogicalType, TableSchema};
use hotcold_core::time::format_date;
use hotcold_core::value::write_decimal;
use hotcold_core::{Column, RowBatch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Json,
    Csv,
    /// The Arrow IPC stream format.
    Arrow,
    /// A Parquet file, zstd.
    Parquet,
}

impl Format {
    /// The names `format=` takes, for the error that lists them.
    pub const NAMES: &'static str = "ndjson, json, csv, arrow or parquet";

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "ndjson" => Some(Format::Ndjson),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "arrow" => Some(Format::Arrow),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
            Format::Arrow => "application/vnd.apache.arrow.stream",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

pub(crate) struct Encoder {
    pub format: Format,
    schema: TableSchema,
    /// Indices into `schema.columns`, in output order.
    cols: Vec<usize>,
    /// `"name":` of each output column, escaped once.
    keys: Vec<Vec<u8>>,
    wrote_row: bool,
    /// The Arrow and Parquet writer; `None` for the text formats.
    columnar: Option<Columnar>,
}

/// Why an answer could not be encoded: the columnar writers refusing rows
/// (a store handing back a value outside its type). Text never fails.
pub(crate) type EncodeError = hotcold_arrow::EncodeError;

impl Encoder {
    pub fn new(format: Format, schema: TableSchema, cols: Vec<usize>) -> Self {
        let keys = cols
            .iter()
            .map(|&c| {
                let mut k = serde_json::to_vec(&schema.columns[c].name).unwrap_or_default();
                k.push(b':');
                k
            })
            .collect();
        let columnar = match format {
            Format::Arrow => Some(Columnar::arrow(schema.clone(), cols.clone())),
            Format::Parquet => Some(Columnar::parquet(schema.clone(), cols.clone())),
            _ => None,
        };
        Self {
            format,
            schema,
            cols,
            keys,
            wrote_row: false,
            columnar,
        }
    }

    /// Whether bytes went out that commit the answer to being streamed
    /// (an Arrow schema written without the answer's end).
    pub(crate) fn streaming(&self) -> bool {
        self.columnar.as_ref().is_some_and(Columnar::streaming)
    }

    pub(crate) fn begin(&mut self, head: &Head, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Some(c) = &mut self.columnar {
            return c.begin(head, out);
        }
        match self.format {
            Format::Csv => {
                let names: Vec<&str> = self
                    .cols
                    .iter()
                    .map(|&c| self.schema.columns[c].name.as_str())
                    .collect();
                out.extend_from_slice(names.join(",").as_bytes());
                out.push(b'\n');
            }
            Format::Json => out.extend_from_slice(b"{\"rows\":["),
            Format::Ndjson | Format::Arrow | Format::Parquet => {}
        }
        Ok(())
    }

    /// Rows the hot store read straight into Arrow columns, which only a
    /// columnar answer asks for (`Request::columns`).
    pub fn columns(
        &mut self,
        c: hotcold_arrow::Columns,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        match &mut self.columnar {
            Some(enc) => enc.columns(c, out),
            None => Err(EncodeError::Kind(
                "rows read as Arrow columns for a text answer".into(),
            )),
        }
    }

    pub fn batch(&mut self, b: &RowBatch, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Some(c) = &mut self.columnar {
            return c.batch(b, out);
        }
        // Cells are written straight from the columns: no Value, no
        // serde_json::Value and no String per cell (17k bars are 150k
        // cells, and building each one cost more than the fold).
        let cols: Vec<(usize, &Column, LogicalType)> = self
            .cols
            .iter()
            .enumerate()
            .filter_map(|(k, &c)| Some((k, b.columns.get(c)?, self.schema.columns.get(c)?.ty)))
            .collect();
        // Room for the batch at once: growing a 3 MB answer by doubling
        // copied it about twice over.
        out.reserve(b.len() * (24 * cols.len() + 8));
        for i in 0..b.len() {
            match self.format {
                Format::Csv => {
                    for (k, (_, col, ty)) in cols.iter().enumerate() {
                        if k > 0 {
                            out.push(b',');
                        }
                        csv_cell(col, i, *ty, out);
                    }
                    out.push(b'\n');
                }
                Format::Json | Format::Ndjson | Format::Arrow | Format::Parquet => {
                    if self.format == Format::Json && self.wrote_row {
                        out.push(b',');
                    }
                    // Written field by field in column order: building a
                    // map per row cost a third of a large answer's time.
                    out.push(b'{');
                    for (n, (k, col, ty)) in cols.iter().enumerate() {
                        if n > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(&self.keys[*k]);
                        json_cell(col, i, *ty, out);
                    }
                    out.push(b'}');
                    if self.format == Format::Ndjson {
                        out.push(b'\n');
                    }
                }
            }
            self.wrote_row = true;
        }
        Ok(())
    }

    /// JSON closes the document with what is known at the end, Arrow and
    /// Parquet their metadata (see `columnar.rs`); the other formats carry
    /// that in headers (small answers) or not at all.
    pub fn end(&mut self, head: &Head, tail: &Tail, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Some(c) = &mut self.columnar {
            return c.end(tail, out);
        }
        // A partial answer (asked for with allow_partial=true) says what it
        // lacks in the body too, in each format's own way: a last NDJSON
        // line of its own shape, a CSV comment line (pandas: comment='#').
        if !head.missing.is_empty() {
            let reason = head.missing_reason.clone().unwrap_or_default();
            match self.format {
                Format::Ndjson => {
                    let line =
                        serde_json::json!({ "_missing": head.missing, "_missing_reason": reason });
                    out.extend_from_slice(line.to_string().as_bytes());
                    out.push(b'\n');
                }
                Format::Csv => {
                    let ranges: Vec<String> = head
                        .missing
                        .iter()
                        .map(|w| format!("{}-{}", w.start, w.end))
                        .collect();
                    let reason = reason.replace(['\n', '\r'], " ");
                    out.extend_from_slice(
                        format!("# missing: {} ({reason})\n", ranges.join(",")).as_bytes(),
                    );
                }
                Format::Json | Format::Arrow | Format::Parquet => {}
            }
        }
        if self.format == Format::Json {
            out.extend_from_slice(b"],");
            let meta = serde_json::json!({
                "watermark": head.watermark,
                "missing": head.missing,
                "missing_reason": head.missing_reason,
                "cold_cached": head.cold_cached,
                "hot_rows": tail.hot_rows,
                "cold_rows": tail.cold_rows,
                "truncated": tail.truncated,
            });
            let text = meta.to_string();
            out.extend_from_slice(&text.as_bytes()[1..]);
        }
        Ok(())
    }
}

/// The JSON of cell `i` as [`hotcold_core::Value::to_json`] gives it
/// (decimals and dates as strings, floats as serde_json writes them, `null`
/// if not finite), written without building it.
pub(crate) fn json_cell(c: &Column, i: usize, ty: LogicalType, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    match (c, ty) {
        (Column::I64(v), LogicalType::Decimal { scale }) => {
            out.push(b'"');
            write_decimal(v[i], scale, out);
            out.push(b'"');
        }
        (Column::I64(v), LogicalType::Date) => {
            let _ = serde_json::to_writer(&mut *out, &format_date(v[i]));
        }
        (Column::I64(v), _) => {
            let _ = serde_json::to_writer(&mut *out, &v[i]);
        }
        (Column::U64(v), _) => {
            let _ = serde_json::to_writer(&mut *out, &v[i]);
        }
        (Column::F64(v), _) => {
            let _ = serde_json::to_writer(&mut *out, &v[i]);
        }
        (Column::Bool(v), _) => out.extend_from_slice(if v[i] { b"true" } else { b"false" }),
        (Column::Str(v), _) => {
            let _ = serde_json::to_writer(&mut *out, v[i].as_str());
        }
    }
}

/// Cell `i` as one CSV field: what [`csv_field`] makes of its JSON.
pub(crate) fn csv_cell(c: &Column, i: usize, ty: LogicalType, out: &mut Vec<u8>) {
    match (c, ty) {
        (Column::I64(v), LogicalType::Decimal { scale }) => write_decimal(v[i], scale, out),
        (Column::I64(v), LogicalType::Date) => out.extend_from_slice(format_date(v[i]).as_bytes()),
        (Column::Str(v), _) => csv_text(&v[i], out),
        _ => json_cell(c, i, ty, out),
    }
}

/// Text as a CSV field (RFC 4180): quoted when it holds a comma, quote or
/// line break.
fn csv_text(text: &str, out: &mut Vec<u8>) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotcold_core::Value;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        let mut out = Vec::new();
        let text = Column::Str(vec![
            "plain".into(),
            "a,b".into(),
            "say \"hi\"\nnext".into(),
        ]);
        for i in 0..3 {
            csv_cell(&text, i, LogicalType::String, &mut out);
            out.push(b'|');
        }
        csv_cell(&Column::I64(vec![42]), 0, LogicalType::Int64, &mut out);
        out.push(b'|');
        csv_cell(&Column::Bool(vec![true]), 0, LogicalType::Bool, &mut out);
        out.push(b'|');
        csv_cell(
            &Column::I64(vec![-150]),
            0,
            LogicalType::Decimal { scale: 2 },
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain|\"a,b\"|\"say \"\"hi\"\"\nnext\"|42|true|-1.50"
        );
    }

    /// Every cell written as the JSON of its value under its type: the
    /// text answers had before cells were written from the columns.
    #[test]
    fn cells_are_the_json_of_their_values() {
        use LogicalType as L;
        let cases: Vec<(Column, L)> = vec![
            (
                Column::I64(vec![i64::MIN, -1, 0, 1_709_251_199_999]),
                L::TimestampMs,
            ),
            (
                Column::I64(vec![-150, 0, 5, i64::MAX]),
                L::Decimal { scale: 2 },
            ),
            (Column::I64(vec![7, -3]), L::Decimal { scale: 0 }),
            (Column::I64(vec![0, 19_782]), L::Date),
            (Column::U64(vec![0, u64::MAX]), L::UInt64),
            (
                Column::F64(vec![0.1, -2.5e300, 1e-7, f64::NAN, f64::INFINITY]),
                L::Float64,
            ),
            (Column::Bool(vec![true, false]), L::Bool),
            (
                Column::Str(vec!["a\"b\\c\n\u{1}é".into(), String::new()]),
                L::String,
            ),
        ];
        for (c, ty) in cases {
            for i in 0..c.len() {
                let mut out = Vec::new();
                json_cell(&c, i, ty, &mut out);
                let want = c.get(i).unwrap().to_json(ty).to_string();
                assert_eq!(String::from_utf8(out).unwrap(), want, "{ty:?} {i}");
                let mut out = Vec::new();
                csv_cell(&c, i, ty, &mut out);
                let want = match c.get(i).unwrap().to_json(ty) {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                if !want.contains([',', '"', '\n', '\r']) {
                    assert_eq!(String::from_utf8(out).unwrap(), want, "csv {ty:?} {i}");
                }
            }
        }
    }

    #[test]
    fn json_document_is_valid_across_batches() {
        let s: TableSchema = serde_yaml::from_str(
            "name: t\ntime-column: ts\ncolumns:\n  - {name: ts, type: timestamp_ms}\n  - {name: s, type: string}\n",
        )
        .unwrap();
        let mut e = Encoder::new(Format::Json, s.clone(), vec![1, 0]);
        let mut out = Vec::new();
        e.begin(&Head::default(), &mut out).unwrap();
        for k in 0..3 {
            let mut b = RowBatch::new(&s);
            b.push_row(vec![Value::I64(k), Value::Str(format!("\"{k}\""))])
                .unwrap();
            e.batch(&b, &mut out).unwrap();
        }
        e.end(&Head::default(), &Tail::default(), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["rows"].as_array().unwrap().len(), 3);
        assert_eq!(v["rows"][2]["s"], "\"2\"");
        assert_eq!(v["truncated"], false);
    }
}
