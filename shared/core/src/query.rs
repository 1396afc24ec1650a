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

use crate::batch::Column;
use crate::batch::RowBatch;
use crate::schema::{ColumnDef, LogicalType, TableSchema};
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// The most values one filter may list (the batch form of a query).
pub const MAX_FILTER_VALUES: usize = 1000;
/// The most group-by columns and aggregate functions one query may name.
pub const MAX_GROUP_BY: usize = 8;
pub const MAX_FUNCS: usize = 16;
/// Bar and bucket widths allowed: one second to one day... and up to a year
/// for coarse statistics.
pub const MIN_INTERVAL_MS: i64 = 1_000;
pub const MAX_INTERVAL_MS: i64 = 366 * 86_400_000;
/// The most partial rows (groups x buckets) one aggregation may fold unless
/// the caller sets [`AggPlan::max_groups`]: folding holds them all at once.
pub const DEFAULT_MAX_GROUPS: u64 = 1_000_000;

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

#[derive(Debug, Clone, PartialEq)]
pub struct AggPlan {
    pub interval_ms: Option<i64>,
    pub group_by: Vec<ColumnDef>,
    /// The partial columns after the bucket and the groups, in order.
    pub parts: Vec<Part>,
    /// For statistics: what to show, as indices into `parts` (avg: sum, count).
    finals: Vec<Final>,
    /// The most distinct (bucket, groups) keys a [`Merger`] holds; one more
    /// and the fold stops with [`TooManyGroups`]. Not part of the spec: each
    /// side sets its own bound.
    pub max_groups: u64,
}

/// An aggregation had more distinct (bucket, groups) keys than its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the answer has more than {max} groups x buckets (query.max-buckets): use a longer interval, a shorter range or fewer groups")]
pub struct TooManyGroups {
    pub max: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum Final {
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

/// The type a sum of `t` has: 64-bit, keeping the decimal scale.
fn sum_type(c: &ColumnDef) -> Result<LogicalType, QueryError> {
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
                let out = partial_schema(schema, &p);
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
            let p = column(schema, price, "price")?;
            numeric(p, "bars")?;
            let v = column(schema, volume, "volume")?;
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
                parts,
                finals,
                max_groups: DEFAULT_MAX_GROUPS,
            })
        }
    }
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

fn partial_schema(schema: &TableSchema, p: &AggPlan) -> TableSchema {
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

impl AggPlan {
    /// Columns before the parts: the bucket (if any) and the groups.
    pub fn key_len(&self) -> usize {
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
        let Some(a) = &self.agg else {
            return partial.clone();
        };
        let out_schema = self.final_schema();
        let k = a.key_len();
        let mut out = RowBatch::with_capacity(&out_schema, partial.len());
        for i in 0..partial.len() {
            let row = partial.row(i);
            let mut r: Vec<Value> = row[..k].to_vec();
            for f in &a.finals {
                r.push(match f {
                    Final::Part(p) => row[k + p].clone(),
                    Final::Avg { sum, count, scale } => {
                        let n = match row[k + count] {
                            Value::U64(n) => n as f64,
                            _ => f64::NAN,
                        };
                        let s = match &row[k + sum] {
                            Value::I64(v) => *v as f64 / 10f64.powi(i32::from(*scale)),
                            Value::U64(v) => *v as f64,
                            Value::F64(v) => *v,
                            _ => f64::NAN,
                        };
                        Value::F64(s / n)
                    }
                });
            }
            // The schema was built from these very parts, so kinds match.
            let _ = out.push_row(r);
        }
        out
    }
}

/// A sortable group key: bucket and group values (never floats).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    I(i64),
    U(u64),
    B(bool),
    S(String),
    /// A float in a key cannot happen (planning refuses float groups);
    /// its bits keep the order total anyway.
    F(u64),
}

fn key_of(v: &Value) -> Key {
    match v {
        Value::I64(x) => Key::I(*x),
        Value::U64(x) => Key::U(*x),
        Value::Bool(x) => Key::B(*x),
        Value::Str(x) => Key::S(x.clone()),
        Value::F64(x) => Key::F(x.to_bits()),
    }
}

fn pick(a: &Value, b: &Value, want_max: bool) -> Value {
    let greater = match (a, b) {
        (Value::I64(x), Value::I64(y)) => y > x,
        (Value::U64(x), Value::U64(y)) => y > x,
        (Value::F64(x), Value::F64(y)) => y > x,
        (Value::Str(x), Value::Str(y)) => y > x,
        (Value::Bool(x), Value::Bool(y)) => y > x,
        _ => false,
    };
    let less = a != b && !greater;
    if (want_max && greater) || (!want_max && less) {
        b.clone()
    } else {
        a.clone()
    }
}

