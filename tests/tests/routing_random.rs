//! Routing, checked against one store holding everything.
//!
//! Two clouds get the same random trades. The reference never archives, so
//! its hot store holds every row. The routed one archives at a random hot
//! retention (so a random watermark), to ClickHouse when the test server is
//! there, and once more while each confirmed batch is held before its purge
//! (watermark advanced, archived rows still in hot). Random queries (rows,
//! bars, statistics; random ranges, filters, order, limits, intervals and
//! groups) must get the same answer from both, row for row and bar for bar;
//! asked twice, the second answer comes from the cold cache.
//!
//! `HOTCOLD_SEED=n` replays a run; the seed is printed either way.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades, trades_schema};
use hotcold_tests::procs::Cloud;
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;
use rand::{Rng, SeedableRng};

const SYMBOLS: [&str; 4] = ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT"];

fn cold() -> ColdKind {
    match hotcold_tests::clickhouse::url() {
        Some(url) => ColdKind::ClickHouse {
            url,
            database: hotcold_tests::clickhouse::unique_db("routing"),
        },
        None => ColdKind::Sqlite,
    }
}

fn pick<'a>(rng: &mut impl Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.gen_range(0..xs.len())]
}

/// One random query: (endpoint, parameters).
fn random_query(
    rng: &mut impl Rng,
    start: i64,
    now: i64,
    wm: Option<i64>,
) -> (&'static str, String) {
    let span = now - start;
    let from = match (rng.gen_range(0..4), wm) {
        // Near the watermark, where the two parts meet.
        (0, Some(w)) => w - rng.gen_range(0..DAY_MS),
        _ => start - DAY_MS + rng.gen_range(0..span + DAY_MS),
    };
    let to = match (rng.gen_range(0..4), wm) {
        (0, Some(w)) => (w + rng.gen_range(1..DAY_MS)).max(from + 1),
        _ => from + rng.gen_range(1..span + 2 * DAY_MS),
    };
    let mut p = format!("from={from}&to={to}&format=json");
    if rng.gen_bool(0.5) {
        let n = rng.gen_range(1..=3);
        let syms: Vec<&str> = (0..n).map(|_| pick(rng, &SYMBOLS)).collect();
        p.push_str(&format!("&symbol={}", syms.join(",")));
    }
    if rng.gen_bool(0.3) {
        p.push_str(&format!(
            "&exchange={}",
            pick(rng, &["binance", "okx", "bybit"])
        ));
    }
    if rng.gen_bool(0.3) {
        p.push_str("&order=desc");
    }
    if rng.gen_bool(0.3) {
        p.push_str(&format!("&limit={}", rng.gen_range(1..400)));
    }
    let interval = pick(rng, &["1s", "1m", "15m", "1h", "6h", "1d"]);
    let group = pick(rng, &["", "symbol", "exchange,symbol", "exchange"]);
    match rng.gen_range(0..3) {
        0 => ("query", p),
        1 => {
            if rng.gen_bool(0.7) {
                p.push_str(&format!("&group_by={group}"));
            }
            ("bars", format!("{p}&interval={interval}"))
        }
        _ => {
            let funcs = [
                "count",
                "sum:amount",
                "min:price",
                "max:price",
                "avg:price",
                "max:trade_id",
            ];
            let mut chosen: Vec<&str> = funcs
                .iter()
                .copied()
                .filter(|_| rng.gen_bool(0.5))
                .collect();
            if chosen.is_empty() {
                chosen.push("count");
            }
            p.push_str(&format!("&agg={}&group_by={group}", chosen.join(",")));
            if rng.gen_bool(0.5) {
                p.push_str(&format!("&interval={interval}"));
            }
            ("aggregate", p)
        }
    }
}

/// Rows with equal timestamps have no order across stores: sort each run of
/// equal times; when the limit cut the answer, the last run may differ in
/// which of its rows made it, so it is compared by time and count only.
fn normalize(rows: &[serde_json::Value], truncated: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let ts = &rows[i]["ts"];
        let mut j = i;
        while j < rows.len() && &rows[j]["ts"] == ts {
            j += 1;
        }
        let mut run: Vec<String> = rows[i..j].iter().map(|r| r.to_string()).collect();
        if truncated && j == rows.len() {
            run = vec![format!("{ts} x{}", j - i)];
        }
        run.sort();
        out.extend(run);
        i = j;
    }
    out
}

