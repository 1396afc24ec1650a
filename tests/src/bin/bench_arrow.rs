//! One large answer in each format: rows/s of `format=ndjson`, `arrow` and
//! `parquet` for the same query over N hot rows (default 5,000,000 trades),
//! and the peak resident memory (VmHWM) of `cloud-service` while it sends
//! each. cloud-service is restarted before every format, so each peak is
//! that answer's alone. The client only counts the bytes: the figure is
//! what the server can send, not what a reader can parse.
//!
//! `target/release/bench_arrow [--rows 5000000]` (part of scripts/bench.sh).
//! With `BENCH_PERF_PAUSE=1` it writes each fresh cloud-service's pid to
//! `/tmp/bench-arrow-FORMAT.pid` and waits 3 s before the query, so that
//! `perf record -p` can attach (how BENCHMARKS.md's profile was taken).

use anyhow::ensure;
use hotcold_core::schema::DAY_MS;
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::procs::{peak_rss, Cloud};
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
    let chunk = 100_000;
    let t = Instant::now();
    for (i, start) in (0..n).step_by(chunk).enumerate() {
        let k = chunk.min(n - start);
        let span = (to - from) / n.div_ceil(chunk) as i64;
        let a = from + i as i64 * span;
        let rows = trades(a, (a + span).min(to), k, i as u64);
        let (s, b) = stack.cloud.ingest("trades", ndjson(&rows)).await;
        ensure!(s == 200, "ingest: {b}");
    }
    println!("ingested {n} trades in {:.1}s", t.elapsed().as_secs_f64());
    let http = reqwest::Client::new();
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let mut results = Vec::new();
    for format in ["ndjson", "arrow", "parquet"] {
        // A fresh process: its peak from here on is this answer's.
        let (config, log, data) = (
            stack.cloud.config.clone(),
            stack.cloud.log.clone(),
            stack.cloud.data_dir.clone(),
        );
        stack.cloud.kill("TERM");
        stack.cloud = Cloud::start(config, log.with_extension(format!("{format}.log")), data);
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
        let t = Instant::now();
        let mut r = http.get(&url).send().await?;
        ensure!(r.status() == 200, "{format}: {}", r.status());
        let mut bytes = 0u64;
        while let Some(c) = r.chunk().await? {
            bytes += c.len() as u64;
        }
        let secs = t.elapsed().as_secs_f64();
        let peak = stack.cloud.child.as_ref().and_then(peak_rss).unwrap_or(0);
        results.push((format, secs, bytes, peak, base));
    }
    let ndjson_rate = n as f64 / results[0].1;
    println!("\n| format | time | rows/s | bytes/row | cloud-service peak RSS (at start) | rows/s vs ndjson |");
    println!("|---|---|---|---|---|---|");
    for (format, secs, bytes, peak, base) in results {
        let rate = n as f64 / secs;
        println!(
            "| {format} | {secs:.2} s | {rate:.0} | {:.1} | {:.0} MiB ({:.0} MiB) | {:.2} |",
            bytes as f64 / n as f64,
            mib(peak),
            mib(base),
            rate / ndjson_rate
        );
    }
    Ok(())
}