fn add(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::I64(x), Value::I64(y)) => Value::I64(x.saturating_add(*y)),
        (Value::U64(x), Value::U64(y)) => Value::U64(x.saturating_add(*y)),
        (Value::F64(x), Value::F64(y)) => Value::F64(x + y),
        _ => a.clone(),
    }
}

/// Combines partial aggregate rows. Feed the parts in time order (cold,
/// then hot): a bucket seen twice keeps the first part's open and the
/// second's close.
///
/// Folding a day of trades into bars goes through here once per row, so a
/// row whose group already exists is folded from the batch's columns in
/// place: no row, key or string is allocated for it.
pub struct Merger {
    parts: Vec<Part>,
    key_len: usize,
    rows: Vec<Vec<Value>>,
    /// For `add_timed`: the time of each group's open and close row.
    times: Vec<(i64, i64)>,
    /// Hash of a row's key → indices into `rows` with that hash.
    index: HashMap<u64, Vec<usize>>,
    /// At most this many rows (keys); past it the fold fails.
    cap: u64,
}

fn hash_cell(c: &Column, i: usize, h: &mut impl Hasher) {
    match c {
        Column::I64(v) => v[i].hash(h),
        Column::U64(v) => v[i].hash(h),
        Column::F64(v) => v[i].to_bits().hash(h),
        Column::Bool(v) => v[i].hash(h),
        Column::Str(v) => v[i].hash(h),
    }
}

fn hash_value(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::I64(x) => x.hash(h),
        Value::U64(x) => x.hash(h),
        Value::F64(x) => x.to_bits().hash(h),
        Value::Bool(x) => x.hash(h),
        Value::Str(x) => x.hash(h),
    }
}

fn cell_eq(v: &Value, c: &Column, i: usize) -> bool {
    match (v, c) {
        (Value::I64(x), Column::I64(y)) => *x == y[i],
        (Value::U64(x), Column::U64(y)) => *x == y[i],
        (Value::F64(x), Column::F64(y)) => x.to_bits() == y[i].to_bits(),
        (Value::Bool(x), Column::Bool(y)) => *x == y[i],
        (Value::Str(x), Column::Str(y)) => *x == y[i],
        _ => false,
    }
}

/// How the cell compares with the value held (Greater: the cell is larger).
fn cell_cmp(v: &Value, c: &Column, i: usize) -> std::cmp::Ordering {
    use std::cmp::Ordering::Equal;
    match (v, c) {
        (Value::I64(x), Column::I64(y)) => y[i].cmp(x),
        (Value::U64(x), Column::U64(y)) => y[i].cmp(x),
        (Value::F64(x), Column::F64(y)) => y[i].partial_cmp(x).unwrap_or(Equal),
        (Value::Bool(x), Column::Bool(y)) => y[i].cmp(x),
        (Value::Str(x), Column::Str(y)) => y[i].as_str().cmp(x.as_str()),
        _ => Equal,
    }
}

fn cell_add(v: &mut Value, c: &Column, i: usize) {
    match (v, c) {
        (Value::I64(x), Column::I64(y)) => *x = x.saturating_add(y[i]),
        (Value::U64(x), Column::U64(y)) => *x = x.saturating_add(y[i]),
        (Value::F64(x), Column::F64(y)) => *x += y[i],
        _ => {}
    }
}

impl Merger {
    pub fn new(plan: &AggPlan) -> Self {
        Self {
            parts: plan.parts.clone(),
            key_len: plan.key_len(),
            rows: Vec::new(),
            times: Vec::new(),
            index: HashMap::new(),
            cap: plan.max_groups,
        }
    }

    pub fn add(&mut self, b: &RowBatch) -> Result<(), TooManyGroups> {
        self.fold(b, None)
    }

    /// Room for one more key, or the error naming the bound.
    fn room(&self) -> Result<(), TooManyGroups> {
        if self.rows.len() as u64 >= self.cap {
            return Err(TooManyGroups { max: self.cap });
        }
        Ok(())
    }

    /// Folds single rows (count 1, open = close = the row's price) with
    /// each row's time, in any order: open and close go to the first and
    /// last row by (time, price), so a store can stream rows in time order
    /// alone, without sorting ties by price.
    pub fn add_timed(&mut self, b: &RowBatch, ts: &[i64]) -> Result<(), TooManyGroups> {
        self.fold(b, Some(ts))
    }

