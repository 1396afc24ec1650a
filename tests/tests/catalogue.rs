//! The bad-input catalogue: what a new user or a careless collector sends,
//! across HTTP, configuration, the command line and link frames. Each case
//! must get a 4xx (or a CLI error) whose text names the problem; the
//! processes stay up; and the rows ingested before the catalogue are still
//! there afterwards, exactly once. Every mismatch is listed at the end, so
//! one run shows them all.

use hotcold_core::frame::Frame;
use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::process::Command;

/// One HTTP request and what it must get.
struct Http {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
    status: u16,
    names: &'static str,
}

fn get(path: String, status: u16, names: &'static str) -> Http {
    Http {
        method: "GET",
        path,
        headers: vec![],
        body: vec![],
        status,
        names,
    }
}

fn ingest(body: impl Into<Vec<u8>>, status: u16, names: &'static str) -> Http {
    Http {
        method: "POST",
        path: "/v1/ingest/trades".into(),
        headers: vec![],
        body: body.into(),
        status,
        names,
    }
}

fn row(field: &str, value: &str) -> String {
    let now = now_ms();
    let mut r = serde_json::json!({"ts": now - 5_000, "exchange": "x", "symbol": "y", "trade_id": 1,
        "price": "1", "amount": "1", "buyer_maker": true});
    r[field] = serde_json::from_str(value).expect("value");
    r.to_string()
}

