//! Bars on 18.x-21.x servers, folded here from a plain scan.
//!
//! ClickHouse 18.16 takes `argMin(price, (ts, price))` (open and close,
//! ties in time settled by price) slowly: one day of 1-minute bars over
//! 100k trades took 27-33 ms in the server, 12 ms of it the two tuple
//! argMin/argMax, against 10-13 ms to send the rows' needed columns as
//! RowBinary. So the rows are read by the primary key (the window on the
//! time column) and folded by the same [`Merger`] the other stores use,
//! and an answer is the one SQLite gives for the same rows (end to end,
//! cold bars p50 went from 42-59 ms to 37-40 ms in one session). Modern
//! servers (22+) and statistics keep the GROUP BY of `sql.rs`.
//!
//! The decoder refills two batches in turn ([`Decoder::recycle`]) and the
//! fold takes their columns in place, so nothing is allocated per row.

use crate::rowbinary::Decoder;
use crate::{sql, ChError, ChTables, Flavor, Result};
use hotcold_core::batch::{Column, RowBatch};
use hotcold_core::query::{bucket, AggPlan, Merger, Part, Plan};
use hotcold_core::schema::{ColumnDef, LogicalType, TableSchema, Window};
use tokio::sync::mpsc;

/// Rows folded at a time.
const CHUNK: usize = 8192;

/// Whether this aggregation is folded here: bars (open and close) on
/// 18.x-21.x. Statistics without them took as long folded as grouped by the
/// server (31-46 ms either way for the day, noisy), so the server keeps
/// them and sends only the partial rows.
pub(crate) fn folds(flavor: Flavor, a: &AggPlan) -> bool {
    flavor == Flavor::Legacy && a.parts.iter().any(|p| matches!(p, Part::Open(_)))
}

/// Where each column of the timed partial batch comes from.
enum Source {
    /// The bucket of the row's time.
    Bucket(i64),
    /// The time itself (a statistic of the time column).
    Time,
    /// A scanned column, moved in (and back out after the fold).
    Take(usize),
    /// A copy of an earlier partial column from the same scanned column
    /// (open, high, low and close all read the price).
    Copy(usize),
    /// A count's 1.
    One,
}

/// The columns to scan (time first, then each other column once) and where
/// each partial column comes from.
fn scan_of(schema: &TableSchema, a: &AggPlan) -> (TableSchema, Vec<Source>) {
    let def = |n: &str| {
        schema.column(n).map_or_else(
            || ColumnDef {
                name: n.to_string(),
                ty: LogicalType::Int64,
            },
            |(_, c)| c.clone(),
        )
    };
    let mut scan = vec![def(&schema.time_column)];
    // The partial column that first took each scanned column.
    let mut first: Vec<Option<usize>> = vec![None];
    let mut sources = Vec::new();
    if let Some(iv) = a.interval_ms {
        sources.push(Source::Bucket(iv));
    }
    let names = a
        .group_by
        .iter()
        .map(|g| Some(g.name.as_str()))
        .chain(a.parts.iter().map(Part::column));
    for name in names {
        let src = match name {
            None => Source::One,
            Some(n) if n == schema.time_column => Source::Time,
            Some(n) => {
                let i = match scan.iter().position(|c| c.name == n) {
                    Some(i) => i,
                    None => {
                        scan.push(def(n));
                        first.push(None);
                        scan.len() - 1
                    }
                };
                match first[i] {
                    Some(j) => Source::Copy(j),
                    None => {
                        first[i] = Some(sources.len());
                        Source::Take(i)
                    }
                }
            }
        };
        sources.push(src);
    }
    let scan = TableSchema {
        columns: scan,
        ..schema.clone()
    };
    (scan, sources)
}

/// Folds one scanned batch; gives it back to be refilled.
fn fold_chunk(
    m: &mut Merger,
    mut raw: RowBatch,
    sources: &[Source],
) -> std::result::Result<RowBatch, hotcold_core::query::FoldError> {
    let n = raw.len();
    let ts = match raw.columns.first_mut() {
        Some(Column::I64(v)) => std::mem::take(v),
        _ => Vec::new(),
    };
    let mut cols: Vec<Column> = Vec::with_capacity(sources.len());
    for src in sources {
        let c = match src {
            Source::Bucket(iv) => Column::I64(ts.iter().map(|t| bucket(*t, *iv)).collect()),
            Source::Time => Column::I64(ts.clone()),
            Source::Take(i) => {
                let kind = raw.columns[*i].kind();
                std::mem::replace(&mut raw.columns[*i], Column::new(kind, 0))
            }
            Source::Copy(j) => cols[*j].clone(),
            Source::One => Column::U64(vec![1; n]),
        };
        cols.push(c);
    }
    let timed = RowBatch { columns: cols };
    let folded = m.add_timed(&timed, &ts);
    for (src, c) in sources.iter().zip(timed.columns) {
        if let Source::Take(i) = src {
            raw.columns[*i] = c;
        }
    }
    if let Some(Column::I64(v)) = raw.columns.first_mut() {
        *v = ts;
    }
    folded.map(|()| raw)
}

