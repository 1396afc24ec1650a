//! Arrow and Parquet answers read by independent readers (pyarrow, polars,
//! DuckDB: `tests/python/check_columnar.py`), compared with the NDJSON
//! answer to the same query across hot and cold: same rows, same values,
//! decimals exact, the types users expect, the missing/truncated signals.
//!
//! Needs python3 with pyarrow, polars and duckdb (scripts/test.sh installs
//! them). Without them it says SKIPPED, unless `HOTCOLD_REQUIRE_PYTHON=1`
//! (scripts/test.sh sets it), where it fails.

use hotcold_core::schema::{TableSchema, Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::path::Path;
use std::process::Command;

fn checker() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/check_columnar.py")
}

/// A table of every logical type.
fn every_type() -> TableSchema {
    let yaml = "name: ev\ntime-column: ts\ncolumns:\n\
        - {name: ts, type: timestamp_ms}\n- {name: d, type: date}\n\
        - {name: s, type: string}\n- {name: lc, type: lc_string}\n\
        - {name: px, type: decimal(8)}\n- {name: d0, type: decimal(0)}\n\
        - {name: i8, type: int8}\n- {name: i16, type: int16}\n\
        - {name: i32, type: int32}\n- {name: i64, type: int64}\n\
        - {name: u8, type: uint8}\n- {name: u16, type: uint16}\n\
        - {name: u32, type: uint32}\n- {name: u64, type: uint64}\n\
        - {name: f, type: float64}\n- {name: b, type: bool}\n";
    serde_yaml::from_str(yaml).expect("schema")
}

/// `n` rows over `[start, end)`, the extremes of each type among them, and
/// times in every form collectors send (ms, ClickHouse text, RFC 3339 with
/// an offset).
fn every_type_rows(start: i64, end: i64, n: usize) -> Vec<String> {
    let step = (end - start) / n as i64;
    (0..n)
        .map(|i| {
            let ts = start + i as i64 * step;
            let k = i as i64;
            let text = hotcold_core::time::format_timestamp_ms(ts);
            let ts_json = match i % 3 {
                0 => ts.to_string(),
                1 => format!("\"{} {}\"", &text[..10], &text[11..23]),
                _ => {
                    // The same instant written at +05:30.
                    let local = hotcold_core::time::format_timestamp_ms(ts + 330 * 60_000);
                    format!("\"{}+05:30\"", &local[..23])
                }
            };
            let ext = i % 7 == 0;
            let (i64v, u64v) = if ext {
                (i64::MIN + k, u64::MAX - k as u64)
            } else {
                (k * 1_000_003, k as u64 * 7)
            };
            let px = if ext {
                "-92233720368.54775808".to_string()
            } else {
                hotcold_core::value::format_decimal(4_200_000_000_000 + k * 12_345, 8)
            };
            format!(
                concat!(
                    "{{\"ts\":{},\"d\":\"{}\",\"s\":{},\"lc\":\"{}\",\"px\":\"{}\",\"d0\":{},",
                    "\"i8\":{},\"i16\":{},\"i32\":{},\"i64\":{},\"u8\":{},\"u16\":{},\"u32\":{},\"u64\":{},",
                    "\"f\":{},\"b\":{}}}"
                ),
                ts_json,
                hotcold_core::time::format_date(ts.div_euclid(DAY_MS)),
                serde_json::json!(format!("note {i}, \"q\" ü日本")),
                ["BTC-USDT", "ETH-USDT", "SOL-USDT"][i % 3],
                px,
                if ext { i64::MAX } else { k },
                if ext { -128 } else { (k % 100) as i8 as i64 },
                if ext { 32_767 } else { k % 1000 },
                if ext { i32::MIN as i64 } else { k * 3 },
                i64v,
                if ext { 255 } else { (k % 200) as u64 },
                if ext { 65_535 } else { (k % 60_000) as u64 },
                if ext { u32::MAX as u64 } else { k as u64 * 11 },
                u64v,
                if ext { "1.7976931348623157e308".to_string() } else { format!("{}", k as f64 * 0.1 + 1e-9) },
                i % 2 == 0,
            )
        })
        .collect()
}

