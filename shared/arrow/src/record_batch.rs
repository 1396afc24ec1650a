//! A [`RowBatch`] as an Arrow [`RecordBatch`], with the column types users
//! expect from a market-data table: times as `timestamp[ms, tz=UTC]`,
//! decimals as `decimal128` at the column's scale (exact, never a float),
//! low-cardinality strings dictionary-encoded, integers at their declared
//! width and sign.

use crate::dictionary::Dictionary;
pub use crate::dictionary::MAX_DICTIONARY;
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int16Array, Int32Array,
    Int64Array, Int8Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt16Array,
    UInt32Array, UInt64Array, UInt8Array,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use hotcold_core::schema::{LogicalType, TableSchema};
use hotcold_core::{Column, RowBatch};
use std::collections::HashMap;
use std::sync::Arc;

/// Decimals go out as `decimal128(38, scale)`: an i64 scaled value has up
/// to 19 digits, so 18 (ClickHouse's Decimal64) could not hold every one,
/// and 38 leaves the reader room to sum them without leaving the type.
pub const DECIMAL_PRECISION: u8 = 38;

/// Why rows could not be written as Arrow or Parquet.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// A value outside its declared type (ingest refuses those, so this is
    /// a store handing back something it should not hold).
    #[error("column {column}: value {value} does not fit {ty}")]
    OutOfRange {
        column: String,
        value: String,
        ty: LogicalType,
    },
    /// A column's physical kind is not its type's (a schema and a batch
    /// that do not belong together).
    #[error("column {0}: its values are not of its declared type")]
    Kind(String),
    /// A text cell that is not UTF-8 (the store holds bytes it should not).
    #[error("column {0}: a text value that is not UTF-8")]
    Utf8(String),
    /// The batch lacks a column the schema names.
    #[error("column {0} is missing from the batch")]
    Missing(String),
    /// The Arrow writer refused a batch (a bug on our side, not input).
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    /// The Parquet writer refused a batch (likewise).
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// The Arrow type of a column of logical type `ty`.
pub fn data_type(ty: LogicalType) -> DataType {
    use LogicalType as L;
    match ty {
        L::TimestampMs => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        L::Date => DataType::Date32,
        L::String => DataType::Utf8,
        L::LcString => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        L::Decimal { scale } => DataType::Decimal128(DECIMAL_PRECISION, scale as i8),
        L::Int8 => DataType::Int8,
        L::Int16 => DataType::Int16,
        L::Int32 => DataType::Int32,
        L::Int64 => DataType::Int64,
        L::UInt8 => DataType::UInt8,
        L::UInt16 => DataType::UInt16,
        L::UInt32 => DataType::UInt32,
        L::UInt64 => DataType::UInt64,
        L::Float64 => DataType::Float64,
        L::Bool => DataType::Boolean,
    }
}

/// The Arrow schema of `cols` (indices into `schema.columns`, in output
/// order), with `metadata` on the schema. No cell is ever null.
pub fn arrow_schema(
    schema: &TableSchema,
    cols: &[usize],
    metadata: HashMap<String, String>,
) -> Schema {
    let fields: Vec<Field> = cols
        .iter()
        .filter_map(|&c| schema.columns.get(c))
        .map(|c| Field::new(&c.name, data_type(c.ty), false))
        .collect();
    Schema::new_with_metadata(fields, metadata)
}

/// Converts batches of one table's rows, keeping each dictionary column's
/// values across batches so a stream sends each symbol once (as deltas).
pub struct BatchConverter {
    schema: TableSchema,
    cols: Vec<usize>,
    pub(crate) arrow: SchemaRef,
    /// Per output column: the dictionary so far (lc_string columns only).
    pub(crate) dicts: Vec<Option<Dictionary>>,
}

