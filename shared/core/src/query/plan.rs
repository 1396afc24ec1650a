//! Planning is where a spec meets a table. Every name is resolved to a
//! column and every JSON value typed by it, on both sides of the link, so the
//! stores' SQL builders only ever see columns that exist and values of the
//! column's kind, and a bad request is refused by name before any store runs.
//!
//! An aggregation is planned as [`Part`]s: partial columns that each store
//! can compute for its own rows and that a fold can combine across stores
//! (an average cannot be combined, its sum and count can). What the caller
//! asked for is kept aside (`Final`) and derived from the parts only at the
//! end (`output.rs`).

use super::spec::{
    Aggregate, Op, QueryError, QuerySpec, DEFAULT_MAX_GROUPS, MAX_FILTER_VALUES, MAX_FUNCS,
    MAX_GROUP_BY, MAX_INTERVAL_MS, MIN_INTERVAL_MS,
};
use super::types::{sum_type, AggPlan, Final, Part, Plan};
use crate::schema::{ColumnDef, LogicalType, TableSchema};
use crate::value::Value;

fn column<'a>(
    schema: &'a TableSchema,
    name: &str,
    role: &str,
) -> Result<&'a ColumnDef, QueryError> {
    schema.column(name).map(|(_, c)| c).ok_or_else(|| {
        let all: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        QueryError(format!(
            "unknown {role} column {name:?} (table {} has {})",
            schema.name,
            all.join(", ")
        ))
    })
}

/// Float columns cannot be compared for equality or grouped: a value would
/// match or not depending on its last bit.
fn exact(c: &ColumnDef, role: &str) -> Result<(), QueryError> {
    if c.ty == LogicalType::Float64 {
        return Err(QueryError(format!(
            "column {} is float64 and cannot be used as {role} (only exact types can)",
            c.name
        )));
    }
    Ok(())
}

fn interval(ms: i64) -> Result<i64, QueryError> {
    if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&ms) || ms % 1000 != 0 {
        return Err(QueryError(format!(
            "interval of {ms} ms: use whole seconds from 1s to 366d"
        )));
    }
    Ok(ms)
}

fn numeric(c: &ColumnDef, what: &str) -> Result<(), QueryError> {
    match c.ty {
        LogicalType::String | LogicalType::LcString | LogicalType::Bool => Err(QueryError(
            format!("{what} needs a numeric column; {} is {}", c.name, c.ty),
        )),
        _ => Ok(()),
    }
}

