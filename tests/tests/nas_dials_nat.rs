//! The NAS dials the cloud from behind a NAT (scripts/natns.sh): the home
//! router masquerades, the cloud's host has no route to the NAS, there is
//! no tunnel. Three phases, each archiving two days over a 512 KiB/s link
//! while a fault hits mid-transfer, as the chaos test's kinds: the line cut
//! for 5 s, the gateway SIGKILLed and started again, the cloud SIGKILLed
//! and started again. After each phase every row of its days is in cold
//! exactly once (the NAS's SQLite file, read directly) and gone from hot,
//! and what crossed the line again stays within the in-flight window plus
//! one chunk. Then a cold query over all six days answers whole.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::nas_dials::{dial_cloud_yaml, dial_gateway_yaml, write_dial_certs};
use hotcold_tests::natns::NatHome;
use hotcold_tests::procs::{Cloud, Gateway};
use hotcold_tests::stack::{ColdKind, StackOptions};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const CHUNK: u64 = 64 << 10;
const IN_FLIGHT: u64 = 8;
const TOKEN: &str = "nat-test-admin-token-000000001";

#[derive(Debug, Clone, Copy)]
enum Fault {
    CutLine,
    KillGateway,
    KillCloud,
}

struct Home {
    net: NatHome,
    dir: tempfile::TempDir,
    cloud: Cloud,
    gateway: Gateway,
    starts: u32,
}

fn cloud_cfg(net: &NatHome, dir: &Path, retention: &str) -> std::path::PathBuf {
    let certs = dir.join("certs");
    let opts = StackOptions {
        chunk_size: "64KiB".into(),
        bwlimit: "512KiB".into(),
        // Longer than the gateway's restart: its new connection (a new
        // source port through the NAT) arrives while the cloud still holds
        // the old one, and must replace it.
        idle_timeout: "10s".into(),
        hot_retention: retention.into(),
        extra_yaml: format!(
            "admin:\n  token-file: {}\n  protect-data: true\n",
            dir.join("admin.token").display()
        ),
        ..Default::default()
    };
    let yaml = dial_cloud_yaml(dir, listen(net), &certs, &opts).replace(
        "http-listen: 127.0.0.1:0",
        &format!("http-listen: {}:0", net.operator_ip),
    );
    let p = dir.join("cloud.yaml");
    std::fs::write(&p, yaml).expect("cloud.yaml");
    p
}

impl Home {
    fn start_cloud(&mut self, retention: &str) {
        if let Some(mut c) = self.cloud.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.starts += 1;
        let cfg = cloud_cfg(&self.net, self.dir.path(), retention);
        self.cloud = start_cloud(&self.net, self.dir.path(), cfg, self.starts);
    }

    fn restart_gateway(&mut self) {
        self.gateway.kill("KILL");
        self.starts += 1;
        self.gateway = Gateway::start_in(
            Some(&self.net.nas),
            self.gateway.config.clone(),
            self.dir.path().join(format!("nas-{}.log", self.starts)),
            Vec::new(),
        );
    }
}

fn listen(net: &NatHome) -> std::net::SocketAddr {
    format!("{}:7443", net.cloud_ip).parse().expect("addr")
}

fn start_cloud(net: &NatHome, dir: &Path, cfg: std::path::PathBuf, n: u32) -> Cloud {
    Cloud::start_in(
        Some(&net.cloud),
        cfg,
        dir.join(format!("cloud-{n}.log")),
        dir.join("cloud"),
        &[],
    )
    .with_token(TOKEN)
}