impl BatchConverter {
    pub fn new(schema: TableSchema, cols: Vec<usize>, arrow: SchemaRef) -> Self {
        let dicts = cols
            .iter()
            .map(|&c| {
                (schema.columns.get(c).map(|d| d.ty) == Some(LogicalType::LcString))
                    .then(Dictionary::default)
            })
            .collect();
        Self {
            schema,
            cols,
            arrow,
            dicts,
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.arrow
    }

    pub fn convert(&mut self, b: &RowBatch) -> Result<RecordBatch, EncodeError> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.cols.len());
        for (k, &c) in self.cols.iter().enumerate() {
            let def = self
                .schema
                .columns
                .get(c)
                .ok_or_else(|| EncodeError::Missing(format!("#{c}")))?;
            let col = b
                .columns
                .get(c)
                .ok_or_else(|| EncodeError::Missing(def.name.clone()))?;
            let array = match self.dicts.get_mut(k).and_then(Option::as_mut) {
                Some(d) => d.encode(col, &def.name)?,
                None => array(col, def.ty, &def.name)?,
            };
            arrays.push(array);
        }
        Ok(RecordBatch::try_new(self.arrow.clone(), arrays)?)
    }
}

/// One column's values as an array of its type (not a dictionary one).
fn array(col: &Column, ty: LogicalType, name: &str) -> Result<ArrayRef, EncodeError> {
    use LogicalType as L;
    let kind = || EncodeError::Kind(name.to_string());
    Ok(match (col, ty) {
        (Column::I64(v), L::TimestampMs) => {
            Arc::new(TimestampMillisecondArray::from(v.clone()).with_timezone("UTC"))
        }
        (Column::I64(v), L::Date) => Arc::new(Date32Array::from(narrow::<i32, _>(v, ty, name)?)),
        (Column::I64(v), L::Decimal { scale }) => Arc::new(
            Decimal128Array::from_iter_values(v.iter().map(|&x| i128::from(x)))
                .with_precision_and_scale(DECIMAL_PRECISION, scale as i8)?,
        ),
        (Column::I64(v), L::Int8) => Arc::new(Int8Array::from(narrow::<i8, _>(v, ty, name)?)),
        (Column::I64(v), L::Int16) => Arc::new(Int16Array::from(narrow::<i16, _>(v, ty, name)?)),
        (Column::I64(v), L::Int32) => Arc::new(Int32Array::from(narrow::<i32, _>(v, ty, name)?)),
        (Column::I64(v), L::Int64) => Arc::new(Int64Array::from(v.clone())),
        (Column::U64(v), L::UInt8) => Arc::new(UInt8Array::from(narrow::<u8, _>(v, ty, name)?)),
        (Column::U64(v), L::UInt16) => Arc::new(UInt16Array::from(narrow::<u16, _>(v, ty, name)?)),
        (Column::U64(v), L::UInt32) => Arc::new(UInt32Array::from(narrow::<u32, _>(v, ty, name)?)),
        (Column::U64(v), L::UInt64) => Arc::new(UInt64Array::from(v.clone())),
        (Column::F64(v), L::Float64) => Arc::new(Float64Array::from(v.clone())),
        (Column::Bool(v), L::Bool) => Arc::new(BooleanArray::from(v.clone())),
        (Column::Str(v), L::String | L::LcString) => {
            Arc::new(StringArray::from_iter_values(v.iter()))
        }
        _ => return Err(kind()),
    })
}

