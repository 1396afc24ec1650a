//! What a part's channel carries.

use super::Item;
use crate::hot::HotError;
use hotcold_arrow::Columns;
use hotcold_core::RowBatch;

/// A part's rows: a RowBatch, or (the hot part of a columnar answer) the
/// answer's columns themselves.
pub(super) enum Batch {
    Rows(RowBatch),
    Columns(Columns),
}

impl Batch {
    pub(super) fn len(&self) -> usize {
        match self {
            Batch::Rows(b) => b.len(),
            Batch::Columns(c) => c.len(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn truncate(&mut self, n: usize) {
        match self {
            Batch::Rows(b) => b.truncate(n),
            Batch::Columns(c) => c.truncate(n),
        }
    }

    pub(super) fn into_item(self) -> Item {
        match self {
            Batch::Rows(b) => Item::Rows(b),
            Batch::Columns(c) => Item::Columns(c),
        }
    }

    /// The rows of an aggregation's part, which is never read as columns.
    pub(super) fn into_rows(self) -> Result<RowBatch, HotError> {
        match self {
            Batch::Rows(b) => Ok(b),
            Batch::Columns(_) => Err(HotError::Other(
                "an aggregation's part came as columns".into(),
            )),
        }
    }
}
