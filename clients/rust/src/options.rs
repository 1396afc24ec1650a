//! The optional parts of a query: filters, columns, order, limit, groups,
//! and whether a partial answer is acceptable.

/// Parameter names of the query endpoints: a filter on a column of the
/// same name is sent as `eq.NAME`.
const RESERVED: &[&str] = &[
    "from",
    "to",
    "limit",
    "order",
    "format",
    "columns",
    "allow_partial",
    "require_complete",
    "interval",
    "price",
    "volume",
    "group_by",
    "agg",
];

#[derive(Debug, Clone, Default)]
pub struct Options {
    pairs: Vec<(String, String)>,
}

impl Options {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows whose `column` is one of `values`.
    pub fn filter<I, V>(mut self, column: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: ToString,
    {
        let key = if RESERVED.contains(&column) {
            format!("eq.{column}")
        } else {
            column.to_string()
        };
        for v in values {
            self.pairs.push((key.clone(), v.to_string()));
        }
        self
    }

    pub fn columns(self, cols: &[&str]) -> Self {
        self.set("columns", cols.join(","))
    }

    pub fn limit(self, rows: u64) -> Self {
        self.set("limit", rows.to_string())
    }

    /// Newest first.
    pub fn descending(self) -> Self {
        self.set("order", "desc".into())
    }

    /// Groups of bars and aggregates (default: the table's lc_string
    /// columns; empty for none).
    pub fn group_by(self, cols: &[&str]) -> Self {
        self.set("group_by", cols.join(","))
    }

    /// Bars: the price and volume columns.
    pub fn price(self, col: &str) -> Self {
        self.set("price", col.into())
    }

    pub fn volume(self, col: &str) -> Self {
        self.set("volume", col.into())
    }

    /// Aggregates per bucket of this width.
    pub fn interval(self, width: &str) -> Self {
        self.set("interval", width.into())
    }

    /// `false`: answer what can be read when cold ranges are missing
    /// (named in [`crate::Signals::missing`]) instead of failing with
    /// [`crate::Error::MissingRanges`].
    pub fn require_complete(mut self, whole: bool) -> Self {
        if whole {
            self.pairs.retain(|(k, _)| k != "allow_partial");
            self
        } else {
            self.set("allow_partial", "true".into())
        }
    }

    fn set(mut self, key: &str, value: String) -> Self {
        self.pairs.retain(|(k, _)| k != key);
        self.pairs.push((key.to_string(), value));
        self
    }

    pub(crate) fn pairs(&self) -> Vec<(String, String)> {
        self.pairs.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_on_a_reserved_name_is_prefixed_and_settings_replace() {
        let o = Options::new()
            .filter("limit", [1])
            .filter("symbol", ["A", "B"])
            .limit(5)
            .limit(7);
        assert_eq!(
            o.pairs(),
            vec![
                ("eq.limit".to_string(), "1".to_string()),
                ("symbol".into(), "A".into()),
                ("symbol".into(), "B".into()),
                ("limit".into(), "7".into()),
            ]
        );
    }
}
