//! The table the crate's tests share: one column of each physical kind, the
//! price's type given, so a test can declare the same table twice with
//! another type and see the mismatch.

use hotcold_core::schema::{LogicalType, TableSchema};

pub(crate) fn schema(px: &str) -> TableSchema {
    TableSchema::new(
        "trades",
        "ts",
        &[
            ("ts", LogicalType::TimestampMs),
            ("px", px.parse().unwrap()),
            ("id", LogicalType::UInt64),
            ("f", LogicalType::Float64),
            ("b", LogicalType::Bool),
            ("s", LogicalType::String),
        ],
    )
}
