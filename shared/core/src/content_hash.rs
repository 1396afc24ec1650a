//! The order-independent content hash of a set of rows.
//!
//! Row count plus a wrapping 128-bit sum of the BLAKE3 hash of each row's
//! canonical encoding. Each store computes it from the rows as it returns
//! them, so equal hashes prove the cold store holds what the hot store held,
//! whatever order either returns rows in. It is not the transfer hash.

use crate::batch::{Column, RowBatch};
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHash {
    pub rows: u64,
    /// Hex, because JSON numbers cannot carry 128 bits.
    #[serde(with = "hex_u128")]
    pub sum: u128,
}

mod hex_u128 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::sum_hex(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_sum(&s).ok_or_else(|| serde::de::Error::custom("not 1-32 hex digits"))
    }
}

/// The sum as text, everywhere it is written (JSON, journal, ledgers):
/// 32 lower-case hex digits.
pub fn sum_hex(sum: u128) -> String {
    format!("{sum:032x}")
}

/// A sum written by [`sum_hex`]; `None` for anything else.
pub fn parse_sum(s: &str) -> Option<u128> {
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

/// The one text form of a whole hash: `ROWS:SUM`, as the journal keeps it
/// and as logs and answers show it.
impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.rows, sum_hex(self.sum))
    }
}

impl std::str::FromStr for ContentHash {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("content hash {s:?} is not ROWS:SUM (SUM in hex)");
        let (rows, sum) = s.split_once(':').ok_or_else(bad)?;
        Ok(ContentHash {
            rows: rows.parse().map_err(|_| bad())?,
            sum: parse_sum(sum).ok_or_else(bad)?,
        })
    }
}

/// Writes one cell's canonical bytes: a kind tag, then a fixed-width value or
/// a length-prefixed string, so no two different rows encode alike.
fn put_cell(buf: &mut Vec<u8>, v: CellRef<'_>) {
    match v {
        CellRef::I64(x) => {
            buf.push(1);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        CellRef::U64(x) => {
            buf.push(2);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        CellRef::F64(x) => {
            buf.push(3);
            buf.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        CellRef::Bool(x) => {
            buf.push(4);
            buf.push(u8::from(x));
        }
        CellRef::Str(s) => {
            buf.push(5);
            buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
    }
}

#[derive(Clone, Copy)]
enum CellRef<'a> {
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Str(&'a str),
}

fn cell_of(c: &Column, i: usize) -> Option<CellRef<'_>> {
    Some(match c {
        Column::I64(v) => CellRef::I64(*v.get(i)?),
        Column::U64(v) => CellRef::U64(*v.get(i)?),
        Column::F64(v) => CellRef::F64(*v.get(i)?),
        Column::Bool(v) => CellRef::Bool(*v.get(i)?),
        Column::Str(v) => CellRef::Str(v.get(i)?),
    })
}

fn value_ref(v: &Value) -> CellRef<'_> {
    match v {
        Value::I64(x) => CellRef::I64(*x),
        Value::U64(x) => CellRef::U64(*x),
        Value::F64(x) => CellRef::F64(*x),
        Value::Bool(x) => CellRef::Bool(*x),
        Value::Str(s) => CellRef::Str(s),
    }
}

impl ContentHash {
    fn add_encoded(&mut self, buf: &[u8]) {
        let h = blake3::hash(buf);
        let mut first = [0u8; 16];
        first.copy_from_slice(&h.as_bytes()[..16]);
        self.sum = self.sum.wrapping_add(u128::from_le_bytes(first));
        self.rows += 1;
    }

    pub fn add_row(&mut self, row: &[Value]) {
        let mut buf = Vec::with_capacity(64);
        for v in row {
            put_cell(&mut buf, value_ref(v));
        }
        self.add_encoded(&buf);
    }

    /// Adds every row of a batch.
    pub fn add_batch(&mut self, batch: &RowBatch) {
        let mut buf = Vec::with_capacity(128);
        for i in 0..batch.len() {
            buf.clear();
            for c in &batch.columns {
                if let Some(cell) = cell_of(c, i) {
                    put_cell(&mut buf, cell);
                }
            }
            self.add_encoded(&buf);
        }
    }

    pub fn of_batch(batch: &RowBatch) -> Self {
        let mut h = Self::default();
        h.add_batch(batch);
        h
    }

    /// The hash of the union of two disjoint row sets.
    pub fn merge(&mut self, other: ContentHash) {
        self.rows += other.rows;
        self.sum = self.sum.wrapping_add(other.sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{LogicalType, TableSchema};
    use proptest::prelude::*;

    fn schema() -> TableSchema {
        TableSchema::new(
            "t",
            "ts",
            &[("ts", LogicalType::TimestampMs), ("s", LogicalType::String)],
        )
    }

    proptest! {
        #[test]
        fn the_text_form_round_trips(rows in any::<u64>(), sum in any::<u128>()) {
            let h = ContentHash { rows, sum };
            prop_assert_eq!(h.to_string().parse::<ContentHash>(), Ok(h));
            prop_assert_eq!(parse_sum(&sum_hex(sum)), Some(sum));
        }

        #[test]
        fn order_independent(rows in proptest::collection::vec((any::<i64>(), ".{0,8}"), 0..50), seed in any::<u64>()) {
            let mut a = RowBatch::new(&schema());
            for (t, s) in &rows {
                a.push_row(vec![Value::I64(*t), Value::Str(s.clone())]).unwrap();
            }
            let mut shuffled = rows.clone();
            let n = shuffled.len().max(1);
            shuffled.rotate_left((seed as usize) % n);
            shuffled.reverse();
            let mut b = ContentHash::default();
            for (t, s) in &shuffled {
                b.add_row(&[Value::I64(*t), Value::Str(s.clone())]);
            }
            prop_assert_eq!(ContentHash::of_batch(&a), b);
        }
    }

    #[test]
    fn distinguishes_changes() {
        let mut a = ContentHash::default();
        a.add_row(&[Value::I64(1), Value::Str("ab".into())]);
        let mut b = ContentHash::default();
        b.add_row(&[Value::I64(1), Value::Str("ac".into())]);
        assert_ne!(a, b);
        let mut c = a;
        c.add_row(&[Value::I64(1), Value::Str("ab".into())]);
        assert_eq!(c.rows, 2);
        let round: ContentHash = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(round, a);
    }
}
