//! The standalone edition end to end: one `cloud-service` process keeps hot
//! and cold (SQLite, or a ClickHouse server in a non-UTC zone), with no
//! gateway, no link and no certificates. It archives with the same steps
//! and the same count + hash check before purge, answers queries and bars
//! across the watermark, and survives a SIGKILL-like abort at every commit
//! point of a batch, on the cloud's side and the cold tier's, with every
//! row exactly once afterwards (read from the SQLite files directly).

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{hash_json, ndjson, now_ms, parse_ndjson, trades, trades_schema};
use hotcold_tests::stack::ColdKind;
use hotcold_tests::standalone::Standalone;
use std::time::{Duration, Instant};

fn cold_rows(s: &Standalone, w: Window) -> (u64, u64) {
    let conn = rusqlite::Connection::open(s.cold_db()).expect("cold.db");
    let schema = trades_schema();
    let exists: u64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'trades'",
            [],
            |r| r.get(0),
        )
        .expect("schema");
    if exists == 0 {
        // Nothing was ever committed: the cold table is made on first use.
        return (0, 0);
    }
    // Independent of the product's readers: plain SQL on the files.
    let rows: u64 = conn
        .query_row(
            "SELECT count(*) FROM trades WHERE ts >= ?1 AND ts < ?2",
            [w.start, w.end],
            |r| r.get(0),
        )
        .expect("count cold");
    let ledger: u64 = conn
        .query_row(
            "SELECT count(*) FROM _hotcold_ledger WHERE table_name = ?1",
            [&schema.name],
            |r| r.get(0),
        )
        .expect("count ledger");
    (rows, ledger)
}

async fn check_whole(s: &Standalone, rows: &[serde_json::Value], from: i64, to: i64) {
    let schema = trades_schema();
    let (code, headers, body) = s
        .cloud
        .query("trades", &format!("from={from}&to={to}"))
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        headers.get("x-hotcold-missing").is_none(),
        "nothing may be missing: {headers:?}"
    );
    let got = parse_ndjson(&body);
    assert_eq!(got.len(), rows.len(), "every row once");
    assert_eq!(hash_json(&schema, &got), hash_json(&schema, rows));
}

