//! The merger against the reference aggregation and its bounds.
use super::*;
use crate::query::aggregate_rows;
use crate::query::fixtures::{bars, schema};
use crate::query::{Aggregate, Func, QuerySpec};
use crate::value::Value;
use proptest::prelude::*;

#[test]
fn a_fold_stops_at_its_bound_of_keys() {
    let s = schema();
    let mut p = bars(1000).plan(&s).unwrap();
    let a = p.agg.as_mut().unwrap();
    a.max_groups = 3;
    let rows: Vec<Vec<Value>> = (0..5)
        .map(|i| {
            vec![
                Value::I64(i * 1000),
                Value::Str("A".into()),
                Value::I64(100),
                Value::F64(1.0),
            ]
        })
        .collect();
    let partials = aggregate_rows(&s, &p, &rows);
    let mut m = Merger::new(p.agg.as_ref().unwrap());
    let err = m.add(&partials).unwrap_err();
    let FoldError::TooManyGroups(err) = err else {
        panic!("{err:?}")
    };
    assert_eq!(err, TooManyGroups { max: 3 });
    assert!(TooManyGroups::is_message(&format!("refused: {err}")));
    assert!(!TooManyGroups::is_message("query.max-buckets"));
    assert!(err.to_string().contains("query.max-buckets"), "{err}");
    // Three keys fit: the same rows in three buckets fold.
    let mut m = Merger::new(p.agg.as_ref().unwrap());
    let three = aggregate_rows(&s, &p, &rows[..3]);
    m.add(&three).unwrap();
    m.add(&three).unwrap();
    assert_eq!(m.finish(&p.output, false, 10).unwrap().0.len(), 3);
}

/// The router's merge of two partials adds with a check: a sum that fits
/// only as a whole (above i64::MAX for uint64) is exact, one past the type
/// is the overflow naming the column and its type, never a saturation.
#[test]
fn merged_sums_are_exact_or_the_named_overflow() {
    use crate::schema::LogicalType as L;
    use crate::schema::TableSchema;
    let s = TableSchema::new(
        "t",
        "ts",
        &[
            ("ts", L::TimestampMs),
            ("id", L::UInt64),
            ("px", L::Decimal { scale: 8 }),
        ],
    );
    let stats = |f: &str| QuerySpec {
        aggregate: Some(Aggregate::Stats {
            interval_ms: None,
            group_by: vec![],
            funcs: vec![Func::parse(f).unwrap()],
        }),
        ..Default::default()
    };
    let row = |id: u64, px: i64| vec![Value::I64(0), Value::U64(id), Value::I64(px)];
    let merge = |f: &str, parts: &[Vec<Vec<Value>>]| {
        let p = stats(f).plan(&s).unwrap();
        let mut m = Merger::new(p.agg.as_ref().unwrap());
        for rows in parts {
            m.add(&aggregate_rows(&s, &p, rows))?;
        }
        Ok::<_, FoldError>(p.finish(&m.finish(&p.output, false, 10)?.0).row(0))
    };
    let (cold, hot) = (vec![row(u64::MAX - 7, i64::MAX - 9)], vec![row(7, 9)]);
    let got = merge("sum:id", &[cold.clone(), hot.clone()]).unwrap();
    assert_eq!(got, vec![Value::U64(u64::MAX)]);
    let got = merge("sum:px", &[cold.clone(), hot.clone()]).unwrap();
    assert_eq!(got, vec![Value::I64(i64::MAX)]);
    let one = vec![row(1, 1)];
    let e = merge("sum:id", &[cold.clone(), hot.clone(), one.clone()]).unwrap_err();
    assert_eq!(e, FoldError::Overflow(SumOverflow::new("id", L::UInt64)));
    let e = merge("avg:px", &[cold.clone(), hot.clone(), one]).unwrap_err();
    assert_eq!(
        e,
        FoldError::Overflow(SumOverflow::new("px", L::Decimal { scale: 8 }))
    );
    assert!(e.to_string().contains("narrower range"), "{e}");
    // The negative end, one store's single rows folded by time as well.
    let low = vec![row(0, i64::MIN + 1)];
    let got = merge("sum:px", &[low.clone(), vec![row(0, -1)]]).unwrap();
    assert_eq!(got, vec![Value::I64(i64::MIN)]);
    assert!(merge("sum:px", &[low.clone(), vec![row(0, -2)]]).is_err());
    // Single rows folded by time, in any order: a running total that
    // leaves the range and comes back is still exact (carries are counted),
    // and one that stays out is refused at the end.
    let p = stats("sum:px").plan(&s).unwrap();
    let timed = |pxs: &[i64]| {
        let mut m = Merger::new(p.agg.as_ref().unwrap());
        for (t, px) in pxs.iter().enumerate() {
            let b = aggregate_rows(&s, &p, &[row(0, *px)]);
            m.add_timed(&b, &[t as i64]).unwrap();
        }
        m.finish(&p.output, false, 10)
            .map(|(b, _)| p.finish(&b).row(0))
    };
    assert_eq!(
        timed(&[i64::MAX, 1, 1, -2]).unwrap(),
        vec![Value::I64(i64::MAX)]
    );
    assert_eq!(
        timed(&[i64::MIN, -1, 1]).unwrap(),
        vec![Value::I64(i64::MIN)]
    );
    assert_eq!(
        timed(&[i64::MIN + 1, -2]).unwrap_err(),
        SumOverflow::new("px", L::Decimal { scale: 8 })
    );
    assert!(timed(&[i64::MAX, i64::MAX, i64::MAX, i64::MIN]).is_err());
}

