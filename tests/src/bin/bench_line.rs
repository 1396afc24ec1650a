//! The adaptive link on a home-like line (issue 20): goodput of adaptive
//! chunks against fixed chunk sizes, and what the line carried beyond the
//! batches, through a shaped WireGuard tunnel with a lossy relay that
//! also cuts the line now and then.
//!
//! The line is `scripts/netns.sh` (prefix `hcb`, net 9: its own, so it
//! can run beside the tests' tunnels) at `--rate` (tc tbf, 8mbit). The
//! cloud runs in the cloud namespace and dials `udp_relay`, started there
//! too, which forwards to the gateway's tunnel address in the NAS
//! namespace, dropping `--loss` of the datagrams each way (1.5 %) and
//! cutting the line for `--cut-for` seconds every `--cut-every` seconds
//! (4 and 10; `link.idle-timeout` is 3 s, so each cut kills the
//! connection). Each scenario gets a fresh gateway, cloud and relay and the
//! same rows (`--days` days of `--rows-per-day` rows with 80 random bytes
//! each, hex: one batch a day), archived (`/v1/admin/archive` in a loop)
//! until nothing is hot; every row must be in the cold SQLite once. A fresh
//! cloud has measured nothing, so its first batches (export runs up to two
//! ahead of delivery) get the largest chunk; many small days leave the
//! adaptive choice most of the batches. (A warm-up day archived first
//! cannot be had: ingest refuses rows behind the archived range.)
//!
//! Figures per scenario: batch bytes, elapsed, goodput (batch bytes / s),
//! chunk bytes the archive sent (the reports' `bytes_sent`: resends of
//! unacknowledged chunks after cuts included), bytes the relay forwarded
//! upstream (QUIC's own retransmissions and headers included), bytes on
//! the veth (WireGuard included), cuts, and the chunk sizes chosen.
//!
//! Root only (network namespaces); prints `SKIPPED` with the reason
//! otherwise. Build the binaries first (`cargo build --workspace --bins`).
//!
//! `target/release/bench_line [--rate 8mbit] [--loss 0.015] [--days 16]
//!  [--rows-per-day 10000] [--cut-every 10] [--cut-for 4]`