impl ChTables {
    /// The partial rows of an aggregation over the window, in key order, at
    /// most `limit`, folded from a scan; sent `batch_rows` at a time.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn fold_scan(
        &self,
        schema: &TableSchema,
        plan: &Plan,
        a: &AggPlan,
        w: Window,
        limit: u64,
        batch_rows: usize,
        out: mpsc::Sender<RowBatch>,
    ) -> Result<u64> {
        let (scan, sources) = scan_of(schema, a);
        // Sums of floats depend on the order they are added in: time order,
        // as the other stores add them. Other parts fold in any order.
        let float = |c: &str| {
            schema
                .column(c)
                .is_some_and(|(_, d)| d.ty == LogicalType::Float64)
        };
        let ordered = a
            .parts
            .iter()
            .any(|p| matches!(p, Part::Sum(c) if float(c)));
        let text = sql::scan_select(
            self.flavor,
            &self.db,
            schema,
            plan,
            &scan,
            &self.window_clause(schema, w),
            ordered,
        );
        let mut cur = self.client.query(&text).fetch_bytes("RowBinary")?;
        let mut dec = Decoder::new(scan, 16 << 20);
        let mut m = Merger::new(a);
        while let Some(bytes) = cur.next().await? {
            dec.feed(&bytes)
                .map_err(|e| ChError::Decode(e.to_string()))?;
            if dec.buffered_rows() >= CHUNK {
                let b = fold_chunk(&mut m, dec.take(), &sources).map_err(ChError::from)?;
                dec.recycle(b);
            }
        }
        let b = dec.finish().map_err(|e| ChError::Decode(e.to_string()))?;
        fold_chunk(&mut m, b, &sources).map_err(ChError::from)?;
        let (mut all, _) = m.finish(&plan.output, plan.descending, limit)?;
        let n = all.len() as u64;
        while !all.is_empty() {
            out.send(all.drain_front(batch_rows.max(1)))
                .await
                .map_err(|_| ChError::Other("query reader went away".into()))?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rowbinary::encode;
    use hotcold_core::query::{aggregate_rows, Aggregate, QuerySpec};
    use hotcold_core::Value;
    use proptest::prelude::*;

    fn schema() -> TableSchema {
        serde_yaml::from_str(
            "name: t\ntime-column: ts\ncolumns:\n  - {name: ts, type: timestamp_ms}\n  - {name: sym, type: lc_string}\n  - {name: px, type: decimal(2)}\n  - {name: qty, type: float64}\n",
        )
        .unwrap()
    }

    proptest! {
        /// The scan as the server sends it (RowBinary in any pieces, rows in
        /// any order), decoded into recycled batches and folded, equals the
        /// reference over the same rows: bars grouped or not, the volume a
        /// float or the price itself.
        #[test]
        fn folded_scans_equal_the_reference(
            rows in proptest::collection::vec((-50_000i64..50_000, 0..3usize, -500i64..500, 0..64u32), 0..300),
            piece in 1usize..200,
            iv in 1i64..20,
            grouped in any::<bool>(),
            volume_is_price in any::<bool>(),
        ) {
            let s = schema();
            let rows: Vec<Vec<Value>> = rows.iter().map(|(t, k, p, q)| vec![
                Value::I64(t / 700 * 700),
                Value::Str(["a", "b", "é"][*k].into()),
                Value::I64(*p),
                Value::F64(f64::from(*q) / 8.0),
            ]).collect();
            let spec = QuerySpec {
                aggregate: Some(Aggregate::Bars {
                    interval_ms: iv * 1000,
                    price: "px".into(),
                    volume: if volume_is_price { "px" } else { "qty" }.into(),
                    group_by: if grouped { vec!["sym".into()] } else { vec![] },
                }),
                ..Default::default()
            };
            let plan = spec.plan(&s).unwrap();
            let a = plan.agg.as_ref().unwrap();
            let (scan, sources) = scan_of(&s, a);
            // The server's answer: the scanned columns of each row.
            let mut batch = RowBatch::new(&scan);
            for r in &rows {
                let cells = scan.columns.iter().map(|c| r[s.column(&c.name).unwrap().0].clone()).collect();
                batch.push_row(cells).unwrap();
            }
            let mut bytes = Vec::new();
            encode(&scan, &batch, &mut bytes);
            let mut dec = Decoder::new(scan, 1 << 20);
            let mut m = Merger::new(a);
            for p in bytes.chunks(piece) {
                dec.feed(p).unwrap();
                if dec.buffered_rows() >= 7 {
                    let b = fold_chunk(&mut m, dec.take(), &sources).unwrap();
                    dec.recycle(b);
                }
            }
            fold_chunk(&mut m, dec.finish().unwrap(), &sources).unwrap();
            let (got, _) = m.finish(&plan.output, false, u64::MAX).unwrap();
            prop_assert_eq!(got, aggregate_rows(&s, &plan, &rows));
        }
    }
}
