//! One large answer in each format: rows/s of `format=ndjson`, `arrow` and
//! `parquet` for the same query over N hot rows (default 5,000,000 trades),
//! and the peak resident memory (VmHWM) of `cloud-service` while it sends
//! each. cloud-service is restarted before every format, so each peak is
//! that answer's alone. The client only counts the bytes: the figure is
//! what the server can send, not what a reader can parse.
//!
//! Then the hot store's own read of the window (its floor), and
//! `clients/python/bench/frames.py`: the same answer into pyarrow, polars
//! and pandas, Arrow through the client against NDJSON readers.
//!
//! `target/release/bench_arrow [--rows 5000000]` (part of scripts/bench.sh).
//! With `BENCH_PERF_PAUSE=1` it writes each fresh cloud-service's pid to
//! `/tmp/bench-arrow-FORMAT.pid` and waits 3 s before the query, so that
//! `perf record -p` can attach (how BENCHMARKS.md's profile was taken).

use anyhow::ensure;
use hotcold_core::schema::DAY_MS;
use hotcold_tests::data::now_ms;
use hotcold_tests::procs::{cpu_seconds, peak_rss, Cloud};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = hotcold_tests::arg_usize("--rows", 5_000_000);
    let mut stack = Stack::start(StackOptions::default());
    // Inside the hot retention (2 days): the answer is the hot store's and
    // the encoder's, with no link in the way.
    let (from, to) = (now_ms() - DAY_MS, now_ms() - 60_000);
    stack.cloud.ingest_spread(from, to, n, 0).await?;
    // The sealed hours' columnar copy, built by the hot store's builder
    // thread (hot.columnar-copy), before any answer is timed.
    let t = Instant::now();
    wait_for_copy(&stack.cloud).await?;
    println!(
        "columnar copy of the sealed hours built in {:.1} s (since the ingest ended)",
        t.elapsed().as_secs_f64()
    );
    let with_copy = stack.cloud.config.clone();
    let without_copy = with_copy.with_extension("nocopy.yaml");
    std::fs::write(
        &without_copy,
        std::fs::read_to_string(&with_copy)?.replacen(
            "kind: sqlite\n",
            "kind: sqlite\n  columnar-copy: false\n",
            1,
        ),
    )?;
    let http = reqwest::Client::new();
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let mut results = Vec::new();
    for (label, format, config) in [
        ("ndjson", "ndjson", &with_copy),
        ("arrow", "arrow", &with_copy),
        ("parquet", "parquet", &with_copy),
        (
            "arrow, rows only (columnar-copy: false)",
            "arrow",
            &without_copy,
        ),
    ] {
        // A fresh process: its peak from here on is this answer's.
        let (log, data) = (stack.cloud.log.clone(), stack.cloud.data_dir.clone());
        stack.cloud.kill("TERM");
        let log = log.with_extension(format!("{}.log", results.len()));
        stack.cloud = Cloud::start(config.clone(), log, data);
        if config == &with_copy {
            // Served once the new process has checked it.
            wait_for_copy(&stack.cloud).await?;
        }
        let base = stack.cloud.child.as_ref().and_then(peak_rss).unwrap_or(0);
        if std::env::var("BENCH_PERF_PAUSE").is_ok() {
            let pid = stack.cloud.child.as_ref().map(|c| c.id()).unwrap_or(0);
            std::fs::write(format!("/tmp/bench-arrow-{format}.pid"), pid.to_string())?;
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        }
        let url = format!(
            "{}/v1/query/trades?from={from}&to={}&format={format}",
            stack.cloud.url,
            to + 1
        );
        let pid = stack.cloud.child.as_ref().map(|c| c.id()).unwrap_or(0);
        let cpu0 = cpu_seconds(pid).unwrap_or(0.0);
        let t = Instant::now();
        let mut r = http.get(&url).send().await?;
        ensure!(r.status() == 200, "{format}: {}", r.status());
        let mut bytes = 0u64;
        while let Some(c) = r.chunk().await? {
            bytes += c.len() as u64;
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds(pid).unwrap_or(0.0) - cpu0;
        let peak = stack.cloud.child.as_ref().and_then(peak_rss).unwrap_or(0);
        let m = stack.cloud.get("/metrics").await.1;
        let from_copy = m
            .lines()
            .find_map(|l| l.strip_prefix("hotcold_hot_copy_hours_read_total "))
            .unwrap_or("0")
            .to_string();
        println!("{label}: {from_copy} hours read from the columnar copy");
        results.push((label, secs, bytes, peak, base, cpu));
    }
    let ndjson_rate = n as f64 / results[0].1;
    let ndjson_cpu = results[0].5;
    println!("\n| answer | time | rows/s | bytes/row | cloud-service peak RSS (at start) | rows/s vs ndjson | cloud-service CPU | CPU vs ndjson |");
    println!("|---|---|---|---|---|---|---|---|");
    for (format, secs, bytes, peak, base, cpu) in results {
        let rate = n as f64 / secs;
        println!(
            "| {format} | {secs:.2} s | {rate:.0} | {:.1} | {:.0} MiB ({:.0} MiB) | {:.2} | {cpu:.2} s | {:.2} |",
            bytes as f64 / n as f64,
            mib(peak),
            mib(base),
            rate / ndjson_rate,
            cpu / ndjson_cpu.max(0.01)
        );
    }
    read_floor(
        &stack.cloud.data_dir.join("hot.db"),
        from,
        to + 1,
        ndjson_rate,
    )?;
    println!("\nInto a DataFrame (clients/python/bench/frames.py, same server):\n");
    let py = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../clients/python/bench/frames.py"
        ))
        .args(["--url", &stack.cloud.url, "--table", "trades"])
        .args(["--from", &from.to_string(), "--to", &(to + 1).to_string()])
        .args(["--rows", &n.to_string()])
        .status();
    match py {
        Ok(s) if s.success() => {}
        Ok(s) => anyhow::bail!("frames.py failed: {s}"),
        Err(e) => println!("SKIPPED: cannot run python3: {e}"),
    }
    Ok(())
}

