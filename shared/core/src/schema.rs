//! Tables are data, not code: a schema is declared at run time (config) and
//! travels with every batch, so the gateway can create its cold tables.

pub use crate::window::{Window, DAY_MS};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The logical column types market-data schemas use. Each store maps them to
/// its own types; in a [`crate::RowBatch`] they share five physical kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogicalType {
    /// Milliseconds since the Unix epoch, UTC.
    TimestampMs,
    /// Days since the Unix epoch (1970-01-01 is 0).
    Date,
    String,
    /// A string with few distinct values (exchange, symbol, side).
    LcString,
    /// A fixed-point decimal stored as an integer scaled by 10^scale.
    Decimal {
        scale: u8,
    },
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float64,
    Bool,
}

/// How a logical type is held in memory and on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhysicalKind {
    I64,
    U64,
    F64,
    Bool,
    Str,
}

/// The largest decimal scale: 10^18 still fits an i64.
pub const MAX_DECIMAL_SCALE: u8 = 18;

impl LogicalType {
    pub fn physical(self) -> PhysicalKind {
        use LogicalType::*;
        match self {
            TimestampMs | Date | Decimal { .. } | Int8 | Int16 | Int32 | Int64 => PhysicalKind::I64,
            UInt8 | UInt16 | UInt32 | UInt64 => PhysicalKind::U64,
            Float64 => PhysicalKind::F64,
            Bool => PhysicalKind::Bool,
            String | LcString => PhysicalKind::Str,
        }
    }

    /// The inclusive range a signed value of this type may take.
    pub fn i64_range(self) -> (i64, i64) {
        match self {
            LogicalType::Int8 => (i8::MIN.into(), i8::MAX.into()),
            LogicalType::Int16 => (i16::MIN.into(), i16::MAX.into()),
            LogicalType::Int32 => (i32::MIN.into(), i32::MAX.into()),
            // ClickHouse 18's Date is a UInt16 day number.
            LogicalType::Date => (0, u16::MAX.into()),
            _ => (i64::MIN, i64::MAX),
        }
    }

    /// The largest value an unsigned value of this type may take.
    pub fn u64_max(self) -> u64 {
        match self {
            LogicalType::UInt8 => u8::MAX.into(),
            LogicalType::UInt16 => u16::MAX.into(),
            LogicalType::UInt32 => u32::MAX.into(),
            _ => u64::MAX,
        }
    }
}

impl fmt::Display for LogicalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LogicalType::*;
        let s = match self {
            TimestampMs => "timestamp_ms",
            Date => "date",
            String => "string",
            LcString => "lc_string",
            Decimal { scale } => return write!(f, "decimal({scale})"),
            Int8 => "int8",
            Int16 => "int16",
            Int32 => "int32",
            Int64 => "int64",
            UInt8 => "uint8",
            UInt16 => "uint16",
            UInt32 => "uint32",
            UInt64 => "uint64",
            Float64 => "float64",
            Bool => "bool",
        };
        f.write_str(s)
    }
}

impl FromStr for LogicalType {
    type Err = SchemaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use LogicalType::*;
        let t = s.trim().to_ascii_lowercase();
        Ok(match t.as_str() {
            "timestamp_ms" | "timestamp" => TimestampMs,
            "date" => Date,
            "string" => String,
            "lc_string" | "low_cardinality_string" => LcString,
            "int8" => Int8,
            "int16" => Int16,
            "int32" => Int32,
            "int64" => Int64,
            "uint8" => UInt8,
            "uint16" => UInt16,
            "uint32" => UInt32,
            "uint64" => UInt64,
            "float64" | "double" => Float64,
            "bool" | "boolean" => Bool,
            _ => {
                let scale = t
                    .strip_prefix("decimal(")
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|n| n.trim().parse::<u8>().ok())
                    .filter(|s| *s <= MAX_DECIMAL_SCALE)
                    .ok_or_else(|| SchemaError::UnknownType(s.to_string()))?;
                Decimal { scale }
            }
        })
    }
}

