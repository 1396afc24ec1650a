// Shared by the targets: one table with every logical type.
use hotcold_core::schema::{LogicalType as T, TableSchema};

pub fn every_type() -> TableSchema {
    TableSchema::new(
        "t",
        "ts",
        &[
            ("ts", T::TimestampMs),
            ("d", T::Date),
            ("s", T::String),
            ("lc", T::LcString),
            ("px", T::Decimal { scale: 8 }),
            ("i8", T::Int8),
            ("i32", T::Int32),
            ("i64", T::Int64),
            ("u8", T::UInt8),
            ("u64", T::UInt64),
            ("f", T::Float64),
            ("b", T::Bool),
        ],
    )
}