fn http_cases() -> Vec<Http> {
    let now = now_ms();
    let (a, b) = (now - DAY_MS, now);
    let q = |extra: &str| format!("/v1/query/trades?from={a}&to={b}{extra}");
    let bars = |extra: &str| format!("/v1/bars/trades?from={a}&to={b}{extra}");
    let agg = |extra: &str| format!("/v1/aggregate/trades?from={a}&to={b}{extra}");
    let mut v = vec![
        // Ingest bodies.
        Http {
            path: "/v1/ingest/nope".into(),
            ..ingest("{}", 404, "unknown table \"nope\"")
        },
        ingest("{not json", 400, "line 1"),
        ingest(format!("{{\"ts\":{now}}}"), 400, "missing column"),
        ingest("\n\n", 400, "no rows"),
        ingest(vec![0xff, 0xfe, 0x00], 400, "UTF-8"),
        ingest(row("trade_id", "-1"), 400, "trade_id"),
        ingest(row("price", "\"1.123456789\""), 400, "fractional digits"),
        ingest(row("price", "\"99999999999\""), 400, "within -92233720368"),
        ingest(row("price", "\"abc\""), 400, "a decimal number"),
        ingest(
            row("ts", &(now / 1000).to_string()),
            400,
            "looks like seconds",
        ),
        ingest(
            row("ts", &(now + 400 * DAY_MS).to_string()),
            400,
            "ingest.future-horizon",
        ),
        // Times the column cannot keep, each refused naming it and why.
        ingest(
            row("ts", "\"2026-11-20 10:00:00.123456\""),
            400,
            "column \"ts\" (timestamp_ms): expected a time the column can keep (6 fractional digits",
        ),
        ingest(
            row("ts", "\"2026-11-20T10:00:00 America/New_York\""),
            400,
            "column \"ts\" (timestamp_ms): expected a time the column can keep (unknown time zone \"America/New_York\"",
        ),
        ingest(
            row("ts", "\"2026-11-20T10:00:00+25:00\""),
            400,
            "column \"ts\" (timestamp_ms): expected a time the column can keep (malformed UTC offset \"+25:00\"",
        ),
        ingest(
            row("ts", "\"20 Nov 2026\""),
            400,
            "column \"ts\" (timestamp_ms): expected epoch milliseconds, 2026-11-20 10:00:00.123 (UTC) or RFC 3339",
        ),
        ingest(row("buyer_maker", "\"yes\""), 400, "buyer_maker"),
        ingest(row("symbol", "17"), 400, "symbol"),
        ingest(
            row("symbol", "{\"a\":1}"),
            400,
            "column \"symbol\" (lc_string): a nested object",
        ),
        ingest(
            row("price", "[1, 2]"),
            400,
            "column \"price\" (decimal(8)): an array",
        ),
        ingest(
            row("ts", &now.to_string()).replace("\"x\"", "\"x\",\"exchange\":\"z\""),
            400,
            "exchange",
        ),
        ingest(
            row("ts", &now.to_string()).replace('}', ",\"extra\":1}"),
            400,
            "extra",
        ),
        Http {
            path: "/v1/ingest/trades?format=parquet".into(),
            ..ingest("x", 400, "format")
        },
        Http {
            path: "/v1/ingest/trades?format=ndjson&format=rowbinary".into(),
            ..ingest("x", 400, "format")
        },
        Http {
            path: "/v1/ingest/trades?format=rowbinary".into(),
            ..ingest(vec![1, 2, 3], 400, "row 1")
        },
        Http {
            headers: vec![("content-encoding", "br")],
            ..ingest("x", 415, "gzip, zstd")
        },
        Http {
            headers: vec![("content-encoding", "gzip")],
            ..ingest("not gzip at all", 400, "gzip")
        },
        ingest(vec![b' '; 2 << 20], 413, "ingest.max-body"),
        // Queries.
        get("/v1/query/nope?from=1&to=2".into(), 404, "unknown table"),
        get("/v1/query/trades?to=5".into(), 400, "from"),
        get("/v1/query/trades?from=10&to=5".into(), 400, "reversed"),
        get("/v1/query/trades?from=abc&to=5".into(), 400, "from=\"abc\""),
        get(q("&limit=0"), 400, "limit"),
        get(q("&limit=abc"), 400, "limit"),
        get(q("&order=sideways"), 400, "order"),
        get(q("&format=feather"), 400, "ndjson, json, csv, arrow or parquet"),
        get(bars("&interval=1m&format=parquet&group_by=nope"), 400, "nope"),
        get(q("&format=xml"), 400, "format"),
        get(q("&columns=nope"), 400, "nope"),
        get(q("&columns=ts,ts"), 400, "ts"),
        get(q(&format!("&from={a}")), 400, "from"),
        get(q("&nosuch=x"), 400, "unknown parameter \"nosuch\""),
        get(q("&price=1.123456789"), 400, "price"),
        get(q("&allow_partial=maybe"), 400, "allow_partial"),
        get(
            q("&allow_partial=true&require_complete=true"),
            400,
            "contradict",
        ),
        get(
            format!("/v1/query/trades?from=0&to={b}"),
            400,
            "query.max-range",
        ),
        // Bars.
        get(bars(""), 400, "interval"),
        get(bars("&interval=1500ms"), 400, "interval"),
        get(bars("&interval=1m&price=nope"), 400, "price"),
        get(bars("&interval=1m&volume=symbol"), 400, "symbol"),
        get(bars("&interval=1m&group_by=ts"), 400, "interval="),
        get(bars("&interval=1m&group_by=nope"), 400, "nope"),
        get(
            format!(
                "/v1/bars/trades?from={}&to={b}&interval=1s",
                b - 3000 * DAY_MS
            ),
            400,
            "query.max-buckets",
        ),
        // Aggregates.
        get(agg("&agg=median:price"), 400, "unknown aggregate"),
        get(agg("&agg=sum"), 400, "needs a column"),
        get(agg("&agg=count:price"), 400, "count takes no column"),
        get(agg("&agg=sum:symbol"), 400, "symbol"),
        get(agg("&agg=count&group_by=count"), 400, "count"),
        // Admin and routing.
        Http {
            method: "PUT",
            path: "/v1/admin/bwlimit".into(),
            headers: vec![],
            body: b"4 MiB".to_vec(),
            status: 400,
            names: "write 4MiB",
        },
        Http {
            method: "PUT",
            path: "/v1/admin/bwlimit".into(),
            headers: vec![],
            body: b"08:00,2MiB 25:00,off".to_vec(),
            status: 400,
            names: "25:00",
        },
        Http {
            method: "PUT",
            path: "/v1/admin/bwlimit".into(),
            headers: vec![],
            body: b"3MB".to_vec(),
            status: 400,
            names: "ambiguous",
        },
        Http {
            method: "DELETE",
            path: "/v1/query/trades".into(),
            headers: vec![],
            body: vec![],
            status: 405,
            names: "DELETE",
        },
        get("/v1/nope".into(), 404, "no such endpoint"),
        // A head hyper refuses before routing (http_hardening.rs has the
        // target over 64 KiB, which no client library will send).
        Http {
            headers: vec![("x-big", "b".repeat(130 << 10).leak())],
            ..get(
                "/health".into(),
                431,
                "request line and headers are over 128 KiB",
            )
        },
    ];
    // Rehydrate with a reversed range.
    v.push(Http {
        method: "POST",
        path: format!("/v1/admin/rehydrate?table=trades&from={b}&to={a}"),
        headers: vec![],
        body: vec![],
        status: 400,
        names: "reversed",
    });
    v
}

