//! The two shapes an aggregation's answer takes, and the step between them.
//! Stores return *partial* rows (bucket, groups, then one column per
//! [`Part`]), because only those can be merged across the watermark; the
//! caller sees the functions it asked for, in its order, with averages
//! divided out. Keeping both schemas here, beside [`Plan::finish`], keeps the
//! column order the stores write and the order the finish reads in one place.

use super::types::{sum_type, AggPlan, Final, Part, Plan};
use crate::batch::{Column, RowBatch};
use crate::schema::{ColumnDef, LogicalType, PhysicalKind, TableSchema};

fn part_column(schema: &TableSchema, p: &Part) -> ColumnDef {
    let ty_of = |n: &str| schema.column(n).map_or(LogicalType::Int64, |(_, c)| c.ty);
    let (name, ty) = match p {
        Part::Open(c) => ("open".to_string(), ty_of(c)),
        Part::High(c) => ("high".to_string(), ty_of(c)),
        Part::Low(c) => ("low".to_string(), ty_of(c)),
        Part::Close(c) => ("close".to_string(), ty_of(c)),
        Part::Sum(c) => (
            format!("sum_{c}"),
            schema
                .column(c)
                .and_then(|(_, d)| sum_type(d).ok())
                .unwrap_or(LogicalType::Int64),
        ),
        Part::Min(c) => (format!("min_{c}"), ty_of(c)),
        Part::Max(c) => (format!("max_{c}"), ty_of(c)),
        Part::Count => ("count".to_string(), LogicalType::UInt64),
    };
    ColumnDef { name, ty }
}

pub(super) fn partial_schema(schema: &TableSchema, p: &AggPlan) -> TableSchema {
    let mut columns = Vec::new();
    if p.interval_ms.is_some() {
        columns.push(ColumnDef {
            name: schema.time_column.clone(),
            ty: LogicalType::TimestampMs,
        });
    }
    columns.extend(p.group_by.iter().cloned());
    // Bars name their volume "volume", whatever the source column is.
    let bars = matches!(p.parts.first(), Some(Part::Open(_)));
    for part in &p.parts {
        let mut c = part_column(schema, part);
        if bars && matches!(part, Part::Sum(_)) {
            c.name = "volume".into();
        }
        columns.push(c);
    }
    TableSchema {
        name: schema.name.clone(),
        time_column: schema.time_column.clone(),
        columns,
        hot_retention: None,
        partition: schema.partition,
    }
}

impl Plan {
    /// The schema of what the user sees: for statistics, the asked-for
    /// functions in order, averages as float64.
    pub fn final_schema(&self) -> TableSchema {
        let Some(a) = &self.agg else {
            return self.output.clone();
        };
        let k = a.key_len();
        let mut s = self.output.clone();
        let mut cols = s.columns[..k].to_vec();
        for f in &a.finals {
            cols.push(match f {
                Final::Part(i) => s.columns[k + i].clone(),
                Final::Avg { sum, .. } => ColumnDef {
                    name: s.columns[k + sum].name.replacen("sum_", "avg_", 1),
                    ty: LogicalType::Float64,
                },
            });
        }
        s.columns = cols;
        s
    }

    /// Turns merged partial rows into what the user sees.
    pub fn finish(&self, partial: &RowBatch) -> RowBatch {
        self.finish_owned(partial.clone())
    }

    /// [`Plan::finish`], column by column, moving the partial's columns
    /// where the answer shows them as they are (bars show every part).
    pub fn finish_owned(&self, partial: RowBatch) -> RowBatch {
        let Some(a) = &self.agg else {
            return partial;
        };
        let k = a.key_len();
        let n = partial.len();
        let mut cols: Vec<Option<Column>> = partial.columns.into_iter().map(Some).collect();
        // The last final that reads a part may take it; earlier ones copy.
        let mut last_use = vec![usize::MAX; cols.len()];
        for (i, f) in a.finals.iter().enumerate() {
            match f {
                Final::Part(p) => last_use[k + p] = i,
                Final::Avg { sum, count, .. } => {
                    last_use[k + sum] = i;
                    last_use[k + count] = i;
                }
            }
        }
        let mut out: Vec<Column> = cols[..k].iter_mut().filter_map(Option::take).collect();
        for (i, f) in a.finals.iter().enumerate() {
            out.push(match f {
                Final::Part(p) => {
                    let c = if last_use[k + p] == i {
                        cols[k + p].take()
                    } else {
                        cols[k + p].clone()
                    };
                    c.unwrap_or_else(|| Column::new(PhysicalKind::I64, 0))
                }
                Final::Avg { sum, count, scale } => {
                    let counts: Vec<f64> = match &cols[k + count] {
                        Some(Column::U64(v)) => v.iter().map(|n| *n as f64).collect(),
                        _ => vec![f64::NAN; n],
                    };
                    let div = 10f64.powi(i32::from(*scale));
                    let sums: Vec<f64> = match &cols[k + sum] {
                        Some(Column::I64(v)) => v.iter().map(|v| *v as f64 / div).collect(),
                        Some(Column::U64(v)) => v.iter().map(|v| *v as f64).collect(),
                        Some(Column::F64(v)) => v.clone(),
                        _ => vec![f64::NAN; n],
                    };
                    Column::F64(sums.iter().zip(&counts).map(|(s, c)| s / c).collect())
                }
            });
        }
        RowBatch { columns: out }
    }
}

#[cfg(test)]
mod tests {
    use crate::query::fixtures::schema;
    use crate::query::{aggregate_rows, Aggregate, Func, QuerySpec};
    use crate::value::Value;

    #[test]
    fn stats_final_columns_follow_the_request() {
        let s = schema();
        let spec = QuerySpec {
            aggregate: Some(Aggregate::Stats {
                interval_ms: Some(60_000),
                group_by: vec!["sym".into()],
                funcs: ["avg:px", "max:qty", "count", "sum:px"]
                    .iter()
                    .map(|f| Func::parse(f).unwrap())
                    .collect(),
            }),
            ..Default::default()
        };
        let p = spec.plan(&s).unwrap();
        let names: Vec<_> = p
            .final_schema()
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(names, ["ts", "sym", "avg_px", "max_qty", "count", "sum_px"]);
        let rows = vec![
            vec![
                Value::I64(1),
                Value::Str("a".into()),
                Value::I64(150),
                Value::F64(1.0),
            ],
            vec![
                Value::I64(2),
                Value::Str("a".into()),
                Value::I64(250),
                Value::F64(3.0),
            ],
        ];
        let fin = p.finish(&aggregate_rows(&s, &p, &rows));
        assert_eq!(
            fin.row(0),
            vec![
                Value::I64(0),
                Value::Str("a".into()),
                Value::F64(2.0),
                Value::F64(3.0),
                Value::U64(2),
                Value::I64(400)
            ]
        );
    }
}
