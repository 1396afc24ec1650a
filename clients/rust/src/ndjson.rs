//! Ingest bodies: rows as gzip-compressed NDJSON.

use crate::error::Error;
use std::io::Write;

/// The rows as gzip-compressed NDJSON; `first` numbers them in errors.
pub(crate) fn ndjson<T: serde::Serialize>(rows: &[T], first: usize) -> Result<Vec<u8>, Error> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for (i, r) in rows.iter().enumerate() {
        let v = serde_json::to_value(r).map_err(|e| Error::Row {
            row: first + i,
            why: e.to_string(),
        })?;
        if !v.is_object() {
            return Err(Error::Row {
                row: first + i,
                why: "not a JSON object of column values".into(),
            });
        }
        let line = serde_json::to_vec(&v).map_err(|e| Error::Row {
            row: first + i,
            why: e.to_string(),
        })?;
        let io = |e: std::io::Error| Error::Row {
            row: first + i,
            why: e.to_string(),
        };
        gz.write_all(&line).map_err(io)?;
        gz.write_all(b"\n").map_err(io)?;
    }
    gz.finish().map_err(|e| Error::Row {
        row: first,
        why: e.to_string(),
    })
}
