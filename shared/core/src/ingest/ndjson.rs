//! NDJSON (one flat JSON object a line) straight into a columnar batch.
//!
//! Each value is converted as it is read and appended to its column: no
//! per-row map, no per-cell `Value`. Keys are matched against the schema
//! by position first (collectors write columns in one order), then by name.

use super::cell;
use super::json::{Cursor, Token};
use crate::batch::RowBatch;
use crate::schema::TableSchema;

/// What one ingest decoder accepts beyond the body size the caller bounds.
#[derive(Debug, Clone, Copy)]
pub struct IngestLimits {
    /// The longest string cell. The NAS decodes segments with the same
    /// bound (`DecodeLimits::max_string_bytes`), so a longer string taken
    /// here could never be archived.
    pub max_string_bytes: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_string_bytes: crate::codec::DecodeLimits::default().max_string_bytes,
        }
    }
}

/// Parses NDJSON into a batch; the error names the line and the column.
pub fn parse_ndjson(
    schema: &TableSchema,
    body: &[u8],
    limits: &IngestLimits,
) -> Result<RowBatch, String> {
    let mut reader = NdjsonReader::new(schema, body, limits)?;
    let mut all = RowBatch::new(schema);
    while let Some(b) = reader.next_batch(usize::MAX)? {
        all.extend_from(b)
            .map_err(|i| format!("column {i} changed kind between batches"))?;
    }
    Ok(all)
}

/// A body read a batch at a time, so writing the first rows can overlap
/// parsing the rest. Line numbers run on across batches; a body with no
/// row at all is an error at the end.
pub struct NdjsonReader<'a> {
    lines: std::iter::Enumerate<std::str::Split<'a, char>>,
    rows: Rows<'a>,
    taken: u64,
}

impl<'a> NdjsonReader<'a> {
    pub fn new(
        schema: &'a TableSchema,
        body: &'a [u8],
        limits: &'a IngestLimits,
    ) -> Result<Self, String> {
        let text = std::str::from_utf8(body)
            .map_err(|e| format!("body is not UTF-8 (byte {})", e.valid_up_to()))?;
        Ok(Self {
            lines: text.split('\n').enumerate(),
            rows: Rows::new(schema, limits),
            taken: 0,
        })
    }

    /// Up to `max_rows` more rows, or `None` once the body is done.
    pub fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, String> {
        let mut batch = RowBatch::with_capacity(self.rows.schema, max_rows.min(8192));
        while batch.len() < max_rows {
            let Some((i, line)) = self.lines.next() else {
                break;
            };
            self.rows
                .line(&mut batch, line)
                .map_err(|e| format!("line {}: {e}", i + 1))?;
        }
        self.taken += batch.len() as u64;
        if !batch.is_empty() {
            return Ok(Some(batch));
        }
        if self.taken == 0 {
            return Err("body holds no rows: send one JSON object per line".into());
        }
        Ok(None)
    }
}

/// The per-request state: which row last set each column.
struct Rows<'s> {
    schema: &'s TableSchema,
    limits: &'s IngestLimits,
    seen: Vec<u64>,
    row: u64,
}

impl<'s> Rows<'s> {
    fn new(schema: &'s TableSchema, limits: &'s IngestLimits) -> Self {
        Self {
            schema,
            limits,
            seen: vec![0; schema.columns.len()],
            row: 0,
        }
    }

    fn column_of(&self, key: &str, position: usize) -> Option<usize> {
        let cols = &self.schema.columns;
        if cols.get(position).is_some_and(|c| c.name == key) {
            return Some(position);
        }
        cols.iter().position(|c| c.name == key)
    }

    /// One line: blank, or one object holding every column once.
    fn line(&mut self, batch: &mut RowBatch, line: &str) -> Result<(), String> {
        let mut c = Cursor::new(line);
        c.skip_ws();
        if c.at_end() {
            return Ok(());
        }
        self.row += 1;
        let row = self.row;
        let not_object = |e: String| format!("not a JSON object: {e}");
        c.expect(b'{', "'{'").map_err(not_object)?;
        c.skip_ws();
        let mut position = 0;
        if c.peek() == Some(b'}') {
            c.i += 1;
        } else {
            loop {
                c.skip_ws();
                let key = c.string().map_err(not_object)?;
                c.expect(b':', "':'").map_err(not_object)?;
                let Some(col) = self.column_of(&key, position) else {
                    return Err(self.unknown(&key));
                };
                let def = &self.schema.columns[col];
                // A value that is no scalar (a nested object, an array) or
                // no JSON is named by its key, not only by where it starts.
                let tok = c
                    .value()
                    .map_err(|e| format!("column {:?} ({}): {e}", def.name, def.ty))?;
                if self.seen[col] == row {
                    return Err(format!("not a JSON object: key {key:?} is given twice"));
                }
                self.seen[col] = row;
                if let Token::Str(s) = &tok {
                    self.check_len(&def.name, s.len())?;
                }
                cell::push(&mut batch.columns[col], def.ty, &tok)
                    .map_err(|e| format!("column {:?} ({}): {e}", def.name, def.ty))?;
                position += 1;
                c.skip_ws();
                match c.peek() {
                    Some(b',') => c.i += 1,
                    Some(b'}') => {
                        c.i += 1;
                        break;
                    }
                    _ => {
                        return Err(not_object(format!(
                            "expected ',' or '}}' at column {}",
                            c.i + 1
                        )))
                    }
                }
            }
        }
        c.skip_ws();
        if !c.at_end() {
            return Err(format!(
                "not a JSON object: trailing characters at column {}",
                c.i + 1
            ));
        }
        if position != self.schema.columns.len() {
            let missing = self
                .schema
                .columns
                .iter()
                .zip(&self.seen)
                .find(|(_, s)| **s != row)
                .map_or("", |(d, _)| d.name.as_str());
            return Err(format!("missing column {missing:?}"));
        }
        Ok(())
    }

    fn check_len(&self, column: &str, len: usize) -> Result<(), String> {
        let max = self.limits.max_string_bytes;
        if len > max {
            return Err(format!(
                "column {column:?}: a string of {len} bytes is over the {max} bytes a string may hold (the NAS refuses longer ones, so they could never be archived)"
            ));
        }
        Ok(())
    }

    fn unknown(&self, key: &str) -> String {
        let names: Vec<&str> = self
            .schema
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        format!(
            "unknown column {key:?} (table {} has {})",
            self.schema.name,
            names.join(", ")
        )
    }
}
