//! Ingest throughput for the bench binaries: ours over HTTP with one or
//! more collectors at once, and ClickHouse's own HTTP ingest of the same
//! bytes, the baseline it is compared with.

use anyhow::ensure;
use std::time::Instant;

/// One request body and the rows it holds.
pub struct Body {
    pub bytes: Vec<u8>,
    pub rows: usize,
}

/// Rows per second posting `bodies` to `{url}/v1/ingest/{table}?{query}`,
/// `collectors` requests in flight at once, each collector taking every
/// `collectors`-th body in turn.
pub async fn ours(
    url: &str,
    table: &str,
    query: &str,
    bodies: &[Body],
    collectors: usize,
) -> anyhow::Result<f64> {
    let http = reqwest::Client::new();
    let target = format!("{url}/v1/ingest/{table}?{query}");
    let rows: usize = bodies.iter().map(|b| b.rows).sum();
    let t = Instant::now();
    let collector = |k: usize| {
        let (http, target) = (&http, &target);
        async move {
            for b in bodies.iter().skip(k).step_by(collectors) {
                let r = http.post(target).body(b.bytes.clone()).send().await?;
                let status = r.status();
                ensure!(status == 200, "ingest: {status} {}", r.text().await?);
            }
            anyhow::Ok(())
        }
    };
    futures::future::try_join_all((0..collectors).map(collector)).await?;
    Ok(rows as f64 / t.elapsed().as_secs_f64())
}

/// ClickHouse's ingest of the same bytes (`INSERT ... FORMAT {format}`)
/// into a MergeTree table of the same columns, made the way our cold store
/// makes it: (all bodies as one, the same requests one by one), rows/s.
pub async fn clickhouse(
    url: &str,
    schema: &hotcold_core::TableSchema,
    bodies: &[Body],
    format: &str,
) -> anyhow::Result<(f64, f64)> {
    let http = reqwest::Client::new();
    let rows: usize = bodies.iter().map(|b| b.rows).sum();
    let mut rates = Vec::new();
    for whole in [true, false] {
        let db = crate::clickhouse::unique_db("bench_ingest");
        let store = nas_gateway::cold::clickhouse::ClickHouseCold::connect(
            &hotcold_clickhouse::Connection::new(url, &db),
        )
        .await?;
        nas_gateway::cold::ColdStore::ensure_table(&store, schema).await?;
        let insert = format!("INSERT INTO {db}.{} FORMAT {format}", schema.name);
        let sends: Vec<Vec<u8>> = if whole {
            vec![bodies
                .iter()
                .flat_map(|b| b.bytes.iter().copied())
                .collect()]
        } else {
            bodies.iter().map(|b| b.bytes.clone()).collect()
        };
        let t = Instant::now();
        for body in sends {
            let r = http
                .post(url)
                .query(&[("query", &insert)])
                .body(body)
                .send()
                .await?;
            let status = r.status();
            ensure!(
                status.is_success(),
                "ClickHouse {format}: {status} {}",
                r.text().await?
            );
        }
        rates.push(rows as f64 / t.elapsed().as_secs_f64());
        let _ = http
            .post(url)
            .body(format!("DROP DATABASE {db}"))
            .send()
            .await;
    }
    Ok((rates[0], rates[1]))
}
