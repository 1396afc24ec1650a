//! The link's bandwidth limiter, measured on the wire: a batch of
//! incompressible rows is sent from an in-process link client through a
//! counting UDP relay to a real `nas-gateway` process, at each configured
//! limit for a fixed time. Reports the mean rate against the limit and the
//! busiest one-second window against limit + one chunk.
//!
//! `target/release/bench_link [--secs 30] [--limits 1MiB,10MiB]`

use anyhow::Context;
use cloud_service::archive::Spool;
use cloud_service::config::LinkConfig;
use cloud_service::link::LinkClient;
use hotcold_core::codec::encode_segment;
use hotcold_core::manifest::ManifestBuilder;
use hotcold_core::schema::{LogicalType, TableSchema, Window};
use hotcold_core::units::ByteSize;
use hotcold_core::{ContentHash, RowBatch, Value};
use hotcold_tests::procs::Gateway;
use hotcold_tests::proxy::UdpProxy;
use hotcold_tests::stack::{gateway_yaml, write_certs, ColdKind};
use rand::Rng;
use std::io::Write;
use std::time::Instant;

fn blobs_schema() -> TableSchema {
    TableSchema::new(
        "blobs",
        "ts",
        &[
            ("ts", LogicalType::TimestampMs),
            ("payload", LogicalType::String),
        ],
    )
}

/// Writes a batch of at least `bytes` encoded bytes into the spool.
fn make_batch(
    spool: &Spool,
    id: &str,
    bytes: u64,
    chunk: u32,
) -> anyhow::Result<hotcold_core::Manifest> {
    let schema = blobs_schema();
    let mut rng = rand::thread_rng();
    let mut f = spool.create(id)?;
    let mut mb = ManifestBuilder::new(chunk);
    let mut h = ContentHash::default();
    let (mut written, mut ts) = (0u64, 0i64);
    while written < bytes {
        let mut b = RowBatch::new(&schema);
        for _ in 0..4096 {
            // Random bytes as Latin-1 text: UTF-8, and close to incompressible.
            let s: String = (0..256)
                .map(|_| char::from(rng.gen_range(0x20u8..0xff)))
                .collect();
            b.push_row(vec![Value::I64(ts), Value::Str(s)])
                .map_err(|c| anyhow::anyhow!("column {c}"))?;
            ts += 1;
        }
        h.add_batch(&b);
        let seg = encode_segment(&b, 1);
        mb.update(&seg);
        f.write_all(&seg)?;
        written += seg.len() as u64;
    }
    let m = mb.finish(id.to_string(), schema, Window::new(0, ts + 1), h);
    spool.seal(f, &m)?;
    Ok(m)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs: u64 = hotcold_tests::arg("--secs")
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let limits: Vec<ByteSize> = hotcold_tests::arg("--limits")
        .unwrap_or_else(|| "1MiB,10MiB".into())
        .split(',')
        .map(|s| s.parse().map_err(|e| anyhow::anyhow!("{e}")))
        .collect::<anyhow::Result<_>>()?;
    let chunk: u64 = 1 << 20;
    let dir = tempfile::tempdir()?;
    let certs = dir.path().join("certs");
    write_certs(&certs);
    let gcfg = dir.path().join("nas.yaml");
    std::fs::write(
        &gcfg,
        gateway_yaml(dir.path(), "127.0.0.1:0", &certs, &ColdKind::Sqlite),
    )?;
    let gateway = Gateway::start(gcfg, dir.path().join("nas.log"), Vec::new());
    let spool = Spool::open(dir.path().join("spool"))?;

    println!("| limit | seconds | mean rate on the wire | mean / limit | busiest 1 s window | window / (limit + 1 chunk) |");
    println!("|---|---|---|---|---|---|");
    for (i, limit) in limits.iter().enumerate() {
        let proxy = UdpProxy::start(gateway.addr).await?;
        let cfg = LinkConfig {
            gateway: proxy.addr,
            ca: certs.join("ca.pem"),
            cert: certs.join("cloud-service.pem"),
            key: certs.join("cloud-service.key"),
            chunk_size: ByteSize(chunk),
            bwlimit: limit
                .to_string()
                .parse()
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            ..Default::default()
        };
        let tls = hotcold_link::TlsFiles {
            ca: cfg.ca.clone(),
            cert: cfg.cert.clone(),
            key: cfg.key.clone(),
            peer: None,
        };
        let client = LinkClient::new(cfg, &tls)?;
        // A batch larger than the run: the clock stops it, not the data.
        let m = make_batch(
            &spool,
            &format!("bench-{i}"),
            limit.0 * (secs + 3),
            chunk as u32,
        )
        .context("batch")?;
        let start_sec = proxy.started.elapsed().as_secs() as usize + 1;
        let mut sent = 0;
        let run = tokio::time::timeout(
            std::time::Duration::from_secs(secs + 1),
            client.deliver(&spool, &m, &mut sent),
        );
        let t = Instant::now();
        let _ = run.await;
        let elapsed = t.elapsed().as_secs_f64();
        let per_sec = proxy.seconds();
        let app = client.meter.total() as f64 / elapsed;
        eprintln!("app-level {:.3} MiB/s; quic (lost, sent packets, udp bytes) {:?}; per second {per_sec:?}", app / (1 << 20) as f64, client.quic_stats().await);
        // Whole seconds inside the run only (the first and last are partial).
        let inner: Vec<u64> = per_sec
            .iter()
            .copied()
            .skip(start_sec)
            .take(secs.saturating_sub(2) as usize)
            .collect();
        let mean = inner.iter().sum::<u64>() as f64 / inner.len().max(1) as f64;
        let busiest = inner.iter().copied().max().unwrap_or(0);
        println!(
            "| {limit}/s | {elapsed:.0} | {:.3} MiB/s | {:.3} | {:.3} MiB | {:.3} |",
            mean / (1 << 20) as f64,
            mean / limit.0 as f64,
            busiest as f64 / (1 << 20) as f64,
            busiest as f64 / (limit.0 + chunk) as f64
        );
        spool.remove(&m.batch_id)?;
    }
    drop(gateway);
    Ok(())
}