async fn archives_and_answers_across_the_watermark(cold: ColdKind) {
    let s = Standalone::start(&cold, &[]);
    let schema = trades_schema();
    let now = now_ms();
    let from = Window::day_of(now - 6 * DAY_MS).start;
    let rows = trades(from, now, 60_000, 21);
    let (code, b) = s.cloud.ingest("trades", ndjson(&rows)).await;
    assert_eq!(code, 200, "{b}");

    let (code, r) = s.cloud.archive().await;
    assert_eq!(code, 200, "{r:#}");
    assert_eq!(r["failed"], 0, "{r:#}\n{}", s.logs());
    assert_eq!(r["pending"], 0, "{r:#}");
    let archived = r["rows_archived"].as_u64().expect("rows_archived");
    assert!(archived > 0, "{r:#}");
    // No link: nothing crossed a line.
    assert_eq!(r["bytes_sent"], 0, "{r:#}");

    let wm = s.cloud.status().await["watermarks"]["trades"]
        .as_i64()
        .expect("a watermark");
    let below = rows.iter().filter(|r| r["ts"].as_i64() < Some(wm)).count() as u64;
    assert_eq!(below, archived, "the watermark covers what was archived");
    assert_eq!(
        s.cloud.hot_count(&schema, Window::new(i64::MIN, wm)),
        0,
        "hot keeps nothing below the watermark"
    );
    assert_eq!(
        s.cloud.hot_count(&schema, Window::new(wm, i64::MAX)),
        rows.len() as u64 - archived
    );
    if matches!(cold, ColdKind::Sqlite) {
        assert_eq!(cold_rows(&s, Window::new(i64::MIN, i64::MAX)).0, archived);
    }

    check_whole(&s, &rows, from, now + 1).await;
    // Straddling the watermark by a few hours either side.
    let (a, b) = (wm - 5 * 3_600_000, wm + 7 * 3_600_000);
    let (code, _, body) = s.cloud.query("trades", &format!("from={a}&to={b}")).await;
    assert_eq!(code, 200, "{body}");
    let want = rows
        .iter()
        .filter(|r| r["ts"].as_i64().is_some_and(|t| t >= a && t < b))
        .count();
    assert_eq!(parse_ndjson(&body).len(), want);

    // Bars: cold days are folded by the in-process cold tier, hot by hot.
    let (code, _, body) = s
        .cloud
        .ask(
            "bars",
            "trades",
            &format!("from={from}&to={}&interval=1d&format=json", now + 1),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let counted: u64 = v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|b| b["count"].as_u64())
        .sum();
    assert_eq!(counted, rows.len() as u64);
    assert!(v["cold_rows"].as_u64() > Some(0), "{v}");

    let (code, v) = s.cloud.get("/v1/admin/verify").await;
    assert_eq!(code, 200, "{v}");
    let v: serde_json::Value = serde_json::from_str(&v).expect("json");
    assert_eq!(v["ok"], true, "{v:#}");
    let st = s.cloud.status().await;
    assert_eq!(st["edition"], "standalone", "{st:#}");
    // There is no link to limit: a clear refusal, not a crash.
    let (code, v) = s.cloud.put("/v1/admin/bwlimit", "1MiB").await;
    assert_eq!(code, 409, "{v}");
    assert!(
        v.to_string().contains("standalone"),
        "the refusal says why: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cold_archives_and_answers_across_the_watermark() {
    archives_and_answers_across_the_watermark(ColdKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_cold_archives_and_answers_across_the_watermark() {
    let Some(url) = clickhouse::url() else {
        println!("SKIPPED: no ClickHouse (HOTCOLD_CLICKHOUSE_URL unset)");
        return;
    };
    let database = clickhouse::unique_db("standalone");
    archives_and_answers_across_the_watermark(ColdKind::ClickHouse {
        url: url.clone(),
        database: database.clone(),
    })
    .await;
    let _ = clickhouse::sql(&url, &format!("DROP DATABASE IF EXISTS {database}")).await;
}

/// Asks for an archive run of a process that is about to abort: the answer
/// may never come.
async fn archive_and_die(s: &mut Standalone, point: &str) {
    let _ = reqwest::Client::new()
        .post(format!("{}/v1/admin/archive", s.cloud.url))
        .timeout(Duration::from_secs(60))
        .send()
        .await;
    let child = s.cloud.child.as_mut().expect("child");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().ok().flatten().is_none() {
        assert!(
            Instant::now() < deadline,
            "{point}: the process did not die\n{}",
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_at_every_commit_point_loses_and_doubles_nothing() {
    let schema = trades_schema();
    let points = [
        ("CLOUD_SERVICE_FAILPOINTS", "after-export"),
        ("NAS_GATEWAY_FAILPOINTS", "before-insert"),
        ("NAS_GATEWAY_FAILPOINTS", "after-insert"),
        ("NAS_GATEWAY_FAILPOINTS", "after-ledger"),
        ("CLOUD_SERVICE_FAILPOINTS", "after-commit"),
        ("CLOUD_SERVICE_FAILPOINTS", "after-confirm"),
        ("CLOUD_SERVICE_FAILPOINTS", "during-purge"),
    ];
    for (var, point) in points {
        let env = vec![(var.to_string(), format!("{point}=abort"))];
        let mut s = Standalone::start(&ColdKind::Sqlite, &env);
        let day = Window::day_of(now_ms() - 4 * DAY_MS);
        let rows = trades(day.start, day.end, 30_000, 17);
        let (code, b) = s.cloud.ingest("trades", ndjson(&rows)).await;
        assert_eq!(code, 200, "{b}");

        archive_and_die(&mut s, point).await;
        assert!(
            s.logs().contains("failpoint hit"),
            "{point}: died elsewhere\n{}",
            s.logs()
        );
        let hot_after_crash = s.cloud.hot_count(&schema, day);
        let (cold_after_crash, _) = cold_rows(&s, day);
        // Whatever the point, each row is in hot or cold, and both only
        // while purge is under way (the window is whole in cold by then).
        assert!(
            hot_after_crash == rows.len() as u64 || hot_after_crash == 0,
            "{point}: hot has {hot_after_crash} of {}",
            rows.len()
        );
        if hot_after_crash == 0 {
            assert_eq!(cold_after_crash, rows.len() as u64, "{point}");
        }

        s.restart(&[]);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (code, r) = s.cloud.archive_when_idle().await;
            assert_eq!(code, 200, "{point}: {r:#}");
            assert_eq!(r["failed"], 0, "{point}: {r:#}\n{}", s.logs());
            if r["pending"] == 0 && s.cloud.hot_count(&schema, day) == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{point}: no recovery: {r:#}\n{}",
                s.logs()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let (cold, ledger) = cold_rows(&s, day);
        assert_eq!(cold, rows.len() as u64, "{point}: every row once in cold");
        assert_eq!(ledger, 1, "{point}: one batch in the ledger, never two");
        let conn = rusqlite::Connection::open(s.cold_db()).expect("cold.db");
        assert_eq!(
            hotcold_sqlite::content_hash(&conn, &schema, day).expect("hash"),
            hash_json(&schema, &rows),
            "{point}: the very rows"
        );
        check_whole(&s, &rows, day.start, day.end).await;
        println!("{point}: {} rows exactly once after the kill", rows.len());
    }
}