async fn wait_connected(cloud: &Cloud, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, h) = cloud.get("/health").await;
        let v: Value = serde_json::from_str(&h).unwrap_or_default();
        if v["components"]["link"]["detail"]["connected"] == true {
            return;
        }
        assert!(Instant::now() < deadline, "the NAS did not connect: {h}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Archives the days the retention lets go while `fault` hits 1.2 s in,
/// then runs again until they are all archived; returns the bytes sent
/// over the line by the runs that reported (a killed cloud's run does not)
/// and the batches' own bytes.
async fn phase(home: &mut Home, retention: &str, fault: Fault, rows: usize) -> (u64, u64) {
    home.start_cloud(retention);
    wait_connected(&home.cloud, 30).await;
    let url = format!("{}/v1/admin/archive", home.cloud.url);
    let run = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(url)
            .bearer_auth(TOKEN)
            .send()
            .await?;
        r.json::<Value>().await
    });
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    match fault {
        Fault::CutLine => {
            home.net.cut();
            tokio::time::sleep(Duration::from_secs(5)).await;
            home.net.heal();
        }
        Fault::KillGateway => {
            home.gateway.kill("KILL");
            tokio::time::sleep(Duration::from_secs(2)).await;
            home.restart_gateway();
            let log = home
                .dir
                .path()
                .join(format!("cloud-{}.log", home.starts - 1));
            let deadline = Instant::now() + Duration::from_secs(20);
            while !std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("the NAS dialled again; its older connection is closed")
            {
                assert!(
                    Instant::now() < deadline,
                    "the new connection did not replace the old one"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Fault::KillCloud => {}
    }
    let mut reports = Vec::new();
    if let Fault::KillCloud = fault {
        home.start_cloud(retention);
        run.abort();
    } else if let Ok(Ok(r)) = run.await {
        reports.push(r);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let archived = |reports: &[Value]| {
        reports
            .iter()
            .map(|r| r["rows_archived"].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    while archived(&reports) < rows as u64 {
        assert!(
            Instant::now() < deadline,
            "{fault:?}: the days were not archived after the fault: {reports:#?}"
        );
        wait_connected(&home.cloud, 60).await;
        let (s, r) = home.cloud.archive_when_idle().await;
        assert_eq!(s, 200, "{r:#}");
        reports.push(r);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Bytes sent over the line against the batches' own bytes, once each.
    let mut own = std::collections::HashMap::new();
    let mut sent = 0;
    for r in &reports {
        sent += r["bytes_sent"].as_u64().unwrap_or(0);
        for b in r["batches"].as_array().into_iter().flatten() {
            own.insert(
                b["batch_id"].as_str().unwrap_or("").to_string(),
                b["bytes"].as_u64().unwrap_or(0),
            );
        }
    }
    let own: u64 = own.values().sum();
    eprintln!(
        "{fault:?}: {sent} B sent for {own} B of batches: {} B again",
        sent.saturating_sub(own)
    );
    (sent, own)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nas_dials_out_from_behind_a_nat_and_survives_faults() {
    let Some(net) = NatHome::up("hcn", 3, "20mbit") else {
        return;
    };
    assert!(
        !net.cloud_can_route_to_nas(),
        "the cloud must have no way to the NAS"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    write_dial_certs(&dir.path().join("certs"));
    std::fs::write(dir.path().join("admin.token"), TOKEN).expect("token");
    let gcfg = dir.path().join("nas.yaml");
    std::fs::write(
        &gcfg,
        dial_gateway_yaml(
            dir.path(),
            listen(&net),
            &dir.path().join("certs"),
            &ColdKind::Sqlite,
        ),
    )
    .expect("nas.yaml");
    let gateway = Gateway::start_in(
        Some(&net.nas),
        gcfg,
        dir.path().join("nas-0.log"),
        Vec::new(),
    );
    let cloud = start_cloud(&net, dir.path(), cloud_cfg(&net, dir.path(), "30d"), 0);
    let mut home = Home {
        cloud,
        net,
        dir,
        gateway,
        starts: 0,
    };
    wait_connected(&home.cloud, 30).await;
    let schema = trades_schema();
    let day = |k: i64| Window::day_of(now_ms() - k * DAY_MS);
    let span = |from: i64| Window::new(day(from).start, day(from - 1).end);
    let days = |from: i64, seed: u64| {
        (
            span(from),
            trades(span(from).start, span(from).end, 120_000, seed),
        )
    };
    let phases = [
        ("7d", Fault::CutLine, days(9, 1)),
        ("5d", Fault::KillGateway, days(7, 2)),
        ("3d", Fault::KillCloud, days(5, 3)),
    ];
    for (_, _, (_, rows)) in &phases {
        for c in rows.chunks(40_000) {
            let (s, b) = home.cloud.ingest("trades", ndjson(c)).await;
            assert_eq!(s, 200, "{b}");
        }
    }
    let cold_db = home.dir.path().join("nas/cold.db");
    let mut all = Vec::new();
    for (retention, fault, (w, rows)) in phases {
        let (sent, own) = phase(&mut home, retention, fault, rows.len()).await;
        if let Fault::KillCloud = fault {
            // The killed run's bytes are not reported; the restarted cloud
            // resumes from what the gateway staged instead of starting over.
            assert!(
                sent < own,
                "{fault:?}: {sent} B sent after the restart for {own} B of batches"
            );
        } else {
            // The chunks in flight when the line went, and one partly sent.
            let allowance = CHUNK * (IN_FLIGHT + 1);
            let resent = sent.saturating_sub(own);
            assert!(
                resent <= allowance,
                "{fault:?}: {resent} B sent again, more than the in-flight window plus one chunk ({allowance} B)"
            );
        }
        all.extend(rows);
        let conn = rusqlite::Connection::open(&cold_db).expect("cold.db");
        let cold = hotcold_sqlite::content_hash(&conn, &schema, Window::new(i64::MIN, i64::MAX))
            .expect("cold hash");
        assert_eq!(
            cold,
            hash_json(&schema, &all),
            "{fault:?}: cold holds every row once"
        );
        assert_eq!(
            home.cloud.hot_count(&schema, w),
            0,
            "{fault:?}: hot no longer holds the archived days"
        );
    }
    let (s, _, body) = home
        .cloud
        .query(
            "trades",
            &format!(
                "from={}&to={}&format=json&limit=1000000",
                day(9).start,
                day(3).end
            ),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let got = v["rows"].as_array().expect("rows");
    assert_eq!(hash_json(&schema, got), hash_json(&schema, &all));
}
