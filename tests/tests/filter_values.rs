//! Filter values are data, never SQL. Symbols built to break out of a quoted
//! literal are ingested, archived to ClickHouse (which takes literals, not
//! parameters, in 18.16) and asked for by name, alone and several at once:
//! each answer holds exactly that symbol's rows, from cold and hot, and the
//! table is whole afterwards.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;

const HOSTILE: [&str; 6] = [
    "x' OR '1'='1",
    "a\\'); DROP TABLE trades; --",
    "tab\there\nnewline",
    "back\\slash\\",
    "ü€ 🚀",
    "BTC-USDT",
];

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_filter_values_match_only_themselves() {
    let Some(url) = hotcold_tests::clickhouse::url() else {
        return;
    };
    let stack = Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url,
            database: hotcold_tests::clickhouse::unique_db("filters"),
        },
        ..Default::default()
    });
    let now = now_ms();
    let start = Window::day_of(now - 5 * DAY_MS).start;
    let mut rows = trades(start, now, 6_000, 5);
    for (i, r) in rows.iter_mut().enumerate() {
        r["symbol"] = HOSTILE[i % HOSTILE.len()].into();
    }
    assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    assert!(r["rows_archived"].as_u64() > Some(0), "{r}");
    let schema = trades_schema();
    let range = format!("from={start}&to={}&format=json", now + 1);

    for sym in HOSTILE {
        let (s, h, body) = stack
            .cloud
            .query("trades", &format!("{range}&symbol={}", enc(sym)))
            .await;
        assert_eq!(s, 200, "{sym:?}: {body}");
        assert!(h.get("x-hotcold-missing").is_none());
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        let got = v["rows"].as_array().expect("rows");
        let want: Vec<_> = rows
            .iter()
            .filter(|r| r["symbol"] == sym)
            .cloned()
            .collect();
        assert!(
            v["cold_rows"].as_u64() > Some(0),
            "{sym:?}: {}",
            v["cold_rows"]
        );
        assert_eq!(got.len(), want.len(), "{sym:?}");
        assert_eq!(
            hash_json(&schema, got),
            hash_json(&schema, &want),
            "{sym:?}"
        );
    }

    // The batch form: several symbols in one query.
    let two = format!("{},{}", enc(HOSTILE[0]), enc(HOSTILE[4]));
    let (s, _, body) = stack
        .cloud
        .ask(
            "aggregate",
            "trades",
            &format!("{range}&symbol={two}&agg=count&group_by=symbol"),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let counts = v["rows"].as_array().expect("rows");
    assert_eq!(counts.len(), 2, "{body}");
    for c in counts {
        let n = rows.iter().filter(|r| r["symbol"] == c["symbol"]).count();
        assert_eq!(c["count"], n, "{body}");
    }

    // Nothing was dropped or changed by any of it.
    let (s, _, body) = stack
        .cloud
        .ask("aggregate", "trades", &format!("{range}&agg=count"))
        .await;
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["rows"][0]["count"], rows.len(), "{body}");
}
