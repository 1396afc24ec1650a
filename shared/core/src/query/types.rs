//! What a plan is made of: the checked filters, the partial columns of an
//! aggregation ([`Part`]) and what the caller asked for ([`Final`]). Plain
//! data, shared by the planner (`plan.rs`), the output (`output.rs`) and the
//! merge, so none of them imports another.

use super::spec::QueryError;
use crate::schema::{ColumnDef, LogicalType, TableSchema};
use crate::value::Value;

/// One column of a partial aggregate row.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Price of the first row by (time, price).
    Open(String),
    High(String),
    Low(String),
    /// Price of the last row by (time, price).
    Close(String),
    Sum(String),
    Min(String),
    Max(String),
    Count,
}

impl Part {
    /// The column this part reads; `None` for a count.
    pub fn column(&self) -> Option<&str> {
        match self {
            Part::Open(c)
            | Part::High(c)
            | Part::Low(c)
            | Part::Close(c)
            | Part::Sum(c)
            | Part::Min(c)
            | Part::Max(c) => Some(c),
            Part::Count => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AggPlan {
    pub interval_ms: Option<i64>,
    pub group_by: Vec<ColumnDef>,
    /// The partial columns after the bucket and the groups, in order.
    pub parts: Vec<Part>,
    /// The declared type of each part's column (a count's is uint64), so a
    /// fold's overflow names it as the table declares it.
    pub(super) part_types: Vec<LogicalType>,
    /// For statistics: what to show, as indices into `parts` (avg: sum, count).
    pub(super) finals: Vec<Final>,
    /// The most distinct (bucket, groups) keys a [`Merger`](super::Merger)
    /// holds; one more and the fold stops with
    /// [`TooManyGroups`](super::TooManyGroups). Not part of the spec: each
    /// side sets its own bound.
    pub max_groups: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Final {
    Part(usize),
    Avg { sum: usize, count: usize, scale: u8 },
}

/// A spec checked against a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub filters: Vec<(ColumnDef, Vec<Value>)>,
    pub descending: bool,
    pub agg: Option<AggPlan>,
    /// What the stores return: the table's rows, or partial aggregate rows.
    pub output: TableSchema,
}

/// The type a sum of `t` has: 64-bit, keeping the decimal scale.
pub(super) fn sum_type(c: &ColumnDef) -> Result<LogicalType, QueryError> {
    use LogicalType::*;
    Ok(match c.ty {
        Int8 | Int16 | Int32 | Int64 => Int64,
        UInt8 | UInt16 | UInt32 | UInt64 => UInt64,
        Float64 => Float64,
        d @ Decimal { .. } => d,
        _ => {
            return Err(QueryError(format!(
                "cannot sum column {} of type {}",
                c.name, c.ty
            )))
        }
    })
}

impl AggPlan {
    /// Columns before the parts: the bucket (if any) and the groups.
    pub(crate) fn key_len(&self) -> usize {
        usize::from(self.interval_ms.is_some()) + self.group_by.len()
    }
}

impl Plan {
    /// Every row of the window, oldest first: what archiving and hashing read.
    pub fn rows(schema: &TableSchema) -> Plan {
        Plan {
            filters: Vec::new(),
            descending: false,
            agg: None,
            output: schema.clone(),
        }
    }
}
