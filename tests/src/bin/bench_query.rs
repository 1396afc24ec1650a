//! Query latency, end to end over HTTP, with a baseline from the same run:
//!
//! - baseline: `GET /health` (the HTTP round trip alone);
//! - hot: 1,000 rows from the hot store (SQLite);
//! - cold: 1,000 rows from the NAS over the loopback QUIC link (ClickHouse
//!   when HOTCOLD_CLICKHOUSE_URL is set, else SQLite), each query a new
//!   range so the cache never answers;
//! - straddling: 500 cold + 500 hot rows, read at the same time;
//! - cached cold: the same cold query again, answered by the cloud's cache;
//! - bars: 1-minute OHLCV bars (12 exchange x symbol groups) over one UTC
//!   day wholly hot, one wholly cold and one straddling the watermark, each
//!   day holding `rows / 4` trades (100,000 by default);
//! - stats: 1-minute count/sum/min/max/avg per group over the same days.
//!
//! Each aggregate's first answer is hashed (BLAKE3 of the body) and printed
//! with its line count, so two builds can be checked to answer alike.
//!
//! Usage: bench_query [--runs N] [--rows N] [--only TEXT]   (scripts/bench.sh
//! runs it); `--only` keeps the baseline and the queries whose name holds
//! TEXT (to profile one of them).

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;
use std::time::{Duration, Instant};

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1e3
}

async fn timed(
    http: &reqwest::Client,
    url: &str,
    want_rows: Option<usize>,
) -> anyhow::Result<Duration> {
    Ok(timed_body(http, url, want_rows).await?.0)
}

