//! Ingest decoders: request bodies straight into a columnar batch, checked
//! as strictly as the schema asks, every error naming the row and column.
//!
//! - `ndjson`: one flat JSON object a line (`json` is its tokenizer,
//!   `cell` the typed conversion of one value);
//! - `rowbinary`: ClickHouse's RowBinary layout of the declared columns,
//!   for collectors that can write it;
//! - `encoding`: a gzip or zstd `Content-Encoding`, inflated within a bound.
//!
//! The caller bounds the body (`ingest.max-body`); these bound what a
//! single cell may hold (`IngestLimits`).

mod cell;
mod encoding;
mod json;
mod ndjson;
mod rowbinary;
#[cfg(test)]
mod tests;

pub use cell::decimal_from_number;
pub use encoding::{decode_body, EncodingError};
pub use ndjson::{parse_ndjson, IngestLimits, NdjsonReader};
pub use rowbinary::{encode_rowbinary, parse_rowbinary, RowBinaryReader};
