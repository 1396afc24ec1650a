//! End-to-end benchmark with baselines measured in the same run:
//!
//! - ingest: NDJSON over HTTP into the running cloud-service (SQLite hot),
//!   one collector and two at once, against ClickHouse's own HTTP ingest of
//!   the same rows (`INSERT ... FORMAT JSONEachRow`, the faster of one
//!   body and the same 50k-row requests) and against inserting the same
//!   rows straight into a SQLite file in-process;
//! - archive: hot SQLite → QUIC (loopback, mutual TLS) → ClickHouse, against
//!   inserting the same rows straight into ClickHouse in-process;
//! - bytes per row on the wire, against zstd -3 and -19 of the rows as CSV.
//!
//! `scripts/bench.sh` builds in release mode, starts ClickHouse and runs it.
//! Without HOTCOLD_CLICKHOUSE_URL the cold store is SQLite (said in the output).

use anyhow::ensure;
use hotcold_core::codec::encode_segment;
use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{batch_of, ndjson_bare_decimals, now_ms, trades, trades_schema};
use hotcold_tests::ingest_bench::{self, Body};
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
    // Decimals as bare numbers: the one form both we and ClickHouse 18.16's
    // JSONEachRow read, so both parse the very same bytes.
    let bodies: Vec<Body> = rows
        .chunks(50_000)
        .map(|c| Body {
            bytes: ndjson_bare_decimals(&schema, c).into_bytes(),
            rows: c.len(),
        })
        .collect();
    let binary: Vec<Body> = rows
        .chunks(50_000)
        .map(|c| {
            let mut bytes = Vec::new();
            hotcold_clickhouse::rowbinary::encode(&schema, &batch_of(&schema, c), &mut bytes);
            Body {
                bytes,
                rows: c.len(),
            }
        })
        .collect();
    let batch = batch_of(&schema, &rows);
    println!("rows: {n} trades over 3 days, all older than the hot retention");

    // Where ingest's time goes, in-process: parsing the request bodies, and
    // writing the parsed batches (one transaction each, as ingest does).
    let t = Instant::now();
    let parsed: Vec<_> = bodies
        .iter()
        .map(|b| cloud_service::api::ingest::parse_ndjson(&schema, &b.bytes))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    let parse_rate = n as f64 / t.elapsed().as_secs_f64();
    let dir = tempfile::tempdir()?;
    let conn = hotcold_sqlite::open(&dir.path().join("base.db"))?;
    hotcold_sqlite::create_table(&conn, &schema)?;
    let t = Instant::now();
    for b in &parsed {
        let tx = conn.unchecked_transaction()?;
        hotcold_sqlite::insert(&tx, &schema, b)?;
        tx.commit()?;
    }
    let sqlite_rate = n as f64 / t.elapsed().as_secs_f64();
    drop(parsed);

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
    // One collector, requests one after another; then two collectors at
    // once (parse of one request overlaps the write of the other). Half
    // the rows each, so the archive below moves every row once.
    let half = bodies.len() / 2;
    let url = stack.cloud.url.clone();
    let one_rate = ingest_bench::ours(&url, "trades", "", &bodies[..half], 1).await?;
    let two_rate = ingest_bench::ours(&url, "trades", "", &bodies[half..], 2).await?;

    // CPU seconds each process spends on the archive: on two cores the
    // sum, not the wall time, is what bounds it.
    let pids = [
        stack.cloud.child.as_ref().map(|c| c.id()),
        stack.gateway.child.as_ref().map(|c| c.id()),
        ch.as_deref().and_then(hotcold_tests::procs::listener_pid),
    ];
    let cpu = |p: &[Option<u32>]| -> Vec<f64> {
        p.iter()
            .map(|p| {
                p.and_then(hotcold_tests::procs::cpu_seconds)
                    .unwrap_or(f64::NAN)
            })
            .collect()
    };
    let cpu0 = cpu(&pids);
    let t = Instant::now();
    let (s, report) = stack.cloud.archive().await;
    let cpu_archive: Vec<f64> = cpu(&pids).iter().zip(&cpu0).map(|(a, b)| a - b).collect();
    let archive_secs = t.elapsed().as_secs_f64();
    ensure!(
        s == 200 && report["failed"] == 0 && report["rows_archived"] == n as u64,
        "archive: {report}"
    );
    let archive_rate = n as f64 / archive_secs;
    let wire = report["bytes_sent"].as_u64().unwrap_or(0);

    // Baseline: the same rows straight into the cold store, in-process.
    let mut direct_cpu: Option<(f64, f64)> = None;
    let direct_rate = match &cold {
        ColdKind::ClickHouse { url, .. } => {
            let db = hotcold_tests::clickhouse::unique_db("bench_direct");
            let store = nas_gateway::cold::clickhouse::ClickHouseCold::connect(
                &hotcold_clickhouse::Connection::new(url, &db),
            )
            .await?;
            store.ensure_table(&schema).await?;
            let (tx, rx) = tokio::sync::mpsc::channel(2);
            let ch0 = cpu(&pids[2..]);
            let me0 = hotcold_tests::procs::cpu_seconds(std::process::id()).unwrap_or(f64::NAN);
            let t = Instant::now();
            let feed = async {
                for part in rows.chunks(65_536) {
                    let _ = tx.send(batch_of(&schema, part)).await;
                }
                drop(tx);
            };
            let (inserted, ()) = tokio::join!(store.insert_stream(&schema, rx), feed);
            inserted?;
            let rate = n as f64 / t.elapsed().as_secs_f64();
            let me = hotcold_tests::procs::cpu_seconds(std::process::id()).unwrap_or(f64::NAN);
            direct_cpu = Some((me - me0, cpu(&pids[2..])[0] - ch0[0]));
            rate
        }
        ColdKind::Sqlite => sqlite_rate,
        ColdKind::Replicas { .. } => anyhow::bail!("the benchmark runs on one cold server"),
    };

    // Binary ingest into a fresh pair (the first one's floor now refuses
    // these days), and ClickHouse's own RowBinary and JSONEachRow ingest
    // of the very same bytes.
    let fresh = Stack::start(StackOptions::default());
    let url = fresh.cloud.url.clone();
    let bin_one =
        ingest_bench::ours(&url, "trades", "format=rowbinary", &binary[..half], 1).await?;
    let bin_two =
        ingest_bench::ours(&url, "trades", "format=rowbinary", &binary[half..], 2).await?;
    drop(fresh);
    let (ch_json, ch_bin) = match &ch {
        Some(url) => (
            Some(ingest_bench::clickhouse(url, &schema, &bodies, "JSONEachRow").await?),
            Some(ingest_bench::clickhouse(url, &schema, &binary, "RowBinary").await?),
        ),
        None => (None, None),
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
    let best = |r: Option<(f64, f64)>| r.map_or(f64::NAN, |(one, many)| one.max(many));
    let (json_base, bin_base) = (best(ch_json), best(ch_bin));
    for (what, r) in [("JSONEachRow", ch_json), ("RowBinary", ch_bin)] {
        if let Some((one, many)) = r {
            println!("| ClickHouse 18.16 HTTP {what} (baseline) | {:.0} rows/s | faster of one 1M-row body {one:.0} and 50k-row requests {many:.0} | 1.00 |", one.max(many));
        }
    }
    for (what, rate) in [
        ("one collector", one_rate),
        ("two collectors at once", two_rate),
    ] {
        println!("| ingest, HTTP NDJSON → SQLite hot, {what} | {rate:.0} rows/s | ClickHouse JSONEachRow {json_base:.0} rows/s | {:.2} |", rate / json_base);
    }
    for (what, rate) in [
        ("one collector", bin_one),
        ("two collectors at once", bin_two),
    ] {
        println!("| ingest, HTTP RowBinary → SQLite hot, {what} | {rate:.0} rows/s | ClickHouse RowBinary {bin_base:.0} rows/s; goal 2,000,000 | {:.2} |", rate / bin_base);
    }
    let both = 1.0 / (1.0 / parse_rate + 1.0 / sqlite_rate);
    println!("| ingest, HTTP NDJSON → SQLite hot, one collector | {one_rate:.0} rows/s | in-process: parse {parse_rate:.0} rows/s, SQLite insert {sqlite_rate:.0} rows/s, both in turn {both:.0} rows/s | {:.2} |", one_rate / both);
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
    let us = n as f64 / 1e6;
    println!(
        "| CPU per million rows archived: cloud-service, nas-gateway, ClickHouse | {:.2} s, {:.2} s, {:.2} s (sum {:.2} s) | direct insert: this process {:.2} s, ClickHouse {:.2} s | {:.2} |",
        cpu_archive[0] / us,
        cpu_archive[1] / us,
        cpu_archive[2] / us,
        cpu_archive.iter().sum::<f64>() / us,
        direct_cpu.map_or(f64::NAN, |d| d.0 / us),
        direct_cpu.map_or(f64::NAN, |d| d.1 / us),
        direct_cpu.map_or(f64::NAN, |d| (d.0 + d.1) / cpu_archive.iter().sum::<f64>()),
    );
    println!(
        "| bytes per row, our codec at zstd -3 | {:.2} | zstd -19 of CSV: {z19:.2} | {:.2} |",
        per(ours),
        per(ours) / z19
    );
    Ok(())
}
