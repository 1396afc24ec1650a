//! Compressed ingest bodies: `Content-Encoding: gzip` and `zstd` are
//! inflated (NDJSON and RowBinary alike) and stored exactly once; a bomb
//! stops at `ingest.max-body` with a 413 naming it, an unknown coding is a
//! 415 naming the ones accepted, a corrupt body a 400, and none of them
//! stores a row or disturbs the rows already there.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{batch_of, hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::ColdKind;
use hotcold_tests::standalone::Standalone;
use std::io::Write;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).expect("write");
    e.finish().expect("finish")
}

async fn post(
    s: &Standalone,
    query: &str,
    encoding: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/ingest/trades{query}", s.cloud.url))
        .header("content-encoding", encoding)
        .body(body)
        .send()
        .await
        .expect("send");
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_zstd_bodies_are_stored_once_and_bombs_refused() {
    let s = Standalone::start(&ColdKind::Sqlite, &[]);
    let schema = trades_schema();
    let day = Window::day_of(now_ms() - DAY_MS);
    let rows = trades(day.start, day.end, 9_000, 5);
    let (a, rest) = rows.split_at(3_000);
    let (b, c) = rest.split_at(3_000);

    let (code, v) = post(&s, "", "gzip", gzip(ndjson(a).as_bytes())).await;
    assert_eq!((code, v["rows"].as_u64()), (200, Some(3_000)), "{v}");
    let z = zstd::encode_all(ndjson(b).as_bytes(), 3).expect("zstd");
    let (code, v) = post(&s, "", "zstd", z).await;
    assert_eq!((code, v["rows"].as_u64()), (200, Some(3_000)), "{v}");
    let mut rb = Vec::new();
    hotcold_core::ingest::encode_rowbinary(&schema, &batch_of(&schema, c), &mut rb);
    let (code, v) = post(
        &s,
        "?format=rowbinary",
        "ZSTD",
        zstd::encode_all(&rb[..], 3).expect("zstd"),
    )
    .await;
    assert_eq!((code, v["rows"].as_u64()), (200, Some(3_000)), "{v}");

    // 80 MiB of one repeated line: a few KiB on the wire, past the 64 MiB
    // max-body once inflated.
    let line = ndjson(&rows[..1]);
    let bomb = zstd::encode_all(line.repeat((80 << 20) / line.len()).as_bytes(), 19).expect("zstd");
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let (code, v) = post(&s, "", "zstd", bomb).await;
    assert_eq!(code, 413, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains("ingest.max-body"),
        "{v}"
    );
    let (code, v) = post(&s, "", "br", b"x".to_vec()).await;
    assert_eq!(code, 415, "{v}");
    assert!(
        v["error"].as_str().unwrap_or("").contains("gzip, zstd"),
        "{v}"
    );
    let mut broken = gzip(ndjson(a).as_bytes());
    broken.truncate(broken.len() / 2);
    let (code, v) = post(&s, "", "gzip", broken).await;
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap_or("").contains("gzip"), "{v}");

    // Exactly the three good requests, once each.
    assert_eq!(s.cloud.hot_count(&schema, day), rows.len() as u64);
    let got = s
        .cloud
        .query_rows("trades", &format!("from={}&to={}", day.start, day.end))
        .await;
    assert_eq!(hash_json(&schema, &got), hash_json(&schema, &rows));
}
