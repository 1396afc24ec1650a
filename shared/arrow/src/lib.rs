//! Answers in the formats analysts' tools read natively: a table's rows as
//! Arrow record batches ([`record_batch`]), written as an Arrow IPC stream
//! ([`ipc_stream`]) or a Parquet file ([`parquet_file`]), each into a
//! buffer the caller drains as it goes, so an answer is sent as it is made.
//!
//! Sans-IO like `hotcold-core`, but kept apart from it: arrow-rs and
//! parquet are large, and only the answer (and, later, export) paths need
//! them.

mod adopt;
pub mod columns;
mod dictionary;
pub mod ipc_stream;
pub mod parquet_file;
pub mod record_batch;
pub mod sealed_part;

pub use columns::Columns;
pub use ipc_stream::IpcStream;
pub use parquet_file::ParquetFile;
pub use record_batch::{arrow_schema, data_type, BatchConverter, EncodeError};

/// Keys of the answer's signals in the IPC schema's and the Parquet
/// footer's key-value metadata (the same values as the `x-hotcold-*`
/// headers).
pub mod meta {
    /// The confirmed watermark (epoch ms) the answer was split at.
    pub const WATERMARK: &str = "hotcold.watermark";
    /// Missing cold ranges, `START-END` in epoch ms, comma-separated; the
    /// key is absent when nothing is missing.
    pub const MISSING: &str = "hotcold.missing";
    pub const MISSING_REASON: &str = "hotcold.missing_reason";
    /// `true` or `false`: whether `limit` (or the cold byte bound) cut the
    /// answer. Absent from a streamed IPC answer, whose schema went out
    /// before its end was known (then [`STREAMED`] is `true`).
    pub const TRUNCATED: &str = "hotcold.truncated";
    pub const HOT_ROWS: &str = "hotcold.hot_rows";
    pub const COLD_ROWS: &str = "hotcold.cold_rows";
    pub const STREAMED: &str = "hotcold.streamed";
}

pub use arrow_array::RecordBatch;
pub use arrow_schema::{Schema, SchemaRef};
