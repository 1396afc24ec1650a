//! A chunk of rows built column by column straight from a store's cells,
//! with no [`RowBatch`](hotcold_core::RowBatch) between: no `String` per
//! string cell, no copy from rows into arrays. Reader threads fill one
//! each; the answer's single [`BatchConverter`](crate::BatchConverter)
//! then adopts them in order ([`BatchConverter::adopt`]), re-keying each
//! chunk's own `lc_string` dictionary into the stream's, which is the one
//! step that must see the chunks in order.
//!
//! The cells come as SQLite hands them: an integer (every integer kind,
//! `bool`, `date`, a decimal's scaled value, a `uint64` bit-cast), a real,
//! or text bytes. A cell that does not fit its column is an error naming
//! the column, never a wrapped or lossy value.

use crate::dictionary::LocalDictionary;
use crate::EncodeError;
use hotcold_core::schema::{LogicalType, TableSchema};

/// One output column's values so far.
#[derive(Clone)]
pub(crate) enum Builder {
    Ts(Vec<i64>),
    Date(Vec<i32>),
    Decimal(Vec<i128>, u8),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    /// Plain strings: the bytes end to end and where each one ends.
    Str(String, Vec<i32>),
    /// Keys into this chunk's own dictionary, and its values.
    Lc(Vec<i32>, LocalDictionary),
}

/// `$e` on the vector of a fixed-width builder, with `$v` bound to it;
/// the strings and dictionaries go to `$rest`, matched by the caller.
macro_rules! fixed_or {
    ($b:expr, $v:ident => $e:expr, $rest:ident => $r:expr) => {
        match $b {
            Builder::Ts($v) | Builder::I64($v) => $e,
            Builder::Decimal($v, _) => $e,
            Builder::Date($v) | Builder::I32($v) => $e,
            Builder::I8($v) => $e,
            Builder::I16($v) => $e,
            Builder::U8($v) => $e,
            Builder::U16($v) => $e,
            Builder::U32($v) => $e,
            Builder::U64($v) => $e,
            Builder::F64($v) => $e,
            Builder::Bool($v) => $e,
            $rest => $r,
        }
    };
}

impl Builder {
    pub(crate) fn shrink_to_fit(&mut self) {
        fixed_or!(self, v => v.shrink_to_fit(), rest => match rest {
            Builder::Str(bytes, ends) => {
                bytes.shrink_to_fit();
                ends.shrink_to_fit();
            }
            Builder::Lc(keys, _) => keys.shrink_to_fit(),
            _ => {}
        })
    }

    /// Cells held.
    fn len(&self) -> usize {
        fixed_or!(self, v => v.len(), rest => match rest {
            Builder::Str(_, ends) => ends.len().saturating_sub(1),
            Builder::Lc(keys, _) => keys.len(),
            _ => 0,
        })
    }

    fn truncate(&mut self, n: usize) {
        fixed_or!(self, v => v.truncate(n), rest => match rest {
            Builder::Str(bytes, ends) => {
                ends.truncate(n + 1);
                let end = ends.last().copied().unwrap_or(0);
                bytes.truncate(usize::try_from(end).unwrap_or(0));
            }
            Builder::Lc(keys, _) => keys.truncate(n),
            _ => {}
        })
    }
}

/// A chunk of rows of the output columns `cols` of a table, in output
/// order; filled a cell at a time, in row order.
pub struct Columns {
    pub(crate) builders: Vec<Builder>,
    pub(crate) names: Vec<String>,
    types: Vec<LogicalType>,
    rows: usize,
}

impl std::fmt::Debug for Columns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Columns")
            .field("columns", &self.names)
            .field("rows", &self.rows)
            .finish()
    }
}