use anyhow::Context;
use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, ndjson, now_ms};
use hotcold_tests::hot_cluster_checks::ALL;
use hotcold_tests::netns::Tunnel;
use hotcold_tests::procs::{bin, Cloud, Gateway};
use hotcold_tests::stack::{cloud_yaml, gateway_yaml, write_certs, ColdKind, StackOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TABLE: &str = "name: ticks\ntime-column: ts\ncolumns:\n  - { name: ts, type: timestamp_ms }\n  - { name: id, type: uint64 }\n  - { name: payload, type: string }\n";

/// `udp_relay` running in a namespace, driven over its stdin and stdout.
struct Relay {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: std::net::SocketAddr,
}

impl Relay {
    fn start(netns: &str, to: std::net::SocketAddr) -> anyhow::Result<Relay> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(bin("udp_relay"))
            .arg("--to")
            .arg(to.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("udp_relay")?;
        let stdin = child.stdin.take().context("relay stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("relay stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("relay on ")
            .with_context(|| format!("relay said {line:?}"))?
            .parse()?;
        Ok(Relay {
            child,
            stdin,
            stdout,
            addr,
        })
    }

    fn send(&mut self, cmd: &str) -> anyhow::Result<()> {
        writeln!(self.stdin, "{cmd}")?;
        Ok(self.stdin.flush()?)
    }

    fn bytes(&mut self) -> anyhow::Result<u64> {
        self.send("bytes")?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(line
            .trim()
            .strip_prefix("bytes ")
            .with_context(|| format!("relay said {line:?}"))?
            .parse()?)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Scenario {
    name: &'static str,
    chunk_size: &'static str,
    adaptive: bool,
}

struct Figures {
    rows: u64,
    batch_bytes: u64,
    secs: f64,
    chunk_bytes_sent: u64,
    relay_bytes: u64,
    veth_bytes: u64,
    cuts: u32,
    runs: u32,
    chunk_sizes: BTreeSet<u64>,
}

struct Setup {
    loss: f64,
    cut_every: Duration,
    cut_for: Duration,
}

fn rows(days: i64, per_day: u64) -> (Window, Vec<serde_json::Value>) {
    let first = Window::day_of(now_ms() - (days + 4) * DAY_MS);
    let mut rows = Vec::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for d in 0..days {
        let start = first.start + d * DAY_MS;
        for i in 0..per_day {
            let mut payload = String::with_capacity(160);
            for _ in 0..10 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                payload.push_str(&format!("{x:016x}"));
            }
            rows.push(serde_json::json!({
                "ts": start + (i as i64 * (DAY_MS - 1)) / per_day as i64,
                "id": d as u64 * 10_000_000 + i,
                "payload": payload,
            }));
        }
    }
    (Window::new(first.start, first.start + days * DAY_MS), rows)
}

async fn run(
    tunnel: &Tunnel,
    sc: &Scenario,
    setup: &Setup,
    window: Window,
    rows: &[serde_json::Value],
) -> anyhow::Result<Figures> {
    let schema: hotcold_core::TableSchema = serde_yaml::from_str(TABLE)?;
    let dir = tempfile::tempdir()?;
    let certs = dir.path().join("certs");
    write_certs(&certs);
    let gcfg = dir.path().join("nas.yaml");
    std::fs::write(
        &gcfg,
        gateway_yaml(
            dir.path(),
            &format!("{}:0", tunnel.nas_ip),
            &certs,
            &ColdKind::Sqlite,
        ),
    )?;
    let gateway = Gateway::start_in(
        Some(&tunnel.nas),
        gcfg,
        dir.path().join("nas.log"),
        Vec::new(),
    );
    let relay = Arc::new(Mutex::new(Relay::start(&tunnel.cloud, gateway.addr)?));
    let relay_addr = relay.lock().unwrap_or_else(|p| p.into_inner()).addr;
    // Off loopback the cloud wants its tokens.
    let token = "bench-line-admin-token-000000001";
    let token_file = dir.path().join("admin.token");
    std::fs::write(&token_file, token)?;
    let opts = StackOptions {
        tables_yaml: Some(format!(
            "  - {}\n",
            TABLE.replace('\n', "\n    ").trim_end()
        )),
        chunk_size: sc.chunk_size.into(),
        extra_yaml: format!(
            "admin:\n  token-file: {}\n  protect-data: true\n",
            token_file.display()
        ),
        ..Default::default()
    };
    let mut yaml = cloud_yaml(dir.path(), relay_addr, &certs, &opts).replace(
        "http-listen: 127.0.0.1:0",
        &format!("http-listen: {}:0", tunnel.operator_ip),
    );
    if !sc.adaptive {
        yaml = yaml.replacen("link:\n", "link:\n  adaptive-chunks: false\n", 1);
    }
    let ccfg = dir.path().join("cloud.yaml");
    std::fs::write(&ccfg, yaml)?;
    let cloud = Cloud::start_in(
        Some(&tunnel.cloud),
        ccfg,
        dir.path().join("cloud.log"),
        dir.path().join("cloud"),
        &[],
    )
    .with_token(token);
    for chunk in rows.chunks(20_000) {
        let (s, b) = cloud.ingest("ticks", ndjson(chunk)).await;
        anyhow::ensure!(s == 200, "ingest: {b}");
    }
    relay
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(&format!("loss {}", setup.loss))?;
    let relay0 = relay.lock().unwrap_or_else(|p| p.into_inner()).bytes()?;
    let veth0 = tunnel.line_tx_bytes();
    let stop = Arc::new(AtomicBool::new(false));
    let cuts = Arc::new(AtomicU32::new(0));
    let cutter = {
        let (relay, stop, cuts) = (relay.clone(), stop.clone(), cuts.clone());
        let (every, len) = (setup.cut_every, setup.cut_for);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let _ = relay
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .send("cut on");
                cuts.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(len).await;
                let _ = relay
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .send("cut off");
            }
        })
    };
    let t0 = Instant::now();
    let (mut archived, mut sent, mut runs) = (0u64, 0u64, 0u32);
    let mut batches: BTreeMap<String, u64> = BTreeMap::new();
    let mut chunk_sizes = BTreeSet::new();
    loop {
        let (s, r) = cloud.archive_when_idle().await;
        anyhow::ensure!(s == 200, "archive: {r}");
        runs += 1;
        archived += r["rows_archived"].as_u64().unwrap_or(0);
        sent += r["bytes_sent"].as_u64().unwrap_or(0);
        for b in r["batches"].as_array().into_iter().flatten() {
            if let (Some(id), Some(bytes)) = (b["batch_id"].as_str(), b["bytes"].as_u64()) {
                batches.insert(id.to_string(), bytes);
            }
            match b["chunk_size"].as_u64() {
                Some(c) if c > 0 => {
                    chunk_sizes.insert(c);
                }
                _ => {}
            }
        }
        if cloud.hot_count(&schema, window) == 0 {
            break;
        }
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(900),
            "{}: not archived after 15 minutes: {r:#}",
            sc.name
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    cutter.abort();
    let _ = cutter.await;
    let mut relay = relay.lock().unwrap_or_else(|p| p.into_inner());
    relay.send("cut off")?;
    let relay_bytes = relay.bytes()? - relay0;
    let veth_bytes = tunnel.line_tx_bytes() - veth0;
    drop(relay);

    let conn = rusqlite::Connection::open(dir.path().join("nas/cold.db"))?;
    let cold = hotcold_sqlite::content_hash(&conn, &schema, ALL)?;
    anyhow::ensure!(
        cold == hash_json(&schema, rows),
        "{}: the cold store does not hold every row once",
        sc.name
    );
    drop(cloud);
    drop(gateway);
    Ok(Figures {
        rows: archived,
        batch_bytes: batches.values().sum(),
        secs,
        chunk_bytes_sent: sent,
        relay_bytes,
        veth_bytes,
        cuts: cuts.load(Ordering::Relaxed),
        runs,
        chunk_sizes,
    })
}

fn kib(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{}M", b >> 20)
    } else {
        format!("{}K", b >> 10)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let uid = Command::new("id").arg("-u").output()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        println!("SKIPPED: bench_line needs root (network namespaces, WireGuard)");
        return Ok(());
    }
    let rate = hotcold_tests::arg("--rate").unwrap_or_else(|| "8mbit".into());
    let num = |name: &str, d: f64| {
        hotcold_tests::arg(name)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(d)
    };
    let setup = Setup {
        loss: num("--loss", 0.015),
        cut_every: Duration::from_secs_f64(num("--cut-every", 10.0)),
        cut_for: Duration::from_secs_f64(num("--cut-for", 4.0)),
    };
    let days = num("--days", 16.0) as i64;
    let per_day = num("--rows-per-day", 10_000.0) as u64;
    let Some(tunnel) = Tunnel::up("hcb", 9, &rate) else {
        println!("SKIPPED: the network-namespace harness cannot run here (see stderr)");
        return Ok(());
    };
    let (window, rows) = rows(days, per_day);
    let scenarios = [
        Scenario {
            name: "fixed 1 MiB",
            chunk_size: "1MiB",
            adaptive: false,
        },
        Scenario {
            name: "adaptive 64 KiB..1 MiB",
            chunk_size: "1MiB",
            adaptive: true,
        },
        Scenario {
            name: "fixed 64 KiB",
            chunk_size: "64KiB",
            adaptive: false,
        },
    ];
    println!(
        "WireGuard on a {rate} tbf line, relay dropping {:.1} % each way, cut for {:.0} s every {:.0} s; {} rows in {days} days, each scenario from a fresh pair.",
        setup.loss * 100.0,
        setup.cut_for.as_secs_f64(),
        setup.cut_every.as_secs_f64(),
        rows.len()
    );
    println!();
    println!("| scenario | rows | batch bytes | elapsed | goodput | chunk bytes sent (resent after cuts) | relay upstream (beyond batches) | veth tx | cuts | runs | chunk sizes |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for sc in &scenarios {
        let f = run(&tunnel, sc, &setup, window, &rows).await?;
        let mb = |b: u64| b as f64 / (1 << 20) as f64;
        let over = |b: u64| 100.0 * (b as f64 / f.batch_bytes.max(1) as f64 - 1.0);
        println!(
            "| {} | {} | {:.2} MiB | {:.1} s | {:.0} KiB/s | {:.2} MiB ({:+.1} %) | {:.2} MiB ({:+.1} %) | {:.2} MiB | {} | {} | {} |",
            sc.name,
            f.rows,
            mb(f.batch_bytes),
            f.secs,
            f.batch_bytes as f64 / f.secs / 1024.0,
            mb(f.chunk_bytes_sent),
            over(f.chunk_bytes_sent),
            mb(f.relay_bytes),
            over(f.relay_bytes),
            mb(f.veth_bytes),
            f.cuts,
            f.runs,
            f.chunk_sizes
                .iter()
                .map(|c| kib(*c))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    drop(tunnel);
    Ok(())
}