/// The logical types of a rows answer, by column, for the checker.
fn types_of(s: &TableSchema) -> serde_json::Value {
    s.columns
        .iter()
        .map(|c| (c.name.clone(), serde_json::json!(c.ty.to_string())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse::<f64>().ok())
}

/// Until the hot store's columnar copy has caught up (its builder looks
/// every 5 s).
async fn wait_for_the_copy(c: &hotcold_tests::procs::Cloud) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let m = c.get("/metrics").await.1;
        if metric(&m, "hotcold_hot_copy_pending_hours") == Some(0.0)
            && metric(&m, "hotcold_hot_copy_parts_built_total").unwrap_or(0.0) > 0.0
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the columnar copy was not built in 60 s:\n{m}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrow_and_parquet_read_by_pyarrow_polars_and_duckdb_equal_ndjson() {
    if !hotcold_tests::python::modules_present(&["pyarrow", "polars", "duckdb"]) {
        println!("SKIPPED: python3 with pyarrow, polars and duckdb is not installed (pip install pyarrow polars duckdb)");
        return;
    }
    let ev = every_type();
    let tables = serde_yaml::to_string(&vec![trades_schema(), ev.clone()]).expect("yaml");
    let mut stack = Stack::start(StackOptions {
        tables_yaml: Some(tables),
        ..StackOptions::default()
    });
    let c = &stack.cloud;
    let now = now_ms();
    let start = Window::day_of(now - 5 * DAY_MS).start;
    let rows = trades(start, now, 4_000, 23);
    assert_eq!(c.ingest("trades", ndjson(&rows)).await.0, 200);
    // Enough rows that the Arrow answer is over 1 MiB: streamed, with
    // dictionary deltas across batches.
    let ev_rows = every_type_rows(start, now, 12_000);
    let (s, r) = c.ingest("ev", ev_rows.join("\n")).await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = c.archive().await;
    assert_eq!(s, 200, "{r}");
    assert!(
        r["rows_archived"].as_u64().unwrap_or(0) > 0,
        "part must be cold: {r}"
    );
    // Sealed hot hours are answered from the columnar copy once it is
    // built: wait for it, so the readers below check that path too.
    wait_for_the_copy(c).await;

    let range = format!("from={start}&to={}", now + 1);
    let cases: Vec<(&str, &str, String, serde_json::Value)> = vec![
        ("ev_all", "query", format!("ev?{range}"), types_of(&ev)),
        (
            "ev_desc_limit",
            "query",
            format!("ev?{range}&order=desc&limit=500&columns=u64,px,ts,lc,d"),
            types_of(&ev),
        ),
        (
            "trades_cut",
            "query",
            format!("trades?{range}&limit=1000"),
            types_of(&trades_schema()),
        ),
        (
            "bars",
            "bars",
            format!("trades?{range}&interval=1h"),
            serde_json::json!({"ts": "timestamp_ms", "exchange": "lc_string", "symbol": "lc_string",
                "open": "decimal(8)", "high": "decimal(8)", "low": "decimal(8)",
                "close": "decimal(8)", "volume": "decimal(8)", "count": "uint64"}),
        ),
        (
            "aggregate",
            "aggregate",
            format!("trades?{range}&agg=count,sum:amount,avg:price,min:price,max:price&group_by=symbol&interval=1d"),
            serde_json::json!({"ts": "timestamp_ms", "symbol": "lc_string", "count": "uint64",
                "sum_amount": "decimal(8)", "avg_price": "float64",
                "min_price": "decimal(8)", "max_price": "decimal(8)"}),
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let mut manifest = Vec::new();
    let mut cases = cases;
    for pass in 0..2 {
        if pass == 1 {
            // With the NAS gone a partial answer names what it lacks: in
            // the header, the IPC schema and the Parquet footer.
            stack.gateway.kill("KILL");
            cases = vec![(
                "trades_partial",
                "query",
                format!(
                    "trades?from={}&to={}&allow_partial=true",
                    start + 1,
                    now + 1
                ),
                types_of(&trades_schema()),
            )];
        }
        for (name, endpoint, q, types) in &cases {
            let (table, params) = q.split_once('?').expect("query");
            let (s, _, nd) = c.ask_bytes(endpoint, table, params).await;
            assert_eq!(s, 200, "{name}: {}", String::from_utf8_lossy(&nd));
            std::fs::write(dir.path().join(format!("{name}.ndjson")), &nd).expect("write");
            let mut heads = serde_json::Map::new();
            for fmt in ["arrow", "parquet"] {
                let (s, h, body) = c
                    .ask_bytes(endpoint, table, &format!("{params}&format={fmt}"))
                    .await;
                assert_eq!(s, 200, "{name} {fmt}: {}", String::from_utf8_lossy(&body));
                let ctype = h
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let want = if fmt == "arrow" {
                    "application/vnd.apache.arrow.stream"
                } else {
                    "application/vnd.apache.parquet"
                };
                assert_eq!(ctype, want, "{name} {fmt}");
                let header = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
                heads.insert(
                    fmt.into(),
                    serde_json::json!({
                        "truncated": header("x-hotcold-truncated"),
                        "streamed": header("x-hotcold-streamed"),
                        "watermark": header("x-hotcold-watermark"),
                        "missing": header("x-hotcold-missing"),
                    }),
                );
                std::fs::write(dir.path().join(format!("{name}.{fmt}")), &body).expect("write");
            }
            manifest.push(
                serde_json::json!({"name": name, "types": types, "headers": heads,
            "truncated": name.ends_with("_cut") || name.ends_with("_limit"),
            "partial": name.ends_with("_partial")}),
            );
        }
    }
    // The hot part of those answers came from the copy, not the rows.
    let m = c.get("/metrics").await.1;
    assert!(
        metric(&m, "hotcold_hot_copy_hours_read_total").unwrap_or(0.0) > 0.0,
        "no answer read the columnar copy:\n{m}"
    );
    // A format nobody reads is a 400 naming the ones there are; an error
    // before the first byte stays JSON.
    let (s, _, body) = c
        .ask_bytes("query", "ev", &format!("{range}&format=feather"))
        .await;
    assert_eq!(s, 400);
    let e: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
    assert!(
        e["error"]
            .as_str()
            .unwrap_or("")
            .contains("arrow or parquet"),
        "{e}"
    );
    let (s, _, body) = c
        .ask_bytes(
            "bars",
            "trades",
            &format!("{range}&interval=7x&format=arrow"),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
        "JSON error"
    );

    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
    .expect("write manifest");
    let out = Command::new("python3")
        .arg(checker())
        .arg(dir.path())
        .output()
        .expect("run python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    if !out.status.success() {
        stack.dump_logs();
    }
    assert!(out.status.success(), "the checker failed:\n{text}");
    assert!(text.contains(" 0 failed"), "{text}");
}
