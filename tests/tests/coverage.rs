//! The coverage map against a real pair with a ClickHouse cold store (in a
//! non-UTC zone): archived days verified by cold's live count, a day
//! deleted from cold behind the gateway's back shown as a gap (and named
//! by scrub), a day with no rows as no data, today's rows as hot; the CLI
//! prints it and exits 1 on the gap; bad parameters get errors naming them.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::procs::bin;
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;
use std::process::Command;

const PER_DAY: usize = 2_000;

async fn coverage(stack: &Stack, q: &str) -> serde_json::Value {
    let (s, body) = stack.cloud.get(&format!("/v1/admin/coverage?{q}")).await;
    assert_eq!(s, 200, "{body}");
    serde_json::from_str(&body).expect("coverage json")
}

fn bucket(v: &serde_json::Value, start: i64) -> &serde_json::Value {
    v["buckets"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["start"] == start))
        .unwrap_or_else(|| panic!("no bucket at {start}: {v:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_tells_archived_gap_no_data_and_hot_apart() {
    let Some(url) = clickhouse::url() else {
        return;
    };
    let db = clickhouse::unique_db("coverage");
    let stack = Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url: url.clone(),
            database: db.clone(),
        },
        ..Default::default()
    });
    // Days 0, 1 and 3 hold trades, day 2 none; all four are past the hot
    // retention (2 days). The last hour holds 500 hot trades.
    let d0 = Window::day_of(now_ms() - 8 * DAY_MS).start;
    for (k, seed) in [(0, 1), (1, 2), (3, 3)] {
        let day = d0 + k * DAY_MS;
        let rows = trades(day, day + DAY_MS, PER_DAY, seed);
        assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    }
    let recent = trades(now_ms() - 3_600_000, now_ms() - 1_000, 500, 4);
    assert_eq!(stack.cloud.ingest("trades", ndjson(&recent)).await.0, 200);
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");

    let range = format!("table=trades&from={d0}&to={}", now_ms());
    let v = coverage(&stack, &range).await;
    for k in [0, 1, 3] {
        let b = bucket(&v, d0 + k * DAY_MS);
        assert_eq!(b["state"], "archived", "day {k}: {v:#}");
        assert_eq!(b["cold_rows"], PER_DAY as u64, "day {k}");
        assert_eq!(b["hot_rows"], 0, "day {k}");
        assert!(b["batch_id"].is_string(), "day {k}");
    }
    let empty = bucket(&v, d0 + 2 * DAY_MS);
    assert_eq!(empty["state"], "no_data", "{v:#}");
    assert_eq!(empty["cold_rows"], 0);
    // Between days of 2,000 rows an empty day is suspicious (24/7 markets)...
    assert_eq!(empty["suspected_gap"], true, "{v:#}");
    assert_eq!(v["typical_rows"], PER_DAY as u64);
    assert_eq!(v["hot_rows"], 500);
    assert_eq!(v["cold_rows"], 3 * PER_DAY as u64);
    let hot: u64 = v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["state"] == "hot")
        .map(|b| b["hot_rows"].as_u64().unwrap())
        .sum();
    assert_eq!(hot, 500, "today's rows are hot: {v:#}");
    // ...unless the operator says such a table is quieter than that.
    let v = coverage(&stack, &format!("{range}&gap_min_rows=5000")).await;
    assert_eq!(bucket(&v, d0 + 2 * DAY_MS)["suspected_gap"], false);

    // Day 1 disappears from cold behind the gateway's back.
    let (a, b) = (d0 + DAY_MS, d0 + 2 * DAY_MS);
    clickhouse::sql(
        &url,
        &format!("ALTER TABLE {db}.trades DELETE WHERE ts >= {a} AND ts < {b}"),
    )
    .await
    .expect("delete day 1");
    let mut v = serde_json::Value::Null;
    for _ in 0..100 {
        // A mutation: applied in the background.
        v = coverage(&stack, &range).await;
        if bucket(&v, a)["state"] == "gap" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let gone = bucket(&v, a);
    assert_eq!(gone["state"], "gap", "{v:#}");
    assert_eq!(gone["cold_rows"], 0);
    assert_eq!(gone["suspected_gap"], true);
    assert_eq!(bucket(&v, d0)["state"], "archived");
    assert_eq!(bucket(&v, d0 + 2 * DAY_MS)["state"], "no_data");

    // By hour, today's hot rows add up and the archived days are still
    // verified against their day's batch.
    let v = coverage(
        &stack,
        &format!("table=trades&by=hour&from={d0}&to={}", d0 + 4 * DAY_MS),
    )
    .await;
    let cells = v["buckets"].as_array().unwrap();
    assert_eq!(cells.len(), 96);
    assert!(
        cells[..24].iter().all(|b| b["state"] == "archived"),
        "{v:#}"
    );
    assert!(cells[24..48].iter().all(|b| b["state"] == "gap"));
    assert_eq!(cells[0]["label"].as_str().unwrap().len(), 13);

    // The CLI prints the map and fails on the gap; scrub names the day.
    let out = Command::new(bin("cloud-service"))
        .args(["coverage", "--url", &stack.cloud.url, "--table", "trades"])
        .args(["--from", &d0.to_string(), "--to", &now_ms().to_string()])
        .output()
        .expect("cloud-service coverage");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    let day1 = hotcold_core::time::format_timestamp_ms(a)[..10].to_string();
    let line = text
        .lines()
        .find(|l| l.starts_with(&day1))
        .unwrap_or_else(|| panic!("no line for {day1}: {text}"));
    assert!(line.contains("gap") && line.contains("scrub"), "{line}");
    let scrub = Command::new(bin("nas-gateway"))
        .args(["scrub", "--json", "-c"])
        .arg(&stack.gateway.config)
        .output()
        .expect("nas-gateway scrub");
    assert_eq!(scrub.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&scrub.stdout).expect("scrub json");
    let bad = r["mismatched"].as_array().expect("mismatched");
    assert_eq!(bad.len(), 1, "{r:#}");
    assert_eq!(bad[0]["window"]["start"], a);

    // Bad parameters are named.
    for (q, want) in [
        ("table=trades&by=week", "give day or hour"),
        ("by=day", "missing parameter"),
        ("table=trades&gap_min_rows=lots", "gap_min_rows"),
        ("table=trades&by=hour&from=2000-01-01", "buckets"),
        ("table=trades&from=2026-01-02&to=2026-01-01", "before"),
        ("table=trades&from=-9223372036854775808", "outside"),
        (
            "table=trades&from=-86400000&to=9223372036854775807",
            "outside",
        ),
    ] {
        let (s, body) = stack.cloud.get(&format!("/v1/admin/coverage?{q}")).await;
        assert_eq!(s, 400, "{q}: {body}");
        assert!(body.contains(want), "{q}: {body}");
    }
    let (s, body) = stack.cloud.get("/v1/admin/coverage?table=nope").await;
    assert_eq!(s, 404, "{body}");
    assert!(body.contains("nope"), "{body}");

    // With the NAS away the archived days are unknown, not empty, and the
    // answer says why; hot days are still counted.
    let mut stack = stack;
    stack.gateway.kill("KILL");
    let t = std::time::Instant::now();
    let v = coverage(&stack, &range).await;
    eprintln!("coverage with the gateway down took {:?}", t.elapsed());
    assert!(v["cold_error"].is_string(), "{v:#}");
    assert_eq!(bucket(&v, d0)["state"], "unknown", "{v:#}");
    assert_eq!(bucket(&v, d0)["cold_rows"], serde_json::Value::Null);
    assert_eq!(bucket(&v, d0 + 2 * DAY_MS)["state"], "unknown");
    assert_eq!(bucket(&v, d0 + 2 * DAY_MS)["suspected_gap"], false);
    assert_eq!(v["hot_rows"], 500);
}

