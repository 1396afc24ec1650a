//! A columnar batch of rows of one table.

use crate::schema::{PhysicalKind, TableSchema};
use crate::value::Value;

/// One column's values, in the physical kind of its logical type.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    I64(Vec<i64>),
    U64(Vec<u64>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
}

impl Column {
    pub fn new(kind: PhysicalKind, capacity: usize) -> Self {
        match kind {
            PhysicalKind::I64 => Column::I64(Vec::with_capacity(capacity)),
            PhysicalKind::U64 => Column::U64(Vec::with_capacity(capacity)),
            PhysicalKind::F64 => Column::F64(Vec::with_capacity(capacity)),
            PhysicalKind::Bool => Column::Bool(Vec::with_capacity(capacity)),
            PhysicalKind::Str => Column::Str(Vec::with_capacity(capacity)),
        }
    }

    pub fn kind(&self) -> PhysicalKind {
        match self {
            Column::I64(_) => PhysicalKind::I64,
            Column::U64(_) => PhysicalKind::U64,
            Column::F64(_) => PhysicalKind::F64,
            Column::Bool(_) => PhysicalKind::Bool,
            Column::Str(_) => PhysicalKind::Str,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Column::I64(v) => v.len(),
            Column::U64(v) => v.len(),
            Column::F64(v) => v.len(),
            Column::Bool(v) => v.len(),
            Column::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a value; `false` if its kind is not this column's.
    pub fn push(&mut self, v: Value) -> bool {
        match (self, v) {
            (Column::I64(c), Value::I64(x)) => c.push(x),
            (Column::U64(c), Value::U64(x)) => c.push(x),
            (Column::F64(c), Value::F64(x)) => c.push(x),
            (Column::Bool(c), Value::Bool(x)) => c.push(x),
            (Column::Str(c), Value::Str(x)) => c.push(x),
            _ => return false,
        }
        true
    }

    pub fn get(&self, row: usize) -> Option<Value> {
        Some(match self {
            Column::I64(v) => Value::I64(*v.get(row)?),
            Column::U64(v) => Value::U64(*v.get(row)?),
            Column::F64(v) => Value::F64(*v.get(row)?),
            Column::Bool(v) => Value::Bool(*v.get(row)?),
            Column::Str(v) => Value::Str(v.get(row)?.clone()),
        })
    }

    /// Approximate heap bytes, for memory budgets.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Column::I64(v) => v.len() * 8,
            Column::U64(v) => v.len() * 8,
            Column::F64(v) => v.len() * 8,
            Column::Bool(v) => v.len(),
            Column::Str(v) => v.iter().map(|s| s.len() + 24).sum(),
        }
    }
}

/// Rows of one table, stored column by column in schema order.
#[derive(Debug, Clone, PartialEq)]
pub struct RowBatch {
    pub columns: Vec<Column>,
}

impl RowBatch {
    pub fn new(schema: &TableSchema) -> Self {
        Self::with_capacity(schema, 0)
    }

    pub fn with_capacity(schema: &TableSchema, capacity: usize) -> Self {
        Self {
            columns: schema
                .kinds()
                .into_iter()
                .map(|k| Column::new(k, capacity))
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one row. The caller has checked the kinds against the schema
    /// (ingest and decoders do); a mismatch is reported, not panicked on.
    pub fn push_row(&mut self, row: Vec<Value>) -> Result<(), usize> {
        if row.len() != self.columns.len() {
            return Err(row.len().min(self.columns.len()));
        }
        for (i, (c, v)) in self.columns.iter_mut().zip(row).enumerate() {
            if !c.push(v) {
                return Err(i);
            }
        }
        Ok(())
    }

    pub fn row(&self, i: usize) -> Vec<Value> {
        self.columns.iter().filter_map(|c| c.get(i)).collect()
    }

    pub fn heap_bytes(&self) -> usize {
        self.columns.iter().map(Column::heap_bytes).sum()
    }

    /// Moves `other`'s rows after these. Both must be of one schema: a
    /// column of another kind is reported (its index) and nothing is moved.
    pub fn extend_from(&mut self, other: RowBatch) -> Result<(), usize> {
        if self.is_empty() {
            *self = other;
            return Ok(());
        }
        if let Some(i) = (0..self.columns.len().max(other.columns.len())).find(|&i| {
            self.columns.get(i).map(Column::kind) != other.columns.get(i).map(Column::kind)
        }) {
            return Err(i);
        }
        for (c, o) in self.columns.iter_mut().zip(other.columns) {
            match (c, o) {
                (Column::I64(a), Column::I64(b)) => a.extend(b),
                (Column::U64(a), Column::U64(b)) => a.extend(b),
                (Column::F64(a), Column::F64(b)) => a.extend(b),
                (Column::Bool(a), Column::Bool(b)) => a.extend(b),
                (Column::Str(a), Column::Str(b)) => a.extend(b),
                _ => unreachable!("kinds were checked above"),
            }
        }
        Ok(())
    }

    /// Keeps the first `n` rows.
    pub fn truncate(&mut self, n: usize) {
        for c in &mut self.columns {
            match c {
                Column::I64(v) => v.truncate(n),
                Column::U64(v) => v.truncate(n),
                Column::F64(v) => v.truncate(n),
                Column::Bool(v) => v.truncate(n),
                Column::Str(v) => v.truncate(n),
            }
        }
    }

    /// Removes the first `n` rows (all, if fewer) and returns them as a
    /// batch of their own: cells are moved, not copied.
    pub fn drain_front(&mut self, n: usize) -> RowBatch {
        let columns = self
            .columns
            .iter_mut()
            .map(|c| match c {
                Column::I64(v) => Column::I64(v.drain(..n.min(v.len())).collect()),
                Column::U64(v) => Column::U64(v.drain(..n.min(v.len())).collect()),
                Column::F64(v) => Column::F64(v.drain(..n.min(v.len())).collect()),
                Column::Bool(v) => Column::Bool(v.drain(..n.min(v.len())).collect()),
                Column::Str(v) => Column::Str(v.drain(..n.min(v.len())).collect()),
            })
            .collect();
        RowBatch { columns }
    }

    /// The values of an i64 column (the time column is one).
    pub fn i64_column(&self, idx: usize) -> Option<&[i64]> {
        match self.columns.get(idx)? {
            Column::I64(v) => Some(v),
            _ => None,
        }
    }
}
