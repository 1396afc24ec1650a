//! An `lc_string` column's dictionary, kept across an answer's batches so
//! a stream sends each symbol once (later batches as deltas), and bounded
//! so a column that is not low-cardinality cannot grow one without end.

use crate::EncodeError;
use arrow_array::builder::StringBuilder;
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array};
use hotcold_core::Column;
use std::collections::HashMap;
use std::sync::Arc;

/// A dictionary kept across batches that has reached this many values
/// starts again at the next batch (a replacement in the IPC stream), so a
/// "low-cardinality" column that is not cannot grow one without bound (it
/// holds at most this plus one batch).
pub const MAX_DICTIONARY: usize = 1 << 16;

/// Up to this many values a dictionary is searched in order: a few
/// symbols compare faster than a string hashes.
const LINEAR_DICTIONARY: usize = 16;

#[derive(Default)]
pub(crate) struct Dictionary {
    keys: HashMap<String, i32>,
    values: Vec<String>,
}

impl Dictionary {
    /// The column as keys into the dictionary so far (grown by its new
    /// values), with the whole dictionary as the array's values.
    pub(crate) fn encode(&mut self, col: &Column, name: &str) -> Result<ArrayRef, EncodeError> {
        let Column::Str(v) = col else {
            return Err(EncodeError::Kind(name.to_string()));
        };
        self.start_batch();
        let keys = v
            .iter()
            .map(|s| self.key(s, name))
            .collect::<Result<Vec<i32>, _>>()?;
        self.array(keys)
    }

    /// Called before each batch's keys: a full dictionary starts again.
    pub(crate) fn start_batch(&mut self) {
        if self.values.len() >= MAX_DICTIONARY {
            self.keys.clear();
            self.values.clear();
        }
    }

    /// The key of `s`, added if new.
    pub(crate) fn key(&mut self, s: &str, name: &str) -> Result<i32, EncodeError> {
        let known = if self.values.len() <= LINEAR_DICTIONARY {
            // Within LINEAR_DICTIONARY: fits an i32.
            self.values.iter().position(|x| x == s).map(|k| k as i32)
        } else {
            self.keys.get(s).copied()
        };
        match known {
            Some(k) => Ok(k),
            None => {
                // At most MAX_DICTIONARY + one batch of values; a batch
                // past i32 is refused, not wrapped.
                let k = i32::try_from(self.values.len())
                    .map_err(|_| EncodeError::Kind(name.to_string()))?;
                self.keys.insert(s.to_string(), k);
                self.values.push(s.to_string());
                Ok(k)
            }
        }
    }

    /// `keys` with the whole dictionary as the array's values.
    pub(crate) fn array(&self, keys: Vec<i32>) -> Result<ArrayRef, EncodeError> {
        let mut values = StringBuilder::with_capacity(
            self.values.len(),
            self.values.iter().map(String::len).sum(),
        );
        for s in &self.values {
            values.append_value(s);
        }
        let dict = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(keys),
            Arc::new(values.finish()) as ArrayRef,
        )?;
        Ok(Arc::new(dict))
    }
}

/// A chunk's own dictionary (`columns.rs`), re-keyed into the stream's
/// [`Dictionary`] when the chunk is adopted.
#[derive(Default, Clone)]
pub(crate) struct LocalDictionary {
    pub(crate) values: Vec<String>,
    index: HashMap<String, i32>,
}

impl LocalDictionary {
    /// A dictionary of `values` as read back (a sealed part's); a value
    /// twice keeps its first key.
    pub(crate) fn from_values(values: Vec<String>) -> Self {
        let mut index = HashMap::with_capacity(values.len());
        for (k, v) in values.iter().enumerate() {
            if let Ok(k) = i32::try_from(k) {
                index.entry(v.clone()).or_insert(k);
            }
        }
        Self { values, index }
    }

    pub(crate) fn key(&mut self, s: &str) -> Option<i32> {
        let found = if self.values.len() <= LINEAR_DICTIONARY {
            self.values.iter().position(|v| v == s).map(|k| k as i32)
        } else {
            self.index.get(s).copied()
        };
        if found.is_some() {
            return found;
        }
        let k = i32::try_from(self.values.len()).ok()?;
        self.values.push(s.to_string());
        self.index.insert(s.to_string(), k);
        Some(k)
    }
}
