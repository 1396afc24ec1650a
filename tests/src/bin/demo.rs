//! The quick start: starts `nas-gateway` and `cloud-service` as processes
//! with the configs in `config/` (data under `data/demo`), ingests a few days
//! of generated trades, archives everything older than the hot retention to
//! the NAS side, queries across the boundary and prints what moved where.
//!
//! Run it with `scripts/demo.sh` (builds the binaries, then runs this).

use anyhow::{ensure, Context};
use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::procs::{Cloud, Gateway};
use hotcold_tests::stack::write_certs;
use serde_yaml::Value as Y;
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Args {
    days: i64,
    rows: usize,
    dir: PathBuf,
    keep_running: bool,
    standalone: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        days: 10,
        rows: 300_000,
        dir: "data/demo".into(),
        keep_running: false,
        standalone: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().with_context(|| format!("{k} needs a value"));
        match k.as_str() {
            "--days" => a.days = val()?.parse().context("--days")?,
            "--rows" => a.rows = val()?.parse().context("--rows")?,
            "--dir" => a.dir = val()?.into(),
            "--keep-running" => a.keep_running = true,
            "--standalone" => a.standalone = true,
            "-h" | "--help" => {
                println!("demo [--days N=10] [--rows N=300000] [--dir data/demo] [--keep-running] [--standalone]\n\n\
                    Starts both programs from config/, ingests N rows of trades over the last DAYS days,\n\
                    archives what is older than the hot retention (config/cloud.yaml), and queries it back.\n\
                    --keep-running leaves both running for you to try the HTTP API.\n\
                    --standalone runs the standalone edition instead: one cloud-service with the cold\n\
                    tier in its own process (config/standalone.yaml), no gateway, no certificates.");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other:?} (try --help)"),
        }
    }
    ensure!(
        a.days >= 1 && a.rows >= 1,
        "--days and --rows must be at least 1"
    );
    Ok(a)
}

fn set(doc: &mut Y, path: &[&str], v: Y) {
    let mut cur = doc;
    for (i, k) in path.iter().enumerate() {
        let map = match cur {
            Y::Mapping(m) => m,
            _ => return,
        };
        if i + 1 == path.len() {
            map.insert(Y::from(*k), v);
            return;
        }
        cur = map
            .entry(Y::from(*k))
            .or_insert_with(|| Y::Mapping(Default::default()));
    }
}

fn load(path: &str) -> anyhow::Result<Y> {
    serde_yaml::from_str(
        &std::fs::read_to_string(path)
            .with_context(|| format!("read {path} (run from the repository root)"))?,
    )
    .with_context(|| format!("parse {path}"))
}

