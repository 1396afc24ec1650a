//! The query as the caller states it: plain serde data, because it is
//! parsed from URL parameters on the cloud and crosses the link to the
//! gateway before anyone has looked at the table. Nothing here knows a
//! schema; checking a spec against one is planning's job (`plan.rs`), so
//! a spec that decodes may still be refused there, by name.
//!
//! The bounds below are in the spec's terms (values, columns, functions,
//! widths) so a request too large is refused before any store is asked.

use serde::{Deserialize, Serialize};

/// The most values one filter may list (the batch form of a query).
pub(crate) const MAX_FILTER_VALUES: usize = 1000;
/// The most group-by columns and aggregate functions one query may name.
pub(crate) const MAX_GROUP_BY: usize = 8;
pub(crate) const MAX_FUNCS: usize = 16;
/// Bar and bucket widths allowed: one second to one day... and up to a year
/// for coarse statistics.
pub(crate) const MIN_INTERVAL_MS: i64 = 1_000;
pub(crate) const MAX_INTERVAL_MS: i64 = 366 * 86_400_000;
/// The most partial rows (groups x buckets) one aggregation may fold unless
/// the caller sets [`AggPlan::max_groups`](super::AggPlan::max_groups):
/// folding holds them all at once.
pub(crate) const DEFAULT_MAX_GROUPS: u64 = 1_000_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuerySpec {
    /// Every filter must match: `column IN (values)`.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Newest first (rows, and buckets of an aggregation).
    #[serde(default)]
    pub descending: bool,
    #[serde(default)]
    pub aggregate: Option<Aggregate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub column: String,
    /// JSON values, typed by the column when the spec is planned.
    pub values: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// OHLCV bars: open/high/low/close of `price`, the sum of `volume` and
    /// the number of rows, per `interval_ms` bucket and group.
    Bars {
        interval_ms: i64,
        price: String,
        volume: String,
        #[serde(default)]
        group_by: Vec<String>,
    },
    /// count/sum/min/max/avg per group, and per bucket if `interval_ms`.
    Stats {
        #[serde(default)]
        interval_ms: Option<i64>,
        #[serde(default)]
        group_by: Vec<String>,
        funcs: Vec<Func>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Func {
    pub op: Op,
    /// None only for `count`.
    #[serde(default)]
    pub column: Option<String>,
}

impl Func {
    /// Parses `count`, `sum:amount`, `avg:price`, ...
    pub fn parse(s: &str) -> Result<Func, QueryError> {
        let (op, col) = match s.split_once(':') {
            Some((o, c)) => (o, Some(c.to_string())),
            None => (s, None),
        };
        let op = match op {
            "count" => Op::Count,
            "sum" => Op::Sum,
            "min" => Op::Min,
            "max" => Op::Max,
            "avg" => Op::Avg,
            _ => {
                return Err(QueryError(format!(
                    "unknown aggregate {s:?}: use count, sum:COL, min:COL, max:COL or avg:COL"
                )))
            }
        };
        match (op, &col) {
            (Op::Count, Some(_)) => Err(QueryError(format!(
                "aggregate {s:?}: count takes no column"
            ))),
            (Op::Count, None) => Ok(Func { op, column: None }),
            (_, None) => Err(QueryError(format!(
                "aggregate {s:?} needs a column, as in {s}:price"
            ))),
            (_, Some(_)) => Ok(Func { op, column: col }),
        }
    }
}

/// Why a query cannot run; the message names the parameter or column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);