async fn timed_body(
    http: &reqwest::Client,
    url: &str,
    want_rows: Option<usize>,
) -> anyhow::Result<(Duration, bytes::Bytes)> {
    let t = Instant::now();
    let r = http.get(url).send().await?;
    anyhow::ensure!(r.status() == 200, "{url}: {}", r.status());
    anyhow::ensure!(
        r.headers().get("x-hotcold-missing").is_none(),
        "{url}: partial"
    );
    let body = r.bytes().await?;
    let d = t.elapsed();
    if let Some(n) = want_rows {
        let lines = body.iter().filter(|b| **b == b'\n').count();
        anyhow::ensure!(lines == n, "{url}: {lines} rows, wanted {n}");
    }
    Ok((d, body))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs = hotcold_tests::arg_usize("--runs", 300);
    let n = hotcold_tests::arg_usize("--rows", 400_000);
    let only = hotcold_tests::arg("--only");
    let wanted = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    let ch = std::env::var("HOTCOLD_CLICKHOUSE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let cold = match &ch {
        Some(url) => ColdKind::ClickHouse {
            url: url.clone(),
            database: hotcold_tests::clickhouse::unique_db("bench_query"),
        },
        None => ColdKind::Sqlite,
    };
    let cold_name = if ch.is_some() { "ClickHouse" } else { "SQLite" };
    let stack = Stack::start(StackOptions {
        cold,
        hot_retention: "2d".into(),
        ..Default::default()
    });
    let now = now_ms();
    // Four whole UTC days before today: `n / 4` trades in each, the two
    // older ones archived (hot retention 2 days), the two newer ones hot.
    let start = Window::day_of(now - 4 * DAY_MS).start;
    let rows = trades(start, start + 4 * DAY_MS, n, 3);
    for chunk in rows.chunks(50_000) {
        let (s, b) = stack.cloud.ingest("trades", ndjson(chunk)).await;
        anyhow::ensure!(s == 200, "ingest: {b}");
    }
    let (s, r) = stack.cloud.archive().await;
    anyhow::ensure!(s == 200, "archive: {r}");
    let wm = r["cutoff_ms"].as_i64().unwrap_or(now);
    let ts: Vec<i64> = rows.iter().filter_map(|r| r["ts"].as_i64()).collect();
    let cold_ts: Vec<i64> = ts.iter().copied().filter(|t| *t < wm).collect();
    let hot_ts: Vec<i64> = ts.iter().copied().filter(|t| *t >= wm).collect();
    println!(
        "{} rows: {} cold ({cold_name}, loopback QUIC), {} hot (SQLite); {runs} runs each",
        rows.len(),
        cold_ts.len(),
        hot_ts.len()
    );
    let http = reqwest::Client::new();
    let base = format!("{}/v1/query/trades", stack.cloud.url);
    // Ranges holding exactly 1,000 rows, starting at the i-th row.
    let range = |v: &[i64], i: usize| {
        let a = v[i];
        let b = v[i + 999] + 1;
        (a, b)
    };
    let mut results: Vec<(&str, Vec<Duration>)> = Vec::new();

    let mut health = Vec::new();
    for _ in 0..runs {
        health.push(timed(&http, &format!("{}/health", stack.cloud.url), None).await?);
    }
    results.push(("baseline GET /health", health));

    let mut hot = Vec::new();
    for i in 0..runs * usize::from(wanted("hot 1k rows")) {
        // Distinct timestamps ensure the range holds exactly 1,000 rows.
        let j = (i * 997) % (hot_ts.len() - 2000);
        let (a, b) = range(&hot_ts, j);
        let want = hot_ts.iter().filter(|t| (a..b).contains(t)).count();
        hot.push(timed(&http, &format!("{base}?from={a}&to={b}"), Some(want)).await?);
    }
    results.push(("hot 1k rows", hot));

    let mut cold = Vec::new();
    for i in 0..runs * usize::from(wanted("cold 1k rows (uncached)")) {
        let j = (i * 997) % (cold_ts.len() - 2000);
        let (a, b) = range(&cold_ts, j);
        let want = cold_ts.iter().filter(|t| (a..b).contains(t)).count();
        cold.push(timed(&http, &format!("{base}?from={a}&to={b}"), Some(want)).await?);
    }
    results.push(("cold 1k rows (uncached)", cold));

    let mut straddle = Vec::new();
    for i in 0..runs * usize::from(wanted("straddling 500+500 rows")) {
        // A new range each run, so the cold half is never cached.
        let k = i % 499;
        let a = cold_ts[cold_ts.len() - 500 - k];
        let b = hot_ts[499 - k] + 1;
        let want = ts.iter().filter(|t| (a..b).contains(t)).count();
        straddle.push(timed(&http, &format!("{base}?from={a}&to={b}"), Some(want)).await?);
    }
    results.push(("straddling 500+500 rows", straddle));

    let (a, b) = range(&cold_ts, 10);
    let want = cold_ts.iter().filter(|t| (a..b).contains(t)).count();
    timed(&http, &format!("{base}?from={a}&to={b}"), Some(want)).await?;
    let mut cached = Vec::new();
    for _ in 0..runs * usize::from(wanted("cold 1k rows (cached)")) {
        cached.push(timed(&http, &format!("{base}?from={a}&to={b}"), Some(want)).await?);
    }
    results.push(("cold 1k rows (cached)", cached));

    let mut answers = Vec::new();
    for (name, path, from) in [
        ("1m bars over 1 day, hot", "bars", wm),
        ("1m bars over 1 day, cold", "bars", wm - DAY_MS),
        ("1m bars over 1 day, straddling", "bars", wm - DAY_MS / 2),
        ("1m stats over 1 day, hot", "aggregate", wm),
        ("1m stats over 1 day, cold", "aggregate", wm - DAY_MS),
    ] {
        if !wanted(name) {
            continue;
        }
        let to = from + DAY_MS;
        let extra = if path == "aggregate" {
            "&group_by=exchange,symbol&agg=count,sum:amount,min:price,max:price,avg:price"
        } else {
            ""
        };
        let url = format!(
            "{}/v1/{path}/trades?from={from}&to={to}&interval=1m{extra}",
            stack.cloud.url,
        );
        let trades_in = ts.iter().filter(|t| (from..to).contains(t)).count();
        let mut v = Vec::new();
        for i in 0..runs.min(100) {
            // A new limit each time: the cold part is computed, not cached.
            let (d, body) =
                timed_body(&http, &format!("{url}&limit={}", 100_000 - i), None).await?;
            if i == 0 {
                let lines = body.iter().filter(|b| **b == b'\n').count();
                answers.push(format!(
                    "{name}: {trades_in} trades -> {lines} lines, {} bytes, blake3 {}",
                    body.len(),
                    &blake3::hash(&body).to_hex()[..16]
                ));
            }
            v.push(d);
        }
        results.push((name, v));
    }

    let base_p50 = pct(results[0].1.clone(), 0.5);
    println!("| query | p50 ms | p99 ms | p50 / baseline |");
    println!("|---|---:|---:|---:|");
    for (name, v) in results.iter().filter(|(_, v)| !v.is_empty()) {
        let p50 = pct(v.clone(), 0.5);
        println!(
            "| {name} | {p50:.2} | {:.2} | {:.1}× |",
            pct(v.clone(), 0.99),
            p50 / base_p50
        );
    }
    for a in &answers {
        println!("{a}");
    }
    Ok(())
}