/// Until the hot store's builder has copied every sealed hour.
async fn wait_for_copy(cloud: &Cloud) -> anyhow::Result<()> {
    let deadline = Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let m = cloud.get("/metrics").await.1;
        let pending = m
            .lines()
            .find_map(|l| l.strip_prefix("hotcold_hot_copy_pending_hours "))
            .and_then(|v| v.parse::<f64>().ok());
        if pending == Some(0.0) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the columnar copy was not built in 300 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// What any format's answer waits on: the hot store's read of the same
/// window, timed here beside the server (a connection of our own, WAL
/// lets it read while cloud-service runs). `rows` is what the answers
/// read (each cell into a RowBatch); `step` is SQLite's own cost of
/// walking the rows (the statement stepped, no cell read), the floor of
/// any answer from a row store.
fn read_floor(db: &std::path::Path, from: i64, to: i64, ndjson_rate: f64) -> anyhow::Result<()> {
    use hotcold_core::schema::Window;
    let schema = hotcold_tests::data::trades_schema();
    let conn = hotcold_sqlite::open(db)?;
    let t = Instant::now();
    let mut rows = 0u64;
    hotcold_sqlite::scan::<hotcold_sqlite::SqliteError>(
        &conn,
        &schema,
        Window::new(from, to),
        u64::MAX,
        65_536,
        |b| {
            rows += b.len() as u64;
            Ok(())
        },
    )?;
    let read = t.elapsed().as_secs_f64();
    let cols: Vec<String> = schema
        .columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect();
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM trades WHERE ts >= ?1 AND ts < ?2 ORDER BY ts, rowid",
        cols.join(", ")
    ))?;
    let t = Instant::now();
    let mut it = stmt.query([from, to])?;
    let mut stepped = 0u64;
    while it.next()?.is_some() {
        stepped += 1;
    }
    let step = t.elapsed().as_secs_f64();
    ensure!(rows == stepped, "read {rows} rows but stepped {stepped}");
    // What the columnar answers read: cells straight into Arrow columns,
    // by one reader and by two sharing a snapshot.
    let readers = hotcold_sqlite::Readers::new(db);
    let plan = hotcold_core::query::Plan::rows(&schema);
    let cols: Vec<usize> = (0..schema.columns.len()).collect();
    let mut columnar = Vec::new();
    for (n, sealed) in [(1usize, false), (2, false), (2, true)] {
        let scan = hotcold_sqlite::ColumnarScan {
            schema: &schema,
            plan: &plan,
            cols: &cols,
            window: Window::new(from, to),
            limit: u64::MAX,
            batch_rows: 65_536,
            sealed,
        };
        let arrow = std::sync::Arc::new(hotcold_arrow::arrow_schema(
            &schema,
            &cols,
            Default::default(),
        ));
        let mut conv = hotcold_arrow::BatchConverter::new(schema.clone(), cols.clone(), arrow);
        let t = Instant::now();
        let mut got = 0u64;
        readers.scan_columnar::<anyhow::Error>(&scan, n, |c| {
            got += conv.adopt(c)?.num_rows() as u64;
            Ok(())
        })?;
        ensure!(got == rows, "columnar read {got} rows of {rows}");
        columnar.push(t.elapsed().as_secs_f64());
    }
    println!("\nThe hot store's read of the same {rows} rows, no answer around it:\n");
    println!("| read | time | rows/s | rows/s vs the NDJSON answer |");
    println!("|---|---|---|---|");
    for (what, secs) in [
        ("rows into RowBatches", read),
        ("statement stepped only", step),
        ("cells into Arrow columns, 1 reader", columnar[0]),
        (
            "cells into Arrow columns, 2 readers, one snapshot",
            columnar[1],
        ),
        (
            "sealed hours from the columnar copy, the rest as above",
            columnar[2],
        ),
    ] {
        let rate = rows as f64 / secs;
        println!(
            "| {what} | {secs:.2} s | {rate:.0} | {:.2} |",
            rate / ndjson_rate
        );
    }
    Ok(())
}
