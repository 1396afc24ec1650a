//! A query's parameters, checked before any work: every mistake is a 400
//! naming the parameter, and every bound (range, rows, buckets, groups x
//! buckets) is applied here or handed to the plan. Pure over the limits,
//! so it is fuzzed (fuzz/fuzz_targets/query_params.rs).

use super::encode::Format;
use super::error::ApiError;
use crate::config::QueryConfig;
use crate::router::Request;
use hotcold_core::query::{Aggregate, Filter, Func, QuerySpec};
use hotcold_core::schema::{LogicalType, TableSchema, Window};
use hotcold_core::time::parse_instant_ms;
use hotcold_core::units::Span;
use std::collections::HashMap;

const COMMON: &[&str] = &[
    "from",
    "to",
    "limit",
    "format",
    "require_complete",
    "allow_partial",
    "columns",
    "order",
];

/// Which endpoint a request came to: its parameters differ.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Rows,
    Bars,
    Stats,
}

impl Kind {
    fn params(self) -> &'static [&'static str] {
        match self {
            Kind::Rows => &[],
            Kind::Bars => &["interval", "price", "volume", "group_by"],
            Kind::Stats => &["interval", "group_by", "agg"],
        }
    }
}

/// The query string's pairs as [`parse`] reads them. A column filter given
/// more than once unions its values (`symbol=A&symbol=B` is
/// `symbol=A,B`, what many HTTP clients send for a list); any other
/// parameter given twice is refused, naming it: before, the last one won
/// without a word. `kind: None` (admin endpoints): nothing repeats.
pub fn merge_pairs(
    kind: Option<Kind>,
    pairs: Vec<(String, String)>,
) -> Result<HashMap<String, String>, ApiError> {
    let mut out: HashMap<String, String> = HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        let repeatable = kind.is_some_and(|kind| {
            !COMMON.contains(&k.as_str()) && !kind.params().contains(&k.as_str())
        });
        match out.get_mut(&k) {
            None => {
                out.insert(k, v);
            }
            Some(have) if repeatable => {
                have.push(',');
                have.push_str(&v);
            }
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "parameter {k:?} is given more than once; give it once (only column filters may repeat, as a list)"
                )))
            }
        }
    }
    Ok(out)
}

pub(super) fn time_param(p: &HashMap<String, String>, name: &str) -> Result<i64, ApiError> {
    let v = p.get(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "missing parameter {name:?} (milliseconds, YYYY-MM-DD, or a time such as 2026-11-20T18:00:00.123+08:00)"
        ))
    })?;
    parse_instant_ms(v)
        .or_else(|e| match plus_decoded_as_space(v) {
            // The first error if the repair does not help: it names what
            // the caller typed, not a `+` they never did.
            Some(fixed) => parse_instant_ms(&fixed).map_err(|_| e),
            None => Err(e),
        })
        .map_err(|e| ApiError::bad_request(format!("parameter {name}={v:?}: {e}")))
}

/// A query string decodes `+` as a space, so `from=...T18:00:00+08:00`
/// typed into a browser or curl unescaped arrives as `...18:00:00 08:00`:
/// read a space before a two-digit offset after the time as the plus.
fn plus_decoded_as_space(v: &str) -> Option<String> {
    let at = v.rfind(' ')?;
    let (head, tail) = (v.get(..at)?, v.get(at + 1..)?);
    let two_digits = tail.len() >= 2 && tail.bytes().take(2).all(|b| b.is_ascii_digit());
    (at > 10 && head.contains(':') && two_digits).then(|| format!("{head}+{tail}"))
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect()
}

/// The columns a `columns=a,b` parameter names, in its order; all by default.
fn chosen_columns(
    schema: &TableSchema,
    p: &HashMap<String, String>,
) -> Result<Vec<usize>, ApiError> {
    let Some(l) = p.get("columns") else {
        return Ok((0..schema.columns.len()).collect());
    };
    let names = list(l);
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "columns= is empty: name at least one column",
        ));
    }
    names
        .iter()
        .map(|n| {
            schema.column(n).map(|(i, _)| i).ok_or_else(|| {
                let all: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
                ApiError::bad_request(format!(
                    "unknown column {n:?} in columns= (the answer has {})",
                    all.join(", ")
                ))
            })
        })
        .collect()
}