impl Serialize for LogicalType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LogicalType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::string::String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Errors in a declared schema; each names the table and column at fault.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SchemaError {
    /// The type name is not one of the logical types.
    #[error("unknown column type {0:?} (expected timestamp_ms, date, string, lc_string, decimal(0..=18), int8..int64, uint8..uint64, float64 or bool)")]
    UnknownType(String),
    /// Names become SQL identifiers, so only a safe alphabet is allowed.
    #[error(
        "invalid name {0:?}: use 1-64 characters of a-z, 0-9 and _, starting with a letter or _"
    )]
    BadName(String),
    /// Two columns of one table share a name.
    #[error("table {table}: column {column:?} is declared twice")]
    DuplicateColumn { table: String, column: String },
    /// The time column must exist and be a `timestamp_ms`.
    #[error("table {table}: time column {column:?} {problem}")]
    BadTimeColumn {
        table: String,
        column: String,
        problem: &'static str,
    },
    /// A table needs at least its time column.
    #[error("table {0}: no columns declared")]
    NoColumns(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDef {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: LogicalType,
}

/// A table as declared: its name, its time column and its columns in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TableSchema {
    pub name: String,
    pub time_column: String,
    /// May be left out when the hot store is ClickHouse and the table
    /// exists there: the columns are then read from the server.
    #[serde(default)]
    pub columns: Vec<ColumnDef>,
    /// Overrides the global hot retention for this table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_retention: Option<crate::units::Span>,
    /// How ClickHouse partitions the table: `day` (default; an archive
    /// window is one partition, dropped whole) or `month` (fewer parts for
    /// sparse tables; windows are deleted by a mutation, waited for).
    #[serde(default, skip_serializing_if = "Partition::is_day")]
    pub partition: Partition,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Partition {
    #[default]
    Day,
    Month,
}

impl Partition {
    pub fn is_day(&self) -> bool {
        *self == Partition::Day
    }
}

pub fn check_name(name: &str) -> Result<(), SchemaError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(SchemaError::BadName(name.to_string()))
    }
}

impl TableSchema {
    /// A day-partitioned table with the global hot retention (fixtures and
    /// tools; configured tables come from YAML).
    pub fn new(name: &str, time_column: &str, columns: &[(&str, LogicalType)]) -> Self {
        Self {
            name: name.into(),
            time_column: time_column.into(),
            columns: columns
                .iter()
                .map(|(n, ty)| ColumnDef {
                    name: (*n).into(),
                    ty: *ty,
                })
                .collect(),
            hot_retention: None,
            partition: Partition::default(),
        }
    }

    /// Checks names, uniqueness and the time column. Every schema read from
    /// config or the network passes through here before use.
    pub fn validate(&self) -> Result<(), SchemaError> {
        check_name(&self.name)?;
        if self.columns.is_empty() {
            return Err(SchemaError::NoColumns(self.name.clone()));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.columns {
            check_name(&c.name)?;
            if !seen.insert(c.name.as_str()) {
                return Err(SchemaError::DuplicateColumn {
                    table: self.name.clone(),
                    column: c.name.clone(),
                });
            }
        }
        match self.columns.iter().find(|c| c.name == self.time_column) {
            None => Err(SchemaError::BadTimeColumn {
                table: self.name.clone(),
                column: self.time_column.clone(),
                problem: "is not among the columns",
            }),
            Some(c) if c.ty != LogicalType::TimestampMs => Err(SchemaError::BadTimeColumn {
                table: self.name.clone(),
                column: self.time_column.clone(),
                problem: "must have type timestamp_ms",
            }),
            Some(_) => Ok(()),
        }
    }

    /// Index of the time column (valid after [`Self::validate`]).
    pub fn time_index(&self) -> usize {
        self.columns
            .iter()
            .position(|c| c.name == self.time_column)
            .unwrap_or(0)
    }

    pub fn column(&self, name: &str) -> Option<(usize, &ColumnDef)> {
        self.columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
    }

    pub fn kinds(&self) -> Vec<PhysicalKind> {
        self.columns.iter().map(|c| c.ty.physical()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_and_print() {
        for t in [
            "timestamp_ms",
            "date",
            "string",
            "lc_string",
            "decimal(8)",
            "int8",
            "uint64",
            "float64",
            "bool",
        ] {
            let ty: LogicalType = t.parse().unwrap();
            assert_eq!(ty.to_string(), t);
        }
        assert!("decimal(19)".parse::<LogicalType>().is_err());
        assert!("varchar".parse::<LogicalType>().is_err());
    }

    #[test]
    fn schema_validation_names_the_problem() {
        let mut s = TableSchema::new("trades", "ts", &[("ts", LogicalType::TimestampMs)]);
        assert!(s.validate().is_ok());
        s.columns.push(ColumnDef {
            name: "ts".into(),
            ty: LogicalType::Int64,
        });
        assert!(matches!(
            s.validate(),
            Err(SchemaError::DuplicateColumn { .. })
        ));
        s.columns.pop();
        s.name = "drop table;".into();
        assert!(matches!(s.validate(), Err(SchemaError::BadName(_))));
        s.name = "t".into();
        s.time_column = "time".into();
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("\"time\""), "{e}");
    }
}
