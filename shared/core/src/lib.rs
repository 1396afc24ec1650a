//! Sans-IO core shared by `cloud-service` and `nas-gateway`.
//!
//! Everything here is a pure function over bytes and buffers: table schemas
//! and columnar batches, the batch codec (column encodings + zstd), chunking
//! with BLAKE3 manifests, the order-independent content hash and the wire
//! frames. Nothing opens a file or a socket, so all of it is unit- and
//! property-tested without a runtime.

pub mod batch;
pub mod bwlimit;
pub mod codec;
pub mod content_hash;
pub mod coverage;
pub mod cron;
pub mod frame;
pub mod ingest;
pub mod layers;
pub mod manifest;
pub mod query;
pub mod schema;
pub mod snapshot;
pub mod time;
pub mod transfer;
pub mod units;
pub mod value;
pub mod window;

pub use batch::{Column, RowBatch};
pub use content_hash::ContentHash;
pub use manifest::{Manifest, ManifestBuilder};
pub use schema::{ColumnDef, LogicalType, PhysicalKind, TableSchema, Window};
pub use value::Value;