/// Asks both clouds; returns the routed answer's watermark.
async fn compare(
    reference: &Cloud,
    routed: &Cloud,
    endpoint: &str,
    params: &str,
    seed: u64,
) -> Option<i64> {
    let (s1, _, b1) = reference.ask(endpoint, "trades", params).await;
    let (s2, h2, b2) = routed.ask(endpoint, "trades", params).await;
    let ctx = format!("seed {seed}: GET /v1/{endpoint}/trades?{params}");
    assert_eq!(s1, 200, "{ctx}: reference {b1}");
    assert_eq!(s2, 200, "{ctx}: routed {b2}");
    assert!(h2.get("x-hotcold-missing").is_none(), "{ctx}: {b2}");
    let v1: serde_json::Value = serde_json::from_str(&b1).expect("json");
    let v2: serde_json::Value = serde_json::from_str(&b2).expect("json");
    let r1 = v1["rows"].as_array().expect("rows");
    let r2 = v2["rows"].as_array().expect("rows");
    assert_eq!(v1["truncated"], v2["truncated"], "{ctx}");
    if endpoint == "query" {
        let t = v1["truncated"].as_bool().unwrap_or(false);
        assert_eq!(
            r1.len(),
            r2.len(),
            "{ctx}: row counts; routed: hot {} cold {} watermark {} streamed {:?}",
            v2["hot_rows"],
            v2["cold_rows"],
            v2["watermark"],
            h2.get("x-hotcold-streamed")
        );
        assert_eq!(normalize(r1, t), normalize(r2, t), "{ctx}");
    } else {
        assert_eq!(r1, r2, "{ctx}");
    }
    v2["watermark"].as_i64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_answers_equal_one_store() {
    let seed = hotcold_tests::seed("routing_random");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let now = now_ms();
    let start = Window::day_of(now - 12 * DAY_MS).start;
    let mut rows = trades(start, now, 20_000, seed % 1000);
    // Many trades share a millisecond, as on a busy exchange.
    for r in &mut rows {
        let ts = r["ts"].as_i64().unwrap_or(0);
        r["ts"] = (ts - ts.rem_euclid(250)).into();
    }
    let body = ndjson(&rows);

    // 1 s buckets over the whole range are part of the test: lift the
    // bucket bound that protects a real service.
    let many_buckets = "query:\n  max-buckets: 100000000\n".to_string();
    let reference = Stack::start(StackOptions {
        hot_retention: "3650d".into(),
        extra_yaml: many_buckets.clone(),
        ..Default::default()
    });
    assert_eq!(reference.cloud.ingest("trades", body.clone()).await.0, 200);

    for round in 0..3 {
        let days = rng.gen_range(1..=11);
        let pause = round == 2;
        let stack = Stack::start(StackOptions {
            cold: cold(),
            hot_retention: format!("{days}d"),
            cloud_env: if pause {
                vec![("HOTCOLD_TEST_PAUSE_BEFORE_PURGE_MS".into(), "700".into())]
            } else {
                Vec::new()
            },
            extra_yaml: many_buckets.clone(),
            ..Default::default()
        });
        assert_eq!(stack.cloud.ingest("trades", body.clone()).await.0, 200);
        if pause {
            // Query while the archive is held between confirm and purge.
            let url = stack.cloud.url.clone();
            let archiving = tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{url}/v1/admin/archive"))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .map_err(|e| e.to_string())
            });
            let (mut seen_mid, mut asked) = (0, 0);
            while !archiving.is_finished() && asked < 60 {
                let (ep, p) = random_query(&mut rng, start, now, None);
                let wm = compare(&reference.cloud, &stack.cloud, ep, &p, seed).await;
                asked += 1;
                if let Some(w) = wm {
                    if stack
                        .cloud
                        .hot_count(&trades_schema(), Window::new(start, w))
                        > 0
                    {
                        seen_mid += 1;
                    }
                }
            }
            assert_eq!(archiving.await.expect("archive task"), Ok(200));
            eprintln!(
                "round {round}: {asked} queries during the archive, {seen_mid} between confirm and purge"
            );
            assert!(
                seen_mid > 0 || days >= 11,
                "seed {seed}: never queried between confirm and purge"
            );
        } else {
            let (s, r) = stack.cloud.archive().await;
            assert_eq!(s, 200, "{r}");
        }
        let (_, h, _) = stack
            .cloud
            .query("trades", &format!("from={start}&to={now}&limit=1"))
            .await;
        let wm: Option<i64> = h
            .get("x-hotcold-watermark")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        eprintln!("round {round}: hot retention {days}d, watermark {wm:?}");
        let mut asked: Vec<(&str, String)> = Vec::new();
        for _ in 0..40 {
            let (ep, p) = random_query(&mut rng, start, now, wm);
            compare(&reference.cloud, &stack.cloud, ep, &p, seed).await;
            asked.push((ep, p));
        }
        // Asked again, cold parts come from the cache and must not change.
        for (ep, p) in &asked {
            compare(&reference.cloud, &stack.cloud, ep, p, seed).await;
        }
        let metrics = stack.cloud.get("/metrics").await.1;
        let hits: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("hotcold_cold_cache_hits_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
        eprintln!("round {round}: cold cache hits {hits}");
        if wm.is_some() {
            assert!(hits > 0.0, "seed {seed}: no cold cache hit\n{metrics}");
        }
    }
}
