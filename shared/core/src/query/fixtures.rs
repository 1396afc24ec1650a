//! The table and the bars spec the query tests share: one time column, a
//! symbol to group by, a decimal price and a float quantity (the float is
//! there to be refused as a filter or group).

use super::{Aggregate, QuerySpec};
use crate::schema::TableSchema;

pub(super) fn schema() -> TableSchema {
    serde_yaml::from_str(
        "name: t\ntime-column: ts\ncolumns:\n  - {name: ts, type: timestamp_ms}\n  - {name: sym, type: lc_string}\n  - {name: px, type: decimal(2)}\n  - {name: qty, type: float64}\n",
    )
    .unwrap()
}

pub(super) fn bars(iv: i64) -> QuerySpec {
    QuerySpec {
        aggregate: Some(Aggregate::Bars {
            interval_ms: iv,
            price: "px".into(),
            volume: "qty".into(),
            group_by: vec!["sym".into()],
        }),
        ..Default::default()
    }
}