impl Columns {
    /// Empty columns for `cols` (indices into `schema.columns`), room for
    /// `capacity` rows. An index past the schema is skipped, as
    /// [`arrow_schema`](crate::arrow_schema) skips it.
    pub fn new(schema: &TableSchema, cols: &[usize], capacity: usize) -> Self {
        use LogicalType as L;
        let defs: Vec<_> = cols.iter().filter_map(|&c| schema.columns.get(c)).collect();
        let builders = defs
            .iter()
            .map(|d| {
                let n = capacity;
                match d.ty {
                    L::TimestampMs => Builder::Ts(Vec::with_capacity(n)),
                    L::Date => Builder::Date(Vec::with_capacity(n)),
                    L::Decimal { scale } => Builder::Decimal(Vec::with_capacity(n), scale),
                    L::Int8 => Builder::I8(Vec::with_capacity(n)),
                    L::Int16 => Builder::I16(Vec::with_capacity(n)),
                    L::Int32 => Builder::I32(Vec::with_capacity(n)),
                    L::Int64 => Builder::I64(Vec::with_capacity(n)),
                    L::UInt8 => Builder::U8(Vec::with_capacity(n)),
                    L::UInt16 => Builder::U16(Vec::with_capacity(n)),
                    L::UInt32 => Builder::U32(Vec::with_capacity(n)),
                    L::UInt64 => Builder::U64(Vec::with_capacity(n)),
                    L::Float64 => Builder::F64(Vec::with_capacity(n)),
                    L::Bool => Builder::Bool(Vec::with_capacity(n)),
                    L::String => Builder::Str(String::new(), {
                        let mut ends = Vec::with_capacity(n + 1);
                        ends.push(0);
                        ends
                    }),
                    L::LcString => Builder::Lc(Vec::with_capacity(n), LocalDictionary::default()),
                }
            })
            .collect();
        Self {
            builders,
            names: defs.iter().map(|d| d.name.clone()).collect(),
            types: defs.iter().map(|d| d.ty).collect(),
            rows: 0,
        }
    }

    /// Rows completed ([`end_row`](Self::end_row) calls).
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// How many output columns a row has.
    pub fn width(&self) -> usize {
        self.builders.len()
    }