impl QuerySpec {
    pub fn plan(&self, schema: &TableSchema) -> Result<Plan, QueryError> {
        let mut filters = Vec::with_capacity(self.filters.len());
        for f in &self.filters {
            let c = column(schema, &f.column, "filter")?;
            exact(c, "a filter")?;
            if f.values.is_empty() || f.values.len() > MAX_FILTER_VALUES {
                return Err(QueryError(format!(
                    "filter on {} lists {} values; give 1 to {MAX_FILTER_VALUES}",
                    c.name,
                    f.values.len()
                )));
            }
            let vals = f
                .values
                .iter()
                .map(|v| {
                    Value::from_json(c.ty, v)
                        .map_err(|e| QueryError(format!("filter on {}: {e}", c.name)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            filters.push((c.clone(), vals));
        }
        let (agg, output) = match &self.aggregate {
            None => (None, schema.clone()),
            Some(a) => {
                let p = plan_aggregate(schema, a)?;
                let out = super::output::partial_schema(schema, &p);
                (Some(p), out)
            }
        };
        Ok(Plan {
            filters,
            descending: self.descending,
            agg,
            output,
        })
    }
}

fn groups(schema: &TableSchema, names: &[String]) -> Result<Vec<ColumnDef>, QueryError> {
    if names.len() > MAX_GROUP_BY {
        return Err(QueryError(format!(
            "group_by names {} columns; at most {MAX_GROUP_BY}",
            names.len()
        )));
    }
    let mut out: Vec<ColumnDef> = Vec::new();
    for n in names {
        let c = column(schema, n, "group_by")?;
        exact(c, "a group")?;
        if c.name == schema.time_column {
            return Err(QueryError(format!(
                "group_by {}: group by time with interval= instead",
                c.name
            )));
        }
        if out.iter().any(|o| o.name == c.name) {
            return Err(QueryError(format!("group_by names {} twice", c.name)));
        }
        out.push(c.clone());
    }
    Ok(out)
}

fn plan_aggregate(schema: &TableSchema, a: &Aggregate) -> Result<AggPlan, QueryError> {
    match a {
        Aggregate::Bars {
            interval_ms,
            price,
            volume,
            group_by,
        } => {
            // The defaults (price, amount) fit the trades preset; say how
            // to name other columns rather than only that these are absent.
            let hint = |e: QueryError| {
                QueryError(format!(
                    "{}; bars read the price= and volume= columns (default price and amount): name this table's",
                    e.0
                ))
            };
            let p = column(schema, price, "price").map_err(hint)?;
            numeric(p, "bars")?;
            let v = column(schema, volume, "volume").map_err(hint)?;
            sum_type(v)?;
            let parts = vec![
                Part::Open(p.name.clone()),
                Part::High(p.name.clone()),
                Part::Low(p.name.clone()),
                Part::Close(p.name.clone()),
                Part::Sum(v.name.clone()),
                Part::Count,
            ];
            Ok(AggPlan {
                interval_ms: Some(interval(*interval_ms)?),
                group_by: groups(schema, group_by)?,
                finals: (0..parts.len()).map(Final::Part).collect(),
                part_types: part_types(schema, &parts),
                parts,
                max_groups: DEFAULT_MAX_GROUPS,
            })
        }
        Aggregate::Stats {
            interval_ms,
            group_by,
            funcs,
        } => {
            if funcs.is_empty() || funcs.len() > MAX_FUNCS {
                return Err(QueryError(format!(
                    "give 1 to {MAX_FUNCS} aggregates (count, sum:COL, ...), not {}",
                    funcs.len()
                )));
            }
            // Count is always computed: averages and merging need it.
            let mut parts = vec![Part::Count];
            let mut finals = Vec::new();
            let mut names: Vec<String> = Vec::new();
            let part_of = |p: Part, parts: &mut Vec<Part>| match parts.iter().position(|x| *x == p)
            {
                Some(i) => i,
                None => {
                    parts.push(p);
                    parts.len() - 1
                }
            };
            for f in funcs {
                let c = match (f.op, &f.column) {
                    (Op::Count, None) => None,
                    (Op::Count, Some(_)) => return Err(QueryError("count takes no column".into())),
                    (_, Some(n)) => Some(column(schema, n, "aggregate")?),
                    (op, None) => {
                        return Err(QueryError(format!("{} needs a column", op_name(op))))
                    }
                };
                let name = match c {
                    None => "count".to_string(),
                    Some(c) => format!("{}_{}", op_name(f.op), c.name),
                };
                if names.contains(&name) {
                    return Err(QueryError(format!("aggregate {name} is listed twice")));
                }
                names.push(name);
                let fin = match c {
                    None => Final::Part(0),
                    Some(c) => match f.op {
                        Op::Count => Final::Part(0),
                        Op::Sum => {
                            sum_type(c)?;
                            Final::Part(part_of(Part::Sum(c.name.clone()), &mut parts))
                        }
                        Op::Min | Op::Max => {
                            if c.ty == LogicalType::Bool {
                                return Err(QueryError(format!(
                                    "cannot take min or max of bool column {}",
                                    c.name
                                )));
                            }
                            let p = if f.op == Op::Min {
                                Part::Min(c.name.clone())
                            } else {
                                Part::Max(c.name.clone())
                            };
                            Final::Part(part_of(p, &mut parts))
                        }
                        Op::Avg => {
                            let scale = match sum_type(c)? {
                                LogicalType::Decimal { scale } => scale,
                                _ => 0,
                            };
                            Final::Avg {
                                sum: part_of(Part::Sum(c.name.clone()), &mut parts),
                                count: 0,
                                scale,
                            }
                        }
                    },
                };
                finals.push(fin);
            }
            Ok(AggPlan {
                interval_ms: interval_ms.map(interval).transpose()?,
                group_by: groups(schema, group_by)?,
                part_types: part_types(schema, &parts),
                parts,
                finals,
                max_groups: DEFAULT_MAX_GROUPS,
            })
        }
    }
}

fn part_types(schema: &TableSchema, parts: &[Part]) -> Vec<LogicalType> {
    parts
        .iter()
        .map(|p| {
            p.column()
                .and_then(|c| schema.column(c))
                .map_or(LogicalType::UInt64, |(_, d)| d.ty)
        })
        .collect()
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Count => "count",
        Op::Sum => "sum",
        Op::Min => "min",
        Op::Max => "max",
        Op::Avg => "avg",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::fixtures::{bars, schema};
    use crate::query::{Filter, Func};

    #[test]
    fn plans_name_bad_input() {
        let s = schema();
        let e = |spec: QuerySpec| spec.plan(&s).unwrap_err().0;
        let mut f = QuerySpec::default();
        f.filters.push(Filter {
            column: "nope".into(),
            values: vec![serde_json::json!("x")],
        });
        assert!(e(f).contains("unknown filter column \"nope\""));
        let mut f = QuerySpec::default();
        f.filters.push(Filter {
            column: "qty".into(),
            values: vec![serde_json::json!(1.5)],
        });
        assert!(e(f).contains("float64"));
        let mut f = QuerySpec::default();
        f.filters.push(Filter {
            column: "px".into(),
            values: vec![serde_json::json!("1.234")],
        });
        assert!(e(f).contains("filter on px"));
        assert!(e(bars(1500)).contains("interval of 1500 ms"));
        // The default volume column (amount) absent: say how to name one.
        let mut no_amount = bars(60_000);
        if let Some(Aggregate::Bars { volume, .. }) = &mut no_amount.aggregate {
            *volume = "amount".into();
        }
        let msg = e(no_amount);
        assert!(
            msg.contains("unknown volume column \"amount\"") && msg.contains("volume="),
            "{msg}"
        );
        assert!(e(bars(0)).contains("interval"));
        assert!(Func::parse("median:px")
            .unwrap_err()
            .0
            .contains("unknown aggregate"));
        assert!(Func::parse("sum").unwrap_err().0.contains("needs a column"));
        let st = |funcs: &[&str]| QuerySpec {
            aggregate: Some(Aggregate::Stats {
                interval_ms: None,
                group_by: vec![],
                funcs: funcs.iter().map(|f| Func::parse(f).unwrap()).collect(),
            }),
            ..Default::default()
        };
        assert!(e(st(&["sum:sym"])).contains("cannot sum column sym"));
        assert!(e(st(&["count", "count"])).contains("listed twice"));
    }
}
