//! End-to-end benchmark with baselines measured in the same run:
//!
//! - ingest: NDJSON over HTTP into the running cloud-service (SQLite hot),
//!   against inserting the same rows straight into a SQLite file in-process;
//! - archive: hot SQLite → QUIC (loopback, mutual TLS) → ClickHouse, against
//!   inserting the same rows straight into ClickHouse in-process;
//! - bytes per row on the wire, against zstd -3 and -19 of the rows as CSV.
//!
//! `scripts/bench.sh` builds in release mode, starts ClickHouse and runs it.
//! Without HOTCOLD_CLICKHOUSE_URL the cold store is SQLite (said in the output).

use anyhow::ensure;
use hotcold_core::codec::encode_segment;
use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{batch_of, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;
use nas_gateway::cold::ColdStore;
use std::time::Instant;

fn csv(rows: &[serde_json::Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        let line: Vec<String> = r
            .as_object()
            .map(|o| {
                o.values()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        out.extend_from_slice(line.join(",").as_bytes());
        out.push(b'\n');
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = hotcold_tests::arg_usize("--rows", 1_000_000);
    let ch = std::env::var("HOTCOLD_CLICKHOUSE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let schema = trades_schema();
    let now = now_ms();
    let start = Window::day_of(now - 6 * DAY_MS).start;
    let end = start + 3 * DAY_MS;
    let rows = trades(start, end, n, 11);
    let bodies: Vec<String> = rows.chunks(50_000).map(ndjson).collect();
    let batch = batch_of(&schema, &rows);
    println!("rows: {n} trades over 3 days, all older than the hot retention");

    // Baseline: the same rows straight into a SQLite file, one transaction.
    let dir = tempfile::tempdir()?;
    let conn = hotcold_sqlite::open(&dir.path().join("base.db"))?;
    hotcold_sqlite::create_table(&conn, &schema)?;
    let t = Instant::now();
    for part in rows.chunks(50_000) {
        let b = batch_of(&schema, part);
        let tx = conn.unchecked_transaction()?;
        hotcold_sqlite::insert(&tx, &schema, &b)?;
        tx.commit()?;
    }
    let sqlite_rate = n as f64 / t.elapsed().as_secs_f64();

    let cold = match &ch {
        Some(url) => ColdKind::ClickHouse {
            url: url.clone(),
            database: hotcold_tests::clickhouse::unique_db("bench"),
        },
        None => ColdKind::Sqlite,
    };
    let stack = Stack::start(StackOptions {
        cold: cold.clone(),
        chunk_size: "1MiB".into(),
        ..Default::default()
    });
    let t = Instant::now();
    for b in bodies {
        let (s, body) = stack.cloud.ingest("trades", b).await;
        ensure!(s == 200, "ingest: {body}");
    }
    let ingest_rate = n as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (s, report) = stack.cloud.archive().await;
    let archive_secs = t.elapsed().as_secs_f64();
    ensure!(
        s == 200 && report["failed"] == 0 && report["rows_archived"] == n as u64,
        "archive: {report}"
    );
    let archive_rate = n as f64 / archive_secs;
    let wire = report["bytes_sent"].as_u64().unwrap_or(0);

    // Baseline: the same rows straight into the cold store, in-process.
    let direct_rate = match &cold {
        ColdKind::ClickHouse { url, .. } => {
            let db = hotcold_tests::clickhouse::unique_db("bench_direct");
            let store = nas_gateway::cold::clickhouse::ClickHouseCold::connect(
                &hotcold_clickhouse::Connection::new(url, &db),
            )
            .await?;
            store.ensure_table(&schema).await?;
            let (tx, rx) = tokio::sync::mpsc::channel(2);
            let t = Instant::now();
            let feed = async {
                for part in rows.chunks(65_536) {
                    let _ = tx.send(batch_of(&schema, part)).await;
                }
                drop(tx);
            };
            let (inserted, ()) = tokio::join!(store.insert_stream(&schema, rx), feed);
            inserted?;
            n as f64 / t.elapsed().as_secs_f64()
        }
        ColdKind::Sqlite => sqlite_rate,
    };

    // Size: our codec and zstd of CSV on the same rows.
    let csv = csv(&rows);
    let ours: usize = rows
        .chunks(65_536)
        .map(|p| encode_segment(&batch_of(&schema, p), 3).len())
        .sum();
    let z3 = zstd::bulk::compress(&csv, 3)?.len();
    let sample = &csv[..csv.len().min(32 << 20)];
    let sample_rows = sample.iter().filter(|b| **b == b'\n').count().max(1);
    let z19 = zstd::bulk::compress(sample, 19)?.len() as f64 / sample_rows as f64;
    drop(batch);

    let per = |b: usize| b as f64 / n as f64;
    println!("\n| figure | value | baseline in the same run | ratio |");
    println!("|---|---|---|---|");
    println!("| ingest, HTTP NDJSON → SQLite hot | {ingest_rate:.0} rows/s | {sqlite_rate:.0} rows/s (direct SQLite insert) | {:.2} |", ingest_rate / sqlite_rate);
    println!(
        "| archive end to end, hot SQLite → QUIC → {} | {archive_rate:.0} rows/s ({archive_secs:.2} s) | {direct_rate:.0} rows/s (direct insert into the cold store) | {:.2} |",
        if ch.is_some() { "ClickHouse 18.16" } else { "SQLite cold" },
        archive_rate / direct_rate
    );
    println!("| bytes per row on the wire (zstd -3 segments + frames) | {:.2} | CSV {:.1} raw | {:.1}x |", per(wire as usize), per(csv.len()), csv.len() as f64 / wire as f64);
    println!(
        "| bytes per row, our codec at zstd -3 | {:.2} | zstd -3 of CSV: {:.2} | {:.2} |",
        per(ours),
        per(z3),
        per(ours) / per(z3)
    );
    println!(
        "| bytes per row, our codec at zstd -3 | {:.2} | zstd -19 of CSV: {z19:.2} | {:.2} |",
        per(ours),
        per(ours) / z19
    );
    Ok(())
}
