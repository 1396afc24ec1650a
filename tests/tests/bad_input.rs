//! Invariant 7: bad input gets a 4xx with JSON naming the problem, and the
//! server stays up and keeps every good row.

use hotcold_tests::data::{ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_named_errors_and_the_server_stays_up() {
    let stack = Stack::start(StackOptions::default());
    let c = &stack.cloud;
    let now = now_ms();

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("nope", b"{}".to_vec(), 404, "unknown table \"nope\""),
        ("trades", b"{not json".to_vec(), 400, "line 1"),
        ("trades", format!("{{\"ts\":{now}}}").into_bytes(), 400, "missing column"),
        ("trades", b"\n\n".to_vec(), 400, "no rows"),
        ("trades", vec![0xff, 0xfe, 0x00], 400, "UTF-8"),
        (
            "trades",
            format!("{{\"ts\":{now},\"exchange\":\"x\",\"symbol\":\"y\",\"trade_id\":-1,\"price\":\"1\",\"amount\":\"1\",\"buyer_maker\":true}}").into_bytes(),
            400,
            "trade_id",
        ),
        (
            "trades",
            format!("{{\"ts\":{now},\"exchange\":\"x\",\"symbol\":\"y\",\"trade_id\":1,\"price\":\"1.123456789\",\"amount\":\"1\",\"buyer_maker\":true}}").into_bytes(),
            400,
            "price",
        ),
        (
            "trades",
            format!("{{\"ts\":{now},\"exchange\":\"x\",\"symbol\":\"y\",\"trade_id\":1,\"price\":\"99999999999\",\"amount\":\"1\",\"buyer_maker\":true}}").into_bytes(),
            400,
            "within -92233720368.54775807",
        ),
    ];
    // Times outside the documented range: seconds sent as milliseconds,
    // the far past, the far future.
    let row = |ts: i64| {
        format!("{{\"ts\":{ts},\"exchange\":\"x\",\"symbol\":\"y\",\"trade_id\":1,\"price\":\"1\",\"amount\":\"1\",\"buyer_maker\":true}}").into_bytes()
    };
    let mut cases = cases;
    cases.extend([
        ("trades", row(now / 1000), 400, "looks like seconds"),
        (
            "trades",
            row(i64::MIN),
            400,
            "outside the accepted range 1973-03-03T09:46:40",
        ),
        (
            "trades",
            row(now + 400 * 86_400_000),
            400,
            "ingest.future-horizon",
        ),
        ("trades", row(i64::MAX), 400, "outside the accepted range"),
    ]);
    for (table, body, status, needle) in cases {
        let (s, b) = c.ingest(table, body).await;
        assert_eq!(s, status, "{b}");
        let msg = b["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains(needle),
            "error {msg:?} should mention {needle:?}"
        );
    }
    // A request with one bad line stores nothing.
    let mut rows = trades(now - 1000, now, 3, 1);
    rows[2]["price"] = serde_json::json!("oops");
    let (s, b) = c.ingest("trades", ndjson(&rows)).await;
    assert_eq!(s, 400);
    assert!(
        b["error"].as_str().unwrap_or_default().contains("line 3"),
        "{b}"
    );
    // Ingest writes the first pieces of a body while it parses the rest
    // (8,192 rows a piece): a bad line far down still stores nothing.
    let before = c.hot_count(&trades_schema(), hotcold_core::Window::new(0, i64::MAX));
    let mut rows = trades(now - 100_000, now, 30_000, 2);
    rows[29_000]["buyer_maker"] = serde_json::json!("yes");
    let (s, b) = c.ingest("trades", ndjson(&rows)).await;
    assert_eq!(s, 400, "{b}");
    let msg = b["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("line 29001") && msg.contains("buyer_maker"),
        "{b}"
    );
    assert_eq!(
        c.hot_count(&trades_schema(), hotcold_core::Window::new(0, i64::MAX)),
        before,
        "rows of a refused request were stored"
    );

    let recent = now - 60_000;
    let queries = [
        ("trades", "to=5".to_string(), 400, "from"),
        ("trades", "from=10&to=5".to_string(), 400, "reversed"),
        ("trades", "from=abc&to=5".to_string(), 400, "from=\"abc\""),
        (
            "trades",
            format!("from={recent}&to={now}&limit=0"),
            400,
            "limit",
        ),
        (
            "trades",
            format!("from={recent}&to={now}&format=xml"),
            400,
            "format",
        ),
        (
            "trades",
            format!("from={recent}&to={now}&nosuch=x"),
            400,
            "unknown parameter \"nosuch\"",
        ),
        (
            "trades",
            format!("from={recent}&to={now}&order=sideways"),
            400,
            "order=",
        ),
        (
            "trades",
            format!("from={recent}&to={now}&trade_id=12x"),
            400,
            "filter on trade_id",
        ),
        (
            "trades",
            format!("from={recent}&to={now}&price=1.123456789"),
            400,
            "filter on price",
        ),
        (
            "trades",
            format!("from={recent}&to={now}&symbol=a&eq.symbol=b"),
            400,
            "filtered twice",
        ),
        (
            "bars/trades",
            format!("from={recent}&to={now}"),
            400,
            "missing parameter \"interval\"",
        ),
        (
            "bars/trades",
            format!("from={recent}&to={now}&interval=90ms"),
            400,
            "interval",
        ),
        (
            // 1 s bars over 30 days: 2.6 million buckets per group.
            "bars/trades",
            format!("from={}&to={now}&interval=1s", now - 30 * 86_400_000),
            400,
            "query.max-buckets (1000000)",
        ),
        (
            "aggregate/trades",
            format!(
                "from={}&to={now}&interval=1s&agg=count",
                now - 30 * 86_400_000
            ),
            400,
            "query.max-buckets",
        ),
        (
            "bars/trades",
            format!("from={recent}&to={now}&interval=7x"),
            400,
            "interval=\"7x\"",
        ),
        (
            "bars/trades",
            format!("from={recent}&to={now}&interval=1m&price=symbol"),
            400,
            "numeric",
        ),
        (
            "bars/trades",
            format!("from={recent}&to={now}&interval=1m&group_by=nosuch"),
            400,
            "unknown group_by column \"nosuch\"",
        ),
        (
            "aggregate/trades",
            format!("from={recent}&to={now}&agg=median:price"),
            400,
            "unknown aggregate",
        ),
        (
            "aggregate/trades",
            format!("from={recent}&to={now}&agg=sum:symbol"),
            400,
            "cannot sum column symbol",
        ),
        (
            "aggregate/trades",
            format!("from={recent}&to={now}&agg=count&columns=nosuch"),
            400,
            "unknown column \"nosuch\"",
        ),
        (
            "trades",
            format!("from=0&to={}", i64::MAX),
            400,
            "max-range",
        ),
        (
            "nope",
            format!("from={recent}&to={now}"),
            404,
            "unknown table",
        ),
        (
            "trades",
            format!("from={recent}&to={now}&limit=1&limit=2"),
            400,
            "parameter \"limit\" is given more than once",
        ),
        (
            "bars/trades",
            format!("from={recent}&from=0&to={now}&interval=1m"),
            400,
            "parameter \"from\" is given more than once",
        ),
    ];
    for (path, q, status, needle) in queries {
        let (endpoint, table) = path.split_once('/').unwrap_or(("query", path));
        let (s, _, body) = c.ask(endpoint, table, &q).await;
        assert_eq!(s, status, "{q}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
        assert!(
            v["error"].as_str().unwrap_or_default().contains(needle),
            "{q}: {body}"
        );
    }
    let (s, body) = c.get("/v1/nothing").await;
    assert_eq!(s, 404, "{body}");

    // Still up, and good rows still go in and come out.
    assert_eq!(c.get("/health").await.0, 200);
    let good = trades(now - 1000, now, 3, 2);
    let (s, b) = c.ingest("trades", ndjson(&good)).await;
    assert_eq!(s, 200, "{b}");
    let (s, _, body) = c
        .query(
            "trades",
            &format!("from={}&to={}&format=json", now - 1000, now + 1),
        )
        .await;
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(3), "{body}");
    assert_eq!(v["hot_rows"], 3);

    // A filter given twice is a list (as many HTTP clients send one), the
    // same as the comma form: nothing is silently dropped.
    let range = format!("from={}&to={}", now - 1000, now + 1);
    let syms: Vec<&str> = good.iter().filter_map(|r| r["symbol"].as_str()).collect();
    let (a, b) = (
        syms[0],
        syms.iter()
            .find(|s| **s != syms[0])
            .copied()
            .unwrap_or("none"),
    );
    let repeated = c
        .query_rows("trades", &format!("{range}&symbol={a}&symbol={b}"))
        .await;
    let listed = c
        .query_rows("trades", &format!("{range}&symbol={a},{b}"))
        .await;
    let want = syms.iter().filter(|s| **s == a || **s == b).count();
    assert_eq!((repeated.len(), listed.len()), (want, want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_limit_changes_at_run_time_and_bad_values_name_the_entry() {
    let stack = Stack::start(StackOptions::default());
    let c = &stack.cloud;
    let (s, b) = c.put("/v1/admin/bwlimit", "08:00,2MiB 25:00,off").await;
    assert_eq!(s, 400, "{b}");
    let msg = b["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("entry 2") && msg.contains("25:00,off"),
        "{msg}"
    );
    let (s, b) = c.put("/v1/admin/bwlimit", "4 MiB").await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["error"]
            .as_str()
            .unwrap_or_default()
            .contains("write 4MiB"),
        "a rate with a space says how to write it: {b}"
    );
    // A wrong method gets a JSON body like every other error.
    let r = reqwest::Client::new()
        .delete(format!("{}/v1/query/trades", c.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 405);
    assert!(r.headers().contains_key("allow"));
    let v: serde_json::Value = r.json().await.expect("a JSON 405");
    assert!(
        v["error"].as_str().unwrap_or_default().contains("DELETE"),
        "{v}"
    );
    let (s, b) = c.put("/v1/admin/bwlimit", "3MB").await;
    assert_eq!(s, 400);
    assert!(
        b["error"]
            .as_str()
            .unwrap_or_default()
            .contains("ambiguous"),
        "{b}"
    );
    let (s, b) = c
        .put("/v1/admin/bwlimit", "Mon-08:00,1MiB Sat-00:00,off")
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, body) = c.get("/v1/admin/bwlimit").await;
    assert_eq!(s, 200);
    assert!(body.contains("Mon-08:00,1MiB Sat-00:00,off"), "{body}");
    let st = c.status().await;
    assert_eq!(st["link"]["bwlimit"], "Mon-08:00,1MiB Sat-00:00,off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_need_the_bearer_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "correct-horse-battery-staple-42";
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).expect("token file");
    let stack = Stack::start(StackOptions {
        extra_yaml: format!("admin:\n  token-file: {}\n", file.display()),
        ..Default::default()
    });
    let c = &stack.cloud;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/admin/archive", c.url);
    assert_eq!(http.post(&url).send().await.expect("post").status(), 401);
    assert_eq!(
        http.post(&url)
            .bearer_auth("correct-horse-battery-staple-43")
            .send()
            .await
            .expect("post")
            .status(),
        401
    );
    let r = http
        .post(&url)
        .bearer_auth(token)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(c.put("/v1/admin/bwlimit", "1MiB").await.0, 401);
    // Health, metrics, ingest and query stay open unless admin.protect-data.
    assert_eq!(c.get("/health").await.0, 200);
    assert_eq!(c.get("/metrics").await.0, 200);
    let now = now_ms();
    assert_eq!(
        c.ingest("trades", ndjson(&trades(now - 10, now, 2, 3)))
            .await
            .0,
        200
    );

    // The real CLI: with the token it works, without it says why.
    let bin = hotcold_tests::procs::bin("cloud-service");
    let ok = std::process::Command::new(&bin)
        .args(["--token", token, "status", "--url", &c.url])
        .output()
        .expect("cli");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let denied = std::process::Command::new(&bin)
        .args(["status", "--url", &c.url])
        .env_remove("HOTCOLD_ADMIN_TOKEN")
        .output()
        .expect("cli");
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
}