    /// Marks the row whose cells were just pushed as complete.
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Sets the row count of columns filled whole (a sealed part's).
    pub(crate) fn set_rows(&mut self, rows: usize) {
        self.rows = rows;
    }

    fn out_of_range(&self, k: usize, value: String) -> EncodeError {
        EncodeError::OutOfRange {
            column: self.names.get(k).cloned().unwrap_or_default(),
            value,
            ty: self.types.get(k).copied().unwrap_or(LogicalType::Int64),
        }
    }

    /// Output column `k`'s name (`#k` past the last).
    pub fn name(&self, k: usize) -> String {
        self.names
            .get(k)
            .cloned()
            .unwrap_or_else(|| format!("#{k}"))
    }

    fn kind(&self, k: usize) -> EncodeError {
        EncodeError::Kind(self.name(k))
    }

    /// Output column `k`'s next cell, an integer as the store holds it.
    pub fn int(&mut self, k: usize, v: i64) -> Result<(), EncodeError> {
        fn put<T: TryFrom<i64>>(to: &mut Vec<T>, v: i64) -> bool {
            T::try_from(v).map(|x| to.push(x)).is_ok()
        }
        let fits = match self.builders.get_mut(k) {
            Some(Builder::Ts(to) | Builder::I64(to)) => {
                to.push(v);
                true
            }
            Some(Builder::Decimal(to, _)) => {
                to.push(i128::from(v));
                true
            }
            // The store keeps a uint64 above i64::MAX bit-cast.
            Some(Builder::U64(to)) => {
                to.push(v as u64);
                true
            }
            Some(Builder::Bool(to)) => {
                to.push(v != 0);
                true
            }
            Some(Builder::Date(to) | Builder::I32(to)) => put(to, v),
            Some(Builder::I8(to)) => put(to, v),
            Some(Builder::I16(to)) => put(to, v),
            Some(Builder::U8(to)) => put(to, v),
            Some(Builder::U16(to)) => put(to, v),
            Some(Builder::U32(to)) => put(to, v),
            // SQLite may hand back a whole float of a REAL column as one.
            Some(Builder::F64(to)) => {
                to.push(v as f64);
                true
            }
            Some(Builder::Str(..) | Builder::Lc(..)) | None => return Err(self.kind(k)),
        };
        if fits {
            Ok(())
        } else {
            Err(self.out_of_range(k, v.to_string()))
        }
    }

    /// Output column `k`'s next cell, a real.
    pub fn real(&mut self, k: usize, v: f64) -> Result<(), EncodeError> {
        match self.builders.get_mut(k) {
            Some(Builder::F64(to)) => {
                to.push(v);
                Ok(())
            }
            _ => Err(self.kind(k)),
        }
    }

    /// Output column `k`'s next cell, text bytes (refused unless UTF-8).
    pub fn text(&mut self, k: usize, v: &[u8]) -> Result<(), EncodeError> {
        let Ok(s) = std::str::from_utf8(v) else {
            return Err(EncodeError::Utf8(self.name(k)));
        };
        let ok = match self.builders.get_mut(k) {
            Some(Builder::Str(bytes, ends)) => {
                bytes.push_str(s);
                match i32::try_from(bytes.len()) {
                    Ok(end) => {
                        ends.push(end);
                        true
                    }
                    Err(_) => false,
                }
            }
            Some(Builder::Lc(keys, dict)) => match dict.key(s) {
                Some(key) => {
                    keys.push(key);
                    true
                }
                None => false,
            },
            _ => return Err(self.kind(k)),
        };
        if ok {
            Ok(())
        } else {
            // Past i32 offsets or keys: a chunk far beyond any batch size.
            Err(self.out_of_range(k, format!("{} bytes of text", s.len())))
        }
    }

    /// Appends `other`'s rows (columns of the same table and selection),
    /// its dictionary keys moved into this chunk's dictionary. For gluing
    /// small chunks into one batch; a big chunk is sent as it is.
    pub fn append(&mut self, other: Columns) -> Result<(), EncodeError> {
        if other.types != self.types || !other.is_whole() || !self.is_whole() {
            return Err(EncodeError::Kind(format!(
                "chunks of other columns: {:?} and {:?}",
                self.names, other.names
            )));
        }
        for (k, (to, from)) in self.builders.iter_mut().zip(other.builders).enumerate() {
            match (to, from) {
                (Builder::Ts(a), Builder::Ts(b)) | (Builder::I64(a), Builder::I64(b)) => {
                    a.extend(b)
                }
                (Builder::Decimal(a, _), Builder::Decimal(b, _)) => a.extend(b),
                (Builder::Date(a), Builder::Date(b)) | (Builder::I32(a), Builder::I32(b)) => {
                    a.extend(b)
                }
                (Builder::I8(a), Builder::I8(b)) => a.extend(b),
                (Builder::I16(a), Builder::I16(b)) => a.extend(b),
                (Builder::U8(a), Builder::U8(b)) => a.extend(b),
                (Builder::U16(a), Builder::U16(b)) => a.extend(b),
                (Builder::U32(a), Builder::U32(b)) => a.extend(b),
                (Builder::U64(a), Builder::U64(b)) => a.extend(b),
                (Builder::F64(a), Builder::F64(b)) => a.extend(b),
                (Builder::Bool(a), Builder::Bool(b)) => a.extend(b),
                (Builder::Str(bytes, ends), Builder::Str(more, more_ends)) => {
                    let base = ends.last().copied().unwrap_or(0);
                    if i32::try_from(bytes.len() + more.len()).is_err() {
                        return Err(self_range(&self.names, &self.types, k, "text past 2 GiB"));
                    }
                    bytes.push_str(&more);
                    ends.extend(more_ends.iter().skip(1).map(|e| e + base));
                }
                (Builder::Lc(keys, dict), Builder::Lc(more, theirs)) => {
                    let mut map = Vec::with_capacity(theirs.values.len());
                    for v in &theirs.values {
                        match dict.key(v) {
                            Some(key) => map.push(key),
                            None => {
                                return Err(self_range(
                                    &self.names,
                                    &self.types,
                                    k,
                                    "dictionary past i32",
                                ))
                            }
                        }
                    }
                    keys.extend(
                        more.iter()
                            .map(|&x| map.get(x as usize).copied().unwrap_or(0)),
                    );
                }
                _ => {
                    return Err(EncodeError::Kind(
                        self.names.get(k).cloned().unwrap_or_default(),
                    ))
                }
            }
        }
        self.rows += other.rows;
        Ok(())
    }

    /// Keeps the first `n` rows.
    pub fn truncate(&mut self, n: usize) {
        if n >= self.rows {
            return;
        }
        for b in &mut self.builders {
            b.truncate(n);
        }
        self.rows = n;
    }

    /// Whether every column holds exactly `len()` cells (a reader that
    /// stopped mid-row has not).
    pub(crate) fn is_whole(&self) -> bool {
        self.builders.iter().all(|b| b.len() == self.rows)
    }
}

#[cfg(test)]
#[path = "columns_tests.rs"]
pub(crate) mod tests;

fn self_range(names: &[String], types: &[LogicalType], k: usize, what: &str) -> EncodeError {
    EncodeError::OutOfRange {
        column: names.get(k).cloned().unwrap_or_default(),
        value: what.to_string(),
        ty: types.get(k).copied().unwrap_or(LogicalType::Int64),
    }
}