    fn fold(&mut self, b: &RowBatch, ts: Option<&[i64]>) -> Result<(), TooManyGroups> {
        let k = self.key_len;
        for i in 0..b.len() {
            let t = ts.and_then(|t| t.get(i).copied()).unwrap_or(0);
            let mut h = DefaultHasher::new();
            for c in &b.columns[..k] {
                hash_cell(c, i, &mut h);
            }
            let h = h.finish();
            let found = self.index.get(&h).and_then(|ixs| {
                ixs.iter().copied().find(|&ix| {
                    self.rows[ix][..k]
                        .iter()
                        .zip(&b.columns[..k])
                        .all(|(v, c)| cell_eq(v, c, i))
                })
            });
            let Some(ix) = found else {
                self.room()?;
                self.rows.push(b.row(i));
                self.times.push((t, t));
                self.index.entry(h).or_default().push(self.rows.len() - 1);
                continue;
            };
            let have = &mut self.rows[ix];
            let (open_t, close_t) = self.times[ix];
            for (j, p) in self.parts.iter().enumerate() {
                let (old, col) = (&mut have[k + j], &b.columns[k + j]);
                match p {
                    // Untimed: partials come in time order; the first open
                    // stays, the last close wins.
                    Part::Open(_) if ts.is_none() => {}
                    Part::Close(_) if ts.is_none() => {
                        if let Some(v) = col.get(i) {
                            *old = v;
                        }
                    }
                    Part::Open(_) => {
                        let c = cell_cmp(old, col, i);
                        if t < open_t || (t == open_t && c == std::cmp::Ordering::Less) {
                            if let Some(v) = col.get(i) {
                                *old = v;
                            }
                            self.times[ix].0 = t;
                        }
                    }
                    Part::Close(_) => {
                        let c = cell_cmp(old, col, i);
                        if t > close_t || (t == close_t && c == std::cmp::Ordering::Greater) {
                            if let Some(v) = col.get(i) {
                                *old = v;
                            }
                            self.times[ix].1 = t;
                        }
                    }
                    Part::High(_) | Part::Max(_) => {
                        if cell_cmp(old, col, i) == std::cmp::Ordering::Greater {
                            if let Some(v) = col.get(i) {
                                *old = v;
                            }
                        }
                    }
                    Part::Low(_) | Part::Min(_) => {
                        if cell_cmp(old, col, i) == std::cmp::Ordering::Less {
                            if let Some(v) = col.get(i) {
                                *old = v;
                            }
                        }
                    }
                    Part::Sum(_) | Part::Count => cell_add(old, col, i),
                }
            }
        }
        Ok(())
    }

    pub fn add_row(&mut self, row: Vec<Value>) -> Result<(), TooManyGroups> {
        let k = self.key_len;
        let mut h = DefaultHasher::new();
        for v in &row[..k] {
            hash_value(v, &mut h);
        }
        let h = h.finish();
        let found = self.index.get(&h).and_then(|ixs| {
            ixs.iter()
                .copied()
                .find(|&ix| self.rows[ix][..k] == row[..k])
        });
        let Some(ix) = found else {
            self.room()?;
            self.rows.push(row);
            self.times.push((0, 0));
            self.index.entry(h).or_default().push(self.rows.len() - 1);
            return Ok(());
        };
        let have = &mut self.rows[ix];
        for (j, p) in self.parts.iter().enumerate() {
            let (old, new) = (&have[k + j], &row[k + j]);
            let v = match p {
                Part::Open(_) => old.clone(),
                Part::Close(_) => new.clone(),
                Part::High(_) | Part::Max(_) => pick(old, new, true),
                Part::Low(_) | Part::Min(_) => pick(old, new, false),
                Part::Sum(_) | Part::Count => add(old, new),
            };
            have[k + j] = v;
        }
        Ok(())
    }

    /// The merged rows in key order (newest bucket first if `descending`),
    /// at most `limit`; true if more were there.
    pub fn finish(self, schema: &TableSchema, descending: bool, limit: u64) -> (RowBatch, bool) {
        let k = self.key_len;
        let total = self.rows.len() as u64;
        let mut keyed: Vec<(Vec<Key>, Vec<Value>)> = self
            .rows
            .into_iter()
            .map(|r| (r[..k].iter().map(key_of).collect(), r))
            .collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if descending {
            keyed.reverse();
        }
        let n = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(keyed.len());
        let mut out = RowBatch::with_capacity(schema, n);
        for (_, row) in keyed.into_iter().take(n) {
            let _ = out.push_row(row);
        }
        (out, total > limit)
    }
}