#[test]
fn buckets_align_before_the_epoch_too() {
    assert_eq!(bucket(-1, 1000), -1000);
    assert_eq!(bucket(-1000, 1000), -1000);
    assert_eq!(bucket(999, 1000), 0);
}

fn row_strategy() -> impl Strategy<Value = Vec<Value>> {
    (-50_000i64..50_000, 0..3u8, -500i64..500, 0..64u32).prop_map(|(ts, s, px, q)| {
        vec![
            Value::I64(ts),
            Value::Str(["a", "b", "é"][s as usize].into()),
            Value::I64(px),
            // Eighths add exactly, so sums do not depend on order.
            Value::F64(f64::from(q) / 8.0),
        ]
    })
}

proptest! {
    /// Splitting the rows at any time W and merging the two parts'
    /// partials equals aggregating all rows at once.
    #[test]
    fn merging_at_any_split_equals_one_pass(
        rows in proptest::collection::vec(row_strategy(), 0..200),
        w in -60_000i64..60_000,
        iv in 1i64..20,
        stats in any::<bool>(),
    ) {
        let s = schema();
        let spec = if stats {
            QuerySpec { aggregate: Some(Aggregate::Stats {
                interval_ms: Some(iv * 1000),
                group_by: vec!["sym".into()],
                funcs: ["count", "sum:qty", "min:px", "max:px", "avg:px"].iter().map(|f| Func::parse(f).unwrap()).collect(),
            }), ..Default::default() }
        } else { bars(iv * 1000) };
        let p = spec.plan(&s).unwrap();
        let a = p.agg.as_ref().unwrap();
        let whole = aggregate_rows(&s, &p, &rows);
        let (cold, hot): (Vec<_>, Vec<_>) = rows.iter().cloned().partition(|r| matches!(r[0], Value::I64(t) if t < w));
        let mut m = Merger::new(a);
        m.add(&aggregate_rows(&s, &p, &cold)).unwrap();
        // The router's way: batches it is done with are moved in.
        m.add_owned(aggregate_rows(&s, &p, &hot)).unwrap();
        let (merged, _) = m.finish(&p.output, false, u64::MAX).unwrap();
        prop_assert_eq!(p.finish(&merged), p.finish(&whole));
    }

    /// Single rows folded with their times in any order, in batches of
    /// any size (no groups, one group, several), equal the reference's
    /// one pass over the rows sorted by (time, price); descending order
    /// and a limit cut the same sorted keys.
    #[test]
    fn timed_rows_in_any_order_equal_the_reference(
        rows in proptest::collection::vec(row_strategy(), 0..300),
        seed in any::<u64>(),
        chunk in 1usize..70,
        iv in 1i64..20,
        groups in 0usize..2,
        descending in any::<bool>(),
        limit in 0u64..400,
    ) {
        let s = schema();
        // Coarse times: many rows share one, as trades do.
        let rows: Vec<Vec<Value>> = rows.into_iter().map(|mut r| {
            if let Value::I64(t) = r[0] { r[0] = Value::I64(t / 700 * 700); }
            r
        }).collect();
        let mut spec = bars(iv * 1000);
        if let Some(Aggregate::Bars { group_by, .. }) = spec.aggregate.as_mut() {
            group_by.truncate(groups);
        }
        let p = spec.plan(&s).unwrap();
        let a = p.agg.as_ref().unwrap();
        let mut order: Vec<usize> = (0..rows.len()).collect();
        let mut x = seed | 1;
        for i in (1..order.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut m = Merger::new(a);
        for c in order.chunks(chunk) {
            let mut b = RowBatch::new(&p.output);
            let mut ts = Vec::new();
            for &i in c {
                let one = aggregate_rows(&s, &p, &rows[i..=i]);
                b.push_row(one.row(0)).unwrap();
                ts.push(match rows[i][0] { Value::I64(t) => t, _ => 0 });
            }
            m.add_timed(&b, &ts).unwrap();
        }
        let (got, cut) = m.finish(&p.output, descending, limit).unwrap();
        let whole = aggregate_rows(&s, &p, &rows);
        let mut want: Vec<Vec<Value>> = (0..whole.len()).map(|i| whole.row(i)).collect();
        if descending { want.reverse(); }
        prop_assert_eq!(cut, want.len() as u64 > limit);
        want.truncate(limit as usize);
        let got: Vec<Vec<Value>> = (0..got.len()).map(|i| got.row(i)).collect();
        prop_assert_eq!(got, want);
    }
}