fn s(p: &Path) -> Y {
    Y::from(p.display().to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let dir = std::path::absolute(&a.dir)?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let (gateway, mut cloud, cold_db) = if a.standalone {
        let mut cloud = load("config/standalone.yaml")?;
        set(&mut cloud, &["cold", "data-dir"], s(&dir.join("cold")));
        println!("1. standalone edition: no certificates, no gateway (config/standalone.yaml)");
        println!(
            "2. the cold tier runs inside cloud-service, in {}",
            dir.join("cold").display()
        );
        (None, cloud, dir.join("cold/cold.db"))
    } else {
        let (gateway, cloud) = start_pair(&dir)?;
        (Some(gateway), cloud, dir.join("nas/cold.db"))
    };
    set(
        &mut cloud,
        &["http-listen"],
        Y::from(if a.keep_running {
            "127.0.0.1:8080"
        } else {
            "127.0.0.1:0"
        }),
    );
    set(&mut cloud, &["data-dir"], s(&dir.join("cloud")));
    let retention = cloud
        .get("hot-retention")
        .and_then(Y::as_str)
        .unwrap_or("7d")
        .to_string();
    let cloud_cfg = dir.join("cloud.yaml");
    std::fs::write(&cloud_cfg, serde_yaml::to_string(&cloud)?)?;
    let svc = Cloud::start(cloud_cfg, dir.join("cloud-service.log"), dir.join("cloud"));
    println!(
        "3. cloud-service: HTTP on {} (log {}), hot retention {retention}",
        svc.url,
        svc.log.display()
    );

    let now = now_ms();
    let start = Window::day_of(now - a.days * DAY_MS).start;
    let rows = trades(start, now, a.rows, 42);
    let csv_bytes: usize = rows
        .iter()
        .map(|r| {
            r.as_object()
                .map_or(0, |o| o.values().map(|v| v.to_string().len() + 1).sum())
        })
        .sum();
    let t = Instant::now();
    for part in rows.chunks(50_000) {
        let (code, body) = svc.ingest("trades", ndjson(part)).await;
        ensure!(code == 200, "ingest failed: {body}");
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "4. ingested {} trades over {} days via POST /v1/ingest/trades ({:.0} rows/s)",
        rows.len(),
        a.days,
        rows.len() as f64 / secs
    );

    let t = Instant::now();
    let (code, report) = svc.archive().await;
    ensure!(code == 200, "archive failed: {report}");
    println!(
        "5. archive run (POST /v1/admin/archive) in {:.2}s:",
        t.elapsed().as_secs_f64()
    );
    for b in report["batches"].as_array().into_iter().flatten() {
        let day = hotcold_core::time::format_date(
            b["window"]["start"]
                .as_i64()
                .unwrap_or(0)
                .div_euclid(DAY_MS),
        );
        println!(
            "     {day}  {:>8} rows  {:>9} bytes sent  {}",
            b["rows"],
            b["bytes_sent"],
            b["state"].as_str().unwrap_or("?")
        );
    }
    let archived = report["rows_archived"].as_u64().unwrap_or(0);
    let sent = report["bytes_sent"].as_u64().unwrap_or(0);
    ensure!(report["failed"] == 0, "some batches failed: {report:#}");

    let (code, headers, body) = svc
        .query("trades", &format!("from={start}&to={}", now + 1))
        .await;
    ensure!(code == 200, "query failed: {body}");
    let got: Vec<serde_json::Value> = body
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let schema = trades_schema();
    let same = hash_json(&schema, &got) == hash_json(&schema, &rows);
    let wm = headers
        .get("x-hotcold-watermark")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    println!(
        "6. query of all {} days (GET /v1/query/trades): {} rows, {} — watermark {}",
        a.days,
        got.len(),
        if same {
            "every ingested row exactly once"
        } else {
            "MISMATCH"
        },
        wm.map_or("none".into(), hotcold_core::time::format_timestamp_ms)
    );
    ensure!(same, "the query did not return the ingested rows");

    // Daily bars of one symbol: the days below the watermark are computed
    // on the NAS, the rest in hot, and merged.
    let (code, _, body) = svc
        .ask(
            "bars",
            "trades",
            &format!(
                "from={start}&to={}&interval=1d&symbol=BTC-USDT&group_by=symbol&format=json",
                now + 1
            ),
        )
        .await;
    ensure!(code == 200, "bars failed: {body}");
    let v: serde_json::Value = serde_json::from_str(&body)?;
    let bars = v["rows"].as_array().cloned().unwrap_or_default();
    let in_bars: u64 = bars.iter().filter_map(|b| b["count"].as_u64()).sum();
    let btc = rows.iter().filter(|r| r["symbol"] == "BTC-USDT").count() as u64;
    println!(
        "7. daily OHLCV bars of BTC-USDT (GET /v1/bars/trades?interval=1d): {} bars over {in_bars} trades ({}): {} computed in cold, {} in hot",
        bars.len(),
        if in_bars == btc { "all of them" } else { "MISMATCH" },
        v["cold_rows"],
        v["hot_rows"]
    );
    if let Some(last) = bars.last() {
        println!(
            "     last: {} open {} high {} low {} close {} volume {}",
            last["ts"]
                .as_i64()
                .map_or("?".into(), hotcold_core::time::format_timestamp_ms),
            last["open"].as_str().unwrap_or("?"),
            last["high"].as_str().unwrap_or("?"),
            last["low"].as_str().unwrap_or("?"),
            last["close"].as_str().unwrap_or("?"),
            last["volume"].as_str().unwrap_or("?")
        );
    }
    ensure!(in_bars == btc, "the bars do not count every BTC-USDT trade");

    let hot = svc.hot_count(&schema, Window::new(i64::MIN, i64::MAX));
    let cold_conn = rusqlite::Connection::open(&cold_db)?;
    let cold = hotcold_sqlite::count(&cold_conn, &schema, Window::new(i64::MIN, i64::MAX))?;
    println!("8. where the rows are now:");
    println!(
        "     cloud hot store  {}: {hot} rows (the last {retention})",
        dir.join("cloud/hot.db").display()
    );
    println!(
        "     {} {}: {cold} rows",
        if a.standalone {
            "cold store      "
        } else {
            "NAS cold store  "
        },
        cold_db.display()
    );
    if archived > 0 && !a.standalone {
        let raw = csv_bytes as f64 * archived as f64 / rows.len() as f64;
        println!(
            "     on the wire: {sent} bytes for {archived} rows = {:.1} bytes/row ({:.1}x smaller than the rows as CSV)",
            sent as f64 / archived as f64,
            raw / sent as f64
        );
    }
    if a.keep_running {
        println!("\nBoth programs keep running; try:\n  curl -s 'http://127.0.0.1:8080/v1/query/trades?from={}&to={}&limit=3'\n  curl -s 'http://127.0.0.1:8080/v1/bars/trades?from={}&to={}&interval=1h&symbol=BTC-USDT'\n  curl -s http://127.0.0.1:8080/v1/admin/status\nCtrl-C stops them.", now - 3_600_000, now, now - 86_400_000, now);
        tokio::signal::ctrl_c().await?;
    }
    drop(svc);
    drop(gateway);
    Ok(())
}

/// The pair: certificates, a running nas-gateway, and the cloud config
/// pointed at it.
fn start_pair(dir: &std::path::Path) -> anyhow::Result<(Gateway, Y)> {
    let certs = dir.join("certs");
    write_certs(&certs);
    println!(
        "1. certificates: a private CA and both ends' certificates in {}",
        certs.display()
    );

    let mut nas = load("config/nas.yaml")?;
    set(&mut nas, &["listen"], Y::from("127.0.0.1:0"));
    set(&mut nas, &["http-listen"], Y::from("127.0.0.1:0"));
    set(&mut nas, &["data-dir"], s(&dir.join("nas")));
    for (k, f) in [
        ("ca", "ca.pem"),
        ("cert", "nas-gateway.pem"),
        ("key", "nas-gateway.key"),
    ] {
        set(&mut nas, &["tls", k], s(&certs.join(f)));
    }
    let nas_cfg = dir.join("nas.yaml");
    std::fs::write(&nas_cfg, serde_yaml::to_string(&nas)?)?;
    let gateway = Gateway::start(nas_cfg, dir.join("nas-gateway.log"), Vec::new());
    println!(
        "2. nas-gateway: QUIC on {} (log {})",
        gateway.addr,
        gateway.log.display()
    );

    let mut cloud = load("config/cloud.yaml")?;
    set(
        &mut cloud,
        &["link", "gateway"],
        Y::from(gateway.addr.to_string()),
    );
    for (k, f) in [
        ("ca", "ca.pem"),
        ("cert", "cloud-service.pem"),
        ("key", "cloud-service.key"),
    ] {
        set(&mut cloud, &["link", k], s(&certs.join(f)));
    }
    Ok((gateway, cloud))
}