/// The start of the bucket holding `ts`: buckets are aligned to the epoch
/// (UTC), also before it.
pub fn bucket(ts: i64, interval_ms: i64) -> i64 {
    ts - ts.rem_euclid(interval_ms)
}

/// The same as [`bucket`], as SQL over an integer-millisecond expression;
/// `%` truncates toward zero in SQLite and ClickHouse, hence the double mod.
pub fn bucket_sql(ts_expr: &str, interval_ms: i64) -> String {
    format!("({ts_expr} - ((({ts_expr}) % {interval_ms}) + {interval_ms}) % {interval_ms})")
}

/// A reference implementation over plain rows (used to test the stores'
/// SQL): partial aggregate rows of `rows`, which must be the table's rows
/// already filtered to the window and filters.
pub fn aggregate_rows(schema: &TableSchema, plan: &Plan, rows: &[Vec<Value>]) -> RowBatch {
    let Some(a) = &plan.agg else {
        let mut b = RowBatch::new(schema);
        for r in rows {
            let _ = b.push_row(r.clone());
        }
        return b;
    };
    let idx = |n: &str| schema.column(n).map_or(0, |(i, _)| i);
    let ti = schema.time_index();
    // Sorting by (time, price) makes open and close well defined.
    let price_i = a.parts.iter().find_map(|p| match p {
        Part::Open(c) => Some(idx(c)),
        _ => None,
    });
    let mut sorted: Vec<&Vec<Value>> = rows.iter().collect();
    sorted.sort_by(|x, y| {
        let t = key_of(&x[ti]).cmp(&key_of(&y[ti]));
        t.then_with(|| match price_i {
            Some(p) => cmp_values(&x[p], &y[p]),
            None => std::cmp::Ordering::Equal,
        })
    });
    // A reference: no bound on the keys, so adding never fails.
    let mut m = Merger::new(&AggPlan {
        max_groups: u64::MAX,
        ..a.clone()
    });
    for r in sorted {
        let mut out: Vec<Value> = Vec::new();
        if let (Some(iv), Value::I64(ts)) = (a.interval_ms, &r[ti]) {
            out.push(Value::I64(bucket(*ts, iv)));
        }
        for g in &a.group_by {
            out.push(r[idx(&g.name)].clone());
        }
        for p in &a.parts {
            out.push(match p {
                Part::Open(c)
                | Part::High(c)
                | Part::Low(c)
                | Part::Close(c)
                | Part::Min(c)
                | Part::Max(c) => r[idx(c)].clone(),
                Part::Sum(c) => match &r[idx(c)] {
                    Value::I64(v) => Value::I64(*v),
                    Value::U64(v) => Value::U64(*v),
                    Value::F64(v) => Value::F64(*v),
                    other => other.clone(),
                },
                Part::Count => Value::U64(1),
            });
        }
        let _ = m.add_row(out);
    }
    m.finish(&plan.output, false, u64::MAX).0
}

fn cmp_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.total_cmp(y),
        _ => key_of(a).cmp(&key_of(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schema() -> TableSchema {
        serde_yaml::from_str(
            "name: t\ntime-column: ts\ncolumns:\n  - {name: ts, type: timestamp_ms}\n  - {name: sym, type: lc_string}\n  - {name: px, type: decimal(2)}\n  - {name: qty, type: float64}\n",
        )
        .unwrap()
    }

    fn bars(iv: i64) -> QuerySpec {
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
        assert_eq!(err, TooManyGroups { max: 3 });
        assert!(err.to_string().contains("query.max-buckets"), "{err}");
        // Three keys fit: the same rows in three buckets fold.
        let mut m = Merger::new(p.agg.as_ref().unwrap());
        let three = aggregate_rows(&s, &p, &rows[..3]);
        m.add(&three).unwrap();
        m.add(&three).unwrap();
        assert_eq!(m.finish(&p.output, false, 10).0.len(), 3);
    }

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
            m.add(&aggregate_rows(&s, &p, &hot)).unwrap();
            let (merged, _) = m.finish(&p.output, false, u64::MAX);
            prop_assert_eq!(p.finish(&merged), p.finish(&whole));
        }
    }
}
