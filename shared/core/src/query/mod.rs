//! What a query asks of a store, beyond its time window: equality filters,
//! ordering, and an aggregation (OHLCV bars or count/sum/min/max/avg).
//!
//! The cloud and the gateway both turn a [`QuerySpec`] into a checked
//! [`Plan`] against the table's schema, so a store never sees an unknown
//! column or an untyped value. Aggregations are computed by each store as
//! *partial* rows (one per time bucket and group); [`Merger`] combines the
//! partials of the cold part (earlier in time) and the hot part (later), so a
//! bar that straddles the watermark takes its open from cold and its close
//! from hot. Averages travel as sum and count and are divided at the end.
//!
//! The files follow that path: `spec` (what is asked), `plan` (checked
//! against a schema), `output` (partial and final shapes), `merge` (the
//! fold), and `reference` (the slow fold the stores' SQL is tested against,
//! behind the `reference` feature). SQL text is not here: SQLite and
//! ClickHouse differ in typing and in how values reach the server, so each
//! store crate writes its own.

mod fold_cells;
mod keys;
mod limits;
mod merge;
mod output;
mod plan;
#[cfg(any(test, feature = "reference"))]
mod reference;
mod spec;
mod types;

#[cfg(test)]
mod fixtures;

pub use limits::{narrow_i64, narrow_u64, FoldError, SumOverflow, TooManyGroups};
pub use merge::{bucket, Merger};
#[cfg(any(test, feature = "reference"))]
pub use reference::aggregate_rows;
pub use spec::{Aggregate, Filter, Func, Op, QueryError, QuerySpec};
pub use types::{AggPlan, Part, Plan};