/// A filter value from the URL, as the JSON the column type expects.
fn filter_value(ty: LogicalType, v: &str) -> serde_json::Value {
    match ty {
        LogicalType::String | LogicalType::LcString => serde_json::Value::String(v.into()),
        _ => serde_json::from_str::<serde_json::Value>(v)
            .ok()
            .filter(|j| j.is_number() || j.is_boolean())
            .unwrap_or_else(|| serde_json::Value::String(v.into())),
    }
}

fn interval_param(p: &HashMap<String, String>, required: bool) -> Result<Option<i64>, ApiError> {
    match p.get("interval") {
        None if required => Err(ApiError::bad_request(
            "missing parameter \"interval\" (1s to 1d, as in 1m, 15m, 1h, 1d)",
        )),
        None => Ok(None),
        Some(v) => v
            .parse::<Span>()
            .map(|s| Some(s.0.as_millis() as i64))
            .map_err(|e| ApiError::bad_request(format!("interval={v:?}: {e}"))),
    }
}

/// A query's parameters, checked: the router's request, the answer's
/// format and columns, and whether it must be complete.
pub(crate) type Parsed = (Request, Format, Vec<usize>, bool);

/// Every parameter of a query, checked, as a router request. Pure (no
/// state but the limits), so it is fuzzed (fuzz/fuzz_targets/query_params.rs).
pub fn parse(
    q: &QueryConfig,
    schema: &TableSchema,
    kind: Kind,
    p: &HashMap<String, String>,
) -> Result<Parsed, ApiError> {
    let reserved = |k: &str| COMMON.contains(&k) || kind.params().contains(&k);
    let mut filters = Vec::new();
    for (k, v) in p {
        if reserved(k) {
            continue;
        }
        let col = k.strip_prefix("eq.").unwrap_or(k);
        let Some((_, c)) = schema.column(col) else {
            let mut known: Vec<&str> = COMMON.iter().chain(kind.params()).copied().collect();
            known.sort_unstable();
            return Err(ApiError::bad_request(format!(
                "unknown parameter {k:?}: not a column of {} nor one of {}",
                schema.name,
                known.join(", ")
            )));
        };
        let values: Vec<serde_json::Value> =
            list(v).iter().map(|x| filter_value(c.ty, x)).collect();
        filters.push(Filter {
            column: c.name.clone(),
            values,
        });
    }
    filters.sort_by(|a, b| a.column.cmp(&b.column));
    if let Some(w) = filters.windows(2).find(|w| w[0].column == w[1].column) {
        return Err(ApiError::bad_request(format!(
            "column {} is filtered twice (as {0} and eq.{0})",
            w[0].column
        )));
    }
    let (from, to) = (time_param(p, "from")?, time_param(p, "to")?);
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "empty or reversed range: from={from} must be before to={to}"
        )));
    }
    let max_range = q.max_range.0.as_millis() as i64;
    if to.saturating_sub(from) > max_range {
        return Err(ApiError::bad_request(format!(
            "range of {} ms is wider than query.max-range ({})",
            to.saturating_sub(from),
            q.max_range
        )));
    }
    let max_rows = q.max_rows;
    let limit = match p.get("limit") {
        None => max_rows,
        Some(l) => l
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=max_rows).contains(l))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "limit={l:?} must be a whole number from 1 to {max_rows}"
                ))
            })?,
    };
    let format = p.get("format").map_or("ndjson", String::as_str);
    let format = Format::parse(format).ok_or_else(|| {
        ApiError::bad_request(format!("format={format:?}: use {}", Format::NAMES))
    })?;
    let descending = match p.get("order").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "order={v:?}: use asc or desc"
            )))
        }
    };
    // A half answer only when asked for: a plain `curl`, a pandas script
    // or a dashboard never sees a header, so by default a cold range that
    // cannot be read is a 503 naming it. `require_complete` (the older
    // spelling, now the default) still says the same from the other side.
    let flag = |name: &str| match p.get(name).map(String::as_str) {
        None => Ok(None),
        Some("true") | Some("1") => Ok(Some(true)),
        Some("false") | Some("0") => Ok(Some(false)),
        Some(v) => Err(ApiError::bad_request(format!(
            "{name}={v:?}: use true or false"
        ))),
    };
    let allow_partial = match (flag("allow_partial")?, flag("require_complete")?) {
        (Some(a), Some(r)) if a == r => {
            return Err(ApiError::bad_request(format!(
                "allow_partial={a} and require_complete={r} contradict each other; give one"
            )))
        }
        (Some(a), _) => a,
        (None, Some(r)) => !r,
        (None, None) => false,
    };
    // Bars group by the table's low-cardinality columns (exchange, symbol)
    // unless told otherwise: bars mixing two symbols mean nothing.
    let group_by = match p.get("group_by") {
        Some(g) => list(g),
        None if kind == Kind::Bars => schema
            .columns
            .iter()
            .filter(|c| c.ty == LogicalType::LcString)
            .map(|c| c.name.clone())
            .collect(),
        None => Vec::new(),
    };
    let aggregate = match kind {
        Kind::Rows => None,
        Kind::Bars => Some(Aggregate::Bars {
            interval_ms: interval_param(p, true)?.unwrap_or_default(),
            price: p.get("price").cloned().unwrap_or_else(|| "price".into()),
            volume: p.get("volume").cloned().unwrap_or_else(|| "amount".into()),
            group_by,
        }),
        Kind::Stats => {
            let funcs = list(p.get("agg").map_or("count", String::as_str))
                .iter()
                .map(|f| Func::parse(f))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::bad_request(format!("agg=: {e}")))?;
            Some(Aggregate::Stats {
                interval_ms: interval_param(p, false)?,
                group_by,
                funcs,
            })
        }
    };
    // Buckets are folded before the limit applies: bound how many a range
    // can make (a 1 s interval over a year is 31 million per group).
    let interval = match &aggregate {
        Some(Aggregate::Bars { interval_ms, .. }) => Some(*interval_ms),
        Some(Aggregate::Stats { interval_ms, .. }) => *interval_ms,
        None => None,
    };
    if let Some(i) = interval.filter(|i| *i > 0) {
        let buckets = (to.saturating_sub(from) as u64).div_ceil(i as u64);
        let max = q.max_buckets;
        if buckets > max {
            return Err(ApiError::bad_request(format!(
                "{buckets} buckets of {i} ms in {from}..{to}: over query.max-buckets ({max}); use a longer interval or a shorter range"
            )));
        }
    }
    let spec = QuerySpec {
        filters,
        descending,
        aggregate,
    };
    let mut plan = spec
        .plan(schema)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Folding holds every (bucket, groups) key at once: bound them all,
    // not only the buckets (a million symbols x a few buckets is as bad).
    if let Some(a) = plan.agg.as_mut() {
        a.max_groups = q.max_buckets;
    }
    let answer = plan.final_schema();
    let cols = chosen_columns(&answer, p)?;
    // Two answer columns of one name make a JSON object with a key twice
    // (most readers keep the last without a word) and a CSV no tool maps.
    let mut seen = std::collections::HashSet::new();
    if let Some(n) = cols
        .iter()
        .map(|&i| answer.columns[i].name.as_str())
        .find(|n| !seen.insert(*n))
    {
        let why = if p.contains_key("columns") {
            "columns= names it twice"
        } else {
            "a group_by column has the name of an aggregate (count, sum_x, ...)"
        };
        return Err(ApiError::bad_request(format!(
            "the answer would have two columns named {n:?}: {why}; name each column once"
        )));
    }
    Ok((
        Request {
            schema: schema.clone(),
            spec,
            plan,
            window: Window::new(from, to),
            limit,
            max_cold_bytes: Some(q.max_cold_bytes.0),
            stall: q.stall_timeout.0,
            columns: None,
        },
        format,
        cols,
        allow_partial,
    ))
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