/// A day the NAS's cold retention dropped is `expired`, not a gap: its
/// rows are gone on purpose and the gateway's ledger says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_cold_retention_dropped_is_expired_not_a_gap() {
    let stack = Stack::start(StackOptions::default());
    let old = Window::day_of(now_ms() - 10 * DAY_MS).start;
    let kept = Window::day_of(now_ms() - 5 * DAY_MS).start;
    for (day, seed) in [(old, 1), (kept, 2)] {
        let rows = trades(day, day + DAY_MS, PER_DAY, seed);
        assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    }
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    // Retention of 8 days on the gateway's own store: the old day goes.
    let out = Command::new(bin("nas-gateway"))
        .args(["retention", "-c"])
        .arg(&stack.gateway.config)
        .env("HOTCOLD__COLD_RETENTION", "8d")
        .output()
        .expect("nas-gateway retention");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = coverage(
        &stack,
        &format!("table=trades&from={old}&to={}", kept + DAY_MS),
    )
    .await;
    let gone = bucket(&v, old);
    assert_eq!(gone["state"], "expired", "{text}\n{v:#}");
    assert_eq!(gone["cold_rows"], 0);
    assert_eq!(gone["suspected_gap"], false);
    assert_eq!(bucket(&v, kept)["state"], "archived", "{v:#}");
    assert_eq!(bucket(&v, kept)["cold_rows"], PER_DAY as u64);
}