async fn send(c: &reqwest::Client, base: &str, h: &Http) -> (u16, String) {
    let method = reqwest::Method::from_bytes(h.method.as_bytes()).expect("method");
    let mut r = c.request(method, format!("{base}{}", h.path));
    for (k, v) in &h.headers {
        r = r.header(*k, *v);
    }
    match r.body(h.body.clone()).send().await {
        Ok(resp) => (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        ),
        Err(e) => (0, e.to_string()),
    }
}

/// A `check-config` run of `bin` on `yaml`: its error text, or `None` if
/// it passed.
fn check_config(dir: &std::path::Path, bin: &str, yaml: &str) -> Option<String> {
    let cfg = dir.join(format!("{bin}-case.yaml"));
    std::fs::write(&cfg, yaml).expect("write");
    let out = Command::new(hotcold_tests::procs::bin(bin))
        .args(["check-config", "-c"])
        .arg(&cfg)
        .output()
        .expect("run");
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

fn config_cases(certs: &std::path::Path) -> Vec<(&'static str, String, &'static str)> {
    let link = format!(
        "link:\n  ca: {c}/ca.pem\n  cert: {c}/cloud-service.pem\n  key: {c}/cloud-service.key\n",
        c = certs.display()
    );
    let tables = format!("tables:\n{}", hotcold_tests::stack::trades_yaml());
    let with = |extra: &str| format!("{link}{extra}{tables}");
    let table = |t: &str| format!("{link}tables:\n  - {t}\n");
    vec![
        ("cloud-service", link.clone(), "tables: none declared"),
        ("cloud-service", with("nosuch-key: 1\n"), "nosuch-key"),
        ("cloud-service", with("hot-retention: 5 minutes\n"), "hot-retention"),
        ("cloud-service", with("ingest:\n  max-body: 4 MB\n"), "max-body"),
        ("cloud-service", with("ingest:\n  max-body: 0B\n"), "ingest.max-body"),
        ("cloud-service", with("archive:\n  zstd-level: 30\n"), "zstd-level"),
        ("cloud-service", with("archive:\n  segment-rows: 0\n"), "segment-rows"),
        ("cloud-service", with("schedule:\n  cron: \"0 25 * * *\"\n"), "hour"),
        ("cloud-service", with("hot:\n  kind: oracle\n"), "oracle"),
        ("cloud-service", with("query:\n  max-concurrent: 0\n"), "query.max-concurrent"),
        (
            "cloud-service",
            format!("link:\n  ca: /nope/ca.pem\n{tables}"),
            "/nope/ca.pem",
        ),
        (
            "cloud-service",
            table("{name: sqlite_master, time-column: ts, columns: [{name: ts, type: timestamp_ms}]}"),
            "sqlite_",
        ),
        (
            "cloud-service",
            table("{name: t__rehydrated, time-column: ts, columns: [{name: ts, type: timestamp_ms}]}"),
            "__rehydrated",
        ),
        (
            "cloud-service",
            table("{name: t, time-column: ts, columns: [{name: ts, type: timestamp_ms}, {name: ts, type: int64}]}"),
            "ts",
        ),
        (
            "cloud-service",
            table("{name: t, time-column: ts, columns: [{name: ts, type: timestamp_ms}, {name: v, type: int128}]}"),
            "int128",
        ),
        (
            "cloud-service",
            table("{name: t, time-column: when, columns: [{name: ts, type: timestamp_ms}]}"),
            "when",
        ),
        ("nas-gateway", "max-frame: 32B\n".into(), "max-frame"),
        ("nas-gateway", "tls:\n  ca: /nope/ca.pem\n".into(), "/nope/ca.pem"),
        ("nas-gateway", "cold-retention: 3 years\n".into(), "cold-retention"),
        ("nas-gateway", "staging-budget: 0B\n".into(), "staging-budget"),
        ("nas-gateway", "dial: vm.example.net\n".into(), "not host:port"),
        ("nas-gateway", "keep-alive: 60s\n".into(), "keep-alive"),
        (
            "cloud-service",
            format!("{}  direction: nas-dials\n{tables}", link),
            "link.listen: direction nas-dials needs",
        ),
        (
            "cloud-service",
            format!("{}  listen: 0.0.0.0:7443\n{tables}", link),
            "is for direction nas-dials",
        ),
        (
            "cloud-service",
            format!("{}  direction: both-dial\n{tables}", link),
            "both-dial",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_a_named_refusal_and_nothing_is_lost() {
    let stack = Stack::start(StackOptions {
        extra_yaml: "ingest:\n  max-body: 1MiB\n".into(),
        ..Default::default()
    });
    let c = &stack.cloud;
    let schema = trades_schema();
    let day = Window::day_of(now_ms() - 3 * DAY_MS);
    let rows = trades(day.start, day.end, 5_000, 77);
    assert_eq!(c.ingest("trades", ndjson(&rows)).await.0, 200);

    let mut wrong = Vec::new();
    let mut count = 0;
    let client = reqwest::Client::new();
    for h in http_cases() {
        count += 1;
        let (status, body) = send(&client, &c.url, &h).await;
        let json: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        let text = json
            .as_ref()
            .and_then(|v| v["error"].as_str())
            .unwrap_or_default();
        if status != h.status || !text.contains(h.names) {
            wrong.push(format!(
                "{} {}: got {status} {body:.300}, want {} naming {:?}",
                h.method, h.path, h.status, h.names
            ));
        }
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    hotcold_tests::stack::write_certs(&certs);
    for (bin, yaml, names) in config_cases(&certs) {
        count += 1;
        match check_config(dir.path(), bin, &yaml) {
            Some(msg) if msg.contains(names) => {}
            other => wrong.push(format!(
                "{bin} check-config {yaml:?}: got {other:?}, want an error naming {names:?}"
            )),
        }
    }

    // The command line.
    let cli = |bin: &str, args: &[&str]| {
        let out = Command::new(hotcold_tests::procs::bin(bin))
            .args(args)
            .output()
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let cli_cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("cloud-service", vec!["nosuch"], "nosuch"),
        (
            "cloud-service",
            vec!["serve", "-c", "/nope/cloud.yaml"],
            "/nope/cloud.yaml",
        ),
        (
            "cloud-service",
            vec!["archive", "--url", "http://127.0.0.1:1"],
            "127.0.0.1:1",
        ),
        (
            "cloud-service",
            vec!["bwlimit", "4 MiB", "--url", &c.url],
            "write 4MiB",
        ),
        (
            "nas-gateway",
            vec!["retention", "-c", "/nope/nas.yaml"],
            "/nope/nas.yaml",
        ),
        ("nas-gateway", vec!["serve", "--nosuch"], "--nosuch"),
    ];
    for (bin, args, names) in cli_cases {
        count += 1;
        let (ok, err) = cli(bin, &args);
        if ok || !err.contains(names) {
            wrong.push(format!(
                "{bin} {args:?}: ok={ok} {err:.300}, want an error naming {names:?}"
            ));
        }
    }

    // Link frames a well-behaved cloud never sends, straight to the gateway.
    let tls = hotcold_link::TlsFiles {
        ca: stack.dir.path().join("certs/ca.pem"),
        cert: stack.dir.path().join("certs/cloud-service.pem"),
        key: stack.dir.path().join("certs/cloud-service.key"),
        peer: Some(stack.dir.path().join("certs/nas-gateway.pem")),
    };
    let w = Window::day_of(now_ms() - 20 * DAY_MS);
    let link_rows = trades(w.start, w.end, 50, 3);
    let (good, data) = hotcold_tests::rawlink::manifest_for("trades-catalogue-1", &link_rows, w);
    let mut bad_id = good.clone();
    bad_id.batch_id = "../../etc/passwd".into();
    let mut bad_window = good.clone();
    bad_window.window = Window::new(w.start, w.start + 1234);
    let mut bad_table = good.clone();
    bad_table.schema.name = "drop table;".into();
    let mut no_chunks = good.clone();
    no_chunks.chunks.clear();
    for (what, m, names) in [
        ("a batch id with a path", bad_id, "batch"),
        ("a window that is no day", bad_window, "window"),
        ("a table name with SQL in it", bad_table, "name"),
        ("a manifest without chunks", no_chunks, "chunk"),
    ] {
        count += 1;
        match hotcold_tests::rawlink::offer(&tls, stack.gateway.addr, &m, &data, None).await {
            Some(Frame::Error(e)) if e.contains(names) => {}
            other => wrong.push(format!(
                "link, {what}: got {other:?}, want an Error naming {names:?}"
            )),
        }
    }

    // Everyone is still up, and the rows from before are there, once.
    assert_eq!(c.get("/health").await.0, 200, "the cloud is up");
    let got = c
        .query_rows("trades", &format!("from={}&to={}", day.start, day.end))
        .await;
    assert_eq!(
        hash_json(&schema, &got),
        hash_json(&schema, &rows),
        "rows from before, once"
    );
    let (code, r) = c.archive().await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["failed"], 0, "the gateway still commits: {r:#}");
    assert!(count >= 60, "the catalogue has {count} cases");
    assert!(
        wrong.is_empty(),
        "{} of {count} cases wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    println!("catalogue: {count} bad inputs, each refused by name; nothing lost");
}