/// Values at a narrower width, each checked (ingest keeps them in range;
/// a store that does not is reported, never wrapped).
fn narrow<T, S>(v: &[S], ty: LogicalType, name: &str) -> Result<Vec<T>, EncodeError>
where
    T: TryFrom<S>,
    S: Copy + std::fmt::Display,
{
    v.iter()
        .map(|&x| {
            T::try_from(x).map_err(|_| EncodeError::OutOfRange {
                column: name.to_string(),
                value: x.to_string(),
                ty,
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;
    use arrow_array::Array;
    use hotcold_core::Value;

    /// One column of every logical type (shared with `columns_tests.rs`).
    pub(crate) fn table() -> TableSchema {
        use LogicalType as L;
        TableSchema::new(
            "t",
            "ts",
            &[
                ("ts", L::TimestampMs),
                ("day", L::Date),
                ("symbol", L::LcString),
                ("note", L::String),
                ("price", L::Decimal { scale: 2 }),
                ("i8", L::Int8),
                ("u16", L::UInt16),
                ("u64", L::UInt64),
                ("f", L::Float64),
                ("b", L::Bool),
            ],
        )
    }

    fn rows(s: &TableSchema, n: i64) -> RowBatch {
        let mut b = RowBatch::new(s);
        for i in 0..n {
            b.push_row(vec![
                Value::I64(1_700_000_000_000 + i),
                Value::I64(19_000 + i),
                Value::Str(["BTC", "ETH"][(i % 2) as usize].into()),
                Value::Str(format!("n{i}")),
                Value::I64(-150 + i),
                Value::I64(-128 + i),
                Value::U64(65_535 - i as u64),
                Value::U64(u64::MAX - i as u64),
                Value::F64(0.5 * i as f64),
                Value::Bool(i % 2 == 0),
            ])
            .unwrap();
        }
        b
    }

    #[test]
    fn types_are_the_ones_users_expect() {
        let s = table();
        let cols: Vec<usize> = (0..s.columns.len()).collect();
        let arrow = Arc::new(arrow_schema(&s, &cols, HashMap::new()));
        let mut conv = BatchConverter::new(s.clone(), cols, arrow);
        let rb = conv.convert(&rows(&s, 3)).unwrap();
        let types: Vec<String> = rb
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        assert_eq!(
            types,
            [
                "Timestamp(ms, \"UTC\")",
                "Date32",
                "Dictionary(Int32, Utf8)",
                "Utf8",
                "Decimal128(38, 2)",
                "Int8",
                "UInt16",
                "UInt64",
                "Float64",
                "Boolean"
            ]
        );
        let price = rb
            .column(4)
            .as_primitive::<arrow_array::types::Decimal128Type>();
        assert_eq!(price.value_as_string(0), "-1.50");
        let sym = rb.column(2).as_dictionary::<Int32Type>();
        assert_eq!(sym.values().len(), 2);
        assert_eq!(
            rb.column(7)
                .as_primitive::<arrow_array::types::UInt64Type>()
                .value(0),
            u64::MAX
        );
    }

    #[test]
    fn dictionaries_grow_across_batches_and_are_bounded() {
        let s = TableSchema::new(
            "t",
            "ts",
            &[
                ("ts", LogicalType::TimestampMs),
                ("sym", LogicalType::LcString),
            ],
        );
        let arrow = Arc::new(arrow_schema(&s, &[1], HashMap::new()));
        let mut conv = BatchConverter::new(s.clone(), vec![1], arrow);
        let batch = |names: Vec<String>| {
            let mut b = RowBatch::new(&s);
            for n in names {
                b.push_row(vec![Value::I64(0), Value::Str(n)]).unwrap();
            }
            b
        };
        let a = conv.convert(&batch(vec!["x".into(), "y".into()])).unwrap();
        let b = conv.convert(&batch(vec!["y".into(), "z".into()])).unwrap();
        let (a, b) = (
            a.column(0).as_dictionary::<Int32Type>(),
            b.column(0).as_dictionary::<Int32Type>(),
        );
        assert_eq!(a.values().len(), 2);
        assert_eq!(
            b.values().len(),
            3,
            "the second batch's dictionary extends the first"
        );
        assert_eq!(b.keys().values().to_vec(), vec![1, 2]);
        let many: Vec<String> = (0..MAX_DICTIONARY).map(|i| format!("s{i}")).collect();
        let c = conv.convert(&batch(many)).unwrap();
        let c = c.column(0).as_dictionary::<Int32Type>();
        assert_eq!(
            c.values().len(),
            MAX_DICTIONARY + 3,
            "it grows by a batch at most"
        );
        let d = conv.convert(&batch(vec!["z".into(), "s1".into()])).unwrap();
        let d = d.column(0).as_dictionary::<Int32Type>();
        assert_eq!(d.values().len(), 2, "a full dictionary starts again");
        assert_eq!(d.keys().values().to_vec(), vec![0, 1]);
    }

    #[test]
    fn a_value_outside_its_width_is_an_error_naming_the_column() {
        let s = TableSchema::new(
            "t",
            "ts",
            &[
                ("ts", LogicalType::TimestampMs),
                ("small", LogicalType::Int8),
            ],
        );
        let arrow = Arc::new(arrow_schema(&s, &[0, 1], HashMap::new()));
        let mut conv = BatchConverter::new(s.clone(), vec![0, 1], arrow);
        let mut b = RowBatch::new(&s);
        b.push_row(vec![Value::I64(0), Value::I64(300)]).unwrap();
        let e = conv.convert(&b).unwrap_err().to_string();
        assert!(e.contains("small") && e.contains("300"), "{e}");
    }
}
