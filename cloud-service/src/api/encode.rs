//! Rows to bytes, incrementally: NDJSON, a JSON document, or CSV (RFC 4180).
//! Each batch is encoded as it arrives, so an answer is never held whole.

use crate::router::{Head, Tail};
use hotcold_core::schema::TableSchema;
use hotcold_core::RowBatch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Json,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "ndjson" => Some(Format::Ndjson),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
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
}

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
        Self {
            format,
            schema,
            cols,
            keys,
            wrote_row: false,
        }
    }

    pub(crate) fn begin(&self, out: &mut Vec<u8>) {
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
            Format::Ndjson => {}
        }
    }

    pub fn batch(&mut self, b: &RowBatch, out: &mut Vec<u8>) {
        for i in 0..b.len() {
            match self.format {
                Format::Csv => {
                    let mut line = String::new();
                    for (k, &c) in self.cols.iter().enumerate() {
                        if k > 0 {
                            line.push(',');
                        }
                        if let Some(v) = b.columns.get(c).and_then(|col| col.get(i)) {
                            csv_field(&v.to_json(self.schema.columns[c].ty), &mut line);
                        }
                    }
                    line.push('\n');
                    out.extend_from_slice(line.as_bytes());
                }
                Format::Json | Format::Ndjson => {
                    if self.format == Format::Json && self.wrote_row {
                        out.push(b',');
                    }
                    // Written field by field in column order: building a
                    // map per row cost a third of a large answer's time.
                    out.push(b'{');
                    let mut first = true;
                    for (k, &c) in self.cols.iter().enumerate() {
                        let def = &self.schema.columns[c];
                        if let Some(v) = b.columns.get(c).and_then(|col| col.get(i)) {
                            if !first {
                                out.push(b',');
                            }
                            first = false;
                            out.extend_from_slice(&self.keys[k]);
                            // Writing a Value into a Vec cannot fail.
                            let _ = serde_json::to_writer(&mut *out, &v.to_json(def.ty));
                        }
                    }
                    out.push(b'}');
                    if self.format == Format::Ndjson {
                        out.push(b'\n');
                    }
                }
            }
            self.wrote_row = true;
        }
    }

    /// JSON closes the document with what is known at the end; the other
    /// formats carry that in headers (small answers) or not at all.
    pub fn end(&self, head: &Head, tail: &Tail, out: &mut Vec<u8>) {
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
    }
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
pub(crate) fn csv_field(v: &serde_json::Value, out: &mut String) {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotcold_core::Value;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        let mut out = String::new();
        for v in [
            serde_json::json!("plain"),
            serde_json::json!("a,b"),
            serde_json::json!("say \"hi\"\nnext"),
            serde_json::json!(42),
            serde_json::json!(true),
        ] {
            csv_field(&v, &mut out);
            out.push('|');
        }
        assert_eq!(out, "plain|\"a,b\"|\"say \"\"hi\"\"\nnext\"|42|true|");
    }

    #[test]
    fn json_document_is_valid_across_batches() {
        let s: TableSchema = serde_yaml::from_str(
            "name: t\ntime-column: ts\ncolumns:\n  - {name: ts, type: timestamp_ms}\n  - {name: s, type: string}\n",
        )
        .unwrap();
        let mut e = Encoder::new(Format::Json, s.clone(), vec![1, 0]);
        let mut out = Vec::new();
        e.begin(&mut out);
        for k in 0..3 {
            let mut b = RowBatch::new(&s);
            b.push_row(vec![Value::I64(k), Value::Str(format!("\"{k}\""))])
                .unwrap();
            e.batch(&b, &mut out);
        }
        e.end(&Head::default(), &Tail::default(), &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["rows"].as_array().unwrap().len(), 3);
        assert_eq!(v["rows"][2]["s"], "\"2\"");
        assert_eq!(v["truncated"], false);
    }
}
